/*
 * metrics_request.c — see metrics_request.h.
 */
#include "receive/metrics_request.h"
#include "receive/metrics_http.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 5.6.2 token characters. */
static bool
tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The request line: method SP request-target SP HTTP-version. *get: the
 * method is GET; *http11: the version is 1.1. 0 or an error status. */
static int
request_line(const char *p, size_t n, bool *get, bool *metrics, bool *http11)
{
    const char *sp1 = memchr(p, ' ', n), *sp2, *target, *version;
    size_t tlen, vlen;

    if (sp1 == NULL || sp1 == p)
        return 400;
    for (const char *c = p; c < sp1; c++)
        if (!tchar((unsigned char)*c))
            return 400;
    target = sp1 + 1;
    sp2 = memchr(target, ' ', n - (size_t)(target - p));
    if (sp2 == NULL || sp2 == target)
        return 400;
    tlen = (size_t)(sp2 - target);
    for (size_t i = 0; i < tlen; i++)
        if ((unsigned char)target[i] <= 0x20 || (unsigned char)target[i] >= 0x7f)
            return 400;
    version = sp2 + 1;
    vlen = n - (size_t)(version - p);
    if (vlen != 8 || strncmp(version, "HTTP/", 5) != 0 || version[6] != '.' || version[5] < '0' ||
        version[5] > '9' || version[7] < '0' || version[7] > '9')
        return 400;
    if (version[5] != '1' || (version[7] != '0' && version[7] != '1'))
        return 505;
    if (target[0] != '/') /* origin-form only: no proxy, no OPTIONS * */
        return 400;
    *http11 = version[7] == '1';
    *get = sp1 - p == 3 && memcmp(p, "GET", 3) == 0;
    *metrics = (tlen == 8 || (tlen > 8 && target[8] == '?')) && memcmp(target, "/metrics", 8) == 0;
    return 0;
}

/* One header field line (without its CRLF). 0 or an error status; counts
 * Host fields and notes a body announced. */
static int
header_field(const char *p, size_t n, int *hosts, bool *body)
{
    const char *colon = memchr(p, ':', n), *v;
    size_t name_len, vlen;

    if (colon == NULL || colon == p)
        return 400; /* also a line that starts with a blank: obs-fold */
    name_len = (size_t)(colon - p);
    for (size_t i = 0; i < name_len; i++)
        if (!tchar((unsigned char)p[i]))
            return 400; /* blanks before the colon included (RFC 9112 5.1) */
    v = colon + 1;
    vlen = n - name_len - 1;
    for (size_t i = 0; i < vlen; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 400;
    }
    while (vlen > 0 && (*v == ' ' || *v == '\t'))
        v++, vlen--;
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    if (name_len == 4 && strncasecmp(p, "Host", 4) == 0)
        (*hosts)++;
    if ((name_len == 17 && strncasecmp(p, "Transfer-Encoding", 17) == 0) ||
        (name_len == 14 && strncasecmp(p, "Content-Length", 14) == 0 &&
         !(vlen == 1 && v[0] == '0')))
        *body = true;
    return 0;
}

/* The whole head, its last CRLF CRLF at buf + len - 4. */
static int
judge(const char *buf, size_t len)
{
    const char *line = buf, *end = buf + len - 2; /* the empty line */
    bool get = false, metrics = false, http11 = false, body = false;
    int hosts = 0, status;
    const char *eol = memchr(line, '\r', (size_t)(end - line + 2));

    status = request_line(line, (size_t)(eol - line), &get, &metrics, &http11);
    if (status != 0)
        return status;
    for (line = eol + 2; line < end; line = eol + 2) {
        eol = memchr(line, '\r', (size_t)(end - line));
        if (eol == NULL)
            return 400;
        if ((status = header_field(line, (size_t)(eol - line), &hosts, &body)) != 0)
            return status;
    }
    if (hosts > 1 || (http11 && hosts == 0))
        return 400; /* RFC 9112 3.2 */
    if (!metrics)
        return 404;
    if (!get)
        return 405;
    /* a GET /metrics has no body: one announced is refused, never read
     * (nor anything after it: one request per connection) */
    return body ? 400 : 200;
}

int
metrics_request_status(const char *buf, size_t len, size_t *scanned)
{
    size_t i = *scanned;

    for (; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '\0')
            return 400;
        /* CR only before LF, LF only after CR (a bare one is refused, not
         * guessed at); i + 1 == len: its partner has not come yet */
        if (c == '\r' && i + 1 < len && buf[i + 1] != '\n')
            return 400;
        if (c == '\n' && (i == 0 || buf[i - 1] != '\r'))
            return 400;
        if (c == '\n' && i == 1)
            return 400; /* an empty line before the request line */
        if (i >= METRICS_HTTP_REQUEST_MAX)
            return memchr(buf, '\n', i) == NULL ? 414 : 431;
        if (c == '\n' && i >= 3 && memcmp(buf + i - 3, "\r\n\r\n", 4) == 0)
            return judge(buf, i + 1);
    }
    /* a CR at the end waits for the LF that must follow it */
    *scanned = len > 0 && buf[len - 1] == '\r' ? len - 1 : len;
    return 0;
}

const char *
metrics_request_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}
