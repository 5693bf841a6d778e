/*
 * deliver.h — the delivery manager: the scheduler that carries every queued
 * message to its next hop and tells the sender when it cannot.
 *
 * It keeps every message of the durable queue in memory, routes each
 * recipient (routing/route.h) into a delivery queue per next hop (Exchange's
 * queues: a domain for DNS routing, a Send connector for smart hosts,
 * mailbox delivery, Unreachable), opens connections within
 * MaxOutboundConnections and MaxPerDomainOutboundConnections, applies
 * Exchange's retry and expiry rules (docs/exchange-model.md, "Queues"), writes
 * per-recipient progress back to the queue, sends RFC 3464 reports and
 * removes a message once every recipient is delivered or failed.
 * Must never: forget a recipient that is not delivered or bounced; bounce a
 * null sender; deliver from the loop thread with blocking I/O.
 */
#ifndef POSTERN_DELIVER_H
#define POSTERN_DELIVER_H

#include <stdio.h>

#include "config/config.h"
#include "queue/envelope.h"

struct event_base;
struct queue;
struct workq;
struct msgtrack;
struct deliver;
struct outbound_ops;
struct tlsrpt_outbox;

struct deliver_env {
    struct event_base *base;
    struct queue *queue;
    struct workq *workers;
    struct config **cfg;    /* the current configuration (changes on reload) */
    struct msgtrack *track; /* message tracking log */
    const char *instance_dir;
    /* SMTP and LMTP connections (outbound/outbound.h): the proxy to the
     * smtp process that runs them (qmgr/outbound_proxy.h) */
    const struct outbound_ops *outbound;
    void *outbound_arg;
    /* TLS reports for https: reporting URIs wait here for their POST
     * (delivery/tlsrpt_outbox.h); NULL: such URIs are skipped */
    struct tlsrpt_outbox *tls_posts;
};

/* Loads every committed message (queue_scan) and starts scheduling. */
struct deliver *deliver_new(const struct deliver_env *env);
/* Stops: closes connections (their messages stay queued). Workers and the
 * queue may still report to d until they are closed; then deliver_free. */
void deliver_stop(struct deliver *d);
void deliver_free(struct deliver *d);

/* A message just committed by the receive side (the queue's commit hook):
 * d takes env. */
void deliver_add(struct deliver *d, struct envelope *env);

/* The configuration changed: re-route what waits. */
void deliver_reconfigure(struct deliver *d);

/* Queue cmdlets of a running service (control socket). Output is what
 * the cmdlet prints; the return is 0, or -1 with a one-line error written
 * to out. */
int deliver_cmd_get_queue(struct deliver *d, const char *identity, FILE *out);
int deliver_cmd_get_message(struct deliver *d, const char *identity, const char *queue,
                            bool recipients, FILE *out);
int deliver_cmd_queue_action(struct deliver *d, const char *action, const char *identity,
                             FILE *out);
int deliver_cmd_message_action(struct deliver *d, const char *action, const char *identity,
                               bool with_ndr, FILE *out);
/* Send-TlsReport: the TLS reports of date (yyyymmdd), for one domain or
 * all; how many were queued, or -1 with the reason written to out. */
int deliver_send_tls_reports(struct deliver *d, const char *date, const char *only_domain,
                             FILE *out);

#endif
