/*
 * cmdlet_mtasts.c — Get-MtaStsPolicy and Clear-MtaStsCache: the MTA-STS
 * policies postern fetched for recipient domains (delivery/mtasts_cache.h),
 * as the queue process keeps them in DIR/mta-sts.
 *
 * Both work on the files, so they answer whether the service runs or not;
 * the service reads a domain's file each time it connects to the domain,
 * so a cleared policy is fetched anew on the next delivery.
 * Must never: print a control character, or touch a file outside
 * DIR/mta-sts.
 */
#include "admin/cmdlet.h"
#include "admin/cmdlet_args.h"
#include "admin/cmdlet_object.h"
#include "delivery/mtasts_cache.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static void
utc_text(time_t t, char *out, size_t outlen)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, outlen, "?");
}

/* One policy in Format-List form. */
static void
print_policy(FILE *out, const char *domain, const struct mtasts_policy *p, time_t now)
{
    char fetched[32], expires[32];

    utc_text(p->fetched, fetched, sizeof(fetched));
    utc_text(p->fetched + (time_t)p->max_age, expires, sizeof(expires));
    fprintf(out, "Domain    : %s\n", domain);
    fprintf(out, "Id        : %s\n", p->id);
    fprintf(out, "Mode      : %s\n", mtasts_mode_name(p->mode));
    fprintf(out, "Mx        : {");
    for (size_t i = 0; i < p->nmx; i++)
        fprintf(out, "%s%s", i ? ", " : "", p->mx[i]);
    fprintf(out, "}\n");
    fprintf(out, "MaxAge    : %u\n", p->max_age);
    fprintf(out, "Fetched   : %s\n", fetched);
    fprintf(out, "Expires   : %s\n", expires);
    fprintf(out, "Age       : %lld\n", (long long)(now - p->fetched));
    fprintf(out, "Status    : %s\n\n", mtasts_expired(p, now) ? "Expired" : "Valid");
}

static int
domain_arg(struct cmdlet_ctx *ctx, struct cmdlet_args *a, const char **domain)
{
    char msg[512];

    *domain = NULL;
    if (cmdlet_args_string(a, "Domain", domain, msg, sizeof(msg)) < 0 ||
        cmdlet_args_check_unused(a, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return -1;
    }
    return 0;
}

int
cmdlet_get_mtasts_policy(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    time_t now = time(NULL);
    const char *domain;
    char **all;
    int rc = CMDLET_OK;

    if (domain_arg(ctx, a, &domain) < 0)
        return CMDLET_USAGE;
    all = mtasts_cache_domains(ctx->instance_dir);
    for (size_t i = 0; all[i] != NULL; i++) {
        struct mtasts_policy *p;

        if (domain != NULL && strcasecmp(domain, all[i]) != 0)
            continue;
        if ((p = mtasts_cache_get(ctx->instance_dir, all[i])) != NULL)
            print_policy(ctx->out, all[i], p, now);
        mtasts_cache_free(p);
    }
    for (size_t i = 0; all[i] != NULL; i++)
        free(all[i]);
    free(all);
    return rc;
}

int
cmdlet_clear_mtasts_cache(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    char err[512];
    const char *domain;
    int gone;

    if (domain_arg(ctx, a, &domain) < 0)
        return CMDLET_USAGE;
    if ((gone = mtasts_cache_clear(ctx->instance_dir, domain, err, sizeof(err))) < 0) {
        cmdlet_error(ctx, "%s", err);
        return CMDLET_ERROR;
    }
    fprintf(ctx->out, "%d MTA-STS polic%s removed.\n", gone, gone == 1 ? "y" : "ies");
    return CMDLET_OK;
}
