/*
 * fuzz_iprange.c — libFuzzer target for RemoteIPRanges entries and
 * bindings (net/iprange.h): every form an administrator may type, as two
 * entries separated by a newline so relations between ranges are fuzzed
 * too.
 *
 * Besides memory errors it checks that a range prints as text that parses
 * back to the same addresses, contains both its ends, relates to another
 * range the same way seen from either side, and that a binding reads back
 * and matches its own address.
 * Must never: touch the network.
 */
#include "fuzz_common.h"
#include "net/iprange.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static size_t
alen(int family)
{
    return family == AF_INET ? 4 : 16;
}

static void
to_sockaddr(int family, const uint8_t *addr, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)(void *)ss;
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, addr, 4);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)ss;
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, addr, 16);
    }
}

static bool
range_ok(const char *text, struct iprange *r)
{
    struct iprange again;
    struct sockaddr_storage ss;
    char err[128], buf[128];

    if (iprange_parse(text, r, err, sizeof(err)) < 0) {
        FUZZ_CHECK(err[0] != '\0');
        return false;
    }
    FUZZ_CHECK(r->family == AF_INET || r->family == AF_INET6);
    FUZZ_CHECK(memcmp(r->lo, r->hi, alen(r->family)) <= 0);
    iprange_format(r, buf, sizeof(buf));
    FUZZ_CHECK(iprange_parse(buf, &again, err, sizeof(err)) == 0);
    FUZZ_CHECK(again.family == r->family && memcmp(again.lo, r->lo, alen(r->family)) == 0 &&
               memcmp(again.hi, r->hi, alen(r->family)) == 0);
    FUZZ_CHECK(iprange_relate(r, r) == IPRANGE_EQUAL && iprange_cmp_size(r, r) == 0);
    to_sockaddr(r->family, r->lo, &ss);
    FUZZ_CHECK(iprange_contains(r, (struct sockaddr *)&ss));
    to_sockaddr(r->family, r->hi, &ss);
    FUZZ_CHECK(iprange_contains(r, (struct sockaddr *)&ss));
    return true;
}

static void
relate_both(const struct iprange *a, const struct iprange *b)
{
    enum iprange_relation ab = iprange_relate(a, b), ba = iprange_relate(b, a);
    int sab = iprange_cmp_size(a, b), sba = iprange_cmp_size(b, a);

    FUZZ_CHECK(sab == -sba);
    switch (ab) {
    case IPRANGE_DISJOINT:
    case IPRANGE_EQUAL:
    case IPRANGE_OVERLAP:
        FUZZ_CHECK(ba == ab);
        break;
    case IPRANGE_INSIDE:
        FUZZ_CHECK(ba == IPRANGE_CONTAINS && sab < 0);
        break;
    case IPRANGE_CONTAINS:
        FUZZ_CHECK(ba == IPRANGE_INSIDE && sab > 0);
        break;
    }
    if (ab == IPRANGE_EQUAL)
        FUZZ_CHECK(sab == 0);
}

static void
binding_ok(const char *text)
{
    struct binding b, again;
    struct sockaddr_storage ss;
    char err[128], buf[128];
    socklen_t len;

    if (binding_parse(text, &b, err, sizeof(err)) < 0)
        return;
    FUZZ_CHECK(b.port != 0 && (b.family == AF_INET || b.family == AF_INET6));
    binding_format(&b, buf, sizeof(buf));
    FUZZ_CHECK(binding_parse(buf, &again, err, sizeof(err)) == 0);
    FUZZ_CHECK(again.family == b.family && again.port == b.port && again.any == b.any &&
               memcmp(again.addr, b.addr, alen(b.family)) == 0);
    len = binding_sockaddr(&b, &ss);
    FUZZ_CHECK(len > 0 && ss.ss_family == b.family);
    /* An IPv4-mapped binding is matched as IPv4 by design (iprange.h). */
    if (!(b.family == AF_INET6 && IN6_IS_ADDR_V4MAPPED((struct in6_addr *)(void *)b.addr)))
        FUZZ_CHECK(binding_matches(&b, (struct sockaddr *)&ss));
    sockaddr_format((struct sockaddr *)&ss, buf, sizeof(buf));
    sockaddr_format_ip((struct sockaddr *)&ss, buf, sizeof(buf));
    FUZZ_CHECK(sockaddr_same_ip((struct sockaddr *)&ss, (struct sockaddr *)&ss));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size), *f[2];
    size_t lens[2];
    struct iprange a, b;
    bool aok, bok;

    fuzz_split(s, strlen(s), '\n', f, lens, 2);
    aok = range_ok(f[0], &a);
    bok = range_ok(f[1], &b);
    if (aok && bok)
        relate_both(&a, &b);
    binding_ok(f[0]);
    binding_ok(f[1]);
    free(s);
    return 0;
}
