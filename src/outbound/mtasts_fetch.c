/*
 * mtasts_fetch.c — discovery and fetch of an MTA-STS policy (see
 * mtasts_fetch.h):
 *
 *   TXT _mta-sts.<domain> → same id as the cache, not near expiry: cached
 *                         → new id, no cache, or near expiry:
 *                             A/AAAA mta-sts.<domain> → HTTPS GET → parse
 *
 * A fetch that fails leaves a valid cached policy in force (RFC 8461 5.1);
 * without one the domain has no policy for this attempt, and the failure
 * is noted for the logs (and TLS reporting).
 */
#include "outbound/mtasts_fetch.h"
#include "lib/util.h"
#include "net/dns.h"
#include "outbound/https_get.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MTASTS_PATH "/.well-known/mta-sts.txt"
#define HTTPS_PORT 443

struct mtasts_fetch {
    struct event_base *base;
    struct dns *dns;
    struct ssl_ctx_st *ctx;
    char *domain;
    char host[300]; /* mta-sts.<domain> */
    struct mtasts_policy cached;
    bool have_cached;
    char id[MTASTS_ID_MAX + 1]; /* the TXT record's */
    mtasts_cb *cb;
    void *arg;
    struct dns_query *dq;
    struct https_get *get;
    struct mtasts_policy fetched;
};

static void
fetch_free(struct mtasts_fetch *f)
{
    dns_cancel(f->dq);
    https_get_cancel(f->get);
    mtasts_policy_free(&f->cached);
    mtasts_policy_free(&f->fetched);
    free(f->domain);
    free(f);
}

static void end(struct mtasts_fetch *f, enum mtasts_outcome outcome, bool fetch_failed,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Calls back and frees f (callbacks here always run from the loop). */
static void
end(struct mtasts_fetch *f, enum mtasts_outcome outcome, bool fetch_failed, const char *fmt, ...)
{
    struct mtasts_result r = {.outcome = outcome, .fetch_failed = fetch_failed};
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r.note, sizeof(r.note), fmt, ap);
    va_end(ap);
    r.policy = outcome == MTASTS_USE_CACHED    ? &f->cached
               : outcome == MTASTS_USE_FETCHED ? &f->fetched
                                               : NULL;
    f->dq = NULL;
    f->get = NULL;
    f->cb(f->arg, &r);
    fetch_free(f);
}

static bool
cached_valid(const struct mtasts_fetch *f)
{
    return f->have_cached && !mtasts_expired(&f->cached, time(NULL));
}

/* Refresh before expiry (RFC 8461 5.1): in the last day of its life, or
 * its last half when it lives less than two days. */
static bool
refresh_due(const struct mtasts_policy *p)
{
    time_t margin = p->max_age / 2 < 86400 ? p->max_age / 2 : 86400;

    return time(NULL) >= p->fetched + (time_t)p->max_age - margin;
}

/* A needed fetch failed: the cached policy, or none. */
static void
fetch_failed(struct mtasts_fetch *f, const char *why)
{
    if (cached_valid(f))
        end(f, MTASTS_USE_CACHED, true,
            "policy fetch failed (%s); the cached policy (id %s) applies", why, f->cached.id);
    else
        end(f, MTASTS_NO_POLICY, true, "policy fetch failed: %s", why);
}

/* RFC 8461 3.2: the media type is text/plain (parameters allowed). */
static bool
is_text_plain(const char *ctype)
{
    size_t n = strlen("text/plain");

    while (*ctype == ' ')
        ctype++;
    return strncasecmp(ctype, "text/plain", n) == 0 &&
           (ctype[n] == '\0' || ctype[n] == ';' || ctype[n] == ' ');
}

static void
on_policy(void *arg, const struct https_response *resp, const char *why)
{
    struct mtasts_fetch *f = arg;
    char reason[400];

    f->get = NULL;
    if (resp == NULL) {
        fetch_failed(f, why);
        return;
    }
    if (resp->status != 200) {
        errorf(reason, sizeof(reason), "https://%s%s answered HTTP %d%s", f->host, MTASTS_PATH,
               resp->status,
               resp->status >= 300 && resp->status < 400 ? " (redirects are not followed)" : "");
        fetch_failed(f, reason);
        return;
    }
    if (!is_text_plain(resp->content_type)) {
        errorf(reason, sizeof(reason), "https://%s%s: content type \"%.60s\", not text/plain",
               f->host, MTASTS_PATH, resp->content_type);
        fetch_failed(f, reason);
        return;
    }
    if (mtasts_policy_parse(resp->body, resp->len, &f->fetched, reason, sizeof(reason)) < 0) {
        char text[450];
        errorf(text, sizeof(text), "invalid policy at https://%s%s: %s", f->host, MTASTS_PATH,
               reason);
        fetch_failed(f, text);
        return;
    }
    strlcpy_p(f->fetched.id, f->id, sizeof(f->fetched.id));
    f->fetched.fetched = time(NULL);
    end(f, MTASTS_USE_FETCHED, false, "policy fetched (id %s, mode %s, max_age %u)", f->id,
        mtasts_mode_name(f->fetched.mode), f->fetched.max_age);
}

static void
on_policy_host(void *arg, const struct dns_result *res)
{
    struct mtasts_fetch *f = arg;
    char why[400];

    f->dq = NULL;
    if (res->status != DNS_OK || res->nhosts == 0) {
        errorf(why, sizeof(why), "%s", res->error);
        fetch_failed(f, why);
        return;
    }
    f->get = https_get_start(f->base, f->ctx, res->hosts[0].addrs, res->hosts[0].naddrs, HTTPS_PORT,
                             f->host, MTASTS_PATH, MTASTS_POLICY_MAX, MTASTS_FETCH_TIMEOUT,
                             on_policy, f);
}

static void
on_txt(void *arg, const struct dns_result *res)
{
    struct mtasts_fetch *f = arg;
    size_t valid = 0;

    f->dq = NULL;
    if (res->status == DNS_TEMPFAIL) {
        /* RFC 8461 5: a failed lookup is no proof that the policy is gone */
        if (cached_valid(f))
            end(f, MTASTS_USE_CACHED, false, "%s; the cached policy (id %s) applies", res->error,
                f->cached.id);
        else
            end(f, MTASTS_DEFER, false, "MTA-STS: %s", res->error);
        return;
    }
    for (size_t i = 0; res->status == DNS_OK && i < res->ntxt; i++) {
        char id[MTASTS_ID_MAX + 1];
        if (mtasts_txt_parse(res->txt[i], strlen(res->txt[i]), id)) {
            valid++;
            strlcpy_p(f->id, id, sizeof(f->id));
        }
    }
    if (valid != 1) {
        /* RFC 8461 3.1: none, or several, means no new policy */
        if (cached_valid(f))
            end(f, MTASTS_USE_CACHED, false,
                "no single STSv1 record at _mta-sts.%s; the cached policy (id %s) applies",
                f->domain, f->cached.id);
        else
            end(f, MTASTS_NO_POLICY, false, "no MTA-STS policy (no single STSv1 record)");
        return;
    }
    if (cached_valid(f) && strcmp(f->id, f->cached.id) == 0 && !refresh_due(&f->cached)) {
        end(f, MTASTS_USE_CACHED, false, "the cached policy (id %s) is current", f->id);
        return;
    }
    f->dq = dns_resolve_host(f->dns, f->host, on_policy_host, f);
}

struct mtasts_fetch *
mtasts_fetch_start(struct event_base *base, struct dns *dns, struct ssl_ctx_st *ctx,
                   const char *domain, const struct mtasts_policy *cached, mtasts_cb *cb, void *arg)
{
    struct mtasts_fetch *f = xcalloc(1, sizeof(*f));
    char name[320];

    f->base = base;
    f->dns = dns;
    f->ctx = ctx;
    f->domain = xstrdup(domain);
    snprintf(f->host, sizeof(f->host), "mta-sts.%s", domain);
    if (cached != NULL) {
        mtasts_policy_copy(&f->cached, cached);
        f->have_cached = true;
    }
    f->cb = cb;
    f->arg = arg;
    snprintf(name, sizeof(name), "_mta-sts.%s", domain);
    f->dq = dns_resolve_txt(dns, name, on_txt, f);
    return f;
}

void
mtasts_fetch_cancel(struct mtasts_fetch *f)
{
    if (f != NULL)
        fetch_free(f);
}
