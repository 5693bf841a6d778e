/*
 * cmdlet_receive.c — New-, Set-, Get- and Remove-ReceiveConnector.
 *
 * New-ReceiveConnector applies the Usage preset (docs/exchange-model.md)
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

/* In the order of cmdlet_new_receive_connector_switches, the usages'
 * names. */
struct preset {
    enum rc_usage usage;
    const char *permission_groups;
    const char *auth_mechanism;
    const char *bindings;
    const char *remote_ip_ranges;
};

static const struct preset presets[] = {
    {USAGE_CUSTOM, NULL, NULL, NULL, NULL},
    {USAGE_INTERNET, "AnonymousUsers", "Tls", NULL, ALL_REMOTE_RANGES},
    {USAGE_INTERNAL, "ExchangeServers, ExchangeLegacyServers", "Tls, ExchangeServer", "0.0.0.0:25",
     NULL},
    {USAGE_CLIENT, "ExchangeUsers", "Tls, BasicAuth, BasicAuthRequireTLS", "0.0.0.0:587", NULL},
    {USAGE_PARTNER, "Partners", "Tls", NULL, NULL},
};

_Static_assert(sizeof(presets) / sizeof(presets[0]) + 1 ==
                   sizeof(cmdlet_new_receive_connector_switches) /
                       sizeof(cmdlet_new_receive_connector_switches[0]),
               "a preset for each usage switch");

/* The cmdlet_object_hook of New-: data is the index of the preset. */
static int
apply_preset(struct cmdlet_ctx *ctx, struct config *cfg, size_t index, void *data)
{
    const struct config_kind_info *k = config_kind(CONFIG_RECEIVE_CONNECTOR);
    const struct preset *p = &presets[*(const size_t *)data];
    struct receive_connector *rc = &cfg->receive_connectors[index];
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
    const char *name;
    size_t preset;
    int status;

    if ((status = cmdlet_new_name(ctx, a, NULL, &name)) != CMDLET_OK ||
        (status = cmdlet_new_usage(ctx, a, CONFIG_RECEIVE_CONNECTOR, name,
                                   cmdlet_new_receive_connector_switches, &preset)) != CMDLET_OK ||
        (status = cmdlet_params_check(ctx, config_kind(CONFIG_RECEIVE_CONNECTOR), a, true)) !=
            CMDLET_OK)
        return status;
    return cmdlet_new_object(ctx, a, CONFIG_RECEIVE_CONNECTOR, "receive connector", name,
                             apply_preset, &preset);
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
