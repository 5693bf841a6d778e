/*
 * strbuf.h — a growing NUL-terminated string for code that writes text a
 * piece at a time (envelopes, reports, parsed words).
 * Must never: leave the text without its NUL, or survive running out of
 * memory (xrealloc ends the process, as every allocation here does).
 */
#ifndef POSTERN_STRBUF_H
#define POSTERN_STRBUF_H

#include <stddef.h>

struct strbuf {
    char *s; /* NULL until something is added */
    size_t len, cap;
};

/* Room for at least n more octets (and the NUL), allocated now. */
void strbuf_reserve(struct strbuf *b, size_t n);
void strbuf_add(struct strbuf *b, const void *data, size_t n);
void strbuf_putc(struct strbuf *b, char c);
void strbuf_puts(struct strbuf *b, const char *s);
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text, handed over (malloc'd; "" when nothing was added); b is empty
 * again. */
char *strbuf_take(struct strbuf *b);

#endif
