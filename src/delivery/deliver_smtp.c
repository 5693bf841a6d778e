/*
 * deliver_smtp.c — the delivery manager's connections to SMTP and LMTP
 * next hops: resolve (MX, smart hosts, LMTP server), try each address in
 * order, then send the queue's messages one after another on the
 * connection that worked (connection reuse), then QUIT.
 *
 * A failure before the connection is ready moves on to the next address;
 * when every address failed the queue goes into Retry. A permanent answer
 * (null MX, no such domain, refused credentials) fails the queue's
 * messages at once, so the senders hear about it.
 */
#include "delivery/deliver_int.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/dns.h"
#include "net/iprange.h"
#include "tls/tls.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

/* LMTP servers are local and have no connector: fixed, generous. */
#define LMTP_TIMEOUT 600

struct target {
    struct sockaddr_storage ss;
    char *name;
};

struct dconn {
    struct dconn *prev, *next;
    struct deliver *d;
    struct dqueue *q;
    struct smtp_client_policy policy;
    char tls_fallback_reason[256]; /* the handshake failure before a clear-text retry */
    char *ehlo_name, *auth_user, *auth_password, *tls_name, *connector;
    const char *tls_names[1];
    uint16_t port;
    bool dns_downgrade;
    /* resolution */
    struct dns_query *dq;
    char **hosts; /* smart hosts still to resolve */
    size_t nhosts, next_host;
    struct target *targets;
    size_t ntargets, next_target;
    /* the connection */
    struct smtp_client *client;
    char relay[400];
    struct ditem *item;
    bool ready_once;
    char last_error[600];
};

static void conn_connect_next(struct dconn *c);

static void
conn_free(struct dconn *c)
{
    struct deliver *d = c->d;

    if (c->dq)
        dns_cancel(c->dq);
    if (c->prev)
        c->prev->next = c->next;
    else
        d->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->q->connections--;
    d->connections--;
    for (size_t i = 0; i < c->ntargets; i++)
        free(c->targets[i].name);
    free(c->targets);
    for (size_t i = 0; i < c->nhosts; i++)
        free(c->hosts[i]);
    free(c->hosts);
    tls_ctx_unref(c->policy.tls_ctx);
    free(c->ehlo_name);
    if (c->auth_password) {
        explicit_bzero(c->auth_password, strlen(c->auth_password));
        free(c->auth_password);
    }
    free(c->auth_user);
    free(c->tls_name);
    free(c->connector);
    free(c);
}

/* The end of a connection attempt: every address tried, or done. */
static void
conn_finish(struct dconn *c)
{
    struct deliver *d = c->d;

    if (c->item) /* cannot happen: closed() hands the item back first */
        deliver_item_failed(d, c->q, c->item, true, "connection ended", c->relay);
    if (!c->ready_once && !d->stopping)
        deliver_queue_failed(d, c->q, c->last_error[0] ? c->last_error : "no address to try");
    conn_free(c);
    deliver_kick(d);
}

/* Fails every ready item of the queue permanently (null MX, refused
 * credentials ...) so that their senders get a report now. */
static void
conn_fail_queue(struct dconn *c, const char *why)
{
    struct ditem *it;

    log_info("queue: next hop %s refused permanently: %s", c->q->next_hop, why);
    while ((it = deliver_next_item(c->d, c->q)) != NULL)
        deliver_item_failed(c->d, c->q, it, false, why, c->relay[0] ? c->relay : NULL);
    c->ready_once = true; /* not a connection failure to retry */
}

static void
conn_send_next(struct dconn *c)
{
    struct smtp_transaction t;

    c->item = deliver_next_item(c->d, c->q);
    if (c->item == NULL) {
        smtp_client_quit(c->client);
        return;
    }
    t.env = c->item->m->env;
    t.rcpt_index = c->item->rcpt;
    t.nrcpts = c->item->nrcpt;
    t.data_path = c->item->m->data_path;
    smtp_client_send(c->client, &t);
}

static void
on_ready(struct smtp_client *client, void *arg)
{
    struct dconn *c = arg;

    if (!c->ready_once)
        deliver_queue_succeeded(c->d, c->q);
    c->ready_once = true;
    conn_send_next(c);
}

static void
on_done(struct smtp_client *client, void *arg, const struct smtp_result *results, size_t n)
{
    struct dconn *c = arg;
    struct drcpt_result *res = xcalloc(n, sizeof(*res));
    struct ditem *it = c->item;

    for (size_t i = 0; i < n; i++) {
        res[i].rcpt = it->rcpt[i];
        res[i].code = results[i].code ? results[i].code : 451;
        res[i].temporary = results[i].code == 0 || results[i].temporary;
        res[i].relay = c->relay;
        strlcpy_p(res[i].text, results[i].text, sizeof(res[i].text));
    }
    c->item = NULL;
    deliver_item_done(c->d, c->q, it, res, n);
    free(res);
    if (smtp_client_usable(client))
        conn_send_next(c);
}

static void
on_closed(struct smtp_client *client, void *arg, const struct smtp_result *why)
{
    struct dconn *c = arg;

    c->client = NULL;
    snprintf(c->last_error, sizeof(c->last_error), "%s", why->text);
    if (c->item) {
        /* lost in the middle of a transaction: try again later */
        struct ditem *it = c->item;
        c->item = NULL;
        deliver_item_failed(c->d, c->q, it, true, why->text, c->relay);
    }
    if (c->ready_once || c->d->stopping) {
        conn_finish(c);
        return;
    }
    if (!why->temporary) {
        conn_fail_queue(c, why->text);
        conn_finish(c);
        return;
    }
    /* Opportunistic TLS (RFC 7435): a peer whose TLS handshake fails gets
     * the same attempt again in clear text, as Postfix does at its "may"
     * level. Never where TLS is required (RequireTLS, domain security). */
    if (why->tls_failed && !c->policy.require_tls && !c->policy.ignore_starttls) {
        log_info("queue: %s: %s; trying again without TLS", c->q->next_hop, why->text);
        strlcpy_p(c->tls_fallback_reason, why->text, sizeof(c->tls_fallback_reason));
        c->policy.tls_fallback_reason = c->tls_fallback_reason;
        c->policy.ignore_starttls = true;
        c->next_target--;
        conn_connect_next(c);
        return;
    }
    log_info("queue: %s: %s", c->q->next_hop, why->text);
    conn_connect_next(c);
}

static const struct smtp_client_callbacks conn_callbacks = {on_ready, on_done, on_closed};

static void
conn_connect_next(struct dconn *c)
{
    struct target *t;
    char addr[80];

    if (c->next_target >= c->ntargets) {
        conn_finish(c);
        return;
    }
    t = &c->targets[c->next_target++];
    c->policy.peer_name = t->name;
    sockaddr_format((struct sockaddr *)&t->ss, addr, sizeof(addr));
    snprintf(c->relay, sizeof(c->relay), "%s[%s]", t->name, addr);
    c->client =
        smtp_client_new(c->d->env.base, (struct sockaddr *)&t->ss, &c->policy, &conn_callbacks, c);
}

static void
conn_add_target(struct dconn *c, const struct sockaddr_storage *ss, const char *name)
{
    struct target *t;

    c->targets = xrealloc(c->targets, (c->ntargets + 1) * sizeof(*c->targets));
    t = &c->targets[c->ntargets++];
    t->ss = *ss;
    t->name = xstrdup(name);
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)&t->ss)->sin_port = htons(c->port);
    else if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&t->ss)->sin6_port = htons(c->port);
}

static void resolve_next_host(struct dconn *c);

static void
on_resolved(void *arg, const struct dns_result *res)
{
    struct dconn *c = arg;

    c->dq = NULL;
    if (res->status == DNS_OK) {
        for (size_t i = 0; i < res->nhosts; i++)
            for (size_t j = 0; j < res->hosts[i].naddrs; j++)
                conn_add_target(c, &res->hosts[i].addrs[j], res->hosts[i].name);
    } else {
        snprintf(c->last_error, sizeof(c->last_error), "%s", res->error);
        bool permanent = res->status == DNS_NULL_MX || res->status == DNS_NO_DOMAIN;
        if (permanent && c->q->kind == ROUTE_DNS && !c->dns_downgrade) {
            char why[600];
            snprintf(why, sizeof(why), "%s %s",
                     res->status == DNS_NULL_MX ? "556 5.1.10" : "550 5.1.2", res->error);
            conn_fail_queue(c, why);
            conn_finish(c);
            return;
        }
    }
    if (c->next_host < c->nhosts) {
        resolve_next_host(c);
        return;
    }
    conn_connect_next(c);
}

static void
resolve_next_host(struct dconn *c)
{
    c->dq = dns_resolve_host(c->d->dns, c->hosts[c->next_host++], on_resolved, c);
}

/* "host:port", "[v6]:port", "ip:port" or "/path/to/socket" */
static int
lmtp_targets(struct dconn *c, const char *server)
{
    struct sockaddr_storage ss;
    struct binding b;
    char err[128], host[256];
    const char *colon;

    memset(&ss, 0, sizeof(ss));
    if (server[0] == '/') {
        struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
        sun->sun_family = AF_UNIX;
        if (strlen(server) >= sizeof(sun->sun_path))
            return -1;
        strlcpy_p(sun->sun_path, server, sizeof(sun->sun_path));
        conn_add_target(c, &ss, server);
        return 0;
    }
    if (binding_parse(server, &b, err, sizeof(err)) == 0) {
        c->port = b.port;
        binding_sockaddr(&b, &ss);
        conn_add_target(c, &ss, server);
        return 0;
    }
    if ((colon = strrchr(server, ':')) == NULL || (size_t)(colon - server) >= sizeof(host))
        return -1;
    memcpy(host, server, (size_t)(colon - server));
    host[colon - server] = '\0';
    c->port = (uint16_t)atoi(colon + 1);
    c->hosts = xcalloc(1, sizeof(char *));
    c->hosts[0] = xstrdup(host);
    c->nhosts = 1;
    return 1;
}

void
deliver_smtp_start(struct deliver *d, struct dqueue *q)
{
    struct config *cfg = deliver_config(d);
    struct dconn *c = xcalloc(1, sizeof(*c));
    const struct send_connector *sc = NULL;
    char why[512];

    c->d = d;
    c->q = q;
    q->connections++;
    d->connections++;
    c->next = d->conns;
    if (c->next)
        c->next->prev = c;
    d->conns = c;

    if (q->kind == ROUTE_LMTP) {
        int r;
        c->ehlo_name = xstrdup(cfg->transport.fqdn ? cfg->transport.fqdn : "postern");
        c->policy.ehlo_name = c->ehlo_name;
        c->policy.lmtp = true;
        c->policy.timeout = LMTP_TIMEOUT;
        if ((r = lmtp_targets(c, q->lmtp_server)) < 0) {
            snprintf(c->last_error, sizeof(c->last_error), "bad LmtpServer \"%s\"", q->lmtp_server);
            conn_finish(c);
            return;
        }
        if (r == 0)
            conn_connect_next(c);
        else
            resolve_next_host(c);
        return;
    }

    sc = q->connector ? config_find_send_connector(cfg, q->connector) : NULL;
    if (sc == NULL) {
        snprintf(c->last_error, sizeof(c->last_error), "send connector \"%s\" no longer exists",
                 q->connector ? q->connector : "");
        conn_finish(c);
        return;
    }
    c->ehlo_name = xstrdup(send_connector_fqdn(cfg, sc));
    c->policy.ehlo_name = c->ehlo_name;
    c->policy.force_helo = sc->force_helo;
    c->policy.ignore_starttls = sc->ignore_starttls;
    c->policy.require_tls = sc->require_tls;
    c->policy.tls_auth_level = sc->tls_auth_level;
    c->policy.timeout = (unsigned)sc->connection_inactivity_timeout;
    /* the configuration may be replaced (reload) while we run: own it */
    c->connector = xstrdup(sc->name);
    c->policy.connector = c->connector;
    c->policy.plog = sc->protocol_logging_level == LOGGING_VERBOSE ? d->env.plog : NULL;
    c->policy.auth_failure_temporary = sc->error_policies & ERRPOL_DOWNGRADE_AUTH_FAILURES;
    c->dns_downgrade = sc->error_policies & ERRPOL_DOWNGRADE_DNS_FAILURES;
    c->port = (uint16_t)sc->port;
    if (q->domain_secure) {
        /* Domain security (EXCHANGE-MODEL 3.2): TLS is required, our
         * certificate is presented, and the partner's must chain to a
         * trusted root, pass revocation and name the partner domain. */
        c->tls_name = xstrdup(q->next_hop);
        c->policy.require_tls = true;
        c->policy.ignore_starttls = false;
    } else if (sc->tls_auth_level == TLSAUTH_DOMAIN_VALIDATION) {
        c->tls_name = xstrdup(sc->tls_domain ? sc->tls_domain : q->next_hop);
    }
    if (c->tls_name) {
        c->tls_names[0] = c->tls_name;
        c->policy.tls_names = c->tls_names;
        c->policy.ntls_names = 1;
    }
    if (!c->policy.ignore_starttls && *d->env.tls) {
        const char *client_cert = q->domain_secure ? c->ehlo_name : NULL;
        c->policy.tls_ctx = tls_store_client_ctx(*d->env.tls, client_cert, why, sizeof(why));
        if (c->policy.tls_ctx == NULL && client_cert) {
            log_warnx("send connector \"%s\": no client certificate for %s (%s); domain "
                      "security to %s goes on without one",
                      sc->name, client_cert, why, q->next_hop);
            c->policy.tls_ctx = tls_store_client_ctx(*d->env.tls, NULL, why, sizeof(why));
        }
        if (c->policy.tls_ctx == NULL)
            log_warnx("send connector \"%s\": no TLS client context: %s", sc->name, why);
        /* the store may be replaced (certificate reload) while we connect */
        tls_ctx_ref(c->policy.tls_ctx);
    }
    if ((sc->smart_host_auth_mechanism == SHAUTH_BASIC_AUTH ||
         sc->smart_host_auth_mechanism == SHAUTH_BASIC_AUTH_REQUIRE_TLS) &&
        sc->authentication_credential) {
        const char *colon = strchr(sc->authentication_credential, ':');
        c->auth_user = colon ? xstrndup(sc->authentication_credential,
                                        (size_t)(colon - sc->authentication_credential))
                             : xstrdup(sc->authentication_credential);
        c->auth_password = xstrdup(colon ? colon + 1 : "");
        c->policy.auth = true;
        c->policy.auth_user = c->auth_user;
        c->policy.auth_password = c->auth_password;
        c->policy.auth_require_tls = sc->smart_host_auth_mechanism == SHAUTH_BASIC_AUTH_REQUIRE_TLS;
    }
    if (q->kind == ROUTE_SMART_HOST) {
        c->nhosts = sc->nsmart_hosts;
        c->hosts = xcalloc(c->nhosts, sizeof(char *));
        for (size_t i = 0; i < c->nhosts; i++)
            c->hosts[i] = xstrdup(sc->smart_hosts[i]);
        resolve_next_host(c);
        return;
    }
    c->dq = dns_resolve_mx(d->dns, q->next_hop, on_resolved, c);
}

void
deliver_smtp_stop_all(struct deliver *d)
{
    while (d->conns) {
        struct dconn *c = d->conns;
        /* The analyzer cannot tell that c->d is d, so it misses that
         * conn_free took c off this list. */
        // NOLINTNEXTLINE(clang-analyzer-unix.Malloc): conn_free unlinks c from d->conns
        if (c->client) {
            smtp_client_abort(c->client);
            c->client = NULL;
        }
        if (c->item) {
            struct ditem *it = c->item;
            c->item = NULL;
            deliver_item_failed(d, c->q, it, true, "service stopping", c->relay);
        }
        c->ready_once = true;
        conn_free(c);
    }
}
