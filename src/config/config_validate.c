/*
 * config_validate.c — the rules that span parameters or objects, checked
 * on every load and before every cmdlet saves (docs/exchange-model.md):
 * AuthMechanism combinations, unique names, remote ranges that share
 * a binding, send connector routing and TLS settings, accepted domains and
 * the mailboxes in them, one DKIM signing configuration per domain.
 *
 * Single values (syntax, bounds) are checked when they are parsed
 * (config_param.c); what is left here needs more than one value.
 * Must never: modify the config, or stop at a fault without naming the
 * object, the parameter and the reason.
 */
#include "config/config.h"
#include "config/config_param.h"
#include "lib/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct vctx {
    const struct config *cfg;
    struct config_fault *fault;
    char *err;
    size_t errlen;
};

static int fail(struct vctx *v, enum config_kind kind, size_t index, const char *param,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Records the fault and writes 'Object: Parameter: reason'. Returns -1. */
static int
fail(struct vctx *v, enum config_kind kind, size_t index, const char *param, const char *fmt, ...)
{
    const struct config_kind_info *k = config_kind(kind);
    char label[160], reason[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    config_object_label(k, config_object_at(v->cfg, kind, index), label, sizeof(label));
    if (v->fault != NULL) {
        v->fault->kind = kind;
        v->fault->index = index;
        v->fault->param = param ? config_param_find(k, param) : NULL;
    }
    if (v->err != NULL && v->errlen > 0) {
        if (param != NULL)
            snprintf(v->err, v->errlen, "%s: %s: %s", label, param, reason);
        else
            snprintf(v->err, v->errlen, "%s: %s", label, reason);
    }
    return -1;
}

static int
check_required(struct vctx *v)
{
    for (int kind = 0; kind < CONFIG_NKINDS; kind++) {
        const struct config_kind_info *k = config_kind(kind);
        size_t n;
        const char *objs = config_objects(v->cfg, kind, &n);
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < k->nparams; j++) {
                const struct config_param *p = &k->params[j];
                /* Only string-like parameters are ever required. */
                if ((p->flags & CPF_REQUIRED) && config_string_type(p->type) &&
                    *(char *const *)(objs + i * k->size + p->offset) == NULL)
                    return fail(v, kind, i, p->name, "a value is required");
            }
        }
    }
    return 0;
}

static int
check_unique_names(struct vctx *v)
{
    for (int kind = 0; kind < CONFIG_NKINDS; kind++) {
        const struct config_kind_info *k = config_kind(kind);
        size_t n;
        const char *objs = config_objects(v->cfg, kind, &n);
        if (k->singleton)
            continue;
        for (size_t i = 1; i < n; i++) {
            const char *a = config_object_name(k, objs + i * k->size);
            for (size_t j = 0; j < i; j++) {
                const char *b = config_object_name(k, objs + j * k->size);
                if (str_ieq(a, b))
                    return fail(v, kind, i, "Name", "the name is already used by %s \"%s\"",
                                k->name, b);
            }
        }
    }
    return 0;
}

static bool
binding_same(const struct binding *a, const struct binding *b)
{
    return a->family == b->family && a->port == b->port && memcmp(a->addr, b->addr, 16) == 0;
}

/* AuthMechanism, RequireTLS and DomainSecureEnabled (docs/exchange-model.md,
 * "Authentication mechanisms"). */
static int
check_auth(struct vctx *v, size_t i, const struct receive_connector *rc)
{
    unsigned am = rc->auth_mechanism;

    if ((am & AUTHM_BASICAUTH_REQUIRE_TLS) &&
        (am & (AUTHM_BASICAUTH | AUTHM_TLS)) != (AUTHM_BASICAUTH | AUTHM_TLS))
        return fail(v, CONFIG_RECEIVE_CONNECTOR, i, "AuthMechanism",
                    "BasicAuthRequireTLS requires BasicAuth and Tls");
    if ((am & AUTHM_EXTERNAL_AUTHORITATIVE) && !(am & AUTHM_TLS))
        return fail(v, CONFIG_RECEIVE_CONNECTOR, i, "AuthMechanism",
                    "ExternalAuthoritative requires Tls");
    if ((am & AUTHM_EXTERNAL_AUTHORITATIVE) && !(rc->permission_groups & PERM_EXCHANGE_SERVERS))
        return fail(v, CONFIG_RECEIVE_CONNECTOR, i, "AuthMechanism",
                    "ExternalAuthoritative requires PermissionGroups ExchangeServers");
    if (rc->require_tls && !(am & AUTHM_TLS))
        return fail(v, CONFIG_RECEIVE_CONNECTOR, i, "RequireTLS", "requires AuthMechanism Tls");
    if (rc->domain_secure_enabled && !(am & AUTHM_TLS))
        return fail(v, CONFIG_RECEIVE_CONNECTOR, i, "DomainSecureEnabled",
                    "requires AuthMechanism Tls");
    if (rc->domain_secure_enabled && (am & AUTHM_EXTERNAL_AUTHORITATIVE))
        return fail(v, CONFIG_RECEIVE_CONNECTOR, i, "DomainSecureEnabled",
                    "cannot be used with AuthMechanism ExternalAuthoritative");
    return 0;
}

static int
check_connector(struct vctx *v, size_t i, const struct receive_connector *rc)
{
    if (check_auth(v, i, rc) < 0)
        return -1;
    /* the envelopes of postern's own reports name these as their
     * connector (and DKIM signs them): no Receive connector may */
    if (str_ieq(rc->name, "DSN") || str_ieq(rc->name, "TLSRPT"))
        return fail(v, CONFIG_RECEIVE_CONNECTOR, i, "Name",
                    "\"%s\" is reserved for postern's own reports", rc->name);
    if (rc->banner != NULL && strncmp(rc->banner, "220 ", 4) != 0)
        return fail(v, CONFIG_RECEIVE_CONNECTOR, i, "Banner", "must start with \"220 \"");
    if (rc->nbindings == 0)
        return fail(v, CONFIG_RECEIVE_CONNECTOR, i, "Bindings",
                    "at least one binding (IP:port) is required");
    for (size_t x = 1; x < rc->nbindings; x++) {
        for (size_t y = 0; y < x; y++) {
            if (binding_same(&rc->bindings[x], &rc->bindings[y])) {
                char b[128];
                binding_format(&rc->bindings[x], b, sizeof(b));
                return fail(v, CONFIG_RECEIVE_CONNECTOR, i, "Bindings", "%s is listed twice", b);
            }
        }
    }
    if (rc->nremote_ip_ranges == 0)
        return fail(v, CONFIG_RECEIVE_CONNECTOR, i, "RemoteIPRanges",
                    "at least one remote IP range is required");
    if (rc->connection_timeout <= rc->connection_inactivity_timeout) {
        char a[32], b[32];
        config_timespan_format(rc->connection_timeout, a, sizeof(a));
        config_timespan_format(rc->connection_inactivity_timeout, b, sizeof(b));
        return fail(v, CONFIG_RECEIVE_CONNECTOR, i, "ConnectionTimeout",
                    "%s must be longer than ConnectionInactivityTimeout %s", a, b);
    }
    return 0;
}

/* Two enabled connectors that listen on one IP:port must split the remote
 * addresses between them: ranges disjoint, or one nested in the other so
 * that the most specific wins (docs/exchange-model.md, "Receive connectors"). */
static int
check_overlap(struct vctx *v, size_t ia, size_t ib)
{
    const struct receive_connector *a = &v->cfg->receive_connectors[ia];
    const struct receive_connector *b = &v->cfg->receive_connectors[ib];

    for (size_t x = 0; x < a->nbindings; x++) {
        for (size_t y = 0; y < b->nbindings; y++) {
            if (!binding_same(&a->bindings[x], &b->bindings[y]))
                continue;
            for (size_t r = 0; r < a->nremote_ip_ranges; r++) {
                for (size_t s = 0; s < b->nremote_ip_ranges; s++) {
                    const struct iprange *ra = &a->remote_ip_ranges[r];
                    const struct iprange *rb = &b->remote_ip_ranges[s];
                    enum iprange_relation rel = iprange_relate(rb, ra);
                    char ta[128], tb[128], bind[128];
                    if (rel != IPRANGE_OVERLAP && rel != IPRANGE_EQUAL)
                        continue;
                    iprange_format(ra, ta, sizeof(ta));
                    iprange_format(rb, tb, sizeof(tb));
                    binding_format(&a->bindings[x], bind, sizeof(bind));
                    return fail(v, CONFIG_RECEIVE_CONNECTOR, ib, "RemoteIPRanges",
                                "%s %s %s of ReceiveConnector \"%s\" on binding %s (remote "
                                "ranges that share a binding must be disjoint or nested)",
                                tb, rel == IPRANGE_EQUAL ? "equals" : "overlaps", ta, a->name,
                                bind);
                }
            }
        }
    }
    return 0;
}

static int
check_connectors(struct vctx *v)
{
    const struct config *cfg = v->cfg;

    for (size_t i = 0; i < cfg->nreceive_connectors; i++)
        if (check_connector(v, i, &cfg->receive_connectors[i]) < 0)
            return -1;
    for (size_t j = 1; j < cfg->nreceive_connectors; j++) {
        if (!cfg->receive_connectors[j].enabled)
            continue;
        for (size_t i = 0; i < j; i++)
            if (cfg->receive_connectors[i].enabled && check_overlap(v, i, j) < 0)
                return -1;
    }
    return 0;
}

/* Routing: MX lookup or smart hosts, never both (docs/exchange-model.md), and
 * smart-host authentication only where there are smart hosts. */
static int
check_send_routing(struct vctx *v, size_t i, const struct send_connector *sc)
{
    const char *mech = "None";

    if (sc->naddress_spaces == 0)
        return fail(v, CONFIG_SEND_CONNECTOR, i, "AddressSpaces",
                    "at least one address space is required (contoso.com, *.contoso.com or *)");
    if (!sc->dns_routing_enabled && sc->nsmart_hosts == 0)
        return fail(v, CONFIG_SEND_CONNECTOR, i, "SmartHosts",
                    "at least one smart host is required when DNSRoutingEnabled is False");
    if (sc->dns_routing_enabled && sc->nsmart_hosts > 0)
        return fail(v, CONFIG_SEND_CONNECTOR, i, "SmartHosts",
                    "smart hosts are used only with DNSRoutingEnabled False (set "
                    "-DNSRoutingEnabled $false, or clear SmartHosts)");
    switch (sc->smart_host_auth_mechanism) {
    case SHAUTH_NONE:
        return 0;
    case SHAUTH_BASIC_AUTH:
        mech = "BasicAuth";
        break;
    case SHAUTH_BASIC_AUTH_REQUIRE_TLS:
        mech = "BasicAuthRequireTLS";
        break;
    case SHAUTH_EXCHANGE_SERVER:
        mech = "ExchangeServer";
        break;
    case SHAUTH_EXTERNAL_AUTHORITATIVE:
        mech = "ExternalAuthoritative";
        break;
    }
    if (sc->nsmart_hosts == 0)
        return fail(v, CONFIG_SEND_CONNECTOR, i, "SmartHostAuthMechanism",
                    "%s is used only with smart hosts (DNSRoutingEnabled False and SmartHosts)",
                    mech);
    if ((sc->smart_host_auth_mechanism == SHAUTH_BASIC_AUTH ||
         sc->smart_host_auth_mechanism == SHAUTH_BASIC_AUTH_REQUIRE_TLS) &&
        sc->authentication_credential == NULL &&
        sc->credential_user == NULL) /* redacted, the user still names one */
        return fail(v, CONFIG_SEND_CONNECTOR, i, "AuthenticationCredential",
                    "required by SmartHostAuthMechanism %s (user:password)", mech);
    return 0;
}

/* STARTTLS, TLS checks and domain security (docs/exchange-model.md).
 * Unlike Exchange, domain security through smart hosts is allowed. */
static int
check_send_tls(struct vctx *v, size_t i, const struct send_connector *sc)
{
    if (sc->require_tls && sc->ignore_starttls)
        return fail(v, CONFIG_SEND_CONNECTOR, i, "IgnoreSTARTTLS",
                    "cannot be True when RequireTLS is True");
    /* Credentials that may go only over TLS would never go at all. */
    if (sc->ignore_starttls && sc->smart_host_auth_mechanism == SHAUTH_BASIC_AUTH_REQUIRE_TLS)
        return fail(v, CONFIG_SEND_CONNECTOR, i, "IgnoreSTARTTLS",
                    "cannot be True with SmartHostAuthMechanism BasicAuthRequireTLS");
    if (sc->tls_auth_level != TLSAUTH_UNSET && !sc->require_tls)
        return fail(v, CONFIG_SEND_CONNECTOR, i, "TlsAuthLevel", "requires RequireTLS True");
    if (sc->tls_auth_level == TLSAUTH_DOMAIN_VALIDATION && sc->nsmart_hosts > 0 &&
        sc->tls_domain == NULL)
        return fail(v, CONFIG_SEND_CONNECTOR, i, "TlsDomain",
                    "required for TlsAuthLevel DomainValidation with smart hosts (the name the "
                    "smart host's certificate must carry)");
    if (sc->domain_secure_enabled && sc->ignore_starttls)
        return fail(v, CONFIG_SEND_CONNECTOR, i, "DomainSecureEnabled",
                    "requires IgnoreSTARTTLS False");
    if (sc->domain_secure_enabled) {
        for (size_t a = 0; a < sc->naddress_spaces; a++)
            if (strcmp(sc->address_spaces[a].domain, "*") == 0)
                return fail(v, CONFIG_SEND_CONNECTOR, i, "DomainSecureEnabled",
                            "cannot be used with the address space * (name the partner "
                            "domains in AddressSpaces)");
    }
    return 0;
}

static int
check_send_connectors(struct vctx *v)
{
    const struct config *cfg = v->cfg;

    for (size_t i = 0; i < cfg->nsend_connectors; i++) {
        const struct send_connector *sc = &cfg->send_connectors[i];
        if (check_send_routing(v, i, sc) < 0 || check_send_tls(v, i, sc) < 0)
            return -1;
    }
    return 0;
}

static int
check_domains(struct vctx *v)
{
    const struct config *cfg = v->cfg;
    size_t ndefault = 0, first_default = 0;

    for (size_t i = 0; i < cfg->naccepted_domains; i++) {
        const struct accepted_domain *ad = &cfg->accepted_domains[i];
        for (size_t j = 0; j < i; j++)
            if (str_ieq(ad->domain_name, cfg->accepted_domains[j].domain_name))
                return fail(v, CONFIG_ACCEPTED_DOMAIN, i, "DomainName",
                            "%s is already the DomainName of AcceptedDomain \"%s\"",
                            ad->domain_name, cfg->accepted_domains[j].name);
        if (ad->is_default && ndefault++ == 0)
            first_default = i;
        else if (ad->is_default)
            return fail(v, CONFIG_ACCEPTED_DOMAIN, i, "Default",
                        "AcceptedDomain \"%s\" is already the default; only one can be",
                        cfg->accepted_domains[first_default].name);
    }
    if (cfg->naccepted_domains > 0 && ndefault == 0)
        return fail(v, CONFIG_ACCEPTED_DOMAIN, 0, "Default",
                    "one accepted domain must be the default (Set-AcceptedDomain -MakeDefault)");
    return 0;
}

static int
check_mailboxes(struct vctx *v)
{
    const struct config *cfg = v->cfg;

    for (size_t i = 0; i < cfg->nmailboxes; i++) {
        const struct mailbox *mb = &cfg->mailboxes[i];
        const char *domain = strrchr(mb->primary_smtp_address, '@') + 1;
        const struct accepted_domain *ad = config_match_accepted_domain(cfg, domain);
        if (ad == NULL || ad->domain_type != DOMAIN_AUTHORITATIVE)
            return fail(v, CONFIG_MAILBOX, i, "PrimarySmtpAddress",
                        "%s is not in an Authoritative accepted domain", domain);
        for (size_t j = 0; j < i; j++)
            if (str_ieq(mb->primary_smtp_address, cfg->mailboxes[j].primary_smtp_address))
                return fail(v, CONFIG_MAILBOX, i, "PrimarySmtpAddress",
                            "%s is already the address of Mailbox \"%s\"", mb->primary_smtp_address,
                            cfg->mailboxes[j].name);
    }
    return 0;
}

/* One DkimSigningConfig per domain: two would sign the same mail with
 * different keys, and the Identity could not tell them apart. */
static int
check_dkim(struct vctx *v)
{
    const struct config *cfg = v->cfg;

    for (size_t i = 0; i < cfg->ndkim_signing_configs; i++)
        for (size_t j = 0; j < i; j++)
            if (str_ieq(cfg->dkim_signing_configs[i].domain_name,
                        cfg->dkim_signing_configs[j].domain_name))
                return fail(v, CONFIG_DKIM_SIGNING, i, "DomainName",
                            "%s already has DkimSigningConfig \"%s\"",
                            cfg->dkim_signing_configs[i].domain_name,
                            cfg->dkim_signing_configs[j].name);
    return 0;
}

/* Two sockets the daemon could not both bind: the same port and family,
 * and either a wildcard or the same address. */
static bool
bindings_collide(const struct binding *a, const struct binding *b)
{
    return a->family == b->family && a->port == b->port && (a->any || b->any || binding_same(a, b));
}

/* A metrics socket cannot take a Receive connector's or the console's
 * port. */
static int
check_metrics_bindings(struct vctx *v)
{
    const struct config *cfg = v->cfg;

    for (size_t i = 0; i < cfg->transport.nmetrics_bindings; i++) {
        const struct binding *m = &cfg->transport.metrics_bindings[i];
        const char *owner = NULL;
        char text[80], name[160];

        for (size_t c = 0; owner == NULL && c < cfg->nreceive_connectors; c++) {
            const struct receive_connector *rc = &cfg->receive_connectors[c];
            for (size_t j = 0; owner == NULL && rc->enabled && j < rc->nbindings; j++)
                if (bindings_collide(&rc->bindings[j], m)) {
                    snprintf(name, sizeof(name), "ReceiveConnector \"%s\"", rc->name);
                    owner = name;
                }
        }
        for (size_t j = 0; owner == NULL && j < cfg->transport.nconsole_bindings; j++)
            if (bindings_collide(&cfg->transport.console_bindings[j], m))
                owner = "ConsoleBindings";
        if (owner != NULL) {
            binding_format(m, text, sizeof(text));
            return fail(v, CONFIG_TRANSPORT, 0, "MetricsBindings",
                        "%s takes the port of %s; choose another port", text, owner);
        }
    }
    return 0;
}

/* A file the smtp process reads at start, from the instance directory or
 * elsewhere: an absolute path, so that it does not depend on where a
 * cmdlet ran. */
static int
check_transport(struct vctx *v)
{
    const char *anchors = v->cfg->transport.dnssec_trust_anchor_file;

    if (anchors != NULL && anchors[0] != '/')
        return fail(v, CONFIG_TRANSPORT, 0, "DnssecTrustAnchorFile",
                    "\"%s\" is not an absolute path", anchors);
    return check_metrics_bindings(v);
}

int
config_validate_fault(const struct config *cfg, struct config_fault *fault, char *err,
                      size_t errlen)
{
    struct vctx v = {cfg, fault, err, errlen};

    /* Required values first: the later checks rely on names and
     * addresses being present. */
    if (check_required(&v) < 0 || check_transport(&v) < 0 || check_unique_names(&v) < 0 ||
        check_connectors(&v) < 0 || check_send_connectors(&v) < 0 || check_domains(&v) < 0 ||
        check_mailboxes(&v) < 0 || check_dkim(&v) < 0)
        return -1;
    return 0;
}

int
config_validate(const struct config *cfg, char *err, size_t errlen)
{
    return config_validate_fault(cfg, NULL, err, errlen);
}
