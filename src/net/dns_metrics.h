/*
 * dns_metrics.h — what one DNS question cost and how it ended, for
 * postern_dns_lookups_total and postern_dns_lookup_duration_seconds
 * (lib/metrics_catalog.h). net/dns.c calls it as each answer arrives.
 * Must never: use a name asked or answered as a label value (the record
 * type and a fixed word for the result only).
 */
#ifndef POSTERN_DNS_METRICS_H
#define POSTERN_DNS_METRICS_H

#include <time.h>

struct ub_result;

/* One answer (or error err) to a question of rrtype asked at asked
 * (metric_clock). */
void dns_metrics_answer(int rrtype, const struct timespec *asked, int err,
                        const struct ub_result *r);

/* A question of rrtype asked at asked that got no answer before the
 * query's deadline (result "timeout"). */
void dns_metrics_timeout(int rrtype, const struct timespec *asked);

#endif
