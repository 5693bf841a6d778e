/*
 * deliver_int.h — state shared by the delivery manager's files:
 * deliver.c (messages, queues, scheduling, results), deliver_smtp.c
 * (the scheduler's side of SMTP and LMTP connections), deliver_local.c
 * (Maildir), deliver_dsn.c (reports), deliver_admin.c (queue cmdlets).
 * Not for use elsewhere.
 */
#ifndef POSTERN_DELIVER_INT_H
#define POSTERN_DELIVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "delivery/deliver.h"
#include "queue/dsn.h"
#include "routing/route.h"

struct dqueue;

/* A queued message. */
struct dmsg {
    struct dmsg *prev, *next;
    struct envelope *env;
    char *message_id; /* Message-ID header, for the tracking log */
    char *subject;
    unsigned in_flight; /* items of this message being delivered */
    bool removing;      /* every recipient done; removal pending */
    bool remove_wanted; /* done, but waiting for updates in flight */
    struct deliver *d;
    unsigned pending_io; /* queue updates/removal in flight */
};

/* Some recipients of one message waiting in one queue. */
struct ditem {
    struct ditem *next;
    struct dmsg *m;
    size_t *rcpt;
    size_t nrcpt;
    bool in_flight;
};

enum dqueue_status { DQ_READY, DQ_ACTIVE, DQ_RETRY, DQ_SUSPENDED };

struct dqueue {
    char *next_hop;
    enum route_kind kind;
    char *connector; /* Send connector name (DNS, SMART_HOST) */
    char *lmtp_server;
    bool domain_secure; /* mutual TLS with the partner domain next_hop */
    /* RFC 8689: REQUIRETLS messages, and messages with "TLS-Required: No",
     * each wait in a queue of their own beside the hop's other mail, since
     * their connections obey other rules */
    bool requiretls, tls_not_required;
    struct ditem *items;
    struct ditem *tail; /* the last of items: appending is O(1) */
    unsigned connections;
    bool suspended;
    unsigned failures; /* consecutive connection failures */
    time_t next_retry; /* 0: now */
    char *last_error;
    time_t idle_since;
};

struct deliver {
    struct deliver_env env;
    struct dmsg *msgs;
    size_t nmsgs;
    struct dqueue **queues;
    size_t nqueues;
    unsigned connections;
    struct event *tick; /* the scheduler's beat */
    time_t tlsrpt_due;  /* when to look for TLS reports to send again */
    struct event *kick; /* run the scheduler now */
    /* No message's expiry or delay notice falls before this time, so the
     * beat skips the walk over every message until then (0: walk now). */
    time_t timers_due;
    bool stopping;
    char server_name[64];
    struct dconn *conns; /* live connections (deliver_smtp.c) */
};

/* One delivery result for recipient rcpt of an item. */
struct drcpt_result {
    size_t rcpt;
    int code; /* SMTP-style: 250, 451, 550 ... */
    bool temporary;
    char text[512];    /* the reply or a local reason */
    const char *relay; /* where it went ("mx.b.test[192.0.2.1]:25", "Maildir") */
    const char *tls;   /* how the connection was protected (outbound_tls), or NULL */
};

/* deliver.c */
struct config *deliver_config(const struct deliver *d);
struct ditem *deliver_next_item(struct deliver *d, struct dqueue *q);
/* Records results for an item that was in flight; frees the item when all
 * its recipients are decided, or requeues the rest. */
void deliver_item_done(struct deliver *d, struct dqueue *q, struct ditem *it,
                       const struct drcpt_result *res, size_t nres);
/* The whole item failed before any recipient got a reply (connection
 * lost, TLS policy ...): temporary unless temporary is false. */
void deliver_item_failed(struct deliver *d, struct dqueue *q, struct ditem *it, bool temporary,
                         const char *why, const char *relay);
/* A connection attempt to q's next hop failed: retry schedule. */
void deliver_queue_failed(struct deliver *d, struct dqueue *q, const char *why);
void deliver_queue_succeeded(struct deliver *d, struct dqueue *q);
void deliver_kick(struct deliver *d);
/* Writes m's envelope (or removes m when it is finished). */
void deliver_persist_message(struct deliver *d, struct dmsg *m);
/* Fails every recipient of m that is not in flight, with a report when
 * notify (expiry, Remove-Message -WithNDR). */
void deliver_fail_waiting(struct deliver *d, struct dmsg *m, const char *reason, bool notify);
const char *deliver_rcpt_domain(const struct dmsg *m, size_t rcpt);

/* deliver_smtp.c */
void deliver_smtp_start(struct deliver *d, struct dqueue *q);
void deliver_smtp_stop_all(struct deliver *d);

/* deliver_local.c */
void deliver_local_start(struct deliver *d, struct dqueue *q);

/* deliver_tlsrpt.c: the daily TLS reports of the days before now not sent
 * yet (called from the scheduler's beat; cheap when there is nothing). */
void deliver_tls_reports_due(struct deliver *d, time_t now);

/* deliver_dsn.c: a report about some recipients of m (indices rcpts). */
void deliver_send_dsn(struct deliver *d, struct dmsg *m, enum dsn_kind kind,
                      const struct drcpt_result *res, size_t nres);

#endif
