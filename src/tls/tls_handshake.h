/*
 * tls_handshake.h — runs a TLS handshake on a non-blocking socket from a
 * libevent loop, in OpenSSL's asynchronous mode, so that a private-key
 * operation answered by another process (tls_remote_key.h) pauses only
 * this handshake, never the loop.
 *
 * libevent's bufferevent_openssl knows nothing of SSL_ERROR_WANT_ASYNC,
 * hence this driver: it waits for the socket on WANT_READ/WANT_WRITE and
 * for the job's wake-up (SSL_set_async_callback) on WANT_ASYNC. When it is
 * done the SSL is an ordinary one again (SSL_MODE_ASYNC cleared, so reads
 * and writes do not run in ASYNC jobs) and the caller wraps it with
 * bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_OPEN, ...).
 * Nothing the peer sent after its Finished is lost on the way: OpenSSL
 * without read-ahead (postern never sets it) reads records exactly, so
 * those bytes wait in the socket for the bufferevent.
 *
 * Keys held in this process (a plain EVP_PKEY) work the same way; their
 * operations just never pause.
 *
 * Must never: call done from within tls_handshake_start or
 * tls_handshake_cancel, call it twice, free or close the SSL or the socket
 * (the caller owns both throughout), or leave an ASYNC job paused behind
 * it (a paused job holds its stack until it is resumed).
 */
#ifndef POSTERN_TLS_HANDSHAKE_H
#define POSTERN_TLS_HANDSHAKE_H

#include <stddef.h>

struct event_base;
struct ssl_st;
struct tls_handshake;

enum tls_handshake_result {
    TLS_HANDSHAKE_OK,
    TLS_HANDSHAKE_FAILED,  /* the peer, the socket, or a key operation */
    TLS_HANDSHAKE_TIMEOUT, /* no completion within the timeout */
};

/* reason: one line for logs ("" on success), valid during the call. The
 * handshake object is already freed when done runs: forget it first. */
typedef void (*tls_handshake_done_fn)(void *arg, enum tls_handshake_result result,
                                      const char *reason);

/* Starts the handshake of ssl, whose role (accept or connect state) is
 * set, on the connected non-blocking socket fd (the SSL's own socket BIO
 * when it has one, else one that does not close fd). The first step runs
 * from the loop. timeout_seconds > 0 bounds the whole handshake. NULL when
 * it cannot start (out of memory), with nothing changed. */
struct tls_handshake *tls_handshake_start(struct event_base *base, int fd, struct ssl_st *ssl,
                                          int timeout_seconds, tls_handshake_done_fn done,
                                          void *arg);

/* Bounds the ASYNC jobs of the calling thread (each paused one keeps a
 * stack of OpenSSL's size, 32 KiB, while its key operation is answered):
 * beyond max_paused a handshake waits in line, in order, for a job to
 * come free, and a warning says so once a minute. Call before the
 * thread's first handshake. -1 when OpenSSL refuses. */
int tls_handshake_init_thread(size_t max_paused);

/* Abandons a handshake that has not called done (h may be NULL): a
 * key operation in flight is given up and its job wound up (the peer may
 * get an alert), then h is freed. done is not called. */
void tls_handshake_cancel(struct tls_handshake *h);

#endif
