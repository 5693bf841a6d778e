/*
 * mtasts_fetch.h — the MTA-STS policy that applies to a recipient domain
 * when a connection to it starts (RFC 8461 3 and 5): its "_mta-sts" TXT
 * record, then, when the record's id is not the cached policy's or the
 * cached policy is close to expiry, the policy file over HTTPS from
 * mta-sts.<domain>, checked by the system's CAs and the imported roots.
 *
 * The cache itself belongs to the queue process (it has the disk): the
 * caller passes the cached policy in and stores a fetched one.
 * Must never: treat a DNS failure as "no policy" when that would drop a
 * policy (RFC 8461 5: no cached policy → try later; a cached one keeps
 * applying), follow a redirect, or take a policy from another name than
 * mta-sts.<domain> (never a parent zone's).
 */
#ifndef POSTERN_MTASTS_FETCH_H
#define POSTERN_MTASTS_FETCH_H

#include <stdbool.h>

#include "routing/mtasts.h"

struct event_base;
struct dns;
struct ssl_ctx_st;
struct mtasts_fetch;

enum mtasts_outcome {
    MTASTS_NO_POLICY,   /* none applies: deliver as without MTA-STS */
    MTASTS_USE_CACHED,  /* the cached policy, still valid, applies */
    MTASTS_USE_FETCHED, /* a new policy applies; the caller keeps it */
    MTASTS_DEFER,       /* the TXT lookup failed and nothing is cached */
};

struct mtasts_result {
    enum mtasts_outcome outcome;
    const struct mtasts_policy *policy; /* USE_CACHED and USE_FETCHED */
    bool fetch_failed;                  /* a fetch was needed and failed (note says why) */
    char note[512];                     /* what happened, for the logs */
};

typedef void mtasts_cb(void *arg, const struct mtasts_result *r);

/* How long a policy fetch may take, all addresses together. */
#define MTASTS_FETCH_TIMEOUT 20

/* cached may be NULL. cb runs once, from the loop, unless cancelled. */
struct mtasts_fetch *mtasts_fetch_start(struct event_base *base, struct dns *dns,
                                        struct ssl_ctx_st *ctx, const char *domain,
                                        const struct mtasts_policy *cached, mtasts_cb *cb,
                                        void *arg);
void mtasts_fetch_cancel(struct mtasts_fetch *f);

#endif
