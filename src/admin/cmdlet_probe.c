/*
 * cmdlet_probe.c — the connection tests. Test-SendConnector: the seed's
 * "Test the connection" as a command; connects to a Send connector's next
 * hop exactly as delivery would (probe.h) and reports each step, the TLS,
 * the peer's certificates and whether they pass the connector's checks,
 * AUTH with the stored credential, then RSET and QUIT. Test-SmtpConnectivity
 * (Exchange's name): the same against this server's own Receive
 * connectors, binding by binding, as a client from this machine.
 *
 * Each connection attempt is one record; a failure ends with one line
 * naming the step that failed, and exit status 1.
 * Must never: send mail (no MAIL FROM), or print a password.
 */
#include "admin/cmdlet_object.h"
#include "admin/probe.h"
#include "lib/util.h"
#include "net/iprange.h"
#include "receive/rcvconn_select.h"
#include "routing/route.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W 18 /* the label column, as Format-List aligns it */

static void
field(FILE *out, const char *name, const char *value)
{
    fprintf(out, "%-*s : %s\n", W, name, value ? value : "");
}

/* "Success" or "Failed at STARTTLS: why" for one attempt. */
static void
attempt_result(const struct probe_attempt *a, char *buf, size_t len)
{
    if (a->ready && a->rset[0])
        snprintf(buf, len, "Success (RSET: %s)", a->rset);
    else if (a->ready)
        snprintf(buf, len, "Success");
    else
        snprintf(buf, len, "Failed at %s: %s", probe_step_name(a->step),
                 a->error[0] ? a->error : "the connection ended");
}

/* The part of a record every test shares: what one connection saw. */
static void
print_attempt(FILE *out, const struct probe_attempt *a, const struct route_policy *p)
{
    char result[1024];
    bool tls = a->tls_version[0] != '\0';

    field(out, "Peer", a->peer);
    field(out, "Greeting", a->greeting);
    fprintf(out, "%-*s : {%s}\n", W, "Capabilities", a->capabilities);
    field(out, "StartTls", a->starttls);
    field(out, "TlsVersion", a->tls_version);
    field(out, "TlsCipher", a->tls_cipher);
    fprintf(out, "%-*s : {%s}\n", W, "TlsCapabilities", a->tls_capabilities);
    field(out, "PeerCertificates", tls ? a->chain : "");
    field(out, "CertificateTrust", a->trust);
    if (a->check[0])
        field(out, "CertificateCheck", a->check);
    else if (tls)
        field(out, "CertificateCheck",
              "none: this connector accepts any certificate (opportunistic TLS)");
    else
        field(out, "CertificateCheck", "");
    field(out, "AuthOffered", a->auth_offered);
    if (p->auth == ROUTE_AUTH_NONE)
        field(out, "Authentication", "not configured");
    else
        field(out, "Authentication", a->auth);
    attempt_result(a, result, sizeof(result));
    field(out, "Result", result);
}

/* The whole report; CMDLET_OK when delivery would have been possible. */
static int
report(struct cmdlet_ctx *ctx, const char *label, const char *identity, const char *extra_name,
       const char *extra, const struct route_policy *p, const struct probe_result *r)
{
    for (size_t i = 0; i < r->nattempts || (i == 0 && r->nattempts == 0); i++) {
        if (i > 0)
            fputc('\n', ctx->out);
        field(ctx->out, label, identity);
        if (extra_name)
            field(ctx->out, extra_name, extra);
        field(ctx->out, "NextHop", p->next_hop);
        field(ctx->out, "Resolved", r->resolved);
        if (r->nattempts > 0) {
            print_attempt(ctx->out, &r->attempts[i], p);
        } else {
            char result[800];
            snprintf(result, sizeof(result), "Failed at %s: %s", r->failed_step, r->error);
            field(ctx->out, "Result", result);
        }
    }
    if (r->success)
        return CMDLET_OK;
    cmdlet_error(ctx, "%s: failed at %s: %s", identity, r->failed_step, r->error);
    return CMDLET_ERROR;
}

/* The domain a Test-SendConnector without -Recipient tests: the first
 * address space that names one ("*.contoso.com" tests contoso.com). */
static const char *
connector_domain(const struct send_connector *sc)
{
    for (size_t i = 0; i < sc->naddress_spaces; i++) {
        const char *d = sc->address_spaces[i].domain;
        if (strncmp(d, "*.", 2) == 0)
            d += 2;
        if (*d && strcmp(d, "*") != 0)
            return d;
    }
    return NULL;
}

int
cmdlet_test_send_connector(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    const char *id = NULL, *rcpt = NULL, *domain;
    char msg[512], lower[256];
    struct config *cfg;
    const struct send_connector *sc, *chosen;
    struct probe_env *env;
    struct route r;
    struct route_policy p;
    struct probe_result res;
    int rc;

    if (cmdlet_args_identity(a, &id, msg, sizeof(msg)) < 0 ||
        cmdlet_args_string(a, "Recipient", &rcpt, msg, sizeof(msg)) < 0 ||
        cmdlet_args_check_unused(a, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    if (id == NULL) {
        cmdlet_error(ctx, "Identity: a Send connector is required, as in "
                          "Test-SendConnector \"To Contoso\"");
        return CMDLET_USAGE;
    }
    if (rcpt != NULL && (strrchr(rcpt, '@') == NULL || strrchr(rcpt, '@')[1] == '\0')) {
        cmdlet_error(ctx, "Recipient: '%s' is not an address, as in bob@contoso.com", rcpt);
        return CMDLET_USAGE;
    }
    if ((cfg = cmdlet_config_read(ctx)) == NULL)
        return CMDLET_ERROR;
    if ((sc = config_find_send_connector(cfg, id)) == NULL) {
        cmdlet_error(ctx, "%s: no such Send connector (Get-SendConnector lists them)", id);
        config_unref(cfg);
        return CMDLET_ERROR;
    }
    domain = rcpt ? strrchr(rcpt, '@') + 1 : connector_domain(sc);
    if (domain == NULL && (sc->dns_routing_enabled || sc->nsmart_hosts == 0)) {
        cmdlet_error(ctx,
                     "%s: its address spaces name no domain whose MX to try; add -Recipient, "
                     "as in -Recipient bob@contoso.com",
                     sc->name);
        config_unref(cfg);
        return CMDLET_USAGE;
    }
    strlcpy_p(lower, domain ? domain : "", sizeof(lower));
    str_lower(lower);
    if (!sc->enabled)
        cmdlet_warning(ctx, "%s is disabled: delivery does not use it until it is enabled",
                       sc->name);
    else if (lower[0] && (chosen = route_select_explain(cfg, lower, 0, NULL)) != sc)
        cmdlet_warning(ctx, "mail for %s goes through %s%s%s, not %s (Test-MailRoute says why)",
                       lower, chosen ? "Send connector \"" : "the Unreachable queue",
                       chosen ? chosen->name : "", chosen ? "\"" : "", sc->name);
    if ((env = probe_env_new(ctx->instance_dir, cfg, true, msg, sizeof(msg))) == NULL) {
        cmdlet_error(ctx, "%s", msg);
        config_unref(cfg);
        return CMDLET_ERROR;
    }
    route_via_connector(cfg, sc, lower, &r);
    {
        struct route_hop hop = {.kind = r.kind,
                                .next_hop = r.next_hop,
                                .connector = sc->name,
                                .domain_secure = r.domain_secure};
        (void)route_policy(cfg, &hop, &p);
    }
    probe_run(env, &p, &res);
    rc = report(ctx, "Identity", sc->name, r.domain_secure ? "DomainSecure" : NULL, "True", &p,
                &res);
    probe_result_free(&res);
    route_policy_free(&p);
    probe_env_free(env);
    config_unref(cfg);
    return rc;
}

/* Where a client on this machine reaches binding b: its own address, or
 * loopback for a wildcard one. */
static void
binding_target(const struct binding *b, struct sockaddr_storage *ss, char *ip, size_t iplen)
{
    struct binding t = *b;

    if (t.any) {
        memset(t.addr, 0, sizeof(t.addr));
        if (t.family == AF_INET) {
            t.addr[0] = 127;
            t.addr[3] = 1;
        } else {
            t.addr[15] = 1;
        }
        t.any = false;
    }
    (void)binding_sockaddr(&t, ss);
    sockaddr_format_ip((struct sockaddr *)ss, ip, iplen);
}

/* What delivery would do to reach b, as a plain client: STARTTLS when
 * offered, no credential, no certificate of ours. */
static void
binding_policy(const struct config *cfg, const struct receive_connector *rc, const char *ip,
               uint16_t port, struct route_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->status = ROUTE_POLICY_OK;
    p->kind = ROUTE_SMART_HOST;
    p->next_hop = xstrdup(rc->name);
    p->dest = ROUTE_DEST_ADDRESS;
    p->hosts = xcalloc(1, sizeof(*p->hosts));
    p->hosts[0] = xstrdup(ip);
    p->nhosts = 1;
    p->peer_name = xstrdup(receive_connector_fqdn(cfg, rc));
    p->port = port;
    p->ehlo_name = xstrdup(cfg->transport.fqdn ? cfg->transport.fqdn : "localhost");
    p->require_tls = rc->require_tls;
    p->timeout = PROBE_TIMEOUT_MAX;
}

int
cmdlet_test_smtp_connectivity(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    const char *id = NULL;
    char msg[512];
    struct config *cfg;
    struct probe_env *env;
    size_t tested = 0;
    int status = CMDLET_OK;

    if (cmdlet_args_identity(a, &id, msg, sizeof(msg)) < 0 ||
        cmdlet_args_check_unused(a, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    if ((cfg = cmdlet_config_read(ctx)) == NULL)
        return CMDLET_ERROR;
    if (id != NULL && config_find_receive_connector(cfg, id) == NULL) {
        cmdlet_error(ctx, "%s: no such Receive connector (Get-ReceiveConnector lists them)", id);
        config_unref(cfg);
        return CMDLET_ERROR;
    }
    if ((env = probe_env_new(ctx->instance_dir, cfg, true, msg, sizeof(msg))) == NULL) {
        cmdlet_error(ctx, "%s", msg);
        config_unref(cfg);
        return CMDLET_ERROR;
    }
    for (size_t i = 0; i < cfg->nreceive_connectors; i++) {
        const struct receive_connector *rc = &cfg->receive_connectors[i];
        if ((id != NULL && !str_ieq(id, rc->name)) || !rc->enabled)
            continue;
        for (size_t j = 0; j < rc->nbindings; j++) {
            struct sockaddr_storage ss;
            const struct receive_connector *answers;
            struct route_policy p;
            struct probe_result res;
            char ip[INET6_ADDRSTRLEN], binding[80], identity[400];

            binding_target(&rc->bindings[j], &ss, ip, sizeof(ip));
            binding_format(&rc->bindings[j], binding, sizeof(binding));
            /* a client from this machine comes from the address it dials */
            answers = rcvconn_explain(cfg, (struct sockaddr *)&ss, (struct sockaddr *)&ss, NULL);
            binding_policy(cfg, rc, ip, rc->bindings[j].port, &p);
            probe_run(env, &p, &res);
            snprintf(identity, sizeof(identity), "%s (%s)", rc->name, binding);
            if (tested++ > 0)
                fputc('\n', ctx->out);
            if (report(ctx, "ReceiveConnector", identity, "AnsweredBy",
                       answers ? answers->name : "(none: refused)", &p, &res) != CMDLET_OK)
                status = CMDLET_ERROR;
            probe_result_free(&res);
            route_policy_free(&p);
        }
    }
    if (tested == 0)
        cmdlet_warning(ctx, "no enabled Receive connector to test");
    probe_env_free(env);
    config_unref(cfg);
    return status;
}
