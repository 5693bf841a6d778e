/*
 * route.h — where a recipient goes next (docs/exchange-model.md, "Send
 * connectors" and "Accepted domains").
 *
 * A recipient in an Authoritative accepted domain is delivered locally (to
 * its mailbox's Maildir, or over LMTP when the mailbox or domain names an
 * LmtpServer). Any other recipient goes through a Send connector: enabled,
 * usable by this server (SourceTransportServers), large enough for the
 * message, with the most specific matching address
 * space, then the lowest cost, then the lowest name. No such connector:
 * the Unreachable queue. Pure function of the configuration.
 */
#ifndef POSTERN_ROUTE_H
#define POSTERN_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

enum route_kind {
    ROUTE_MAILBOX,     /* local Maildir delivery */
    ROUTE_LMTP,        /* local delivery over LMTP */
    ROUTE_DNS,         /* Send connector with DNS routing: MX of the domain */
    ROUTE_SMART_HOST,  /* Send connector with smart hosts */
    ROUTE_UNREACHABLE, /* no connector: wait in the Unreachable queue */
    ROUTE_NO_MAILBOX,  /* Authoritative domain but no such mailbox: fail */
};

struct route {
    enum route_kind kind;
    const struct send_connector *connector; /* DNS and SMART_HOST */
    const struct mailbox *mailbox;          /* MAILBOX and LMTP; NULL: postmaster without
                                               a mailbox, delivered to Maildir "postmaster" */
    const char *lmtp_server;                /* LMTP */
    /* Domain security applies (the connector has DomainSecureEnabled and
     * the domain is in TLSSendDomainSecureList): next_hop is then the
     * domain itself, even through smart hosts, so each partner domain has
     * its own queue and its failures hold up no other mail. */
    bool domain_secure;
    /* Queue key: recipients with equal keys share a delivery queue and a
     * connection. "b.test" for DNS routing, the connector name for smart
     * hosts, the LMTP server, "Mailbox Delivery", "Unreachable". */
    char next_hop[300];
};

/* domain is the recipient's domain (lower case), address the whole
 * recipient. message_size picks only connectors whose MaxMessageSize
 * allows it. */
void route_recipient(const struct config *cfg, const char *address, const char *domain,
                     uint64_t message_size, struct route *out);

/* The route through Send connector sc for a recipient in domain, as
 * route_recipient gives it once it has chosen sc (Test-SendConnector
 * tests a connector that routing might not choose). */
void route_via_connector(const struct config *cfg, const struct send_connector *sc,
                         const char *domain, struct route *out);

/* Why a Send connector was or was not chosen (Test-MailRoute). */
enum route_verdict {
    RV_CHOSEN,
    RV_DISABLED,
    RV_NOT_THIS_SERVER, /* SourceTransportServers names other servers */
    RV_TOO_SMALL,       /* its MaxMessageSize is below the message's size */
    RV_NO_SPACE,        /* no address space matches the domain */
    RV_LESS_SPECIFIC,   /* another's address space matches more specifically */
    RV_COSTLIER,        /* as specific, but at a higher cost */
    RV_NAME_ORDER,      /* as specific and as cheap: the lower name wins */
};

struct route_candidate {
    const struct send_connector *sc;
    enum route_verdict verdict;
    const struct address_space *space; /* its best matching space, or NULL */
    unsigned match, cost;
};

/* The Send connector route_recipient would use for domain and a message of
 * size bytes (NULL: none), with the reason for each connector of cfg in out
 * (may be NULL), in order. */
const struct send_connector *route_select_explain(const struct config *cfg, const char *domain,
                                                  uint64_t size, struct route_candidate *out);

/* How specifically an address space matches domain: 0 for no match, else
 * a number that grows with specificity ("*" < "*.contoso.com" <
 * "marketing.contoso.com"). */
unsigned route_space_match(const char *space, const char *domain);

#endif
