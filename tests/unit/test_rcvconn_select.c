/*
 * test_rcvconn_select.c — Receive connector selection (rcvconn_select): binding
 * specificity, remote range specificity, disabled connectors, no match.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "receive/rcvconn_select.h"

#include <arpa/inet.h>
#include <string.h>

static struct sockaddr_storage
sa4(const char *ip, unsigned port)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

    memset(&ss, 0, sizeof(ss));
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage
sa6(const char *ip, unsigned port)
{
    struct sockaddr_storage ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

    memset(&ss, 0, sizeof(ss));
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)port);
    assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
    return ss;
}

#define MAXC 4
static struct receive_connector rcs[MAXC];
static struct binding binds[MAXC][2];
static struct iprange ranges[MAXC][2];

static void
connector(int i, const char *name, const char *binding, const char *range, const char *range2)
{
    char err[128];

    memset(&rcs[i], 0, sizeof(rcs[i]));
    rcs[i].name = (char *)name;
    rcs[i].enabled = true;
    assert_int_equal(binding_parse(binding, &binds[i][0], err, sizeof(err)), 0);
    rcs[i].bindings = binds[i];
    rcs[i].nbindings = 1;
    assert_int_equal(iprange_parse(range, &ranges[i][0], err, sizeof(err)), 0);
    rcs[i].remote_ip_ranges = ranges[i];
    rcs[i].nremote_ip_ranges = 1;
    if (range2) {
        assert_int_equal(iprange_parse(range2, &ranges[i][1], err, sizeof(err)), 0);
        rcs[i].nremote_ip_ranges = 2;
    }
}

static const char *
pick(struct config *cfg, const char *local, unsigned port, const char *remote)
{
    struct sockaddr_storage l = strchr(local, ':') ? sa6(local, port) : sa4(local, port);
    struct sockaddr_storage r = strchr(remote, ':') ? sa6(remote, 40000) : sa4(remote, 40000);
    const struct receive_connector *rc =
        rcvconn_select(cfg, (struct sockaddr *)&l, (struct sockaddr *)&r);

    return rc ? rc->name : NULL;
}

static void
test_most_specific_range_wins(void **state)
{
    struct config cfg = {.receive_connectors = rcs, .nreceive_connectors = 3};

    /* docs/exchange-model.md: all / 192.168.1.0-255 / 192.168.1.75 */
    connector(0, "all", "0.0.0.0:25", "0.0.0.0-255.255.255.255", NULL);
    connector(1, "lan", "0.0.0.0:25", "192.168.1.0-192.168.1.255", NULL);
    connector(2, "host", "0.0.0.0:25", "192.168.1.75", NULL);
    assert_string_equal(pick(&cfg, "127.0.0.1", 25, "192.168.1.75"), "host");
    assert_string_equal(pick(&cfg, "127.0.0.1", 25, "192.168.1.100"), "lan");
    assert_string_equal(pick(&cfg, "127.0.0.1", 25, "10.1.1.1"), "all");
    assert_null(pick(&cfg, "127.0.0.1", 587, "10.1.1.1")); /* no binding on 587 */
    rcs[2].enabled = false;
    assert_string_equal(pick(&cfg, "127.0.0.1", 25, "192.168.1.75"), "lan");
}

static void
test_specific_binding_beats_wildcard(void **state)
{
    struct config cfg = {.receive_connectors = rcs, .nreceive_connectors = 2};

    connector(0, "wild", "0.0.0.0:25", "127.0.0.0/8", NULL);
    connector(1, "specific", "127.0.0.2:25", "0.0.0.0-255.255.255.255", NULL);
    /* the specific binding wins even with a wider remote range */
    assert_string_equal(pick(&cfg, "127.0.0.2", 25, "127.0.0.9"), "specific");
    assert_string_equal(pick(&cfg, "127.0.0.3", 25, "127.0.0.9"), "wild");
    /* the specific binding's ranges must still contain the client */
    connector(1, "specific", "127.0.0.2:25", "10.0.0.0/8", NULL);
    assert_string_equal(pick(&cfg, "127.0.0.2", 25, "127.0.0.9"), "wild");
}

static void
test_ipv6_and_mapped(void **state)
{
    struct config cfg = {.receive_connectors = rcs, .nreceive_connectors = 2};

    connector(0, "v4", "0.0.0.0:25", "0.0.0.0-255.255.255.255", NULL);
    connector(1, "v6", "[::]:25", "::1", "2001:db8::/32");
    assert_string_equal(pick(&cfg, "::1", 25, "::1"), "v6");
    assert_string_equal(pick(&cfg, "::1", 25, "2001:db8::5"), "v6");
    assert_null(pick(&cfg, "::1", 25, "2001:db9::5"));
    /* an IPv4 client seen through a dual-stack socket is an IPv4 client */
    assert_string_equal(pick(&cfg, "::ffff:127.0.0.1", 25, "::ffff:10.0.0.1"), "v4");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_most_specific_range_wins),
        cmocka_unit_test(test_specific_binding_beats_wildcard),
        cmocka_unit_test(test_ipv6_and_mapped),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
