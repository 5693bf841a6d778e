/*
 * probe_tls.c — which TLS a next hop would get, explained (Test-MailRoute):
 * the lookups delivery makes (MX and addresses with their DNSSEC status,
 * each host's TLSA records, the "_mta-sts" TXT record) made now, one after
 * another, beside the MTA-STS policy cached in DIR/mta-sts, and the verdict
 * per host in the order delivery decides: domain security or the
 * connector's own check, then DANE, then MTA-STS, else opportunistic.
 * Must never: fetch a policy (no HTTPS from a cmdlet: the cache says what
 * delivery would use), or connect to a host.
 */
#include "admin/probe.h"
#include "delivery/mtasts_cache.h"
#include "lib/util.h"
#include "net/dns.h"
#include "tls/tls_dane.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TEXT_MAX 2048

struct host_tls {
    char name[256], canon[256];
    bool secure;    /* its addresses validated */
    bool looked_up; /* TLSA asked */
    enum dns_status tlsa_status;
    bool tlsa_secure;
    size_t ntlsa, nusable;
    char tlsa_text[512]; /* the records, or why the lookup failed */
};

struct mx_answer {
    bool done;
    enum dns_status status;
    bool secure;
    char error[256];
    struct host_tls *hosts;
    size_t nhosts;
};

static void
on_hosts(void *arg, const struct dns_result *res)
{
    struct mx_answer *a = arg;

    a->status = res->status;
    a->secure = res->secure;
    snprintf(a->error, sizeof(a->error), "%s", res->error);
    a->hosts = xcalloc(res->nhosts ? res->nhosts : 1, sizeof(*a->hosts));
    for (size_t i = 0; i < res->nhosts; i++) {
        struct host_tls *h = &a->hosts[a->nhosts++];
        snprintf(h->name, sizeof(h->name), "%s", res->hosts[i].name);
        snprintf(h->canon, sizeof(h->canon), "%s", res->hosts[i].canon ? res->hosts[i].canon : "");
        h->secure = res->hosts[i].secure;
    }
    a->done = true;
}

struct tlsa_answer {
    bool done;
    struct host_tls *h;
};

static void
on_tlsa(void *arg, const struct dns_result *res)
{
    struct tlsa_answer *a = arg;
    struct host_tls *h = a->h;

    h->looked_up = true;
    h->tlsa_status = res->status;
    h->tlsa_secure = res->secure;
    if (res->status == DNS_OK && res->secure) {
        h->ntlsa = res->ntlsa;
        for (size_t i = 0; i < res->ntlsa; i++) {
            const struct dns_tlsa *t = &res->tlsa[i];
            h->nusable += tls_tlsa_usable(t);
            str_appendf(h->tlsa_text, sizeof(h->tlsa_text), "%s%u %u %u ", i ? ", " : "", t->usage,
                        t->selector, t->mtype);
            for (size_t j = 0; j < t->len && j < 6; j++)
                str_appendf(h->tlsa_text, sizeof(h->tlsa_text), "%02x", t->data[j]);
            str_appendf(h->tlsa_text, sizeof(h->tlsa_text), "%s", t->len > 6 ? "..." : "");
        }
    } else {
        snprintf(h->tlsa_text, sizeof(h->tlsa_text), "%s", res->error);
    }
    a->done = true;
}

struct txt_answer {
    bool done;
    char text[400];
};

static void
on_txt(void *arg, const struct dns_result *res)
{
    struct txt_answer *a = arg;
    char id[MTASTS_ID_MAX + 1];
    size_t valid = 0;

    for (size_t i = 0; res->status == DNS_OK && i < res->ntxt; i++)
        if (mtasts_txt_parse(res->txt[i], strlen(res->txt[i]), id)) {
            valid++;
            snprintf(a->text, sizeof(a->text), "id %s", id);
        }
    if (res->status == DNS_TEMPFAIL)
        snprintf(a->text, sizeof(a->text), "lookup failed: %s", res->error);
    else if (valid != 1)
        snprintf(a->text, sizeof(a->text), "%s", valid ? "several records (none counts)" : "none");
    a->done = true;
}

static void
utc(time_t t, char *out, size_t len)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, len, "?");
}

/* The cached policy and the published record, on one line. */
static struct mtasts_policy *
explain_mtasts(struct probe_env *env, const struct route_policy *p, const char *instance_dir,
               FILE *out)
{
    struct mtasts_policy *cached = mtasts_cache_get(instance_dir, p->hosts[0]);
    struct txt_answer txt = {0};
    char name[300], text[TEXT_MAX] = "", when[32];

    snprintf(name, sizeof(name), "_mta-sts.%s", p->hosts[0]);
    struct dns_query *q = dns_resolve_txt(probe_env_dns(env), name, on_txt, &txt);
    probe_env_wait(env, &txt.done);
    if (!txt.done)
        dns_cancel(q);
    if (cached != NULL) {
        utc(cached->fetched + (time_t)cached->max_age, when, sizeof(when));
        str_appendf(text, sizeof(text), "cached: %s (id %s, mx:", mtasts_mode_name(cached->mode),
                    cached->id);
        for (size_t i = 0; i < cached->nmx; i++)
            str_appendf(text, sizeof(text), " %s", cached->mx[i]);
        str_appendf(text, sizeof(text), ", %s %s)",
                    mtasts_expired(cached, time(NULL)) ? "expired" : "valid until", when);
    } else {
        str_appendf(text, sizeof(text), "nothing cached");
    }
    str_appendf(text, sizeof(text), "; published record: %s", txt.done ? txt.text : "no answer");
    fprintf(out, "%-18s : %s\n", "MtaSts", text);
    if (cached != NULL && mtasts_expired(cached, time(NULL))) {
        mtasts_cache_free(cached);
        cached = NULL;
    }
    return cached;
}

/* Which policy decides for h, and why. */
static void
verdict(const struct route_policy *p, const struct host_tls *h, bool mx_secure,
        const struct mtasts_policy *sts, char *buf, size_t len)
{
    if (sts != NULL && sts->mode == MTASTS_ENFORCE && !mtasts_mx_matches(sts, h->name)) {
        str_appendf(buf, len, "not tried: MTA-STS enforce does not list it");
        return;
    }
    if (h->looked_up && h->tlsa_status == DNS_TEMPFAIL) {
        str_appendf(buf, len, "not tried (DANE lookup failed: %s)", h->tlsa_text);
        return;
    }
    if (h->looked_up && h->tlsa_status == DNS_OK && h->tlsa_secure &&
        (h->nusable > 0 || sts == NULL || sts->mode != MTASTS_ENFORCE)) {
        if (h->nusable > 0)
            str_appendf(buf, len,
                        "DANE: TLS required, certificate checked by %zu TLSA record(s) (%s)",
                        h->nusable, h->tlsa_text);
        else
            str_appendf(buf, len, "DANE: TLS required, no usable TLSA record (%s)", h->tlsa_text);
        return;
    }
    if (sts != NULL && sts->mode == MTASTS_ENFORCE) {
        str_appendf(buf, len, "MTA-STS enforce: TLS required, certificate must name %s", h->name);
        return;
    }
    str_appendf(buf, len, "opportunistic (");
    if (!p->dane)
        str_appendf(buf, len, "DANE off");
    else if (!mx_secure)
        str_appendf(buf, len, "the MX answer is not DNSSEC-signed");
    else if (!h->secure)
        str_appendf(buf, len, "its addresses are not DNSSEC-signed");
    else
        str_appendf(buf, len, "no TLSA records");
    str_appendf(buf, len, "; %s)",
                !p->sts       ? "no MTA-STS for this hop"
                : sts == NULL ? "no MTA-STS policy cached"
                              : "MTA-STS testing or none");
}

void
probe_tls_explain(struct probe_env *env, const struct route_policy *p, const char *instance_dir,
                  FILE *out)
{
    struct mx_answer mx = {0};
    struct mtasts_policy *sts = NULL;
    char why[420], reason[320], text[TEXT_MAX] = "";
    struct dns_query *q;

    if (p->dest != ROUTE_DEST_MX && p->dest != ROUTE_DEST_HOSTS)
        return;
    if (!p->dane && !p->sts)
        return; /* domain security or the connector decide: Tls says how */
    q = p->dest == ROUTE_DEST_MX ? dns_resolve_mx(probe_env_dns(env), p->hosts[0], on_hosts, &mx)
                                 : NULL;
    if (q == NULL) {
        /* smart hosts: each name on its own, as delivery resolves them */
        for (size_t i = 0; i < p->nhosts; i++) {
            struct mx_answer one = {0};
            q = dns_resolve_host(probe_env_dns(env), p->hosts[i], on_hosts, &one);
            probe_env_wait(env, &one.done);
            if (!one.done) {
                dns_cancel(q);
                continue;
            }
            mx.hosts = xrealloc(mx.hosts, (mx.nhosts + one.nhosts + 1) * sizeof(*mx.hosts));
            memcpy(mx.hosts + mx.nhosts, one.hosts, one.nhosts * sizeof(*mx.hosts));
            mx.nhosts += one.nhosts;
            free(one.hosts);
        }
        mx.secure = true; /* no MX answer to trust: each host's own */
        mx.done = true;
    } else {
        probe_env_wait(env, &mx.done);
        if (!mx.done)
            dns_cancel(q);
    }
    /* the first lookup told whether validation works through the servers */
    if (!dns_validating(probe_env_dns(env), reason, sizeof(reason)))
        errorf(why, sizeof(why), "No (%s)", reason);
    else if (dns_validation_problem(probe_env_dns(env)) != NULL)
        errorf(why, sizeof(why), "Yes, but %s: signed answers fail",
               dns_validation_problem(probe_env_dns(env)));
    else
        errorf(why, sizeof(why), "Yes");
    fprintf(out, "%-18s : %s\n", "DnssecValidation", why);
    if (p->sts)
        sts = explain_mtasts(env, p, instance_dir, out);
    for (size_t i = 0; i < mx.nhosts; i++) {
        struct host_tls *h = &mx.hosts[i];
        if (p->dane && mx.secure && h->secure) {
            struct tlsa_answer a = {false, h};
            q = dns_resolve_tlsa(probe_env_dns(env), h->name, h->canon[0] ? h->canon : NULL,
                                 p->port, on_tlsa, &a);
            probe_env_wait(env, &a.done);
            if (!a.done)
                dns_cancel(q);
        }
        str_appendf(text, sizeof(text), "%s%s: ", i ? "; " : "", h->name);
        verdict(p, h, mx.secure, sts, text, sizeof(text));
    }
    if (mx.nhosts == 0)
        str_appendf(text, sizeof(text), "no host found%s%s", mx.error[0] ? ": " : "", mx.error);
    fprintf(out, "%-18s : {%s}\n", "TlsPolicy", text);
    mtasts_cache_free(sts);
    free(mx.hosts);
}
