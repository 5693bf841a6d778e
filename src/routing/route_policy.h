/*
 * route_policy.h — everything one outbound connection needs to know about
 * its next hop, decided by routing from the configuration: where to
 * connect (MX of a domain, smart hosts, an LMTP server), how to greet,
 * what TLS to insist on and which names the peer's certificate must
 * carry, whether to present our certificate, how to authenticate, and
 * which failures count as permanent.
 *
 * The connection side (src/outbound) executes a policy and never looks at
 * the configuration: a policy is self-contained (it owns copies of all its
 * strings, so a reload cannot pull anything from under a connection) and
 * travels between processes as bytes (route_policy_encode/decode).
 * Must never: hold a secret (the smart host's password is asked for at
 * connect time, outbound.h), or do I/O.
 */
#ifndef POSTERN_ROUTE_POLICY_H
#define POSTERN_ROUTE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "routing/mtasts.h"
#include "routing/route.h"

/* A delivery queue's next hop, as the scheduler keeps it (struct dqueue). */
struct route_hop {
    enum route_kind kind;    /* ROUTE_DNS, ROUTE_SMART_HOST or ROUTE_LMTP */
    const char *next_hop;    /* the domain (DNS, domain security), connector or LMTP server */
    const char *connector;   /* the Send connector's name (DNS, SMART_HOST) */
    const char *lmtp_server; /* LMTP: "host:port", "[v6]:port", "ip:port" or "/socket" */
    bool domain_secure;      /* mutual TLS with the partner domain next_hop */
    /* what the queue's messages ask of TLS (RFC 8689): REQUIRETLS, or
     * "TLS-Required: No" (DANE and MTA-STS set aside) */
    bool requiretls, tls_not_required;
};

enum route_policy_status {
    ROUTE_POLICY_OK,
    ROUTE_POLICY_NO_CONNECTOR, /* the Send connector was removed (reload) */
    ROUTE_POLICY_BAD_LMTP,     /* the LmtpServer cannot be connected to */
    ROUTE_POLICY_NOT_REMOTE,   /* Maildir, Unreachable ...: nothing to connect to */
};

/* Where to connect. */
enum route_dest {
    ROUTE_DEST_MX,      /* hosts[0] is a mail domain: its MX (or implicit MX) */
    ROUTE_DEST_HOSTS,   /* each of hosts[] in order: host names or IP literals */
    ROUTE_DEST_ADDRESS, /* hosts[0] is a numeric IP address: no DNS */
    ROUTE_DEST_UNIX,    /* hosts[0] is the path of a Unix socket */
};

enum route_auth {
    ROUTE_AUTH_NONE,
    ROUTE_AUTH_BASIC,             /* AUTH when the peer offers PLAIN or LOGIN */
    ROUTE_AUTH_BASIC_REQUIRE_TLS, /* ... and never outside TLS */
};

struct route_policy {
    enum route_policy_status status;
    char *error; /* why, when status is not OK; NULL otherwise */

    enum route_kind kind;
    char *next_hop;  /* the queue's name, for logs */
    char *connector; /* the Send connector, for logs; NULL for LMTP */
    enum route_dest dest;
    char **hosts;
    size_t nhosts;
    char *peer_name; /* ADDRESS and UNIX: how the peer is named (the LmtpServer) */
    uint16_t port;   /* not for UNIX */

    char *ehlo_name;
    bool lmtp; /* LHLO, one reply per recipient */
    bool force_helo;
    bool ignore_starttls; /* never STARTTLS (also LMTP: local, no TLS) */
    bool require_tls;     /* no mail, no AUTH in clear text; no clear-text retry */
    /* DANE (RFC 7672): a host with secure TLSA records gets TLS only,
     * verified by them. Where TLS would otherwise be unauthenticated: not
     * with domain security or a TlsAuthLevel that checks certificates. */
    bool dane;
    /* MTA-STS (RFC 8461): the recipient domain's policy is looked up (DNS
     * routing without domain security, same TLS settings as DANE);
     * sts_cached is the queue's copy of it, NULL when it has none. */
    bool sts;
    struct mtasts_policy *sts_cached;
    /* The connection carries REQUIRETLS messages only (RFC 8689): TLS
     * required and verified, the peer must offer REQUIRETLS. */
    bool requiretls;
    /* TLS reporting (RFC 8460): the connection reports each attempt's TLS
     * result (outbound_events.tls_result) */
    bool tlsrpt;
    enum tls_auth_level tls_auth_level;
    char **tls_names; /* the peer's certificate must name one of these */
    size_t ntls_names;
    char *client_cert_fqdn; /* present our certificate for this name; NULL: none */

    enum route_auth auth;
    char *auth_user; /* the credential's user name; the password is not here */

    unsigned timeout;             /* inactivity timeout, seconds */
    bool protocol_log;            /* ProtocolLoggingLevel Verbose: SmtpSend protocol log */
    bool downgrade_auth_failures; /* ErrorPolicies: refused credentials are temporary */
    bool downgrade_dns_failures;  /* ErrorPolicies: NXDOMAIN and null MX are temporary */
};

/* Fills out for hop (always: out must be freed). Returns 0, or -1 with
 * out->status and out->error saying why there is nothing to connect to. */
int route_policy(const struct config *cfg, const struct route_hop *hop, struct route_policy *out);
void route_policy_free(struct route_policy *p);
/* A deep copy. */
void route_policy_copy(struct route_policy *dst, const struct route_policy *src);

/*
 * The password of connector's AuthenticationCredential for user into out.
 * Returns 0, or -1 with why set (connector gone, no credential, the
 * credential now names another user, too long). Only the keys process
 * holds configurations with passwords.
 */
int route_policy_password(const struct config *cfg, const char *connector, const char *user,
                          char *out, size_t outlen, char *why, size_t whylen);

/*
 * A flat, self-delimiting encoding (for the channel between processes):
 * returns a malloc'ed buffer of *len bytes. Decoding checks every length
 * against what is left, every enum against its range and every string for
 * NUL bytes, and rejects anything left over: it returns 0 with out filled,
 * or -1 with out empty (nothing to free) on any truncation or garbage.
 */
unsigned char *route_policy_encode(const struct route_policy *p, size_t *len);
int route_policy_decode(const unsigned char *buf, size_t len, struct route_policy *out);

#endif
