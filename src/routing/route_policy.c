/*
 * route_policy.c — builds a next hop's connection policy from the
 * configuration (see route_policy.h). Pure: reads the configuration,
 * allocates the policy's own strings, nothing else.
 */
#include "routing/route_policy.h"
#include "lib/util.h"
#include "net/iprange.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

/* LMTP servers are local and have no connector: fixed, generous. */
#define LMTP_TIMEOUT 600

static int
policy_fail(struct route_policy *p, enum route_policy_status st, const char *why)
{
    p->status = st;
    p->error = xstrdup(why);
    return -1;
}

static void
policy_set_hosts(struct route_policy *p, enum route_dest dest, const char *host)
{
    p->dest = dest;
    p->hosts = xcalloc(1, sizeof(char *));
    p->hosts[0] = xstrdup(host);
    p->nhosts = 1;
}

/* Digits only, 1-65535. */
static bool
port_text(const char *s, uint16_t *out)
{
    unsigned long v = 0;

    if (*s == '\0')
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > 65535)
            return false;
    }
    if (v == 0)
        return false;
    *out = (uint16_t)v;
    return true;
}

/* "/path/to/socket", "ip:port", "[v6]:port" or "host:port". */
static int
lmtp_dest(struct route_policy *p, const char *server)
{
    struct binding b;
    char err[128], ip[64];
    const char *colon;

    p->peer_name = xstrdup(server);
    if (server[0] == '/') {
        if (server[1] == '\0' || strlen(server) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            return -1;
        policy_set_hosts(p, ROUTE_DEST_UNIX, server);
        return 0;
    }
    if (binding_parse(server, &b, err, sizeof(err)) == 0) {
        struct sockaddr_storage ss;
        binding_sockaddr(&b, &ss);
        sockaddr_format_ip((struct sockaddr *)&ss, ip, sizeof(ip));
        policy_set_hosts(p, ROUTE_DEST_ADDRESS, ip);
        p->port = b.port;
        return 0;
    }
    /* a host name: no colon in it (an IPv6 address goes in brackets) */
    colon = strrchr(server, ':');
    if (colon == NULL || colon == server || (size_t)(colon - server) > 255 ||
        memchr(server, ':', (size_t)(colon - server)) != NULL || !port_text(colon + 1, &p->port))
        return -1;
    p->dest = ROUTE_DEST_HOSTS;
    p->hosts = xcalloc(1, sizeof(char *));
    p->hosts[0] = xstrndup(server, (size_t)(colon - server));
    p->nhosts = 1;
    return 0;
}

static int
lmtp_policy(const struct config *cfg, const struct route_hop *hop, struct route_policy *p)
{
    const char *server = hop->lmtp_server ? hop->lmtp_server : "";

    p->ehlo_name = xstrdup(cfg->transport.fqdn ? cfg->transport.fqdn : "postern");
    p->lmtp = true;
    p->ignore_starttls = true;
    p->timeout = LMTP_TIMEOUT;
    if (lmtp_dest(p, server) < 0) {
        char why[600];
        snprintf(why, sizeof(why), "bad LmtpServer \"%s\"", server);
        return policy_fail(p, ROUTE_POLICY_BAD_LMTP, why);
    }
    return 0;
}

/* The peer's certificate must name the partner domain (domain security) or
 * the connector's TlsDomain, else the next hop (DomainValidation). */
static void
tls_policy(const struct config *cfg, const struct route_hop *hop, const struct send_connector *sc,
           struct route_policy *p)
{
    const char *name = NULL;
    bool opportunistic;

    p->force_helo = sc->force_helo;
    p->ignore_starttls = sc->ignore_starttls;
    p->require_tls = sc->require_tls;
    p->tls_auth_level = sc->tls_auth_level;
    if (hop->domain_secure) {
        /* Domain security (docs/exchange-model.md): TLS is required, our
         * certificate is presented, and the partner's must chain to a
         * trusted root, pass revocation and name the partner domain. */
        name = hop->next_hop;
        p->require_tls = true;
        p->ignore_starttls = false;
        p->client_cert_fqdn = xstrdup(p->ehlo_name);
    } else if (sc->tls_auth_level == TLSAUTH_DOMAIN_VALIDATION) {
        name = sc->tls_domain ? sc->tls_domain : hop->next_hop;
    }
    /* DANE and MTA-STS authenticate where nothing else does */
    opportunistic =
        !hop->domain_secure && !p->ignore_starttls &&
        (sc->tls_auth_level == TLSAUTH_UNSET || sc->tls_auth_level == TLSAUTH_ENCRYPTION_ONLY);
    p->dane = cfg->transport.dane_enabled && opportunistic;
    /* the recipient domain's policy: not through smart hosts, whose
     * domain is not the recipient's */
    p->sts = cfg->transport.mta_sts_enabled && opportunistic && hop->kind == ROUTE_DNS;
    p->tlsrpt = cfg->transport.tls_reporting_enabled && opportunistic && hop->kind == ROUTE_DNS;
    if (hop->tls_not_required) {
        /* RFC 8689 4: the sender asks that the recipient's published TLS
         * policies not stop the message; the connector's own stay */
        p->dane = p->sts = false;
        /* and its sessions (TLS reports among them: RFC 8460 3) say
         * nothing about the domain's policies */
        p->tlsrpt = false;
    }
    if (hop->requiretls) {
        /* RFC 8689 4.2.1: only over TLS that DANE, MTA-STS or the
         * connector's certificate check verified (smtp_client decides) */
        p->requiretls = true;
        p->require_tls = true;
        p->ignore_starttls = false;
    }
    if (name) {
        p->tls_names = xcalloc(1, sizeof(char *));
        p->tls_names[0] = xstrdup(name);
        p->ntls_names = 1;
    }
}

static int
connector_policy(const struct config *cfg, const struct route_hop *hop, struct route_policy *p)
{
    const struct send_connector *sc =
        hop->connector ? config_find_send_connector(cfg, hop->connector) : NULL;

    if (sc == NULL) {
        char why[600];
        snprintf(why, sizeof(why), "send connector \"%s\" no longer exists",
                 hop->connector ? hop->connector : "");
        return policy_fail(p, ROUTE_POLICY_NO_CONNECTOR, why);
    }
    if (hop->kind == ROUTE_SMART_HOST && sc->nsmart_hosts == 0) {
        /* a reload turned the connector to DNS routing: this queue's mail
         * has been routed anew, and this hop no longer exists */
        char why[600];
        snprintf(why, sizeof(why), "send connector \"%s\" no longer has smart hosts", sc->name);
        return policy_fail(p, ROUTE_POLICY_NO_CONNECTOR, why);
    }
    p->connector = xstrdup(sc->name);
    p->ehlo_name = xstrdup(send_connector_fqdn(cfg, sc));
    p->port = (uint16_t)sc->port;
    p->timeout = (unsigned)sc->connection_inactivity_timeout;
    p->protocol_log = sc->protocol_logging_level == LOGGING_VERBOSE;
    p->downgrade_auth_failures = (sc->error_policies & ERRPOL_DOWNGRADE_AUTH_FAILURES) != 0;
    p->downgrade_dns_failures = (sc->error_policies & ERRPOL_DOWNGRADE_DNS_FAILURES) != 0;
    tls_policy(cfg, hop, sc, p);
    /* credential_user stays when the password is redacted (config.h): the
     * policy needs only the user; the password comes at connect time */
    if ((sc->smart_host_auth_mechanism == SHAUTH_BASIC_AUTH ||
         sc->smart_host_auth_mechanism == SHAUTH_BASIC_AUTH_REQUIRE_TLS) &&
        sc->credential_user) {
        p->auth = sc->smart_host_auth_mechanism == SHAUTH_BASIC_AUTH_REQUIRE_TLS
                      ? ROUTE_AUTH_BASIC_REQUIRE_TLS
                      : ROUTE_AUTH_BASIC;
        p->auth_user = xstrdup(sc->credential_user);
    }
    if (hop->kind == ROUTE_SMART_HOST) {
        p->dest = ROUTE_DEST_HOSTS;
        p->nhosts = sc->nsmart_hosts;
        p->hosts = xcalloc(p->nhosts, sizeof(char *));
        for (size_t i = 0; i < p->nhosts; i++)
            p->hosts[i] = xstrdup(sc->smart_hosts[i]);
    } else {
        policy_set_hosts(p, ROUTE_DEST_MX, hop->next_hop);
    }
    return 0;
}

int
route_policy(const struct config *cfg, const struct route_hop *hop, struct route_policy *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = hop->kind;
    out->next_hop = xstrdup(hop->next_hop ? hop->next_hop : "");
    switch (hop->kind) {
    case ROUTE_LMTP:
        return lmtp_policy(cfg, hop, out);
    case ROUTE_DNS:
    case ROUTE_SMART_HOST:
        return connector_policy(cfg, hop, out);
    default:
        return policy_fail(out, ROUTE_POLICY_NOT_REMOTE, "not a next hop to connect to");
    }
}

static void
strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static char **
strv_copy(char *const *v, size_t n)
{
    char **copy = n ? xcalloc(n, sizeof(char *)) : NULL;

    for (size_t i = 0; i < n; i++)
        copy[i] = xstrdup(v[i]);
    return copy;
}

static char *
str_copy(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void
route_policy_free(struct route_policy *p)
{
    free(p->error);
    free(p->next_hop);
    free(p->connector);
    strv_free(p->hosts, p->nhosts);
    free(p->peer_name);
    free(p->ehlo_name);
    strv_free(p->tls_names, p->ntls_names);
    free(p->client_cert_fqdn);
    free(p->auth_user);
    if (p->sts_cached != NULL) {
        mtasts_policy_free(p->sts_cached);
        free(p->sts_cached);
    }
    memset(p, 0, sizeof(*p));
}

void
route_policy_copy(struct route_policy *dst, const struct route_policy *src)
{
    *dst = *src;
    dst->error = str_copy(src->error);
    dst->next_hop = str_copy(src->next_hop);
    dst->connector = str_copy(src->connector);
    dst->hosts = strv_copy(src->hosts, src->nhosts);
    dst->peer_name = str_copy(src->peer_name);
    dst->ehlo_name = str_copy(src->ehlo_name);
    dst->tls_names = strv_copy(src->tls_names, src->ntls_names);
    dst->client_cert_fqdn = str_copy(src->client_cert_fqdn);
    dst->auth_user = str_copy(src->auth_user);
    if (src->sts_cached != NULL) {
        dst->sts_cached = xcalloc(1, sizeof(*dst->sts_cached));
        mtasts_policy_copy(dst->sts_cached, src->sts_cached);
    }
}

int
route_policy_password(const struct config *cfg, const char *connector, const char *user, char *out,
                      size_t outlen, char *why, size_t whylen)
{
    const struct send_connector *sc = config_find_send_connector(cfg, connector);
    const char *cred, *colon;
    size_t ulen;

    if (sc == NULL) {
        errorf(why, whylen, "send connector \"%s\" no longer exists", connector);
        return -1;
    }
    if ((cred = sc->authentication_credential) == NULL) {
        errorf(why, whylen, "send connector \"%s\" has no AuthenticationCredential", connector);
        return -1;
    }
    colon = strchr(cred, ':');
    ulen = colon ? (size_t)(colon - cred) : strlen(cred);
    if (strlen(user) != ulen || strncmp(cred, user, ulen) != 0) {
        errorf(why, whylen, "the credential of send connector \"%s\" changed", connector);
        return -1;
    }
    if (strlcpy_p(out, colon ? colon + 1 : "", outlen) >= outlen) {
        explicit_bzero(out, outlen);
        errorf(why, whylen, "the password of send connector \"%s\" is too long", connector);
        return -1;
    }
    return 0;
}
