/*
 * mtasts.c — MTA-STS records, policies and MX patterns (see mtasts.h).
 *
 * Everything here reads text that came from the network (a TXT record, an
 * HTTPS body): lengths are bounded, every byte is checked, and a policy
 * keeps only what it understood.
 */
#include "routing/mtasts.h"
#include "lib/util.h"
#include "net/dns_name.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* RFC 8461 3.1: a field name is up to 32 letters, digits, "_", "-", "." */
static bool
key_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.';
}

bool
mtasts_txt_parse(const char *text, size_t len, char id[MTASTS_ID_MAX + 1])
{
    size_t pos = 0;
    bool first = true, have_id = false;

    id[0] = '\0';
    while (pos < len) {
        size_t kstart, klen, vstart, vlen;

        while (pos < len && (text[pos] == ' ' || text[pos] == '\t'))
            pos++;
        if (pos == len)
            break;
        kstart = pos;
        while (pos < len && key_char(text[pos]))
            pos++;
        klen = pos - kstart;
        if (klen == 0 || klen > 32 || pos == len || text[pos] != '=')
            return false;
        vstart = ++pos;
        while (pos < len && text[pos] != ';')
            pos++;
        vlen = pos - vstart;
        while (vlen > 0 && (text[vstart + vlen - 1] == ' ' || text[vstart + vlen - 1] == '\t'))
            vlen--;
        if (pos < len)
            pos++; /* the ";" */
        if (first) {
            /* the version comes first, exactly so (case matters) */
            if (klen != 1 || text[kstart] != 'v' || vlen != 5 ||
                memcmp(text + vstart, "STSv1", 5) != 0)
                return false;
            first = false;
            continue;
        }
        if (klen == 2 && memcmp(text + kstart, "id", 2) == 0) {
            if (vlen == 0 || vlen > MTASTS_ID_MAX || have_id)
                return false;
            for (size_t i = 0; i < vlen; i++)
                if (!isalnum((unsigned char)text[vstart + i]))
                    return false;
            memcpy(id, text + vstart, vlen);
            id[vlen] = '\0';
            have_id = true;
        }
    }
    return !first && have_id;
}

void
mtasts_policy_free(struct mtasts_policy *p)
{
    for (size_t i = 0; i < p->nmx; i++)
        free(p->mx[i]);
    free(p->mx);
    memset(p, 0, sizeof(*p));
}

void
mtasts_policy_copy(struct mtasts_policy *dst, const struct mtasts_policy *src)
{
    *dst = *src;
    dst->mx = src->nmx ? xcalloc(src->nmx, sizeof(*dst->mx)) : NULL;
    for (size_t i = 0; i < src->nmx; i++)
        dst->mx[i] = xstrdup(src->mx[i]);
}

const char *
mtasts_mode_name(enum mtasts_mode m)
{
    return m == MTASTS_ENFORCE ? "enforce" : m == MTASTS_TESTING ? "testing" : "none";
}

/* An mx value: a host name, or "*." and one; stored lower case. */
static bool
mx_pattern_ok(const char *v)
{
    const char *name = strncmp(v, "*.", 2) == 0 ? v + 2 : v;

    return name[0] != '\0' && strchr(name, '*') == NULL && dns_name_valid(name, false);
}

static int policy_fail(struct mtasts_policy *out, char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
policy_fail(struct mtasts_policy *out, char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    mtasts_policy_free(out);
    if (why != NULL && whylen > 0) {
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* One "key: value" line; -1 with why on a bad value of a known key. */
static int
policy_field(struct mtasts_policy *out, const char *key, char *value, unsigned *seen, char *why,
             size_t whylen)
{
    if (strcmp(key, "version") == 0) {
        if (strcmp(value, "STSv1") != 0)
            return policy_fail(out, why, whylen, "unknown policy version \"%.40s\"", value);
        *seen |= 1;
    } else if (strcmp(key, "mode") == 0) {
        if (strcmp(value, "enforce") == 0)
            out->mode = MTASTS_ENFORCE;
        else if (strcmp(value, "testing") == 0)
            out->mode = MTASTS_TESTING;
        else if (strcmp(value, "none") == 0)
            out->mode = MTASTS_NONE;
        else
            return policy_fail(out, why, whylen, "unknown mode \"%.40s\"", value);
        *seen |= 2;
    } else if (strcmp(key, "max_age") == 0) {
        unsigned long long v = 0;
        size_t n = strlen(value);

        /* RFC 8461 3.2: 1 to 10 digits; anything larger than the limit is
         * read as the limit */
        if (n == 0 || n > 10 || strspn(value, "0123456789") != n)
            return policy_fail(out, why, whylen, "bad max_age \"%.40s\"", value);
        v = strtoull(value, NULL, 10);
        out->max_age = v > MTASTS_MAX_AGE_LIMIT ? MTASTS_MAX_AGE_LIMIT : (uint32_t)v;
        *seen |= 4;
    } else if (strcmp(key, "mx") == 0) {
        str_lower(value);
        if (!mx_pattern_ok(value))
            return policy_fail(out, why, whylen, "bad mx pattern \"%.80s\"", value);
        if (out->nmx >= 256)
            return policy_fail(out, why, whylen, "%s", "more than 256 mx patterns");
        out->mx = xrealloc(out->mx, (out->nmx + 1) * sizeof(*out->mx));
        out->mx[out->nmx++] = xstrdup(value);
    }
    /* RFC 8461 3.2: other keys are extensions, ignored */
    return 0;
}

int
mtasts_policy_parse(const char *text, size_t len, struct mtasts_policy *out, char *why,
                    size_t whylen)
{
    size_t pos = 0;
    unsigned seen = 0;

    memset(out, 0, sizeof(*out));
    if (len > MTASTS_POLICY_MAX)
        return policy_fail(out, why, whylen, "%s", "the policy is larger than 64 KiB");
    while (pos < len) {
        const char *line = text + pos, *eol = memchr(line, '\n', len - pos), *colon;
        size_t llen = eol ? (size_t)(eol - line) : len - pos;
        char key[33], value[300];
        size_t klen, vstart;

        pos += llen + (eol != NULL);
        if (llen > 0 && line[llen - 1] == '\r')
            llen--;
        if (llen == 0)
            continue;
        for (size_t i = 0; i < llen; i++)
            if (line[i] == '\0' || (line[i] != '\t' && (unsigned char)line[i] < 0x20))
                return policy_fail(out, why, whylen, "%s", "a control character in the policy");
        colon = memchr(line, ':', llen);
        klen = colon ? (size_t)(colon - line) : 0;
        if (klen == 0 || klen >= sizeof(key))
            return policy_fail(out, why, whylen, "%s", "a line that is not \"key: value\"");
        memcpy(key, line, klen);
        key[klen] = '\0';
        for (size_t i = 0; i < klen; i++)
            if (!key_char(key[i]))
                return policy_fail(out, why, whylen, "bad key \"%.32s\"", key);
        vstart = klen + 1;
        while (vstart < llen && (line[vstart] == ' ' || line[vstart] == '\t'))
            vstart++;
        while (llen > vstart && (line[llen - 1] == ' ' || line[llen - 1] == '\t'))
            llen--;
        if (llen - vstart >= sizeof(value))
            return policy_fail(out, why, whylen, "the value of \"%.32s\" is too long", key);
        memcpy(value, line + vstart, llen - vstart);
        value[llen - vstart] = '\0';
        if (policy_field(out, key, value, &seen, why, whylen) < 0)
            return -1;
    }
    if (!(seen & 1))
        return policy_fail(out, why, whylen, "%s", "no \"version: STSv1\" line");
    if (!(seen & 2))
        return policy_fail(out, why, whylen, "%s", "no mode line");
    if (!(seen & 4))
        return policy_fail(out, why, whylen, "%s", "no max_age line");
    if (out->nmx == 0 && out->mode != MTASTS_NONE)
        return policy_fail(out, why, whylen, "%s", "no mx line (a policy must name its MX hosts)");
    return 0;
}

bool
mtasts_mx_matches(const struct mtasts_policy *p, const char *host)
{
    char name[DNS_NAME_MAX + 2];
    const char *dot;

    if (!dns_name_without_root(host, name))
        return false;
    str_lower(name);
    dot = strchr(name, '.');
    for (size_t i = 0; i < p->nmx; i++) {
        const char *pat = p->mx[i];

        if (strncmp(pat, "*.", 2) == 0) {
            /* one label, not empty, then exactly the rest */
            if (dot != NULL && dot != name && strcmp(dot + 1, pat + 2) == 0)
                return true;
        } else if (strcmp(pat, name) == 0) {
            return true;
        }
    }
    return false;
}

bool
mtasts_expired(const struct mtasts_policy *p, time_t now)
{
    return now >= p->fetched + (time_t)p->max_age;
}

char *
mtasts_policy_format(const struct mtasts_policy *p)
{
    size_t cap = 200, used;
    char *out;

    for (size_t i = 0; i < p->nmx; i++)
        cap += strlen(p->mx[i]) + 8;
    out = xmalloc(cap);
    used = (size_t)snprintf(out, cap, "id: %s\nfetched: %lld\nversion: STSv1\nmode: %s\n", p->id,
                            (long long)p->fetched, mtasts_mode_name(p->mode));
    for (size_t i = 0; i < p->nmx; i++)
        used += (size_t)snprintf(out + used, cap - used, "mx: %s\n", p->mx[i]);
    snprintf(out + used, cap - used, "max_age: %u\n", p->max_age);
    return out;
}

/* RFC 8461 3.1: 1 to 32 letters and digits. */
static bool
id_ok(const char *id)
{
    size_t n = strlen(id);

    if (n == 0 || n > MTASTS_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]))
            return false;
    return true;
}

int
mtasts_policy_load(const char *text, size_t len, struct mtasts_policy *out, char *why,
                   size_t whylen)
{
    char id[MTASTS_ID_MAX + 1] = "";
    long long fetched = -1;
    size_t pos = 0;

    /* the two lines of our own first, then the policy as fetched */
    for (int i = 0; i < 2; i++) {
        const char *eol = memchr(text + pos, '\n', len - pos);
        size_t llen = eol ? (size_t)(eol - (text + pos)) : 0;
        char line[64];

        if (eol == NULL || llen >= sizeof(line))
            break;
        memcpy(line, text + pos, llen);
        line[llen] = '\0';
        pos += llen + 1;
        if (strncmp(line, "id: ", 4) == 0 && id_ok(line + 4))
            strlcpy_p(id, line + 4, sizeof(id));
        else if (strncmp(line, "fetched: ", 9) == 0)
            fetched = strtoll(line + 9, NULL, 10);
    }
    /* a time past 2^40 s is no time this cache wrote */
    if (id[0] == '\0' || fetched < 0 || fetched > (1LL << 40)) {
        memset(out, 0, sizeof(*out));
        errorf(why, whylen, "not a cached MTA-STS policy");
        return -1;
    }
    if (mtasts_policy_parse(text + pos, len - pos, out, why, whylen) < 0)
        return -1;
    strlcpy_p(out->id, id, sizeof(out->id));
    out->fetched = (time_t)fetched;
    return 0;
}
