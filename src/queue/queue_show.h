/*
 * queue_show.h — Get-Queue and Get-Message as text, in Exchange's
 * Format-List form ("Identity          : mail\Submission"): the one
 * rendering that both the running service (delivery/deliver_admin.c) and
 * the cmdlets reading a stopped instance's queue (admin/cmdlet_queue.c)
 * print, so that a script reads the same fields from either.
 * Must never: decide anything about a queue or a message (the callers say
 * what its status is), or show a field on one side only.
 */
#ifndef POSTERN_QUEUE_SHOW_H
#define POSTERN_QUEUE_SHOW_H

#include "queue/envelope.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* The server part of identities (Server\Queue\MessageId): the first label
 * of the FQDN, "postern" without one. */
void queue_show_server(const char *fqdn, char *buf, size_t len);

/* One queue of Get-Queue. */
struct queue_view {
    const char *server;
    const char *next_hop;      /* the queue's name (NextHopDomain) */
    const char *delivery_type; /* DNSConnectorDelivery, ..., Undefined */
    const char *status;        /* Active, Ready, Retry, Suspended */
    const char *connector;     /* NextHopConnector, or NULL */
    const char *last_error;    /* or NULL */
    size_t count;
    time_t next_retry; /* 0: not waiting */
    /* postern's: what the queue's messages ask of TLS (RFC 8689), shown
     * only when they ask something: "RequireTLS" or "TLS-Required: No" */
    const char *tls_requirement;
};

void queue_show(FILE *out, const struct queue_view *q);

/* One message of Get-Message, in one queue. */
struct message_view {
    const char *server;
    const char *queue;          /* the queue's name */
    const char *id;             /* the queue ID */
    const struct envelope *env; /* NULL: the envelope cannot be read */
    const char *status;         /* Active, Ready, Retry, Suspended */
    const char *subject;        /* header fields, or NULL */
    const char *message_id;
    const char *last_error;      /* the queue's; NULL: the first of its recipients' */
    uint64_t expiration_timeout; /* seconds after receipt (TransportConfig) */
    const size_t *rcpts;         /* which of env's recipients are in this queue */
    size_t nrcpts;               /* (rcpts NULL: all of env's) */
    bool recipient_info;         /* -IncludeRecipientInfo: each one's status */
};

void message_show(FILE *out, const struct message_view *m);

#endif
