/*
 * cmdlet_explain.c — Test-ReceiveConnector: which Receive connector would
 * take a connection from an address to a local endpoint, why (each
 * connector considered, with the binding and range that decided), and what
 * a client could do there: submit, relay, with or without AUTH, as a
 * domain-secured partner. Works on the configuration file, service
 * running or not.
 * Must never: decide differently from the service: the choice and the
 * rights are the service's own functions (receive/rcvconn_select.h).
 */
#include "admin/cmdlet_object.h"
#include "lib/util.h"
#include "net/iprange.h"
#include "receive/rcvconn_select.h"

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

static void append(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
append(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strlen(buf);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
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
        append(buf, len, "binding %s%s", b, r->binding->any ? " (any local address)" : "");
    if (r->range)
        append(buf, len, "%srange %s", *buf ? ", " : "", range);
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
    char msg[512], considered[TEXT_MAX] = "", why[256] = "";
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
        append(considered, sizeof(considered), "%s%s: %s%s%s%s", i ? "; " : "", reasons[i].rc->name,
               verdict_text(reasons[i].verdict), *m ? " (" : "", m, *m ? ")" : "");
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
