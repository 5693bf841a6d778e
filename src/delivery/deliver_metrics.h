/*
 * deliver_metrics.h — what the delivery manager tells Prometheus
 * (lib/metrics_catalog.h): per-recipient results and connection failures
 * as they happen, and at each scrape the delivery queues' sizes and the
 * age of their oldest message.
 *
 * Counters are labelled by connector (the Send connector, or Mailbox
 * Delivery, the LMTP server, Unreachable): names from the configuration,
 * never a recipient domain, since a counter's series live as long as the
 * process. Only the gauges, set anew at each scrape from the queues that
 * exist then, name next hops (capped like every family).
 * Must never: change delivery state; only read it.
 */
#ifndef POSTERN_DELIVER_METRICS_H
#define POSTERN_DELIVER_METRICS_H

#include <stddef.h>

struct deliver;
struct dqueue;
struct dmsg;
struct drcpt_result;

/* Results about to be applied to m (those of recipients still waiting
 * count: delivered, deferred or failed). */
void deliver_metrics_results(const struct dqueue *q, const struct dmsg *m,
                             const struct drcpt_result *res, size_t nres);
/* n recipients of q failed without an attempt (expiry, Remove-Message). */
void deliver_metrics_failed(const struct dqueue *q, size_t n);
/* A connection to q's next hop failed before it took mail. */
void deliver_metrics_connection_failed(const struct dqueue *q);
/* Sets the gauges: queues, their oldest message, stored messages,
 * deliveries running. Called by the queue process before each answer. */
void deliver_metrics_collect(struct deliver *d);

#endif
