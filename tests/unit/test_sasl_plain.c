/*
 * test_sasl_plain.c — unit tests for the PLAIN message split
 * (smtp/sasl_plain.c, RFC 4616 2).
 * Must never: depend on any other postern module.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "smtp/sasl_plain.h"

#define SPLIT(lit, z, c, p) split(lit, sizeof(lit) - 1, z, c, p)

static int
split(const char *buf, size_t n, const char *z, const char *c, const char *p)
{
    const char *authzid, *authcid, *passwd;

    if (sasl_plain_split(buf, n, &authzid, &authcid, &passwd) != 0)
        return -1;
    assert_string_equal(authzid, z);
    assert_string_equal(authcid, c);
    assert_string_equal(passwd, p);
    return 0;
}

static void
test_well_formed(void **state)
{
    assert_int_equal(SPLIT("\0alice\0secret", "", "alice", "secret"), 0);
    assert_int_equal(SPLIT("alice\0alice\0secret", "alice", "alice", "secret"), 0);
}

static void
test_malformed(void **state)
{
    /* RFC 4616: nothing may follow the password */
    assert_int_equal(SPLIT("\0alice\0secret\0extra", "", "", ""), -1);
    assert_int_equal(SPLIT("\0alice\0secret\0", "", "", ""), -1);
    assert_int_equal(SPLIT("\0\0secret", "", "", ""), -1);
    assert_int_equal(SPLIT("\0alice\0", "", "", ""), -1);
    assert_int_equal(SPLIT("alice", "", "", ""), -1);
    assert_int_equal(SPLIT("\0alice", "", "", ""), -1);
    assert_int_equal(SPLIT("", "", "", ""), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_well_formed),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
