/*
 * cmdlet_domain.c — New-, Set-, Get- and Remove-AcceptedDomain
 * (docs/exchange-model.md, "Accepted domains").
 *
 * The first accepted domain becomes the default; -MakeDefault moves the
 * default to another. The default can be removed only when it is the last.
 * Must never: leave the organisation with accepted domains but no default,
 * or with two.
 */
#include "admin/cmdlet_object.h"
#include "lib/util.h"

#include <string.h>

const char *const cmdlet_set_accepted_domain_switches[] = {"MakeDefault", NULL};

int
cmdlet_new_accepted_domain(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    const struct config_kind_info *k = config_kind(CONFIG_ACCEPTED_DOMAIN);
    const char *name, *domain = NULL;
    struct accepted_domain *ad;
    struct cmdlet_txn t;
    char msg[512];
    int status, rc;

    if ((rc = cmdlet_args_string(a, "DomainName", &domain, msg, sizeof(msg))) <= 0) {
        cmdlet_error(ctx, "%s", rc < 0 ? msg : "DomainName: a value is required");
        return CMDLET_USAGE;
    }
    /* Exchange names the domain after itself unless told otherwise ("":
     * the normalised DomainName, set below). */
    if ((status = cmdlet_new_name(ctx, a, "", &name)) != CMDLET_OK ||
        (status = cmdlet_params_check(ctx, k, a, true)) != CMDLET_OK)
        return status;
    if ((status = cmdlet_txn_begin(ctx, &t)) != CMDLET_OK)
        goto out;
    /* A name or DomainName already taken is refused by config_validate. */
    bool first = t.cfg->naccepted_domains == 0;
    const struct accepted_domain *def = config_default_domain(t.cfg);
    bool def_authoritative = def && def->domain_type == DOMAIN_AUTHORITATIVE;
    size_t index = t.cfg->naccepted_domains;
    ad = config_object_append(t.cfg, CONFIG_ACCEPTED_DOMAIN);
    ad->is_default = first;
    /* a Name given names the object in the messages about its DomainName */
    if ((*name && (status = cmdlet_param_set(ctx, k, ad, "Name", name)) != CMDLET_OK) ||
        (status = cmdlet_param_set(ctx, k, ad, "DomainName", domain)) != CMDLET_OK ||
        (!*name && (status = cmdlet_param_set(ctx, k, ad, "Name", ad->domain_name)) != CMDLET_OK) ||
        (status = cmdlet_params_apply(ctx, k, ad, a, true)) != CMDLET_OK)
        goto out;
    /* Exchange's default domain is the first Authoritative one (postmaster@
     * and reports use it): it takes over from a relay domain made before. */
    if (!first && !def_authoritative && ad->domain_type == DOMAIN_AUTHORITATIVE)
        for (size_t i = 0; i < t.cfg->naccepted_domains; i++)
            t.cfg->accepted_domains[i].is_default = i == index;
    ad = &t.cfg->accepted_domains[index];
    if ((status = cmdlet_txn_commit(ctx, &t)) != CMDLET_OK)
        goto out;
    cmdlet_print_created(ctx, k, ad);
out:
    cmdlet_txn_end(&t);
    return status;
}

static int
make_default(struct cmdlet_ctx *ctx, struct config *cfg, size_t index, void *data)
{
    if (*(bool *)data) {
        for (size_t i = 0; i < cfg->naccepted_domains; i++)
            cfg->accepted_domains[i].is_default = i == index;
    }
    return CMDLET_OK;
}

int
cmdlet_set_accepted_domain(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    bool makedefault = false;
    char msg[512];

    if (cmdlet_args_bool(a, "MakeDefault", &makedefault, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    return cmdlet_set_object(ctx, a, CONFIG_ACCEPTED_DOMAIN, make_default, &makedefault);
}

int
cmdlet_get_accepted_domain(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    return cmdlet_get_objects(ctx, a, CONFIG_ACCEPTED_DOMAIN);
}

static int
removable(struct cmdlet_ctx *ctx, struct config *cfg, size_t index, void *data)
{
    const struct accepted_domain *ad = &cfg->accepted_domains[index];

    if (ad->is_default && cfg->naccepted_domains > 1) {
        cmdlet_error(ctx,
                     "AcceptedDomain \"%s\": Default: the default accepted domain cannot "
                     "be removed; make another one the default first "
                     "(Set-AcceptedDomain -MakeDefault)",
                     ad->name);
        return CMDLET_ERROR;
    }
    return CMDLET_OK;
}

int
cmdlet_remove_accepted_domain(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    return cmdlet_remove_object(ctx, a, CONFIG_ACCEPTED_DOMAIN, removable, NULL);
}
