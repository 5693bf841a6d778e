/*
 * cmdlet.c — the table of cmdlets and cmdlet_exec, which runs one with its
 * bound arguments (see cmdlet.h).
 *
 * To add a cmdlet: write a cmdlet_fn, declare it in its module's header,
 * and add one line to the table below.
 * Must never: run a cmdlet whose arguments did not parse.
 */
#include "admin/cmdlet.h"
#include "admin/cmdlet_help.h"
#include "admin/cmdlet_object.h"
#include "lib/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *const get_message_switches[] = {"IncludeRecipientInfo", NULL};

static const struct cmdlet cmdlets[] = {
    {"New-ReceiveConnector", cmdlet_new_receive_connector, cmdlet_new_receive_connector_switches,
     true},
    {"Set-ReceiveConnector", cmdlet_set_receive_connector, NULL, true},
    {"Get-ReceiveConnector", cmdlet_get_receive_connector, NULL, false},
    {"Remove-ReceiveConnector", cmdlet_remove_receive_connector, NULL, true},
    {"New-SendConnector", cmdlet_new_send_connector, cmdlet_new_send_connector_switches, true},
    {"Set-SendConnector", cmdlet_set_send_connector, NULL, true},
    {"Get-SendConnector", cmdlet_get_send_connector, NULL, false},
    {"Remove-SendConnector", cmdlet_remove_send_connector, NULL, true},
    {"New-AcceptedDomain", cmdlet_new_accepted_domain, NULL, true},
    {"Set-AcceptedDomain", cmdlet_set_accepted_domain, cmdlet_set_accepted_domain_switches, true},
    {"Get-AcceptedDomain", cmdlet_get_accepted_domain, NULL, false},
    {"Remove-AcceptedDomain", cmdlet_remove_accepted_domain, NULL, true},
    {"New-Mailbox", cmdlet_new_mailbox, NULL, true},
    {"Set-Mailbox", cmdlet_set_mailbox, NULL, true},
    {"Get-Mailbox", cmdlet_get_mailbox, NULL, false},
    {"Remove-Mailbox", cmdlet_remove_mailbox, NULL, true},
    {"New-DkimSigningConfig", cmdlet_new_dkim_signing_config, NULL, true},
    {"Set-DkimSigningConfig", cmdlet_set_dkim_signing_config, NULL, true},
    {"Get-DkimSigningConfig", cmdlet_get_dkim_signing_config, NULL, false},
    {"Rotate-DkimSigningConfig", cmdlet_rotate_dkim_signing_config, NULL, true},
    {"Remove-DkimSigningConfig", cmdlet_remove_dkim_signing_config, NULL, true},
    {"Get-TransportConfig", cmdlet_get_transport_config, NULL, false},
    {"Set-TransportConfig", cmdlet_set_transport_config, NULL, true},
    {"Add-ExchangeAdministrator", cmdlet_add_exchange_administrator, NULL, true},
    {"Get-ExchangeAdministrator", cmdlet_get_exchange_administrator, NULL, false},
    {"Remove-ExchangeAdministrator", cmdlet_remove_exchange_administrator, NULL, true},
    {"Get-Queue", cmdlet_get_queue, NULL, false},
    {"Get-Message", cmdlet_get_message, get_message_switches, false},
    {"Retry-Queue", cmdlet_queue_action, NULL, false},
    {"Suspend-Queue", cmdlet_queue_action, NULL, false},
    {"Resume-Queue", cmdlet_queue_action, NULL, false},
    {"Suspend-Message", cmdlet_message_action, NULL, false},
    {"Resume-Message", cmdlet_message_action, NULL, false},
    {"Remove-Message", cmdlet_message_action, NULL, false},
    {"Get-MessageTrackingLog", cmdlet_get_message_tracking_log, NULL, false},
    {"Get-MtaStsPolicy", cmdlet_get_mtasts_policy, NULL, false},
    {"Clear-MtaStsCache", cmdlet_clear_mtasts_cache, NULL, false},
    {"Get-TlsReport", cmdlet_get_tls_report, NULL, false},
    {"Send-TlsReport", cmdlet_send_tls_report, NULL, false},
    {"New-ExchangeCertificate", cmdlet_new_exchange_certificate,
     cmdlet_new_exchange_certificate_switches, false},
    {"Import-ExchangeCertificate", cmdlet_import_exchange_certificate, NULL, false},
    {"Get-ExchangeCertificate", cmdlet_get_exchange_certificate, NULL, false},
    {"Enable-ExchangeCertificate", cmdlet_enable_exchange_certificate,
     cmdlet_enable_exchange_certificate_switches, false},
    {"Remove-ExchangeCertificate", cmdlet_remove_exchange_certificate, NULL, false},
    {"Import-Certificate", cmdlet_import_certificate, NULL, false},
    {"Get-Service", cmdlet_get_service, NULL, false},
    {"Restart-Service", cmdlet_restart_service, NULL, false},
    {"Test-ReceiveConnector", cmdlet_test_receive_connector, NULL, false},
    {"Test-MailRoute", cmdlet_test_mail_route, NULL, false},
    {"Test-SendConnector", cmdlet_test_send_connector, NULL, false},
    {"Test-SmtpConnectivity", cmdlet_test_smtp_connectivity, NULL, false},
    {"Get-Help", cmdlet_get_help, NULL, false},
    {"Get-Command", cmdlet_get_command, NULL, false},
};

const struct cmdlet *
cmdlet_table(size_t *n)
{
    *n = sizeof(cmdlets) / sizeof(cmdlets[0]);
    return cmdlets;
}

const struct cmdlet *
cmdlet_find(const char *name)
{
    for (size_t i = 0; i < sizeof(cmdlets) / sizeof(cmdlets[0]); i++)
        if (str_ieq(cmdlets[i].name, name))
            return &cmdlets[i];
    return NULL;
}

/* The terminal a progress line is on (ps_run.c draws it over long
 * pipelines), or NULL. */
static FILE *progress_tty;

void
cmdlet_progress_line(FILE *tty, const char *text)
{
    if (progress_tty != NULL)
        fputs("\r\033[K", progress_tty); /* erase it */
    progress_tty = text != NULL ? tty : NULL;
    if (text != NULL)
        fputs(text, tty);
    fflush(tty);
}

/* Before anything else goes to the terminal: no text after the progress. */
static void
progress_interrupt(FILE *f)
{
    if (progress_tty != NULL && progress_tty == f)
        cmdlet_progress_line(f, NULL);
}

void
cmdlet_error(const struct cmdlet_ctx *ctx, const char *fmt, ...)
{
    va_list ap;

    progress_interrupt(ctx->err);
    fprintf(ctx->err, "%s: ", ctx->name);
    va_start(ap, fmt);
    vfprintf(ctx->err, fmt, ap);
    va_end(ap);
    fputc('\n', ctx->err);
}

void
cmdlet_warning(const struct cmdlet_ctx *ctx, const char *fmt, ...)
{
    va_list ap;

    progress_interrupt(ctx->err);
    fputs("WARNING: ", ctx->err);
    va_start(ap, fmt);
    vfprintf(ctx->err, fmt, ap);
    va_end(ap);
    fputc('\n', ctx->err);
}

/* The Identity as given (-Identity or the first positional value), not
 * taken: for messages before the cmdlet runs. */
static const char *
peek_identity(const struct cmdlet_args *a)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->v[i].name != NULL && str_ieq(a->v[i].name, "Identity") && a->v[i].value)
            return a->v[i].value;
    for (size_t i = 0; i < a->n; i++)
        if (a->v[i].name == NULL)
            return a->v[i].value;
    return "";
}

/* A common switch (-WhatIf, -Confirm): -1 when its value is not a bool. */
static int
take_switch(struct cmdlet_ctx *ctx, struct cmdlet_args *a, const char *name, bool *out)
{
    char msg[256];

    if (cmdlet_args_bool(a, name, out, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return -1;
    }
    return 0;
}

/* -Confirm, as PowerShell asks on a terminal before Remove-: true to go on. */
static bool
confirmed(struct cmdlet_ctx *ctx, const char *identity)
{
    char answer[16] = "";

    progress_interrupt(ctx->err);
    fprintf(ctx->err,
            "Confirm\nAre you sure you want to perform this action?\n"
            "%s \"%s\".\n[Y] Yes  [N] No  (default is \"Y\"): ",
            ctx->name, identity);
    fflush(ctx->err);
    if (fgets(answer, sizeof(answer), ctx->in) == NULL)
        return false;
    answer[strcspn(answer, "\r\n")] = '\0';
    return answer[0] == '\0' || str_ieq(answer, "y") || str_ieq(answer, "yes");
}

int
cmdlet_exec(const char *instance_dir, const struct cmdlet *c, struct cmdlet_args *args, FILE *in,
            FILE *out, FILE *err)
{
    struct cmdlet_ctx ctx = {instance_dir, c->name, in, out, err, false};
    bool confirm = strncasecmp(c->name, "Remove-", 7) == 0 && isatty(fileno(in));
    int rc;

    if ((cmdlet_help_changes(c->name) && take_switch(&ctx, args, "WhatIf", &ctx.whatif) < 0) ||
        take_switch(&ctx, args, "Confirm", &confirm) < 0)
        return CMDLET_USAGE;
    if (ctx.whatif && !c->config_change) {
        /* nothing this cmdlet does can be shown in advance: it is not run */
        fprintf(out, "What if: %s \"%s\" would run; nothing was changed.\n", c->name,
                peek_identity(args));
        return CMDLET_OK;
    }
    /* a script cannot answer: only a terminal is asked */
    if (confirm && !ctx.whatif && isatty(fileno(in)) && !confirmed(&ctx, peek_identity(args)))
        return CMDLET_OK;
    rc = c->run(&ctx, args);
    fflush(out);
    return rc;
}
