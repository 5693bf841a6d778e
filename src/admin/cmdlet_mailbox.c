/*
 * cmdlet_mailbox.c — New-, Set-, Get- and Remove-Mailbox.
 *
 * -Password takes the password, or "-" to read one line from standard
 * input (so that it stays out of the process list and shell history). It
 * is stored only as a yescrypt hash (PasswordHash), which Get-Mailbox never
 * shows.
 * Must never: print, log or keep a plaintext password; the buffers that
 * held one are wiped before they are freed.
 */
#include "admin/cmdlet_object.h"
#include "lib/password.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

/* An AUTH password grants relay: a short one is an open relay waiting for
 * a dictionary. 8 is the floor most password policies start from. */
#define MAILBOX_PASSWORD_MIN 8

/* Hashes the -Password argument (arg, taken earlier; NULL when not given)
 * into hash. Returns CMDLET_OK (with *given set), or an exit status after
 * printing. */
static int
password_from_arg(struct cmdlet_ctx *ctx, struct cmdlet_arg *arg, char *hash, size_t hashlen,
                  bool *given)
{
    char *line = NULL;
    size_t cap = 0;
    int rc;

    *given = false;
    if (arg == NULL)
        return CMDLET_OK;
    if (arg->value == NULL) {
        cmdlet_error(ctx, "Password: a value is required (- reads it from standard input)");
        return CMDLET_USAGE;
    }
    const char *plain = arg->value;
    if (strcmp(arg->value, "-") == 0) {
        ssize_t n = getline(&line, &cap, ctx->in);
        if (n < 0) {
            free(line);
            cmdlet_error(ctx, "Password: no password on standard input");
            return CMDLET_ERROR;
        }
        line[strcspn(line, "\r\n")] = '\0';
        plain = line;
    }
    if (strlen(plain) < MAILBOX_PASSWORD_MIN) {
        rc = CMDLET_ERROR;
        cmdlet_error(ctx,
                     "Password: at least %d characters are required (it protects SMTP AUTH, "
                     "which grants relay)",
                     MAILBOX_PASSWORD_MIN);
    } else if (password_hash(plain, hash, hashlen) < 0) {
        rc = CMDLET_ERROR;
        cmdlet_error(ctx, "Password: hashing failed");
    } else {
        rc = CMDLET_OK;
        *given = true;
    }
    mem_free_wiped(line, cap);
    explicit_bzero(arg->value, strlen(arg->value));
    return rc;
}

int
cmdlet_new_mailbox(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    const struct config_kind_info *k = config_kind(CONFIG_MAILBOX);
    char hash[PASSWORD_HASH_SIZE], msg[512];
    const char *name, *address = NULL;
    struct mailbox *mb;
    struct cmdlet_txn t;
    bool has_password;
    int status, rc;

    if ((rc = cmdlet_args_string(a, "PrimarySmtpAddress", &address, msg, sizeof(msg))) <= 0) {
        cmdlet_error(ctx, "%s", rc < 0 ? msg : "PrimarySmtpAddress: a value is required");
        return CMDLET_USAGE;
    }
    /* Every other argument is checked before a password is read. */
    struct cmdlet_arg *pw = cmdlet_args_take(a, "Password", NULL);
    if ((status = cmdlet_new_name(ctx, a, "", &name)) != CMDLET_OK ||
        (status = cmdlet_params_check(ctx, k, a, true)) != CMDLET_OK ||
        (status = password_from_arg(ctx, pw, hash, sizeof(hash), &has_password)) != CMDLET_OK)
        return status;
    if ((status = cmdlet_txn_begin(ctx, &t)) != CMDLET_OK)
        goto out;
    /* A name or address already taken is refused by config_validate. */
    mb = config_object_append(t.cfg, CONFIG_MAILBOX);
    if (has_password)
        mb->password_hash = xstrdup(hash);
    /* Without -Name, the mailbox is named after its (normalised) address; a
     * Name given names it in the messages about that address. */
    if ((*name && (status = cmdlet_param_set(ctx, k, mb, "Name", name)) != CMDLET_OK) ||
        (status = cmdlet_param_set(ctx, k, mb, "PrimarySmtpAddress", address)) != CMDLET_OK ||
        (!*name &&
         (status = cmdlet_param_set(ctx, k, mb, "Name", mb->primary_smtp_address)) != CMDLET_OK) ||
        (status = cmdlet_params_apply(ctx, k, mb, a, true)) != CMDLET_OK ||
        (status = cmdlet_txn_commit(ctx, &t)) != CMDLET_OK)
        goto out;
    cmdlet_print_created(ctx, k, mb);
out:
    explicit_bzero(hash, sizeof(hash));
    cmdlet_txn_end(&t);
    return status;
}

struct new_hash {
    bool given;
    char hash[PASSWORD_HASH_SIZE];
};

static int
set_hash(struct cmdlet_ctx *ctx, struct config *cfg, size_t index, void *data)
{
    struct new_hash *h = data;

    if (h->given) {
        free(cfg->mailboxes[index].password_hash);
        cfg->mailboxes[index].password_hash = xstrdup(h->hash);
    }
    return CMDLET_OK;
}

int
cmdlet_set_mailbox(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    struct cmdlet_arg *pw = cmdlet_args_take(a, "Password", NULL);
    const char *id;
    struct new_hash h;
    int status;

    /* Unknown parameters are refused before a password is read; the
     * password is read and hashed before the instance is locked. */
    if ((status = cmdlet_set_prepare(ctx, a, CONFIG_MAILBOX, &id)) != CMDLET_OK ||
        (status = password_from_arg(ctx, pw, h.hash, sizeof(h.hash), &h.given)) != CMDLET_OK)
        return status;
    status = cmdlet_set_apply(ctx, a, CONFIG_MAILBOX, id, set_hash, &h);
    explicit_bzero(h.hash, sizeof(h.hash));
    return status;
}

int
cmdlet_get_mailbox(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    return cmdlet_get_objects(ctx, a, CONFIG_MAILBOX);
}

int
cmdlet_remove_mailbox(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    return cmdlet_remove_object(ctx, a, CONFIG_MAILBOX, NULL, NULL);
}
