/*
 * cmdlet_object.c — the machinery the configuration cmdlets share: change
 * transactions, table-driven parameter arguments, Format-List output, the
 * generic Get-/Set-/Remove-, and New-'s name, -Usage preset choice and
 * creation of a named object (see cmdlet_object.h).
 *
 * Must never: save a config that config_validate refused, or hold the
 * instance lock while talking to the running service.
 */
#include "admin/cmdlet_object.h"
#include "admin/control.h"
#include "config/config_warnings.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define MSG_MAX 1024

static char *
conf_path(const struct cmdlet_ctx *ctx)
{
    return xasprintf("%s/postern.conf", ctx->instance_dir);
}

static struct config *
load(struct cmdlet_ctx *ctx, const char *path)
{
    char msg[MSG_MAX];
    struct config *cfg = config_load(path, msg, sizeof(msg));

    if (cfg == NULL) {
        if (access(path, F_OK) < 0 && errno == ENOENT)
            cmdlet_error(ctx, "%s (no instance here: run \"postern -D %s setup\" first)", msg,
                         ctx->instance_dir);
        else
            cmdlet_error(ctx, "%s", msg);
    }
    return cfg;
}

struct config *
cmdlet_config_read(struct cmdlet_ctx *ctx)
{
    char *path = conf_path(ctx);
    /* No lock: postern.conf is only ever replaced by rename, so a reader
     * sees the old file or the new one, never a mix. */
    struct config *cfg = load(ctx, path);

    free(path);
    return cfg;
}

int
cmdlet_txn_begin(struct cmdlet_ctx *ctx, struct cmdlet_txn *t)
{
    struct config *cur;

    t->cfg = t->before = NULL;
    t->path = conf_path(ctx);
    t->dirfd = open(ctx->instance_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (t->dirfd < 0) {
        cmdlet_error(ctx, "%s: %s", ctx->instance_dir, strerror(errno));
        return CMDLET_ERROR;
    }
    /* Two cmdlets at once would each save their own copy and one change
     * would be lost; the lock on the directory orders them. */
    while (flock(t->dirfd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            cmdlet_error(ctx, "%s: lock: %s", ctx->instance_dir, strerror(errno));
            return CMDLET_ERROR;
        }
    }
    if ((cur = load(ctx, t->path)) == NULL)
        return CMDLET_ERROR;
    t->cfg = config_clone(cur);
    t->before = cur;
    return CMDLET_OK;
}

void
cmdlet_txn_end(struct cmdlet_txn *t)
{
    if (t->dirfd >= 0)
        close(t->dirfd);
    t->dirfd = -1;
    config_unref(t->cfg);
    t->cfg = NULL;
    config_unref(t->before);
    t->before = NULL;
    free(t->path);
    t->path = NULL;
}

static void
warn_saved(void *arg, const char *text)
{
    cmdlet_warning(arg, "%s", text);
}

/* -WhatIf: one object's properties that differ, "Kind "Name": Param:
 * old -> new"; a secret only as "(changed)". */
static size_t
whatif_object(struct cmdlet_ctx *ctx, const struct config_kind_info *k, const void *before,
              const void *after)
{
    char label[256];
    size_t lines = 0;

    config_object_label(k, after, label, sizeof(label));
    for (size_t i = 0; i < k->nparams; i++) {
        const struct config_param *p = &k->params[i];
        char *old = config_param_format(p, before, CONFIG_FORMAT_FILE);
        char *new = config_param_format(p, after, CONFIG_FORMAT_FILE);
        if (strcmp(old, new) != 0) {
            lines++;
            if (p->flags & CPF_SECRET) {
                fprintf(ctx->out, "What if: %s: %s: (changed)\n", label, p->name);
            } else {
                char *o = config_param_format(p, before, CONFIG_FORMAT_DISPLAY);
                char *n = config_param_format(p, after, CONFIG_FORMAT_DISPLAY);
                fprintf(ctx->out, "What if: %s: %s: %s -> %s\n", label, p->name, *o ? o : "$null",
                        *n ? n : "$null");
                free(o);
                free(n);
            }
        }
        str_free_wiped(old);
        str_free_wiped(new);
    }
    return lines;
}

/* Does kind k of cfg hold an object named name? Its index in *at. */
static bool
has_named(const struct config *cfg, enum config_kind kind, const char *name, size_t *at)
{
    return name != NULL && config_object_find(cfg, kind, name, at);
}

/* -WhatIf: everything the change would do, object by object. Objects are
 * matched by position when their number did not change (so a rename is
 * a change of Name), by name otherwise (New- appends, Remove- takes one
 * out). */
static void
whatif_report(struct cmdlet_ctx *ctx, const struct config *before, const struct config *after)
{
    size_t lines = 0;

    for (enum config_kind kind = 0; kind < CONFIG_NKINDS; kind++) {
        const struct config_kind_info *k = config_kind(kind);
        size_t nb, na, at;
        char label[256];

        if (k->singleton) {
            lines += whatif_object(ctx, k, config_object_at(before, kind, 0),
                                   config_object_at(after, kind, 0));
            continue;
        }
        (void)config_objects(before, kind, &nb);
        (void)config_objects(after, kind, &na);
        for (size_t i = 0; i < na; i++) {
            const void *a = config_object_at(after, kind, i);
            if (na == nb) {
                lines += whatif_object(ctx, k, config_object_at(before, kind, i), a);
            } else if (has_named(before, kind, config_object_name(k, a), &at)) {
                lines += whatif_object(ctx, k, config_object_at(before, kind, at), a);
            } else {
                config_object_label(k, a, label, sizeof(label));
                fprintf(ctx->out, "What if: creating %s\n", label);
                lines++;
            }
        }
        for (size_t i = 0; i < nb && na != nb; i++) {
            const void *b = config_object_at(before, kind, i);
            if (!has_named(after, kind, config_object_name(k, b), &at)) {
                config_object_label(k, b, label, sizeof(label));
                fprintf(ctx->out, "What if: removing %s\n", label);
                lines++;
            }
        }
    }
    if (lines == 0)
        fprintf(ctx->out, "What if: nothing would change\n");
    fprintf(ctx->out, "(-WhatIf: postern.conf was not changed)\n");
}

int
cmdlet_txn_commit(struct cmdlet_ctx *ctx, struct cmdlet_txn *t)
{
    char msg[MSG_MAX];

    if (config_validate(t->cfg, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_ERROR;
    }
    if (ctx->whatif) {
        whatif_report(ctx, t->before, t->cfg);
        return CMDLET_OK;
    }
    if (config_save(t->cfg, t->path, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_ERROR;
    }
    close(t->dirfd);
    t->dirfd = -1;
    config_warnings(t->cfg, warn_saved, ctx);
    /* Saved is what counts: a service that is not running reads the file
     * when it starts; one that refuses keeps its old config, and says why. */
    msg[0] = '\0';
    if (control_request_reload(ctx->instance_dir, msg, sizeof(msg)) < 0)
        cmdlet_warning(ctx,
                       "the configuration is saved, but the running service did not "
                       "apply it: %s",
                       msg);
    return CMDLET_OK;
}

static void
label_of(const struct config_kind_info *k, const void *obj, char *buf, size_t len)
{
    config_object_label(k, obj, buf, len);
}

int
cmdlet_txn_find(struct cmdlet_ctx *ctx, struct cmdlet_txn *t, enum config_kind kind,
                const char *identity, size_t *index)
{
    if (config_object_find(t->cfg, kind, identity, index))
        return CMDLET_OK;
    cmdlet_error(ctx, "%s \"%s\": Identity: not found", config_kind(kind)->name, identity);
    return CMDLET_ERROR;
}

/* May a cmdlet set p? Set- cannot set CPF_NEW_ONLY parameters; nobody sets
 * file-only ones or those with a cmdlet switch of their own. */
static bool
settable(const struct config_param *p, bool creating)
{
    if (p->flags & (CPF_FILE_ONLY | CPF_NO_SET))
        return false;
    return creating || !(p->flags & CPF_NEW_ONLY);
}

int
cmdlet_params_check(struct cmdlet_ctx *ctx, const struct config_kind_info *k, struct cmdlet_args *a,
                    bool creating)
{
    const struct config_param *seen[64] = {0};
    size_t nseen = 0;

    for (size_t i = 0; i < a->n; i++) {
        const struct cmdlet_arg *arg = &a->v[i];
        const struct config_param *p;
        if (arg->used)
            continue;
        if (arg->name == NULL) {
            cmdlet_error(ctx, "'%s': unexpected argument", arg->value);
            return CMDLET_USAGE;
        }
        p = config_param_find(k, arg->name);
        if (p == NULL || !settable(p, creating)) {
            cmdlet_error(ctx, "%s: unknown parameter", arg->name);
            return CMDLET_USAGE;
        }
        if (arg->value == NULL && p->type != CPT_BOOL) {
            cmdlet_error(ctx, "%s: a value is required", p->name);
            return CMDLET_USAGE;
        }
        /* -AuthMechanism and its alias -AuthenticationMechanism together. */
        for (size_t j = 0; j < nseen; j++) {
            if (seen[j] == p) {
                cmdlet_error(ctx, "%s: parameter given twice", p->name);
                return CMDLET_USAGE;
            }
        }
        if (nseen < sizeof(seen) / sizeof(seen[0]))
            seen[nseen++] = p;
    }
    return CMDLET_OK;
}

int
cmdlet_param_set(struct cmdlet_ctx *ctx, const struct config_kind_info *k, void *obj,
                 const char *param, const char *text)
{
    const struct config_param *p = config_param_find(k, param);
    char reason[MSG_MAX], label[160];

    if (p == NULL) {
        cmdlet_error(ctx, "%s: unknown parameter", param);
        return CMDLET_USAGE;
    }
    /* A bare boolean switch (-Enabled) means $true. */
    if (text == NULL)
        text = "True";
    if (config_param_parse(p, obj, text, CONFIG_PARSE_CMDLET, reason, sizeof(reason)) < 0) {
        label_of(k, obj, label, sizeof(label));
        cmdlet_error(ctx, "%s: %s: %s", label, p->name, reason);
        return CMDLET_ERROR;
    }
    return CMDLET_OK;
}

int
cmdlet_params_apply(struct cmdlet_ctx *ctx, const struct config_kind_info *k, void *obj,
                    struct cmdlet_args *a, bool creating)
{
    int rc = cmdlet_params_check(ctx, k, a, creating);

    for (size_t i = 0; i < a->n && rc == CMDLET_OK; i++) {
        struct cmdlet_arg *arg = &a->v[i];
        if (arg->used)
            continue;
        arg->used = true;
        rc = cmdlet_param_set(ctx, k, obj, arg->name, arg->value);
    }
    return rc;
}

void
cmdlet_print_object(FILE *out, const struct config_kind_info *k, const void *obj)
{
    cmdlet_print_object_extra(out, k, obj, NULL, NULL, 0);
}

void
cmdlet_print_object_extra(FILE *out, const struct config_kind_info *k, const void *obj,
                          const char *const *names, const char *const *values, size_t n)
{
    const char *name = config_object_name(k, obj);
    int width = k->singleton ? 0 : (int)strlen("Identity");

    for (size_t i = 0; i < k->nparams; i++)
        if (!(k->params[i].flags & CPF_SECRET) && (int)strlen(k->params[i].name) > width)
            width = (int)strlen(k->params[i].name);
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(names[i]) > width)
            width = (int)strlen(names[i]);
    if (!k->singleton)
        fprintf(out, "%-*s : %s\n", width, "Identity", name ? name : "");
    for (size_t i = 0; i < k->nparams; i++) {
        const struct config_param *p = &k->params[i];
        char *text;
        if (p->flags & CPF_SECRET)
            continue;
        text = config_param_format(p, obj, CONFIG_FORMAT_DISPLAY);
        if (*text != '\0')
            fprintf(out, "%-*s : %s\n", width, p->name, text);
        else
            fprintf(out, "%-*s :\n", width, p->name);
        free(text);
    }
    for (size_t i = 0; i < n; i++) {
        if (values[i] != NULL && *values[i] != '\0')
            fprintf(out, "%-*s : %s\n", width, names[i], values[i]);
        else
            fprintf(out, "%-*s :\n", width, names[i]);
    }
}

void
cmdlet_print_created(struct cmdlet_ctx *ctx, const struct config_kind_info *k, const void *obj)
{
    if (!ctx->whatif)
        cmdlet_print_object(ctx->out, k, obj);
}

/* The Identity a Set-/Remove- needs; prints the usage error. */
static int
identity_required(struct cmdlet_ctx *ctx, struct cmdlet_args *a, const char **id)
{
    char msg[MSG_MAX];
    int rc = cmdlet_args_identity(a, id, msg, sizeof(msg));

    if (rc < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    if (rc == 0) {
        cmdlet_error(ctx, "Identity: a value is required");
        return CMDLET_USAGE;
    }
    return CMDLET_OK;
}

int
cmdlet_get_objects(struct cmdlet_ctx *ctx, struct cmdlet_args *a, enum config_kind kind)
{
    const struct config_kind_info *k = config_kind(kind);
    const char *id = NULL;
    char msg[MSG_MAX];
    struct config *cfg;
    size_t n, index;
    const char *objs;

    if (cmdlet_args_identity(a, &id, msg, sizeof(msg)) < 0 ||
        cmdlet_args_check_unused(a, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    if ((cfg = cmdlet_config_read(ctx)) == NULL)
        return CMDLET_ERROR;
    objs = config_objects(cfg, kind, &n);
    if (id != NULL) {
        if (!config_object_find(cfg, kind, id, &index)) {
            cmdlet_error(ctx, "%s \"%s\": Identity: not found", k->name, id);
            config_unref(cfg);
            return CMDLET_ERROR;
        }
        cmdlet_print_object(ctx->out, k, objs + index * k->size);
    } else {
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                fputc('\n', ctx->out);
            cmdlet_print_object(ctx->out, k, objs + i * k->size);
        }
    }
    config_unref(cfg);
    return CMDLET_OK;
}

int
cmdlet_set_prepare(struct cmdlet_ctx *ctx, struct cmdlet_args *a, enum config_kind kind,
                   const char **identity)
{
    int rc = identity_required(ctx, a, identity);

    if (rc != CMDLET_OK)
        return rc;
    return cmdlet_params_check(ctx, config_kind(kind), a, false);
}

int
cmdlet_set_apply(struct cmdlet_ctx *ctx, struct cmdlet_args *a, enum config_kind kind,
                 const char *identity, cmdlet_object_hook *hook, void *data)
{
    const struct config_kind_info *k = config_kind(kind);
    struct cmdlet_txn t;
    size_t index;
    int rc;

    if ((rc = cmdlet_txn_begin(ctx, &t)) == CMDLET_OK &&
        (rc = cmdlet_txn_find(ctx, &t, kind, identity, &index)) == CMDLET_OK &&
        (hook == NULL || (rc = hook(ctx, t.cfg, index, data)) == CMDLET_OK) &&
        (rc = cmdlet_params_apply(ctx, k, config_object_at(t.cfg, kind, index), a, false)) ==
            CMDLET_OK)
        rc = cmdlet_txn_commit(ctx, &t);
    cmdlet_txn_end(&t);
    return rc;
}

int
cmdlet_set_object(struct cmdlet_ctx *ctx, struct cmdlet_args *a, enum config_kind kind,
                  cmdlet_object_hook *hook, void *data)
{
    const char *id;
    int rc = cmdlet_set_prepare(ctx, a, kind, &id);

    return rc != CMDLET_OK ? rc : cmdlet_set_apply(ctx, a, kind, id, hook, data);
}

int
cmdlet_remove_object(struct cmdlet_ctx *ctx, struct cmdlet_args *a, enum config_kind kind,
                     cmdlet_object_hook *hook, void *data)
{
    struct cmdlet_txn t;
    char msg[MSG_MAX];
    const char *id;
    size_t index;
    int rc;

    if ((rc = identity_required(ctx, a, &id)) != CMDLET_OK)
        return rc;
    if (cmdlet_args_check_unused(a, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    if ((rc = cmdlet_txn_begin(ctx, &t)) == CMDLET_OK &&
        (rc = cmdlet_txn_find(ctx, &t, kind, id, &index)) == CMDLET_OK &&
        (hook == NULL || (rc = hook(ctx, t.cfg, index, data)) == CMDLET_OK)) {
        config_object_remove(t.cfg, kind, index);
        rc = cmdlet_txn_commit(ctx, &t);
    }
    cmdlet_txn_end(&t);
    return rc;
}

int
cmdlet_new_object(struct cmdlet_ctx *ctx, struct cmdlet_args *a, enum config_kind kind,
                  const char *what, const char *name, cmdlet_object_hook *hook, void *data)
{
    const struct config_kind_info *k = config_kind(kind);
    struct cmdlet_txn t;
    size_t index, n;
    void *obj;
    int rc;

    if ((rc = cmdlet_txn_begin(ctx, &t)) != CMDLET_OK)
        goto out;
    if (config_object_find(t.cfg, kind, name, &index)) {
        cmdlet_error(ctx, "%s \"%s\": Name: a %s of that name already exists", k->name, name, what);
        rc = CMDLET_ERROR;
        goto out;
    }
    obj = config_object_append(t.cfg, kind);
    (void)config_objects(t.cfg, kind, &n);
    index = n - 1;
    if ((rc = cmdlet_param_set(ctx, k, obj, "Name", name)) == CMDLET_OK &&
        (hook == NULL || (rc = hook(ctx, t.cfg, index, data)) == CMDLET_OK) &&
        (rc = cmdlet_params_apply(ctx, k, obj, a, true)) == CMDLET_OK &&
        (rc = cmdlet_txn_commit(ctx, &t)) == CMDLET_OK)
        cmdlet_print_created(ctx, k, obj);
out:
    cmdlet_txn_end(&t);
    return rc;
}

int
cmdlet_new_name(struct cmdlet_ctx *ctx, struct cmdlet_args *a, const char *fallback,
                const char **name)
{
    char msg[MSG_MAX];
    int rc = cmdlet_args_string(a, "Name", name, msg, sizeof(msg));

    if (rc < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    if (rc == 0 && (*name = cmdlet_args_positional(a)) == NULL && (*name = fallback) == NULL) {
        cmdlet_error(ctx, "Name: a value is required");
        return CMDLET_USAGE;
    }
    return CMDLET_OK;
}

int
cmdlet_new_usage(struct cmdlet_ctx *ctx, struct cmdlet_args *a, enum config_kind kind,
                 const char *name, const char *const *usages, size_t *index)
{
    const struct config_kind_info *k = config_kind(kind);
    const struct config_param *p = config_param_find(k, "Usage");
    const char *text;
    char msg[MSG_MAX];
    size_t given = 0;
    bool on;
    int rc;

    *index = 0;
    if ((rc = cmdlet_args_string(a, "Usage", &text, msg, sizeof(msg))) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    if (rc == 1) {
        /* Parsed as the parameter table parses it (spellings, messages),
         * into a scratch object; the value's name is its switch's. */
        void *tmp = xcalloc(1, k->size);
        const char *usage = "";
        int value;

        if (config_param_parse(p, tmp, text, 0, msg, sizeof(msg)) < 0) {
            free(tmp);
            cmdlet_error(ctx, "%s \"%s\": Usage: %s", k->name, name, msg);
            return CMDLET_ERROR;
        }
        memcpy(&value, (const char *)tmp + p->offset, sizeof(value)); /* a CPT_ENUM is an int */
        free(tmp);
        for (const struct config_enum_name *e = p->names; e->name != NULL; e++)
            if (e->value == (unsigned)value)
                usage = e->name;
        for (size_t i = 0; usages[i] != NULL; i++)
            if (str_ieq(usages[i], usage))
                *index = i;
        given++;
    }
    for (size_t i = 0; usages[i] != NULL; i++) {
        if ((rc = cmdlet_args_bool(a, usages[i], &on, msg, sizeof(msg))) < 0) {
            cmdlet_error(ctx, "%s", msg);
            return CMDLET_USAGE;
        }
        if (rc == 1 && on) {
            if (given > 0 && *index != i) {
                size_t used = (size_t)snprintf(msg, sizeof(msg), "give one of -Usage");
                for (size_t j = 0; usages[j] != NULL && used < sizeof(msg); j++)
                    used += (size_t)snprintf(msg + used, sizeof(msg) - used, ", -%s", usages[j]);
                cmdlet_error(ctx, "Usage: %s", msg);
                return CMDLET_USAGE;
            }
            *index = i;
            given++;
        }
    }
    return CMDLET_OK;
}
