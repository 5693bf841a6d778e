/*
 * outbound_proxy.h — the delivery scheduler's outbound connections
 * (struct outbound_ops, outbound/outbound.h) when they run in the smtp
 * process: each call becomes a message on the outbound channel
 * (MSG_OUT_*, lib/proc.h), each event comes back as one
 * (receive/outbound_server.c is the other end).
 *
 * What comes back is checked against what was asked: results only for a
 * transaction in flight and as many as it had recipients, events only for
 * a connection that exists. A connection open when the channel is lost
 * (the smtp process died) finishes with a temporary error, so its
 * messages are retried; one opened while there is no channel finishes the
 * same way, from the loop. The POSTs of TLS reports (ops post and
 * post_cancel) travel the same channel, kept by qmgr/post_proxy.c.
 * Must never: call an event from inside an ops call; report a recipient
 * delivered that the smtp process did not report.
 */
#ifndef POSTERN_OUTBOUND_PROXY_H
#define POSTERN_OUTBOUND_PROXY_H

#include "outbound/outbound.h"

struct event_base;
struct outbound_proxy;

struct outbound_proxy *outbound_proxy_new(struct event_base *base);
/* A (new) connected channel to the smtp process; takes fd. Connections on
 * a previous channel finished when it was lost. */
void outbound_proxy_attach(struct outbound_proxy *op, int fd);
void outbound_proxy_free(struct outbound_proxy *op);

/* ops_arg: the struct outbound_proxy *. */
extern const struct outbound_ops outbound_proxy_ops;

#endif
