/*
 * mtasts_cache.h — the MTA-STS policies fetched so far, one file per
 * recipient domain in DIR/mta-sts (the cache form of routing/mtasts.h), so
 * that they outlive restarts until their max_age runs out (RFC 8461 5).
 *
 * The queue process reads a domain's file when a connection to it starts
 * and writes one when a connection fetched a new policy; Get-MtaStsPolicy
 * reads them, Clear-MtaStsCache removes them.
 * Must never: name a file after anything but a valid domain name, or keep
 * a text that does not load as a policy.
 */
#ifndef POSTERN_MTASTS_CACHE_H
#define POSTERN_MTASTS_CACHE_H

#include <stddef.h>

#include "routing/mtasts.h"

#define MTASTS_CACHE_DIR "mta-sts"

/* The cached policy of domain (even expired: the caller decides), or NULL
 * when there is none or it does not load. Free with mtasts_cache_free. */
struct mtasts_policy *mtasts_cache_get(const char *instance_dir, const char *domain);
void mtasts_cache_free(struct mtasts_policy *p);

/* Keeps text (mtasts_policy_format's form) as domain's policy. 0, or -1
 * with err. */
int mtasts_cache_put(const char *instance_dir, const char *domain, const char *text, char *err,
                     size_t errlen);

/* The domains with a cached policy, sorted; NULL-terminated, malloc'd. */
char **mtasts_cache_domains(const char *instance_dir);

/* Removes domain's policy (NULL: every one). How many went, or -1 with err. */
int mtasts_cache_clear(const char *instance_dir, const char *domain, char *err, size_t errlen);

#endif
