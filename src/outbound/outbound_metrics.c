/*
 * outbound_metrics.c — see outbound_metrics.h.
 */
#include "outbound/outbound_metrics.h"
#include "lib/metrics_catalog.h"
#include "outbound/mtasts_fetch.h"
#include "routing/route_policy.h"

#include <stddef.h>

void
outbound_metrics_attempt(const struct route_policy *p, const char *policy_type, const char *result)
{
    if (result == NULL)
        return;
    if (p->dest == ROUTE_DEST_MX)
        metric_inc(MET_OUTBOUND_TLS_POLICY, METRIC_L(policy_type, result));
    /* a domain-secured route (the only one that presents our certificate)
     * has the partner domain itself as its next hop */
    if (p->client_cert_fqdn != NULL)
        metric_inc(MET_DOMAIN_SECURITY, METRIC_L("outbound", p->next_hop, result));
}

void
outbound_metrics_sts(const struct mtasts_result *r)
{
    const char *result = r->outcome == MTASTS_DEFER         ? "deferred"
                         : r->outcome == MTASTS_USE_CACHED  ? "cached"
                         : r->outcome == MTASTS_USE_FETCHED ? "fetched"
                         : r->fetch_failed                  ? "fetch_failed"
                                                            : "none";

    metric_inc(MET_MTASTS_POLICIES, METRIC_L(result));
}
