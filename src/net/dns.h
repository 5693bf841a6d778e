/*
 * dns.h — asynchronous DNS for delivery, with libunbound driven by the
 * event loop: libunbound resolves on its own thread and signals through a
 * descriptor that libevent watches; every callback runs on the loop
 * thread, never inside a dns_* call. No blocking call.
 *
 * The resolver asks the servers given (ExternalDNSServers: "IP" or
 * "IP@port") or, with none, those of /etc/resolv.conf. Nothing else is
 * read from a file (not /etc/hosts: next hops come from the DNS), and
 * after dns_system_load not even that: a chrooted process can build
 * resolvers for as long as it runs. The same holds for the DNSSEC trust
 * anchors (dns_trust_anchors_load).
 *
 * DNSSEC: a resolver made with dnssec validates every answer itself from
 * the trust anchors (it never believes a server's AD bit) and says which
 * answers are secure; a bogus answer is a temporary failure, never an
 * unsigned one (RFC 7672 2.1.1), since an attacker on the path could
 * otherwise strip DANE by forging signatures.
 * Must never: block the loop, or call a callback after dns_cancel.
 */
#ifndef POSTERN_DNS_H
#define POSTERN_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct dns;
struct dns_query;

enum dns_status {
    DNS_OK,
    DNS_NO_DOMAIN, /* NXDOMAIN, or a name with no usable address: permanent */
    DNS_NULL_MX,   /* RFC 7505: the domain accepts no mail: permanent */
    DNS_TEMPFAIL,  /* SERVFAIL, timeout, no answer from any server: retry later */
};

struct dns_host {
    char *name;                     /* MX target (or the domain itself for an implicit MX) */
    char *canon;                    /* the name its address records were found at after
                                       CNAMEs, when not name itself; else NULL */
    unsigned pref;                  /* MX preference; 0 for implicit MX and hosts */
    struct sockaddr_storage *addrs; /* AAAA then A records, port 0 */
    size_t naddrs;
    enum dns_status status; /* of this host's address lookup */
    bool secure;            /* both address answers DNSSEC-validated (RFC 7672 2.2.2) */
};

/* One TLSA record (RFC 6698 2.1), as published; usability is the
 * caller's decision (RFC 7672 3.1). */
struct dns_tlsa {
    uint8_t usage, selector, mtype;
    uint8_t *data;
    size_t len;
};

struct dns_result {
    enum dns_status status;
    /* The answer at the top was DNSSEC-validated: the MX RRset (or its
     * denial, for an implicit MX), the host's addresses, the TLSA RRset or
     * its denial. Never true from a resolver without dnssec. */
    bool secure;
    struct dns_host *hosts; /* in the order to try them */
    size_t nhosts;
    size_t nskipped; /* MX hosts left out for a temporary failure of their lookup */
    /* dns_resolve_tlsa: DNS_OK when records exist, held here only when
     * secure (an unsigned TLSA RRset means nothing); tlsa_base is the name
     * they were found at, the TLSA base domain of RFC 7672 2.2.2 (without
     * "_25._tcp."). DNS_NO_DOMAIN: none exist. */
    struct dns_tlsa *tlsa;
    size_t ntlsa;
    const char *tlsa_base;
    /* dns_resolve_txt: each record's strings joined, NUL-terminated (a
     * record holding a NUL is left out); DNS_NO_DOMAIN: none exist. */
    char **txt;
    size_t ntxt;
    char error[256]; /* why, when status is not DNS_OK */
};

typedef void dns_cb(void *arg, const struct dns_result *res);

/* Reads the system's resolvers (the "nameserver" lines of path, NULL for
 * /etc/resolv.conf) into memory: every dns_new without servers uses this
 * copy from then on, instead of reading the file as it does until this is
 * called. A process that will lose access to files calls it before. 0, or
 * -1 with err set when the file cannot be read (such a dns_new then fails
 * with the same reason); a later call replaces the copy. */
int dns_system_load(const char *path, char *err, size_t errlen);

/* Reads DNSSEC trust anchors (DS or DNSKEY records in zone-file text:
 * one record a line, or spread over lines inside parentheses; ";"
 * comments) into memory for every later dns_new with dnssec. 0, or -1
 * with err set (the file cannot be read, or holds no record: such a
 * dns_new then validates nothing and says why); a later call replaces
 * the copy. */
int dns_trust_anchors_load(const char *path, char *err, size_t errlen);

/* servers may be NULL/0: the system's resolvers. dnssec: validate with
 * the loaded trust anchors (dns_validating says whether it could). NULL
 * with err on failure. */
struct dns *dns_new(struct event_base *base, char *const *servers, size_t nservers, bool dnssec,
                    char *err, size_t errlen);
/* Does dns validate answers? When it was asked to but cannot, why (the
 * trust anchors are missing) is copied to why. */
bool dns_validating(const struct dns *dns, char *why, size_t whylen);

/* When the trust anchor's zone turned out not to validate through dns's
 * servers (asked once, at the first lookup; every signed answer then
 * fails), why; NULL otherwise, or before the answer. */
const char *dns_validation_problem(const struct dns *dns);
void dns_free(struct dns *dns); /* cancels every pending query (no callbacks) */

/*
 * Next hops for a mail domain (RFC 5321 5.1): the MX records sorted by
 * preference, in random order among equal preferences, each with its
 * addresses; no MX record → the domain's own addresses (implicit MX); a
 * single MX "." → DNS_NULL_MX. Hosts whose addresses cannot be found are
 * left out (status DNS_TEMPFAIL overall if none remain because of a
 * temporary error, DNS_NO_DOMAIN if none exist).
 */
struct dns_query *dns_resolve_mx(struct dns *dns, const char *domain, dns_cb *cb, void *arg);

/* Addresses of one host name (a smart host): one dns_host in the result. */
struct dns_query *dns_resolve_host(struct dns *dns, const char *host, dns_cb *cb, void *arg);

/* The TLSA records of a host's SMTP service (RFC 7672 2.2.2), at
 * "_PORT._tcp.canon" first when canon (the host's CNAME-expanded name,
 * may be NULL) differs from host and that name has none, then at
 * "_PORT._tcp.host". res->secure says whether the answer (records or
 * their denial) is validated; a bogus answer or a server failure is
 * DNS_TEMPFAIL. */
struct dns_query *dns_resolve_tlsa(struct dns *dns, const char *host, const char *canon,
                                   unsigned port, dns_cb *cb, void *arg);

/* The TXT records of name (RFC 1035 3.3.14). A server failure is
 * DNS_TEMPFAIL; no such name or no TXT record DNS_NO_DOMAIN. */
struct dns_query *dns_resolve_txt(struct dns *dns, const char *name, dns_cb *cb, void *arg);

void dns_cancel(struct dns_query *q);

/* What a lookup found, for a report: "mx.b.test[192.0.2.1],
 * mx.b.test[2001:db8::1], ..." in the order they would be tried, or the
 * error when it found nothing. */
void dns_result_text(const struct dns_result *res, char *out, size_t outlen);

/* Overall deadline of one query, MX and address lookups together:
 * libunbound retries on its own, and past this the answer is DNS_TEMPFAIL
 * ("DNS timeout after 30 s for ..."). */
#define DNS_TIMEOUT_MS 30000

/* Deadline for queries started afterwards; 0 restores DNS_TIMEOUT_MS. */
void dns_set_timeout(struct dns *dns, unsigned ms);

#endif
