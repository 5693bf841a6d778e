/*
 * https_get.h — one HTTPS request on the event loop: GET for MTA-STS
 * policies (RFC 8461 3.3), POST for TLS reports (RFC 8460 5.2). To
 * addresses the caller resolved, with SNI and the server's certificate
 * checked against the host name by the trust of the client context given
 * (the system's CAs and the roots imported with Import-Certificate), no
 * redirect followed, the answer's body bounded, the whole request bounded
 * in time.
 *
 * The certificate is checked twice: inside the handshake
 * (tls_client_ssl_verify_strict), so that not a byte of the request (a
 * POST's body goes out right after the handshake) reaches a server that
 * does not check out, and with tls_peer_check when the answer's header
 * arrives, before its body is read.
 *
 * libevent's evhttp over a bufferevent_openssl, rather than libcurl:
 * the smtp process already runs libevent and OpenSSL, evhttp needs no file
 * and no resolver of its own (the process has neither), and it does
 * nothing but HTTP.
 * Must never: send a request to, or hand over a body from, a server whose
 * certificate did not check out; read more than the bound; or call back
 * from inside https_get_start / https_request_start.
 */
#ifndef POSTERN_HTTPS_GET_H
#define POSTERN_HTTPS_GET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct ssl_ctx_st;
struct https_get;

struct https_response {
    int status;               /* HTTP status code */
    const char *content_type; /* the Content-Type field, "" without one */
    const char *body;         /* NUL-terminated (a NUL inside shows in len) */
    size_t len;
};

/* timeout bounds the whole request (every address), max_body the body.
 * resp is NULL on failure, with why ("connection refused", "certificate
 * ... does not name mta-sts.example.com", "timeout after 30 s", ...). The
 * request is over and freed after the call. */
typedef void https_get_cb(void *arg, const struct https_response *resp, const char *why);

struct https_get *https_get_start(struct event_base *base, struct ssl_ctx_st *ctx,
                                  const struct sockaddr_storage *addrs, size_t naddrs,
                                  uint16_t port, const char *host, const char *path,
                                  size_t max_body, unsigned timeout, https_get_cb *cb, void *arg);

/* What a POST sends (copied at the start). */
struct https_body {
    const char *content_type;
    const void *data;
    size_t len;
};

/* The same request with a body: a POST (with Content-Type and
 * Content-Length), or a GET when body is NULL. max_body bounds the
 * answer's body. */
struct https_get *https_request_start(struct event_base *base, struct ssl_ctx_st *ctx,
                                      const struct sockaddr_storage *addrs, size_t naddrs,
                                      uint16_t port, const char *host, const char *path,
                                      const struct https_body *body, size_t max_body,
                                      unsigned timeout, https_get_cb *cb, void *arg);
/* Stops it without a callback. */
void https_get_cancel(struct https_get *g);

#endif
