/*
 * config.h — the configuration object model: one TransportConfig, Receive
 * and Send connectors, accepted domains, mailboxes and DKIM signing
 * configurations, under Exchange's own names.
 *
 * A struct config is immutable once loaded and reference-counted: a running
 * session keeps the config it started with while a reload installs a new
 * one (config_ref/config_unref). Objects are described by parameter tables
 * (config_param.h) so that the file reader, the writer, the cmdlets and Get-
 * output all agree on names, types, defaults and limits.
 *
 * Secrets: a mailbox's PasswordHash and the password in a Send
 * connector's AuthenticationCredential. Only the keys process holds them;
 * the others get a config_redact_secrets() copy, which still says that a
 * mailbox has a password (password_redacted) and which user a credential
 * names (credential_user). In text (config_format, config_load_text) a
 * removed secret is the marker CONFIG_REDACTED, in exactly these forms:
 *
 *   PasswordHash = *redacted*
 *   AuthenticationCredential = relayuser:*redacted*
 *
 * so a redacted configuration formats, loads and validates like any
 * other, but config_save refuses it (it would wipe the instance's
 * secrets). Secret fields are wiped (explicit_bzero) before they are
 * freed, and so is the text they were read from.
 *
 * Must never: hold plaintext passwords (Mailbox keeps a yescrypt hash
 * only). The one exception is a Send connector's AuthenticationCredential,
 * which the client side of AUTH needs as such; Get- never shows it.
 */
#ifndef POSTERN_CONFIG_H
#define POSTERN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/log.h"
#include "net/iprange.h"
#include "smtp/dkim.h"
#include "tls/tls.h"

#define CONFIG_UNLIMITED UINT64_MAX

/* A secret removed by config_redact_secrets, as written in the text. */
#define CONFIG_REDACTED "*redacted*"

/* Receive connector AuthMechanism flags (Exchange names). */
#define AUTHM_TLS 0x01
#define AUTHM_BASICAUTH 0x02
#define AUTHM_BASICAUTH_REQUIRE_TLS 0x04
#define AUTHM_EXTERNAL_AUTHORITATIVE 0x08
#define AUTHM_INTEGRATED 0x10      /* accepted for compatibility, not offered */
#define AUTHM_EXCHANGE_SERVER 0x20 /* accepted for compatibility, not offered */

/* PermissionGroups flags. */
#define PERM_ANONYMOUS_USERS 0x01
#define PERM_EXCHANGE_USERS 0x02
#define PERM_EXCHANGE_SERVERS 0x04
#define PERM_EXCHANGE_LEGACY_SERVERS 0x08
#define PERM_PARTNERS 0x10
#define PERM_CUSTOM 0x20

enum rc_usage { USAGE_CUSTOM, USAGE_INTERNET, USAGE_INTERNAL, USAGE_CLIENT, USAGE_PARTNER };
enum logging_level { LOGGING_NONE, LOGGING_VERBOSE };
enum domain_type { DOMAIN_AUTHORITATIVE, DOMAIN_INTERNAL_RELAY, DOMAIN_EXTERNAL_RELAY };
enum sc_usage { SC_USAGE_CUSTOM, SC_USAGE_INTERNET, SC_USAGE_INTERNAL, SC_USAGE_PARTNER };
enum smarthost_auth {
    SHAUTH_NONE,
    SHAUTH_BASIC_AUTH,
    SHAUTH_BASIC_AUTH_REQUIRE_TLS,
    SHAUTH_EXCHANGE_SERVER, /* accepted for compatibility; sends no AUTH */
    SHAUTH_EXTERNAL_AUTHORITATIVE,
};
/* TlsAuthLevel; TLSAUTH_UNSET is Exchange's $null (no check beyond RequireTLS). */
enum tls_auth_level {
    TLSAUTH_UNSET,
    TLSAUTH_ENCRYPTION_ONLY,
    TLSAUTH_CERTIFICATE_VALIDATION,
    TLSAUTH_DOMAIN_VALIDATION,
};
/* ErrorPolicies flags; 0 is Default. */
#define ERRPOL_DOWNGRADE_AUTH_FAILURES 0x1
#define ERRPOL_DOWNGRADE_DNS_FAILURES 0x2

struct receive_connector {
    char *name;
    char *comment;
    enum rc_usage usage;
    struct binding *bindings;
    size_t nbindings;
    struct iprange *remote_ip_ranges;
    size_t nremote_ip_ranges;
    char *fqdn;   /* NULL: the server's FQDN */
    char *banner; /* NULL: "220 <fqdn> ..." default */
    unsigned auth_mechanism;
    unsigned permission_groups;
    bool require_tls;
    bool domain_secure_enabled;
    bool enabled;
    uint64_t max_message_size; /* bytes */
    uint64_t max_recipients_per_message;
    uint64_t max_inbound_connection;            /* CONFIG_UNLIMITED allowed */
    uint64_t max_inbound_connection_per_source; /* CONFIG_UNLIMITED allowed */
    uint64_t connection_timeout;                /* seconds */
    uint64_t connection_inactivity_timeout;     /* seconds */
    uint64_t max_protocol_errors;               /* CONFIG_UNLIMITED allowed */
    uint64_t max_logon_failures;
    uint64_t max_header_size; /* bytes */
    uint64_t max_hop_count;   /* Received: headers */
    enum logging_level protocol_logging_level;
};

/* One AddressSpaces entry: "contoso.com", "*.contoso.com" (the domain and
 * its subdomains) or "*", with its cost (1-100, default 1). Written
 * "[SMTP:]space[;cost]". */
struct address_space {
    char *domain; /* lower case */
    unsigned cost;
};

struct send_connector {
    char *name;
    char *comment;
    enum sc_usage usage;
    struct address_space *address_spaces;
    size_t naddress_spaces;
    bool dns_routing_enabled;
    char **smart_hosts; /* FQDNs or IP literals ("192.0.2.1", "[2001:db8::1]"), tried in order */
    size_t nsmart_hosts;
    uint64_t port; /* smart-host port (1-65535) */
    enum smarthost_auth smart_host_auth_mechanism;
    char *authentication_credential; /* "user:password"; secret: Get- shows the user only.
                                        NULL: none, or redacted (credential_user is set) */
    char *credential_user;           /* its user, whenever there is a credential (redacted too);
                                        set by the parameter's parser, not a parameter itself */
    bool require_tls;
    bool ignore_starttls;
    enum tls_auth_level tls_auth_level;
    char *tls_domain; /* for DomainValidation; "*.x" allowed */
    bool domain_secure_enabled;
    char *fqdn; /* EHLO name and client certificate name; NULL: the server's */
    char **source_transport_servers;
    size_t nsource_transport_servers;
    uint64_t max_message_size;              /* bytes, CONFIG_UNLIMITED allowed */
    uint64_t connection_inactivity_timeout; /* seconds */
    enum logging_level protocol_logging_level;
    bool enabled;
    bool force_helo;
    unsigned error_policies;
};

struct accepted_domain {
    char *name;
    char *domain_name; /* "contoso.com" or "*.contoso.com", lower case */
    enum domain_type domain_type;
    bool is_default;
    char *lmtp_server; /* postern: deliver this domain's mailboxes over LMTP
                          ("host:port", "[v6]:port" or "/path/to/socket"); NULL: Maildir */
};

/* DkimSigningConfig (Exchange Online's): DKIM signing of the mail whose
 * From: is in one domain, with two selectors so that the next key can be
 * published before it signs. The private keys are files only the keys
 * process reads (DIR/dkim/<domain>/selector1.key, selector2.key); the
 * public halves are here, as the TXT records publish them. Everything but
 * Enabled and the canonicalizations is set by the DKIM cmdlets. */
enum dkim_selector { DKIM_SELECTOR1 = 1, DKIM_SELECTOR2 = 2 };

struct dkim_signing_config {
    char *name;        /* the domain, as Exchange Online names it */
    char *domain_name; /* lower case */
    bool enabled;
    enum dkim_alg key_algorithm; /* postern's: RSA (rsa-sha256) or Ed25519 (RFC 8463) */
    uint64_t selector1_key_size, selector2_key_size;   /* bits */
    char *selector1_public_key, *selector2_public_key; /* "v=DKIM1; k=rsa; p=..." */
    char *key_creation_time; /* UTC, "2026-01-31T12:00:00Z": the newest key's */
    char *rotate_on_date;    /* UTC: the last rotation; NULL before the first */
    enum dkim_selector selector_before_rotate_on_date;
    enum dkim_selector selector_after_rotate_on_date; /* the one that signs */
    enum dkim_canon header_canonicalization, body_canonicalization;
};

/* Add-ExchangeAdministrator -Role: who may sign in to the console. */
enum admin_role {
    ADMIN_ROLE_NONE,
    ADMIN_ROLE_ORG,       /* OrgAdmin: every cmdlet */
    ADMIN_ROLE_VIEW_ONLY, /* ViewOnlyAdmin: Get- cmdlets only */
};

struct mailbox {
    char *name;
    char *primary_smtp_address; /* lower-cased domain */
    char *password_hash;        /* crypt(3) yescrypt string, or NULL: not here (see below) */
    bool password_redacted;     /* there is a hash, held by the keys process only */
    char *lmtp_server;          /* as accepted_domain.lmtp_server; overrides the domain's */
    enum admin_role admin_role; /* set by Add-/Remove-ExchangeAdministrator only */
};

struct transport_config {
    char *fqdn;                /* the server's FQDN (set by setup); connectors default to it */
    uint64_t max_receive_size; /* bytes, organisation-wide */
    uint64_t max_send_size;
    uint64_t max_recipient_envelope_limit;
    char **tls_receive_domain_secure_list;
    size_t ntls_receive_domain_secure_list;
    char **tls_send_domain_secure_list;
    size_t ntls_send_domain_secure_list;
    enum tls_profile tls_cipher_profile; /* postern's: protocols and suites, both directions */
    char *external_postmaster_address;
    char *service_user; /* unprivileged user the service runs as when started as root */
    struct binding *console_bindings; /* `postern console` listens here (HTTPS) */
    size_t nconsole_bindings;
    uint64_t console_idle_timeout; /* a console session ends after this long unused */
    /* where the smtp process answers Prometheus scrapes (docs/metrics.md); none: off */
    struct binding *metrics_bindings;
    size_t nmetrics_bindings;

    /* DNS (Exchange keeps these on the transport server; one object here).
     * Entries are "IP" or, a postern addition for tests, "IP@port". */
    char **external_dns_servers;
    size_t nexternal_dns_servers;
    bool use_external_dns_servers_enabled;
    /* DNSSEC and DANE (RFC 7672): the trust anchors libunbound validates
     * with (DS or DNSKEY records, one per line), and whether a next hop's
     * secure TLSA records make TLS mandatory and authenticated. */
    char *dnssec_trust_anchor_file;
    bool dane_enabled;
    bool mta_sts_enabled; /* MTA-STS (RFC 8461) for DNS-routed recipient domains */
    /* TLS reporting (RFC 8460): daily reports of outbound TLS results to
     * the recipient domains that ask for them */
    bool tls_reporting_enabled;
    char *tls_reporting_organization; /* NULL: the Fqdn */
    char *tls_reporting_contact;      /* NULL: postmaster of the default domain */

    /* The service's own log lines (lib/log.h), and how long the daily
     * tracking and protocol log files are kept (seconds; 0: for ever). */
    enum log_level log_level;
    uint64_t message_tracking_log_max_age;
    uint64_t receive_protocol_log_max_age;
    uint64_t send_protocol_log_max_age;

    /* Retry and expiry (docs/exchange-model.md, "Queues"), seconds unless noted. */
    uint64_t queue_glitch_retry_count;                   /* 4 */
    uint64_t queue_glitch_retry_interval;                /* 00:01:00 */
    uint64_t transient_failure_retry_count;              /* 6 */
    uint64_t transient_failure_retry_interval;           /* 00:05:00 */
    uint64_t outbound_connection_failure_retry_interval; /* 00:10:00 */
    uint64_t message_retry_interval;                     /* 00:01:00 */
    uint64_t delay_notification_timeout;                 /* 04:00:00 */
    uint64_t message_expiration_timeout;                 /* 2.00:00:00 */
    uint64_t max_outbound_connections;                   /* 1000, Unlimited allowed */
    uint64_t max_per_domain_outbound_connections;        /* 20, Unlimited allowed */
    bool external_delay_dsn_enabled;                     /* True */
    bool internal_delay_dsn_enabled;                     /* True */
};

struct config {
    unsigned refcount;
    char *path;
    struct transport_config transport;
    struct receive_connector *receive_connectors;
    size_t nreceive_connectors;
    struct accepted_domain *accepted_domains;
    size_t naccepted_domains;
    struct mailbox *mailboxes;
    size_t nmailboxes;
    struct send_connector *send_connectors;
    size_t nsend_connectors;
    struct dkim_signing_config *dkim_signing_configs;
    size_t ndkim_signing_configs;
};

/* Reads and validates a configuration file. NULL with a one-line error
 * ("postern.conf:12: ReceiveConnector \"X\": RemoteIPRanges: bad netmask")
 * in err. The file's text is wiped from memory once parsed. */
struct config *config_load(const char *path, char *err, size_t errlen);

/* The same from text in memory (len bytes, a NUL among them is an error);
 * origin names it in errors ("postern.conf:12: ..."). cfg->path is NULL. */
struct config *config_load_text(const char *text, size_t len, const char *origin, char *err,
                                size_t errlen);

/* A configuration the daemon sent to a child: config_format's text and
 * its NUL (len counts both), loaded as config_load_text does. */
struct config *config_load_message(const void *data, size_t len, char *err, size_t errlen);

/* The text config_save writes, malloc'd and NUL-terminated; *len (if not
 * NULL) its length. It holds the secrets cfg holds: wipe it before free. */
char *config_format(const struct config *cfg, size_t *len);

/* Writes cfg to path atomically (temporary file, fsync, rename, directory
 * fsync), mode 0600. Returns 0, or -1 with err set; a redacted cfg is
 * refused. */
int config_save(const struct config *cfg, const char *path, char *err, size_t errlen);

/* Removes (wipes and frees) every secret of cfg, keeping password_redacted
 * and credential_user; cfg must not be shared (a fresh load or a clone).
 * The result validates and survives config_format/config_load_text. */
void config_redact_secrets(struct config *cfg);

/* Does cfg hold a redacted secret? */
bool config_is_redacted(const struct config *cfg);

/* Has the mailbox a password, here or (redacted) in the keys process? */
bool mailbox_has_password(const struct mailbox *mb);

/* Checks rules across objects (overlapping remote ranges on one binding
 * that do not nest, duplicate names, AuthMechanism combinations ...).
 * Returns 0, or -1 with err naming the objects involved. */
int config_validate(const struct config *cfg, char *err, size_t errlen);

/* The default configuration of a new instance: TransportConfig with the
 * given FQDN and one receive connector "Default <host>" bound to bindings
 * (0.0.0.0:25 and [::]:25 when nbindings is 0), Usage Internet-like:
 * AnonymousUsers + ExchangeUsers, AuthMechanism Tls,BasicAuth,BasicAuthRequireTLS.
 * No accepted domain. */
struct config *config_default(const char *fqdn, const struct binding *bindings, size_t nbindings);

/* An empty configuration: TransportConfig defaults (no Fqdn), no other
 * object, refcount 1. */
struct config *config_new(void);

struct config *config_ref(struct config *cfg);
void config_unref(struct config *cfg);

/* Deep copy, refcount 1 (cmdlets edit a copy, validate it, then save). */
struct config *config_clone(const struct config *cfg);

/* Lookups; names compare case-insensitively as Exchange does. */
struct receive_connector *config_find_receive_connector(const struct config *cfg, const char *name);
struct mailbox *config_find_mailbox_by_address(const struct config *cfg, const char *address);
struct mailbox *config_find_mailbox(const struct config *cfg, const char *name_or_address);

/* The accepted domain whose DomainName matches domain (exact beats
 * wildcard, longer wildcard beats shorter), or NULL. */
const struct accepted_domain *config_match_accepted_domain(const struct config *cfg,
                                                           const char *domain);

/* The FQDN a connector uses (its Fqdn, else the server's). */
const char *receive_connector_fqdn(const struct config *cfg, const struct receive_connector *rc);
const char *send_connector_fqdn(const struct config *cfg, const struct send_connector *sc);

struct send_connector *config_find_send_connector(const struct config *cfg, const char *name);

/* The DkimSigningConfig of exactly domain (case-insensitive), or NULL. */
const struct dkim_signing_config *config_find_dkim(const struct config *cfg, const char *domain);
/* The public key (TXT record text) of a config's selector, or NULL. */
const char *dkim_selector_public_key(const struct dkim_signing_config *d, enum dkim_selector s);

/* Is domain in TLSReceiveDomainSecureList / TLSSendDomainSecureList? (No
 * wildcards there, as in Exchange: exact, case-insensitive.) */
bool config_receive_domain_secure(const struct config *cfg, const char *domain);
bool config_send_domain_secure(const struct config *cfg, const char *domain);

/* The default accepted domain, or NULL. */
const struct accepted_domain *config_default_domain(const struct config *cfg);

#endif
