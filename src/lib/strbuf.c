/*
 * strbuf.c — see strbuf.h.
 */
#include "lib/strbuf.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
strbuf_reserve(struct strbuf *b, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->s = xrealloc(b->s, cap);
        b->cap = cap;
    }
}

void
strbuf_add(struct strbuf *b, const void *data, size_t n)
{
    strbuf_reserve(b, n);
    memcpy(b->s + b->len, data, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void
strbuf_putc(struct strbuf *b, char c)
{
    strbuf_add(b, &c, 1);
}

void
strbuf_puts(struct strbuf *b, const char *s)
{
    strbuf_add(b, s, strlen(s));
}

void
strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        fatal("vasprintf"); /* as xasprintf: out of memory is not survivable */
    strbuf_add(b, s, (size_t)n);
    free(s);
}

char *
strbuf_take(struct strbuf *b)
{
    char *s = b->s ? b->s : xstrdup("");

    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}
