/*
 * test_shell.c — unit tests for (Get-Credential) expansion (admin/shell.c):
 * what the caller must free is always fully set, whatever the outcome.
 * Must never: read a real terminal (standard input is /dev/null here).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

#include "admin/shell.h"

#define NWORDS 6

static char poison[] = "not a malloc'd pointer";

/* The shell passes an uninitialised array on its stack; poison stands in. */
static void
fill_poison(char **owned)
{
    for (int i = 0; i < NWORDS; i++)
        owned[i] = poison;
}

/* Without a terminal the expansion fails at (Get-Credential); the shell
 * then frees every entry, so the ones after it must be NULL, not garbage
 * (clang-analyzer core.uninitialized.Branch found this). */
static void
test_refused_without_terminal_leaves_nothing_to_free(void **state)
{
    char *argv[NWORDS] = {"Set-SendConnector", "Out",   "-AuthenticationCredential",
                          "(Get-Credential)",  "-Port", "587"};
    char *owned[NWORDS];

    fill_poison(owned);
    assert_int_equal(shell_expand_credentials(NWORDS, argv, owned), -1);
    for (int i = 0; i < NWORDS; i++)
        assert_null(owned[i]);
    shell_free_credentials(NWORDS, owned);
}

static void
test_no_credential_argument_owns_nothing(void **state)
{
    char *argv[NWORDS] = {"Set-SendConnector", "Out", "-Port", "587", "-Comment", "x"};
    char *owned[NWORDS];

    fill_poison(owned);
    assert_int_equal(shell_expand_credentials(NWORDS, argv, owned), 0);
    for (int i = 0; i < NWORDS; i++)
        assert_null(owned[i]);
    assert_string_equal(argv[3], "587");
    shell_free_credentials(NWORDS, owned);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_without_terminal_leaves_nothing_to_free),
        cmocka_unit_test(test_no_credential_argument_owns_nothing),
    };

    if (freopen("/dev/null", "r", stdin) == NULL)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
