/*
 * iprange.c — parsing, printing and matching of RemoteIPRanges entries and
 * listening bindings (see iprange.h).
 * Must never: allocate, do I/O, or resolve names — it runs on every
 * connection and on config input that may be hostile or mistyped.
 */
#include "net/iprange.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

/* Longest entry we accept: two IPv6 addresses in their longest textual form
 * plus a separator, with room to spare. */
#define IPRANGE_TEXT_MAX 128

static const uint8_t addr_zero[16];

static void
err_set(char *err, size_t errlen, const char *reason)
{
    if (err != NULL && errlen > 0)
        strlcpy_p(err, reason, errlen);
}

static size_t
addr_len(int family)
{
    return family == AF_INET ? 4 : 16;
}

static bool
is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Copies text without surrounding blanks into buf; false if it does not fit. */
static bool
text_trim_copy(const char *text, size_t n, char *buf, size_t buflen)
{
    while (n > 0 && is_blank(*text)) {
        text++;
        n--;
    }
    while (n > 0 && is_blank(text[n - 1]))
        n--;
    if (n >= buflen)
        return false;
    memcpy(buf, text, n);
    buf[n] = '\0';
    return true;
}

/* Either family; the caller checks families agree where that matters. */
static bool
addr_parse(const char *s, int *family, uint8_t out[16])
{
    memset(out, 0, 16);
    if (inet_pton(AF_INET, s, out) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, s, out) == 1) {
        *family = AF_INET6;
        return true;
    }
    return false;
}

static void
mask_from_prefix(unsigned prefix, uint8_t mask[16])
{
    memset(mask, 0, 16);
    for (unsigned i = 0; i < prefix / 8; i++)
        mask[i] = 0xff;
    if (prefix % 8 != 0)
        mask[prefix / 8] = (uint8_t)(0xff << (8 - prefix % 8));
}

static void
range_set_prefix(struct iprange *r, const uint8_t addr[16], unsigned prefix)
{
    uint8_t mask[16];
    size_t n = addr_len(r->family);

    mask_from_prefix(prefix, mask);
    for (size_t i = 0; i < n; i++) {
        r->lo[i] = addr[i] & mask[i];
        r->hi[i] = (uint8_t)(addr[i] | (uint8_t)~mask[i]);
    }
}

/* The prefix length of a contiguous mask, or -1 if ones follow a zero. */
static int
mask_prefix(const uint8_t *mask, size_t n)
{
    int prefix = 0;
    bool seen_zero = false;

    for (size_t i = 0; i < n; i++) {
        for (int bit = 7; bit >= 0; bit--) {
            if (mask[i] & (1u << bit)) {
                if (seen_zero)
                    return -1;
                prefix++;
            } else {
                seen_zero = true;
            }
        }
    }
    return prefix;
}

/* If lo..hi is exactly one aligned prefix block, its prefix length; else -1.
 * Works from the range rather than a stored prefix so a range built by hand
 * can never print as something it is not. */
static int
range_prefix(const struct iprange *r)
{
    uint8_t mask[16];
    size_t n = addr_len(r->family);

    for (size_t i = 0; i < n; i++)
        mask[i] = (uint8_t) ~(r->lo[i] ^ r->hi[i]);
    int prefix = mask_prefix(mask, n);
    if (prefix < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if ((r->lo[i] & (uint8_t)~mask[i]) != 0)
            return -1;
    }
    return prefix;
}

static int
parse_prefix_len(const char *s, int family)
{
    unsigned v = 0;
    size_t digits = 0;
    unsigned max = family == AF_INET ? 32 : 128;

    for (; *s >= '0' && *s <= '9'; s++) {
        if (++digits > 3)
            return -1;
        v = v * 10 + (unsigned)(*s - '0');
    }
    if (digits == 0 || *s != '\0' || v > max)
        return -1;
    return (int)v;
}

static int
parse_cidr(char *buf, char *slash, struct iprange *out, char *err, size_t errlen)
{
    uint8_t addr[16];
    int prefix;

    *slash = '\0';
    if (!addr_parse(buf, &out->family, addr)) {
        err_set(err, errlen, "bad address");
        return -1;
    }
    prefix = parse_prefix_len(slash + 1, out->family);
    if (prefix < 0) {
        err_set(err, errlen, "bad prefix length");
        return -1;
    }
    /* Host bits are cleared rather than refused: Exchange accepts
     * 192.168.1.1/24 as 192.168.1.0/24. */
    range_set_prefix(out, addr, (unsigned)prefix);
    out->form = IPRANGE_CIDR;
    return 0;
}

static int
parse_netmask(char *buf, char *paren, struct iprange *out, char *err, size_t errlen)
{
    uint8_t addr[16], mask[16];
    int mask_family, prefix;
    size_t n = strlen(paren);

    if (n < 2 || paren[n - 1] != ')') {
        err_set(err, errlen, "bad netmask");
        return -1;
    }
    paren[n - 1] = '\0';
    *paren = '\0';
    if (!addr_parse(buf, &out->family, addr)) {
        err_set(err, errlen, "bad address");
        return -1;
    }
    if (!addr_parse(paren + 1, &mask_family, mask)) {
        err_set(err, errlen, "bad netmask");
        return -1;
    }
    if (mask_family != out->family) {
        err_set(err, errlen, "netmask and address families differ");
        return -1;
    }
    prefix = mask_prefix(mask, addr_len(out->family));
    if (prefix < 0) {
        err_set(err, errlen, "netmask is not contiguous");
        return -1;
    }
    range_set_prefix(out, addr, (unsigned)prefix);
    out->form = IPRANGE_NETMASK;
    return 0;
}

static int
parse_lohi(char *buf, char *dash, struct iprange *out, char *err, size_t errlen)
{
    char first[IPRANGE_TEXT_MAX], last[IPRANGE_TEXT_MAX];
    int last_family;

    /* Blanks around the dash are tolerated: "a - b" is a natural way to type
     * it and cannot mean anything else. */
    if (!text_trim_copy(buf, (size_t)(dash - buf), first, sizeof(first)) ||
        !text_trim_copy(dash + 1, strlen(dash + 1), last, sizeof(last))) {
        err_set(err, errlen, "bad address");
        return -1;
    }
    if (!addr_parse(first, &out->family, out->lo) || !addr_parse(last, &last_family, out->hi)) {
        err_set(err, errlen, "bad address");
        return -1;
    }
    if (last_family != out->family) {
        err_set(err, errlen, "both ends must be the same family");
        return -1;
    }
    if (memcmp(out->lo, out->hi, addr_len(out->family)) > 0) {
        err_set(err, errlen, "first address is after the last");
        return -1;
    }
    out->form = IPRANGE_LOHI;
    return 0;
}

static int
parse_single(const char *buf, struct iprange *out, char *err, size_t errlen)
{
    uint8_t addr[16];
    unsigned prefix = 0;

    if (!addr_parse(buf, &out->family, addr)) {
        err_set(err, errlen, "bad address");
        return -1;
    }
    if (out->family == AF_INET) {
        if (addr[0] < 128)
            prefix = 8;
        else if (addr[0] < 192)
            prefix = 16;
        else if (addr[0] < 224)
            prefix = 24;
    }
    if (prefix != 0) {
        range_set_prefix(out, addr, prefix);
        /* The classful mask applies only when it loses nothing; otherwise
         * the admin meant the host. */
        if (memcmp(out->lo, addr, 4) == 0) {
            out->form = IPRANGE_CLASSFUL;
            return 0;
        }
    }
    memcpy(out->lo, addr, 16);
    memcpy(out->hi, addr, 16);
    out->form = IPRANGE_SINGLE;
    return 0;
}

int
iprange_parse(const char *text, struct iprange *out, char *err, size_t errlen)
{
    char buf[IPRANGE_TEXT_MAX];
    char *p;
    struct iprange r;

    memset(&r, 0, sizeof(r));
    if (text == NULL || !text_trim_copy(text, strlen(text), buf, sizeof(buf))) {
        err_set(err, errlen, "bad address");
        return -1;
    }
    if (buf[0] == '\0') {
        err_set(err, errlen, "empty range");
        return -1;
    }

    int rc;
    if ((p = strchr(buf, '(')) != NULL)
        rc = parse_netmask(buf, p, &r, err, errlen);
    else if ((p = strchr(buf, '/')) != NULL)
        rc = parse_cidr(buf, p, &r, err, errlen);
    else if ((p = strchr(buf, '-')) != NULL)
        rc = parse_lohi(buf, p, &r, err, errlen);
    else
        rc = parse_single(buf, &r, err, errlen);
    /* out is left untouched on error so a caller's previous value survives. */
    if (rc == 0)
        *out = r;
    return rc;
}

static void
addr_format(int family, const uint8_t *addr, char *buf, size_t len)
{
    char tmp[INET6_ADDRSTRLEN];

    if (inet_ntop(family, addr, tmp, sizeof(tmp)) == NULL)
        strlcpy_p(tmp, "?", sizeof(tmp));
    strlcpy_p(buf, tmp, len);
}

void
iprange_format(const struct iprange *r, char *buf, size_t len)
{
    char lo[INET6_ADDRSTRLEN], hi[INET6_ADDRSTRLEN];
    int prefix;

    if (buf == NULL || len == 0)
        return;
    if (r->family != AF_INET && r->family != AF_INET6) {
        strlcpy_p(buf, "?", len);
        return;
    }
    addr_format(r->family, r->lo, lo, sizeof(lo));
    addr_format(r->family, r->hi, hi, sizeof(hi));
    switch (r->form) {
    case IPRANGE_SINGLE:
        if (memcmp(r->lo, r->hi, addr_len(r->family)) == 0) {
            strlcpy_p(buf, lo, len);
            return;
        }
        break;
    case IPRANGE_CLASSFUL:
    case IPRANGE_CIDR:
    case IPRANGE_NETMASK:
        prefix = range_prefix(r);
        if (prefix >= 0) {
            snprintf(buf, len, "%s/%d", lo, prefix);
            return;
        }
        break;
    case IPRANGE_LOHI:
        break;
    }
    snprintf(buf, len, "%s-%s", lo, hi);
}

/* The address a socket address carries, with IPv4-mapped IPv6 unwrapped when
 * unmap is set. False for families we do not serve. */
static bool
sa_addr(const struct sockaddr *sa, bool unmap, int *family, uint8_t addr[16], uint16_t *port)
{
    memset(addr, 0, 16);
    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
        *family = AF_INET;
        memcpy(addr, &sin->sin_addr, 4);
        if (port != NULL)
            *port = ntohs(sin->sin_port);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
        if (unmap && IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            *family = AF_INET;
            memcpy(addr, &sin6->sin6_addr.s6_addr[12], 4);
        } else {
            *family = AF_INET6;
            memcpy(addr, &sin6->sin6_addr, 16);
        }
        if (port != NULL)
            *port = ntohs(sin6->sin6_port);
        return true;
    }
    return false;
}

static bool
range_has(const struct iprange *r, int family, const uint8_t *addr)
{
    size_t n = addr_len(family);

    return r->family == family && memcmp(addr, r->lo, n) >= 0 && memcmp(addr, r->hi, n) <= 0;
}

bool
iprange_contains(const struct iprange *r, const struct sockaddr *sa)
{
    uint8_t addr[16];
    int family;

    if (r == NULL || !sa_addr(sa, true, &family, addr, NULL))
        return false;
    if (range_has(r, family, addr))
        return true;
    /* An admin who wrote the mapped form (::ffff:10.0.0.0/104) still means
     * those peers, so the raw IPv6 address gets a chance too. */
    if (r->family == AF_INET6 && family == AF_INET && sa->sa_family == AF_INET6 &&
        sa_addr(sa, false, &family, addr, NULL))
        return range_has(r, family, addr);
    return false;
}

enum iprange_relation
iprange_relate(const struct iprange *a, const struct iprange *b)
{
    size_t n;
    int lo, hi;

    if (a->family != b->family)
        return IPRANGE_DISJOINT;
    n = addr_len(a->family);
    if (memcmp(a->hi, b->lo, n) < 0 || memcmp(b->hi, a->lo, n) < 0)
        return IPRANGE_DISJOINT;
    lo = memcmp(a->lo, b->lo, n);
    hi = memcmp(a->hi, b->hi, n);
    if (lo == 0 && hi == 0)
        return IPRANGE_EQUAL;
    if (lo >= 0 && hi <= 0)
        return IPRANGE_INSIDE;
    if (lo <= 0 && hi >= 0)
        return IPRANGE_CONTAINS;
    return IPRANGE_OVERLAP;
}

/* hi - lo as a big-endian number the width of the family; a range's size is
 * this plus one, which cannot change an ordering. */
static void
range_span(const struct iprange *r, uint8_t span[16])
{
    size_t n = addr_len(r->family);
    unsigned borrow = 0;

    memset(span, 0, 16);
    for (size_t i = n; i-- > 0;) {
        unsigned d = (unsigned)r->hi[i] - (unsigned)r->lo[i] - borrow;
        span[16 - n + i] = (uint8_t)d;
        borrow = (d >> 8) & 1u;
    }
}

int
iprange_cmp_size(const struct iprange *a, const struct iprange *b)
{
    uint8_t sa[16], sb[16];
    int c;

    if (a->family != b->family)
        return a->family == AF_INET ? -1 : 1;
    range_span(a, sa);
    range_span(b, sb);
    c = memcmp(sa, sb, 16);
    return c < 0 ? -1 : c > 0 ? 1 : 0;
}

static int
parse_port(const char *s, uint16_t *port)
{
    unsigned v = 0;
    size_t digits = 0;

    for (; *s >= '0' && *s <= '9'; s++) {
        /* Stops runaway digits before v can overflow. */
        if (++digits > 5)
            return -1;
        v = v * 10 + (unsigned)(*s - '0');
    }
    if (digits == 0 || *s != '\0' || v == 0 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

int
binding_parse(const char *text, struct binding *out, char *err, size_t errlen)
{
    char buf[IPRANGE_TEXT_MAX];
    char *host, *port;
    struct binding b;

    memset(&b, 0, sizeof(b));
    if (text == NULL || !text_trim_copy(text, strlen(text), buf, sizeof(buf))) {
        err_set(err, errlen, "bad address");
        return -1;
    }
    if (buf[0] == '\0') {
        err_set(err, errlen, "empty binding");
        return -1;
    }
    if (buf[0] == '[') {
        char *close = strchr(buf, ']');
        if (close == NULL) {
            err_set(err, errlen, "missing ]");
            return -1;
        }
        *close = '\0';
        host = buf + 1;
        if (close[1] != ':') {
            err_set(err, errlen, close[1] == '\0' ? "missing port" : "bad address");
            return -1;
        }
        port = close + 2;
        if (inet_pton(AF_INET6, host, b.addr) != 1) {
            err_set(err, errlen, "bad address");
            return -1;
        }
        /* the kernel hands such connections over as IPv4, so a mapped
         * binding would never match its own clients */
        if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)b.addr)) {
            err_set(err, errlen, "an IPv4-mapped address: give the IPv4 address itself");
            return -1;
        }
        b.family = AF_INET6;
    } else {
        char *colon = strrchr(buf, ':');
        if (colon == NULL) {
            err_set(err, errlen, "missing port");
            return -1;
        }
        *colon = '\0';
        host = buf;
        port = colon + 1;
        if (strchr(host, ':') != NULL) {
            err_set(err, errlen, "IPv6 address must be in brackets");
            return -1;
        }
        if (inet_pton(AF_INET, host, b.addr) != 1) {
            err_set(err, errlen, "bad address");
            return -1;
        }
        b.family = AF_INET;
    }
    if (*port == '\0') {
        err_set(err, errlen, "missing port");
        return -1;
    }
    if (parse_port(port, &b.port) < 0) {
        err_set(err, errlen, "port must be 1-65535");
        return -1;
    }
    b.any = memcmp(b.addr, addr_zero, addr_len(b.family)) == 0;
    *out = b;
    return 0;
}

void
binding_format(const struct binding *b, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN];

    if (buf == NULL || len == 0)
        return;
    if (b->family != AF_INET && b->family != AF_INET6) {
        strlcpy_p(buf, "?", len);
        return;
    }
    addr_format(b->family, b->addr, a, sizeof(a));
    if (b->family == AF_INET6)
        snprintf(buf, len, "[%s]:%u", a, (unsigned)b->port);
    else
        snprintf(buf, len, "%s:%u", a, (unsigned)b->port);
}

bool
binding_equal(const struct binding *a, const struct binding *b)
{
    return a->family == b->family && a->port == b->port &&
           memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

socklen_t
binding_sockaddr(const struct binding *b, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (b->family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(b->port);
        memcpy(&sin6->sin6_addr, b->addr, 16);
        return (socklen_t)sizeof(*sin6);
    }
    struct sockaddr_in *sin = (struct sockaddr_in *)(void *)ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(b->port);
    memcpy(&sin->sin_addr, b->addr, 4);
    return (socklen_t)sizeof(*sin);
}

bool
binding_matches(const struct binding *b, const struct sockaddr *sa)
{
    uint8_t addr[16];
    int family;
    uint16_t port;

    if (b == NULL || !sa_addr(sa, true, &family, addr, &port))
        return false;
    if (port != b->port || family != b->family)
        return false;
    return b->any || memcmp(addr, b->addr, addr_len(family)) == 0;
}

static void
sa_format(const struct sockaddr *sa, bool with_port, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN];
    uint8_t addr[16];
    int family;
    uint16_t port = 0;

    if (buf == NULL || len == 0)
        return;
    if (!sa_addr(sa, true, &family, addr, &port)) {
        strlcpy_p(buf, "unknown", len);
        return;
    }
    addr_format(family, addr, a, sizeof(a));
    if (!with_port)
        strlcpy_p(buf, a, len);
    else if (family == AF_INET6)
        snprintf(buf, len, "[%s]:%u", a, (unsigned)port);
    else
        snprintf(buf, len, "%s:%u", a, (unsigned)port);
}

void
sockaddr_format(const struct sockaddr *sa, char *buf, size_t len)
{
    sa_format(sa, true, buf, len);
}

void
sockaddr_format_ip(const struct sockaddr *sa, char *buf, size_t len)
{
    sa_format(sa, false, buf, len);
}

bool
sockaddr_same_ip(const struct sockaddr *a, const struct sockaddr *b)
{
    uint8_t aa[16], ba[16];
    int af, bf;
    uint16_t ap, bp;

    if (!sa_addr(a, true, &af, aa, &ap) || !sa_addr(b, true, &bf, ba, &bp))
        return false;
    return af == bf && memcmp(aa, ba, addr_len(af)) == 0;
}
