/*
 * config_value.c — the value syntaxes of Exchange parameters, text to
 * number and back: booleans, whole numbers, byte sizes ("10 MB (10,485,760
 * bytes)"), time spans ("1.00:00:00"), domain names and SMTP addresses
 * (see config_param.h).
 *
 * Pure functions: no allocation that outlives a call, no I/O.
 * Must never: accept a value it would print differently from what it
 * stores (a size whose short form and byte count disagree is refused).
 */
#include "config/config_param.h"
#include "lib/util.h"
#include "net/dns_name.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static bool
is_blank(int c)
{
    return c == ' ' || c == '\t';
}

bool
config_parse_bool(const char *text, bool *out)
{
    char *copy = xstrdup(text), *t = str_trim(copy);
    size_t n = strlen(t);
    bool ok = true;

    /* '$true' when the shell kept the quotes. */
    if (n >= 2 && (t[0] == '\'' || t[0] == '"') && t[n - 1] == t[0]) {
        t[n - 1] = '\0';
        t++;
    }
    if (str_ieq(t, "$true") || str_ieq(t, "true") || strcmp(t, "1") == 0)
        *out = true;
    else if (str_ieq(t, "$false") || str_ieq(t, "false") || strcmp(t, "0") == 0)
        *out = false;
    else
        ok = false;
    free(copy);
    return ok;
}

/* Reads decimal digits into *v; false on overflow or when there are none. */
static bool
read_u64(const char **sp, uint64_t *v, unsigned *ndigits)
{
    const char *s = *sp;
    uint64_t x = 0;
    unsigned n = 0;

    while (isdigit((unsigned char)*s)) {
        unsigned d = (unsigned)(*s - '0');
        if (x > (UINT64_MAX - d) / 10)
            return false;
        x = x * 10 + d;
        s++;
        n++;
    }
    *sp = s;
    *v = x;
    if (ndigits != NULL)
        *ndigits = n;
    return n > 0;
}

bool
config_u64_parse(const char *text, uint64_t *out)
{
    const char *s = text;
    uint64_t v;

    while (is_blank((unsigned char)*s))
        s++;
    if (!read_u64(&s, &v, NULL))
        return false;
    while (is_blank((unsigned char)*s))
        s++;
    if (*s != '\0')
        return false;
    *out = v;
    return true;
}

static const struct {
    const char *name;
    uint64_t mult;
} byte_units[] = {
    {"B", 1}, {"KB", 1ull << 10}, {"MB", 1ull << 20}, {"GB", 1ull << 30}, {"TB", 1ull << 40},
};

/* "10 MB", "1.999 GB": Exchange's short form, four significant digits. */
static void
bytes_short(uint64_t v, char *buf, size_t len)
{
    size_t u = 0;

    while (u + 1 < NELEM(byte_units) && v >= byte_units[u + 1].mult)
        u++;
    if (v % byte_units[u].mult == 0) {
        snprintf(buf, len, "%llu %s", (unsigned long long)(v / byte_units[u].mult),
                 byte_units[u].name);
        return;
    }
    double q = (double)v / (double)byte_units[u].mult;
    int decimals = q >= 1000 ? 0 : q >= 100 ? 1 : q >= 10 ? 2 : 3;
    char num[64];
    snprintf(num, sizeof(num), "%.*f", decimals, q);
    if (strchr(num, '.') != NULL) {
        size_t n = strlen(num);
        while (num[n - 1] == '0')
            num[--n] = '\0';
        if (num[n - 1] == '.')
            num[n - 1] = '\0';
    }
    snprintf(buf, len, "%s %s", num, byte_units[u].name);
}

/* 10485760 -> "10,485,760". */
static void
group_thousands(uint64_t v, char *buf, size_t len)
{
    char digits[32], out[48];
    size_t n, o = 0;

    snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v);
    n = strlen(digits);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    strlcpy_p(buf, out, len);
}

void
config_bytes_format(uint64_t bytes, char *buf, size_t len)
{
    char s[64], g[48];

    if (bytes == CONFIG_UNLIMITED) {
        strlcpy_p(buf, "Unlimited", len);
        return;
    }
    bytes_short(bytes, s, sizeof(s));
    group_thousands(bytes, g, sizeof(g));
    snprintf(buf, len, "%s (%s bytes)", s, g);
}

/* The "(10,485,760 bytes)" part, s after the '('. */
static bool
read_exact_bytes(const char **sp, uint64_t *out)
{
    const char *s = *sp;
    uint64_t v = 0;
    unsigned n = 0, group = 0;

    for (;; s++) {
        if (isdigit((unsigned char)*s)) {
            unsigned d = (unsigned)(*s - '0');
            if (v > (UINT64_MAX - d) / 10)
                return false;
            v = v * 10 + d;
            n++;
            group++;
        } else if (*s == ',' && group > 0 && isdigit((unsigned char)s[1])) {
            group = 0;
        } else {
            break;
        }
    }
    while (is_blank((unsigned char)*s))
        s++;
    if (n == 0 || strncasecmp(s, "bytes", 5) != 0)
        return false;
    s += 5;
    while (is_blank((unsigned char)*s))
        s++;
    if (*s != ')')
        return false;
    *sp = s + 1;
    *out = v;
    return true;
}

int
config_bytes_parse(const char *text, bool unlimited_ok, uint64_t *out, char *err, size_t errlen)
{
    const char *s = text;
    uint64_t ip, frac = 0, mult = 1, exact = 0, value, pow10 = 1;
    unsigned fdigits = 0;
    bool has_exact = false;

    while (is_blank((unsigned char)*s))
        s++;
    if (unlimited_ok && str_iprefix(s, "Unlimited")) {
        const char *e = s + 9;
        while (is_blank((unsigned char)*e))
            e++;
        if (*e == '\0') {
            *out = CONFIG_UNLIMITED;
            return 0;
        }
    }
    if (!read_u64(&s, &ip, NULL))
        goto bad;
    if (*s == '.') {
        s++;
        /* Nineteen digits of fraction would overflow the scale. */
        while (isdigit((unsigned char)*s)) {
            if (fdigits < 18) {
                frac = frac * 10 + (uint64_t)(*s - '0');
                pow10 *= 10;
                fdigits++;
            }
            s++;
        }
        if (fdigits == 0)
            goto bad;
    }
    while (is_blank((unsigned char)*s))
        s++;
    if (isalpha((unsigned char)*s)) {
        size_t n = 0, u;
        while (isalpha((unsigned char)s[n]))
            n++;
        for (u = 0; u < NELEM(byte_units); u++)
            if (strlen(byte_units[u].name) == n && strncasecmp(s, byte_units[u].name, n) == 0)
                break;
        if (u == NELEM(byte_units))
            goto bad;
        mult = byte_units[u].mult;
        s += n;
    }
    while (is_blank((unsigned char)*s))
        s++;
    if (*s == '(') {
        s++;
        if (!read_exact_bytes(&s, &exact))
            goto bad;
        has_exact = true;
        while (is_blank((unsigned char)*s))
            s++;
    }
    if (*s != '\0')
        goto bad;
    if (ip > UINT64_MAX / mult) {
        errorf(err, errlen, "'%s' is too large", text);
        return -1;
    }
    /* frac/pow10 < 1 and mult <= 2^40, so frac * mult fits when frac < 2^23;
     * longer fractions lose only digits far below one byte. */
    while (frac > (1ull << 23)) {
        frac /= 10;
        pow10 /= 10;
    }
    /* frac has fdigits digits and pow10 is 10^fdigits, so frac < pow10 holds
     * through the loop, which divides only while pow10 > frac > 2^23. */
    // NOLINTNEXTLINE(clang-analyzer-core.DivideZero): pow10 >= 1, see above
    value = ip * mult + frac * mult / pow10;
    if (has_exact) {
        /* A hand edit may change "10 MB" and forget the exact count: the
         * two must agree to the precision the short form was written in. */
        uint64_t tolerance = mult;
        for (unsigned i = 0; i < fdigits && tolerance > 1; i++)
            tolerance /= 10;
        uint64_t diff = value > exact ? value - exact : exact - value;
        if (diff > tolerance) {
            char g[48];
            group_thousands(exact, g, sizeof(g));
            errorf(err, errlen, "the size before the parentheses does not match %s bytes", g);
            return -1;
        }
        value = exact;
    }
    if (value == CONFIG_UNLIMITED) {
        errorf(err, errlen, "'%s' is too large", text);
        return -1;
    }
    *out = value;
    return 0;
bad:
    errorf(err, errlen, "'%s' is not a size (examples: 10MB, 64 KB, 65536%s)", text,
           unlimited_ok ? ", Unlimited" : "");
    return -1;
}

int
config_timespan_parse(const char *text, uint64_t *seconds, char *err, size_t errlen)
{
    const char *s = text;
    uint64_t days = 0, a, hh, mm, ss = 0;

    while (is_blank((unsigned char)*s))
        s++;
    if (!read_u64(&s, &a, NULL))
        goto bad;
    if (*s == '.') {
        s++;
        days = a;
        if (!read_u64(&s, &hh, NULL))
            goto bad;
    } else {
        hh = a;
    }
    if (*s++ != ':' || !read_u64(&s, &mm, NULL))
        goto bad;
    if (*s == ':') {
        s++;
        if (!read_u64(&s, &ss, NULL))
            goto bad;
    }
    while (is_blank((unsigned char)*s))
        s++;
    if (*s != '\0' || hh > 23 || mm > 59 || ss > 59 || days > 10675199)
        goto bad;
    *seconds = days * 86400 + hh * 3600 + mm * 60 + ss;
    return 0;
bad:
    errorf(err, errlen, "'%s' is not a time span (hh:mm:ss or d.hh:mm:ss)", text);
    return -1;
}

void
config_timespan_format(uint64_t seconds, char *buf, size_t len)
{
    uint64_t d = seconds / 86400;
    unsigned h = (unsigned)(seconds % 86400 / 3600), m = (unsigned)(seconds % 3600 / 60),
             s = (unsigned)(seconds % 60);

    if (d > 0)
        snprintf(buf, len, "%llu.%02u:%02u:%02u", (unsigned long long)d, h, m, s);
    else
        snprintf(buf, len, "%02u:%02u:%02u", h, m, s);
}

bool
config_address_valid(const char *s)
{
    const char *at = strrchr(s, '@');
    size_t local;

    if (at == NULL || strlen(s) > 254)
        return false;
    local = (size_t)(at - s);
    if (local == 0 || local > 64 || s[0] == '.' || at[-1] == '.')
        return false;
    /* Dot-atom local part (RFC 5321 4.1.2); quoted local parts are refused. */
    for (const char *p = s; p < at; p++) {
        if (*p == '.' && p[1] == '.')
            return false;
        if (!isalnum((unsigned char)*p) && strchr(".!#$%&'*+-/=?^_`{|}~", *p) == NULL)
            return false;
    }
    return dns_name_valid(at + 1, false);
}
