/*
 * metrics_catalog.h — postern's metric families (docs/metrics.md lists
 * them for users) and each process's registry of the families it owns.
 *
 * The smtp and queue processes call metrics_process_start once; from then
 * on the metric_* calls anywhere in that process count into its registry.
 * A family belongs to one process, so the smtp process can append the
 * queue process's text to its own without a family appearing twice. In a
 * process that never started a registry (a cmdlet running the outbound
 * code for Test-SendConnector, the daemon, the keys process, unit tests)
 * and for a family another process owns, every call does nothing.
 *
 * Label values that come from outside (domains, certificate subjects) are
 * bounded by the registry (lib/metrics.h): cut, cleaned, and past
 * METRICS_SERIES_MAX tuples per family counted as "other".
 * Must never: take a family from another process's text, or be the only
 * record of anything (metrics are lost with the process; logs are not).
 */
#ifndef POSTERN_METRICS_CATALOG_H
#define POSTERN_METRICS_CATALOG_H

#include <time.h>

#include "lib/proc.h"

struct strbuf;

/* Series per family, beyond which new label values count as "other". */
#define METRICS_SERIES_MAX 2000
/* The most text the queue process sends for one scrape (MSG_METRICS_TEXT),
 * cut at a line beyond it; the smtp process refuses more. */
#define METRICS_QUEUE_TEXT_MAX (4u * 1024 * 1024)

enum metric_id {
    /* smtp process */
    MET_SMTP_SESSIONS,        /* connector, result: a session ended */
    MET_SMTP_SESSIONS_ACTIVE, /* gauge, set at each scrape */
    MET_MESSAGES_RECEIVED,    /* connector: a message committed (250 after DATA) */
    MET_TLS_HANDSHAKES,       /* direction, version, result */
    MET_DOMAIN_SECURITY,      /* direction, domain, result */
    MET_OUTBOUND_TLS_POLICY,  /* policy_type, result: RFC 8460's words */
    MET_DANE_TLSA_LOOKUPS,    /* result */
    MET_MTASTS_POLICIES,      /* result */
    MET_DNS_LOOKUPS,          /* type, result */
    MET_DNS_LOOKUP_SECONDS,   /* type: histogram */
    MET_CERT_EXPIRY,          /* thumbprint, subject: gauge */
    MET_METRICS_REQUESTS,     /* code: answers on MetricsBindings */
    MET_METRICS_QUEUE_UP,     /* gauge: the queue process's part of this scrape came */
    MET_SMTP_START_TIME,      /* gauge */
    MET_BUILD_INFO,           /* version: gauge 1 */
    /* queue process */
    MET_DELIVERIES,             /* connector, result: one per recipient and attempt */
    MET_DELIVERY_CONN_FAILURES, /* connector */
    MET_DELIVERY_CONNECTIONS,   /* gauge */
    MET_QUEUE_MESSAGES,         /* queue: gauge, set at each scrape */
    MET_QUEUE_OLDEST_SECONDS,   /* queue: gauge, set at each scrape */
    MET_QUEUE_STORED,           /* gauge, set at each scrape */
    MET_QUEUE_COMMIT_SECONDS,   /* histogram */
    MET_QUEUE_START_TIME,       /* gauge */
    MET_N
};

/* The label values of one call: METRIC_L(rc->name, "quit"). */
#define METRIC_L(...) ((const char *const[]){__VA_ARGS__})

/* Makes this process's registry: the families role owns, its start time
 * (and, in the smtp process, the build information). Once per process. */
void metrics_process_start(enum proc_role role);
/* Appends this process's families in the text format (nothing when there
 * is no registry). */
void metrics_process_render(struct strbuf *out);

void metric_inc(enum metric_id id, const char *const *labels);
void metric_add(enum metric_id id, const char *const *labels, double v);
void metric_set(enum metric_id id, const char *const *labels, double v);
void metric_max(enum metric_id id, const char *const *labels, double v);
void metric_observe(enum metric_id id, const char *const *labels, double v);
void metric_clear(enum metric_id id);

/* Latencies: a start from metric_clock, the seconds since it. */
void metric_clock(struct timespec *t);
double metric_seconds_since(const struct timespec *start);

#endif
