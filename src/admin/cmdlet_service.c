/*
 * cmdlet_service.c — Get-Service and Restart-Service for the transport
 * service, under Exchange's name (MSExchangeTransport, the seed's last
 * step) or postern's.
 *
 * Restart-Service applies the configuration and certificates the way a
 * restart would, without one: the running service reloads (new sessions
 * take the new configuration, no session or queued message is lost).
 * Must never: stop the service, or report it restarted when it did not
 * apply the configuration.
 */
#include "admin/cmdlet_object.h"
#include "admin/control.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

static const char *const service_names[] = {"MSExchangeTransport", "postern", NULL};

/* -Name (or the first value): one of service_names; "" when none given. */
static int
service_name(struct cmdlet_ctx *ctx, struct cmdlet_args *a, const char **name)
{
    char msg[256];
    int rc = cmdlet_args_string(a, "Name", name, msg, sizeof(msg));

    if (rc < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    if (rc == 0 && (*name = cmdlet_args_positional(a)) == NULL)
        *name = "";
    if (cmdlet_args_check_unused(a, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    for (size_t i = 0; service_names[i]; i++)
        if (**name == '\0' || str_ieq(*name, service_names[i]))
            return CMDLET_OK;
    cmdlet_error(ctx, "Name: no service '%s' here (MSExchangeTransport or postern)", *name);
    return CMDLET_ERROR;
}

int
cmdlet_get_service(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    const char *name;
    char *out = NULL, err[512];
    int rc = service_name(ctx, a, &name), r;

    if (rc != CMDLET_OK)
        return rc;
    r = control_request(ctx->instance_dir, "status", &out, err, sizeof(err));
    if (r < 0) {
        cmdlet_error(ctx, "%s", err);
        return CMDLET_ERROR;
    }
    if (out != NULL)
        out[strcspn(out, "\n")] = '\0';
    fprintf(ctx->out, "%-11s : %s\n%-11s : %s\n%-11s : %s\n", "Name",
            *name ? name : "MSExchangeTransport", "DisplayName",
            "postern mail transport (Microsoft Exchange Transport)", "Status",
            r == 1 && out ? out : "Stopped");
    free(out);
    return CMDLET_OK;
}

int
cmdlet_restart_service(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    const char *name;
    char err[512];
    int rc = service_name(ctx, a, &name), r;

    if (rc != CMDLET_OK)
        return rc;
    r = control_request_reload(ctx->instance_dir, err, sizeof(err));
    if (r == 0) {
        cmdlet_error(ctx, "the service is not running for %s; start it with: postern -D %s run",
                     ctx->instance_dir, ctx->instance_dir);
        return CMDLET_ERROR;
    }
    if (r < 0) {
        cmdlet_error(ctx, "the service kept its configuration: %s", err);
        return CMDLET_ERROR;
    }
    fprintf(ctx->out, "reloaded: new connections use the configuration and certificates now; "
                      "no session or queued message was lost\n");
    return CMDLET_OK;
}
