/*
 * outbound.c — one outbound connection (see outbound.h):
 *
 *   [credential] → resolve (MX, hosts one by one, or a literal target)
 *     → for each address: [its host's TLSA records, once] → smtp_client
 *       until one is ready
 *     → ready ⇄ transactions → QUIT → finished
 *
 * A failure before the connection is ready moves on to the next address,
 * except a permanent one (null MX, no such domain, refused credentials),
 * which ends the connection at once so that the scheduler fails the
 * hop's mail. finished is always delivered from the loop (a deferred
 * event), so no call into this file ever calls back into its caller.
 *
 * DANE (RFC 7672): where the policy allows it, a host whose name (and the
 * MX answer that named it) and addresses are DNSSEC-secure has its TLSA
 * records looked up before its first address is tried. Secure records make
 * TLS mandatory for that host and checked by them; a bogus or failed
 * lookup makes the host unreachable for this attempt. Neither ever falls
 * back to clear text or to another host's weaker policy.
 */
#include "outbound/outbound.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/dns.h"
#include "net/iprange.h"
#include "lib/metrics_catalog.h"
#include "outbound/mtasts_fetch.h"
#include "outbound/outbound_metrics.h"
#include "routing/tlsrpt.h"
#include "tls/tls.h"
#include "tls/tls_dane.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

struct target {
    struct sockaddr_storage ss;
    size_t host; /* in outbound.hosts */
};

/* What DANE says of one host (RFC 7672 2.2), found out before its first
 * address is tried. */
enum dane_state {
    DANE_NOT_APPLICABLE, /* insecure DNS, no TLSA records, or DANE off */
    DANE_TO_LOOK_UP,     /* secure name and addresses: TLSA to be asked */
    DANE_RECORDS,        /* a secure TLSA RRset: TLS required and checked */
    DANE_LOOKUP_FAILED,  /* bogus or failed TLSA lookup: not tried */
};

struct host {
    char *name;       /* as the MX record or the connector names it */
    char *canon;      /* CNAME-expanded name of its addresses, or NULL */
    bool sts_enforce; /* an MTA-STS policy in enforce mode names it */
    bool sts_testing; /* a testing-mode policy applies: checked, reported, not enforced */
    bool sts_listed;  /* the policy's mx patterns name it */
    enum dane_state dane;
    struct dns_tlsa *tlsa; /* DANE_RECORDS */
    size_t ntlsa;
    size_t nusable; /* of tlsa, usable for SMTP (tls_tlsa_usable) */
    char *names[3]; /* reference identifiers: TLSA base domain, name, canon */
    size_t nnames;
    char *error; /* DANE_LOOKUP_FAILED: why */
};

struct outbound {
    const struct outbound_env *env;
    struct route_policy p;
    struct outbound_events ev;
    void *arg;
    struct smtp_client_policy cp;
    char tls_fallback_reason[256]; /* the handshake failure before a clear-text retry */
    /* REQUIRETLS: how many peers refused it, and how many failed otherwise */
    unsigned requiretls_refused, other_failures;
    /* 1 + the index in targets of the address to try again in clear text
     * after its handshake failed (RFC 7435); 0: none */
    size_t cleartext_target;
    char *password;
    bool want_password; /* a credential request is out */
    struct dns_query *dq;
    struct mtasts_fetch *sts_fetch;
    struct dns_query *rua_q;  /* _smtp._tls of the recipient domain (TLS reporting) */
    char rua[TLSRPT_RUA_MAX]; /* its reporting addresses, once known */
    bool rua_asked;
    char tls_summary[160];    /* outbound_tls, set when ready */
    struct mtasts_policy sts; /* the recipient domain's, when sts_mode is not NONE */
    char sts_required_by[400];
    size_t next_host;
    struct host *hosts;
    size_t nhosts;
    struct target *targets;
    size_t ntargets, next_target;
    struct smtp_client *client;
    struct event *finish; /* delivers finished from the loop */
    struct outbound_end end;
};

static void connect_next(struct outbound *o);

/* For a probe: what a lookup found, or why it found nothing. */
static void
trace_resolved(struct outbound *o, const struct dns_result *res)
{
    const struct smtp_client_trace *t = o->env->trace;
    char text[1024];

    if (t == NULL || t->line == NULL)
        return;
    dns_result_text(res, text, sizeof(text));
    t->line(t->arg, '*', text, res->status == DNS_OK ? "resolved" : "lookup failed");
}

static void
trace_step(struct outbound *o, enum smtp_step step, const char *detail)
{
    if (o->env->trace && o->env->trace->step)
        o->env->trace->step(o->env->trace->arg, step, detail);
}

static void
host_free(struct host *h)
{
    free(h->name);
    free(h->canon);
    for (size_t i = 0; i < h->ntlsa; i++)
        free(h->tlsa[i].data);
    free(h->tlsa);
    for (size_t i = 0; i < h->nnames; i++)
        free(h->names[i]);
    free(h->error);
}

static void
outbound_free(struct outbound *o)
{
    if (o->want_password && o->env->credential_cancel)
        o->env->credential_cancel(o->env->credential_arg, o);
    if (o->dq)
        dns_cancel(o->dq);
    mtasts_fetch_cancel(o->sts_fetch);
    dns_cancel(o->rua_q);
    mtasts_policy_free(&o->sts);
    if (o->client)
        smtp_client_abort(o->client);
    for (size_t i = 0; i < o->nhosts; i++)
        host_free(&o->hosts[i]);
    free(o->hosts);
    free(o->targets);
    tls_ctx_unref(o->cp.tls_ctx);
    if (o->password) {
        explicit_bzero(o->password, strlen(o->password));
        free(o->password);
    }
    event_free(o->finish);
    route_policy_free(&o->p);
    free(o);
}

static void
finish_cb(evutil_socket_t fd, short what, void *arg)
{
    struct outbound *o = arg;
    struct outbound_end end = o->end;

    if (!end.ever_ready && o->requiretls_refused > 0 && o->other_failures == 0) {
        /* RFC 8689 5: every host was reached and none can take the
         * message as REQUIRETLS asks: it goes back to its sender */
        char why[sizeof(end.error)];
        snprintf(why, sizeof(why), "%s", end.error);
        snprintf(end.error, sizeof(end.error), "550 5.7.30 REQUIRETLS support required: %.500s",
                 why);
        end.permanent = true;
    }

    if (!end.ever_ready && !end.permanent && end.error[0] == '\0')
        strlcpy_p(end.error, "no address to try", sizeof(end.error));
    o->ev.finished(o->arg, &end);
    outbound_free(o);
}

/* The end: every address tried, a permanent refusal, or after QUIT. */
static void
finish(struct outbound *o)
{
    event_active(o->finish, EV_TIMEOUT, 0);
}

static void fail(struct outbound *o, bool permanent, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(struct outbound *o, bool permanent, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(o->end.error, sizeof(o->end.error), fmt, ap);
    va_end(ap);
    o->end.permanent = permanent;
    finish(o);
}

/* ---- the SMTP client's events ---- */

/* ---- TLS reporting (RFC 8460): each attempt's result ---- */

/* The result of the attempt on the current target, with the policy that
 * applied to its host: DANE's records, else the MTA-STS policy, else none. */
static void
report_tls(struct outbound *o, const char *result)
{
    const struct target *t = &o->targets[o->next_target - 1];
    const struct host *h = &o->hosts[t->host];
    char **ps = NULL, ip[64] = "", *json;
    size_t nps = 0;
    struct tlsrpt_event e = {.result = result, .mx_host = h->name, .ip = ip, .rua = o->rua};

    outbound_metrics_attempt(&o->p,
                             h->dane == DANE_RECORDS      ? "tlsa"
                             : o->sts.mode != MTASTS_NONE ? "sts"
                                                          : "no-policy-found",
                             result);
    if (!o->p.tlsrpt || o->ev.tls_result == NULL || result == NULL)
        return;
    /* testing mode delivers to hosts its policy leaves out; the report
     * says what enforce would have done */
    if (h->sts_testing && !h->sts_listed && h->dane != DANE_RECORDS &&
        strcmp(result, "success") == 0)
        e.result = "validation-failure";
    sockaddr_format_ip((const struct sockaddr *)&t->ss, ip, sizeof(ip));
    if (h->dane == DANE_RECORDS) {
        e.policy_type = "tlsa";
        ps = xcalloc(h->ntlsa + 1, sizeof(*ps));
        for (size_t i = 0; i < h->ntlsa; i++) {
            const struct dns_tlsa *r = &h->tlsa[i];
            size_t cap = 16 + 2 * r->len, o2;
            char *hex = xmalloc(cap);

            o2 = (size_t)snprintf(hex, cap, "%u %u %u ", r->usage, r->selector, r->mtype);
            for (size_t j = 0; j < r->len && o2 + 3 <= cap; j++)
                o2 += (size_t)snprintf(hex + o2, cap - o2, "%02x", r->data[j]);
            ps[nps++] = hex;
        }
    } else if (o->sts.mode != MTASTS_NONE) {
        e.policy_type = "sts";
        ps = xcalloc(o->sts.nmx + 4, sizeof(*ps));
        ps[nps++] = xstrdup("version: STSv1");
        ps[nps++] = xasprintf("mode: %s", mtasts_mode_name(o->sts.mode));
        for (size_t i = 0; i < o->sts.nmx; i++)
            ps[nps++] = xasprintf("mx: %s", o->sts.mx[i]);
        ps[nps++] = xasprintf("max_age: %u", o->sts.max_age);
        e.mx = (const char *const *)o->sts.mx;
        e.nmx = o->sts.nmx;
    } else {
        e.policy_type = "no-policy-found";
    }
    e.policy = (const char *const *)ps;
    e.npolicy = nps;
    json = tlsrpt_event_json(&e);
    o->ev.tls_result(o->arg, json);
    free(json);
    for (size_t i = 0; i < nps; i++)
        free(ps[i]);
    free(ps);
}

/* The tracking log's account of the ready connection's protection. */
static void
note_tls(struct outbound *o, const struct smtp_client *client)
{
    const struct host *h = &o->hosts[o->targets[o->next_target - 1].host];
    const char *desc = smtp_client_tls(client), *version = "None", *policy;
    char v[32] = "";

    if (desc != NULL && strncmp(desc, "version=", 8) == 0) {
        snprintf(v, sizeof(v), "%.*s", (int)strcspn(desc + 8, " "), desc + 8);
        version = v;
    }
    policy = h->dane == DANE_RECORDS && h->nusable > 0               ? "DANE"
             : o->cp.tls_required_by != NULL                         ? "MTA-STS"
             : o->p.client_cert_fqdn != NULL                         ? "DomainSecurity"
             : o->p.tls_auth_level >= TLSAUTH_CERTIFICATE_VALIDATION ? "Connector"
             : desc != NULL                                          ? "Opportunistic"
                                                                     : "None";
    snprintf(o->tls_summary, sizeof(o->tls_summary), "TLS=%s;TlsPolicy=%s;TlsVerified=%s", version,
             policy, smtp_client_verified(client) ? "True" : "False");
}

static void
on_rua(void *arg, const struct dns_result *res)
{
    struct outbound *o = arg;
    char rua[TLSRPT_RUA_MAX];
    size_t records = 0;

    o->rua_q = NULL;
    for (size_t i = 0; res->status == DNS_OK && i < res->ntxt; i++) {
        const char *t = res->txt[i] + strspn(res->txt[i], " \t");
        if (strncmp(t, "v=TLSRPTv1", 10) != 0)
            continue;
        records++;
        if (tlsrpt_txt_parse(res->txt[i], rua))
            strlcpy_p(o->rua, rua, sizeof(o->rua));
    }
    if (records != 1)
        o->rua[0] = '\0'; /* RFC 8460 3: none, or several, is no request */
}

static void
on_ready(struct smtp_client *client, void *arg)
{
    struct outbound *o = arg;

    if (!o->end.ever_ready) {
        enum tls_outcome t = smtp_client_tls_outcome(client);
        report_tls(o, t == TLSO_SUCCESS ? "success" : tls_outcome_name(t));
        note_tls(o, client);
    }
    o->end.ever_ready = true;
    o->ev.ready(o->arg);
}

static void
on_done(struct smtp_client *client, void *arg, const struct smtp_result *results, size_t n)
{
    struct outbound *o = arg;

    o->ev.done(o->arg, results, n);
    if (smtp_client_usable(client))
        o->ev.ready(o->arg);
}

static void
on_closed(struct smtp_client *client, void *arg, const struct smtp_result *why)
{
    struct outbound *o = arg;

    o->client = NULL;
    strlcpy_p(o->end.error, why->text, sizeof(o->end.error));
    if (o->end.ever_ready) {
        finish(o);
        return;
    }
    if (why->requiretls_refused)
        o->requiretls_refused++;
    else
        o->other_failures++;
    report_tls(o,
               why->tls_outcome == TLSO_SUCCESS ? "success" : tls_outcome_name(why->tls_outcome));
    if (!why->temporary) {
        o->end.permanent = true;
        finish(o);
        return;
    }
    /* Opportunistic TLS (RFC 7435): a peer whose TLS handshake fails gets
     * the same attempt again in clear text, as Postfix does at its "may"
     * level. Never where TLS is required (RequireTLS, domain security). */
    if (why->tls_failed && !o->cp.require_tls && !o->cp.dane_required && !o->cp.ignore_starttls) {
        log_info("queue: %s: %s; trying again without TLS", o->p.next_hop, why->text);
        strlcpy_p(o->tls_fallback_reason, why->text, sizeof(o->tls_fallback_reason));
        o->cleartext_target = o->next_target; /* this address again, in clear */
        o->next_target--;
        connect_next(o);
        return;
    }
    log_info("queue: %s: %s", o->p.next_hop, why->text);
    connect_next(o);
}

static const struct smtp_client_callbacks client_callbacks = {on_ready, on_done, on_closed};

/* ---- addresses ---- */

static void lookup_tlsa(struct outbound *o, struct host *h);
static void start_resolve(struct outbound *o);
static struct dns *resolver(struct outbound *o);

/* The TLS the next connection to h's address needs: DANE's when h has a
 * secure TLSA RRset (RFC 7672 2.2), else MTA-STS's when the recipient
 * domain's policy enforces (RFC 8461 4.2: TLS, and a certificate valid
 * for the MX host dialled), else the connector's. */
static void
client_host_policy(struct outbound *o, struct host *h, size_t target)
{
    /* DANE decides where it can authenticate; MTA-STS where it cannot
     * (RFC 8461 2: DANE first; a TLSA RRset without a usable record
     * authenticates nothing) */
    bool dane = h->dane == DANE_RECORDS;
    bool sts = !(dane && h->nusable > 0) && h->sts_enforce;
    /* RFC 8461 5: testing mode checks as enforce would, for the reports */
    bool sts_report = !(dane && h->nusable > 0) && h->sts_testing;
    bool cleartext = target + 1 == o->cleartext_target && !dane && !sts && !o->p.require_tls;

    /* only the one address whose handshake failed is tried again in clear
     * text; every other host gets STARTTLS as the policy says */
    o->cp.ignore_starttls = o->p.ignore_starttls || cleartext;
    o->cp.tls_fallback_reason = cleartext ? o->tls_fallback_reason : NULL;
    o->cp.require_tls = o->p.require_tls || sts;
    o->cp.tls_auth_level = sts ? TLSAUTH_DOMAIN_VALIDATION : o->p.tls_auth_level;
    o->cp.tls_names = sts ? (const char *const *)&h->name : (const char *const *)o->p.tls_names;
    o->cp.ntls_names = sts ? 1 : o->p.ntls_names;
    o->cp.tls_required_by = sts ? o->sts_required_by : NULL;
    o->cp.dane_required = dane;
    o->cp.dane_tlsa = h->tlsa;
    o->cp.dane_ntlsa = h->ntlsa;
    o->cp.dane_names = (const char *const *)h->names;
    o->cp.dane_nnames = h->nnames;
    o->cp.report_names = sts_report ? (const char *const *)&h->name : NULL;
    o->cp.nreport_names = sts_report ? 1 : 0;
    /* RFC 7672 8.1: SNI names the TLSA base domain */
    o->cp.sni = dane && h->nnames > 0 ? h->names[0] : NULL;
}

static void
connect_next(struct outbound *o)
{
    struct target *t;
    struct host *h;
    char addr[80];

    for (;;) {
        if (o->next_target >= o->ntargets) {
            finish(o);
            return;
        }
        t = &o->targets[o->next_target];
        h = &o->hosts[t->host];
        if (h->dane == DANE_TO_LOOK_UP) {
            lookup_tlsa(o, h);
            return;
        }
        if (h->dane != DANE_LOOKUP_FAILED)
            break;
        /* RFC 7672 2.2: a host whose TLSA records cannot be had is
         * treated as unreachable, never tried without them */
        strlcpy_p(o->end.error, h->error, sizeof(o->end.error));
        o->other_failures++;
        o->next_target++;
    }
    client_host_policy(o, h, o->next_target++);
    o->cp.peer_name = h->name;
    sockaddr_format((struct sockaddr *)&t->ss, addr, sizeof(addr));
    snprintf(o->end.relay, sizeof(o->end.relay), "%s[%s]", h->name, addr);
    o->client =
        smtp_client_new(o->env->base, (struct sockaddr *)&t->ss, &o->cp, &client_callbacks, o);
}

/* ---- DANE: each host's TLSA records ---- */

/* For a probe: what the TLSA lookup found. */
static void
trace_tlsa(struct outbound *o, const struct host *h, const struct dns_result *res)
{
    const struct smtp_client_trace *t = o->env->trace;
    char text[600];

    if (t == NULL || t->line == NULL)
        return;
    if (res->status == DNS_OK && res->secure)
        snprintf(text, sizeof(text), "%zu TLSA record(s) at %s, DNSSEC-secure: TLS required",
                 res->ntlsa, res->tlsa_base ? res->tlsa_base : h->name);
    else if (res->status == DNS_TEMPFAIL)
        snprintf(text, sizeof(text), "%s", res->error);
    else
        snprintf(text, sizeof(text), "no secure TLSA records for %s: DANE does not apply", h->name);
    t->line(t->arg, '*', text, "DANE");
}

static void
on_tlsa(void *arg, const struct dns_result *res)
{
    struct outbound *o = arg;
    struct host *h = &o->hosts[o->targets[o->next_target].host];

    o->dq = NULL;
    trace_tlsa(o, h, res);
    if (res->status == DNS_TEMPFAIL) {
        h->dane = DANE_LOOKUP_FAILED;
        h->error = xasprintf("DANE: %s", res->error);
        log_info("queue: %s: %s; %s not tried", o->p.next_hop, h->error, h->name);
    } else if (res->status == DNS_OK && res->secure) {
        h->dane = DANE_RECORDS;
        h->tlsa = xcalloc(res->ntlsa ? res->ntlsa : 1, sizeof(*h->tlsa));
        for (size_t i = 0; i < res->ntlsa; i++) {
            h->tlsa[i] = res->tlsa[i];
            h->tlsa[i].data = xmalloc(res->tlsa[i].len);
            memcpy(h->tlsa[i].data, res->tlsa[i].data, res->tlsa[i].len);
            h->nusable += tls_tlsa_usable(&res->tlsa[i]);
        }
        h->ntlsa = res->ntlsa;
        /* RFC 7672 3.2.2: a DANE-TA certificate names the TLSA base
         * domain, or the MX host as published */
        h->names[h->nnames++] = xstrdup(res->tlsa_base ? res->tlsa_base : h->name);
        h->names[h->nnames++] = xstrdup(h->name);
        if (h->canon)
            h->names[h->nnames++] = xstrdup(h->canon);
    } else {
        h->dane = DANE_NOT_APPLICABLE;
    }
    metric_inc(MET_DANE_TLSA_LOOKUPS, METRIC_L(h->dane == DANE_RECORDS         ? "secure_records"
                                               : h->dane == DANE_LOOKUP_FAILED ? "failed"
                                                                               : "not_applicable"));
    connect_next(o);
}

static void
lookup_tlsa(struct outbound *o, struct host *h)
{
    struct dns *dns = resolver(o);
    char what[400];

    if (dns == NULL)
        return;
    snprintf(what, sizeof(what), "TLSA of _%u._tcp.%s", o->p.port, h->canon ? h->canon : h->name);
    trace_step(o, SMTP_STEP_RESOLVE, what);
    o->dq = dns_resolve_tlsa(dns, h->name, h->canon, o->p.port, on_tlsa, o);
}

/* ---- addresses ---- */

/* A host to try, DANE_TO_LOOK_UP when its name and addresses were found
 * securely (trusted: the MX answer too, for MX hosts) and DANE applies. */
static size_t
add_host(struct outbound *o, const char *name, const char *canon, bool trusted)
{
    struct host *h;

    o->hosts = xrealloc(o->hosts, (o->nhosts + 1) * sizeof(*o->hosts));
    h = &o->hosts[o->nhosts];
    memset(h, 0, sizeof(*h));
    h->name = xstrdup(name);
    h->canon = canon ? xstrdup(canon) : NULL;
    h->dane = o->p.dane && trusted ? DANE_TO_LOOK_UP : DANE_NOT_APPLICABLE;
    return o->nhosts++;
}

static void
add_target(struct outbound *o, const struct sockaddr_storage *ss, size_t host)
{
    struct target *t;

    o->targets = xrealloc(o->targets, (o->ntargets + 1) * sizeof(*o->targets));
    t = &o->targets[o->ntargets++];
    t->ss = *ss;
    t->host = host;
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)&t->ss)->sin_port = htons(o->p.port);
    else if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&t->ss)->sin6_port = htons(o->p.port);
}

static void resolve_next_host(struct outbound *o);

static void
on_resolved(void *arg, const struct dns_result *res)
{
    struct outbound *o = arg;

    o->dq = NULL;
    trace_resolved(o, res);
    if (res->status == DNS_OK) {
        /* RFC 7672 2.2.1: MX hosts are TLSA base names only when the MX
         * answer is secure too; a smart host's own lookup says it all */
        bool mx_trusted = o->p.dest != ROUTE_DEST_MX || res->secure;
        bool enforce = o->sts.mode == MTASTS_ENFORCE;

        /* hosts left out for a failed lookup: a REQUIRETLS refusal from
         * the others is not the last word */
        o->other_failures += (unsigned)res->nskipped;

        for (size_t i = 0; i < res->nhosts; i++) {
            const struct dns_host *dh = &res->hosts[i];
            bool named = enforce && mtasts_mx_matches(&o->sts, dh->name);
            size_t h;

            if (enforce && !named) {
                /* RFC 8461 4.1: never to an MX host the policy leaves out */
                log_info("queue: %s: %s does not match the MTA-STS policy (id %s); not tried",
                         o->p.next_hop, dh->name, o->sts.id);
                continue;
            }
            h = add_host(o, dh->name, dh->canon, mx_trusted && dh->secure);
            o->hosts[h].sts_enforce = named;
            o->hosts[h].sts_testing = o->sts.mode == MTASTS_TESTING;
            o->hosts[h].sts_listed =
                o->sts.mode != MTASTS_NONE && mtasts_mx_matches(&o->sts, dh->name);
            for (size_t j = 0; j < dh->naddrs; j++)
                add_target(o, &dh->addrs[j], h);
        }
        if (enforce && o->nhosts == 0) {
            fail(o, false, "MTA-STS: no MX host of %s matches its policy (id %s, mx: %s%s)",
                 o->p.next_hop, o->sts.id, o->sts.nmx ? o->sts.mx[0] : "",
                 o->sts.nmx > 1 ? ", ..." : "");
            return;
        }
    } else {
        bool permanent = res->status == DNS_NULL_MX || res->status == DNS_NO_DOMAIN;
        strlcpy_p(o->end.error, res->error, sizeof(o->end.error));
        /* a mail domain that does not exist or takes no mail: its senders
         * hear so now, unless the connector downgrades DNS failures */
        if (permanent && o->p.dest == ROUTE_DEST_MX && !o->p.downgrade_dns_failures) {
            fail(o, true, "%s %s", res->status == DNS_NULL_MX ? "556 5.1.10" : "550 5.1.2",
                 res->error);
            return;
        }
    }
    if (o->p.dest == ROUTE_DEST_HOSTS && o->next_host < o->p.nhosts) {
        resolve_next_host(o);
        return;
    }
    connect_next(o);
}

static struct dns *
resolver(struct outbound *o)
{
    struct dns *dns = o->env->dns ? *o->env->dns : NULL;

    if (dns == NULL)
        fail(o, false, "no DNS resolver to look up %s", o->p.next_hop);
    return dns;
}

static void
resolve_next_host(struct outbound *o)
{
    struct dns *dns = resolver(o);

    if (dns) {
        trace_step(o, SMTP_STEP_RESOLVE, o->p.hosts[o->next_host]);
        o->dq = dns_resolve_host(dns, o->p.hosts[o->next_host++], on_resolved, o);
    }
}

/* RFC 8460 4.3.3: a policy that could not be fetched, reported without a
 * host (no connection was made for it). */
static void
report_fetch_failure(struct outbound *o)
{
    static const char *const none[] = {NULL};
    struct tlsrpt_event e = {
        .policy_type = "sts", .policy = none, .result = "sts-policy-fetch-error", .rua = o->rua};
    char *json;

    if (!o->p.tlsrpt || o->ev.tls_result == NULL)
        return;
    json = tlsrpt_event_json(&e);
    o->ev.tls_result(o->arg, json);
    free(json);
}

/* The recipient domain's MTA-STS policy is known: then its MX hosts. */
static void
on_sts(void *arg, const struct mtasts_result *r)
{
    struct outbound *o = arg;
    const struct smtp_client_trace *t = o->env->trace;

    if (t != NULL && t->line != NULL)
        t->line(t->arg, '*', r->note, "MTA-STS");
    outbound_metrics_sts(r);
    if (r->outcome == MTASTS_DEFER) {
        o->sts_fetch = NULL;
        fail(o, false, "%s", r->note);
        return;
    }
    if (r->fetch_failed || r->outcome == MTASTS_USE_FETCHED)
        log_info("queue: %s: MTA-STS: %s", o->p.next_hop, r->note);
    if (r->fetch_failed && r->outcome == MTASTS_NO_POLICY)
        report_fetch_failure(o);
    if (r->policy != NULL && r->policy->mode != MTASTS_NONE) {
        mtasts_policy_copy(&o->sts, r->policy);
        snprintf(o->sts_required_by, sizeof(o->sts_required_by), "MTA-STS policy of %s (%s)",
                 o->p.next_hop, mtasts_mode_name(o->sts.mode));
    }
    if (r->outcome == MTASTS_USE_FETCHED && o->ev.sts_policy != NULL) {
        char *text = mtasts_policy_format(r->policy);
        o->ev.sts_policy(o->arg, text);
        free(text);
    }
    /* o->sts_fetch stays set (it frees itself after this call): the
     * resolution below must not start another fetch */
    start_resolve(o);
    o->sts_fetch = NULL;
}

/* A target that needs no DNS: an IP address or a Unix socket. */
static void
literal_target(struct outbound *o)
{
    struct sockaddr_storage ss;
    const char *text = o->p.hosts[0];

    size_t h = add_host(o, o->p.peer_name ? o->p.peer_name : text, NULL, false);

    memset(&ss, 0, sizeof(ss));
    if (o->p.dest == ROUTE_DEST_UNIX) {
        struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
        sun->sun_family = AF_UNIX;
        if (strlcpy_p(sun->sun_path, text, sizeof(sun->sun_path)) < sizeof(sun->sun_path))
            add_target(o, &ss, h);
    } else if (inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        ss.ss_family = AF_INET;
        add_target(o, &ss, h);
    } else if (inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        ss.ss_family = AF_INET6;
        add_target(o, &ss, h);
    }
    if (o->ntargets == 0)
        snprintf(o->end.error, sizeof(o->end.error), "cannot connect to \"%s\"", text);
    connect_next(o);
}

static void
start_resolve(struct outbound *o)
{
    struct dns *dns;

    switch (o->p.dest) {
    case ROUTE_DEST_MX:
        /* the domain's TLS reporting request, looked up beside the rest;
         * a result before its answer goes without it */
        if (o->p.tlsrpt && !o->rua_asked && (dns = resolver(o)) != NULL) {
            char name[320];
            o->rua_asked = true;
            snprintf(name, sizeof(name), "_smtp._tls.%s", o->p.hosts[0]);
            o->rua_q = dns_resolve_txt(dns, name, on_rua, o);
        }
        if (o->p.sts && o->sts_fetch == NULL && (dns = resolver(o)) != NULL) {
            trace_step(o, SMTP_STEP_RESOLVE, "MTA-STS policy");
            o->sts_fetch = mtasts_fetch_start(o->env->base, dns, o->cp.tls_ctx, o->p.hosts[0],
                                              o->p.sts_cached, on_sts, o);
            break;
        }
        if ((dns = resolver(o)) != NULL) {
            char what[300];
            snprintf(what, sizeof(what), "MX of %s", o->p.hosts[0]);
            trace_step(o, SMTP_STEP_RESOLVE, what);
            o->dq = dns_resolve_mx(dns, o->p.hosts[0], on_resolved, o);
        }
        break;
    case ROUTE_DEST_HOSTS:
        if (o->p.nhosts == 0)
            connect_next(o);
        else
            resolve_next_host(o);
        break;
    case ROUTE_DEST_ADDRESS:
    case ROUTE_DEST_UNIX:
        literal_target(o);
        break;
    }
}

/* ---- setting up ---- */

static void
on_credential(void *arg, const char *password, const char *why)
{
    struct outbound *o = arg;

    o->want_password = false;
    if (password == NULL) {
        fail(o, false, "no credential for send connector \"%s\": %s",
             o->p.connector ? o->p.connector : "", why ? why : "unknown reason");
        return;
    }
    o->password = xstrdup(password);
    o->cp.auth_password = o->password;
    start_resolve(o);
}

/* The TLS client context of this connection, from the current store; it
 * is held (tls_ctx_ref) because the store may be replaced meanwhile. */
static void
client_tls_context(struct outbound *o)
{
    struct tls_store *store = o->env->tls ? *o->env->tls : NULL;
    const char *connector = o->p.connector ? o->p.connector : "";
    char why[512];

    if (o->p.ignore_starttls || store == NULL)
        return;
    o->cp.tls_ctx = tls_store_client_ctx(store, o->p.client_cert_fqdn, why, sizeof(why));
    if (o->cp.tls_ctx == NULL && o->p.client_cert_fqdn) {
        log_warnx("send connector \"%s\": no client certificate for %s (%s); domain "
                  "security to %s goes on without one",
                  connector, o->p.client_cert_fqdn, why, o->p.next_hop);
        o->cp.tls_ctx = tls_store_client_ctx(store, NULL, why, sizeof(why));
    }
    if (o->cp.tls_ctx == NULL)
        log_warnx("send connector \"%s\": no TLS client context: %s", connector, why);
    tls_ctx_ref(o->cp.tls_ctx);
}

static void
client_policy(struct outbound *o)
{
    const struct route_policy *p = &o->p;

    o->cp.ehlo_name = p->ehlo_name;
    o->cp.lmtp = p->lmtp;
    o->cp.force_helo = p->force_helo;
    o->cp.ignore_starttls = p->ignore_starttls;
    o->cp.require_tls = p->require_tls;
    o->cp.requiretls = p->requiretls;
    o->cp.tls_auth_level = p->tls_auth_level;
    o->cp.tls_names = (const char *const *)p->tls_names;
    o->cp.ntls_names = p->ntls_names;
    o->cp.auth = p->auth != ROUTE_AUTH_NONE;
    o->cp.auth_require_tls = p->auth == ROUTE_AUTH_BASIC_REQUIRE_TLS;
    o->cp.auth_user = p->auth_user;
    o->cp.auth_failure_temporary = p->downgrade_auth_failures;
    o->cp.timeout = p->timeout;
    o->cp.plog = p->protocol_log ? o->env->plog : NULL;
    o->cp.connector = p->connector;
    o->cp.trace = o->env->trace;
    o->cp.rset_before_quit = o->env->trace != NULL;
    client_tls_context(o);
}

struct outbound *
outbound_open(const struct outbound_env *env, const struct route_policy *p,
              const struct outbound_events *ev, void *arg)
{
    struct outbound *o = xcalloc(1, sizeof(*o));

    o->env = env;
    o->ev = *ev;
    o->arg = arg;
    route_policy_copy(&o->p, p);
    o->finish = event_new(env->base, -1, 0, finish_cb, o);
    if (p->status != ROUTE_POLICY_OK) {
        fail(o, false, "%s", p->error ? p->error : "no next hop");
        return o;
    }
    client_policy(o);
    if (o->cp.auth) {
        if (env->credential == NULL) {
            fail(o, false, "no credential source for send connector \"%s\"",
                 p->connector ? p->connector : "");
            return o;
        }
        o->want_password = true;
        env->credential(env->credential_arg, p->connector ? p->connector : "", p->auth_user,
                        on_credential, o);
        return o;
    }
    start_resolve(o);
    return o;
}

void
outbound_send(struct outbound *o, const struct envelope *env, const size_t *rcpt_index, size_t n,
              int content_fd)
{
    outbound_send_prepend(o, env, rcpt_index, n, content_fd, NULL);
}

void
outbound_send_prepend(struct outbound *o, const struct envelope *env, const size_t *rcpt_index,
                      size_t n, int content_fd, const char *prepend)
{
    struct smtp_transaction t = {.env = env,
                                 .rcpt_index = rcpt_index,
                                 .nrcpts = n,
                                 .data_fd = content_fd,
                                 .prepend = prepend};

    if (o->client == NULL) {
        /* not ready: a caller's mistake; the transaction is lost with the
         * connection, as the contract says */
        log_warnx("outbound: %s: a transaction sent while not ready", o->p.next_hop);
        if (content_fd >= 0)
            close(content_fd);
        return;
    }
    smtp_client_send(o->client, &t);
}

void
outbound_quit(struct outbound *o)
{
    if (o->client)
        smtp_client_quit(o->client);
}

void
outbound_abort(struct outbound *o)
{
    outbound_free(o);
}

const char *
outbound_relay(const struct outbound *o)
{
    return o->end.relay;
}

const char *
outbound_tls(const struct outbound *o)
{
    return o->tls_summary;
}
