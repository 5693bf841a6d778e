/*
 * test_shell.c — unit tests for (Get-Credential) (admin/shell.c): without
 * a terminal it refuses, saying what to do instead.
 * Must never: read a real terminal (standard input is /dev/null here).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "admin/shell.h"

static void
test_credential_refused_without_terminal(void **state)
{
    char err[256] = "";

    assert_null(shell_read_credential(err, sizeof(err)));
    assert_non_null(strstr(err, "needs a terminal"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credential_refused_without_terminal),
    };

    if (freopen("/dev/null", "r", stdin) == NULL)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
