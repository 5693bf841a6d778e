/*
 * cmdlet_explain.c — the explain cmdlets. Test-MailRoute: where mail for a
 * recipient would go (local mailbox, LMTP, a Send connector and why it won,
 * the next hop, port, TLS and authentication that would apply).
 * Test-ReceiveConnector: which Receive connector would
 * take a connection from an address to a local endpoint, why (each
 * connector considered, with the binding and range that decided), and what
 * a client could do there: submit, relay, with or without AUTH, as a
 * domain-secured partner. Works on the configuration file, service
 * running or not.
 * Must never: decide differently from the service: the choices, rights
 * and policies are the service's own functions (receive/rcvconn_select.h,
 * routing/route.h, routing/route_policy.h).
 */
#include "admin/cmdlet_object.h"
#include "admin/probe.h"
#include "lib/util.h"
#include "net/iprange.h"
#include "receive/rcvconn_select.h"
#include "routing/route.h"
#include "routing/route_policy.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_MAX 2048

/* An IPv4 or IPv6 address (brackets allowed) as a sockaddr. */
static bool
parse_ip(const char *text, struct sockaddr_storage *ss)
{
    char buf[64];
    size_t len = strlen(text);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (len >= 2 && text[0] == '[' && text[len - 1] == ']' && len - 2 < sizeof(buf)) {
        memcpy(buf, text + 1, len - 2);
        buf[len - 2] = '\0';
        text = buf;
    }
    if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        return true;
    }
    return false;
}

/* A parameter of rc as Get-ReceiveConnector shows it. */
static char *
shown(const struct receive_connector *rc, const char *param)
{
    const struct config_kind_info *k = config_kind(CONFIG_RECEIVE_CONNECTOR);

    return config_param_format(config_param_find(k, param), rc, CONFIG_FORMAT_DISPLAY);
}

static const char *
verdict_text(enum rcvconn_verdict v)
{
    switch (v) {
    case RCV_CHOSEN:
        return "chosen";
    case RCV_DISABLED:
        return "disabled";
    case RCV_NO_BINDING:
        return "no binding matches the local endpoint";
    case RCV_NO_RANGE:
        return "no RemoteIPRanges entry contains the client";
    case RCV_LESS_SPECIFIC:
        return "matches, but less specifically";
    }
    return "";
}

/* "binding 0.0.0.0:25 (any local address), range 10.0.0.0/8" */
static void
match_text(const struct rcvconn_reason *r, char *buf, size_t len)
{
    char b[80] = "", range[96] = "";

    if (r->binding)
        binding_format(r->binding, b, sizeof(b));
    if (r->range)
        iprange_format(r->range, range, sizeof(range));
    buf[0] = '\0';
    if (r->binding)
        str_appendf(buf, len, "binding %s%s", b, r->binding->any ? " (any local address)" : "");
    if (r->range)
        str_appendf(buf, len, "%srange %s", *buf ? ", " : "", range);
}

static const char *
yes_no(bool b)
{
    return b ? "True" : "False";
}

int
cmdlet_test_receive_connector(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    const char *remote_text = NULL, *local_text = NULL;
    struct sockaddr_storage remote, local;
    struct binding lb;
    char msg[512], considered[TEXT_MAX] = "", why[400] = "";
    struct config *cfg;
    struct rcvconn_reason *reasons;
    const struct receive_connector *rc;

    if (cmdlet_args_string(a, "RemoteIPAddress", &remote_text, msg, sizeof(msg)) < 0 ||
        cmdlet_args_string(a, "LocalEndPoint", &local_text, msg, sizeof(msg)) < 0 ||
        cmdlet_args_check_unused(a, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    if (remote_text == NULL || local_text == NULL) {
        cmdlet_error(ctx,
                     "%s: a value is required, as in -RemoteIPAddress 192.0.2.7 "
                     "-LocalEndPoint 10.0.0.1:25",
                     remote_text == NULL ? "RemoteIPAddress" : "LocalEndPoint");
        return CMDLET_USAGE;
    }
    if (!parse_ip(remote_text, &remote)) {
        cmdlet_error(ctx, "RemoteIPAddress: '%s' is not an IP address", remote_text);
        return CMDLET_USAGE;
    }
    if (binding_parse(local_text, &lb, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "LocalEndPoint: %s", msg);
        return CMDLET_USAGE;
    }
    (void)binding_sockaddr(&lb, &local);
    if ((cfg = cmdlet_config_read(ctx)) == NULL)
        return CMDLET_ERROR;
    reasons = xcalloc(cfg->nreceive_connectors + 1, sizeof(*reasons));
    rc = rcvconn_explain(cfg, (struct sockaddr *)&local, (struct sockaddr *)&remote, reasons);
    for (size_t i = 0; i < cfg->nreceive_connectors; i++) {
        char m[200];
        match_text(&reasons[i], m, sizeof(m));
        str_appendf(considered, sizeof(considered), "%s%s: %s%s%s%s", i ? "; " : "",
                    reasons[i].rc->name, verdict_text(reasons[i].verdict), *m ? " (" : "", m,
                    *m ? ")" : "");
        if (reasons[i].verdict == RCV_CHOSEN)
            snprintf(why, sizeof(why),
                     "%s; a specific local address beats a wildcard one, then "
                     "the smallest remote range",
                     m);
    }
    fprintf(ctx->out, "%-24s : %s\n%-24s : %s\n%-24s : %s\n", "RemoteIPAddress", remote_text,
            "LocalEndPoint", local_text, "Connector",
            rc ? rc->name : "(none: the connection would be refused)");
    fprintf(ctx->out, "%-24s : %s\n%-24s : {%s}\n", "Why", rc ? why : "no connector matches",
            "Considered", considered);
    if (rc != NULL) {
        char *groups = shown(rc, "PermissionGroups"), *auth = shown(rc, "AuthMechanism");
        unsigned anon = rcvconn_rights(rc, false, false), user = rcvconn_rights(rc, true, false),
                 partner = rcvconn_rights(rc, false, true);
        fprintf(ctx->out, "%-24s : %s\n%-24s : %s\n", "PermissionGroups", groups, "AuthMechanism",
                auth);
        fprintf(ctx->out, "%-24s : %s\n%-24s : %s\n", "RequireTLS", yes_no(rc->require_tls),
                "DomainSecureEnabled", yes_no(rc->domain_secure_enabled));
        fprintf(ctx->out, "%-24s : %s\n%-24s : %s\n", "AnonymousMaySubmit",
                yes_no(anon & RIGHT_SUBMIT), "AnonymousMayRelay", yes_no(anon & RIGHT_RELAY));
        fprintf(ctx->out, "%-24s : %s\n%-24s : %s\n", "AuthenticatedMaySubmit",
                yes_no(user & RIGHT_SUBMIT), "AuthenticatedMayRelay", yes_no(user & RIGHT_RELAY));
        fprintf(ctx->out, "%-24s : %s\n", "PartnerMaySubmit", yes_no(partner & RIGHT_SUBMIT));
        free(groups);
        free(auth);
    }
    free(reasons);
    config_unref(cfg);
    return CMDLET_OK;
}

static const char *
route_verdict_text(enum route_verdict v)
{
    switch (v) {
    case RV_CHOSEN:
        return "chosen";
    case RV_DISABLED:
        return "disabled";
    case RV_NOT_THIS_SERVER:
        return "its SourceTransportServers do not include this server";
    case RV_TOO_SMALL:
        return "its MaxMessageSize is smaller than the message";
    case RV_NO_SPACE:
        return "no address space matches";
    case RV_LESS_SPECIFIC:
        return "a more specific address space wins";
    case RV_COSTLIER:
        return "as specific, but costs more";
    case RV_NAME_ORDER:
        return "as specific and as cheap; the lower name wins";
    }
    return "";
}

/* The TLS a connection of p insists on, in words. */
static void
tls_text(const struct route_policy *p, char *buf, size_t len)
{
    buf[0] = '\0';
    if (p->lmtp || p->ignore_starttls) {
        snprintf(buf, len, "none (%s)", p->lmtp ? "local LMTP" : "IgnoreSTARTTLS");
        return;
    }
    if (!p->require_tls) {
        snprintf(buf, len, "opportunistic: STARTTLS when offered, else clear text");
        return;
    }
    str_appendf(buf, len, "required");
    if (p->tls_auth_level == TLSAUTH_CERTIFICATE_VALIDATION)
        str_appendf(buf, len, ", certificate validated against trusted roots");
    else if (p->tls_auth_level == TLSAUTH_DOMAIN_VALIDATION)
        str_appendf(buf, len, ", certificate validated and naming the next hop");
    if (p->client_cert_fqdn != NULL)
        str_appendf(buf, len, "; mutual TLS (domain security): our certificate for %s is presented",
                    p->client_cert_fqdn);
}

/* The next hop's addresses in the order delivery would try them, looked
 * up now with the service's resolver settings. */
static void
print_addresses(struct cmdlet_ctx *ctx, const struct config *cfg, const struct route_policy *p)
{
    char text[1024], err[256];
    struct probe_env *env;

    if (p->dest != ROUTE_DEST_MX && p->dest != ROUTE_DEST_HOSTS)
        return;
    if ((env = probe_env_new(ctx->instance_dir, cfg, false, err, sizeof(err))) == NULL) {
        fprintf(ctx->out, "%-18s : (no lookup: %s)\n", "Addresses", err);
        return;
    }
    probe_resolve(env, p, text, sizeof(text));
    fprintf(ctx->out, "%-18s : %s\n", "Addresses", text);
    probe_env_free(env);
}

/* DANE, MTA-STS or opportunistic, per host, looked up now. */
static void
explain_tls_policy(struct cmdlet_ctx *ctx, const struct config *cfg, const struct route_policy *p)
{
    char err[256];
    struct probe_env *env;

    if (p->dest != ROUTE_DEST_MX && p->dest != ROUTE_DEST_HOSTS)
        return;
    if ((env = probe_env_new(ctx->instance_dir, cfg, false, err, sizeof(err))) == NULL)
        return; /* print_addresses said why */
    probe_tls_explain(env, p, ctx->instance_dir, ctx->out);
    probe_env_free(env);
}

int
cmdlet_test_mail_route(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    const char *rcpt = NULL, *sender = NULL, *size_text = NULL;
    char msg[512], considered[TEXT_MAX] = "", domain[256], tls[256];
    uint64_t size = 0;
    struct config *cfg;
    struct route r;
    struct route_candidate *cands;
    const struct accepted_domain *ad;
    const char *at;

    if (cmdlet_args_string(a, "Recipient", &rcpt, msg, sizeof(msg)) < 0 ||
        cmdlet_args_string(a, "Sender", &sender, msg, sizeof(msg)) < 0 ||
        cmdlet_args_string(a, "MessageSize", &size_text, msg, sizeof(msg)) < 0 ||
        cmdlet_args_check_unused(a, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    if (rcpt == NULL || (at = strrchr(rcpt, '@')) == NULL || at[1] == '\0') {
        cmdlet_error(ctx, "Recipient: an address is required, as in -Recipient bob@contoso.com");
        return CMDLET_USAGE;
    }
    if (size_text != NULL) {
        char *end;
        size = strtoull(size_text, &end, 10);
        if (*end != '\0' || end == size_text) {
            cmdlet_error(ctx, "MessageSize: '%s' is not a number of bytes", size_text);
            return CMDLET_USAGE;
        }
    }
    strlcpy_p(domain, at + 1, sizeof(domain));
    str_lower(domain);
    if ((cfg = cmdlet_config_read(ctx)) == NULL)
        return CMDLET_ERROR;
    route_recipient(cfg, rcpt, domain, size, &r);
    ad = config_match_accepted_domain(cfg, domain);
    fprintf(ctx->out, "%-18s : %s\n", "Recipient", rcpt);
    if (sender != NULL)
        fprintf(ctx->out, "%-18s : %s\n", "Sender", sender);
    fprintf(ctx->out, "%-18s : %s%s%s\n", "AcceptedDomain",
            ad ? ad->name : "(none: a foreign domain)", ad ? " " : "",
            ad ? (ad->domain_type == DOMAIN_AUTHORITATIVE    ? "(Authoritative)"
                  : ad->domain_type == DOMAIN_INTERNAL_RELAY ? "(InternalRelay)"
                                                             : "(ExternalRelay)")
               : "");
    switch (r.kind) {
    case ROUTE_MAILBOX:
        fprintf(ctx->out, "%-18s : local delivery to the Maildir of %s\n", "Route",
                r.mailbox ? r.mailbox->name : "postmaster");
        break;
    case ROUTE_LMTP:
        fprintf(ctx->out, "%-18s : local delivery over LMTP to %s (mailbox %s)\n", "Route",
                r.lmtp_server, r.mailbox ? r.mailbox->name : "postmaster");
        break;
    case ROUTE_NO_MAILBOX:
        fprintf(ctx->out,
                "%-18s : refused: %s is Authoritative and has no such mailbox "
                "(550 5.1.1)\n",
                "Route", domain);
        break;
    case ROUTE_UNREACHABLE:
        fprintf(ctx->out, "%-18s : the Unreachable queue: no Send connector takes %s\n", "Route",
                domain);
        break;
    case ROUTE_DNS:
    case ROUTE_SMART_HOST:
        fprintf(ctx->out, "%-18s : Send connector \"%s\" (%s)\n", "Route", r.connector->name,
                r.kind == ROUTE_DNS ? "DNS: the MX of the domain" : "smart hosts");
        break;
    }
    if (r.kind != ROUTE_MAILBOX && r.kind != ROUTE_LMTP && r.kind != ROUTE_NO_MAILBOX) {
        cands = xcalloc(cfg->nsend_connectors + 1, sizeof(*cands));
        (void)route_select_explain(cfg, domain, size, cands);
        for (size_t i = 0; i < cfg->nsend_connectors; i++) {
            str_appendf(considered, sizeof(considered), "%s%s: %s", i ? "; " : "",
                        cands[i].sc->name, route_verdict_text(cands[i].verdict));
            if (cands[i].space)
                str_appendf(considered, sizeof(considered), " (address space %s, cost %u)",
                            cands[i].space->domain, cands[i].cost);
        }
        free(cands);
        fprintf(ctx->out, "%-18s : {%s}\n", "Considered", considered);
    }
    if (r.kind == ROUTE_DNS || r.kind == ROUTE_SMART_HOST || r.kind == ROUTE_LMTP) {
        struct route_hop hop = {.kind = r.kind,
                                .next_hop = r.next_hop,
                                .connector = r.connector ? r.connector->name : NULL,
                                .lmtp_server = r.lmtp_server,
                                .domain_secure = r.domain_secure};
        struct route_policy p;
        char hosts[1024] = "";
        if (route_policy(cfg, &hop, &p) == 0) {
            for (size_t i = 0; i < p.nhosts; i++)
                str_appendf(hosts, sizeof(hosts), "%s%s%s", i ? ", " : "",
                            p.dest == ROUTE_DEST_MX ? "MX of " : "", p.hosts[i]);
            tls_text(&p, tls, sizeof(tls));
            fprintf(ctx->out, "%-18s : %s\n%-18s : {%s}\n", "NextHop", p.next_hop, "Hosts", hosts);
            print_addresses(ctx, cfg, &p);
            if (p.dest != ROUTE_DEST_UNIX)
                fprintf(ctx->out, "%-18s : %u\n", "Port", (unsigned)p.port);
            fprintf(ctx->out, "%-18s : %s\n", "Tls", tls);
            explain_tls_policy(ctx, cfg, &p);
            if (p.ntls_names > 0) {
                char names[512] = "";
                for (size_t i = 0; i < p.ntls_names; i++)
                    str_appendf(names, sizeof(names), "%s%s", i ? ", " : "", p.tls_names[i]);
                fprintf(ctx->out, "%-18s : {%s}\n", "CertificateNames", names);
            }
            fprintf(ctx->out, "%-18s : %s%s%s\n", "Authentication",
                    p.auth == ROUTE_AUTH_NONE ? "none" : "Basic (PLAIN or LOGIN) as ",
                    p.auth_user ? p.auth_user : "",
                    p.auth == ROUTE_AUTH_BASIC_REQUIRE_TLS ? ", only inside TLS" : "");
        } else {
            fprintf(ctx->out, "%-18s : %s\n", "NextHop", p.error ? p.error : "?");
        }
        route_policy_free(&p);
    }
    config_unref(cfg);
    return CMDLET_OK;
}
