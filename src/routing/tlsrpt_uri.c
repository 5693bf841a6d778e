/*
 * tlsrpt_uri.c — the https: reporting URI check (see tlsrpt_uri.h).
 *
 * The grammar is RFC 3986's, narrowed to what a report needs: the
 * authority is a DNS name and an optional port, the path and query keep
 * to the characters RFC 3986 3.3 and 3.4 allow (with well-formed percent
 * escapes), so that what goes into "POST <path> HTTP/1.1" is exactly what
 * the domain published.
 */
#include "routing/tlsrpt_uri.h"
#include "lib/util.h"

#include <stdio.h>
#include <string.h>

#define HTTPS_DEFAULT_PORT 443

static bool
is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool
is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 3986 3.3 pchar (unreserved, sub-delims, ":" and "@"), "/" and "?":
 * everything a path and a query may hold besides percent escapes. */
static bool
is_path_char(char c)
{
    return is_alnum(c) || strchr("-._~!$&'()*+,;=:@/?", c) != NULL;
}

/* A name whose last label is all digits is an IPv4 address written as a
 * name (RFC 3696 2: no top-level domain is all-numeric). */
static bool
looks_numeric(const char *host)
{
    const char *last = strrchr(host, '.');

    last = last ? last + 1 : host;
    return last[strspn(last, "0123456789")] == '\0';
}

static bool
parse_port(const char *p, const char *end, uint16_t *port)
{
    unsigned long v = 0;

    if (end - p < 1 || end - p > 5)
        return false;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v == 0 || v > 65535)
        return false;
    *port = (uint16_t)v;
    return true;
}

static bool
path_ok(const char *p)
{
    for (; *p != '\0'; p++) {
        if (*p == '%') {
            if (!is_hex(p[1]) || !is_hex(p[2]))
                return false;
            p += 2;
        } else if (!is_path_char(*p)) {
            return false;
        }
    }
    return true;
}

bool
tlsrpt_https_uri_parse(const char *uri, struct tlsrpt_https_uri *out, char *why, size_t whylen)
{
    const char *auth, *end, *colon, *rest;
    size_t len, hostlen;

    memset(out, 0, sizeof(*out));
    errorf(why, whylen, "%s", "");
    if (uri == NULL || (len = strnlen(uri, TLSRPT_URI_MAX)) == 0) {
        errorf(why, whylen, "an empty URI");
        return false;
    }
    if (len >= TLSRPT_URI_MAX) {
        errorf(why, whylen, "longer than %d characters", TLSRPT_URI_MAX - 1);
        return false;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)uri[i] <= ' ' || (unsigned char)uri[i] >= 0x7f) {
            errorf(why, whylen, "a control character, blank or non-ASCII byte in the URI");
            return false;
        }
    if (!str_iprefix(uri, "https://")) {
        errorf(why, whylen, "not an https:// URI");
        return false;
    }
    auth = uri + 8;
    end = auth + strcspn(auth, "/?#");
    if (memchr(auth, '@', (size_t)(end - auth)) != NULL) {
        errorf(why, whylen, "user information (\"...@\") in the URI is not allowed");
        return false;
    }
    if (auth[0] == '[') {
        errorf(why, whylen, "an IP literal is not a host name");
        return false;
    }
    colon = memchr(auth, ':', (size_t)(end - auth));
    hostlen = (size_t)((colon ? colon : end) - auth);
    if (hostlen == 0 || hostlen > DNS_NAME_MAX) {
        errorf(why, whylen, hostlen ? "the host name is too long" : "no host name");
        return false;
    }
    memcpy(out->host, auth, hostlen);
    out->host[hostlen] = '\0';
    str_lower(out->host);
    if (!dns_name_valid(out->host, false)) {
        errorf(why, whylen, "the host is not a valid DNS name");
        return false;
    }
    if (looks_numeric(out->host)) {
        errorf(why, whylen, "the host is an IP address, not a name");
        return false;
    }
    out->port = HTTPS_DEFAULT_PORT;
    if (colon != NULL && !parse_port(colon + 1, end, &out->port)) {
        errorf(why, whylen, "the port is not a number from 1 to 65535");
        return false;
    }
    rest = end;
    if (strchr(rest, '#') != NULL) {
        /* a fragment is never sent: a URI with one is not what a server expects */
        errorf(why, whylen, "a fragment (\"#...\") in the URI is not allowed");
        return false;
    }
    /* RFC 3986 6.2.3: an empty path is "/"; a query alone follows it */
    snprintf(out->path, sizeof(out->path), "%s%s", rest[0] == '/' ? "" : "/", rest);
    if (!path_ok(out->path)) {
        errorf(why, whylen, "the path holds a character RFC 3986 does not allow there");
        return false;
    }
    return true;
}
