/*
 * tlsrpt.h — TLS reporting (RFC 8460) as data: the "_smtp._tls" TXT
 * record, and one delivery attempt's TLS result as it travels from the
 * smtp process to the queue process (a JSON object, one line).
 *
 * Pure functions of their input; the counting and the daily reports are
 * src/delivery/tlsrpt_store.c and tlsrpt_report.c.
 * Must never: accept a reporting address that is not mailto: or https:,
 * or an event whose result is not one of RFC 8460's (or "success").
 */
#ifndef POSTERN_TLSRPT_H
#define POSTERN_TLSRPT_H

#include <stdbool.h>
#include <stddef.h>

/* The most rua URIs kept, and their joined length. */
#define TLSRPT_RUA_MAX 512

/* One TXT record (its strings joined): true for a valid "v=TLSRPTv1;
 * rua=..." record, rua then holding its mailto: and https: URIs joined by
 * ","; false for anything else. */
bool tlsrpt_txt_parse(const char *text, char rua[TLSRPT_RUA_MAX]);

struct tlsrpt_event {
    const char *policy_type;   /* "tlsa", "sts" or "no-policy-found" */
    const char *const *policy; /* the policy-string lines (TLSA records, STS policy) */
    size_t npolicy;
    const char *const *mx; /* sts: the policy's mx patterns */
    size_t nmx;
    const char *result;  /* "success" or an RFC 8460 4.3 result type */
    const char *mx_host; /* receiving-mx-hostname, or NULL */
    const char *ip;      /* receiving-ip, or NULL */
    const char *rua;     /* the domain's reporting URIs as last seen, or NULL */
};

/* The event as one line of JSON (malloc'd, no newline). */
char *tlsrpt_event_json(const struct tlsrpt_event *e);

/* Is result one RFC 8460 4.3 names (or "success")? */
bool tlsrpt_result_known(const char *result);

#endif
