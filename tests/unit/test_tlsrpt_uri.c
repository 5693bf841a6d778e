/*
 * test_tlsrpt_uri.c — the https: reporting URI check (routing/tlsrpt_uri.h)
 * that both the queue and the smtp process run before a TLS report is
 * POSTed: what a domain may publish, what the parts become, and every
 * way a URI could point the request elsewhere or break its request line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "routing/tlsrpt_uri.h"

#include <stdio.h>
#include <string.h>

static bool
ok(const char *uri, struct tlsrpt_https_uri *u)
{
    char why[200];

    return tlsrpt_https_uri_parse(uri, u, why, sizeof(why));
}

/* Refused, and the reason says why without repeating the URI. */
static void
refused(const char *uri, const char *because)
{
    struct tlsrpt_https_uri u;
    char why[200];

    assert_false(tlsrpt_https_uri_parse(uri, &u, why, sizeof(why)));
    if (strstr(why, because) == NULL)
        fail_msg("%s: \"%s\" does not say \"%s\"", uri, why, because);
}

static void
test_accepted(void **state)
{
    struct tlsrpt_https_uri u;

    (void)state;
    assert_true(ok("https://reports.example.com/tlsrpt", &u));
    assert_string_equal(u.host, "reports.example.com");
    assert_int_equal(u.port, 443);
    assert_string_equal(u.path, "/tlsrpt");
    /* RFC 8460 3's example, the scheme in any case, the host lowered */
    assert_true(ok("HTTPS://Reporting.Example.COM/v1/tlsrpt", &u));
    assert_string_equal(u.host, "reporting.example.com");
    assert_string_equal(u.path, "/v1/tlsrpt");
    assert_true(ok("https://r.example:8443/a/b?x=1&y=%2C", &u));
    assert_int_equal(u.port, 8443);
    assert_string_equal(u.path, "/a/b?x=1&y=%2C");
    /* an empty path is "/", also before a query */
    assert_true(ok("https://r.example", &u));
    assert_string_equal(u.path, "/");
    assert_true(ok("https://r.example?k=v", &u));
    assert_string_equal(u.path, "/?k=v");
    assert_true(ok("https://localhost/", &u));
}

static void
test_refused(void **state)
{
    char long_uri[TLSRPT_URI_MAX + 10];

    (void)state;
    refused("", "empty");
    refused("http://r.example/x", "not an https:// URI");
    refused("mailto:tlsrpt@example.com", "not an https:// URI");
    refused("https://user@r.example/x", "user information");
    refused("https://user:pw@r.example/x", "user information");
    refused("https://r.example@evil.example/x", "user information");
    refused("https://[2001:db8::1]/x", "IP literal");
    refused("https://192.0.2.1/x", "IP address");
    refused("https://192.0.2.1:443/x", "IP address");
    refused("https:///x", "no host name");
    refused("https://:443/x", "no host name");
    refused("https://r.example./x", "not a valid DNS name");
    refused("https://r_x.example/x", "not a valid DNS name");
    refused("https://-r.example/x", "not a valid DNS name");
    refused("https://r.example:0/x", "port");
    refused("https://r.example:65536/x", "port");
    refused("https://r.example:/x", "port");
    refused("https://r.example:44a/x", "port");
    refused("https://r.example:+443/x", "port");
    refused("https://r.example/x#frag", "fragment");
    refused("https://r.example/a b", "blank");
    refused("https://r.example/a\r\nHost: evil", "control character");
    refused("https://r.example/a\tb", "control character");
    refused("https://r.example/\x7f", "control character");
    refused("https://r.example/caf\xc3\xa9", "non-ASCII");
    refused("https://r.example/a\"b", "path");
    refused("https://r.example/a<b>", "path");
    refused("https://r.example/a\\b", "path");
    refused("https://r.example/a%zz", "path");
    refused("https://r.example/a%4", "path");
    refused("https://r.example/a{b}", "path");
    memset(long_uri, 'a', sizeof(long_uri) - 1);
    long_uri[sizeof(long_uri) - 1] = '\0';
    memcpy(long_uri, "https://r.example/", 18);
    refused(long_uri, "longer than");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
