/*
 * deliver_metrics.c — see deliver_metrics.h.
 */
#include "delivery/deliver_metrics.h"
#include "delivery/deliver_int.h"
#include "lib/metrics_catalog.h"
#include "queue/queue.h"

#include <time.h>

/* The counters' label: bounded by the configuration (deliver_metrics.h). */
static const char *
connector_of(const struct dqueue *q)
{
    if (q->connector != NULL)
        return q->connector;
    /* Mailbox Delivery, the LMTP server, Unreachable: the queue's name */
    return q->kind == ROUTE_DNS ? "" : q->next_hop;
}

void
deliver_metrics_results(const struct dqueue *q, const struct dmsg *m,
                        const struct drcpt_result *res, size_t nres)
{
    const char *connector = connector_of(q);

    for (size_t i = 0; i < nres; i++) {
        const char *result = res[i].code >= 200 && res[i].code < 300 ? "delivered"
                             : res[i].temporary                      ? "deferred"
                                                                     : "failed";
        /* as apply_results: a recipient decided meanwhile is not counted */
        if (m->env->rcpts[res[i].rcpt].status == RCPT_READY)
            metric_inc(MET_DELIVERIES, METRIC_L(connector, result));
    }
}

void
deliver_metrics_failed(const struct dqueue *q, size_t n)
{
    metric_add(MET_DELIVERIES, METRIC_L(connector_of(q), "failed"), (double)n);
}

void
deliver_metrics_connection_failed(const struct dqueue *q)
{
    metric_inc(MET_DELIVERY_CONN_FAILURES, METRIC_L(connector_of(q)));
}

void
deliver_metrics_collect(struct deliver *d)
{
    time_t now = time(NULL);

    metric_clear(MET_QUEUE_MESSAGES);
    metric_clear(MET_QUEUE_OLDEST_SECONDS);
    for (size_t i = 0; i < d->nqueues; i++) {
        const struct dqueue *q = d->queues[i];
        size_t n = 0;
        time_t oldest = now;

        for (const struct ditem *it = q->items; it; it = it->next) {
            n++;
            if (it->m->env->received < oldest)
                oldest = it->m->env->received;
        }
        /* a hop's REQUIRETLS and TLS-Required: No queues share its
         * series: added, and the oldest of them */
        metric_add(MET_QUEUE_MESSAGES, METRIC_L(q->next_hop), (double)n);
        if (n > 0)
            metric_max(MET_QUEUE_OLDEST_SECONDS, METRIC_L(q->next_hop), (double)(now - oldest));
    }
    metric_set(MET_QUEUE_STORED, NULL, (double)queue_count(d->env.queue));
    metric_set(MET_DELIVERY_CONNECTIONS, NULL, (double)d->connections);
}
