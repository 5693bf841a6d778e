/*
 * dns_metrics.c — see dns_metrics.h.
 */
#include "net/dns_metrics.h"
#include "lib/metrics_catalog.h"

#include <unbound.h>

static const char *
type_name(int rrtype)
{
    switch (rrtype) {
    case 1:
        return "A";
    case 15:
        return "MX";
    case 16:
        return "TXT";
    case 28:
        return "AAAA";
    case 52:
        return "TLSA";
    default:
        return "other";
    }
}

static const char *
result_name(int err, const struct ub_result *r)
{
    if (err != 0 || r == NULL)
        return "error"; /* libunbound's own failure: no server answered, ... */
    if (r->bogus)
        return "bogus";
    if (r->nxdomain)
        return "nxdomain";
    if (r->rcode == 2)
        return "servfail";
    if (r->rcode == 5)
        return "refused";
    if (r->rcode != 0)
        return "error";
    return r->havedata ? "ok" : "nodata";
}

void
dns_metrics_answer(int rrtype, const struct timespec *asked, int err, const struct ub_result *r)
{
    const char *type = type_name(rrtype);

    metric_observe(MET_DNS_LOOKUP_SECONDS, METRIC_L(type), metric_seconds_since(asked));
    metric_inc(MET_DNS_LOOKUPS, METRIC_L(type, result_name(err, r)));
}

void
dns_metrics_timeout(int rrtype, const struct timespec *asked)
{
    const char *type = type_name(rrtype);

    metric_observe(MET_DNS_LOOKUP_SECONDS, METRIC_L(type), metric_seconds_since(asked));
    metric_inc(MET_DNS_LOOKUPS, METRIC_L(type, "timeout"));
}
