/*
 * ps_run.c — running statements and pipelines (see ps_run.h): binding a
 * command's elements to a cmdlet's arguments, passing objects from one
 * command to the next as records, and the pipeline commands themselves.
 *
 * Must never: pass a value it could not evaluate ($_ outside Where-Object,
 * an unknown (Command)) on as text, or let a cmdlet fed by a pipeline take
 * an Identity other than the object's.
 */
#include "admin/ps_run.h"
#include "admin/cmdlet.h"
#include "admin/cmdlet_help.h"
#include "admin/ps_filter.h"
#include "admin/ps_record.h"
#include "admin/shell.h"
#include "lib/log.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ERR_MAX 512

/* ---- binding a cmdlet's arguments ---- */

/* Parameters every cmdlet takes as switches. */
static const char *const common_switches[] = {"Confirm", "WhatIf", NULL};

static bool
in_list(const char *const *list, const char *name)
{
    for (; list != NULL && *list != NULL; list++)
        if (str_ieq(*list, name))
            return true;
    return false;
}

/* A value as argument text; (Get-Credential) asks on the terminal. NULL
 * with err set when it cannot be evaluated. */
static char *
arg_text(const struct ps_value *v, char *err, size_t errlen)
{
    if (v->kind == PSV_SUBEXPR) {
        if (!str_ieq(v->text, "Get-Credential")) {
            snprintf(err, errlen, "(%s): only (Get-Credential) can give a value", v->text);
            return NULL;
        }
        return shell_read_credential(err, errlen);
    }
    if (v->kind == PSV_CURRENT) {
        snprintf(err, errlen, "$_ stands for an object only inside Where-Object");
        return NULL;
    }
    for (size_t i = 0; i < v->nitems; i++) {
        if (v->items[i]->kind == PSV_SUBEXPR || v->items[i]->kind == PSV_CURRENT) {
            snprintf(err, errlen, "(...) and $_ cannot be part of a list");
            return NULL;
        }
    }
    return ps_value_text(v);
}

/* -ErrorAction (alias -ea), a common parameter of every cmdlet: whether a
 * failure of this command ends the script. The binder leaves it out. */
static bool
is_error_action(const char *name)
{
    return name != NULL && (str_ieq(name, "ErrorAction") || str_ieq(name, "ea"));
}

/* Does the pipeline ask to go on after its failure (-ErrorAction Continue
 * or SilentlyContinue on one of its commands)? */
static bool
continues_on_error(const struct ps_pipeline *p)
{
    for (size_t c = 0; c < p->ncmds; c++) {
        const struct ps_command *cmd = &p->cmds[c];
        for (size_t i = 0; i < cmd->nelems; i++) {
            const struct ps_value *v = cmd->elems[i].value;
            if (!is_error_action(cmd->elems[i].name))
                continue;
            if (v == NULL && i + 1 < cmd->nelems && cmd->elems[i + 1].name == NULL)
                v = cmd->elems[i + 1].value;
            if (v != NULL && v->kind == PSV_STRING &&
                (str_ieq(v->text, "Continue") || str_ieq(v->text, "SilentlyContinue")))
                return true;
        }
    }
    return false;
}

bool
ps_is_switch(const struct cmdlet *c, const struct cmdlet_help *h, const char *name)
{
    if (in_list(c->switches, name) || in_list(common_switches, name))
        return true;
    for (const struct help_param *p = h ? h->params : NULL; p && p->name; p++)
        if (str_ieq(p->name, name))
            return (p->flags & HP_SWITCH) != 0;
    return false;
}

int
ps_bind(const struct cmdlet *c, const struct ps_command *cmd, struct cmdlet_args *a, char *err,
        size_t errlen)
{
    const struct cmdlet_help *h = cmdlet_help_find(c->name);

    memset(a, 0, sizeof(*a));
    for (size_t i = 0; i < cmd->nelems; i++) {
        const struct ps_element *e = &cmd->elems[i];
        const struct ps_value *v = e->value;
        const char *name = e->name;
        char *text = NULL;

        if (is_error_action(name)) { /* ps_run_script's business */
            if (v == NULL && i + 1 < cmd->nelems && cmd->elems[i + 1].name == NULL)
                i++;
            continue;
        }
        /* Exchange's aliases and unique prefixes, as PowerShell takes them */
        if (name != NULL && h != NULL && (name = cmdlet_help_resolve(h, name, err, errlen)) == NULL)
            return -1;
        /* -Name value: the next element is its value unless -Name is a
         * switch or the next is another parameter */
        if (name != NULL && v == NULL && !ps_is_switch(c, h, name) && i + 1 < cmd->nelems &&
            cmd->elems[i + 1].name == NULL)
            v = cmd->elems[++i].value;
        if (v != NULL && (text = arg_text(v, err, errlen)) == NULL)
            return -1;
        if (cmdlet_args_add(a, name, text, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* ---- the pipeline commands ---- */

enum builtin {
    B_NONE,
    B_FORMAT_LIST,
    B_FORMAT_TABLE,
    B_SELECT,
    B_WHERE,
    B_JSON,
    B_CSV,
};

static const struct {
    const char *name;
    enum builtin b;
} builtins[] = {
    {"Format-List", B_FORMAT_LIST}, {"fl", B_FORMAT_LIST},       {"Format-Table", B_FORMAT_TABLE},
    {"ft", B_FORMAT_TABLE},         {"Select-Object", B_SELECT}, {"select", B_SELECT},
    {"Where-Object", B_WHERE},      {"where", B_WHERE},          {"?", B_WHERE},
    {"ConvertTo-Json", B_JSON},     {"Export-Csv", B_CSV},
};

static enum builtin
builtin_of(const char *name, const char **canonical)
{
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
        if (str_ieq(builtins[i].name, name)) {
            /* the long name is listed just before its alias */
            size_t k = i;
            while (k > 0 && builtins[k - 1].b == builtins[i].b)
                k--;
            *canonical = builtins[k].name;
            return builtins[i].b;
        }
    }
    return B_NONE;
}

/* Does name (a parameter as typed) stand for full? Unique prefixes are
 * taken, as PowerShell does, among the few parameters of these commands. */
static bool
param_is(const char *name, const char *full, size_t min_prefix)
{
    size_t n = strlen(name);

    return n >= min_prefix && n <= strlen(full) && strncasecmp(name, full, n) == 0;
}

/* Property names from a value: a word or a list of words. */
static int
prop_names(const struct ps_value *v, char ***names, size_t *n, char *err, size_t errlen)
{
    const struct ps_value *const *items = &v;
    size_t count = 1;

    if (v->kind == PSV_ARRAY) {
        items = (const struct ps_value *const *)v->items;
        count = v->nitems;
    }
    for (size_t i = 0; i < count; i++) {
        if (items[i]->kind != PSV_STRING) {
            snprintf(err, errlen, "property names must be words ('*' for all)");
            return -1;
        }
        *names = xrealloc(*names, (*n + 1) * sizeof(**names));
        (*names)[(*n)++] = xstrdup(items[i]->text);
    }
    return 0;
}

static int
count_value(const struct ps_value *v, size_t *out, const char *param, char *err, size_t errlen)
{
    char *end;
    unsigned long long n;

    if (v == NULL || v->kind != PSV_STRING) {
        snprintf(err, errlen, "-%s takes a number", param);
        return -1;
    }
    errno = 0;
    n = strtoull(v->text, &end, 10);
    if (*end != '\0' || end == v->text || errno != 0 || v->text[0] == '-') {
        snprintf(err, errlen, "-%s: '%s' is not a number", param, v->text);
        return -1;
    }
    *out = (size_t)n;
    return 0;
}

struct builtin_args {
    char **props;
    size_t nprops;
    size_t first, last;
    char *path;
    struct ps_filter *filter;
};

static void
builtin_args_free(struct builtin_args *b)
{
    for (size_t i = 0; i < b->nprops; i++)
        free(b->props[i]);
    free(b->props);
    free(b->path);
    ps_filter_free(b->filter);
}

/* The value of a parameter element: attached (-Name:value) or the next
 * element; *i moves past what was used. */
static const struct ps_value *
param_value(const struct ps_command *cmd, size_t *i)
{
    const struct ps_element *e = &cmd->elems[*i];

    if (e->value != NULL)
        return e->value;
    if (*i + 1 < cmd->nelems && cmd->elems[*i + 1].name == NULL)
        return cmd->elems[++*i].value;
    return NULL;
}

/* Where-Object's arguments: a script block (-FilterScript), or the
 * simplified Prop -op value (-Property, -Value). */
static int
bind_where(const struct ps_command *cmd, struct builtin_args *b, char *err, size_t errlen)
{
    const char *prop = NULL, *op = NULL, *block = NULL;
    const struct ps_value *value = NULL;

    for (size_t i = 0; i < cmd->nelems; i++) {
        const struct ps_element *e = &cmd->elems[i];
        const struct ps_value *v;
        if (e->name == NULL) {
            v = e->value;
            if (v->kind == PSV_BLOCK && block == NULL && prop == NULL)
                block = v->text;
            else if (v->kind == PSV_STRING && prop == NULL && block == NULL)
                prop = v->text;
            else if (op != NULL && value == NULL)
                value = v;
            else {
                snprintf(err, errlen, "Where-Object: unexpected value");
                return -1;
            }
        } else if (param_is(e->name, "FilterScript", 1)) {
            if ((v = param_value(cmd, &i)) == NULL || v->kind != PSV_BLOCK) {
                snprintf(err, errlen, "Where-Object: -FilterScript takes a {script block}");
                return -1;
            }
            block = v->text;
        } else if (param_is(e->name, "Property", 1)) {
            if ((v = param_value(cmd, &i)) == NULL || v->kind != PSV_STRING) {
                snprintf(err, errlen, "Where-Object: -Property takes a property name");
                return -1;
            }
            prop = v->text;
        } else if (param_is(e->name, "Value", 1)) {
            if ((value = param_value(cmd, &i)) == NULL) {
                snprintf(err, errlen, "Where-Object: -Value needs a value");
                return -1;
            }
        } else if (op == NULL) {
            op = e->name;
            if (e->value != NULL)
                value = e->value;
        } else {
            snprintf(err, errlen,
                     "Where-Object: -%s: only one comparison is supported here; "
                     "use a {script block} with -and / -or",
                     e->name);
            return -1;
        }
    }
    if (block != NULL && (prop != NULL || op != NULL)) {
        snprintf(err, errlen,
                 "Where-Object: give a {script block} or Property -op value, not both");
        return -1;
    }
    if (block != NULL)
        b->filter = ps_filter_parse(block, err, errlen);
    else if (prop != NULL)
        b->filter = ps_filter_simple(prop, op, value, err, errlen);
    else
        snprintf(err, errlen,
                 "Where-Object: a condition is required, as in "
                 "Where-Object {$_.Enabled -eq $true}");
    return b->filter != NULL ? 0 : -1;
}

static int
bind_builtin(enum builtin kind, const char *name, const struct ps_command *cmd,
             struct builtin_args *b, char *err, size_t errlen)
{
    int rc = 0;

    memset(b, 0, sizeof(*b));
    if (kind == B_WHERE)
        return bind_where(cmd, b, err, errlen);
    for (size_t i = 0; i < cmd->nelems && rc == 0; i++) {
        const struct ps_element *e = &cmd->elems[i];
        const struct ps_value *v;
        if (e->name == NULL) {
            if (kind == B_CSV && b->path == NULL && e->value->kind == PSV_STRING)
                b->path = xstrdup(e->value->text);
            else if (kind != B_JSON && kind != B_CSV && b->nprops == 0)
                rc = prop_names(e->value, &b->props, &b->nprops, err, errlen);
            else {
                snprintf(err, errlen, "%s: unexpected value", name);
                rc = -1;
            }
        } else if (kind != B_JSON && kind != B_CSV && param_is(e->name, "Property", 1)) {
            rc = (v = param_value(cmd, &i)) == NULL
                     ? (snprintf(err, errlen, "%s: -Property needs names", name), -1)
                     : prop_names(v, &b->props, &b->nprops, err, errlen);
        } else if (kind == B_SELECT && param_is(e->name, "First", 1)) {
            rc = count_value(param_value(cmd, &i), &b->first, "First", err, errlen);
        } else if (kind == B_SELECT && param_is(e->name, "Last", 1)) {
            rc = count_value(param_value(cmd, &i), &b->last, "Last", err, errlen);
        } else if ((kind == B_FORMAT_TABLE &&
                    (param_is(e->name, "AutoSize", 1) || param_is(e->name, "Wrap", 1))) ||
                   (kind == B_CSV && param_is(e->name, "NoTypeInformation", 1))) {
            /* taken, with nothing to do: columns are always as wide as their
             * values, and no #TYPE line is written (PowerShell 7's default) */
        } else if (kind == B_JSON && param_is(e->name, "Depth", 1)) {
            size_t depth;
            rc = count_value(param_value(cmd, &i), &depth, "Depth", err, errlen);
        } else if (kind == B_CSV && param_is(e->name, "Path", 1)) {
            v = param_value(cmd, &i);
            if (v == NULL || v->kind != PSV_STRING) {
                snprintf(err, errlen, "%s: -Path takes a file name", name);
                rc = -1;
            } else {
                free(b->path);
                b->path = xstrdup(v->text);
            }
        } else {
            snprintf(err, errlen, "%s: -%s is not supported", name, e->name);
            rc = -1;
        }
    }
    if (rc == 0 && kind == B_CSV && b->path == NULL) {
        snprintf(err, errlen, "%s: -Path is required", name);
        rc = -1;
    }
    return rc;
}

/* ---- pipelines ---- */

struct stage_state {
    struct ps_records recs; /* the objects passed to the next command */
    bool shown;             /* a Format-/ConvertTo-/Export- command took them */
};

static bool
filter_keep(const struct ps_record *r, void *filter)
{
    return ps_filter_match(filter, r);
}

static int
run_builtin(enum builtin kind, const char *name, const struct ps_command *cmd,
            struct stage_state *st, const struct ps_io *io)
{
    struct builtin_args b;
    char err[ERR_MAX];
    int rc = 0;

    if (bind_builtin(kind, name, cmd, &b, err, sizeof(err)) < 0) {
        fprintf(io->err, "%s\n", err);
        builtin_args_free(&b);
        return CMDLET_USAGE;
    }
    switch (kind) {
    case B_FORMAT_LIST:
        ps_print_list(io->out, &st->recs, b.props, b.nprops);
        st->shown = true;
        break;
    case B_FORMAT_TABLE:
        ps_print_table(io->out, &st->recs, b.props, b.nprops);
        st->shown = true;
        break;
    case B_SELECT:
        ps_records_select(&st->recs, b.props, b.nprops, b.first, b.last);
        break;
    case B_WHERE:
        ps_records_filter(&st->recs, filter_keep, b.filter);
        break;
    case B_JSON:
        ps_print_json(io->out, &st->recs);
        st->shown = true;
        break;
    case B_CSV: {
        FILE *f = fopen(b.path, "w");
        if (f == NULL) {
            fprintf(io->err, "%s: %s: %s\n", name, b.path, strerror(errno));
            rc = CMDLET_ERROR;
            break;
        }
        ps_print_csv(f, &st->recs);
        if (fclose(f) != 0) {
            fprintf(io->err, "%s: %s: %s\n", name, b.path, strerror(errno));
            rc = CMDLET_ERROR;
        }
        st->shown = true;
        break;
    }
    case B_NONE:
        break;
    }
    builtin_args_free(&b);
    return rc;
}

/* A cmdlet fed many objects by a pipeline (Get-Message | Remove-Message on
 * thousands) shows how far it got on the terminal, a few times a second;
 * cmdlet.c erases the line before an error or a question, output to the
 * terminal is held until the object is done and written below it
 * (run_cmdlet_below_progress), and the line is erased when the stage ends. */
struct progress {
    FILE *tty; /* NULL: nothing to show */
    const char *name;
    size_t total;
    struct timespec last;
};

#define PROGRESS_MIN_OBJECTS 50

static struct progress
progress_begin(FILE *err, const char *name, size_t total)
{
    struct progress pg = {NULL, name, total, {0, 0}};

    if (total >= PROGRESS_MIN_OBJECTS && isatty(fileno(err)))
        pg.tty = err; /* last stays 0: the first step shows at once */
    return pg;
}

static void
progress_step(struct progress *pg, size_t done)
{
    struct timespec now;
    char text[160];

    if (pg->tty == NULL)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((now.tv_sec - pg->last.tv_sec) * 1000 + (now.tv_nsec - pg->last.tv_nsec) / 1000000 < 200)
        return;
    pg->last = now;
    snprintf(text, sizeof(text), "%s: %zu of %zu (%zu%%)", pg->name, done, pg->total,
             done * 100 / pg->total);
    cmdlet_progress_line(pg->tty, text);
}

static void
progress_end(struct progress *pg)
{
    if (pg->tty != NULL)
        cmdlet_progress_line(pg->tty, NULL);
}

/* "No queues.", "No receive connectors.", "No mailboxes.": the noun of a
 * Get- cmdlet in words, plural. */
static void
say_none_found(FILE *out, const char *noun)
{
    char words[128];
    size_t n = 0;

    for (size_t k = 0; noun[k] != '\0' && n + 2 < sizeof(words); k++) {
        if (k > 0 && isupper((unsigned char)noun[k]) && !isupper((unsigned char)noun[k - 1]))
            words[n++] = ' ';
        words[n++] = (char)tolower((unsigned char)noun[k]);
    }
    words[n] = '\0';
    if (n > 1 && words[n - 1] == 'y' && strchr("aeiou", words[n - 2]) == NULL)
        fprintf(out, "No %.*sies.\n", (int)(n - 1), words); /* policy: policies */
    else
        fprintf(out, "No %s%s.\n", words, n > 0 && strchr("sx", words[n - 1]) ? "es" : "s");
}

/* Runs one cmdlet: output to out. identity (may be NULL): the object it
 * was given by the pipeline. */
static int
run_cmdlet(const char *dir, const struct cmdlet *c, const struct ps_command *cmd,
           const char *identity, FILE *out, const struct ps_io *io)
{
    struct cmdlet_args args;
    char err[ERR_MAX];
    int rc;

    if (ps_bind(c, cmd, &args, err, sizeof(err)) < 0)
        goto usage;
    if (identity != NULL) {
        if (cmdlet_args_take(&args, "Identity", NULL) != NULL ||
            cmdlet_args_positional(&args) != NULL) {
            snprintf(err, sizeof(err), "takes its Identity from the pipeline; give none");
            goto usage;
        }
        if (cmdlet_args_add(&args, "Identity", xstrdup(identity), err, sizeof(err)) < 0)
            goto usage;
    }
    rc = cmdlet_exec(dir, c, &args, io->in, out, io->err);
    cmdlet_args_free(&args);
    return rc;
usage:
    fprintf(io->err, "%s: %s\n", c->name, err);
    cmdlet_args_free(&args);
    return CMDLET_USAGE;
}

/* run_cmdlet with its output held, then written after the progress line
 * is erased: the two never share a line. */
static int
run_cmdlet_below_progress(const char *dir, const struct cmdlet *c, const struct ps_command *cmd,
                          const char *identity, FILE *out, const struct ps_io *io)
{
    char *text = NULL;
    size_t len = 0;
    FILE *held = open_memstream(&text, &len);
    int rc;

    if (held == NULL)
        return run_cmdlet(dir, c, cmd, identity, out, io); /* unheld, then */
    rc = run_cmdlet(dir, c, cmd, identity, held, io);
    fclose(held);
    if (len > 0) {
        cmdlet_progress_line(io->err, NULL);
        fwrite(text, 1, len, out);
        fflush(out);
    }
    free(text);
    return rc;
}

static int
run_pipeline(const char *dir, const struct ps_pipeline *p, const struct ps_io *io)
{
    struct stage_state st = {0};
    int rc = 0, verdict = 0;

    for (size_t i = 0; i < p->ncmds && rc == 0; i++) {
        const struct ps_command *cmd = &p->cmds[i];
        const char *bname;
        enum builtin kind = builtin_of(cmd->name, &bname);
        const struct cmdlet *c = kind == B_NONE ? cmdlet_find(cmd->name) : NULL;
        bool last = i + 1 == p->ncmds;

        if (st.shown) {
            fprintf(io->err,
                    "%s: the output of a Format-, ConvertTo- or Export- command cannot "
                    "be piped on\n",
                    cmd->name);
            rc = CMDLET_USAGE;
        } else if (kind != B_NONE) {
            if (i == 0) {
                fprintf(io->err,
                        "%s: works on objects from a pipeline, as in "
                        "Get-ReceiveConnector | %s\n",
                        bname, bname);
                rc = CMDLET_USAGE;
            } else {
                rc = run_builtin(kind, bname, cmd, &st, io);
            }
        } else if (c == NULL) {
            fprintf(io->err, "postern: %s: unknown cmdlet\n", cmd->name);
            rc = CMDLET_USAGE;
        } else {
            char *text = NULL;
            size_t len = 0;
            /* a Get- that finds nothing says so to a person at a terminal
             * (scripts reading the output get nothing, as before) */
            bool tell_empty =
                last && i == 0 && strncmp(c->name, "Get-", 4) == 0 && isatty(fileno(io->out));
            FILE *out = last && !tell_empty ? io->out : open_memstream(&text, &len);
            if (out == NULL)
                fatal("open_memstream");
            if (i == 0) {
                rc = run_cmdlet(dir, c, cmd, NULL, out, io);
            } else {
                struct progress pg = progress_begin(io->err, c->name, st.recs.n);
                /* output to the terminal waits below the progress line */
                bool hold = pg.tty != NULL && isatty(fileno(out));
                for (size_t k = 0; k < st.recs.n && rc == 0; k++) {
                    const char *id = ps_record_identity(&st.recs.v[k]);
                    progress_step(&pg, k);
                    if (id == NULL || *id == '\0') {
                        fprintf(io->err, "%s: an object from the pipeline has no Identity\n",
                                c->name);
                        rc = CMDLET_USAGE;
                    } else if (hold) {
                        rc = run_cmdlet_below_progress(dir, c, cmd, id, out, io);
                    } else {
                        rc = run_cmdlet(dir, c, cmd, id, out, io);
                    }
                }
                progress_end(&pg);
            }
            ps_records_free(&st.recs);
            if (tell_empty) {
                fclose(out);
                if (len > 0)
                    fwrite(text, 1, len, io->out);
                else if (rc == 0)
                    say_none_found(io->out, c->name + 4);
                free(text);
            } else if (!last) {
                fclose(out);
                /* A test that failed still reports what it found (Test-SendConnector
                 * | ConvertTo-Json): its objects go on, the pipeline fails after. */
                if (rc == CMDLET_ERROR && i == 0 && !cmdlet_help_changes(c->name) && len > 0) {
                    verdict = rc;
                    rc = 0;
                }
                if (rc == 0 && ps_records_parse(text, &st.recs) < 0) {
                    fprintf(io->err,
                            "%s: its output is not a list of objects and cannot be "
                            "piped\n",
                            c->name);
                    rc = CMDLET_USAGE;
                }
                free(text);
            }
            if (last)
                st.shown = true;
        }
    }
    /* objects left at the end are shown as the cmdlets show them */
    if (rc == 0 && !st.shown)
        ps_print_list(io->out, &st.recs, NULL, 0);
    ps_records_free(&st.recs);
    fflush(io->out);
    return rc ? rc : verdict;
}

int
ps_run_script(const char *instance_dir, const struct ps_script *s, const struct ps_io *io,
              bool keep_going, bool line_numbers, bool *stopped)
{
    int status = 0;

    if (stopped)
        *stopped = false;
    for (size_t i = 0; i < s->npipes; i++) {
        int rc = run_pipeline(instance_dir, &s->pipes[i], io);
        if (rc == 0)
            continue;
        if (line_numbers)
            fprintf(io->err, "line %u: %s failed\n", s->pipes[i].line, s->pipes[i].cmds[0].name);
        if (status == 0)
            status = rc;
        if (!keep_going && !continues_on_error(&s->pipes[i])) {
            if (stopped)
                *stopped = true;
            break;
        }
    }
    return status;
}

int
ps_run_argv(const char *instance_dir, int argc, char **argv, FILE *in, FILE *out, FILE *err)
{
    struct ps_script s;
    struct ps_io io = {in, out, err};
    char msg[ERR_MAX];
    int rc;

    if (ps_parse_argv(argc, argv, &s, msg, sizeof(msg)) < 0) {
        fprintf(err, "postern: %s\n", msg);
        return CMDLET_USAGE;
    }
    rc = ps_run_script(instance_dir, &s, &io, false, false, NULL);
    ps_script_free(&s);
    return rc;
}
