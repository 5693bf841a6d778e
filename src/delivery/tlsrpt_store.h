/*
 * tlsrpt_store.h — the TLS results counted for TLS reporting (RFC 8460):
 * one line of JSON per delivery attempt in DIR/tlsrpt/<yyyymmdd>.jsonl (the
 * UTC day), appended by the queue process as the smtp process reports
 * them, and read back as per-domain, per-policy counts by Get-TlsReport and
 * by the daily reports (deliver_tlsrpt.c).
 * Must never: keep a field the smtp process sent without checking it, or
 * name a file after anything but a date.
 */
#ifndef POSTERN_TLSRPT_STORE_H
#define POSTERN_TLSRPT_STORE_H

#include <stddef.h>
#include <time.h>

#define TLSRPT_DIR "tlsrpt"

/* A connection tries at most a few MX hosts (net/dns.c DNS_MX_MAX) with a
 * few addresses each, plus a policy fetch: more results than this from one
 * connection are not counted. */
#define TLSRPT_RESULTS_PER_CONNECTION 64

/* One attempt's result for domain (the queue's own next hop), as the smtp
 * process's JSON (routing/tlsrpt.h); a malformed one is dropped with a
 * warning. */
void tlsrpt_store_add(const char *instance_dir, const char *domain, const char *json);

struct tlsrpt_failure {
    char *result, *mx_host, *ip;
    unsigned count;
};

/* The sessions of one policy of one domain on one day. */
struct tlsrpt_policy {
    char *domain;
    char *type;    /* "tlsa", "sts", "no-policy-found" */
    char **policy; /* policy-string */
    size_t npolicy;
    char **mx; /* mx-host (sts) */
    size_t nmx;
    unsigned successful, failed;
    struct tlsrpt_failure *failures;
    size_t nfailures;
};

struct tlsrpt_day {
    char date[9]; /* yyyymmdd */
    struct tlsrpt_policy *policies;
    size_t npolicies;
    char **rua_domains, **rua; /* each domain's reporting URIs as last seen */
    size_t nrua;
};

/* Reads the day (yyyymmdd) into out (empty when nothing was counted). 0,
 * or -1 with err when date is not a date or the file cannot be read. */
int tlsrpt_day_read(const char *instance_dir, const char *date, struct tlsrpt_day *out, char *err,
                    size_t errlen);
void tlsrpt_day_free(struct tlsrpt_day *d);
/* domain's reporting URIs in d, or NULL. */
const char *tlsrpt_day_rua(const struct tlsrpt_day *d, const char *domain);

/* "yyyymmdd" of t (UTC). */
void tlsrpt_date(time_t t, char out[9]);

#endif
