/*
 * route.c — see route.h.
 */
#include "routing/route.h"
#include "lib/util.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define LOCAL_QUEUE "Mailbox Delivery"
#define UNREACHABLE_QUEUE "Unreachable"

/*
 * Specificity is the number of characters matched (Exchange's "number of
 * characters that match", docs/exchange-model.md), plus one for an exact match so that
 * "contoso.com" beats "*.contoso.com" for contoso.com itself.
 */
unsigned
route_space_match(const char *space, const char *domain)
{
    size_t slen = strlen(space), dlen = strlen(domain);

    if (strcmp(space, "*") == 0)
        return 1;
    if (strncmp(space, "*.", 2) == 0) {
        const char *base = space + 2;
        size_t blen = slen - 2;
        if (dlen == blen && strcasecmp(domain, base) == 0)
            return (unsigned)blen + 1;
        if (dlen > blen && domain[dlen - blen - 1] == '.' &&
            strcasecmp(domain + dlen - blen, base) == 0)
            return (unsigned)blen + 1;
        return 0;
    }
    return strcasecmp(space, domain) == 0 ? (unsigned)slen + 2 : 0;
}

/* SourceTransportServers: empty means this server; else it must be named,
 * by its FQDN or its host name (docs/exchange-model.md, "Send connectors"). */
static bool
connector_serves_us(const struct config *cfg, const struct send_connector *sc)
{
    const char *fqdn = cfg->transport.fqdn ? cfg->transport.fqdn : "";
    size_t host = strcspn(fqdn, ".");

    if (sc->nsource_transport_servers == 0)
        return true;
    for (size_t i = 0; i < sc->nsource_transport_servers; i++) {
        const char *name = sc->source_transport_servers[i];
        if (strcasecmp(name, fqdn) == 0 ||
            (strlen(name) == host && strncasecmp(name, fqdn, host) == 0))
            return true;
    }
    return false;
}

/* Does (m, cost, name) beat the best so far? */
static bool
beats(unsigned m, unsigned cost, const char *name, const struct send_connector *best,
      unsigned best_match, unsigned best_cost)
{
    return best == NULL || m > best_match || (m == best_match && cost < best_cost) ||
           (m == best_match && cost == best_cost && strcasecmp(name, best->name) < 0);
}

const struct send_connector *
route_select_explain(const struct config *cfg, const char *domain, uint64_t size,
                     struct route_candidate *out)
{
    const struct send_connector *best = NULL;
    unsigned best_match = 0, best_cost = 0;
    size_t best_index = 0;

    for (size_t i = 0; i < cfg->nsend_connectors; i++) {
        const struct send_connector *sc = &cfg->send_connectors[i];
        struct route_candidate c = {sc, RV_NO_SPACE, NULL, 0, 0};
        if (!sc->enabled)
            c.verdict = RV_DISABLED;
        else if (!connector_serves_us(cfg, sc))
            c.verdict = RV_NOT_THIS_SERVER;
        else if (sc->max_message_size != CONFIG_UNLIMITED && size > sc->max_message_size)
            c.verdict = RV_TOO_SMALL;
        for (size_t j = 0; j < sc->naddress_spaces && c.verdict == RV_NO_SPACE; j++) {
            unsigned m = route_space_match(sc->address_spaces[j].domain, domain);
            unsigned cost = sc->address_spaces[j].cost;
            if (m == 0 || !(c.space == NULL || m > c.match || (m == c.match && cost < c.cost)))
                continue;
            c.space = &sc->address_spaces[j];
            c.match = m;
            c.cost = cost;
        }
        if (c.space != NULL) {
            c.verdict = RV_LESS_SPECIFIC; /* until it wins, below */
            if (beats(c.match, c.cost, sc->name, best, best_match, best_cost)) {
                best = sc;
                best_match = c.match;
                best_cost = c.cost;
                best_index = i;
            }
        }
        if (out != NULL)
            out[i] = c;
    }
    if (out != NULL) {
        for (size_t i = 0; i < cfg->nsend_connectors; i++) {
            struct route_candidate *c = &out[i];
            if (c->space == NULL)
                continue;
            if (i == best_index)
                c->verdict = RV_CHOSEN;
            else if (c->match < best_match)
                c->verdict = RV_LESS_SPECIFIC;
            else if (c->cost > best_cost)
                c->verdict = RV_COSTLIER;
            else
                c->verdict = RV_NAME_ORDER;
        }
    }
    return best;
}

static const struct send_connector *
select_connector(const struct config *cfg, const char *domain, uint64_t size)
{
    return route_select_explain(cfg, domain, size, NULL);
}

static bool
is_postmaster(const char *address)
{
    return strncasecmp(address, "postmaster@", 11) == 0 || strcasecmp(address, "postmaster") == 0;
}

void
route_recipient(const struct config *cfg, const char *address, const char *domain,
                uint64_t message_size, struct route *out)
{
    const struct accepted_domain *ad = domain[0] ? config_match_accepted_domain(cfg, domain) : NULL;
    const struct send_connector *sc;

    memset(out, 0, sizeof(*out));
    /* <postmaster> without a domain (RFC 5321 4.5.1) is this host's */
    if (domain[0] == '\0' && (ad = config_default_domain(cfg)) == NULL) {
        out->kind = ROUTE_NO_MAILBOX;
        return;
    }
    if (ad && ad->domain_type == DOMAIN_AUTHORITATIVE) {
        const struct mailbox *mb = config_find_mailbox_by_address(cfg, address);
        if (mb == NULL && is_postmaster(address)) {
            /* postmaster without its own mailbox: ExternalPostmasterAddress's
             * mailbox if it is local, else nowhere */
            const char *pm = cfg->transport.external_postmaster_address;
            mb = pm ? config_find_mailbox_by_address(cfg, pm) : NULL;
        }
        if (mb == NULL && !is_postmaster(address)) {
            out->kind = ROUTE_NO_MAILBOX;
            return;
        }
        /* postmaster without a mailbox of its own still gets its mail
         * (RFC 5321 4.5.1): the Maildir "postmaster" of the instance */
        out->mailbox = mb;
        out->lmtp_server = mb && mb->lmtp_server ? mb->lmtp_server : ad->lmtp_server;
        if (out->lmtp_server) {
            out->kind = ROUTE_LMTP;
            snprintf(out->next_hop, sizeof(out->next_hop), "%s", out->lmtp_server);
        } else {
            out->kind = ROUTE_MAILBOX;
            snprintf(out->next_hop, sizeof(out->next_hop), "%s", LOCAL_QUEUE);
        }
        return;
    }
    sc = select_connector(cfg, domain, message_size);
    if (sc == NULL) {
        out->kind = ROUTE_UNREACHABLE;
        snprintf(out->next_hop, sizeof(out->next_hop), "%s", UNREACHABLE_QUEUE);
        return;
    }
    route_via_connector(cfg, sc, domain, out);
}

void
route_via_connector(const struct config *cfg, const struct send_connector *sc, const char *domain,
                    struct route *out)
{
    memset(out, 0, sizeof(*out));
    out->connector = sc;
    out->domain_secure = sc->domain_secure_enabled && config_send_domain_secure(cfg, domain);
    if (sc->dns_routing_enabled || sc->nsmart_hosts == 0) {
        out->kind = ROUTE_DNS;
        snprintf(out->next_hop, sizeof(out->next_hop), "%s", domain);
    } else {
        out->kind = ROUTE_SMART_HOST;
        snprintf(out->next_hop, sizeof(out->next_hop), "%s",
                 out->domain_secure ? domain : sc->name);
    }
}
