/*
 * probe.c — see probe.h. The connection is outbound.c's own: this file
 * only gives it an environment (loop, resolver, certificates, the stored
 * credential) and a trace (smtp_client_trace) that fills a report, and
 * says QUIT when the connection becomes ready. The verdict is the step the
 * last attempt had reached when it ended.
 *
 * Must never: send a transaction, or copy the password anywhere but the
 * connection that asked for it.
 */
#include "admin/probe.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/dns.h"
#include "outbound/outbound.h"
#include "tls/tls.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct probe_env {
    struct event_base *base;
    struct dns *dns;
    struct tls_store *tls;
    const struct config *cfg;
};

/* One probe_run. */
struct probe {
    struct probe_env *env;
    const struct route_policy *p;
    struct probe_result *out;
    struct outbound *o;
    enum smtp_step step; /* before any attempt: RESOLVE once a lookup started */
    bool stepped;
    unsigned reply_lines; /* lines of the reply being read in this step */
    bool finished;
};

static const char *const step_names[] = {
    [SMTP_STEP_RESOLVE] = "Resolve",
    [SMTP_STEP_CONNECT] = "Connect",
    [SMTP_STEP_GREETING] = "Greeting",
    [SMTP_STEP_EHLO] = "EHLO",
    [SMTP_STEP_STARTTLS] = "STARTTLS",
    [SMTP_STEP_TLS] = "TLS handshake",
    [SMTP_STEP_CERTIFICATE] = "Certificate",
    [SMTP_STEP_AUTH] = "AUTH",
    [SMTP_STEP_READY] = "Ready",
};

const char *
probe_step_name(enum smtp_step step)
{
    return (size_t)step < sizeof(step_names) / sizeof(step_names[0]) && step_names[step]
               ? step_names[step]
               : "?";
}

/* Text from the peer (its greeting, replies, and the errors that quote
 * them) is printed on the administrator's terminal and read back as
 * records: control characters become '?', so that a hostile server can
 * neither drive the terminal nor forge a line. */
static void
clean(char *dst, const char *src, size_t len)
{
    size_t i = 0;

    for (; src && src[i] && i + 1 < len; i++)
        dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? '?' : src[i];
    dst[i] = '\0';
}

static struct probe_attempt *
current(struct probe *pr)
{
    return pr->out->nattempts ? &pr->out->attempts[pr->out->nattempts - 1] : NULL;
}

/* ---- the trace ---- */

static void
on_step(void *arg, enum smtp_step step, const char *detail)
{
    struct probe *pr = arg;
    struct probe_attempt *a;

    if (step == SMTP_STEP_CONNECT) {
        pr->out->attempts =
            xrealloc(pr->out->attempts, (pr->out->nattempts + 1) * sizeof(*pr->out->attempts));
        a = &pr->out->attempts[pr->out->nattempts++];
        memset(a, 0, sizeof(*a));
        clean(a->peer, detail, sizeof(a->peer));
    }
    pr->step = step;
    pr->stepped = true;
    pr->reply_lines = 0;
    if ((a = current(pr)) == NULL)
        return;
    a->step = step;
    switch (step) {
    case SMTP_STEP_EHLO:
        a->auth_offered[0] = '\0';
        break;
    case SMTP_STEP_STARTTLS:
        strlcpy_p(a->starttls,
                  pr->p->ignore_starttls ? "not sent: the connector ignores STARTTLS"
                                         : "not offered by the peer",
                  sizeof(a->starttls));
        break;
    case SMTP_STEP_AUTH:
        strlcpy_p(a->auth, "not offered by the peer (neither PLAIN nor LOGIN)", sizeof(a->auth));
        break;
    case SMTP_STEP_READY:
        a->ready = true;
        break;
    default:
        break;
    }
}

static void
append(char *buf, size_t len, const char *sep, const char *text)
{
    size_t used = strlen(buf);

    snprintf(buf + used, len - used, "%s%s", used ? sep : "", text);
}

/* A reply line from the peer, in the current step. */
static void
on_reply_line(struct probe *pr, struct probe_attempt *a, const char *line)
{
    const char *text = strlen(line) > 4 ? line + 4 : "";

    pr->reply_lines++;
    switch (pr->step) {
    case SMTP_STEP_GREETING:
        if (a->greeting[0] == '\0')
            strlcpy_p(a->greeting, line, sizeof(a->greeting));
        break;
    case SMTP_STEP_EHLO:
        /* the first line greets; each other one is a capability */
        if (pr->reply_lines == 1)
            break;
        if (a->tls_version[0])
            append(a->tls_capabilities, sizeof(a->tls_capabilities), ", ", text);
        else
            append(a->capabilities, sizeof(a->capabilities), ", ", text);
        if (strncasecmp(text, "AUTH ", 5) == 0 || strncasecmp(text, "AUTH=", 5) == 0)
            append(a->auth_offered, sizeof(a->auth_offered), " ", text + 5);
        break;
    case SMTP_STEP_STARTTLS:
        strlcpy_p(a->starttls, line, sizeof(a->starttls));
        break;
    case SMTP_STEP_AUTH:
        strlcpy_p(a->auth, line, sizeof(a->auth));
        break;
    case SMTP_STEP_READY:
        if (a->rset[0] == '\0') /* not the reply to QUIT */
            strlcpy_p(a->rset, line, sizeof(a->rset));
        break;
    default:
        break;
    }
}

static void
on_line(void *arg, char event, const char *raw_data, const char *raw_context)
{
    struct probe *pr = arg;
    struct probe_attempt *a = current(pr);
    char data_buf[1024], context_buf[1024];
    const char *data = raw_data ? data_buf : NULL, *context = raw_context ? context_buf : NULL;

    clean(data_buf, raw_data, sizeof(data_buf));
    clean(context_buf, raw_context, sizeof(context_buf));

    if (event == '*' && context && strcmp(context, "resolved") == 0)
        append(pr->out->resolved, sizeof(pr->out->resolved), ", ", data);
    else if (event == '*' && context && strcmp(context, "lookup failed") == 0)
        append(pr->out->resolved, sizeof(pr->out->resolved), "; ", data);
    if (a == NULL)
        return;
    if (event == '<' && data)
        on_reply_line(pr, a, data);
    else if (event == '>' && data && pr->step == SMTP_STEP_STARTTLS &&
             strcasecmp(data, "STARTTLS") == 0)
        strlcpy_p(a->starttls, "sent, no reply", sizeof(a->starttls));
    else if (event == '*' && context && strncmp(context, "TLS certificate check", 21) == 0) {
        strlcpy_p(a->check, strstr(context, "failed") ? "failed: " : "passed: ", sizeof(a->check));
        append(a->check, sizeof(a->check), "", data ? data : "");
    } else if (event == '-' && context && !a->ready)
        strlcpy_p(a->error, context, sizeof(a->error));
}

static void
on_tls(void *arg, struct ssl_st *ssl)
{
    struct probe *pr = arg;
    struct probe_attempt *a = current(pr);
    char host[320];
    const char *name = host;
    char why[500];
    enum tls_peer_status st;

    if (a == NULL)
        return;
    strlcpy_p(a->tls_version, tls_ssl_version(ssl), sizeof(a->tls_version));
    strlcpy_p(a->tls_cipher, tls_ssl_cipher(ssl), sizeof(a->tls_cipher));
    tls_peer_chain_text(ssl, a->chain, sizeof(a->chain));
    /* what a validating connector would say, whether or not this one
     * validates: against the trusted roots and the host dialled */
    strlcpy_p(host, a->peer, sizeof(host));
    host[strcspn(host, "[")] = '\0';
    st = tls_peer_check(ssl, &name, host[0] ? 1 : 0, why, sizeof(why));
    if (st == TLS_PEER_OK)
        strlcpy_p(a->trust, why, sizeof(a->trust));
    else
        snprintf(a->trust, sizeof(a->trust), "%s: %s", tls_peer_status_name(st), why);
}

/* ---- the connection's events ---- */

static void
ev_ready(void *arg)
{
    struct probe *pr = arg;

    /* the connection is where delivery would send a transaction: RSET,
     * QUIT (outbound_env.trace asks smtp_client for RSET first) */
    outbound_quit(pr->o);
}

static void
ev_done(void *arg, const struct smtp_result *r, size_t n)
{
    (void)arg;
    (void)r;
    (void)n;
}

static void
ev_finished(void *arg, const struct outbound_end *end)
{
    struct probe *pr = arg;
    struct probe_attempt *a = current(pr);

    pr->o = NULL;
    pr->finished = true;
    pr->out->success = end->ever_ready;
    if (!end->ever_ready) {
        clean(pr->out->error, end->error[0] ? end->error : "no address to try",
              sizeof(pr->out->error));
        if (a != NULL)
            pr->out->failed_step = probe_step_name(a->step);
        else if (pr->stepped)
            pr->out->failed_step = probe_step_name(pr->step);
        else
            pr->out->failed_step = pr->p->auth != ROUTE_AUTH_NONE ? "Credential" : "Configuration";
    }
    event_base_loopbreak(pr->env->base);
}

/* The stored password, from the configuration this command read. */
static void
credential(void *arg, const char *connector, const char *user, outbound_credential_cb *done,
           void *done_arg)
{
    struct probe_env *env = arg;
    char password[1024], why[300];

    if (route_policy_password(env->cfg, connector, user, password, sizeof(password), why,
                              sizeof(why)) < 0)
        done(done_arg, NULL, why);
    else
        done(done_arg, password, NULL);
    explicit_bzero(password, sizeof(password));
}

void
probe_run(struct probe_env *env, const struct route_policy *p, struct probe_result *out)
{
    /* a probe keeps no policy it fetched */
    static const struct outbound_events events = {ev_ready, ev_done, ev_finished, NULL, NULL};
    struct probe pr = {.env = env, .p = p, .out = out};
    struct smtp_client_trace trace = {on_step, on_line, on_tls, &pr};
    struct dns *dns = env->dns;
    struct tls_store *tls = env->tls;
    struct outbound_env oenv = {
        .base = env->base,
        .dns = &dns,
        .tls = &tls,
        .credential = credential,
        .credential_arg = env,
        .trace = &trace,
    };
    struct route_policy bounded;

    memset(out, 0, sizeof(*out));
    route_policy_copy(&bounded, p);
    if (bounded.timeout == 0 || bounded.timeout > PROBE_TIMEOUT_MAX)
        bounded.timeout = PROBE_TIMEOUT_MAX;
    pr.o = outbound_open(&oenv, &bounded, &events, &pr);
    /* finished always comes, from the loop; the bounds above end it */
    while (!pr.finished)
        if (event_base_loop(env->base, EVLOOP_ONCE) < 0)
            break;
    if (pr.o != NULL)
        outbound_abort(pr.o);
    route_policy_free(&bounded);
}

void
probe_result_free(struct probe_result *r)
{
    free(r->attempts);
    memset(r, 0, sizeof(*r));
}

/* ---- resolution only (Test-MailRoute) ---- */

struct lookup {
    struct probe_env *env;
    char *out;
    size_t outlen;
    bool done;
};

static void
on_lookup(void *arg, const struct dns_result *res)
{
    struct lookup *l = arg;
    char text[1024];

    dns_result_text(res, text, sizeof(text));
    append(l->out, l->outlen, "; ", text);
    l->done = true;
}

struct dns *
probe_env_dns(struct probe_env *env)
{
    return env->dns;
}

void
probe_env_wait(struct probe_env *env, const bool *done)
{
    while (!*done)
        if (event_base_loop(env->base, EVLOOP_ONCE) < 0)
            break;
}

void
probe_resolve(struct probe_env *env, const struct route_policy *p, char *out, size_t outlen)
{
    out[0] = '\0';
    if (p->dest != ROUTE_DEST_MX && p->dest != ROUTE_DEST_HOSTS)
        return;
    for (size_t i = 0; i < p->nhosts; i++) {
        struct lookup l = {env, out, outlen, false};
        struct dns_query *q = p->dest == ROUTE_DEST_MX
                                  ? dns_resolve_mx(env->dns, p->hosts[i], on_lookup, &l)
                                  : dns_resolve_host(env->dns, p->hosts[i], on_lookup, &l);
        /* DNS_TIMEOUT_MS bounds each lookup */
        while (!l.done)
            if (event_base_loop(env->base, EVLOOP_ONCE) < 0)
                break;
        if (!l.done)
            dns_cancel(q);
        if (p->dest == ROUTE_DEST_MX)
            break;
    }
}

/* ---- the environment ---- */

struct probe_env *
probe_env_new(const char *instance_dir, const struct config *cfg, bool tls, char *err,
              size_t errlen)
{
    const struct transport_config *tc = &cfg->transport;
    size_t n = tc->use_external_dns_servers_enabled ? tc->nexternal_dns_servers : 0;
    struct probe_env *env = xcalloc(1, sizeof(*env));
    char *certdir = xasprintf("%s/certs", instance_dir);

    env->cfg = cfg;
    if ((env->base = event_base_new()) == NULL) {
        snprintf(err, errlen, "cannot create an event loop");
        goto fail;
    }
    /* a cmdlet reads the anchors itself; without them it says so as the
     * service does (DANE off), and goes on */
    if (tc->dane_enabled && tc->dnssec_trust_anchor_file != NULL)
        (void)dns_trust_anchors_load(tc->dnssec_trust_anchor_file, err, errlen);
    if ((env->dns = dns_new(env->base, n ? tc->external_dns_servers : NULL, n, tc->dane_enabled,
                            err, errlen)) == NULL)
        goto fail;

    if (!tls) {
        free(certdir);
        return env;
    }
    if (tls_system_trust_load() < 0) {
        snprintf(err, errlen, "cannot read the system's CA certificates");
        goto fail;
    }
    /* the service's store too: delivery has no TLS without it */
    if ((env->tls = tls_store_load(certdir, err, errlen)) == NULL)
        goto fail;
    tls_store_set_profile(env->tls, tc->tls_cipher_profile);
    free(certdir);
    return env;
fail:
    free(certdir);
    probe_env_free(env);
    return NULL;
}

void
probe_env_free(struct probe_env *env)
{
    if (env == NULL)
        return;
    tls_store_free(env->tls);
    dns_free(env->dns);
    if (env->base)
        event_base_free(env->base);
    free(env);
}
