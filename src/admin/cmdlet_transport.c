/*
 * cmdlet_transport.c — Get-TransportConfig and Set-TransportConfig: the
 * organisation-wide settings (docs/exchange-model.md), one object without a
 * name.
 *
 * -Identity is accepted and ignored, as there is only one TransportConfig.
 * Must never: change anything but the TransportConfig section.
 */
#include "admin/cmdlet_object.h"
#include "routing/route.h"

int
cmdlet_get_transport_config(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    struct config *cfg;
    const char *id;
    char msg[512];

    if (cmdlet_args_identity(a, &id, msg, sizeof(msg)) < 0 ||
        cmdlet_args_check_unused(a, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    if ((cfg = cmdlet_config_read(ctx)) == NULL)
        return CMDLET_ERROR;
    cmdlet_print_object(ctx->out, config_kind(CONFIG_TRANSPORT), &cfg->transport);
    config_unref(cfg);
    return CMDLET_OK;
}

/* Exchange warns when TLSSendDomainSecureList names a domain that no Send
 * connector with DomainSecureEnabled routes: its mail would go out without
 * domain security. */
static void
warn_unsecured_domains(struct cmdlet_ctx *ctx, const struct config *cfg)
{
    for (size_t i = 0; i < cfg->transport.ntls_send_domain_secure_list; i++) {
        const char *domain = cfg->transport.tls_send_domain_secure_list[i];
        struct route r;
        char address[300];

        snprintf(address, sizeof(address), "postmaster@%s", domain);
        route_recipient(cfg, address, domain, 0, &r);
        if (!r.domain_secure)
            cmdlet_warning(ctx,
                           "TLSSendDomainSecureList: no Send connector with DomainSecureEnabled "
                           "routes %s; its mail does not use domain security",
                           domain);
    }
}

int
cmdlet_set_transport_config(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    const struct config_kind_info *k = config_kind(CONFIG_TRANSPORT);
    struct cmdlet_txn t;
    const char *id;
    char msg[512];
    int rc;

    if (cmdlet_args_identity(a, &id, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    if ((rc = cmdlet_params_check(ctx, k, a, false)) != CMDLET_OK)
        return rc;
    if ((rc = cmdlet_txn_begin(ctx, &t)) == CMDLET_OK &&
        (rc = cmdlet_params_apply(ctx, k, &t.cfg->transport, a, false)) == CMDLET_OK &&
        (rc = cmdlet_txn_commit(ctx, &t)) == CMDLET_OK)
        warn_unsecured_domains(ctx, t.cfg);
    cmdlet_txn_end(&t);
    return rc;
}
