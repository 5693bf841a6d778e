/*
 * mtasts.h — MTA-STS (RFC 8461) as data: the "_mta-sts" TXT record, the
 * policy file, MX pattern matching, and a policy's cache form.
 *
 * Pure functions of their input: the fetching lives in
 * src/outbound/mtasts_fetch.c, the cache on disk in the queue process
 * (src/delivery/mtasts_cache.c).
 * Must never: accept a policy the RFC calls invalid (no version, unknown
 * mode, no mx line unless the mode is none, max_age out of range), or let a
 * "*" match more than one label.
 */
#ifndef POSTERN_MTASTS_H
#define POSTERN_MTASTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* RFC 8461 3.2: a policy is a small text file; more than this is not one. */
#define MTASTS_POLICY_MAX (64 * 1024)
/* RFC 8461 3.2: max_age is at most 31557600 seconds (about a year). */
#define MTASTS_MAX_AGE_LIMIT 31557600u
/* RFC 8461 3.1: id is 1 to 32 letters and digits. */
#define MTASTS_ID_MAX 32

enum mtasts_mode {
    MTASTS_NONE,    /* mode: none — no policy applies */
    MTASTS_TESTING, /* report failures, deliver anyway */
    MTASTS_ENFORCE, /* only matching MX hosts, only over verified TLS */
};

struct mtasts_policy {
    enum mtasts_mode mode;
    char **mx; /* patterns: "mail.example.com" or "*.example.com", lower case */
    size_t nmx;
    uint32_t max_age;           /* seconds */
    char id[MTASTS_ID_MAX + 1]; /* the TXT record's id it was fetched under */
    time_t fetched;             /* when */
};

/*
 * One TXT record of "_mta-sts.<domain>" (its strings joined): true with id
 * filled when it is a valid STSv1 record ("v=STSv1; id=...;", v first,
 * fields separated by ";", unknown fields ignored); false for any other
 * record, which the caller ignores (RFC 8461 3.1: several STSv1 records
 * mean no policy).
 */
bool mtasts_txt_parse(const char *text, size_t len, char id[MTASTS_ID_MAX + 1]);

/* Parses a policy file (RFC 8461 3.2: "key: value" lines ending in CRLF
 * or LF). 0 with out filled (id and fetched left zero), or -1 with why.
 * out must be freed with mtasts_policy_free either way. */
int mtasts_policy_parse(const char *text, size_t len, struct mtasts_policy *out, char *why,
                        size_t whylen);
void mtasts_policy_free(struct mtasts_policy *p);
void mtasts_policy_copy(struct mtasts_policy *dst, const struct mtasts_policy *src);

/* RFC 8461 4.1: does MX host name match one of the policy's patterns? A
 * "*." pattern stands for exactly one left-most label; a trailing dot on
 * host is ignored, case too. */
bool mtasts_mx_matches(const struct mtasts_policy *p, const char *host);

/* Has the policy outlived its max_age at now? */
bool mtasts_expired(const struct mtasts_policy *p, time_t now);

/* The cache form: "id: ...\nfetched: <epoch>\n" then the policy text as
 * RFC 8461 writes it (version, mode, mx lines, max_age). Malloc'd. */
char *mtasts_policy_format(const struct mtasts_policy *p);
/* Reads mtasts_policy_format's text back. 0, or -1 with why. */
int mtasts_policy_load(const char *text, size_t len, struct mtasts_policy *out, char *why,
                       size_t whylen);

const char *mtasts_mode_name(enum mtasts_mode m); /* "enforce", "testing", "none" */

#endif
