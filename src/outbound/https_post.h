/*
 * https_post.h — a TLS report POSTed to a domain's https: reporting URI
 * (RFC 8460 5.2), from the smtp process: the URI checked
 * (routing/tlsrpt_uri.h), its host resolved with the process's resolver,
 * then one request (https_get.h) with the certificate checked by the
 * system's CAs and the roots imported with Import-Certificate, within
 * HTTPS_POST_TIMEOUT, the answer's body bounded, no redirect followed.
 *
 * Whether the answer counts as delivered (2xx) and what to do otherwise
 * is the caller's: this only says what the server answered.
 * Must never: connect anywhere a checked URI did not name, send anything
 * but a TLS report's media type (RFC 8460 5.2) and a bounded body, send it
 * to a server whose certificate did not check out, or call back from
 * inside https_post_start.
 */
#ifndef POSTERN_HTTPS_POST_H
#define POSTERN_HTTPS_POST_H

#include <stddef.h>

struct event_base;
struct dns;
struct ssl_ctx_st;
struct https_post;

/* The whole POST, every address together (RFC 8460 5.2 sets none; a
 * report server that needs longer is retried later). */
#define HTTPS_POST_TIMEOUT 30
/* The answer's body is not used: an acknowledgement, not a document. */
#define HTTPS_POST_ANSWER_MAX (16 * 1024)
/* The largest report body taken (gzipped JSON of one domain's day). */
#define HTTPS_POST_BODY_MAX (4 * 1024 * 1024)

/* status: the HTTP status of the answer, whatever it is; 0 when there was
 * none, with why (a bad URI, DNS, TLS, the certificate, a timeout). */
typedef void https_post_cb(void *arg, int status, const char *why);

/* cb runs once, from the loop, unless https_post_cancel came first. body
 * and content_type are copied. */
struct https_post *https_post_start(struct event_base *base, struct dns *dns,
                                    struct ssl_ctx_st *ctx, const char *uri,
                                    const char *content_type, const void *body, size_t len,
                                    https_post_cb *cb, void *arg);
void https_post_cancel(struct https_post *p);

#endif
