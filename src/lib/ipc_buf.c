/*
 * ipc_buf.c — see ipc_buf.h: payload fields written to a growable buffer
 * and read back with bounds checks.
 *
 * Must never: compute an end offset that can wrap (every check compares a
 * length with what is left), or free a buffer without wiping it.
 */
#include "lib/ipc_buf.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

static unsigned char *
wbuf_grow(struct ipc_wbuf *w, size_t n)
{
    if (w->cap - w->len < n) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap - w->len < n)
            cap *= 2;
        /* Not realloc: the old copy is wiped before it goes back. */
        unsigned char *nd = xmalloc(cap);
        if (w->len > 0)
            memcpy(nd, w->data, w->len);
        mem_free_wiped(w->data, w->cap);
        w->data = nd;
        w->cap = cap;
    }
    unsigned char *at = w->data + w->len;
    w->len += n;
    return at;
}

void
ipc_wbuf_free(struct ipc_wbuf *w)
{
    if (w->data != NULL) {
        mem_free_wiped(w->data, w->cap);
    }
    w->data = NULL;
    w->len = w->cap = 0;
}

void
ipc_put_u32(struct ipc_wbuf *w, uint32_t v)
{
    memcpy(wbuf_grow(w, sizeof(v)), &v, sizeof(v));
}

void
ipc_put_u64(struct ipc_wbuf *w, uint64_t v)
{
    memcpy(wbuf_grow(w, sizeof(v)), &v, sizeof(v));
}

void
ipc_put_bytes(struct ipc_wbuf *w, const void *p, size_t n)
{
    if (n > UINT32_MAX)
        fatalx("ipc_put_bytes: %zu bytes do not fit a length field", n);
    ipc_put_u32(w, (uint32_t)n);
    if (n > 0)
        memcpy(wbuf_grow(w, n), p, n);
}

void
ipc_put_str(struct ipc_wbuf *w, const char *s)
{
    size_t n = strlen(s) + 1;

    memcpy(wbuf_grow(w, n), s, n);
}

void
ipc_rbuf_init(struct ipc_rbuf *r, const void *data, size_t len)
{
    /* Never a NULL base: even an empty payload is a place to point into. */
    r->p = data != NULL ? data : (const unsigned char *)"";
    r->len = data != NULL ? len : 0;
    r->off = 0;
    r->err = false;
}

/* n bytes at the read position, or NULL (and the reader in error). */
static const unsigned char *
take(struct ipc_rbuf *r, size_t n)
{
    if (r->err || r->len - r->off < n) {
        r->err = true;
        return NULL;
    }
    const unsigned char *at = r->p + r->off;
    r->off += n;
    return at;
}

/* Copies the next n bytes into v (left as it was when they are missing). */
static void
take_into(struct ipc_rbuf *r, void *v, size_t n)
{
    const unsigned char *at = take(r, n);

    if (at != NULL)
        memcpy(v, at, n);
}

uint32_t
ipc_get_u32(struct ipc_rbuf *r)
{
    uint32_t v = 0;

    take_into(r, &v, sizeof(v));
    return v;
}

uint64_t
ipc_get_u64(struct ipc_rbuf *r)
{
    uint64_t v = 0;

    take_into(r, &v, sizeof(v));
    return v;
}

const void *
ipc_get_bytes(struct ipc_rbuf *r, size_t *n)
{
    size_t len = ipc_get_u32(r);
    const unsigned char *at = take(r, len);

    *n = at != NULL ? len : 0;
    return at != NULL ? at : (const unsigned char *)"";
}

const char *
ipc_get_str(struct ipc_rbuf *r)
{
    const unsigned char *nul;

    if (r->err || r->off == r->len) {
        r->err = true;
        return "";
    }
    nul = memchr(r->p + r->off, '\0', r->len - r->off);
    if (nul == NULL) {
        r->err = true;
        return "";
    }
    return (const char *)take(r, (size_t)(nul - (r->p + r->off)) + 1);
}

bool
ipc_rbuf_ok(const struct ipc_rbuf *r)
{
    return !r->err;
}

bool
ipc_rbuf_done(const struct ipc_rbuf *r)
{
    return !r->err && r->off == r->len;
}
