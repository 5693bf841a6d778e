/*
 * cmdlet_receive.c — New-, Set-, Get- and Remove-ReceiveConnector.
 *
 * New-ReceiveConnector applies the Usage preset of EXCHANGE-MODEL.md 1.2
 * first (permission groups, authentication, and the binding or remote
 * ranges that usage fixes), then the parameters given, which win.
 * Usage only shapes creation: Set-ReceiveConnector does not take it.
 * Must never: create a connector config_validate would refuse (overlapping
 * ranges on a shared binding, RequireTLS without Tls ...): the change
 * goes through the same transaction as every other.
 */
#include "admin/cmdlet_object.h"
#include "lib/util.h"

#include <string.h>

#define ALL_REMOTE_RANGES "0.0.0.0-255.255.255.255, ::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"

const char *const cmdlet_new_receive_connector_switches[] = {
    "Custom", "Internet", "Internal", "Client", "Partner", NULL,
};

struct preset {
    enum rc_usage usage;
    const char *switch_name;
    const char *permission_groups;
    const char *auth_mechanism;
    const char *bindings;
    const char *remote_ip_ranges;
};

static const struct preset presets[] = {
    {USAGE_CUSTOM, "Custom", NULL, NULL, NULL, NULL},
    {USAGE_INTERNET, "Internet", "AnonymousUsers", "Tls", NULL, ALL_REMOTE_RANGES},
    {USAGE_INTERNAL, "Internal", "ExchangeServers, ExchangeLegacyServers", "Tls, ExchangeServer",
     "0.0.0.0:25", NULL},
    {USAGE_CLIENT, "Client", "ExchangeUsers", "Tls, BasicAuth, BasicAuthRequireTLS", "0.0.0.0:587",
     NULL},
    {USAGE_PARTNER, "Partner", "Partners", "Tls", NULL, NULL},
};

/* -Usage X, or one of the switches -Custom -Internet -Internal -Client
 * -Partner (the same thing, as in Exchange). */
static int
usage_from_args(struct cmdlet_ctx *ctx, struct cmdlet_args *a, const char *name,
                const struct preset **out)
{
    const struct config_kind_info *k = config_kind(CONFIG_RECEIVE_CONNECTOR);
    const struct preset *chosen = &presets[0];
    const char *text;
    char msg[512];
    int given = 0, rc;
    bool on;

    if ((rc = cmdlet_args_string(a, "Usage", &text, msg, sizeof(msg))) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    if (rc == 1) {
        struct receive_connector tmp = {0};
        if (config_param_parse(config_param_find(k, "Usage"), &tmp, text, 0, msg, sizeof(msg)) <
            0) {
            cmdlet_error(ctx, "ReceiveConnector \"%s\": Usage: %s", name, msg);
            return CMDLET_ERROR;
        }
        for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
            if (presets[i].usage == tmp.usage)
                chosen = &presets[i];
        given++;
    }
    for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++) {
        if ((rc = cmdlet_args_bool(a, presets[i].switch_name, &on, msg, sizeof(msg))) < 0) {
            cmdlet_error(ctx, "%s", msg);
            return CMDLET_USAGE;
        }
        if (rc == 1 && on) {
            if (given > 0 && chosen != &presets[i]) {
                cmdlet_error(ctx, "Usage: give one of -Usage, -Custom, -Internet, -Internal, "
                                  "-Client, -Partner");
                return CMDLET_USAGE;
            }
            chosen = &presets[i];
            given++;
        }
    }
    *out = chosen;
    return CMDLET_OK;
}

static int
apply_preset(struct cmdlet_ctx *ctx, struct receive_connector *rc, const struct preset *p)
{
    const struct config_kind_info *k = config_kind(CONFIG_RECEIVE_CONNECTOR);
    const struct {
        const char *param, *text;
    } sets[] = {
        {"PermissionGroups", p->permission_groups},
        {"AuthMechanism", p->auth_mechanism},
        {"Bindings", p->bindings},
        {"RemoteIPRanges", p->remote_ip_ranges},
    };

    rc->usage = p->usage;
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
        if (sets[i].text != NULL && cmdlet_param_set(ctx, k, rc, sets[i].param, sets[i].text))
            return CMDLET_ERROR;
    return CMDLET_OK;
}

int
cmdlet_new_receive_connector(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    const struct config_kind_info *k = config_kind(CONFIG_RECEIVE_CONNECTOR);
    const struct preset *preset;
    struct receive_connector *rc;
    struct cmdlet_txn t;
    const char *name;
    size_t index;
    int status;

    if ((status = cmdlet_new_name(ctx, a, NULL, &name)) != CMDLET_OK ||
        (status = usage_from_args(ctx, a, name, &preset)) != CMDLET_OK ||
        (status = cmdlet_params_check(ctx, k, a, true)) != CMDLET_OK)
        return status;
    if ((status = cmdlet_txn_begin(ctx, &t)) != CMDLET_OK)
        goto out;
    if (config_object_find(t.cfg, CONFIG_RECEIVE_CONNECTOR, name, &index)) {
        cmdlet_error(ctx,
                     "ReceiveConnector \"%s\": Name: a receive connector of that name "
                     "already exists",
                     name);
        status = CMDLET_ERROR;
        goto out;
    }
    rc = config_object_append(t.cfg, CONFIG_RECEIVE_CONNECTOR);
    if ((status = cmdlet_param_set(ctx, k, rc, "Name", name)) != CMDLET_OK ||
        (status = apply_preset(ctx, rc, preset)) != CMDLET_OK ||
        (status = cmdlet_params_apply(ctx, k, rc, a, true)) != CMDLET_OK ||
        (status = cmdlet_txn_commit(ctx, &t)) != CMDLET_OK)
        goto out;
    cmdlet_print_object(ctx->out, k, rc);
out:
    cmdlet_txn_end(&t);
    return status;
}

int
cmdlet_set_receive_connector(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    return cmdlet_set_object(ctx, a, CONFIG_RECEIVE_CONNECTOR, NULL, NULL);
}

int
cmdlet_get_receive_connector(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    return cmdlet_get_objects(ctx, a, CONFIG_RECEIVE_CONNECTOR);
}

int
cmdlet_remove_receive_connector(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    return cmdlet_remove_object(ctx, a, CONFIG_RECEIVE_CONNECTOR, NULL, NULL);
}
