/*
 * config_param.c — the parameter tables of every object type, and the one
 * parser and one formatter of parameter values (see config_param.h); the
 * value syntaxes themselves are in config_value.c, lists in config_list.c.
 *
 * Defaults are Exchange 2010's (docs/exchange-model.md), written as
 * the value text an administrator would type, so they go through the same
 * parser as everything else.
 *
 * Must never: change a field when its new value is refused (parsers build
 * the new value aside and swap it in last), or accept a control character
 * in a string (it would end up in SMTP replies or split a file line).
 */
#include "config/config_param.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/dns_name.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Enums are stored and reached through an int pointer. */
_Static_assert(sizeof(enum rc_usage) == sizeof(int), "enum rc_usage is not an int");
_Static_assert(sizeof(enum logging_level) == sizeof(int), "enum logging_level is not an int");
_Static_assert(sizeof(enum domain_type) == sizeof(int), "enum domain_type is not an int");
_Static_assert(sizeof(enum sc_usage) == sizeof(int), "enum sc_usage is not an int");
_Static_assert(sizeof(enum smarthost_auth) == sizeof(int), "enum smarthost_auth is not an int");
_Static_assert(sizeof(enum tls_auth_level) == sizeof(int), "enum tls_auth_level is not an int");
_Static_assert(sizeof(enum tls_profile) == sizeof(int), "enum tls_profile is not an int");
_Static_assert(sizeof(enum dkim_alg) == sizeof(int), "enum dkim_alg is not an int");
_Static_assert(sizeof(enum dkim_canon) == sizeof(int), "enum dkim_canon is not an int");
_Static_assert(sizeof(enum dkim_selector) == sizeof(int), "enum dkim_selector is not an int");

/* Longest string value: a Comment in Exchange is at most 1024 characters. */
#define STRING_MAX 1024
/* Exchange object names (AD common names) are at most 64 characters. */
#define NAME_MAX_LEN 64

static const struct config_enum_name usage_names[] = {
    {"Custom", USAGE_CUSTOM}, {"Internet", USAGE_INTERNET}, {"Internal", USAGE_INTERNAL},
    {"Client", USAGE_CLIENT}, {"Partner", USAGE_PARTNER},   {NULL, 0},
};

static const struct config_enum_name sc_usage_names[] = {
    {"Custom", SC_USAGE_CUSTOM},
    {"Internet", SC_USAGE_INTERNET},
    {"Internal", SC_USAGE_INTERNAL},
    {"Partner", SC_USAGE_PARTNER},
    {NULL, 0},
};

static const struct config_enum_name shauth_names[] = {
    {"None", SHAUTH_NONE},
    {"BasicAuth", SHAUTH_BASIC_AUTH},
    {"BasicAuthRequireTLS", SHAUTH_BASIC_AUTH_REQUIRE_TLS},
    {"ExchangeServer", SHAUTH_EXCHANGE_SERVER},
    {"ExternalAuthoritative", SHAUTH_EXTERNAL_AUTHORITATIVE},
    {NULL, 0},
};

/* TLSAUTH_UNSET (0) is $null: not in the list (CPF_NULLABLE). */
static const struct config_enum_name tls_auth_names[] = {
    {"EncryptionOnly", TLSAUTH_ENCRYPTION_ONLY},
    {"CertificateValidation", TLSAUTH_CERTIFICATE_VALIDATION},
    {"DomainValidation", TLSAUTH_DOMAIN_VALIDATION},
    {NULL, 0},
};

/* TlsCipherProfile (a postern parameter; Exchange leaves this to Windows'
 * SCHANNEL settings). Intermediate: TLS 1.2 and 1.3, AEAD suites with
 * (EC)DHE only. Modern: TLS 1.3 only. Compatible: TLS 1.0 and up with
 * OpenSSL's broader default suites, for gateways that must talk to old
 * senders and receivers: for opportunistic SMTP a handshake that fails
 * means the mail goes in clear text (RFC 7435), so refusing an old peer's
 * TLS does not protect its mail. Receive and delivery alike; a reload
 * applies it to new connections. */
static const struct config_enum_name tls_profile_names[] = {
    {"Modern", TLS_PROFILE_MODERN},
    {"Intermediate", TLS_PROFILE_INTERMEDIATE},
    {"Compatible", TLS_PROFILE_COMPATIBLE},
    {NULL, 0},
};

static const struct config_enum_name errpol_names[] = {
    {"Default", 0},
    {"DowngradeAuthFailures", ERRPOL_DOWNGRADE_AUTH_FAILURES},
    {"DowngradeDnsFailures", ERRPOL_DOWNGRADE_DNS_FAILURES},
    {NULL, 0},
};

static const struct config_enum_name logging_names[] = {
    {"None", LOGGING_NONE},
    {"Verbose", LOGGING_VERBOSE},
    {NULL, 0},
};

static const struct config_enum_name log_level_names[] = {
    {"Warning", LOG_LEVEL_WARNING},
    {"Information", LOG_LEVEL_INFO},
    {"Verbose", LOG_LEVEL_DEBUG},
    {NULL, 0},
};

static const struct config_enum_name domain_type_names[] = {
    {"Authoritative", DOMAIN_AUTHORITATIVE},
    {"InternalRelay", DOMAIN_INTERNAL_RELAY},
    {"ExternalRelay", DOMAIN_EXTERNAL_RELAY},
    {NULL, 0},
};

/* In Exchange's enum order, which is also the order Get- prints them in. */
static const struct config_enum_name auth_names[] = {
    {"None", 0},
    {"Tls", AUTHM_TLS},
    {"Integrated", AUTHM_INTEGRATED},
    {"BasicAuth", AUTHM_BASICAUTH},
    {"BasicAuthRequireTLS", AUTHM_BASICAUTH_REQUIRE_TLS},
    {"ExchangeServer", AUTHM_EXCHANGE_SERVER},
    {"ExternalAuthoritative", AUTHM_EXTERNAL_AUTHORITATIVE},
    {NULL, 0},
};

static const struct config_enum_name perm_names[] = {
    {"None", 0},
    {"AnonymousUsers", PERM_ANONYMOUS_USERS},
    {"ExchangeUsers", PERM_EXCHANGE_USERS},
    {"ExchangeServers", PERM_EXCHANGE_SERVERS},
    {"ExchangeLegacyServers", PERM_EXCHANGE_LEGACY_SERVERS},
    {"Partners", PERM_PARTNERS},
    {"Custom", PERM_CUSTOM},
    {NULL, 0},
};

/* One line per parameter. Sizes: MaxReceiveSize/MaxSendSize are 0-2097151
 * KB; receive connector sizes 65536-2147483647 bytes, send connector sizes
 * 0-2147483647 bytes or Unlimited; timeouts 1 s to 1 day. Retry timers:
 * Exchange's Set-TransportServer ranges (docs/exchange-model.md, "Queues"). */
#define I32 2147483647u
#define ORG_SIZE_MAX (2097151ull * 1024)
#define HOUR 3600u
#define DAY 86400u
#define STR(st, nm, type, fld, def, fl)                                                            \
    {                                                                                              \
        nm, NULL, type, offsetof(st, fld), 0, NULL, 0, 0, fl, def                                  \
    }
#define NUM(st, nm, type, fld, def, lo, hi, fl)                                                    \
    {                                                                                              \
        nm, NULL, type, offsetof(st, fld), 0, NULL, lo, hi, fl, def                                \
    }
#define NAMES(st, nm, alias, type, fld, names, def, fl)                                            \
    {                                                                                              \
        nm, alias, type, offsetof(st, fld), 0, names, 0, 0, fl, def                                \
    }
#define LIST(st, nm, type, fld, count)                                                             \
    {                                                                                              \
        nm, NULL, type, offsetof(st, fld), offsetof(st, count), NULL, 0, 0, 0, NULL                \
    }
/* A secret with its companion field (config_param.h, CPT_CREDENTIAL). */
#define PAIRED(st, nm, type, fld, companion, fl)                                                   \
    {                                                                                              \
        nm, NULL, type, offsetof(st, fld), offsetof(st, companion), NULL, 0, 0, fl, NULL           \
    }

#define TC struct transport_config
#define RC struct receive_connector
#define SC struct send_connector
#define AD struct accepted_domain
#define MB struct mailbox
#define DK struct dkim_signing_config

/* clang-format off */
static const struct config_param transport_params[] = {
    STR(TC, "Fqdn", CPT_DOMAIN, fqdn, NULL, 0),
    NUM(TC, "MaxReceiveSize", CPT_BYTES, max_receive_size, "10MB", 0, ORG_SIZE_MAX, CPF_UNLIMITED),
    NUM(TC, "MaxSendSize", CPT_BYTES, max_send_size, "10MB", 0, ORG_SIZE_MAX, CPF_UNLIMITED),
    NUM(TC, "MaxRecipientEnvelopeLimit", CPT_UINT, max_recipient_envelope_limit, "5000", 0, I32,
        CPF_UNLIMITED),
    LIST(TC, "TLSReceiveDomainSecureList", CPT_DOMAINS, tls_receive_domain_secure_list,
         ntls_receive_domain_secure_list),
    LIST(TC, "TLSSendDomainSecureList", CPT_DOMAINS, tls_send_domain_secure_list,
         ntls_send_domain_secure_list),
    NAMES(TC, "TlsCipherProfile", NULL, CPT_ENUM, tls_cipher_profile, tls_profile_names,
          "Intermediate", 0),
    STR(TC, "ExternalPostmasterAddress", CPT_ADDRESS, external_postmaster_address, NULL, 0),
    STR(TC, "ExternalDelayDSNEnabled", CPT_BOOL, external_delay_dsn_enabled, "True", 0),
    STR(TC, "InternalDelayDSNEnabled", CPT_BOOL, internal_delay_dsn_enabled, "True", 0),
    LIST(TC, "ExternalDNSServers", CPT_DNS_SERVERS, external_dns_servers, nexternal_dns_servers),
    STR(TC, "UseExternalDNSServersEnabled", CPT_BOOL, use_external_dns_servers_enabled, "False", 0),
    STR(TC, "DnssecTrustAnchorFile", CPT_STRING, dnssec_trust_anchor_file, "/usr/share/dns/root.key",
        CPF_REQUIRED),
    STR(TC, "DaneEnabled", CPT_BOOL, dane_enabled, "True", 0),
    STR(TC, "MtaStsEnabled", CPT_BOOL, mta_sts_enabled, "True", 0),
    STR(TC, "TlsReportingEnabled", CPT_BOOL, tls_reporting_enabled, "True", 0),
    STR(TC, "TlsReportingOrganization", CPT_STRING, tls_reporting_organization, NULL, 0),
    STR(TC, "TlsReportingContact", CPT_ADDRESS, tls_reporting_contact, NULL, 0),
    NAMES(TC, "LogLevel", NULL, CPT_ENUM, log_level, log_level_names, "Information", 0),
    NUM(TC, "MessageTrackingLogMaxAge", CPT_TIMESPAN, message_tracking_log_max_age, "30.00:00:00",
        0, 3650 * DAY, 0),
    NUM(TC, "ReceiveProtocolLogMaxAge", CPT_TIMESPAN, receive_protocol_log_max_age, "30.00:00:00",
        0, 3650 * DAY, 0),
    NUM(TC, "SendProtocolLogMaxAge", CPT_TIMESPAN, send_protocol_log_max_age, "30.00:00:00", 0,
        3650 * DAY, 0),
    NUM(TC, "QueueGlitchRetryCount", CPT_UINT, queue_glitch_retry_count, "4", 0, 15, 0),
    NUM(TC, "QueueGlitchRetryInterval", CPT_TIMESPAN, queue_glitch_retry_interval, "00:01:00", 1,
        DAY, 0),
    NUM(TC, "TransientFailureRetryCount", CPT_UINT, transient_failure_retry_count, "6", 0, 15, 0),
    NUM(TC, "TransientFailureRetryInterval", CPT_TIMESPAN, transient_failure_retry_interval,
        "00:05:00", 1, 12 * HOUR, 0),
    NUM(TC, "OutboundConnectionFailureRetryInterval", CPT_TIMESPAN,
        outbound_connection_failure_retry_interval, "00:10:00", 1, 20 * DAY, 0),
    NUM(TC, "MessageRetryInterval", CPT_TIMESPAN, message_retry_interval, "00:01:00", 1, DAY, 0),
    NUM(TC, "DelayNotificationTimeout", CPT_TIMESPAN, delay_notification_timeout, "04:00:00", 1,
        30 * DAY, 0),
    NUM(TC, "MessageExpirationTimeout", CPT_TIMESPAN, message_expiration_timeout, "2.00:00:00", 5,
        90 * DAY, 0),
    NUM(TC, "MaxOutboundConnections", CPT_UINT, max_outbound_connections, "1000", 1, I32,
        CPF_UNLIMITED),
    NUM(TC, "MaxPerDomainOutboundConnections", CPT_UINT, max_per_domain_outbound_connections, "20",
        1, I32, CPF_UNLIMITED),
    STR(TC, "ServiceUser", CPT_STRING, service_user, "postern", CPF_REQUIRED),
    {"ConsoleBindings", NULL, CPT_BINDINGS, offsetof(TC, console_bindings),
     offsetof(TC, nconsole_bindings), NULL, 0, 0, 0, "127.0.0.1:2580"},
    NUM(TC, "ConsoleIdleTimeout", CPT_TIMESPAN, console_idle_timeout, "00:15:00", 5, DAY, 0),
    LIST(TC, "MetricsBindings", CPT_BINDINGS, metrics_bindings, nmetrics_bindings),
};

static const struct config_param rc_params[] = {
    STR(RC, "Name", CPT_STRING, name, NULL, CPF_NAME | CPF_REQUIRED),
    STR(RC, "Comment", CPT_STRING, comment, NULL, 0),
    NAMES(RC, "Usage", NULL, CPT_ENUM, usage, usage_names, "Custom", CPF_NEW_ONLY),
    STR(RC, "Enabled", CPT_BOOL, enabled, "True", 0),
    LIST(RC, "Bindings", CPT_BINDINGS, bindings, nbindings),
    LIST(RC, "RemoteIPRanges", CPT_IPRANGES, remote_ip_ranges, nremote_ip_ranges),
    STR(RC, "Fqdn", CPT_DOMAIN, fqdn, NULL, 0),
    STR(RC, "Banner", CPT_STRING, banner, NULL, 0),
    NAMES(RC, "AuthMechanism", "AuthenticationMechanism", CPT_FLAGS, auth_mechanism, auth_names,
          "Tls", 0),
    NAMES(RC, "PermissionGroups", NULL, CPT_FLAGS, permission_groups, perm_names, "None", 0),
    STR(RC, "RequireTLS", CPT_BOOL, require_tls, "False", 0),
    STR(RC, "DomainSecureEnabled", CPT_BOOL, domain_secure_enabled, "False", 0),
    NUM(RC, "MaxMessageSize", CPT_BYTES, max_message_size, "10MB", 65536, I32, 0),
    NUM(RC, "MaxRecipientsPerMessage", CPT_UINT, max_recipients_per_message, "200", 1, 512000, 0),
    NUM(RC, "MaxInboundConnection", CPT_UINT, max_inbound_connection, "5000", 1, I32,
        CPF_UNLIMITED),
    NUM(RC, "MaxInboundConnectionPerSource", CPT_UINT, max_inbound_connection_per_source, "20",
        1, 10000, CPF_UNLIMITED),
    NUM(RC, "ConnectionTimeout", CPT_TIMESPAN, connection_timeout, "00:10:00", 1, 86400, 0),
    NUM(RC, "ConnectionInactivityTimeout", CPT_TIMESPAN, connection_inactivity_timeout,
        "00:05:00", 1, 86400, 0),
    NUM(RC, "MaxProtocolErrors", CPT_UINT, max_protocol_errors, "5", 0, I32, CPF_UNLIMITED),
    NUM(RC, "MaxLogonFailures", CPT_UINT, max_logon_failures, "3", 0, 10, 0),
    NUM(RC, "MaxHeaderSize", CPT_BYTES, max_header_size, "64KB", 1, I32, 0),
    NUM(RC, "MaxHopCount", CPT_UINT, max_hop_count, "30", 1, 500, 0),
    NAMES(RC, "ProtocolLoggingLevel", NULL, CPT_ENUM, protocol_logging_level, logging_names,
          "None", 0),
};

/* In the order of Get-SendConnector; rules across parameters are in
 * config_validate.c. */
static const struct config_param sc_params[] = {
    STR(SC, "Name", CPT_STRING, name, NULL, CPF_NAME | CPF_REQUIRED),
    STR(SC, "Comment", CPT_STRING, comment, NULL, 0),
    NAMES(SC, "Usage", NULL, CPT_ENUM, usage, sc_usage_names, "Custom", CPF_NEW_ONLY),
    STR(SC, "Enabled", CPT_BOOL, enabled, "True", 0),
    LIST(SC, "AddressSpaces", CPT_ADDRESS_SPACES, address_spaces, naddress_spaces),
    STR(SC, "DNSRoutingEnabled", CPT_BOOL, dns_routing_enabled, "True", 0),
    LIST(SC, "SmartHosts", CPT_SMART_HOSTS, smart_hosts, nsmart_hosts),
    NUM(SC, "Port", CPT_UINT, port, "25", 1, 65535, 0),
    NAMES(SC, "SmartHostAuthMechanism", NULL, CPT_ENUM, smart_host_auth_mechanism, shauth_names,
          "None", 0),
    PAIRED(SC, "AuthenticationCredential", CPT_CREDENTIAL, authentication_credential,
           credential_user, 0),
    STR(SC, "RequireTLS", CPT_BOOL, require_tls, "False", 0),
    STR(SC, "IgnoreSTARTTLS", CPT_BOOL, ignore_starttls, "False", 0),
    NAMES(SC, "TlsAuthLevel", NULL, CPT_ENUM, tls_auth_level, tls_auth_names, NULL, CPF_NULLABLE),
    STR(SC, "TlsDomain", CPT_DOMAIN, tls_domain, NULL, CPF_WILDCARD),
    STR(SC, "DomainSecureEnabled", CPT_BOOL, domain_secure_enabled, "False", 0),
    STR(SC, "Fqdn", CPT_DOMAIN, fqdn, NULL, 0),
    LIST(SC, "SourceTransportServers", CPT_SERVERS, source_transport_servers,
         nsource_transport_servers),
    NUM(SC, "MaxMessageSize", CPT_BYTES, max_message_size, "10MB", 0, I32, CPF_UNLIMITED),
    NUM(SC, "ConnectionInactivityTimeOut", CPT_TIMESPAN, connection_inactivity_timeout,
        "00:10:00", 1, DAY, 0),
    NAMES(SC, "ProtocolLoggingLevel", NULL, CPT_ENUM, protocol_logging_level, logging_names,
          "None", 0),
    STR(SC, "ForceHELO", CPT_BOOL, force_helo, "False", 0),
    NAMES(SC, "ErrorPolicies", NULL, CPT_FLAGS, error_policies, errpol_names, "Default", 0),
};

static const struct config_param ad_params[] = {
    STR(AD, "Name", CPT_STRING, name, NULL, CPF_NAME | CPF_REQUIRED),
    STR(AD, "DomainName", CPT_DOMAIN, domain_name, NULL,
        CPF_WILDCARD | CPF_REQUIRED | CPF_NEW_ONLY),
    NAMES(AD, "DomainType", NULL, CPT_ENUM, domain_type, domain_type_names, "Authoritative", 0),
    STR(AD, "LmtpServer", CPT_LMTP, lmtp_server, NULL, 0),
    STR(AD, "Default", CPT_BOOL, is_default, "False", CPF_NO_SET),
};

/* Add-ExchangeAdministrator -Role: Exchange 2007's roles that mean
 * something for one transport server. */
static const struct config_enum_name admin_role_names[] = {
    {"None", ADMIN_ROLE_NONE},
    {"OrgAdmin", ADMIN_ROLE_ORG},
    {"ViewOnlyAdmin", ADMIN_ROLE_VIEW_ONLY},
    {NULL, 0},
};

static const struct config_param mb_params[] = {
    STR(MB, "Name", CPT_STRING, name, NULL, CPF_NAME | CPF_REQUIRED),
    STR(MB, "PrimarySmtpAddress", CPT_ADDRESS, primary_smtp_address, NULL, CPF_REQUIRED),
    STR(MB, "LmtpServer", CPT_LMTP, lmtp_server, NULL, 0),
    PAIRED(MB, "PasswordHash", CPT_PASSWORD_HASH, password_hash, password_redacted,
           CPF_SECRET | CPF_FILE_ONLY),
    NAMES(MB, "ExchangeAdministratorRole", NULL, CPT_ENUM, admin_role, admin_role_names, "None",
          CPF_NO_SET),
};

/* DkimSigningConfig: Exchange Online's names; KeyAlgorithm is postern's
 * (Exchange Online has RSA only). The keys and their dates are the
 * cmdlets' to set (New-, Rotate-DkimSigningConfig). */
static const struct config_enum_name dkim_alg_names[] = {
    {"Rsa", DKIM_ALG_RSA_SHA256},
    {"Ed25519", DKIM_ALG_ED25519_SHA256},
    {NULL, 0},
};
static const struct config_enum_name dkim_canon_names[] = {
    {"Relaxed", DKIM_CANON_RELAXED},
    {"Simple", DKIM_CANON_SIMPLE},
    {NULL, 0},
};
static const struct config_enum_name dkim_selector_names[] = {
    {"selector1", DKIM_SELECTOR1},
    {"selector2", DKIM_SELECTOR2},
    {NULL, 0},
};

static const struct config_param dk_params[] = {
    STR(DK, "Name", CPT_STRING, name, NULL, CPF_NAME | CPF_REQUIRED | CPF_NO_SET),
    STR(DK, "DomainName", CPT_DOMAIN, domain_name, NULL, CPF_REQUIRED | CPF_NEW_ONLY),
    STR(DK, "Enabled", CPT_BOOL, enabled, "False", 0),
    NAMES(DK, "KeyAlgorithm", NULL, CPT_ENUM, key_algorithm, dkim_alg_names, "Rsa",
          CPF_NEW_ONLY),
    NUM(DK, "Selector1KeySize", CPT_UINT, selector1_key_size, "0", 0, 16384, CPF_NO_SET),
    NUM(DK, "Selector2KeySize", CPT_UINT, selector2_key_size, "0", 0, 16384, CPF_NO_SET),
    STR(DK, "Selector1PublicKey", CPT_STRING, selector1_public_key, NULL, CPF_NO_SET),
    STR(DK, "Selector2PublicKey", CPT_STRING, selector2_public_key, NULL, CPF_NO_SET),
    STR(DK, "KeyCreationTime", CPT_STRING, key_creation_time, NULL, CPF_NO_SET),
    STR(DK, "RotateOnDate", CPT_STRING, rotate_on_date, NULL, CPF_NO_SET),
    NAMES(DK, "SelectorBeforeRotateOnDate", NULL, CPT_ENUM, selector_before_rotate_on_date,
          dkim_selector_names, "selector2", CPF_NO_SET),
    NAMES(DK, "SelectorAfterRotateOnDate", NULL, CPT_ENUM, selector_after_rotate_on_date,
          dkim_selector_names, "selector1", CPF_NO_SET),
    NAMES(DK, "HeaderCanonicalization", NULL, CPT_ENUM, header_canonicalization, dkim_canon_names,
          "Relaxed", 0),
    NAMES(DK, "BodyCanonicalization", NULL, CPT_ENUM, body_canonicalization, dkim_canon_names,
          "Relaxed", 0),
};
/* clang-format on */

#undef TC
#undef RC
#undef SC
#undef AD
#undef MB
#undef DK

static const struct config_kind_info kinds[CONFIG_NKINDS] = {
    {CONFIG_TRANSPORT, "TransportConfig", transport_params, NELEM(transport_params),
     sizeof(struct transport_config), true, offsetof(struct config, transport), 0},
    {CONFIG_RECEIVE_CONNECTOR, "ReceiveConnector", rc_params, NELEM(rc_params),
     sizeof(struct receive_connector), false, offsetof(struct config, receive_connectors),
     offsetof(struct config, nreceive_connectors)},
    {CONFIG_SEND_CONNECTOR, "SendConnector", sc_params, NELEM(sc_params),
     sizeof(struct send_connector), false, offsetof(struct config, send_connectors),
     offsetof(struct config, nsend_connectors)},
    {CONFIG_ACCEPTED_DOMAIN, "AcceptedDomain", ad_params, NELEM(ad_params),
     sizeof(struct accepted_domain), false, offsetof(struct config, accepted_domains),
     offsetof(struct config, naccepted_domains)},
    {CONFIG_MAILBOX, "Mailbox", mb_params, NELEM(mb_params), sizeof(struct mailbox), false,
     offsetof(struct config, mailboxes), offsetof(struct config, nmailboxes)},
    {CONFIG_DKIM_SIGNING, "DkimSigningConfig", dk_params, NELEM(dk_params),
     sizeof(struct dkim_signing_config), false, offsetof(struct config, dkim_signing_configs),
     offsetof(struct config, ndkim_signing_configs)},
};

const struct config_kind_info *
config_kind(enum config_kind kind)
{
    return (unsigned)kind < CONFIG_NKINDS ? &kinds[kind] : NULL;
}

const struct config_kind_info *
config_kind_by_name(const char *name)
{
    for (size_t i = 0; i < CONFIG_NKINDS; i++)
        if (str_ieq(kinds[i].name, name))
            return &kinds[i];
    return NULL;
}

const struct config_param *
config_param_find(const struct config_kind_info *k, const char *name)
{
    for (size_t i = 0; i < k->nparams; i++) {
        const struct config_param *p = &k->params[i];
        if (str_ieq(p->name, name) || (p->alias != NULL && str_ieq(p->alias, name)))
            return p;
    }
    return NULL;
}

const struct config_param *
config_param_name(const struct config_kind_info *k)
{
    for (size_t i = 0; i < k->nparams; i++)
        if (k->params[i].flags & CPF_NAME)
            return &k->params[i];
    return NULL;
}

/* ---- small text helpers ---- */

static bool
is_blank(int c)
{
    return c == ' ' || c == '\t';
}

/* ---- scalar parsers ---- */

static int
parse_string(const struct config_param *p, char **field, const char *text, unsigned flags,
             char *err, size_t errlen)
{
    size_t len = strlen(text);

    for (const char *s = text; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            errorf(err, errlen, "control characters are not allowed");
            return -1;
        }
    }
    if (len > STRING_MAX) {
        errorf(err, errlen, "longer than %d characters", STRING_MAX);
        return -1;
    }
    if (len == 0 || config_is_null_text(text, flags)) {
        free(*field);
        *field = NULL;
        return 0;
    }
    if (p->flags & CPF_NAME) {
        /* "SERVER\Name" identities are split at the backslash. */
        if (len > NAME_MAX_LEN || strchr(text, '\\') != NULL || is_blank((unsigned char)text[0]) ||
            is_blank((unsigned char)text[len - 1])) {
            errorf(err, errlen, "a name is 1-%d characters, without a backslash or outer blanks",
                   NAME_MAX_LEN);
            return -1;
        }
    }
    free(*field);
    *field = xstrdup(text);
    return 0;
}

static int
parse_domain_or_address(const struct config_param *p, char **field, const char *text,
                        unsigned flags, char *err, size_t errlen)
{
    char *v = config_item_dup(text, strlen(text));

    if (v[0] == '\0' || config_is_null_text(v, flags)) {
        free(v);
        free(*field);
        *field = NULL;
        return 0;
    }
    if (p->type == CPT_DOMAIN) {
        str_lower(v);
        if (!dns_name_valid(v, p->flags & CPF_WILDCARD)) {
            errorf(err, errlen, "'%s' is not a valid domain name%s", text,
                   p->flags & CPF_WILDCARD ? " (contoso.com or *.contoso.com)" : "");
            free(v);
            return -1;
        }
    } else {
        if (!config_address_valid(v)) {
            errorf(err, errlen, "'%s' is not a valid SMTP address", text);
            free(v);
            return -1;
        }
        str_lower(strrchr(v, '@'));
    }
    free(*field);
    *field = v;
    return 0;
}

/* AuthenticationCredential: kept as given (the sender needs the password
 * itself), its user also alone; "user:*redacted*" keeps only the user. The
 * old value is wiped before it is freed. */
static int
parse_credential(const struct config_param *p, void *obj, const char *text, unsigned flags,
                 char *err, size_t errlen)
{
    char **field = (char **)((char *)obj + p->offset);
    char **user = (char **)((char *)obj + p->count_offset);
    const char *colon = strchr(text, ':');
    bool none = text[0] == '\0' || config_is_null_text(text, flags);
    bool redacted = !none && colon != NULL && strcmp(colon + 1, CONFIG_REDACTED) == 0;

    /* An administrator means a password; the marker only comes from
     * config_format of a redacted configuration. */
    if (redacted && (flags & CONFIG_PARSE_CMDLET)) {
        errorf(err, errlen, "%s stands for a password held elsewhere: give the password",
               CONFIG_REDACTED);
        return -1;
    }
    if (!none && config_credential_check(text, err, errlen) < 0)
        return -1;
    str_free_wiped(*field);
    free(*user);
    *field = none || redacted ? NULL : xstrdup(text);
    *user = none ? NULL : xstrndup(text, (size_t)(colon - text));
    return 0;
}

/* PasswordHash: any crypt(3) string (password_verify judges it); the
 * marker of a redacted one sets password_redacted instead. */
static int
parse_password_hash(const struct config_param *p, void *obj, const char *text, unsigned flags,
                    char *err, size_t errlen)
{
    char **field = (char **)((char *)obj + p->offset);
    bool *redacted = (bool *)((char *)obj + p->count_offset);
    bool none = text[0] == '\0' || config_is_null_text(text, flags);
    bool marker = strcmp(text, CONFIG_REDACTED) == 0;

    /* The reasons never quote the text: it is a secret. */
    for (const char *c = text; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            errorf(err, errlen, "control characters are not allowed");
            return -1;
        }
    }
    if (strlen(text) > STRING_MAX) {
        errorf(err, errlen, "longer than %d characters", STRING_MAX);
        return -1;
    }
    str_free_wiped(*field);
    *field = none || marker ? NULL : xstrdup(text);
    *redacted = marker;
    return 0;
}

static int
parse_lmtp(char **field, const char *text, unsigned flags, char *err, size_t errlen)
{
    char *v = config_item_dup(text, strlen(text));

    if (v[0] == '\0' || config_is_null_text(v, flags)) {
        free(v);
        free(*field);
        *field = NULL;
        return 0;
    }
    if (config_lmtp_server_check(v, err, errlen) < 0) {
        free(v);
        return -1;
    }
    free(*field);
    *field = v;
    return 0;
}

static void
range_text(const struct config_param *p, char *buf, size_t len)
{
    char lo[64], hi[64];

    if (p->type == CPT_TIMESPAN) {
        config_timespan_format(p->min, lo, sizeof(lo));
        config_timespan_format(p->max, hi, sizeof(hi));
    } else if (p->type == CPT_BYTES) {
        config_bytes_format(p->min, lo, sizeof(lo));
        config_bytes_format(p->max, hi, sizeof(hi));
    } else {
        snprintf(lo, sizeof(lo), "%llu", (unsigned long long)p->min);
        snprintf(hi, sizeof(hi), "%llu", (unsigned long long)p->max);
    }
    snprintf(buf, len, "must be between %s and %s%s", lo, hi,
             p->flags & CPF_UNLIMITED ? ", or Unlimited" : "");
}

static int
parse_number(const struct config_param *p, uint64_t *field, const char *text, char *err,
             size_t errlen)
{
    char *t = config_item_dup(text, strlen(text));
    uint64_t v;
    int rc = 0;

    if (p->type == CPT_BYTES) {
        rc = config_bytes_parse(t, p->flags & CPF_UNLIMITED, &v, err, errlen);
    } else if (p->type == CPT_TIMESPAN) {
        rc = config_timespan_parse(t, &v, err, errlen);
    } else if ((p->flags & CPF_UNLIMITED) && str_ieq(t, "Unlimited")) {
        v = CONFIG_UNLIMITED;
    } else {
        if (!config_u64_parse(t, &v)) {
            errorf(err, errlen, "'%s' is not a whole number%s", text,
                   p->flags & CPF_UNLIMITED ? " or Unlimited" : "");
            rc = -1;
        }
    }
    free(t);
    if (rc < 0)
        return -1;
    if (v != CONFIG_UNLIMITED && (v < p->min || v > p->max)) {
        char range[256];
        range_text(p, range, sizeof(range));
        errorf(err, errlen, "%s", range);
        return -1;
    }
    *field = v;
    return 0;
}

static void
names_text(const struct config_enum_name *names, char *buf, size_t len)
{
    size_t o = 0;

    buf[0] = '\0';
    for (size_t i = 0; names[i].name != NULL && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", names[i].name);
}

static const struct config_enum_name *
name_lookup(const struct config_enum_name *names, const char *text)
{
    for (size_t i = 0; names[i].name != NULL; i++)
        if (str_ieq(names[i].name, text))
            return &names[i];
    return NULL;
}

/* The name of the value 0 of a flags parameter: "None", or Exchange's own
 * word for it (ErrorPolicies "Default"). */
static const char *
zero_name(const struct config_enum_name *names)
{
    for (size_t i = 0; names[i].name != NULL; i++)
        if (names[i].value == 0)
            return names[i].name;
    return "None";
}

static int
parse_enum(const struct config_param *p, int *field, const char *text, unsigned flags, char *err,
           size_t errlen)
{
    char *t = config_item_dup(text, strlen(text));
    const struct config_enum_name *n = name_lookup(p->names, t);
    char all[256];

    if (n == NULL && (p->flags & CPF_NULLABLE) && (t[0] == '\0' || config_is_null_text(t, flags))) {
        free(t);
        *field = 0;
        return 0;
    }
    if (n == NULL) {
        names_text(p->names, all, sizeof(all));
        errorf(err, errlen, "'%s' is not one of %s%s", t, all,
               p->flags & CPF_NULLABLE ? ", $null" : "");
        free(t);
        return -1;
    }
    free(t);
    *field = (int)n->value;
    return 0;
}

static int
parse_flags(const struct config_param *p, unsigned *field, const char *text, unsigned flags,
            char *err, size_t errlen)
{
    char **items, all[256];
    size_t n = config_split_items(text, flags, &items);
    unsigned v = 0;
    bool none = false;
    int rc = 0;

    if (n == 0) {
        errorf(err, errlen, "a value is required (%s for none)", zero_name(p->names));
        return -1;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct config_enum_name *nm = name_lookup(p->names, items[i]);
        if (nm == NULL) {
            names_text(p->names, all, sizeof(all));
            errorf(err, errlen, "'%s' is not one of %s", items[i], all);
            rc = -1;
        } else if (nm->value == 0) {
            none = true;
        } else {
            v |= nm->value;
        }
    }
    if (rc == 0 && none && n > 1) {
        errorf(err, errlen, "%s cannot be combined with other values", zero_name(p->names));
        rc = -1;
    }
    config_items_free(items, n);
    if (rc == 0)
        *field = v;
    return rc;
}

int
config_param_parse(const struct config_param *p, void *obj, const char *text, unsigned flags,
                   char *err, size_t errlen)
{
    void *field = (char *)obj + p->offset;
    bool b;

    if (text == NULL)
        text = "";
    switch (p->type) {
    case CPT_STRING:
        return parse_string(p, field, text, flags, err, errlen);
    case CPT_DOMAIN:
    case CPT_ADDRESS:
        return parse_domain_or_address(p, field, text, flags, err, errlen);
    case CPT_BOOL:
        if (!config_parse_bool(text, &b)) {
            errorf(err, errlen, "'%s' is not $true or $false", text);
            return -1;
        }
        *(bool *)field = b;
        return 0;
    case CPT_UINT:
    case CPT_BYTES:
    case CPT_TIMESPAN:
        return parse_number(p, field, text, err, errlen);
    case CPT_ENUM:
        return parse_enum(p, field, text, flags, err, errlen);
    case CPT_FLAGS:
        return parse_flags(p, field, text, flags, err, errlen);
    case CPT_CREDENTIAL:
        return parse_credential(p, obj, text, flags, err, errlen);
    case CPT_PASSWORD_HASH:
        return parse_password_hash(p, obj, text, flags, err, errlen);
    case CPT_LMTP:
        return parse_lmtp(field, text, flags, err, errlen);
    case CPT_BINDINGS:
    case CPT_IPRANGES:
    case CPT_DOMAINS:
    case CPT_ADDRESS_SPACES:
    case CPT_SMART_HOSTS:
    case CPT_SERVERS:
    case CPT_DNS_SERVERS:
        return config_list_parse(p, obj, text, flags, err, errlen);
    }
    errorf(err, errlen, "unknown parameter type");
    return -1;
}

/* ---- formatting ---- */

static void
format_names(FILE *f, const struct config_param *p, unsigned v)
{
    bool first = true;

    if (p->type == CPT_ENUM) {
        for (size_t i = 0; p->names[i].name != NULL; i++) {
            if (p->names[i].value == v) {
                fputs(p->names[i].name, f);
                return;
            }
        }
        /* A nullable enum's 0 is $null: shown empty, written empty. */
        if (!((p->flags & CPF_NULLABLE) && v == 0))
            fprintf(f, "%u", v);
        return;
    }
    for (size_t i = 0; p->names[i].name != NULL; i++) {
        if (p->names[i].value != 0 && (v & p->names[i].value) == p->names[i].value) {
            fprintf(f, "%s%s", first ? "" : ", ", p->names[i].name);
            first = false;
        }
    }
    if (first)
        fputs(zero_name(p->names), f);
}

/* A char * field, copied straight: a secret never passes through stdio's
 * buffers, which are freed without being wiped. */
static char *
format_string(const struct config_param *p, const void *obj, enum config_format_style style)
{
    const char *v = *(char *const *)((const char *)obj + p->offset);
    const void *companion = (const char *)obj + p->count_offset;

    if (p->type == CPT_CREDENTIAL) {
        const char *user = *(char *const *)companion;
        /* Get- shows who the connector logs in as, never the password. */
        if (style == CONFIG_FORMAT_DISPLAY && user != NULL)
            return xstrdup(user);
        if (style == CONFIG_FORMAT_DISPLAY)
            return v != NULL ? xstrndup(v, strcspn(v, ":")) : xstrdup("");
        if (v == NULL && user != NULL)
            return xasprintf("%s:%s", user, CONFIG_REDACTED);
    }
    if (p->type == CPT_PASSWORD_HASH && v == NULL && *(const bool *)companion)
        return xstrdup(CONFIG_REDACTED);
    return xstrdup(v != NULL ? v : "");
}

char *
config_param_format(const struct config_param *p, const void *obj, enum config_format_style style)
{
    char *out = NULL, buf[512];
    size_t outlen = 0;
    uint64_t v;
    FILE *f;

    if (config_string_type(p->type))
        return format_string(p, obj, style);
    const void *field = (const char *)obj + p->offset;
    if ((f = open_memstream(&out, &outlen)) == NULL)
        fatal("open_memstream");
    switch (p->type) {
    case CPT_STRING:
    case CPT_DOMAIN:
    case CPT_ADDRESS:
    case CPT_LMTP:
    case CPT_CREDENTIAL:
    case CPT_PASSWORD_HASH:
        break; /* format_string */
    case CPT_BOOL:
        fputs(*(const bool *)field ? "True" : "False", f);
        break;
    case CPT_UINT:
        v = *(const uint64_t *)field;
        if (v == CONFIG_UNLIMITED)
            fputs("Unlimited", f);
        else
            fprintf(f, "%llu", (unsigned long long)v);
        break;
    case CPT_BYTES:
        config_bytes_format(*(const uint64_t *)field, buf, sizeof(buf));
        fputs(buf, f);
        break;
    case CPT_TIMESPAN:
        config_timespan_format(*(const uint64_t *)field, buf, sizeof(buf));
        fputs(buf, f);
        break;
    case CPT_ENUM:
        format_names(f, p, (unsigned)*(const int *)field);
        break;
    case CPT_FLAGS:
        format_names(f, p, *(const unsigned *)field);
        break;
    case CPT_BINDINGS:
    case CPT_IPRANGES:
    case CPT_DOMAINS:
    case CPT_ADDRESS_SPACES:
    case CPT_SMART_HOSTS:
    case CPT_SERVERS:
    case CPT_DNS_SERVERS:
        config_list_format(p, obj, style, f);
        break;
    }
    if (fclose(f) != 0 || out == NULL)
        fatal("open_memstream");
    return out;
}

/* ---- whole objects ---- */

bool
config_string_type(enum config_param_type type)
{
    return type == CPT_STRING || type == CPT_DOMAIN || type == CPT_ADDRESS ||
           type == CPT_CREDENTIAL || type == CPT_PASSWORD_HASH || type == CPT_LMTP;
}

bool
config_secret_type(enum config_param_type type)
{
    return type == CPT_CREDENTIAL || type == CPT_PASSWORD_HASH;
}

void
config_object_init(const struct config_kind_info *k, void *obj)
{
    char err[256];

    memset(obj, 0, k->size);
    for (size_t i = 0; i < k->nparams; i++) {
        const struct config_param *p = &k->params[i];
        if (p->def != NULL && config_param_parse(p, obj, p->def, 0, err, sizeof(err)) < 0)
            fatalx("%s: %s: bad default: %s", k->name, p->name, err);
    }
}

void
config_object_free(const struct config_kind_info *k, void *obj)
{
    for (size_t i = 0; i < k->nparams; i++) {
        const struct config_param *p = &k->params[i];
        void *field = (char *)obj + p->offset;
        if (config_string_type(p->type)) {
            char *v = *(char **)field;
            /* A secret does not outlive its config in freed memory (the
             * daemon forks its children after loading). */
            if (config_secret_type(p->type) && v != NULL)
                explicit_bzero(v, strlen(v));
            free(v);
            *(char **)field = NULL;
            if (p->type == CPT_CREDENTIAL) {
                free(*(char **)((char *)obj + p->count_offset));
                *(char **)((char *)obj + p->count_offset) = NULL;
            }
        } else if (config_list_type(p->type)) {
            config_list_free(p, obj);
        }
    }
}

void
config_object_copy(const struct config_kind_info *k, void *dst, const void *src)
{
    /* Scalars come with the memcpy; every pointer field is in the table
     * and gets its own copy below. */
    memcpy(dst, src, k->size);
    for (size_t i = 0; i < k->nparams; i++) {
        const struct config_param *p = &k->params[i];
        void *field = (char *)dst + p->offset;
        if (config_string_type(p->type)) {
            if (*(char **)field != NULL)
                *(char **)field = xstrdup(*(char **)field);
            if (p->type == CPT_CREDENTIAL) {
                char **user = (char **)((char *)dst + p->count_offset);
                if (*user != NULL)
                    *user = xstrdup(*user);
            }
        } else if (config_list_type(p->type)) {
            config_list_copy(p, dst);
        }
    }
}
