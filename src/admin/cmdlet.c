/*
 * cmdlet.c — the table of cmdlets and cmdlet_exec, which runs one with its
 * bound arguments (see cmdlet.h).
 *
 * To add a cmdlet: write a cmdlet_fn, declare it in its module's header,
 * and add one line to the table below.
 * Must never: run a cmdlet whose arguments did not parse.
 */
#include "admin/cmdlet.h"
#include "admin/cmdlet_object.h"
#include "lib/util.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const get_message_switches[] = {"IncludeRecipientInfo", NULL};

static const struct cmdlet cmdlets[] = {
    {"New-ReceiveConnector", cmdlet_new_receive_connector, cmdlet_new_receive_connector_switches},
    {"Set-ReceiveConnector", cmdlet_set_receive_connector, NULL},
    {"Get-ReceiveConnector", cmdlet_get_receive_connector, NULL},
    {"Remove-ReceiveConnector", cmdlet_remove_receive_connector, NULL},
    {"New-SendConnector", cmdlet_new_send_connector, cmdlet_new_send_connector_switches},
    {"Set-SendConnector", cmdlet_set_send_connector, NULL},
    {"Get-SendConnector", cmdlet_get_send_connector, NULL},
    {"Remove-SendConnector", cmdlet_remove_send_connector, NULL},
    {"New-AcceptedDomain", cmdlet_new_accepted_domain, NULL},
    {"Set-AcceptedDomain", cmdlet_set_accepted_domain, cmdlet_set_accepted_domain_switches},
    {"Get-AcceptedDomain", cmdlet_get_accepted_domain, NULL},
    {"Remove-AcceptedDomain", cmdlet_remove_accepted_domain, NULL},
    {"New-Mailbox", cmdlet_new_mailbox, NULL},
    {"Set-Mailbox", cmdlet_set_mailbox, NULL},
    {"Get-Mailbox", cmdlet_get_mailbox, NULL},
    {"Remove-Mailbox", cmdlet_remove_mailbox, NULL},
    {"Get-TransportConfig", cmdlet_get_transport_config, NULL},
    {"Set-TransportConfig", cmdlet_set_transport_config, NULL},
    {"Get-Queue", cmdlet_get_queue, NULL},
    {"Get-Message", cmdlet_get_message, get_message_switches},
    {"Retry-Queue", cmdlet_queue_action, NULL},
    {"Suspend-Queue", cmdlet_queue_action, NULL},
    {"Resume-Queue", cmdlet_queue_action, NULL},
    {"Suspend-Message", cmdlet_message_action, NULL},
    {"Resume-Message", cmdlet_message_action, NULL},
    {"Remove-Message", cmdlet_message_action, NULL},
    {"New-ExchangeCertificate", cmdlet_new_exchange_certificate,
     cmdlet_new_exchange_certificate_switches},
    {"Import-ExchangeCertificate", cmdlet_import_exchange_certificate, NULL},
    {"Get-ExchangeCertificate", cmdlet_get_exchange_certificate, NULL},
    {"Enable-ExchangeCertificate", cmdlet_enable_exchange_certificate,
     cmdlet_enable_exchange_certificate_switches},
    {"Remove-ExchangeCertificate", cmdlet_remove_exchange_certificate, NULL},
    {"Import-Certificate", cmdlet_import_certificate, NULL},
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

void
cmdlet_error(const struct cmdlet_ctx *ctx, const char *fmt, ...)
{
    va_list ap;

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

    fputs("WARNING: ", ctx->err);
    va_start(ap, fmt);
    vfprintf(ctx->err, fmt, ap);
    va_end(ap);
    fputc('\n', ctx->err);
}

int
cmdlet_exec(const char *instance_dir, const struct cmdlet *c, struct cmdlet_args *args, FILE *in,
            FILE *out, FILE *err)
{
    struct cmdlet_ctx ctx = {instance_dir, c->name, in, out, err};
    int rc;

    /* -Confirm is accepted everywhere and ignored: cmdlets never prompt. */
    (void)cmdlet_args_take(args, "Confirm", NULL);
    rc = c->run(&ctx, args);
    fflush(out);
    return rc;
}
