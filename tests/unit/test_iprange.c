/*
 * test_iprange.c — unit tests for net/iprange: the four range forms, the
 * classful rule, printing, matching, relations, sizes and bindings.
 * Must never: touch the network or depend on the host's configuration.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "net/iprange.h"

static struct iprange
range_ok(const char *text)
{
    struct iprange r;
    char err[128] = "";

    memset(&r, 0xa5, sizeof(r));
    if (iprange_parse(text, &r, err, sizeof(err)) != 0)
        fail_msg("iprange_parse(\"%s\") failed: %s", text, err);
    return r;
}

static void
range_fails(const char *text, const char *want)
{
    struct iprange r;
    char err[128] = "";

    memset(&r, 0, sizeof(r));
    assert_int_equal(iprange_parse(text, &r, err, sizeof(err)), -1);
    assert_string_equal(err, want);
}

static void
assert_format(const char *text, const char *want)
{
    struct iprange r = range_ok(text);
    char buf[128];

    iprange_format(&r, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

static void
assert_lohi4(const struct iprange *r, const char *lo, const char *hi)
{
    uint8_t a[4], b[4];

    assert_int_equal(r->family, AF_INET);
    assert_int_equal(inet_pton(AF_INET, lo, a), 1);
    assert_int_equal(inet_pton(AF_INET, hi, b), 1);
    assert_memory_equal(r->lo, a, 4);
    assert_memory_equal(r->hi, b, 4);
}

static void
assert_lohi6(const struct iprange *r, const char *lo, const char *hi)
{
    uint8_t a[16], b[16];

    assert_int_equal(r->family, AF_INET6);
    assert_int_equal(inet_pton(AF_INET6, lo, a), 1);
    assert_int_equal(inet_pton(AF_INET6, hi, b), 1);
    assert_memory_equal(r->lo, a, 16);
    assert_memory_equal(r->hi, b, 16);
}

static struct sockaddr_storage
sa4(const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

    memset(&ss, 0, sizeof(ss));
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage
sa6(const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

    memset(&ss, 0, sizeof(ss));
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
    return ss;
}

static bool
contains(const char *range, const char *ip)
{
    struct iprange r = range_ok(range);
    struct sockaddr_storage ss = strchr(ip, ':') ? sa6(ip, 25) : sa4(ip, 25);

    return iprange_contains(&r, (struct sockaddr *)&ss);
}

static void
test_single(void **state)
{
    struct iprange r = range_ok("192.168.1.10");
    assert_int_equal(r.form, IPRANGE_SINGLE);
    assert_lohi4(&r, "192.168.1.10", "192.168.1.10");

    r = range_ok("2001:db8::1");
    assert_int_equal(r.form, IPRANGE_SINGLE);
    assert_lohi6(&r, "2001:db8::1", "2001:db8::1");

    /* A bare IPv6 network address is still one host: no classful rule. */
    r = range_ok("2001:db8::");
    assert_int_equal(r.form, IPRANGE_SINGLE);
    assert_lohi6(&r, "2001:db8::", "2001:db8::");

    r = range_ok("  \t10.1.2.3 \r\n");
    assert_int_equal(r.form, IPRANGE_SINGLE);
    assert_lohi4(&r, "10.1.2.3", "10.1.2.3");
}

static void
test_classful(void **state)
{
    struct iprange r = range_ok("10.0.0.0");
    assert_int_equal(r.form, IPRANGE_CLASSFUL);
    assert_lohi4(&r, "10.0.0.0", "10.255.255.255");

    r = range_ok("172.16.0.0");
    assert_int_equal(r.form, IPRANGE_CLASSFUL);
    assert_lohi4(&r, "172.16.0.0", "172.16.255.255");

    r = range_ok("192.168.1.0");
    assert_int_equal(r.form, IPRANGE_CLASSFUL);
    assert_lohi4(&r, "192.168.1.0", "192.168.1.255");

    r = range_ok("127.0.0.0");
    assert_int_equal(r.form, IPRANGE_CLASSFUL);
    assert_lohi4(&r, "127.0.0.0", "127.255.255.255");

    /* Host part non-zero under the class mask: the admin meant one host. */
    r = range_ok("10.1.2.3");
    assert_int_equal(r.form, IPRANGE_SINGLE);
    assert_lohi4(&r, "10.1.2.3", "10.1.2.3");

    r = range_ok("10.1.0.0");
    assert_int_equal(r.form, IPRANGE_SINGLE);

    r = range_ok("172.16.5.0");
    assert_int_equal(r.form, IPRANGE_SINGLE);
    assert_lohi4(&r, "172.16.5.0", "172.16.5.0");

    r = range_ok("192.168.1.1");
    assert_int_equal(r.form, IPRANGE_SINGLE);

    /* Class D and E never take a mask. */
    r = range_ok("224.0.0.0");
    assert_int_equal(r.form, IPRANGE_SINGLE);
    assert_lohi4(&r, "224.0.0.0", "224.0.0.0");

    r = range_ok("240.0.0.0");
    assert_int_equal(r.form, IPRANGE_SINGLE);

    /* Class boundaries. */
    r = range_ok("128.0.0.0");
    assert_lohi4(&r, "128.0.0.0", "128.0.255.255");
    r = range_ok("191.255.0.0");
    assert_lohi4(&r, "191.255.0.0", "191.255.255.255");
    r = range_ok("223.1.2.0");
    assert_lohi4(&r, "223.1.2.0", "223.1.2.255");
}

static void
test_cidr(void **state)
{
    struct iprange r = range_ok("10.0.0.0/8");
    assert_int_equal(r.form, IPRANGE_CIDR);
    assert_lohi4(&r, "10.0.0.0", "10.255.255.255");

    r = range_ok("192.168.1.1/24");
    assert_int_equal(r.form, IPRANGE_CIDR);
    assert_lohi4(&r, "192.168.1.0", "192.168.1.255");

    r = range_ok("10.1.2.3/32");
    assert_lohi4(&r, "10.1.2.3", "10.1.2.3");

    r = range_ok("1.2.3.4/0");
    assert_lohi4(&r, "0.0.0.0", "255.255.255.255");

    r = range_ok("172.16.0.0/12");
    assert_lohi4(&r, "172.16.0.0", "172.31.255.255");

    r = range_ok("2001:db8::/32");
    assert_int_equal(r.form, IPRANGE_CIDR);
    assert_lohi6(&r, "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff");

    r = range_ok("2001:db8:1:2::5/63");
    assert_lohi6(&r, "2001:db8:1:2::", "2001:db8:1:3:ffff:ffff:ffff:ffff");

    r = range_ok("::/0");
    assert_lohi6(&r, "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");

    r = range_ok("2001:db8::1/128");
    assert_lohi6(&r, "2001:db8::1", "2001:db8::1");
}

static void
test_netmask(void **state)
{
    struct iprange r = range_ok("172.16.0.0(255.240.0.0)");
    assert_int_equal(r.form, IPRANGE_NETMASK);
    assert_lohi4(&r, "172.16.0.0", "172.31.255.255");

    r = range_ok(" 10.9.8.7(255.255.255.0) ");
    assert_int_equal(r.form, IPRANGE_NETMASK);
    assert_lohi4(&r, "10.9.8.0", "10.9.8.255");

    r = range_ok("10.0.0.1(255.255.255.255)");
    assert_lohi4(&r, "10.0.0.1", "10.0.0.1");

    r = range_ok("2001:db8::(ffff:ffff::)");
    assert_int_equal(r.form, IPRANGE_NETMASK);
    assert_lohi6(&r, "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff");
}

static void
test_lohi(void **state)
{
    struct iprange r = range_ok("192.168.1.1-192.168.255.255");
    assert_int_equal(r.form, IPRANGE_LOHI);
    assert_lohi4(&r, "192.168.1.1", "192.168.255.255");

    r = range_ok("10.0.0.5 - 10.0.0.5");
    assert_int_equal(r.form, IPRANGE_LOHI);
    assert_lohi4(&r, "10.0.0.5", "10.0.0.5");

    r = range_ok("2001:db8::1-2001:db8::ff");
    assert_int_equal(r.form, IPRANGE_LOHI);
    assert_lohi6(&r, "2001:db8::1", "2001:db8::ff");
}

static void
test_format(void **state)
{
    assert_format("10.0.0.0", "10.0.0.0/8");
    assert_format("172.16.0.0", "172.16.0.0/16");
    assert_format("192.168.1.0", "192.168.1.0/24");
    assert_format("10.1.2.3", "10.1.2.3");
    assert_format("224.0.0.0", "224.0.0.0");
    assert_format("172.16.0.0(255.240.0.0)", "172.16.0.0/12");
    assert_format("10.0.0.0/8", "10.0.0.0/8");
    assert_format("192.168.1.1/24", "192.168.1.0/24");
    assert_format("10.0.0.0/32", "10.0.0.0/32");
    assert_format("192.168.1.1-192.168.255.255", "192.168.1.1-192.168.255.255");
    /* A first-last range that happens to be a block stays first-last. */
    assert_format("10.0.0.0-10.0.0.255", "10.0.0.0-10.0.0.255");
    assert_format("2001:db8::/32", "2001:db8::/32");
    assert_format("2001:DB8:0::1", "2001:db8::1");
    assert_format("2001:db8::1-2001:db8::ff", "2001:db8::1-2001:db8::ff");
    assert_format("2001:db8::(ffff:ffff::)", "2001:db8::/32");
}

static void
test_format_round_trip(void **state)
{
    static const char *const texts[] = {
        "10.0.0.0",
        "10.1.2.3",
        "172.16.0.0",
        "172.16.5.0",
        "192.168.1.0",
        "224.0.0.0",
        "0.0.0.0/0",
        "192.168.1.1/24",
        "10.0.0.0/32",
        "172.16.0.0(255.240.0.0)",
        "192.168.1.1-192.168.255.255",
        "2001:db8::1",
        "2001:db8::/32",
        "::/0",
        "2001:db8::1-2001:db8::ff",
    };

    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct iprange a = range_ok(texts[i]), b;
        char buf[128], again[128];

        iprange_format(&a, buf, sizeof(buf));
        b = range_ok(buf);
        assert_int_equal(a.family, b.family);
        assert_memory_equal(a.lo, b.lo, 16);
        assert_memory_equal(a.hi, b.hi, 16);
        iprange_format(&b, again, sizeof(again));
        assert_string_equal(buf, again);
    }
}

static void
test_format_truncates(void **state)
{
    struct iprange r = range_ok("192.168.1.1-192.168.255.255");
    char buf[8];

    iprange_format(&r, buf, sizeof(buf));
    assert_string_equal(buf, "192.168");
}

static void
test_contains_v4(void **state)
{
    assert_true(contains("10.0.0.0", "10.255.255.255"));
    assert_true(contains("10.0.0.0", "10.0.0.0"));
    assert_false(contains("10.0.0.0", "11.0.0.0"));
    assert_false(contains("10.0.0.0", "9.255.255.255"));
    assert_true(contains("10.1.2.3", "10.1.2.3"));
    assert_false(contains("10.1.2.3", "10.1.2.4"));
    assert_true(contains("172.16.0.0(255.240.0.0)", "172.31.0.1"));
    assert_false(contains("172.16.0.0(255.240.0.0)", "172.32.0.1"));
    assert_true(contains("192.168.1.1-192.168.255.255", "192.168.1.1"));
    assert_true(contains("192.168.1.1-192.168.255.255", "192.168.200.7"));
    assert_false(contains("192.168.1.1-192.168.255.255", "192.168.1.0"));
    assert_true(contains("0.0.0.0/0", "203.0.113.9"));
    /* Families never cross, except for mapped addresses. */
    assert_false(contains("0.0.0.0/0", "2001:db8::1"));
}

static void
test_contains_v6(void **state)
{
    assert_true(contains("2001:db8::/32", "2001:db8:ffff::1"));
    assert_false(contains("2001:db8::/32", "2001:db9::1"));
    assert_true(contains("2001:db8::1-2001:db8::ff", "2001:db8::80"));
    assert_false(contains("2001:db8::1-2001:db8::ff", "2001:db8::100"));
    assert_true(contains("2001:db8::1", "2001:db8::1"));
    assert_false(contains("::/0", "192.0.2.1"));
}

static void
test_contains_mapped(void **state)
{
    assert_true(contains("10.0.0.0", "::ffff:10.1.2.3"));
    assert_true(contains("192.168.1.1-192.168.255.255", "::ffff:192.168.3.4"));
    assert_false(contains("10.0.0.0/8", "::ffff:11.0.0.1"));
    /* The mapped form written as an IPv6 range still matches. */
    assert_true(contains("::ffff:10.0.0.0/104", "::ffff:10.9.9.9"));
    assert_false(contains("2001:db8::/32", "::ffff:10.9.9.9"));
    /* Not mapped: an IPv4-compatible or arbitrary v6 address is not v4. */
    assert_false(contains("10.0.0.0/8", "::10.1.2.3"));
}

static void
test_contains_odd_sockaddr(void **state)
{
    struct iprange r = range_ok("0.0.0.0/0");
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    ss.ss_family = AF_UNIX;
    assert_false(iprange_contains(&r, (struct sockaddr *)&ss));
    assert_false(iprange_contains(&r, NULL));
}

static enum iprange_relation
relate(const char *a, const char *b)
{
    struct iprange ra = range_ok(a), rb = range_ok(b);

    return iprange_relate(&ra, &rb);
}

static void
test_relate(void **state)
{
    assert_int_equal(relate("10.0.0.0/8", "11.0.0.0/8"), IPRANGE_DISJOINT);
    assert_int_equal(relate("10.0.0.0/8", "10.0.0.0"), IPRANGE_EQUAL);
    assert_int_equal(relate("10.0.0.0/8", "10.0.0.0-10.255.255.255"), IPRANGE_EQUAL);
    assert_int_equal(relate("10.1.0.0/16", "10.0.0.0/8"), IPRANGE_INSIDE);
    assert_int_equal(relate("10.0.0.0/8", "10.1.2.3"), IPRANGE_CONTAINS);
    /* Sharing an edge still nests. */
    assert_int_equal(relate("10.0.0.0-10.0.0.5", "10.0.0.0/24"), IPRANGE_INSIDE);
    assert_int_equal(relate("10.0.0.0/24", "10.0.0.250-10.0.0.255"), IPRANGE_CONTAINS);
    assert_int_equal(relate("10.0.0.0-10.0.0.10", "10.0.0.5-10.0.0.20"), IPRANGE_OVERLAP);
    assert_int_equal(relate("10.0.0.5-10.0.0.20", "10.0.0.0-10.0.0.10"), IPRANGE_OVERLAP);
    /* Touching at one address is overlap; adjacent is not. */
    assert_int_equal(relate("10.0.0.0-10.0.0.10", "10.0.0.10-10.0.0.20"), IPRANGE_OVERLAP);
    assert_int_equal(relate("10.0.0.0-10.0.0.9", "10.0.0.10-10.0.0.20"), IPRANGE_DISJOINT);
    assert_int_equal(relate("10.0.0.10-10.0.0.20", "10.0.0.0-10.0.0.9"), IPRANGE_DISJOINT);

    assert_int_equal(relate("2001:db8::/32", "2001:db9::/32"), IPRANGE_DISJOINT);
    assert_int_equal(relate("2001:db8::/32", "2001:db8::(ffff:ffff::)"), IPRANGE_EQUAL);
    assert_int_equal(relate("2001:db8::1", "2001:db8::/32"), IPRANGE_INSIDE);
    assert_int_equal(relate("::/0", "2001:db8::/32"), IPRANGE_CONTAINS);
    assert_int_equal(relate("2001:db8::1-2001:db8::ff", "2001:db8::80-2001:db8::1ff"),
                     IPRANGE_OVERLAP);

    /* Different families never relate, even when the bytes would. */
    assert_int_equal(relate("0.0.0.0/0", "::/0"), IPRANGE_DISJOINT);
}

static int
cmp_size(const char *a, const char *b)
{
    struct iprange ra = range_ok(a), rb = range_ok(b);

    return iprange_cmp_size(&ra, &rb);
}

static void
test_cmp_size(void **state)
{
    assert_true(cmp_size("10.1.2.3", "10.0.0.0/24") < 0);
    assert_true(cmp_size("10.0.0.0/8", "10.1.0.0/16") > 0);
    assert_int_equal(cmp_size("10.0.0.0/8", "11.0.0.0/8"), 0);
    assert_int_equal(cmp_size("10.0.0.0/24", "10.0.1.0-10.0.1.255"), 0);
    assert_true(cmp_size("10.0.0.0-10.0.0.255", "10.0.0.0-10.0.1.0") < 0);
    /* Borrowing across bytes: 1.0 - 0.255 is 1, 2.0 - 1.0 is 256. */
    assert_true(cmp_size("10.0.0.255-10.0.1.0", "10.0.1.0-10.0.2.0") < 0);
    assert_true(cmp_size("0.0.0.0/0", "0.0.0.0/1") > 0);
    assert_int_equal(cmp_size("1.2.3.4", "5.6.7.8"), 0);

    /* Full 128-bit widths. */
    assert_true(cmp_size("::/0", "::/1") > 0);
    assert_true(cmp_size("2001:db8::/64", "2001:db8::/32") < 0);
    assert_int_equal(cmp_size("2001:db8::/32", "2001:db9::/32"), 0);
    assert_true(cmp_size("2001:db8::1-2001:db8::ff", "2001:db8::1") > 0);
    assert_true(cmp_size("::ff-::1:0", "::1:0-::1:ff") > 0);

    /* Families order IPv4 first, whatever the sizes. */
    assert_true(cmp_size("0.0.0.0/0", "2001:db8::1") < 0);
    assert_true(cmp_size("2001:db8::1", "10.1.2.3") > 0);
}

static void
test_bad_ranges(void **state)
{
    range_fails("", "empty range");
    range_fails("   ", "empty range");
    range_fails("10.0.0", "bad address");
    range_fails("10.0.0.256", "bad address");
    range_fails("mail.example.com", "bad address");
    range_fails("10.0.0.1 10.0.0.2", "bad address");
    range_fails("2001:db8::g", "bad address");
    range_fails("fe80::1%eth0", "bad address");

    range_fails("10.0.0.0/33", "bad prefix length");
    range_fails("10.0.0.0/", "bad prefix length");
    range_fails("10.0.0.0/-1", "bad prefix length");
    range_fails("10.0.0.0/8x", "bad prefix length");
    range_fails("10.0.0.0/0008", "bad prefix length");
    range_fails("2001:db8::/129", "bad prefix length");
    range_fails("10.0.0/8", "bad address");
    range_fails("/8", "bad address");

    range_fails("172.16.0.0(255.0.255.0)", "netmask is not contiguous");
    range_fails("10.0.0.0(0.255.255.255)", "netmask is not contiguous");
    range_fails("2001:db8::(ffff:0:ffff::)", "netmask is not contiguous");
    range_fails("172.16.0.0(255.240.0.0", "bad netmask");
    range_fails("172.16.0.0(255.240.0.0)x", "bad netmask");
    range_fails("172.16.0.0(garbage)", "bad netmask");
    range_fails("172.16.0.0()", "bad netmask");
    range_fails("172.16.0.0(ffff::)", "netmask and address families differ");
    range_fails("172.16.0(255.240.0.0)", "bad address");

    range_fails("192.168.255.255-192.168.1.1", "first address is after the last");
    range_fails("2001:db8::ff-2001:db8::1", "first address is after the last");
    range_fails("10.0.0.1-2001:db8::1", "both ends must be the same family");
    range_fails("10.0.0.1-", "bad address");
    range_fails("-10.0.0.1", "bad address");
    range_fails("10.0.0.1-10.0.0.2-10.0.0.3", "bad address");

    char longtext[300];
    memset(longtext, '1', sizeof(longtext) - 1);
    longtext[sizeof(longtext) - 1] = '\0';
    range_fails(longtext, "bad address");
}

static void
test_bad_range_keeps_output(void **state)
{
    struct iprange r = range_ok("10.0.0.0/8"), before = r;
    char err[4];

    /* A short err buffer truncates the reason but stays terminated. */
    assert_int_equal(iprange_parse("10.0.0.0/99", &r, err, sizeof(err)), -1);
    assert_string_equal(err, "bad");
    assert_memory_equal(&r, &before, sizeof(r));
    assert_int_equal(iprange_parse("nope", &r, NULL, 0), -1);
}

static struct binding
binding_ok(const char *text)
{
    struct binding b;
    char err[128] = "";

    if (binding_parse(text, &b, err, sizeof(err)) != 0)
        fail_msg("binding_parse(\"%s\") failed: %s", text, err);
    return b;
}

static void
binding_fails(const char *text, const char *want)
{
    struct binding b;
    char err[128] = "";

    assert_int_equal(binding_parse(text, &b, err, sizeof(err)), -1);
    assert_string_equal(err, want);
}

static void
test_binding_parse(void **state)
{
    struct binding b = binding_ok("0.0.0.0:25");
    assert_int_equal(b.family, AF_INET);
    assert_int_equal(b.port, 25);
    assert_true(b.any);

    b = binding_ok("127.0.0.1:2525");
    assert_int_equal(b.family, AF_INET);
    assert_int_equal(b.port, 2525);
    assert_false(b.any);
    assert_memory_equal(b.addr, "\x7f\x00\x00\x01", 4);

    b = binding_ok("[::]:25");
    assert_int_equal(b.family, AF_INET6);
    assert_int_equal(b.port, 25);
    assert_true(b.any);

    b = binding_ok("[::1]:587");
    assert_int_equal(b.family, AF_INET6);
    assert_int_equal(b.port, 587);
    assert_false(b.any);
    assert_memory_equal(b.addr, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16);

    b = binding_ok(" 192.0.2.1:65535 ");
    assert_int_equal(b.port, 65535);
    b = binding_ok("192.0.2.1:1");
    assert_int_equal(b.port, 1);
}

static void
test_binding_bad(void **state)
{
    binding_fails("", "empty binding");
    binding_fails("0.0.0.0", "missing port");
    binding_fails("0.0.0.0:", "missing port");
    binding_fails("[::1]", "missing port");
    binding_fails("[::1]:", "missing port");
    binding_fails("0.0.0.0:0", "port must be 1-65535");
    binding_fails("0.0.0.0:65536", "port must be 1-65535");
    binding_fails("0.0.0.0:99999999999", "port must be 1-65535");
    binding_fails("0.0.0.0:-25", "port must be 1-65535");
    binding_fails("0.0.0.0:25x", "port must be 1-65535");
    binding_fails("0.0.0.0: 25", "port must be 1-65535");
    binding_fails("::1:25", "IPv6 address must be in brackets");
    binding_fails("2001:db8::1:25", "IPv6 address must be in brackets");
    binding_fails("[::1:25", "missing ]");
    binding_fails("[::1]x25", "bad address");
    binding_fails("[10.0.0.1]:25", "bad address");
    binding_fails("localhost:25", "bad address");
    binding_fails("garbage", "missing port");
    binding_fails("10.0.0:25", "bad address");
    /* connections to it arrive as IPv4: it would never match its own */
    binding_fails("[::ffff:127.0.0.1]:2525",
                  "an IPv4-mapped address: give the IPv4 address itself");
}

static void
test_binding_format(void **state)
{
    static const char *const texts[] = {
        "0.0.0.0:25", "127.0.0.1:2525", "[::]:25", "[::1]:587", "[2001:db8::1]:65535",
    };
    char buf[64];

    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct binding b = binding_ok(texts[i]);
        binding_format(&b, buf, sizeof(buf));
        assert_string_equal(buf, texts[i]);
    }
    struct binding b = binding_ok("[2001:DB8:0:0::1]:25");
    binding_format(&b, buf, sizeof(buf));
    assert_string_equal(buf, "[2001:db8::1]:25");
}

static void
test_binding_sockaddr(void **state)
{
    struct sockaddr_storage ss;
    struct binding b = binding_ok("127.0.0.1:2525");
    socklen_t len = binding_sockaddr(&b, &ss);
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;

    assert_int_equal(len, sizeof(struct sockaddr_in));
    assert_int_equal(sin->sin_family, AF_INET);
    assert_int_equal(ntohs(sin->sin_port), 2525);
    assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000001);

    b = binding_ok("[::1]:587");
    len = binding_sockaddr(&b, &ss);
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
    assert_int_equal(len, sizeof(struct sockaddr_in6));
    assert_int_equal(sin6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(sin6->sin6_port), 587);
    assert_true(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));

    /* What binding_sockaddr makes, binding_matches accepts. */
    assert_true(binding_matches(&b, (struct sockaddr *)&ss));
}

static bool
matches(const char *binding, const char *ip, uint16_t port)
{
    struct binding b = binding_ok(binding);
    struct sockaddr_storage ss = strchr(ip, ':') ? sa6(ip, port) : sa4(ip, port);

    return binding_matches(&b, (struct sockaddr *)&ss);
}

static void
test_binding_matches(void **state)
{
    assert_true(matches("0.0.0.0:25", "192.0.2.1", 25));
    assert_false(matches("0.0.0.0:25", "192.0.2.1", 587));
    assert_true(matches("192.0.2.1:25", "192.0.2.1", 25));
    assert_false(matches("192.0.2.1:25", "192.0.2.2", 25));
    assert_true(matches("0.0.0.0:25", "::ffff:192.0.2.1", 25));
    assert_true(matches("192.0.2.1:25", "::ffff:192.0.2.1", 25));
    assert_false(matches("192.0.2.1:25", "::ffff:192.0.2.2", 25));

    assert_true(matches("[::]:25", "2001:db8::1", 25));
    assert_false(matches("[::]:25", "2001:db8::1", 26));
    assert_true(matches("[::1]:587", "::1", 587));
    assert_false(matches("[::1]:587", "::2", 587));

    /* "any" only covers its own family; a mapped address counts as IPv4. */
    assert_false(matches("0.0.0.0:25", "2001:db8::1", 25));
    assert_false(matches("[::]:25", "192.0.2.1", 25));
    assert_false(matches("[::]:25", "::ffff:192.0.2.1", 25));
}

static void
test_sockaddr_format(void **state)
{
    struct sockaddr_storage ss;
    char buf[64];

    ss = sa4("192.0.2.1", 25);
    sockaddr_format((struct sockaddr *)&ss, buf, sizeof(buf));
    assert_string_equal(buf, "192.0.2.1:25");
    sockaddr_format_ip((struct sockaddr *)&ss, buf, sizeof(buf));
    assert_string_equal(buf, "192.0.2.1");

    ss = sa6("2001:db8::1", 25);
    sockaddr_format((struct sockaddr *)&ss, buf, sizeof(buf));
    assert_string_equal(buf, "[2001:db8::1]:25");
    sockaddr_format_ip((struct sockaddr *)&ss, buf, sizeof(buf));
    assert_string_equal(buf, "2001:db8::1");

    ss = sa6("::ffff:192.0.2.7", 587);
    sockaddr_format((struct sockaddr *)&ss, buf, sizeof(buf));
    assert_string_equal(buf, "192.0.2.7:587");
    sockaddr_format_ip((struct sockaddr *)&ss, buf, sizeof(buf));
    assert_string_equal(buf, "192.0.2.7");

    memset(&ss, 0, sizeof(ss));
    ss.ss_family = AF_UNIX;
    sockaddr_format((struct sockaddr *)&ss, buf, sizeof(buf));
    assert_string_equal(buf, "unknown");

    char small[6];
    ss = sa4("192.0.2.1", 25);
    sockaddr_format((struct sockaddr *)&ss, small, sizeof(small));
    assert_string_equal(small, "192.0");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single),
        cmocka_unit_test(test_classful),
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_netmask),
        cmocka_unit_test(test_lohi),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_format_truncates),
        cmocka_unit_test(test_contains_v4),
        cmocka_unit_test(test_contains_v6),
        cmocka_unit_test(test_contains_mapped),
        cmocka_unit_test(test_contains_odd_sockaddr),
        cmocka_unit_test(test_relate),
        cmocka_unit_test(test_cmp_size),
        cmocka_unit_test(test_bad_ranges),
        cmocka_unit_test(test_bad_range_keeps_output),
        cmocka_unit_test(test_binding_parse),
        cmocka_unit_test(test_binding_format),
        cmocka_unit_test(test_binding_bad),
        cmocka_unit_test(test_binding_sockaddr),
        cmocka_unit_test(test_binding_matches),
        cmocka_unit_test(test_sockaddr_format),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
