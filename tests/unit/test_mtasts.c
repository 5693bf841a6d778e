/*
 * test_mtasts.c — MTA-STS as data (routing/mtasts.h): TXT records valid
 * and not, policy files in CRLF and LF with every kind of mistake the RFC
 * calls invalid, MX pattern matching (a "*" covers one label, never two),
 * expiry, and the cache form read back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "routing/mtasts.h"

#include <stdlib.h>
#include <string.h>

static bool
txt(const char *s, char *id)
{
    return mtasts_txt_parse(s, strlen(s), id);
}

static void
test_txt_records(void **state)
{
    char id[MTASTS_ID_MAX + 1];

    assert_true(txt("v=STSv1; id=20160831085700Z;", id));
    assert_string_equal(id, "20160831085700Z");
    assert_true(txt("v=STSv1;id=abc", id));
    assert_string_equal(id, "abc");
    assert_true(txt("v=STSv1; id=abc ; ext=whatever; ", id));
    assert_string_equal(id, "abc");
    /* the version first and exact, an id of letters and digits, once */
    assert_false(txt("id=abc; v=STSv1;", id));
    assert_false(txt("v=STSv2; id=abc;", id));
    assert_false(txt("v=stsv1; id=abc;", id));
    assert_false(txt("v=STSv1;", id));
    assert_false(txt("v=STSv1; id=;", id));
    assert_false(txt("v=STSv1; id=a-b;", id));
    assert_false(txt("v=STSv1; id=a; id=b;", id));
    assert_false(txt("v=STSv1; id=012345678901234567890123456789012;", id));
    assert_true(txt("v=STSv1; id=01234567890123456789012345678901;", id));
    assert_false(txt("v=spf1 -all", id));
    assert_false(txt("", id));
}

static int
parse(const char *s, struct mtasts_policy *p, char *why)
{
    return mtasts_policy_parse(s, strlen(s), p, why, 200);
}

static void
test_policy_files(void **state)
{
    struct mtasts_policy p;
    char why[200];

    assert_int_equal(parse("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
                           "mx: *.example.net\r\nmx: BACKUP.example.com\r\nmax_age: 604800\r\n",
                           &p, why),
                     0);
    assert_int_equal(p.mode, MTASTS_ENFORCE);
    assert_int_equal(p.nmx, 3);
    assert_string_equal(p.mx[2], "backup.example.com");
    assert_int_equal(p.max_age, 604800);
    mtasts_policy_free(&p);

    /* LF alone, spaces, an unknown key, the limit on max_age */
    assert_int_equal(parse("version:STSv1\nmode:   testing  \nmx: a.example\nfoo: bar\n"
                           "max_age: 9999999999\n",
                           &p, why),
                     0);
    assert_int_equal(p.mode, MTASTS_TESTING);
    assert_int_equal(p.max_age, MTASTS_MAX_AGE_LIMIT);
    mtasts_policy_free(&p);

    /* mode none needs no mx */
    assert_int_equal(parse("version: STSv1\nmode: none\nmax_age: 86400\n", &p, why), 0);
    mtasts_policy_free(&p);

    static const char *const bad[] = {
        "mode: enforce\nmx: a.example\nmax_age: 1\n",                  /* no version */
        "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n",  /* version */
        "version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n",   /* mode */
        "version: STSv1\nmx: a.example\nmax_age: 1\n",                 /* no mode */
        "version: STSv1\nmode: enforce\nmax_age: 86400\n",             /* no mx */
        "version: STSv1\nmode: enforce\nmx: a.example\n",              /* no max_age */
        "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", /* max_age */
        "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 12345678901\n",
        "version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 1\n", /* pattern */
        "version: STSv1\nmode: enforce\nmx: a*.example\nmax_age: 1\n",
        "version: STSv1\nmode: enforce\nmx: a.example\x01\nmax_age: 1\n", /* control */
        "<html><body>Not found</body></html>\n",                          /* not a policy */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        assert_int_equal(parse(bad[i], &p, why), -1);
        assert_true(why[0] != '\0');
        assert_null(p.mx);
    }

    /* more than 64 KiB is not a policy, whatever it says */
    size_t big = MTASTS_POLICY_MAX + 1;
    char *huge = malloc(big + 1);
    memset(huge, '\n', big);
    memcpy(huge, "version: STSv1\nmode: none\nmax_age: 1\n", 37);
    huge[big] = '\0';
    assert_int_equal(mtasts_policy_parse(huge, big, &p, why, sizeof(why)), -1);
    assert_int_equal(mtasts_policy_parse(huge, big - 1, &p, why, sizeof(why)), 0);
    mtasts_policy_free(&p);
    free(huge);
}

static void
test_mx_patterns(void **state)
{
    struct mtasts_policy p;
    char why[200];

    assert_int_equal(parse("version: STSv1\nmode: enforce\nmx: mail.example.com\n"
                           "mx: *.example.net\nmax_age: 1\n",
                           &p, why),
                     0);
    assert_true(mtasts_mx_matches(&p, "mail.example.com"));
    assert_true(mtasts_mx_matches(&p, "MAIL.Example.COM."));
    assert_false(mtasts_mx_matches(&p, "x.mail.example.com"));
    assert_true(mtasts_mx_matches(&p, "mx1.example.net"));
    assert_false(mtasts_mx_matches(&p, "a.b.example.net")); /* one label only */
    assert_false(mtasts_mx_matches(&p, "example.net"));
    assert_false(mtasts_mx_matches(&p, "mx1.example.network"));
    assert_false(mtasts_mx_matches(&p, ""));
    mtasts_policy_free(&p);
}

static void
test_cache_form_and_expiry(void **state)
{
    struct mtasts_policy p, back;
    char why[200], *text;

    assert_int_equal(parse("version: STSv1\nmode: enforce\nmx: mail.example.com\n"
                           "mx: *.example.net\nmax_age: 86400\n",
                           &p, why),
                     0);
    strcpy(p.id, "abc123");
    p.fetched = 1000;
    text = mtasts_policy_format(&p);
    assert_int_equal(mtasts_policy_load(text, strlen(text), &back, why, sizeof(why)), 0);
    assert_string_equal(back.id, "abc123");
    assert_int_equal(back.fetched, 1000);
    assert_int_equal(back.mode, MTASTS_ENFORCE);
    assert_int_equal(back.nmx, 2);
    assert_string_equal(back.mx[1], "*.example.net");
    assert_false(mtasts_expired(&back, 1000 + 86399));
    assert_true(mtasts_expired(&back, 1000 + 86400));
    free(text);
    mtasts_policy_free(&back);
    mtasts_policy_free(&p);
    assert_int_equal(mtasts_policy_load("garbage\n", 8, &back, why, sizeof(why)), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_txt_records),
        cmocka_unit_test(test_policy_files),
        cmocka_unit_test(test_mx_patterns),
        cmocka_unit_test(test_cache_form_and_expiry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
