/*
 * cmdlet_admin.c — Exchange 2007's Add-, Get- and Remove-ExchangeAdministrator:
 * which mailboxes may sign in to the management console (src/console), and
 * with which role.
 *
 *   Add-ExchangeAdministrator -Identity alice -Role OrgAdmin
 *   Get-ExchangeAdministrator [-Identity alice]
 *   Remove-ExchangeAdministrator -Identity alice [-Role OrgAdmin]
 *
 * The role is a property of the mailbox (ExchangeAdministratorRole in
 * postern.conf), so the account signs in with the password SMTP AUTH
 * checks. Of Exchange's roles, OrgAdmin (every cmdlet) and ViewOnlyAdmin
 * (Get- cmdlets) mean something for one transport server; the others are
 * refused by name rather than silently granted more or less.
 * Must never: grant a role to a mailbox without a password (it could not
 * sign in, and one set later would open the console unnoticed).
 */
#include "admin/cmdlet_object.h"
#include "lib/util.h"

#include <string.h>

static const struct {
    const char *name;
    enum admin_role role;
} roles[] = {
    {"OrgAdmin", ADMIN_ROLE_ORG},
    {"ViewOnlyAdmin", ADMIN_ROLE_VIEW_ONLY},
};

static const char *
role_name(enum admin_role role)
{
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
        if (roles[i].role == role)
            return roles[i].name;
    return "None";
}

/* -Role: CMDLET_OK with *role set, or a usage error (printed). */
static int
take_role(struct cmdlet_ctx *ctx, struct cmdlet_args *a, bool required, enum admin_role *role)
{
    const char *text = NULL;
    char msg[256];

    if (cmdlet_args_string(a, "Role", &text, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    if (text == NULL) {
        if (!required) {
            *role = ADMIN_ROLE_NONE;
            return CMDLET_OK;
        }
        cmdlet_error(ctx, "Role: a value is required (OrgAdmin or ViewOnlyAdmin)");
        return CMDLET_USAGE;
    }
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
        if (str_ieq(text, roles[i].name)) {
            *role = roles[i].role;
            return CMDLET_OK;
        }
    if (str_ieq(text, "RecipientAdmin") || str_ieq(text, "ServerAdmin") ||
        str_ieq(text, "PublicFolderAdmin"))
        cmdlet_error(ctx,
                     "Role: %s has no meaning on a postern server; use OrgAdmin or "
                     "ViewOnlyAdmin",
                     text);
    else
        cmdlet_error(ctx, "Role: \"%s\" is not OrgAdmin or ViewOnlyAdmin", text);
    return CMDLET_USAGE;
}

/* Identity, then nothing left over. */
static int
take_identity(struct cmdlet_ctx *ctx, struct cmdlet_args *a, const char **identity)
{
    char msg[256];
    int given = cmdlet_args_identity(a, identity, msg, sizeof(msg));

    if (given <= 0) {
        cmdlet_error(ctx, "%s", given < 0 ? msg : "Identity: a value is required");
        return CMDLET_USAGE;
    }
    if (cmdlet_args_check_unused(a, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    return CMDLET_OK;
}

struct role_change {
    enum admin_role role;   /* what the mailbox gets */
    enum admin_role expect; /* Remove- -Role X: only when it has X (NONE: any) */
};

static int
set_role(struct cmdlet_ctx *ctx, struct config *cfg, size_t index, void *data)
{
    const struct role_change *c = data;
    struct mailbox *mb = &cfg->mailboxes[index];

    if (c->role != ADMIN_ROLE_NONE && !mailbox_has_password(mb)) {
        cmdlet_error(ctx,
                     "Mailbox \"%s\" has no password: set one first (Set-Mailbox -Identity "
                     "\"%s\" -Password -)",
                     mb->name, mb->name);
        return CMDLET_ERROR;
    }
    if (c->role == ADMIN_ROLE_NONE && mb->admin_role == ADMIN_ROLE_NONE) {
        cmdlet_error(ctx, "\"%s\" is not an Exchange administrator", mb->name);
        return CMDLET_ERROR;
    }
    if (c->expect != ADMIN_ROLE_NONE && mb->admin_role != c->expect) {
        cmdlet_error(ctx, "\"%s\" has the role %s, not %s", mb->name, role_name(mb->admin_role),
                     role_name(c->expect));
        return CMDLET_ERROR;
    }
    mb->admin_role = c->role;
    return CMDLET_OK;
}

/* Add- (the role -Role names) or Remove- (None; -Role: only from that role). */
static int
change_role(struct cmdlet_ctx *ctx, struct cmdlet_args *a, bool adding)
{
    struct role_change c = {ADMIN_ROLE_NONE, ADMIN_ROLE_NONE};
    const char *identity = NULL;
    int rc;

    if ((rc = take_role(ctx, a, adding, adding ? &c.role : &c.expect)) != CMDLET_OK ||
        (rc = take_identity(ctx, a, &identity)) != CMDLET_OK)
        return rc;
    return cmdlet_set_apply(ctx, a, CONFIG_MAILBOX, identity, set_role, &c);
}

int
cmdlet_add_exchange_administrator(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    return change_role(ctx, a, true);
}

int
cmdlet_remove_exchange_administrator(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    return change_role(ctx, a, false);
}

int
cmdlet_get_exchange_administrator(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    const char *identity = NULL;
    struct config *cfg;
    char msg[256];
    bool first = true;

    if (cmdlet_args_identity(a, &identity, msg, sizeof(msg)) < 0 ||
        cmdlet_args_check_unused(a, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    if ((cfg = cmdlet_config_read(ctx)) == NULL)
        return CMDLET_ERROR;
    const struct mailbox *only = identity ? config_find_mailbox(cfg, identity) : NULL;
    if (identity != NULL && (only == NULL || only->admin_role == ADMIN_ROLE_NONE)) {
        cmdlet_error(ctx, "\"%s\" is not an Exchange administrator", identity);
        config_unref(cfg);
        return CMDLET_ERROR;
    }
    for (size_t i = 0; i < cfg->nmailboxes; i++) {
        const struct mailbox *mb = &cfg->mailboxes[i];
        if (mb->admin_role == ADMIN_ROLE_NONE || (only != NULL && mb != only))
            continue;
        fprintf(ctx->out, "%s%-18s : %s\n%-18s : %s\n%-18s : %s\n", first ? "" : "\n", "Identity",
                mb->name, "PrimarySmtpAddress", mb->primary_smtp_address, "Role",
                role_name(mb->admin_role));
        first = false;
    }
    config_unref(cfg);
    return CMDLET_OK;
}
