/*
 * param_help.c — one text per row of the parameter tables (config_param.c)
 * for Get-Help: what the setting does in Exchange's terms, as postern's
 * code does it (where postern differs from Exchange, the text says what
 * postern does), and the unit where it is not obvious.
 *
 * The type, default and allowed values are printed from the tables; the
 * texts do not repeat them. Each is one or two sentences of plain ASCII,
 * about 220 characters at most.
 * Must never: describe a behaviour the code does not have (read the code
 * before changing a text, and change the text with the code), or carry an
 * entry for a parameter that is in no table (the unit test counts them).
 */
#include "admin/param_help.h"

#include <stddef.h>
#include <strings.h>

struct param_help_entry {
    const char *kind;
    const char *param;
    const char *text;
};

#define TC "TransportConfig"
#define RC "ReceiveConnector"
#define SC "SendConnector"
#define AD "AcceptedDomain"
#define MB "Mailbox"
#define DK "DkimSigningConfig"

/* In the order of the tables. */
static const struct param_help_entry entries[] = {
    /* ---- TransportConfig ---- */
    {TC, "Fqdn",
     "This server's own name: the default Fqdn of every connector, the reporting MTA of delivery "
     "reports and the name a SourceTransportServers list must give. Setup sets it."},
    {TC, "MaxReceiveSize",
     "Organisation-wide cap on the size of a received message: each Receive connector enforces "
     "the smaller of this and its own MaxMessageSize, and announces it in EHLO SIZE."},
    {TC, "MaxSendSize",
     "Exchange's organisation-wide limit on the size of a message a sender may send. postern "
     "stores it but does not enforce it: MaxReceiveSize and the connectors' MaxMessageSize apply."},
    {TC, "MaxRecipientEnvelopeLimit",
     "Organisation-wide cap on the recipients of one message: a Receive connector answers "
     "452 4.5.3 to RCPT TO beyond the smaller of this and its own MaxRecipientsPerMessage."},
    {TC, "TLSReceiveDomainSecureList",
     "Partner domains whose mail must arrive domain-secured: on a Receive connector with "
     "DomainSecureEnabled their senders need TLS and a trusted client certificate naming the "
     "domain. Exact names only."},
    {TC, "TLSSendDomainSecureList",
     "Partner domains that get mail only over mutual TLS when a Send connector with "
     "DomainSecureEnabled routes them (our certificate presented, theirs checked). Exact names "
     "only."},
    {TC, "TlsCipherProfile",
     "postern's own: TLS versions and suites for receiving and delivering. Modern: TLS 1.3 only; "
     "Intermediate: TLS 1.2 and 1.3, AEAD suites; Compatible: TLS 1.0 and up, for old peers."},
    {TC, "ExternalPostmasterAddress",
     "The From: of the delivery reports postern sends (unset: postmaster@ the default accepted "
     "domain). If it is a local mailbox, it also gets postmaster mail for domains without a "
     "postmaster mailbox."},
    {TC, "ExternalDelayDSNEnabled",
     "Whether senders get a delay notice once a message has waited DelayNotificationTimeout. "
     "postern applies it to every sender, internal or external."},
    {TC, "InternalDelayDSNEnabled",
     "Exchange's switch for delay notices to internal senders. postern stores it but does not "
     "use it: ExternalDelayDSNEnabled decides for every sender."},
    {TC, "ExternalDNSServers",
     "DNS servers for delivery lookups (MX and addresses), each an IP address or IP@port. Used "
     "only when UseExternalDNSServersEnabled is True."},
    {TC, "UseExternalDNSServersEnabled",
     "True makes delivery resolve through ExternalDNSServers instead of the servers in "
     "/etc/resolv.conf. postern sets this once for all Send connectors; Exchange sets it per "
     "connector."},
    {TC, "QueueGlitchRetryCount",
     "How many times a next hop that could not be connected to is retried QueueGlitchRetryInterval "
     "apart, before the TransientFailureRetryInterval retries begin."},
    {TC, "QueueGlitchRetryInterval",
     "The wait between the first, quick retries of a next hop that could not be connected to "
     "(QueueGlitchRetryCount of them)."},
    {TC, "TransientFailureRetryCount",
     "How many retries of an unreachable next hop follow the glitch retries, "
     "TransientFailureRetryInterval apart; after them every retry waits "
     "OutboundConnectionFailureRetryInterval."},
    {TC, "TransientFailureRetryInterval",
     "The wait between the retries of an unreachable next hop once the glitch retries are used up "
     "(TransientFailureRetryCount of them)."},
    {TC, "OutboundConnectionFailureRetryInterval",
     "The wait between retries of a next hop once the glitch and transient retries are used up; "
     "it applies until a connection to that next hop succeeds again."},
    {TC, "MessageRetryInterval",
     "How long a message waits before it is tried again after a delivery attempt left some of its "
     "recipients with a temporary (4xx) failure."},
    {TC, "DelayNotificationTimeout",
     "How long after its receipt an undelivered message gets its sender one delay notice (with "
     "ExternalDelayDSNEnabled, unless the recipient's NOTIFY excludes DELAY)."},
    {TC, "MessageExpirationTimeout",
     "How long postern tries to deliver a message, counted from its receipt; then the remaining "
     "recipients fail (4.4.7, with the last error) and the sender gets a non-delivery report."},
    {TC, "MaxOutboundConnections",
     "The most deliveries running at once over all next hops. postern counts SMTP and LMTP "
     "connections and local Maildir deliveries alike."},
    {TC, "MaxPerDomainOutboundConnections",
     "The most deliveries running at once to one next hop: a recipient domain, a smart-host "
     "connector, an LMTP server or the local mailboxes."},
    {TC, "DnssecTrustAnchorFile",
     "postern's own: the DNSSEC trust anchors (DS or DNSKEY records) DNS answers are validated "
     "with; Debian's root key by default. Read when the service starts."},
    {TC, "DaneEnabled",
     "postern's own: DANE (RFC 7672). A next hop with DNSSEC-signed TLSA records gets TLS only, "
     "checked by them; failing mail waits. Not with domain security or a TlsAuthLevel above "
     "EncryptionOnly."},
    {TC, "MtaStsEnabled",
     "postern's own: MTA-STS (RFC 8461). A recipient domain's published policy in enforce mode "
     "limits its mail to the MX hosts it names, over TLS with certificates that name them. DANE "
     "wins where both exist."},
    {TC, "TlsReportingEnabled",
     "postern's own: counts the TLS results of DNS-routed deliveries and sends the RFC 8460 "
     "report once a day to each recipient domain that publishes _smtp._tls (Get-TlsReport "
     "shows them)."},
    {TC, "TlsReportingOrganization",
     "postern's own: organization-name in the TLS reports (RFC 8460 4.4); the Fqdn when unset."},
    {TC, "TlsReportingContact",
     "postern's own: contact-info in the TLS reports and their From: address; postmaster of "
     "the default accepted domain when unset."},
    {TC, "LogLevel",
     "postern's own: Warning (problems only), Information (the default: also a line per session "
     "and message event, fields for journalctl QUEUE_ID= SESSION_ID=), Verbose (also every "
     "protocol state). `postern -d` forces Verbose."},
    {TC, "MessageTrackingLogMaxAge",
     "How long the daily message tracking log files (logs/MessageTracking) are kept: the queue "
     "process deletes older ones at start and every hour. 00:00:00 keeps them for ever."},
    {TC, "ReceiveProtocolLogMaxAge",
     "How long the daily Receive connector protocol log files (logs/ProtocolLog/SmtpReceive) are "
     "kept; deleted as MessageTrackingLogMaxAge. 00:00:00 keeps them for ever."},
    {TC, "SendProtocolLogMaxAge",
     "How long the daily Send connector protocol log files (logs/ProtocolLog/SmtpSend) are kept; "
     "deleted as MessageTrackingLogMaxAge. 00:00:00 keeps them for ever."},
    {TC, "ServiceUser",
     "postern's own: the unprivileged account the keys, queue and smtp processes run as, and "
     "which owns the instance, when postern starts as root. Read at start; the daemon stays root."},
    {TC, "ConsoleBindings",
     "postern's own: where `postern console` serves the management console over HTTPS (with the "
     "certificate of the server's Fqdn). Loopback by default; read when the console starts."},
    {TC, "MetricsBindings",
     "postern's own: where the service answers Prometheus scrapes (GET /metrics, plain HTTP; "
     "docs/metrics.md). Empty, the default, is off. Use loopback (127.0.0.1:9125): other "
     "addresses are warned about. A reload applies a change."},
    {TC, "ConsoleIdleTimeout",
     "postern's own: a console session ends after this long without a request (then the browser "
     "asks to sign in again)."},

    /* ---- ReceiveConnector ---- */
    {RC, "Name",
     "The connector's identity in the cmdlets, and its name in logs, protocol logs and the "
     "Received: field of the mail it takes in. Unique among Receive connectors."},
    {RC, "Comment", "Free text for administrators; postern does not use it."},
    {RC, "Usage",
     "The preset New-ReceiveConnector applied (-Usage or a switch such as -Internet): "
     "PermissionGroups, AuthMechanism and a fixed Bindings or RemoteIPRanges. Recorded only; it "
     "has no effect later."},
    {RC, "Enabled",
     "A disabled connector is not listened on and serves no connection; its settings are kept."},
    {RC, "Bindings",
     "The local IP:port pairs the connector listens on; 0.0.0.0 and [::] mean every local "
     "address. A connector bound to the specific address beats one bound to the wildcard."},
    {RC, "RemoteIPRanges",
     "The clients served: addresses, a-b ranges or CIDR (a bare IPv4 network address takes its "
     "classful mask). The smallest matching range wins; ranges on one binding must nest or be "
     "apart."},
    {RC, "Fqdn",
     "The name this connector uses in its banner, EHLO reply and Received: field, and the name of "
     "the certificate offered with STARTTLS. Unset: the TransportConfig Fqdn."},
    {RC, "Banner",
     "The whole greeting line sent on connect instead of \"220 <Fqdn> postern ESMTP service ready "
     "at <date>\"; it must start with \"220 \"."},
    {RC, "AuthMechanism",
     "Tls offers STARTTLS; BasicAuth offers AUTH PLAIN and LOGIN (with ExchangeUsers), "
     "BasicAuthRequireTLS only inside TLS; ExternalAuthoritative trusts every session as a secured "
     "server. Integrated, ExchangeServer: not offered."},
    {RC, "PermissionGroups",
     "Who may send: AnonymousUsers, anyone, to accepted domains; ExchangeUsers, after AUTH, also "
     "relay; ExchangeServers, everything, only with ExternalAuthoritative; Partners, "
     "domain-secured senders. Others grant nothing."},
    {RC, "RequireTLS",
     "Clients must use STARTTLS first: MAIL FROM before it gets 530 5.7.0, and AUTH is not offered "
     "in clear text."},
    {RC, "DomainSecureEnabled",
     "Asks clients for a certificate in STARTTLS; senders in TLSReceiveDomainSecureList domains "
     "then need TLS and a trusted certificate naming their domain, else 454 4.7.5 (retry later)."},
    {RC, "MaxMessageSize",
     "The largest message accepted, announced in EHLO SIZE; the smaller of this and "
     "TransportConfig MaxReceiveSize applies. A larger message gets 552 5.3.4."},
    {RC, "MaxRecipientsPerMessage",
     "The most recipients of one message; further RCPT TO get 452 4.5.3. The smaller of this and "
     "TransportConfig MaxRecipientEnvelopeLimit applies."},
    {RC, "MaxInboundConnection",
     "The most sessions the connector serves at once; a further connection gets 421 4.3.2 and is "
     "closed."},
    {RC, "MaxInboundConnectionPerSource",
     "The most sessions the connector serves at once for one remote IP address; a further "
     "connection from it gets 421 4.3.2 and is closed."},
    {RC, "ConnectionTimeout",
     "The longest a session may last in all, however busy; then it gets 421 4.4.2 and is closed. "
     "Must be longer than ConnectionInactivityTimeout."},
    {RC, "ConnectionInactivityTimeout",
     "How long a client may stay silent before the session gets 421 4.4.2 and is closed; also the "
     "longest a STARTTLS handshake may take."},
    {RC, "MaxProtocolErrors",
     "How many bad commands (syntax or sequence errors) a session may send; the next one gets "
     "421 4.7.0 and the connection is closed."},
    {RC, "MaxLogonFailures",
     "How many failed AUTH attempts a session may make before it gets 421 4.7.0 and is closed; 0 "
     "never closes a session for failed logons."},
    {RC, "MaxHeaderSize",
     "The largest header section a message may have, in bytes (all header lines with their line "
     "ends); a larger one is refused with 552 5.3.4."},
    {RC, "MaxHopCount",
     "The most Received: fields a message may already carry; more means a mail loop, and the "
     "message is refused with 554 5.4.6."},
    {RC, "ProtocolLoggingLevel",
     "Verbose records every command, reply and event of this connector's sessions in "
     "DIR/logs/ProtocolLog/SmtpReceive (Exchange's CSV layout); None records nothing there."},

    /* ---- SendConnector ---- */
    {SC, "Name",
     "The connector's identity in the cmdlets and logs, and the queue name of its smart-host "
     "deliveries. Between equally good connectors the lowest name wins."},
    {SC, "Comment", "Free text for administrators; postern does not use it."},
    {SC, "Usage",
     "The preset New-SendConnector applied: Internet, DNS routing; Internal, smart hosts "
     "(DNSRoutingEnabled False); Partner, DNS routing with DomainSecureEnabled. Recorded only; it "
     "has no effect later."},
    {SC, "Enabled",
     "A disabled connector is never chosen for routing; mail that only it would route waits in "
     "the Unreachable queue."},
    {SC, "AddressSpaces",
     "The recipient domains this connector routes: contoso.com, *.contoso.com (it and its "
     "subdomains) or *, each with ;cost. The most specific match wins, then the lowest cost, then "
     "the name."},
    {SC, "DNSRoutingEnabled",
     "True delivers to the MX hosts of the recipient domain (or its own address when it has no "
     "MX); False delivers to the SmartHosts."},
    {SC, "SmartHosts",
     "The hosts mail is relayed to when DNSRoutingEnabled is False, tried in order: host names or "
     "IP literals (IPv6 in brackets)."},
    {SC, "Port",
     "The TCP port the connector connects to. postern uses it for MX hosts as well as for smart "
     "hosts."},
    {SC, "SmartHostAuthMechanism",
     "How postern logs in to the smart hosts: BasicAuth uses AUTH PLAIN or LOGIN with "
     "AuthenticationCredential, BasicAuthRequireTLS the same but never outside TLS. The others "
     "send no AUTH."},
    {SC, "AuthenticationCredential",
     "The user:password for BasicAuth to the smart hosts, set with -AuthenticationCredential "
     "(\"-\" reads it from standard input). Get- shows only the user; the keys process holds the "
     "password."},
    {SC, "RequireTLS",
     "Mail goes only after STARTTLS succeeds; a peer without it, or a failed handshake, defers the "
     "mail. Without RequireTLS a failed handshake is retried in clear text."},
    {SC, "IgnoreSTARTTLS",
     "Never starts TLS, even when the peer offers STARTTLS: the mail goes in clear text."},
    {SC, "TlsAuthLevel",
     "With RequireTLS, what the peer's certificate must pass, else the mail waits: EncryptionOnly, "
     "nothing; CertificateValidation, a trusted chain (and CRLs in certs/crl); DomainValidation, "
     "also the TlsDomain name."},
    {SC, "TlsDomain",
     "The name the peer's certificate must carry for DomainValidation (unset: the recipient "
     "domain; needed with smart hosts). *.contoso.com matches only a certificate naming "
     "*.contoso.com itself."},
    {SC, "DomainSecureEnabled",
     "TLSSendDomainSecureList domains routed here get mutual TLS: our certificate for Fqdn "
     "presented, theirs trusted and naming the domain, else the mail waits. Unlike Exchange, also "
     "through smart hosts."},
    {SC, "Fqdn",
     "The name sent in EHLO or HELO, and the name of the certificate presented for domain "
     "security. Unset: the TransportConfig Fqdn."},
    {SC, "SourceTransportServers",
     "The servers that may use this connector, by FQDN or host name. When set and not naming this "
     "server (TransportConfig Fqdn), the connector is ignored here."},
    {SC, "MaxMessageSize",
     "Larger messages are not routed through this connector. With no other connector for them "
     "they wait in the Unreachable queue for a route or their expiry (Exchange returns them at "
     "once)."},
    {SC, "ConnectionInactivityTimeOut",
     "How long postern waits for the peer (a reply, or the TLS handshake) before it drops the "
     "connection; the mail is then retried."},
    {SC, "ProtocolLoggingLevel",
     "Verbose records every command, reply and event of this connector's connections in "
     "DIR/logs/ProtocolLog/SmtpSend (Exchange's CSV layout); None records nothing there."},
    {SC, "ForceHELO",
     "Greets with HELO instead of EHLO, so no ESMTP extension (STARTTLS, AUTH, PIPELINING, DSN) "
     "is used. Without it postern falls back to HELO only when EHLO is refused."},
    {SC, "ErrorPolicies",
     "Permanent failures to treat as temporary: DowngradeDnsFailures, a recipient domain that "
     "does not exist or has a null MX; DowngradeAuthFailures, credentials the smart host refuses."},

    /* ---- AcceptedDomain ---- */
    {AD, "Name",
     "The accepted domain's identity in the cmdlets; New-AcceptedDomain uses the DomainName when "
     "no name is given."},
    {AD, "DomainName",
     "The domain postern accepts mail for: contoso.com, or *.contoso.com for it and all its "
     "subdomains (an exact entry beats a wildcard). Set at creation only."},
    {AD, "DomainType",
     "Authoritative: its mailboxes are here, and unknown recipients get 550 5.1.1 (postmaster is "
     "always accepted). InternalRelay and ExternalRelay, alike in postern: any recipient, sent on "
     "by Send connectors."},
    {AD, "LmtpServer",
     "postern's own: deliver this Authoritative domain's mailboxes over LMTP to host:port, "
     "[v6]:port or /socket instead of Maildirs under DIR/mail; a mailbox's own LmtpServer wins."},
    {AD, "Default",
     "Marks the default domain: postmaster@ it signs reports (without ExternalPostmasterAddress) "
     "and takes a bare <postmaster>. Set by Set-AcceptedDomain -MakeDefault; the first domain "
     "gets it."},

    /* ---- Mailbox ---- */
    {MB, "Name",
     "The mailbox's identity in the cmdlets; a client may also give it as the AUTH user name."},
    {MB, "PrimarySmtpAddress",
     "The address the mailbox receives mail at, in an Authoritative accepted domain; also an AUTH "
     "user name. Without an LmtpServer its mail goes to the Maildir DIR/mail/<address>."},
    {MB, "LmtpServer",
     "postern's own: deliver this mailbox's mail over LMTP to host:port, [v6]:port or /socket, "
     "instead of to its Maildir or to its accepted domain's LmtpServer."},
    {MB, "PasswordHash",
     "The yescrypt hash of the mailbox's SMTP AUTH password: set with -Password on New-Mailbox or "
     "Set-Mailbox, never shown. Without one the mailbox cannot authenticate."},
    {MB, "ExchangeAdministratorRole",
     "Who may sign in to the management console: OrgAdmin (every cmdlet) or ViewOnlyAdmin (Get- "
     "cmdlets), set only with Add-ExchangeAdministrator and Remove-ExchangeAdministrator; None "
     "for everyone else."},

    /* ---- DkimSigningConfig ---- */
    {DK, "Name", "The configuration's identity in the cmdlets: its DomainName."},
    {DK, "DomainName",
     "The accepted domain whose mail is signed: mail whose From: address is in exactly this "
     "domain gets a DKIM-Signature (d=) when it leaves through a Send connector."},
    {DK, "Enabled",
     "Whether mail of the domain is signed. New-DkimSigningConfig makes the keys disabled unless "
     "-Enabled $true: publish the TXT records of both selectors first."},
    {DK, "KeyAlgorithm",
     "postern's own: Rsa (a=rsa-sha256, what every verifier knows) or Ed25519 (a=ed25519-sha256, "
     "RFC 8463), for the keys New- and Rotate-DkimSigningConfig make. Set at creation only."},
    {DK, "Selector1KeySize", "The size in bits of selector1's key (256 for Ed25519)."},
    {DK, "Selector2KeySize", "The size in bits of selector2's key (256 for Ed25519)."},
    {DK, "Selector1PublicKey",
     "The text of the TXT record to publish at selector1._domainkey.<domain>; postern's stand-in "
     "for Exchange Online's Selector1CNAME. Its private key is DIR/dkim/<domain>/selector1.key."},
    {DK, "Selector2PublicKey",
     "The text of the TXT record to publish at selector2._domainkey.<domain>; postern's stand-in "
     "for Exchange Online's Selector2CNAME. Its private key is DIR/dkim/<domain>/selector2.key."},
    {DK, "KeyCreationTime", "When the newest of the two keys was made (UTC)."},
    {DK, "RotateOnDate",
     "When Rotate-DkimSigningConfig last switched selectors (UTC); postern switches at once, "
     "where Exchange Online waits four days."},
    {DK, "SelectorBeforeRotateOnDate", "The selector that signed before the last rotation."},
    {DK, "SelectorAfterRotateOnDate",
     "The selector that signs now (s=); Rotate-DkimSigningConfig switches to the other one and "
     "makes a new key for the one retired."},
    {DK, "HeaderCanonicalization",
     "How header fields are prepared for signing (RFC 6376 3.4): Relaxed survives the "
     "reformatting relays do; Simple signs them exactly as sent."},
    {DK, "BodyCanonicalization",
     "How the body is prepared for signing (RFC 6376 3.4): Relaxed ignores changes in blanks at "
     "line ends and runs of blanks; Simple signs it exactly as sent."},
};

#undef TC
#undef RC
#undef SC
#undef AD
#undef MB
#undef DK

const char *
param_help(const char *kind, const char *param)
{
    if (kind == NULL || param == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++)
        if (strcasecmp(entries[i].kind, kind) == 0 && strcasecmp(entries[i].param, param) == 0)
            return entries[i].text;
    return NULL;
}

size_t
param_help_count(void)
{
    return sizeof(entries) / sizeof(entries[0]);
}
