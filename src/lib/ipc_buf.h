/*
 * ipc_buf.h — encoding and decoding of IPC payloads (lib/ipc.h): a writer
 * that appends fields to a growable buffer and a bounds-checked reader with
 * a sticky error flag.
 *
 * Fields, in host byte order like the message header: u32, u64, bytes (a
 * u32 length, then that many bytes) and strings (the bytes and their NUL).
 * A reader takes fields in the order they were written; once one does not
 * fit, the reader is in error, every later get returns 0 / "" / an empty
 * byte run, and ipc_rbuf_ok() is false, so a caller may read a whole
 * structure and check once at the end.
 *
 * Must never: read outside the payload it was given, return a string whose
 * NUL is not inside the payload, or leave a payload's bytes (which may hold
 * secrets) in memory it frees.
 */
#ifndef POSTERN_IPC_BUF_H
#define POSTERN_IPC_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ipc_wbuf {
    unsigned char *data;
    size_t len, cap;
};

/* A zeroed struct ipc_wbuf is an empty writer; free wipes and frees. */
void ipc_wbuf_free(struct ipc_wbuf *w);
void ipc_put_u32(struct ipc_wbuf *w, uint32_t v);
void ipc_put_u64(struct ipc_wbuf *w, uint64_t v);
void ipc_put_bytes(struct ipc_wbuf *w, const void *p, size_t n); /* n < 4 GiB */
void ipc_put_str(struct ipc_wbuf *w, const char *s);             /* s not NULL */

struct ipc_rbuf {
    const unsigned char *p;
    size_t len, off;
    bool err;
};

void ipc_rbuf_init(struct ipc_rbuf *r, const void *data, size_t len);
uint32_t ipc_get_u32(struct ipc_rbuf *r);
uint64_t ipc_get_u64(struct ipc_rbuf *r);
/* Points into the payload (valid as long as it is); *n its length. */
const void *ipc_get_bytes(struct ipc_rbuf *r, size_t *n);
/* Points into the payload; the string may not contain a NUL of its own. */
const char *ipc_get_str(struct ipc_rbuf *r);
/* No error so far. */
bool ipc_rbuf_ok(const struct ipc_rbuf *r);
/* No error and every byte taken: the payload was exactly what was read. */
bool ipc_rbuf_done(const struct ipc_rbuf *r);

#endif
