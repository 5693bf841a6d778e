/*
 * receive_metrics.h — the smtp process's metrics that need more than one
 * line where they happen (lib/metrics_catalog.h): how a session ended, in
 * a few fixed words, and the expiry of the certificates it holds.
 * Must never: use text from a client as a label value.
 */
#ifndef POSTERN_RECEIVE_METRICS_H
#define POSTERN_RECEIVE_METRICS_H

struct tls_store;

/* A session of connector ended for reason (session_close's words). */
void receive_metrics_session_end(const char *connector, const char *reason);
/* The certificates now in use: their expiry gauges, set anew. */
void receive_metrics_certs(const struct tls_store *store);

#endif
