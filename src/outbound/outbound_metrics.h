/*
 * outbound_metrics.h — what one delivery connection tells Prometheus
 * beyond its handshakes (lib/metrics_catalog.h): the TLS result of each
 * attempt on an MX host under the policy that applied (the same event as
 * a TLS report's, routing/tlsrpt.h), domain security with a partner
 * domain, and the MTA-STS decision for the recipient domain.
 * Must never: label with anything but fixed words and names the
 * configuration bounds (a partner domain of TLSSendDomainSecureList).
 */
#ifndef POSTERN_OUTBOUND_METRICS_H
#define POSTERN_OUTBOUND_METRICS_H

struct mtasts_result;
struct route_policy;

/* One attempt's TLS result ("success", or an RFC 8460 result type; NULL:
 * no TLS was tried) on a host where policy_type applied ("tlsa", "sts",
 * "no-policy-found"). */
void outbound_metrics_attempt(const struct route_policy *p, const char *policy_type,
                              const char *result);
/* The recipient domain's MTA-STS policy was decided. */
void outbound_metrics_sts(const struct mtasts_result *r);

#endif
