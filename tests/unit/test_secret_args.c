/*
 * test_secret_args.c — unit tests for hiding secrets given on the command
 * line (admin/secret_args.c): the original argument bytes are zeroed, the
 * cmdlet still sees the values.
 * Must never: depend on anything but the module and lib/util.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "admin/secret_args.h"

static void
test_values_moved_and_originals_zeroed(void **state)
{
    char a0[] = "New-Mailbox", a1[] = "-password", a2[] = "Secret-1234", a3[] = "-Name",
         a4[] = "bob", a5[] = "-AuthenticationCredential:user:Pw-123456", a6[] = "-Password",
         a7[] = "-";
    char *argv[] = {a0, a1, a2, a3, a4, a5, a6, a7};
    char **copies;
    int n = secret_args_hide(8, argv, &copies);

    assert_int_equal(n, 2);
    assert_string_equal(argv[2], "Secret-1234");
    assert_ptr_not_equal(argv[2], a2);
    assert_int_equal(a2[0], '\0');
    assert_memory_equal(a2, "\0\0\0\0\0\0\0\0\0\0\0", sizeof(a2));
    assert_string_equal(argv[4], "bob"); /* other values stay where they are */
    assert_ptr_equal(argv[4], a4);
    assert_string_equal(argv[5], "-AuthenticationCredential:user:Pw-123456");
    assert_string_equal(a5, "-AuthenticationCredential:");
    assert_ptr_equal(argv[7], a7); /* "-": read from standard input, nothing to hide */
    secret_args_free(copies, n);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_moved_and_originals_zeroed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
