/*
 * cmdlet_tlsrpt.c — Get-TlsReport and Send-TlsReport: the TLS results
 * counted for TLS reporting (RFC 8460, delivery/tlsrpt_store.h), per
 * recipient domain and policy, a transit-security view of a day; and the
 * day's reports sent now by the running service.
 *
 * Get-TlsReport reads DIR/tlsrpt itself (the service need not run);
 * Send-TlsReport asks the queue process, which queues the reports.
 * Must never: print a control character (the counts' strings were checked
 * when stored, and are checked again here by the Format-List printer's
 * rules), or send a report itself.
 */
#include "admin/cmdlet.h"
#include "admin/cmdlet_args.h"
#include "admin/cmdlet_object.h"
#include "admin/control.h"
#include "delivery/tlsrpt_store.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* "2026-12-06" or "20261206" into yyyymmdd; NULL: today (or yesterday). */
static int
date_arg(struct cmdlet_ctx *ctx, const char *text, int days_back, char out[9])
{
    size_t n;

    if (text == NULL) {
        tlsrpt_date(time(NULL) - days_back * 86400, out);
        return 0;
    }
    n = strlen(text);
    if (n == 10 && text[4] == '-' && text[7] == '-') {
        memcpy(out, text, 4);
        memcpy(out + 4, text + 5, 2);
        memcpy(out + 6, text + 8, 2);
        out[8] = '\0';
    } else if (n == 8) {
        memcpy(out, text, 9);
    } else {
        out[0] = '\0';
    }
    if (strlen(out) != 8 || strspn(out, "0123456789") != 8) {
        cmdlet_error(ctx, "Date: '%s' is not a date (yyyy-mm-dd)", text);
        return -1;
    }
    return 0;
}

static void
list_field(FILE *out, const char *name, char **v, size_t n)
{
    fprintf(out, "%-18s : {", name);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s%s", i ? ", " : "", v[i]);
    fprintf(out, "}\n");
}

static void
print_policy(FILE *out, const struct tlsrpt_day *day, const struct tlsrpt_policy *p)
{
    const char *rua = tlsrpt_day_rua(day, p->domain);

    fprintf(out, "%-18s : %s\n", "Domain", p->domain);
    fprintf(out, "%-18s : %.4s-%.2s-%.2s\n", "Date", day->date, day->date + 4, day->date + 6);
    fprintf(out, "%-18s : %s\n", "PolicyType", p->type);
    list_field(out, "Policy", p->policy, p->npolicy);
    list_field(out, "MxHost", p->mx, p->nmx);
    fprintf(out, "%-18s : %u\n", "SuccessfulSessions", p->successful);
    fprintf(out, "%-18s : %u\n", "FailedSessions", p->failed);
    fprintf(out, "%-18s : {", "Failures");
    for (size_t i = 0; i < p->nfailures; i++) {
        const struct tlsrpt_failure *f = &p->failures[i];
        fprintf(out, "%s%s %s %s: %u", i ? ", " : "", f->result, f->mx_host[0] ? f->mx_host : "-",
                f->ip[0] ? f->ip : "-", f->count);
    }
    fprintf(out, "}\n%-18s : %s\n\n", "ReportTo", rua ? rua : "");
}

static int
common_args(struct cmdlet_ctx *ctx, struct cmdlet_args *a, const char **domain, const char **date)
{
    char msg[512];

    if (cmdlet_args_string(a, "Domain", domain, msg, sizeof(msg)) < 0 ||
        cmdlet_args_string(a, "Date", date, msg, sizeof(msg)) < 0 ||
        cmdlet_args_check_unused(a, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return -1;
    }
    return 0;
}

int
cmdlet_get_tls_report(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    const char *domain = NULL, *date_text = NULL;
    struct tlsrpt_day day;
    char date[9], err[512];

    if (common_args(ctx, a, &domain, &date_text) < 0 || date_arg(ctx, date_text, 0, date) < 0)
        return CMDLET_USAGE;
    if (tlsrpt_day_read(ctx->instance_dir, date, &day, err, sizeof(err)) < 0) {
        cmdlet_error(ctx, "%s", err);
        return CMDLET_ERROR;
    }
    for (size_t i = 0; i < day.npolicies; i++)
        if (domain == NULL || strcasecmp(domain, day.policies[i].domain) == 0)
            print_policy(ctx->out, &day, &day.policies[i]);
    tlsrpt_day_free(&day);
    return CMDLET_OK;
}

int
cmdlet_send_tls_report(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    const char *domain = NULL, *date_text = NULL;
    char date[9], err[512], *req, *out = NULL;
    int r;

    if (common_args(ctx, a, &domain, &date_text) < 0 || date_arg(ctx, date_text, 1, date) < 0)
        return CMDLET_USAGE;
    if (domain != NULL && (strchr(domain, '\t') != NULL || str_has_control(domain))) {
        cmdlet_error(ctx, "Domain: not a domain name");
        return CMDLET_USAGE;
    }
    req = xasprintf("send-tlsreport\t%s\t%s", date, domain ? domain : "");
    r = control_request(ctx->instance_dir, req, &out, err, sizeof(err));
    free(req);
    if (r == 0) {
        cmdlet_error(ctx, "the service is not running");
        return CMDLET_ERROR;
    }
    if (r < 0) {
        cmdlet_error(ctx, "%s", err);
        return CMDLET_ERROR;
    }
    fputs(out, ctx->out);
    free(out);
    return CMDLET_OK;
}
