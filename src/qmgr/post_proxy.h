/*
 * post_proxy.h — the queue process's end of the HTTPS POSTs of TLS reports
 * (the post and post_cancel of struct outbound_ops): each becomes
 * MSG_OUT_POST on the outbound channel, and the smtp process's
 * MSG_OUT_POSTED comes back as the caller's callback
 * (receive/post_server.c is the other end). outbound_proxy.c owns one and
 * hands it the channel.
 *
 * What comes back is checked: an answer only for a POST in flight, a
 * status that is an HTTP status or 0, a reason without control characters.
 * A POST in flight when the channel is lost fails (its report is retried
 * by its owner); one started while there is no channel fails from the
 * loop.
 * Must never: call back from inside post_proxy_start or post_proxy_cancel,
 * or report success the smtp process did not report.
 */
#ifndef POSTERN_POST_PROXY_H
#define POSTERN_POST_PROXY_H

#include <stddef.h>

#include "outbound/outbound.h"

struct event_base;
struct ipc_chan;
struct ipc_msg;
struct post_proxy;

struct post_proxy *post_proxy_new(struct event_base *base);
/* Forgets every POST in flight, without a callback. */
void post_proxy_free(struct post_proxy *pp);

/* ch may be NULL (no smtp process): the POST fails from the loop. */
void *post_proxy_start(struct post_proxy *pp, struct ipc_chan *ch, const char *uri,
                       const char *content_type, const void *body, size_t len, outbound_post_cb *cb,
                       void *arg);
void post_proxy_cancel(struct post_proxy *pp, struct ipc_chan *ch, void *post);
/* MSG_OUT_POSTED. */
void post_proxy_answer(struct post_proxy *pp, const struct ipc_msg *m);
/* The channel is gone: every POST in flight fails. */
void post_proxy_lost(struct post_proxy *pp);

#endif
