/*
 * outbound_server.c — see outbound_server.h.
 */
#include "receive/outbound_server.h"
#include "config/config.h"
#include "lib/ipc.h"
#include "lib/ipc_buf.h"
#include "lib/log.h"
#include "lib/proc.h"
#include "lib/util.h"
#include "net/dns.h"
#include "outbound/outbound.h"
#include "queue/envelope.h"
#include "receive/dkim_signer.h"
#include "receive/rcvconn_select.h"
#include "receive/keys_client.h"
#include "receive/post_server.h"
#include "receive/server.h"
#include "tls/tls.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct out_conn {
    struct out_conn *prev, *next;
    struct outbound_server *os;
    uint32_t id;
    struct outbound *o;
    struct envelope *env; /* of the transaction in flight */
    size_t *rcpts;
    size_t nrcpts;
    bool lmtp;             /* LMTP: local delivery, never DKIM-signed */
    struct dkim_job *dkim; /* the transaction's signature being made */
    int dkim_fd;           /* its content meanwhile, or -1 */
    char *prepend;         /* its DKIM-Signature field, until done */
};

/* A credential request on its way to the keys process. */
struct cred_wait {
    struct outbound_server *os;
    struct keys_request *req;
    outbound_credential_cb *done;
    void *done_arg;
    struct cred_wait *next;
};

struct outbound_server {
    struct event_base *base;
    struct server *srv;
    struct keys_client *keys;
    struct ipc_chan *ch;
    struct out_conn *conns;
    struct dns *dns;
    char *dns_servers;    /* the list dns was made for */
    struct dns **old_dns; /* replaced, still used by connections resolving */
    size_t nold_dns;
    struct outbound_env env;
    struct cred_wait *creds;
    struct dkim_signer *dkim;
    struct post_server *posts; /* TLS reports POSTed (post_server.h) */
};

/* The DNSSEC trust anchor file read at start: the process cannot read
 * another one later. */
static char *preloaded_anchors;

int
outbound_preload(const struct config *cfg, char *err, size_t errlen)
{
    const char *anchors = cfg->transport.dnssec_trust_anchor_file;

    if (tls_system_trust_load() < 0) {
        snprintf(err, errlen, "cannot read the system's CA certificates");
        return -1;
    }
    /* without /etc/resolv.conf only ExternalDNSServers can resolve: the
     * resolver says so when it is made */
    (void)dns_system_load(NULL, err, errlen);
    /* without trust anchors nothing validates and DANE cannot apply: the
     * resolver says so when it is made, and mail still goes out */
    if (anchors != NULL) {
        (void)dns_trust_anchors_load(anchors, err, errlen);
        free(preloaded_anchors);
        preloaded_anchors = xstrdup(anchors);
    }
    err[0] = '\0';
    return 0;
}

/* The resolver cfg asks for; NULL with err. */
static struct dns *
outbound_resolver(struct outbound_server *os, const struct config *cfg, bool dnssec, char *err,
                  size_t errlen)
{
    const struct transport_config *tc = &cfg->transport;
    size_t n = tc->use_external_dns_servers_enabled ? tc->nexternal_dns_servers : 0;

    return dns_new(os->base, n ? tc->external_dns_servers : NULL, n, dnssec, err, errlen);
}

static void
outbound_use_resolver(struct outbound_server *os, struct dns *dns)
{
    if (os->dns) {
        /* connections resolving with the old one finish with it */
        // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
        os->old_dns = xrealloc(os->old_dns, (os->nold_dns + 1) * sizeof(*os->old_dns));
        os->old_dns[os->nold_dns++] = os->dns;
    }
    os->dns = dns;
}

/* Says when DANE was asked for and cannot apply (the resolver itself says
 * so when its servers turn out not to pass DNSSEC records). */
static void
outbound_dns_check(struct outbound_server *os, const struct config *cfg)
{
    const struct transport_config *tc = &cfg->transport;
    char why[400];

    if (!tc->dane_enabled)
        return;
    if (tc->dnssec_trust_anchor_file != NULL && preloaded_anchors != NULL &&
        strcmp(tc->dnssec_trust_anchor_file, preloaded_anchors) != 0)
        log_warnx("outbound: DnssecTrustAnchorFile \"%s\" takes effect when the service "
                  "restarts; \"%s\" is in use",
                  tc->dnssec_trust_anchor_file, preloaded_anchors);
    if (!dns_validating(os->dns, why, sizeof(why)))
        log_warnx("outbound: DANE is off, DNS answers are not validated: %s", why);
}

static void
conn_free(struct out_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->os->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    dkim_signer_cancel(c->dkim);
    if (c->dkim_fd >= 0)
        close(c->dkim_fd);
    free(c->prepend);
    envelope_free(c->env);
    free(c->rcpts);
    free(c);
}

static struct out_conn *
conn_find(struct outbound_server *os, uint32_t id)
{
    for (struct out_conn *c = os->conns; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

static void
ev_ready(void *arg)
{
    struct out_conn *c = arg;

    struct ipc_wbuf w = {0};

    ipc_put_str(&w, outbound_relay(c->o));
    ipc_put_str(&w, outbound_tls(c->o));
    if (c->os->ch != NULL)
        (void)ipc_send(c->os->ch, MSG_OUT_READY, c->id, -1, w.data, w.len);
    ipc_wbuf_free(&w);
}

static void
ev_done(void *arg, const struct smtp_result *r, size_t n)
{
    struct out_conn *c = arg;
    struct ipc_wbuf w = {0};

    ipc_put_u32(&w, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        ipc_put_u32(&w, (uint32_t)r[i].code);
        ipc_put_u32(&w, r[i].temporary);
        ipc_put_u32(&w, r[i].tls_failed);
        ipc_put_str(&w, r[i].text);
    }
    ipc_put_str(&w, outbound_relay(c->o));
    if (c->os->ch != NULL)
        (void)ipc_send(c->os->ch, MSG_OUT_DONE, c->id, -1, w.data, w.len);
    ipc_wbuf_free(&w);
    envelope_free(c->env);
    c->env = NULL;
    free(c->prepend);
    c->prepend = NULL;
}

static void
ev_finished(void *arg, const struct outbound_end *end)
{
    struct out_conn *c = arg;
    struct ipc_wbuf w = {0};

    ipc_put_u32(&w, end->permanent);
    ipc_put_str(&w, end->error);
    ipc_put_str(&w, end->relay);
    if (c->os->ch != NULL)
        (void)ipc_send(c->os->ch, MSG_OUT_FINISHED, c->id, -1, w.data, w.len);
    ipc_wbuf_free(&w);
    c->o = NULL; /* freed by outbound */
    conn_free(c);
}

static void
ev_sts_policy(void *arg, const char *policy)
{
    struct out_conn *c = arg;

    if (c->os->ch != NULL)
        (void)ipc_send(c->os->ch, MSG_OUT_STS, c->id, -1, policy, strlen(policy) + 1);
}

static void
ev_tls_result(void *arg, const char *json)
{
    struct out_conn *c = arg;

    if (c->os->ch != NULL)
        (void)ipc_send(c->os->ch, MSG_OUT_TLSRPT, c->id, -1, json, strlen(json) + 1);
}

static const struct outbound_events server_events = {ev_ready, ev_done, ev_finished, ev_sts_policy,
                                                     ev_tls_result};

static void
cred_answer(void *arg, const char *password, const char *why)
{
    struct cred_wait *cw = arg;
    struct outbound_server *os = cw->os;

    for (struct cred_wait **pp = &os->creds; *pp; pp = &(*pp)->next)
        if (*pp == cw) {
            *pp = cw->next;
            break;
        }
    cw->done(cw->done_arg, password, why);
    free(cw);
}

/* outbound_env.credential: the password comes from the keys process. */
static void
cred_request(void *credential_arg, const char *connector, const char *user,
             outbound_credential_cb *done, void *done_arg)
{
    struct outbound_server *os = credential_arg;
    struct cred_wait *cw = xcalloc(1, sizeof(*cw));

    cw->os = os;
    cw->done = done;
    cw->done_arg = done_arg;
    cw->next = os->creds;
    os->creds = cw;
    if ((cw->req = keys_client_credential(os->keys, connector, user, cred_answer, cw)) == NULL)
        cred_answer(cw, NULL, "the keys process is not running"); /* an answer at once is allowed */
}

static void
cred_cancel(void *credential_arg, void *done_arg)
{
    struct outbound_server *os = credential_arg;

    for (struct cred_wait **pp = &os->creds; *pp; pp = &(*pp)->next) {
        struct cred_wait *cw = *pp;
        if (cw->done_arg == done_arg) {
            *pp = cw->next;
            keys_client_cancel(os->keys, cw->req);
            free(cw);
            return;
        }
    }
}

static void
server_open(struct outbound_server *os, const struct ipc_msg *m)
{
    struct route_policy p;
    struct out_conn *c;

    if (conn_find(os, m->id) != NULL || route_policy_decode(m->data, m->len, &p) < 0) {
        log_warnx("smtp process: malformed outbound request from the queue process");
        return;
    }
    c = xcalloc(1, sizeof(*c));
    c->os = os;
    c->id = m->id;
    c->lmtp = p.lmtp;
    c->dkim_fd = -1;
    c->next = os->conns;
    if (c->next)
        c->next->prev = c;
    os->conns = c;
    c->o = outbound_open(&os->env, &p, &server_events, c);
    route_policy_free(&p);
}

/* The transaction's signature is made (field) or not (NULL): it goes. */
/*
 * Does postern answer for this message's From:? A signature says the
 * domain's owner sent it, so only mail from an authenticated sender, from
 * the organisation's own servers (a Receive connector trusted as
 * ExternalAuthoritative ExchangeServers), or made here (a report: the
 * connector names "DSN" and "TLSRPT" are reserved for those) is signed; a
 * message from the internet that a relay domain passes on keeps whatever
 * From: it forged, unsigned.
 */
static bool
dkim_vouched(const struct config *cfg, const struct envelope *env)
{
    const struct receive_connector *rc;

    if (env->auth_user != NULL)
        return true;
    if (env->connector == NULL)
        return false;
    if (strcmp(env->connector, "DSN") == 0 || strcmp(env->connector, "TLSRPT") == 0)
        return true;
    /* the organisation's own servers: the same trust as for postern's
     * X-Postern-* fields (ExternalAuthoritative with ExchangeServers) */
    rc = config_find_receive_connector(cfg, env->connector);
    return rc != NULL && (rcvconn_rights(rc, false, false) & RIGHT_ORG_HEADERS) != 0;
}

static void
dkim_done(void *arg, const char *field)
{
    struct out_conn *c = arg;
    int fd = c->dkim_fd;

    c->dkim = NULL;
    c->dkim_fd = -1;
    c->prepend = field ? xstrdup(field) : NULL;
    outbound_send_prepend(c->o, c->env, c->rcpts, c->nrcpts, fd, c->prepend);
}

static void
server_send(struct outbound_server *os, struct out_conn *c, const struct ipc_msg *m)
{
    struct ipc_rbuf r;
    const void *text;
    size_t len, n;
    char err[256];
    int fd = m->fd;

    ipc_rbuf_init(&r, m->data, m->len);
    text = ipc_get_bytes(&r, &len);
    n = ipc_get_u32(&r);
    if (!ipc_rbuf_ok(&r) || fd < 0 || c->env != NULL || c->dkim != NULL || n == 0 ||
        n > m->len / 4 || (c->env = envelope_parse(text, len, err, sizeof(err))) == NULL)
        goto bad;
    free(c->rcpts);
    c->rcpts = xcalloc(n, sizeof(*c->rcpts));
    c->nrcpts = n;
    for (size_t i = 0; i < n; i++) {
        c->rcpts[i] = ipc_get_u32(&r);
        if (c->rcpts[i] >= c->env->nrcpts)
            r.err = true;
    }
    if (!ipc_rbuf_done(&r))
        goto bad;
    /* mail that leaves through a Send connector is signed where its
     * author's domain asks for it (LMTP delivers here), and only mail
     * postern answers for */
    if (!c->lmtp && dkim_signer_wanted(os->srv->cfg) && dkim_vouched(os->srv->cfg, c->env)) {
        c->dkim_fd = fd;
        c->dkim = dkim_signer_start(os->dkim, os->srv->cfg, fd, dkim_done, c);
        return;
    }
    outbound_send(c->o, c->env, c->rcpts, n, fd);
    return;
bad:
    log_warnx("smtp process: malformed transaction from the queue process");
    if (fd >= 0)
        close(fd);
    envelope_free(c->env);
    c->env = NULL;
    /* the queue process hears the connection end */
    {
        struct outbound_end end = {0};
        snprintf(end.error, sizeof(end.error), "malformed transaction");
        outbound_abort(c->o);
        ev_finished(c, &end);
    }
}

static void
server_message(struct ipc_chan *ch, const struct ipc_msg *m, void *arg)
{
    struct outbound_server *os = arg;
    struct out_conn *c;

    if (m->type == MSG_OUT_OPEN) {
        if (m->fd >= 0)
            close(m->fd);
        server_open(os, m);
        return;
    }
    if (m->type == MSG_OUT_POST || m->type == MSG_OUT_POST_CANCEL) {
        if (m->fd >= 0)
            close(m->fd);
        post_server_message(os->posts, m);
        return;
    }
    if ((c = conn_find(os, m->id)) == NULL || c->o == NULL) {
        if (m->fd >= 0)
            close(m->fd);
        return; /* finished meanwhile */
    }
    switch (m->type) {
    case MSG_OUT_SEND:
        server_send(os, c, m);
        return;
    case MSG_OUT_QUIT:
        outbound_quit(c->o);
        break;
    case MSG_OUT_ABORT:
        outbound_abort(c->o);
        c->o = NULL;
        conn_free(c);
        break;
    default:
        log_warnx("smtp process: unexpected message %u on the outbound channel", m->type);
        break;
    }
    if (m->fd >= 0)
        close(m->fd);
}

/* Ends every connection now; the queue process hears of each while the
 * channel is there (its messages are retried). */
static void
abort_all(struct outbound_server *os, const char *why)
{
    post_server_abort_all(os->posts);
    while (os->conns) {
        struct out_conn *c = os->conns;
        struct outbound_end end = {0};
        /* the analyzer cannot tell that c->os is os, so it misses that
         * ev_finished took c off os->conns */
        // NOLINTNEXTLINE(clang-analyzer-unix.Malloc)
        if (c->o)
            outbound_abort(c->o);
        snprintf(end.error, sizeof(end.error), "%s", why);
        ev_finished(c, &end);
    }
}

static void
server_closed(struct ipc_chan *ch, const char *reason, void *arg)
{
    struct outbound_server *os = arg;

    ipc_chan_free(os->ch);
    os->ch = NULL;
    abort_all(os, reason);
}

struct outbound_server *
outbound_server_new(struct event_base *base, struct server *srv, struct keys_client *keys)
{
    struct outbound_server *os = xcalloc(1, sizeof(*os));

    os->base = base;
    os->srv = srv;
    os->keys = keys;
    os->env.base = base;
    os->env.dns = &os->dns;
    os->env.tls = &srv->tls;
    os->env.plog = srv->send_protolog;
    os->env.credential = cred_request;
    os->env.credential_cancel = cred_cancel;
    os->env.credential_arg = os;
    os->dkim = dkim_signer_new(base, keys);
    os->posts = post_server_new(&os->env, &os->ch);
    outbound_server_reconfigure(os, srv->cfg);
    return os;
}

void
outbound_server_attach(struct outbound_server *os, int fd)
{
    if (os->ch)
        server_closed(os->ch, "replaced", os);
    os->ch = ipc_chan_new(os->base, fd, server_message, server_closed, os);
}

void
outbound_server_reconfigure(struct outbound_server *os, const struct config *cfg)
{
    const struct transport_config *tc = &cfg->transport;
    size_t n = tc->use_external_dns_servers_enabled ? tc->nexternal_dns_servers : 0;
    /* what the resolver is made of: a change makes a new one (and the
     * check of the one before is moot) */
    char *key =
             tc->dane_enabled ? xasprintf("dnssec:%s;", tc->dnssec_trust_anchor_file) : xstrdup(""),
         err[256];
    struct dns *dns;

    for (size_t i = 0; i < n; i++) {
        char *k = xasprintf("%s%s,", key, tc->external_dns_servers[i]);
        free(key);
        key = k;
    }
    if (os->dns && os->dns_servers && strcmp(key, os->dns_servers) == 0) {
        free(key);
        return;
    }
    if ((dns = outbound_resolver(os, cfg, tc->dane_enabled, err, sizeof(err))) == NULL) {
        log_warnx("outbound: cannot set up DNS: %s", err);
        free(key);
        return;
    }
    outbound_use_resolver(os, dns);
    free(os->dns_servers);
    os->dns_servers = key;
    outbound_dns_check(os, cfg);
}

void
outbound_server_stop(struct outbound_server *os)
{
    abort_all(os, "service stopping");
}

void
outbound_server_free(struct outbound_server *os)
{
    if (os == NULL)
        return;
    abort_all(os, "service stopping");
    while (os->creds) {
        struct cred_wait *cw = os->creds;
        os->creds = cw->next;
        keys_client_cancel(os->keys, cw->req);
        free(cw);
    }
    dkim_signer_free(os->dkim);
    post_server_free(os->posts);
    ipc_chan_free(os->ch);
    dns_free(os->dns);
    for (size_t i = 0; i < os->nold_dns; i++)
        dns_free(os->old_dns[i]);
    free(os->old_dns);
    free(os->dns_servers);
    free(os);
}
