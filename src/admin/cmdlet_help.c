/*
 * cmdlet_help.c — the declarations of cmdlet_help.h: one entry per cmdlet
 * of cmdlet.c's table, and the views the binder and Get-Help build on.
 * Must never: describe a parameter differently from what the cmdlet does
 * with it (the configuration parameters' types, defaults and values come
 * from config_param.c, not from here).
 */
#include "admin/cmdlet_help.h"
#include "admin/param_help.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define P_IDENTITY(kindname, req)                                                                  \
    {                                                                                              \
        "Identity", kindname "IdParameter", HP_POSITIONAL | (req),                                 \
            "The object's name (SERVER\\Name, as Exchange shows it, is accepted)."                 \
    }
#define END                                                                                        \
    {                                                                                              \
        NULL, NULL, 0, NULL                                                                        \
    }

static const struct help_param get_rc[] = {P_IDENTITY("ReceiveConnector", 0), END};
static const struct help_param set_rc[] = {P_IDENTITY("ReceiveConnector", HP_MANDATORY), END};
static const struct help_param new_rc[] = {
    {"Custom", "SwitchParameter", HP_SWITCH, "The same as -Usage Custom."},
    {"Internet", "SwitchParameter", HP_SWITCH,
     "The same as -Usage Internet: anonymous mail from anywhere, TLS offered."},
    {"Internal", "SwitchParameter", HP_SWITCH,
     "The same as -Usage Internal: other servers of the organisation, on port 25."},
    {"Client", "SwitchParameter", HP_SWITCH,
     "The same as -Usage Client: authenticated users submitting on port 587."},
    {"Partner", "SwitchParameter", HP_SWITCH,
     "The same as -Usage Partner: partner domains over mutual TLS."},
    END,
};
static const struct help_param get_sc[] = {P_IDENTITY("SendConnector", 0), END};
static const struct help_param set_sc[] = {P_IDENTITY("SendConnector", HP_MANDATORY), END};
static const struct help_param new_sc[] = {
    {"Custom", "SwitchParameter", HP_SWITCH, "The same as -Usage Custom."},
    {"Internet", "SwitchParameter", HP_SWITCH,
     "The same as -Usage Internet: delivery by DNS (MX) to the internet."},
    {"Internal", "SwitchParameter", HP_SWITCH,
     "The same as -Usage Internal: delivery to smart hosts of the organisation."},
    {"Partner", "SwitchParameter", HP_SWITCH,
     "The same as -Usage Partner: delivery by DNS with domain security (mutual TLS)."},
    END,
};
static const struct help_param get_ad[] = {P_IDENTITY("AcceptedDomain", 0), END};
static const struct help_param set_ad[] = {
    P_IDENTITY("AcceptedDomain", HP_MANDATORY),
    {"MakeDefault", "SwitchParameter", HP_SWITCH,
     "Makes this domain the default one (postmaster@ and reports use it)."},
    END,
};
static const struct help_param rm_ad[] = {P_IDENTITY("AcceptedDomain", HP_MANDATORY), END};
static const struct help_param get_mb[] = {P_IDENTITY("Mailbox", 0), END};
static const struct help_param rm_mb[] = {P_IDENTITY("Mailbox", HP_MANDATORY), END};
static const struct help_param set_mb[] = {
    P_IDENTITY("Mailbox", HP_MANDATORY),
    {"Password", "SecureString", 0,
     "The new password for SMTP AUTH; \"-\" reads it from standard input, (Get-Credential) asks "
     "on the terminal. Stored only as a yescrypt hash."},
    END,
};
static const struct help_param new_mb[] = {
    {"Password", "SecureString", 0,
     "The password for SMTP AUTH; \"-\" reads it from standard input. Stored only as a "
     "yescrypt hash."},
    END,
};
static const struct help_param get_dk[] = {P_IDENTITY("DkimSigningConfig", 0), END};
static const struct help_param set_dk[] = {P_IDENTITY("DkimSigningConfig", HP_MANDATORY), END};
static const struct help_param new_dk[] = {
    {"KeySize", "UInt16", 0,
     "The size of the RSA keys in bits: 1024 or 2048 (the default). Not with -KeyAlgorithm "
     "Ed25519."},
    END,
};
static const struct help_param rotate_dk[] = {
    P_IDENTITY("DkimSigningConfig", HP_MANDATORY),
    {"KeySize", "UInt16", 0,
     "The size in bits of the new RSA key for the retired selector: 1024 or 2048 (default: the "
     "size of the key it replaces)."},
    END,
};
static const struct help_param get_tc[] = {
    {"Identity", "OrganizationIdParameter", HP_POSITIONAL,
     "Accepted and ignored: there is one transport configuration."},
    END,
};

static const struct help_param queue_id[] = {
    {"Identity", "QueueIdentity", HP_POSITIONAL,
     "The queue: SERVER\\Submission, SERVER\\<destination> or SERVER\\Unreachable, as "
     "Get-Queue shows it; without it, every queue."},
    END,
};
static const struct help_param queue_action[] = {
    {"Identity", "QueueIdentity", HP_POSITIONAL | HP_MANDATORY,
     "The queue, as Get-Queue shows it."},
    END,
};
static const struct help_param admin_add[] = {
    {"Identity", "UserIdParameter", HP_POSITIONAL | HP_MANDATORY,
     "The mailbox (name or address) that may sign in to the console; it needs a password."},
    {"Role", "ExchangeAdminRole", HP_MANDATORY,
     "OrgAdmin (every cmdlet) or ViewOnlyAdmin (Get- cmdlets only)."},
    END,
};
static const struct help_param mtasts_domain[] = {
    {"Domain", "SmtpDomain", HP_POSITIONAL,
     "One recipient domain; without it, every domain with a cached policy."},
    END,
};
static const struct help_param tlsrpt_params[] = {
    {"Domain", "SmtpDomain", 0, "One recipient domain; without it, every domain counted."},
    {"Date", "DateTime", 0,
     "The UTC day (yyyy-mm-dd): Get-TlsReport's default is today, Send-TlsReport's yesterday."},
    END,
};
static const char *const ex_tlsrpt[] = {
    "Get-TlsReport -Domain contoso.com",
    "Get-TlsReport | Where-Object {$_.FailedSessions -gt 0} | ft Domain,PolicyType,Failures",
    "Send-TlsReport -Date 2026-12-05",
    NULL,
};
static const char *const ex_mtasts[] = {
    "Get-MtaStsPolicy -Domain contoso.com",
    "Clear-MtaStsCache -Domain contoso.com",
    NULL,
};
static const struct help_param admin_get[] = {
    {"Identity", "UserIdParameter", HP_POSITIONAL,
     "One administrator's mailbox; without it, every administrator."},
    END,
};
static const struct help_param admin_remove[] = {
    {"Identity", "UserIdParameter", HP_POSITIONAL | HP_MANDATORY,
     "The administrator's mailbox; the mailbox itself stays."},
    {"Role", "ExchangeAdminRole", 0, "Only when the mailbox has this role."},
    END,
};
static const struct help_param get_message[] = {
    {"Identity", "MessageIdentity", HP_POSITIONAL,
     "The message: SERVER\\Queue\\ID or its ID, as Get-Message shows it."},
    {"Queue", "QueueIdentity", 0, "Only the messages of this queue."},
    {"IncludeRecipientInfo", "SwitchParameter", HP_SWITCH,
     "Also shows each recipient with its status and last error."},
    END,
};
static const struct help_param message_action[] = {
    {"Identity", "MessageIdentity", HP_POSITIONAL | HP_MANDATORY,
     "The message, as Get-Message shows it."},
    END,
};
static const struct help_param remove_message[] = {
    {"Identity", "MessageIdentity", HP_POSITIONAL | HP_MANDATORY,
     "The message, as Get-Message shows it."},
    {"WithNDR", "Boolean", 0,
     "Whether the sender gets a non-delivery report for the recipients not yet delivered "
     "(default True)."},
    END,
};

static const struct help_param get_tracking[] = {
    {"Sender", "SmtpAddress", 0,
     "Only the events of messages from this address (the log's sender-address: the envelope "
     "sender), compared without regard to case."},
    {"Recipients", "ProxyAddress[]", 0,
     "Only the events that name one of these recipients (comma-separated), compared without "
     "regard to case."},
    {"MessageId", "String", 0,
     "Only the events of the message with this Message-ID header, with or without its angle "
     "brackets."},
    {"InternalMessageId", "String", 0,
     "Only the events of the message with this queue ID (as Get-Message and the 250 reply to "
     "DATA show it)."},
    {"EventId", "String", 0,
     "Only events of this kind: RECEIVE, SEND (to another server), DELIVER (to a mailbox), "
     "DEFER, FAIL or DSN."},
    {"Start", "DateTime", 0,
     "Only events at or after this time: 2026-12-06, \"2026-12-06 10:00\" or "
     "2026-12-06T10:00:00Z (UTC unless a zone such as +01:00 is given, as in the log). Only "
     "the daily files of the days from -Start to -End are read."},
    {"End", "DateTime", 0, "Only events before this time (same forms as -Start)."},
    {"ResultSize", "Unlimited", 0,
     "At most this many events, the oldest first (default 1000, with a warning when there are "
     "more), or Unlimited."},
    END,
};

static const struct help_param new_cert[] = {
    {"SubjectName", "X500DistinguishedName", 0,
     "The certificate's subject, as \"CN=mail.contoso.com\"."},
    {"DomainName", "MultiValuedProperty", 0, "The names the certificate is for (its SANs)."},
    {"KeySize", "Int32", 0, "The RSA key size in bits (2048, 3072 or 4096)."},
    {"KeyAlgorithm", "String", 0, "RSA or ECDSA (P-256)."},
    {"GenerateRequest", "SwitchParameter", HP_SWITCH,
     "Makes a certificate request for a CA instead of a self-signed certificate."},
    {"BinaryEncoded", "SwitchParameter", HP_SWITCH, "Writes the request in DER, not PEM."},
    {"RequestFile", "String", 0, "Where to write the request (else it is printed)."},
    {"Force", "SwitchParameter", HP_SWITCH, "Does not ask before replacing the default."},
    {"IncludeServerFQDN", "SwitchParameter", HP_SWITCH, "Adds the server's FQDN to the names."},
    {"IncludeServerNetBIOSName", "SwitchParameter", HP_SWITCH,
     "Adds the server's short host name to the names."},
    {"IncludeAcceptedDomains", "SwitchParameter", HP_SWITCH,
     "Adds every accepted domain to the names."},
    {"IncludeAutoDiscover", "SwitchParameter", HP_SWITCH,
     "Adds autodiscover.<domain> for each accepted domain."},
    {"Services", "AllowedServices", 0, "SMTP to use it for SMTP at once, or None."},
    END,
};
static const struct help_param import_cert[] = {
    {"Path", "String", HP_POSITIONAL, "The PKCS#12 (.pfx) or PEM file to import."},
    {"FileName", "String", 0, "The same as -Path."},
    {"FileData", "Byte[]", 0, "Not supported here: give -Path instead."},
    {"Password", "SecureString", 0,
     "The password of the PKCS#12 file; \"-\" reads it from standard input."},
    END,
};
static const struct help_param get_cert[] = {
    {"Thumbprint", "String", HP_POSITIONAL, "The certificate's SHA-1 thumbprint."},
    {"Identity", "ExchangeCertificateIdParameter", 0, "The same as -Thumbprint."},
    {"DomainName", "String", 0, "Only the certificates valid for this name."},
    END,
};
static const struct help_param enable_cert[] = {
    {"Thumbprint", "String", HP_POSITIONAL | HP_MANDATORY, "The certificate's SHA-1 thumbprint."},
    {"Identity", "ExchangeCertificateIdParameter", 0, "The same as -Thumbprint."},
    {"Services", "AllowedServices", HP_MANDATORY, "SMTP."},
    {"Force", "SwitchParameter", HP_SWITCH, "Replaces the default certificate without asking."},
    END,
};
static const struct help_param remove_cert[] = {
    {"Thumbprint", "String", HP_POSITIONAL | HP_MANDATORY, "The certificate's SHA-1 thumbprint."},
    {"Identity", "ExchangeCertificateIdParameter", 0, "The same as -Thumbprint."},
    END,
};
static const struct help_param import_root[] = {
    {"FilePath", "String", HP_POSITIONAL | HP_MANDATORY,
     "A CA certificate (PEM or DER) or a CRL to trust for TLS with partners."},
    {"CertStoreLocation", "String", 0,
     "Cert:\\LocalMachine\\Root (trusted roots) or Cert:\\LocalMachine\\CA; others are refused."},
    END,
};
static const struct help_param service[] = {
    {"Name", "String", HP_POSITIONAL, "MSExchangeTransport or postern (the same service)."},
    END,
};
static const struct help_param test_rc[] = {
    {"RemoteIPAddress", "IPAddress", HP_MANDATORY, "The client's address."},
    {"LocalEndPoint", "IPEndPoint", HP_MANDATORY,
     "The local address and port the client connects to, as 10.0.0.1:25 or [2001:db8::1]:25."},
    END,
};
static const struct help_param test_route[] = {
    {"Recipient", "SmtpAddress", HP_MANDATORY, "The recipient whose route is explained."},
    {"Sender", "SmtpAddress", 0, "The sender (shown; routing does not depend on it)."},
    {"MessageSize", "Int64", 0,
     "The message's size in bytes: connectors whose MaxMessageSize is smaller are skipped."},
    END,
};
static const struct help_param test_sc[] = {
    {"Identity", "SendConnectorIdParameter", HP_MANDATORY | HP_POSITIONAL,
     "The Send connector to test."},
    {"Recipient", "SmtpAddress", 0,
     "Test the next hop of this recipient's domain (default: the connector's first address "
     "space that names a domain)."},
    END,
};
static const struct help_param test_smtp[] = {
    {"Identity", "ReceiveConnectorIdParameter", HP_POSITIONAL,
     "Test only this Receive connector (default: every enabled one)."},
    END,
};
static const struct help_param get_help[] = {
    {"Name", "String", HP_POSITIONAL, "The cmdlet, as Set-ReceiveConnector."},
    {"Examples", "SwitchParameter", HP_SWITCH, "Shows the examples only."},
    {"Parameter", "String", 0, "Shows this parameter only (wildcards allowed)."},
    {"Full", "SwitchParameter", HP_SWITCH, "Everything, examples included."},
    END,
};
static const struct help_param get_command[] = {
    {"Name", "String", HP_POSITIONAL, "Cmdlet names, wildcards allowed (Get-*)."},
    {"Noun", "String", 0, "Only cmdlets for this noun (ReceiveConnector, wildcards allowed)."},
    {"Verb", "String", 0, "Only cmdlets with this verb (Set, wildcards allowed)."},
    END,
};

static const char *const ex_set_rc[] = {
    "Set-ReceiveConnector -identity \"Default mail\" -RequireTLS $true -AuthenticationMechanism "
    "TLS",
    "Set-ReceiveConnector \"From partners\" -DomainSecureEnabled $true -PermissionGroups Partners",
    "Set-ReceiveConnector \"Default mail\" -RemoteIPRanges @{Add=\"10.0.0.0/8\"; "
    "Remove=\"192.168.0.0/16\"}",
    "Get-ReceiveConnector | Set-ReceiveConnector -MaxMessageSize 20MB -WhatIf",
    NULL,
};
static const char *const ex_new_rc[] = {
    "New-ReceiveConnector -Name \"From partners\" -Usage Partner -Bindings 0.0.0.0:25 "
    "-RemoteIPRanges 192.0.2.0/24",
    NULL,
};
static const char *const ex_get_rc[] = {
    "Get-ReceiveConnector | fl Name,Bindings,RequireTLS",
    "Get-ReceiveConnector | Where-Object {$_.RequireTLS -eq $false} | ft Name,Bindings",
    NULL,
};
static const char *const ex_new_sc[] = {
    "New-SendConnector -Name \"To Contoso\" -Usage Partner -AddressSpaces contoso.com "
    "-DomainSecureEnabled $true",
    "New-SendConnector -Name \"Smart host\" -AddressSpaces * -SmartHosts relay.isp.example "
    "-SmartHostAuthMechanism BasicAuthRequireTLS -AuthenticationCredential (Get-Credential)",
    NULL,
};
static const char *const ex_set_sc[] = {
    "Set-SendConnector \"To Contoso\" -DomainSecureEnabled $true",
    "Set-SendConnector \"Smart host\" -TlsAuthLevel DomainValidation -TlsDomain relay.isp.example",
    NULL,
};
static const char *const ex_set_tc[] = {
    "Set-TransportConfig -TLSReceiveDomainSecureList contoso.com, contoso.net",
    "Set-TransportConfig -TLSSendDomainSecureList contoso.com",
    NULL,
};
static const char *const ex_new_ad[] = {
    "New-AcceptedDomain -Name contoso.com -DomainName contoso.com -DomainType Authoritative",
    NULL,
};
static const char *const ex_new_mb[] = {
    "New-Mailbox -Name alice -PrimarySmtpAddress alice@contoso.com -Password -",
    NULL,
};
static const char *const ex_new_dk[] = {
    "New-DkimSigningConfig -DomainName contoso.com -Enabled $false",
    "Get-DkimSigningConfig contoso.com | fl Selector1PublicKey,Selector2PublicKey",
    "Set-DkimSigningConfig -Identity contoso.com -Enabled $true",
    NULL,
};
static const char *const ex_rotate_dk[] = {
    "Rotate-DkimSigningConfig -Identity contoso.com -KeySize 2048",
    "Get-DkimSigningConfig contoso.com | fl SelectorAfterRotateOnDate,RotateOnDate",
    NULL,
};
static const char *const ex_admin[] = {
    "Add-ExchangeAdministrator -Identity alice -Role OrgAdmin",
    "Get-ExchangeAdministrator",
    NULL,
};
static const char *const ex_queue[] = {
    "Get-Queue",
    "Get-Queue | Where-Object {$_.MessageCount -gt 0} | ft Identity,Status,MessageCount",
    NULL,
};
static const char *const ex_message[] = {
    "Get-Message -Queue SERVER\\Submission -IncludeRecipientInfo",
    NULL,
};
static const char *const ex_tracking[] = {
    "Get-MessageTrackingLog -Sender bob@contoso.com -Start \"2026-12-06 08:00\" -End "
    "\"2026-12-06 17:00\"",
    "Get-MessageTrackingLog -EventId FAIL -ResultSize Unlimited | ft "
    "Timestamp,Recipients,RecipientStatus",
    "Get-MessageTrackingLog -MessageId \"<1234@contoso.com>\" | fl "
    "EventId,Recipients,SourceContext",
    NULL,
};
static const char *const ex_cert[] = {
    "New-ExchangeCertificate -SubjectName \"CN=mail.contoso.com\" -DomainName mail.contoso.com "
    "-Services SMTP",
    "Import-ExchangeCertificate -Path mail.pfx -Password - | Enable-ExchangeCertificate "
    "-Services SMTP",
    NULL,
};
static const char *const ex_root[] = {
    "Import-Certificate -FilePath partner-ca.pem -CertStoreLocation Cert:\\LocalMachine\\Root",
    NULL,
};
static const char *const ex_service[] = {"Restart-Service MSExchangeTransport", NULL};
static const char *const ex_test_rc[] = {
    "Test-ReceiveConnector -RemoteIPAddress 192.0.2.7 -LocalEndPoint 10.0.0.1:25",
    NULL,
};
static const char *const ex_test_route[] = {
    "Test-MailRoute -Recipient bob@contoso.com",
    "Test-MailRoute -Recipient bob@contoso.com | fl Route,Tls",
    NULL,
};
static const char *const ex_test_sc[] = {
    "Test-SendConnector \"To Contoso\"",
    "Test-SendConnector \"To Contoso\" -Recipient bob@contoso.com | fl Peer,TlsVersion,Result",
    NULL,
};
static const char *const ex_test_smtp[] = {
    "Test-SmtpConnectivity",
    "Test-SmtpConnectivity \"Default internet\" | ft ReceiveConnector,StartTls,Result",
    NULL,
};
static const char *const ex_help[] = {
    "Get-Help Set-ReceiveConnector -Parameter RequireTLS",
    "Get-Help New-SendConnector -Examples",
    NULL,
};
static const char *const ex_command[] = {"Get-Command -Noun ReceiveConnector", "Get-Command Set-*",
                                         NULL};

#define KIND(name, syn, mode, kind, params, ex)                                                    \
    {                                                                                              \
        name, syn, mode, kind, params, ex                                                          \
    }
#define OTHER(name, syn, params, ex)                                                               \
    {                                                                                              \
        name, syn, HM_OTHER, CONFIG_TRANSPORT, params, ex                                          \
    }

static const struct cmdlet_help helps[] = {
    KIND("New-ReceiveConnector",
         "Creates a Receive connector: where and from whom mail is "
         "accepted, with which TLS and authentication.",
         HM_NEW, CONFIG_RECEIVE_CONNECTOR, new_rc, ex_new_rc),
    KIND("Set-ReceiveConnector", "Changes a Receive connector.", HM_SET, CONFIG_RECEIVE_CONNECTOR,
         set_rc, ex_set_rc),
    KIND("Get-ReceiveConnector", "Shows the Receive connectors.", HM_GET, CONFIG_RECEIVE_CONNECTOR,
         get_rc, ex_get_rc),
    KIND("Remove-ReceiveConnector", "Removes a Receive connector.", HM_REMOVE,
         CONFIG_RECEIVE_CONNECTOR, set_rc, NULL),
    KIND("New-SendConnector",
         "Creates a Send connector: which domains it carries mail for, "
         "how (DNS or smart hosts) and with which TLS.",
         HM_NEW, CONFIG_SEND_CONNECTOR, new_sc, ex_new_sc),
    KIND("Set-SendConnector", "Changes a Send connector.", HM_SET, CONFIG_SEND_CONNECTOR, set_sc,
         ex_set_sc),
    KIND("Get-SendConnector", "Shows the Send connectors.", HM_GET, CONFIG_SEND_CONNECTOR, get_sc,
         NULL),
    KIND("Remove-SendConnector", "Removes a Send connector.", HM_REMOVE, CONFIG_SEND_CONNECTOR,
         set_sc, NULL),
    KIND("New-AcceptedDomain",
         "Accepts mail for a domain: delivered here (Authoritative) or "
         "relayed (InternalRelay, ExternalRelay).",
         HM_NEW, CONFIG_ACCEPTED_DOMAIN, NULL, ex_new_ad),
    KIND("Set-AcceptedDomain", "Changes an accepted domain.", HM_SET, CONFIG_ACCEPTED_DOMAIN,
         set_ad, NULL),
    KIND("Get-AcceptedDomain", "Shows the accepted domains.", HM_GET, CONFIG_ACCEPTED_DOMAIN,
         get_ad, NULL),
    KIND("Remove-AcceptedDomain", "Stops accepting mail for a domain.", HM_REMOVE,
         CONFIG_ACCEPTED_DOMAIN, rm_ad, NULL),
    KIND("New-Mailbox",
         "Creates a mailbox: an address delivered here, and a login for SMTP "
         "AUTH.",
         HM_NEW, CONFIG_MAILBOX, new_mb, ex_new_mb),
    KIND("Set-Mailbox", "Changes a mailbox or its password.", HM_SET, CONFIG_MAILBOX, set_mb, NULL),
    KIND("Get-Mailbox", "Shows the mailboxes.", HM_GET, CONFIG_MAILBOX, get_mb, NULL),
    KIND("Remove-Mailbox", "Removes a mailbox (its Maildir is kept).", HM_REMOVE, CONFIG_MAILBOX,
         rm_mb, NULL),
    KIND("New-DkimSigningConfig",
         "Makes the two DKIM keys (selector1, selector2) of an accepted domain, to sign the mail "
         "whose From: is in it as it leaves through Send connectors; disabled unless -Enabled "
         "$true.",
         HM_NEW, CONFIG_DKIM_SIGNING, new_dk, ex_new_dk),
    KIND("Set-DkimSigningConfig",
         "Turns DKIM signing of a domain on or off, or changes its canonicalization.", HM_SET,
         CONFIG_DKIM_SIGNING, set_dk, ex_new_dk),
    KIND("Get-DkimSigningConfig",
         "Shows the DKIM signing configurations, with the TXT records to publish for both "
         "selectors.",
         HM_GET, CONFIG_DKIM_SIGNING, get_dk, ex_new_dk),
    OTHER("Rotate-DkimSigningConfig",
          "Switches DKIM signing to the other selector at once and makes a new key for the "
          "retired one; publish its new TXT record before the next rotation.",
          rotate_dk, ex_rotate_dk),
    KIND("Remove-DkimSigningConfig", "Stops DKIM signing of a domain and deletes its keys.",
         HM_REMOVE, CONFIG_DKIM_SIGNING, set_dk, NULL),
    KIND("Get-TransportConfig", "Shows the organisation-wide transport settings.", HM_GET,
         CONFIG_TRANSPORT, get_tc, NULL),
    KIND("Set-TransportConfig",
         "Changes the organisation-wide transport settings, among them "
         "the partner domains of domain security.",
         HM_SET, CONFIG_TRANSPORT, NULL, ex_set_tc),
    OTHER("Add-ExchangeAdministrator",
          "Lets a mailbox sign in to the management console (postern console) with a role.",
          admin_add, ex_admin),
    OTHER("Get-ExchangeAdministrator", "Shows who may sign in to the management console.",
          admin_get, ex_admin),
    OTHER("Remove-ExchangeAdministrator",
          "Takes a mailbox's console role away (the mailbox stays).", admin_remove, NULL),
    OTHER("Get-Queue", "Shows the queues of the running service.", queue_id, ex_queue),
    OTHER("Get-Message", "Shows the messages in the queues.", get_message, ex_message),
    OTHER("Retry-Queue", "Tries a queue's next hop again now.", queue_action, NULL),
    OTHER("Suspend-Queue", "Stops delivery from a queue until it is resumed.", queue_action, NULL),
    OTHER("Resume-Queue", "Resumes delivery from a suspended queue.", queue_action, NULL),
    OTHER("Suspend-Message", "Holds a message until it is resumed.", message_action, NULL),
    OTHER("Resume-Message", "Releases a suspended message.", message_action, NULL),
    OTHER("Remove-Message",
          "Removes a message from the queue, with or without a non-delivery "
          "report.",
          remove_message, NULL),
    OTHER("Get-MessageTrackingLog",
          "Searches the message tracking log (DIR/logs/MessageTracking) for what happened to "
          "messages: each RECEIVE, SEND, DELIVER, DEFER, FAIL and DSN event that matches every "
          "filter given, oldest first. The service writes the log out on a timer, so an event "
          "shows here up to about a second after it happened.",
          get_tracking, ex_tracking),
    OTHER("Get-MtaStsPolicy",
          "Shows the MTA-STS policies (RFC 8461) fetched for recipient domains and kept in "
          "DIR/mta-sts: id, mode, MX patterns, when fetched and when they expire.",
          mtasts_domain, ex_mtasts),
    OTHER("Clear-MtaStsCache",
          "Forgets fetched MTA-STS policies, so that the next delivery to the domain fetches its "
          "policy again.",
          mtasts_domain, ex_mtasts),
    OTHER("Get-TlsReport",
          "Shows the TLS results of the mail sent to each recipient domain on a day, per policy "
          "(DANE's TLSA records, MTA-STS, none): what the daily TLS reports (RFC 8460) say.",
          tlsrpt_params, ex_tlsrpt),
    OTHER("Send-TlsReport",
          "Sends a day's TLS reports now, to the domains that publish an _smtp._tls record (the "
          "service sends each day's once by itself).",
          tlsrpt_params, ex_tlsrpt),
    OTHER("New-ExchangeCertificate",
          "Makes a key and a self-signed certificate, or a "
          "certificate request for a CA.",
          new_cert, ex_cert),
    OTHER("Import-ExchangeCertificate", "Imports a certificate and its key (PKCS#12 or PEM).",
          import_cert, ex_cert),
    OTHER("Get-ExchangeCertificate", "Shows the certificates and which one SMTP uses.", get_cert,
          NULL),
    OTHER("Enable-ExchangeCertificate", "Makes a certificate the one SMTP presents.", enable_cert,
          NULL),
    OTHER("Remove-ExchangeCertificate", "Removes a certificate and its key.", remove_cert, NULL),
    OTHER("Import-Certificate", "Trusts a CA certificate (or a CRL) for TLS with partners.",
          import_root, ex_root),
    OTHER("Get-Service", "Says whether the transport service is running.", service, NULL),
    OTHER("Restart-Service",
          "Applies the configuration and certificates to the running service "
          "(a reload: nothing is lost).",
          service, ex_service),
    OTHER("Test-ReceiveConnector",
          "Explains which Receive connector would take a connection, "
          "why, and what a client could do there.",
          test_rc, ex_test_rc),
    OTHER("Test-MailRoute",
          "Explains where mail for a recipient would go: the mailbox or the "
          "Send connector and why, the next hop, port, TLS and authentication.",
          test_route, ex_test_route),
    OTHER("Test-SendConnector",
          "Connects to a Send connector's next hop as delivery would: EHLO, STARTTLS, the "
          "certificate checks and AUTH, then RSET and QUIT without sending mail; names the step "
          "that fails.",
          test_sc, ex_test_sc),
    OTHER("Test-SmtpConnectivity",
          "Connects to each binding of this server's Receive connectors as a client would: the "
          "greeting, EHLO, STARTTLS and the certificate presented; names the step that fails.",
          test_smtp, ex_test_smtp),
    OTHER("Get-Help", "Shows how to use a cmdlet.", get_help, ex_help),
    OTHER("Get-Command", "Lists the cmdlets.", get_command, ex_command),
};

const struct cmdlet_help *
cmdlet_help_find(const char *name)
{
    for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
        if (str_ieq(helps[i].name, name))
            return &helps[i];
    return NULL;
}

const struct cmdlet_help *
cmdlet_help_all(size_t *n)
{
    *n = sizeof(helps) / sizeof(helps[0]);
    return helps;
}

bool
cmdlet_help_changes(const char *cmdlet)
{
    return strncasecmp(cmdlet, "Get-", 4) != 0 && strncasecmp(cmdlet, "Test-", 5) != 0;
}

/* Is configuration parameter p one that h's cmdlet takes? */
static bool
takes_conf(const struct cmdlet_help *h, const struct config_param *p)
{
    if (p->flags & (CPF_FILE_ONLY | CPF_NO_SET))
        return false;
    if (h->mode == HM_NEW)
        return true;
    return h->mode == HM_SET && !(p->flags & CPF_NEW_ONLY);
}

static const struct help_param common_params[] = {
    {"WhatIf", "SwitchParameter", HP_SWITCH,
     "Shows what the cmdlet would change (object, property: old -> new) and changes nothing."},
    {"Confirm", "SwitchParameter", HP_SWITCH,
     "Asks before doing it (Remove- asks on a terminal by default; -Confirm:$false does not)."},
};

struct help_param_view *
cmdlet_help_params(const struct cmdlet_help *h, size_t *n)
{
    const struct config_kind_info *k = config_kind(h->kind);
    size_t cap = 4 + (h->mode != HM_OTHER ? k->nparams : 0);
    struct help_param_view *v;

    for (const struct help_param *p = h->params; p && p->name; p++)
        cap++;
    v = xcalloc(cap, sizeof(*v));
    *n = 0;
    for (const struct help_param *p = h->params; p && p->name; p++)
        v[(*n)++] = (struct help_param_view){p->name, p, NULL};
    if (h->mode == HM_NEW || h->mode == HM_SET)
        for (size_t i = 0; i < k->nparams; i++)
            if (takes_conf(h, &k->params[i]))
                v[(*n)++] = (struct help_param_view){k->params[i].name, NULL, &k->params[i]};
    if (cmdlet_help_changes(h->name) && strcmp(h->name, "Restart-Service") != 0)
        for (size_t i = 0; i < sizeof(common_params) / sizeof(common_params[0]); i++)
            v[(*n)++] = (struct help_param_view){common_params[i].name, &common_params[i], NULL};
    return v;
}

const char *
cmdlet_help_meaning(const struct cmdlet_help *h, const struct help_param_view *v)
{
    const char *text = NULL;

    if (v->decl != NULL)
        text = v->decl->help;
    else if (v->conf != NULL)
        text = param_help(config_kind(h->kind)->name, v->conf->name);
    return text ? text : "";
}

const char *
cmdlet_help_resolve(const struct cmdlet_help *h, const char *name, char *err, size_t errlen)
{
    size_t n, len = strlen(name), found = 0;
    struct help_param_view *v = cmdlet_help_params(h, &n);
    const char *result = name, *first = NULL;
    char list[256] = "";

    for (size_t i = 0; i < n && result == name; i++) {
        if (str_ieq(v[i].name, name))
            result = v[i].name;
        else if (v[i].conf && v[i].conf->alias && str_ieq(v[i].conf->alias, name))
            result = v[i].conf->name;
    }
    if (result == name) {
        for (size_t i = 0; i < n; i++) {
            if (strncasecmp(v[i].name, name, len) != 0)
                continue;
            if (found++ == 0)
                first = v[i].name;
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                     found > 1 ? ", " : "", v[i].name);
        }
        if (found == 1)
            result = first;
        else if (found > 1) {
            snprintf(err, errlen, "-%s is ambiguous: it may be %s", name, list);
            result = NULL;
        }
    }
    free(v);
    return result;
}
