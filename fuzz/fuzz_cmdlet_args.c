/*
 * fuzz_cmdlet_args.c — libFuzzer target for the cmdlet language: a
 * command line as the shell hands it over (argv words, separated by NUL
 * in the input; the first is the cmdlet), read by the command language
 * (admin/ps_parse.c, ps_parse_argv) and bound (ps_run.c, ps_bind) with that
 * cmdlet's switches, read back through every accessor, and for
 * the New-/Set- configuration cmdlets applied to a fresh object through
 * the parameter tables (-Param value, -Param:value, -Switch, $true,
 * "a,b", @{Add=...;Remove=...}) exactly as cmdlet_object.c does before
 * it would save.
 *
 * Besides memory errors and leaks it checks that a refusal says why and
 * that once every argument has been taken none is reported as unused.
 * Must never: touch an instance directory (no transaction is started;
 * messages go to /dev/null).
 */
#include "admin/cmdlet.h"
#include "admin/cmdlet_args.h"
#include "admin/cmdlet_object.h"
#include "admin/ps_parse.h"
#include "admin/ps_run.h"
#include "config/config_param.h"
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 48

/* Switches when the first word names no cmdlet: every switch some cmdlet
 * has, so that the parser's switch handling is reached anyway. */
static const char *const any_switches[] = {"Custom",
                                           "Internet",
                                           "Internal",
                                           "Client",
                                           "Partner",
                                           "MakeDefault",
                                           "IncludeRecipientInfo",
                                           "GenerateRequest",
                                           "Force",
                                           NULL};

static FILE *
devnull(void)
{
    static FILE *f;

    if (f == NULL && (f = fopen("/dev/null", "w")) == NULL)
        abort();
    return f;
}

/* Reads every argument back through the accessors, then expects none to
 * be left unused. */
static void
read_all(struct cmdlet_args *a)
{
    char err[512];
    const char *s;
    bool b;
    char **items;
    size_t n;

    err[0] = '\0';
    if (cmdlet_args_identity(a, &s, err, sizeof(err)) < 0)
        FUZZ_CHECK(err[0] != '\0');
    for (size_t i = 0; i < a->n; i++) {
        char *name = a->v[i].name;
        int rc;
        if (name == NULL || a->v[i].used)
            continue;
        err[0] = '\0';
        switch (i % 3) {
        case 0:
            rc = cmdlet_args_string(a, name, &s, err, sizeof(err));
            break;
        case 1:
            rc = cmdlet_args_bool(a, name, &b, err, sizeof(err));
            break;
        default:
            rc = cmdlet_args_list(a, name, &items, &n, err, sizeof(err));
            if (rc == 1) {
                FUZZ_CHECK(n > 0);
                for (size_t j = 0; j < n; j++)
                    FUZZ_CHECK(items[j] != NULL);
            }
            cmdlet_list_free(items, n);
            break;
        }
        FUZZ_CHECK(rc != 0); /* it was given */
        if (rc < 0)
            FUZZ_CHECK(err[0] != '\0');
    }
    while ((s = cmdlet_args_positional(a)) != NULL)
        (void)cmdlet_identity_strip(s);
    FUZZ_CHECK(cmdlet_args_unused(a) == NULL && cmdlet_args_check_unused(a, err, sizeof(err)) == 0);
}

/* New-<Kind> / Set-<Kind>: the steps of cmdlet_object.c up to the save. */
static void
apply(const struct cmdlet *c, struct cmdlet_args *a)
{
    const char *dash = strchr(c->name, '-'), *name = NULL, *id = NULL;
    const struct config_kind_info *k = config_kind_by_name(dash + 1);
    struct cmdlet_ctx ctx = {"/nonexistent", c->name, NULL, devnull(), devnull(), false};
    bool creating = strncmp(c->name, "New-", 4) == 0;
    size_t preset;
    void *obj;
    int rc;

    if (k == NULL || !(creating || strncmp(c->name, "Set-", 4) == 0))
        return;
    if (creating) {
        if (cmdlet_new_name(&ctx, a, NULL, &name) != CMDLET_OK)
            return;
        if (c->switches != NULL &&
            cmdlet_new_usage(&ctx, a, k->kind, name, c->switches, &preset) != CMDLET_OK)
            return;
    } else if (!k->singleton && cmdlet_set_prepare(&ctx, a, k->kind, &id) != CMDLET_OK) {
        return;
    }
    obj = calloc(1, k->size);
    if (obj == NULL)
        abort();
    config_object_init(k, obj);
    rc = CMDLET_OK;
    if (name != NULL && !k->singleton)
        rc = cmdlet_param_set(&ctx, k, obj, config_param_name(k)->name, name);
    if (rc == CMDLET_OK)
        rc = cmdlet_params_apply(&ctx, k, obj, a, creating);
    FUZZ_CHECK(rc == CMDLET_OK || rc == CMDLET_ERROR || rc == CMDLET_USAGE);
    if (rc == CMDLET_OK)
        cmdlet_print_object(devnull(), k, obj);
    config_object_free(k, obj);
    free(obj);
}

/* The words read and bound as the command line would be (the first
 * statement's first command; its name is the first word). */
static int
bind_words(const char *const *switches, int argc, char **argv, struct cmdlet_args *a, char *err,
           size_t errlen)
{
    struct cmdlet c = {"Fuzz-Args", NULL, switches, false};
    struct ps_script s;
    int rc;

    memset(a, 0, sizeof(*a));
    if (ps_parse_argv(argc, argv, &s, err, errlen) < 0)
        return -1;
    if (s.npipes == 0) {
        snprintf(err, errlen, "no command");
        rc = -1;
    } else {
        rc = ps_bind(&c, &s.pipes[0].cmds[0], a, err, errlen);
    }
    ps_script_free(&s);
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size), *words[MAX_WORDS], err[512];
    size_t lens[MAX_WORDS];
    size_t n = fuzz_split(s, size, '\0', words, lens, MAX_WORDS);
    const struct cmdlet *c = cmdlet_find(words[0]);
    const char *const *switches = c != NULL ? c->switches : any_switches;
    struct cmdlet_args a;

    /* a word ends at its first NUL, as an argv word would */
    err[0] = '\0';
    if (bind_words(switches, (int)n, words, &a, err, sizeof(err)) < 0) {
        FUZZ_CHECK(err[0] != '\0');
    } else {
        read_all(&a);
    }
    cmdlet_args_free(&a);

    if (c != NULL && bind_words(switches, (int)n, words, &a, err, sizeof(err)) == 0)
        apply(c, &a);
    cmdlet_args_free(&a);
    free(s);
    return 0;
}
