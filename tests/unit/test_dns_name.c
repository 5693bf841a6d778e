/*
 * test_dns_name.c — unit tests for net/dns_name.c, the one syntax check of
 * host and domain names that configuration values, certificate names and
 * cmdlets share, and the one way a name loses its root dot.
 * Must never: depend on the network or the locale.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "net/dns_name.h"

#include <string.h>

static void
test_valid_names(void **state)
{
    static const char *const good[] = {
        "a",         "example.com", "MAIL.Example.COM", "xn--bcher-kva.example",
        "a-b.c-d.e", "1.2.3.4",     "0day.test",
    };

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!dns_name_valid(good[i], false))
            fail_msg("refused: %s", good[i]);
}

static void
test_invalid_names(void **state)
{
    static const char *const bad[] = {
        "",         "example.com.", ".example.com", "a..b",         "-a.example", "a-.example",
        "a_b.test", "a b.test",     "ex@mple.com",  "b\xc3\xbc.de", "*",          "a.*.test",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (dns_name_valid(bad[i], false))
            fail_msg("accepted: \"%s\"", bad[i]);
}

static void
test_wildcards(void **state)
{
    assert_true(dns_name_valid("*.example.com", true));
    assert_false(dns_name_valid("*.example.com", false));
    assert_false(dns_name_valid("*.", true));
    assert_false(dns_name_valid("*", true));
    assert_false(dns_name_valid("**.example.com", true));
    assert_false(dns_name_valid("a.*.example.com", true));
}

static void
test_lengths(void **state)
{
    char label[70], name[300];

    memset(label, 'a', 63);
    label[63] = '\0';
    assert_true(dns_name_valid(label, false));
    label[63] = 'a';
    label[64] = '\0';
    assert_false(dns_name_valid(label, false)); /* 64: one too many */

    /* 253 characters in all is the most (RFC 1035 2.3.4 without the dot) */
    memset(name, 0, sizeof(name));
    for (size_t i = 0; i < 253; i++)
        name[i] = i % 2 ? '.' : 'a';
    name[252] = 'a';
    assert_true(dns_name_valid(name, false));
    name[253] = '.';
    name[254] = 'a';
    assert_false(dns_name_valid(name, false));
    /* the wildcard counts */
    name[0] = '*';
    name[253] = '\0';
    assert_true(dns_name_valid(name, true));
}

static void
test_without_root(void **state)
{
    char out[DNS_NAME_MAX + 2], name[DNS_NAME_MAX + 3];

    assert_true(dns_name_without_root("mail.example.com.", out));
    assert_string_equal(out, "mail.example.com");
    assert_true(dns_name_without_root("Mail.Example.com", out));
    assert_string_equal(out, "Mail.Example.com");
    assert_true(dns_name_without_root(".", out)); /* the root stays itself */
    assert_string_equal(out, ".");
    memset(name, 'a', DNS_NAME_MAX);
    name[DNS_NAME_MAX] = '.';
    name[DNS_NAME_MAX + 1] = '\0';
    assert_true(dns_name_without_root(name, out)); /* 253 and the root's dot */
    assert_int_equal(strlen(out), DNS_NAME_MAX);
    name[DNS_NAME_MAX + 1] = 'a';
    name[DNS_NAME_MAX + 2] = '\0';
    assert_false(dns_name_without_root(name, out));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_names),  cmocka_unit_test(test_invalid_names),
        cmocka_unit_test(test_wildcards),    cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_without_root),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
