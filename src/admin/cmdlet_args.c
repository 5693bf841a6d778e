/*
 * cmdlet_args.c — parsing and reading a cmdlet's arguments (see
 * cmdlet_args.h).
 *
 * Must never: guess at a parameter from a prefix (Exchange scripts spell
 * names out, and a guess could change the wrong setting), or print.
 */
#include "admin/cmdlet_args.h"
#include "config/config_param.h"
#include "lib/util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *
value_dup(const char *s)
{
    size_t n = strlen(s);

    if (n >= 2 && (s[0] == '\'' || s[0] == '"') && s[n - 1] == s[0])
        return xstrndup(s + 1, n - 2);
    return xstrdup(s);
}

int
cmdlet_args_add(struct cmdlet_args *a, const char *name, char *value, char *err, size_t errlen)
{
    if (name != NULL) {
        for (const char *c = name; *c; c++) {
            if (!isalnum((unsigned char)*c)) {
                snprintf(err, errlen, "'-%s': not a parameter name", name);
                str_free_wiped(value);
                return -1;
            }
        }
        for (size_t j = 0; j < a->n; j++) {
            if (a->v[j].name != NULL && str_ieq(a->v[j].name, name)) {
                snprintf(err, errlen, "%s: parameter given twice", name);
                str_free_wiped(value);
                return -1;
            }
        }
    }
    a->v = xrealloc(a->v, (a->n + 1) * sizeof(*a->v));
    a->v[a->n].name = name ? xstrdup(name) : NULL;
    a->v[a->n].value = value;
    a->v[a->n].used = false;
    a->n++;
    return 0;
}

void
cmdlet_args_free(struct cmdlet_args *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->v[i].name);
        str_free_wiped(a->v[i].value); /* may be a password */
    }
    free(a->v);
    a->v = NULL;
    a->n = 0;
}

struct cmdlet_arg *
cmdlet_args_take(struct cmdlet_args *a, const char *name, const char *alias)
{
    for (size_t i = 0; i < a->n; i++) {
        struct cmdlet_arg *arg = &a->v[i];
        if (arg->name != NULL &&
            (str_ieq(arg->name, name) || (alias != NULL && str_ieq(arg->name, alias)))) {
            arg->used = true;
            return arg;
        }
    }
    return NULL;
}

const char *
cmdlet_args_positional(struct cmdlet_args *a)
{
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i].name == NULL && !a->v[i].used) {
            a->v[i].used = true;
            return a->v[i].value;
        }
    }
    return NULL;
}

const char *
cmdlet_identity_strip(const char *identity)
{
    const char *bs = strchr(identity, '\\');

    return bs != NULL ? bs + 1 : identity;
}

int
cmdlet_args_string(struct cmdlet_args *a, const char *name, const char **out, char *err,
                   size_t errlen)
{
    struct cmdlet_arg *arg = cmdlet_args_take(a, name, NULL);

    if (arg == NULL)
        return 0;
    if (arg->value == NULL) {
        snprintf(err, errlen, "%s: a value is required", name);
        return -1;
    }
    *out = arg->value;
    return 1;
}

int
cmdlet_args_identity(struct cmdlet_args *a, const char **out, char *err, size_t errlen)
{
    const char *id = NULL;
    int rc = cmdlet_args_string(a, "Identity", &id, err, errlen);

    if (rc < 0)
        return -1;
    if (rc == 0 && (id = cmdlet_args_positional(a)) == NULL)
        return 0;
    *out = cmdlet_identity_strip(id);
    return 1;
}

int
cmdlet_args_bool(struct cmdlet_args *a, const char *name, bool *out, char *err, size_t errlen)
{
    struct cmdlet_arg *arg = cmdlet_args_take(a, name, NULL);

    if (arg == NULL)
        return 0;
    if (arg->value == NULL) {
        *out = true;
        return 1;
    }
    if (!config_parse_bool(arg->value, out)) {
        snprintf(err, errlen, "%s: '%s' is not $true or $false", name, arg->value);
        return -1;
    }
    return 1;
}

int
cmdlet_args_list(struct cmdlet_args *a, const char *name, char ***items, size_t *n, char *err,
                 size_t errlen)
{
    const char *v;
    int rc = cmdlet_args_string(a, name, &v, err, errlen);

    *items = NULL;
    *n = 0;
    if (rc <= 0)
        return rc;
    for (;;) {
        size_t len = strcspn(v, ",");
        char *item = xstrndup(v, len);
        *items = xrealloc(*items, (*n + 1) * sizeof(char *));
        (*items)[(*n)++] = value_dup(str_trim(item));
        free(item);
        if (v[len] == '\0')
            break;
        v += len + 1;
    }
    return 1;
}

void
cmdlet_list_free(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

const struct cmdlet_arg *
cmdlet_args_unused(const struct cmdlet_args *a)
{
    for (size_t i = 0; i < a->n; i++)
        if (!a->v[i].used)
            return &a->v[i];
    return NULL;
}

int
cmdlet_args_check_unused(const struct cmdlet_args *a, char *err, size_t errlen)
{
    const struct cmdlet_arg *arg = cmdlet_args_unused(a);

    if (arg == NULL)
        return 0;
    if (arg->name != NULL)
        snprintf(err, errlen, "%s: unknown parameter", arg->name);
    else
        snprintf(err, errlen, "'%s': unexpected argument", arg->value);
    return -1;
}
