/*
 * header_read.c — see header_read.h.
 */
#include "smtp/header_read.h"
#include "smtp/data_stream.h"
#include "lib/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool
is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

size_t
header_section_len(const char *s, size_t n)
{
    if (n >= 2 && s[0] == '\r' && s[1] == '\n')
        return 0;
    if (n >= 1 && s[0] == '\n')
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\n')
            continue;
        if (i + 1 < n && s[i + 1] == '\n')
            return i + 1;
        if (i + 2 < n && s[i + 1] == '\r' && s[i + 2] == '\n')
            return i + 1;
    }
    return n;
}

size_t
header_section_cut(const char *s, size_t n, size_t max)
{
    size_t hl = header_section_len(s, n);
    const char *eol;

    if (hl <= max)
        return hl;
    /* cut at the last whole line that fits */
    eol = memrchr(s, '\n', max);
    return eol ? (size_t)(eol - s) + 1 : 0;
}

char *
header_section_read(int fd, size_t max, size_t *len)
{
    /* max octets and the empty line after them tell where the section ends
     * (header_read.h: HEADER_SECTION_READ) */
    size_t want = max + 3, n = 0, hl;
    char *buf = xmalloc(want + 1);

    while (n < want) {
        ssize_t r = pread(fd, buf + n, want - n, (off_t)n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            errno = e;
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    hl = header_section_cut(buf, n, max);
    buf[hl] = '\0';
    if (len != NULL)
        *len = hl;
    return buf;
}

/* The end of the line at p (after its LF), or end. */
static const char *
line_next(const char *p, const char *end)
{
    const char *eol = memchr(p, '\n', (size_t)(end - p));

    return eol ? eol + 1 : end;
}

char *
header_field_get(const char *h, size_t n, const char *name)
{
    const char *p = h, *end = h + n;

    for (; p < end; p = line_next(p, end)) {
        const char *next = line_next(p, end), *v, *e;
        char *out = NULL;
        size_t used = 0;

        if (!data_header_is(p, (size_t)(next - p), name, false))
            continue;
        v = (const char *)memchr(p, ':', (size_t)(next - p)) + 1;
        for (;;) {
            e = next;
            while (e > v && (e[-1] == '\n' || e[-1] == '\r'))
                e--;
            out = xrealloc(out, used + (size_t)(e - v) + 1);
            memcpy(out + used, v, (size_t)(e - v));
            used += (size_t)(e - v);
            if (next >= end || !is_wsp(*next))
                break;
            v = next;
            next = line_next(v, end);
        }
        /* the blanks after the colon and at the end are not the value */
        while (used > 0 && is_wsp(out[used - 1]))
            used--;
        out[used] = '\0';
        for (v = out; is_wsp(*v); v++)
            ;
        memmove(out, v, used + 1 - (size_t)(v - out));
        return out;
    }
    return NULL;
}
