/*
 * cmdlet_send.c — New-, Set-, Get- and Remove-SendConnector
 * (docs/exchange-model.md, "Send connectors").
 *
 * New-SendConnector needs -Name and -AddressSpaces. -Usage X (or one of
 * the switches -Custom -Internet -Internal -Partner) applies a preset
 * first; the parameters given win over it:
 *
 *   Custom    nothing (the table defaults: DNS routing, no TLS demands)
 *   Internet  DNSRoutingEnabled True (MX lookup)
 *   Internal  DNSRoutingEnabled False: mail goes to the organisation's
 *             -SmartHosts, which must then be given. SmartHostAuthMechanism
 *             stays None (Exchange's ExchangeServer is Kerberos, which
 *             postern does not speak)
 *   Partner   DomainSecureEnabled True, DNSRoutingEnabled True: mutual TLS
 *             with the partner domains named in -AddressSpaces
 *
 * Usage only shapes creation: Set-SendConnector does not take it.
 * -AuthenticationCredential user:password, or "-" to read that line from
 * standard input (scripts keep it out of the process list and history).
 * Must never: print, or leave in a buffer it frees, the password of a
 * credential.
 */
#include "admin/cmdlet_object.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

const char *const cmdlet_new_send_connector_switches[] = {
    "Custom", "Internet", "Internal", "Partner", NULL,
};

/* In the order of cmdlet_new_send_connector_switches, the usages' names. */
struct preset {
    enum sc_usage usage;
    const char *dns_routing_enabled;
    const char *domain_secure_enabled;
};

static const struct preset presets[] = {
    {SC_USAGE_CUSTOM, NULL, NULL},
    {SC_USAGE_INTERNET, "True", NULL},
    {SC_USAGE_INTERNAL, "False", NULL},
    {SC_USAGE_PARTNER, "True", "True"},
};

_Static_assert(sizeof(presets) / sizeof(presets[0]) + 1 ==
                   sizeof(cmdlet_new_send_connector_switches) /
                       sizeof(cmdlet_new_send_connector_switches[0]),
               "a preset for each usage switch");

static int
apply_preset(struct cmdlet_ctx *ctx, struct send_connector *sc, const struct preset *p)
{
    const struct config_kind_info *k = config_kind(CONFIG_SEND_CONNECTOR);

    sc->usage = p->usage;
    if (p->dns_routing_enabled != NULL &&
        cmdlet_param_set(ctx, k, sc, "DNSRoutingEnabled", p->dns_routing_enabled) != CMDLET_OK)
        return CMDLET_ERROR;
    if (p->domain_secure_enabled != NULL &&
        cmdlet_param_set(ctx, k, sc, "DomainSecureEnabled", p->domain_secure_enabled) != CMDLET_OK)
        return CMDLET_ERROR;
    return CMDLET_OK;
}

/* Was -name given (with a value)? Looks without taking it. */
static bool
given_with_value(const struct cmdlet_args *a, const char *name)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->v[i].name != NULL && str_ieq(a->v[i].name, name) && a->v[i].value != NULL)
            return true;
    return false;
}

/* Takes -AuthenticationCredential before the generic parameters see it
 * (its "-" means standard input). NULL when not given. */
static int
take_credential(struct cmdlet_ctx *ctx, struct cmdlet_args *a, struct cmdlet_arg **arg)
{
    *arg = cmdlet_args_take(a, "AuthenticationCredential", NULL);
    for (size_t i = 0; i < a->n; i++) {
        if (&a->v[i] != *arg && a->v[i].name != NULL &&
            str_ieq(a->v[i].name, "AuthenticationCredential")) {
            cmdlet_error(ctx, "AuthenticationCredential: parameter given twice");
            return CMDLET_USAGE;
        }
    }
    if (*arg != NULL && (*arg)->value == NULL) {
        cmdlet_error(ctx, "AuthenticationCredential: a value is required (user:password, or - "
                          "to read it from standard input)");
        return CMDLET_USAGE;
    }
    return CMDLET_OK;
}

/* The credential text of arg (read from ctx->in for "-"), malloc'd in
 * *out; NULL when arg is. The argument's own copy is wiped. */
static int
read_credential(struct cmdlet_ctx *ctx, struct cmdlet_arg *arg, char **out)
{
    char *line = NULL;
    size_t cap = 0;

    *out = NULL;
    if (arg == NULL)
        return CMDLET_OK;
    if (strcmp(arg->value, "-") != 0) {
        *out = xstrdup(arg->value);
        explicit_bzero(arg->value, strlen(arg->value));
        return CMDLET_OK;
    }
    if (getline(&line, &cap, ctx->in) < 0) {
        free(line);
        cmdlet_error(ctx, "AuthenticationCredential: no user:password on standard input");
        return CMDLET_ERROR;
    }
    line[strcspn(line, "\r\n")] = '\0';
    *out = xstrdup(line);
    mem_free_wiped(line, cap);
    return CMDLET_OK;
}

static int
set_credential(struct cmdlet_ctx *ctx, struct config *cfg, size_t index, void *data)
{
    const char *cred = data;

    if (cred == NULL)
        return CMDLET_OK;
    return cmdlet_param_set(ctx, config_kind(CONFIG_SEND_CONNECTOR), &cfg->send_connectors[index],
                            "AuthenticationCredential", cred);
}

struct new_send {
    size_t preset; /* in presets */
    char *cred;    /* NULL: none given */
};

/* The cmdlet_object_hook of New-: the preset, then the credential. */
static int
init_new(struct cmdlet_ctx *ctx, struct config *cfg, size_t index, void *data)
{
    struct new_send *n = data;

    if (apply_preset(ctx, &cfg->send_connectors[index], &presets[n->preset]) != CMDLET_OK)
        return CMDLET_ERROR;
    return set_credential(ctx, cfg, index, n->cred);
}

int
cmdlet_new_send_connector(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    struct new_send n = {0, NULL};
    struct cmdlet_arg *cred_arg;
    const char *name;
    int status;

    if ((status = cmdlet_new_name(ctx, a, NULL, &name)) != CMDLET_OK ||
        (status = cmdlet_new_usage(ctx, a, CONFIG_SEND_CONNECTOR, name,
                                   cmdlet_new_send_connector_switches, &n.preset)) != CMDLET_OK ||
        (status = take_credential(ctx, a, &cred_arg)) != CMDLET_OK)
        return status;
    if (!given_with_value(a, "AddressSpaces")) {
        cmdlet_error(ctx, "AddressSpaces: a value is required (contoso.com, *.contoso.com;5, *)");
        return CMDLET_USAGE;
    }
    /* Every other argument is checked before a credential is read. */
    if ((status = cmdlet_params_check(ctx, config_kind(CONFIG_SEND_CONNECTOR), a, true)) !=
            CMDLET_OK ||
        (status = read_credential(ctx, cred_arg, &n.cred)) != CMDLET_OK)
        return status;
    status = cmdlet_new_object(ctx, a, CONFIG_SEND_CONNECTOR, "send connector", name, init_new, &n);
    str_free_wiped(n.cred);
    return status;
}

int
cmdlet_set_send_connector(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    struct cmdlet_arg *cred_arg;
    char *cred = NULL;
    const char *id;
    int status;

    /* Unknown parameters are refused before a credential is read; it is
     * read before the instance is locked. */
    if ((status = take_credential(ctx, a, &cred_arg)) != CMDLET_OK ||
        (status = cmdlet_set_prepare(ctx, a, CONFIG_SEND_CONNECTOR, &id)) != CMDLET_OK ||
        (status = read_credential(ctx, cred_arg, &cred)) != CMDLET_OK)
        return status;
    status = cmdlet_set_apply(ctx, a, CONFIG_SEND_CONNECTOR, id, set_credential, cred);
    str_free_wiped(cred);
    return status;
}

int
cmdlet_get_send_connector(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    return cmdlet_get_objects(ctx, a, CONFIG_SEND_CONNECTOR);
}

int
cmdlet_remove_send_connector(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    return cmdlet_remove_object(ctx, a, CONFIG_SEND_CONNECTOR, NULL, NULL);
}
