/*
 * shell_edit.c — the terminal side of the shell (see shell_edit.h), on
 * libedit's readline interface.
 * Must never: complete from anything but the cmdlet declarations
 * (cmdlet_help.h), the parameter tables and the instance's own objects.
 */
#include "admin/shell_edit.h"
#include "admin/cmdlet_help.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <editline/readline.h>

#define HISTORY_MAX 1000
#define WORDS_MAX 64

static char *history_path;
static const char *instance;
static volatile sig_atomic_t interrupted;

/* The candidates of the completion in progress. */
static char **cands;
static size_t ncands;

static void
on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void
cands_clear(void)
{
    for (size_t i = 0; i < ncands; i++)
        free(cands[i]);
    free(cands);
    cands = NULL;
    ncands = 0;
}

static void
cand_add(const char *s, bool quote)
{
    cands = xrealloc(cands, (ncands + 1) * sizeof(*cands));
    /* a name with blanks is offered quoted, ready to run */
    cands[ncands++] = quote && strpbrk(s, " \t") ? xasprintf("'%s'", s) : xstrdup(s);
}

/* readline's generator: the candidates that start with text, in order. */
static char *
next_match(const char *text, int state)
{
    static size_t i;
    const char *t = text[0] == '\'' || text[0] == '"' ? text + 1 : text;

    if (state == 0)
        i = 0;
    while (i < ncands) {
        const char *c = cands[i++];
        const char *bare = c[0] == '\'' ? c + 1 : c;
        if (strncasecmp(bare, t, strlen(t)) == 0)
            return xstrdup(c);
    }
    return NULL;
}

/* The words of the command being typed, up to the cursor's word: split at
 * blanks outside quotes, starting after the last '|' or ';'. */
static size_t
current_words(const char *line, int start, char **words)
{
    size_t n = 0, from = 0;
    char quote = 0;

    for (int i = 0; i < start; i++) {
        if (quote)
            quote = line[i] == quote ? 0 : quote;
        else if (line[i] == '\'' || line[i] == '"')
            quote = line[i];
        else if (line[i] == '|' || line[i] == ';')
            from = (size_t)i + 1;
    }
    for (size_t i = from; i < (size_t)start && n < WORDS_MAX;) {
        size_t j;
        while (i < (size_t)start && isspace((unsigned char)line[i]))
            i++;
        if (i >= (size_t)start)
            break;
        j = i;
        quote = 0;
        while (j < (size_t)start && (quote || !isspace((unsigned char)line[j]))) {
            if (quote)
                quote = line[j] == quote ? 0 : quote;
            else if (line[j] == '\'' || line[j] == '"')
                quote = line[j];
            j++;
        }
        words[n++] = xstrndup(line + i, j - i);
        i = j;
    }
    return n;
}

/* The names of the objects of a kind, from the instance's configuration. */
static void
add_identities(enum config_kind kind)
{
    char *path = xasprintf("%s/postern.conf", instance), err[256];
    struct config *cfg = config_load(path, err, sizeof(err));
    const struct config_kind_info *k = config_kind(kind);
    size_t n;

    free(path);
    if (cfg == NULL || k->singleton) {
        config_unref(cfg);
        return;
    }
    (void)config_objects(cfg, kind, &n);
    for (size_t i = 0; i < n; i++) {
        const char *name = config_object_name(k, config_object_at(cfg, kind, i));
        if (name)
            cand_add(name, true);
    }
    config_unref(cfg);
}

static void
add_commands(void)
{
    static const char *const pipeline[] = {
        "Format-List",    "Format-Table", "Select-Object", "Where-Object",
        "ConvertTo-Json", "Export-Csv",   "exit",          NULL};
    size_t n;
    const struct cmdlet_help *all = cmdlet_help_all(&n);

    for (size_t i = 0; i < n; i++)
        cand_add(all[i].name, false);
    for (size_t i = 0; pipeline[i]; i++)
        cand_add(pipeline[i], false);
}

static void
add_params(const struct cmdlet_help *h)
{
    size_t n;
    struct help_param_view *v = cmdlet_help_params(h, &n);

    for (size_t i = 0; i < n; i++) {
        char *p = xasprintf("-%s", v[i].name);
        cand_add(p, false);
        free(p);
    }
    free(v);
}

/* The values of parameter name of h: its table's names, or the objects
 * when it is the Identity. */
static void
add_values(const struct cmdlet_help *h, const char *name)
{
    size_t n;
    struct help_param_view *v = cmdlet_help_params(h, &n);

    for (size_t i = 0; i < n; i++) {
        if (!str_ieq(v[i].name, name) &&
            !(v[i].conf && v[i].conf->alias && str_ieq(v[i].conf->alias, name)))
            continue;
        if (v[i].conf && v[i].conf->names)
            for (const struct config_enum_name *e = v[i].conf->names; e->name; e++)
                cand_add(e->name, false);
        else if (v[i].conf && v[i].conf->type == CPT_BOOL) {
            cand_add("$true", false);
            cand_add("$false", false);
        }
    }
    free(v);
    if (str_ieq(name, "Identity") && h->mode != HM_OTHER)
        add_identities(h->kind);
}

static char **
complete(const char *text, int start, int end)
{
    char *words[WORDS_MAX];
    size_t n = current_words(rl_line_buffer, start, words);
    const struct cmdlet_help *h = n > 0 ? cmdlet_help_find(words[0]) : NULL;
    char **matches;

    (void)end;
    cands_clear();
    rl_attempted_completion_over = 1; /* never file names */
    if (n == 0) {
        add_commands();
    } else if (h != NULL && text[0] == '-') {
        add_params(h);
    } else if (h != NULL && words[n - 1][0] == '-' && !isdigit((unsigned char)words[n - 1][1])) {
        char err[128];
        const char *p = cmdlet_help_resolve(h, words[n - 1] + 1, err, sizeof(err));
        if (p != NULL)
            add_values(h, p);
    } else if (h != NULL && n == 1) {
        add_values(h, "Identity"); /* the positional Identity */
    }
    for (size_t i = 0; i < n; i++)
        free(words[i]);
    matches = rl_completion_matches(text, next_match);
    return matches;
}

void
shell_edit_begin(const char *instance_dir)
{
    struct sigaction sa;

    instance = instance_dir;
    history_path = xasprintf("%s/shell_history", instance_dir);
    rl_readline_name = "postern";
    rl_attempted_completion_function = complete;
    /* '-' starts a parameter, not a new word: keep it in the word */
    rl_basic_word_break_characters = " \t\n|;,(){}=";
    using_history();
    stifle_history(HISTORY_MAX);
    (void)read_history(history_path);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint; /* no SA_RESTART: the read returns */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

char *
shell_edit_line(const char *prompt, bool *cancelled)
{
    char *line, *withnl;

    *cancelled = false;
    interrupted = 0;
    line = readline(prompt);
    if (interrupted) {
        /* Ctrl-C: the line is dropped, the shell goes on */
        free(line);
        fputs("^C\n", stdout);
        fflush(stdout);
        *cancelled = true;
        return xstrdup("");
    }
    if (line == NULL)
        return NULL;
    withnl = xasprintf("%s\n", line);
    str_free_wiped(line);
    return withnl;
}

void
shell_edit_remember(const char *statement)
{
    char *copy = xstrdup(statement), *nl;

    /* PSReadLine's rule: what may hold a secret stays out of the file */
    if (strcasestr(copy, "password") == NULL && strcasestr(copy, "credential") == NULL &&
        strcasestr(copy, "secret") == NULL) {
        while ((nl = strchr(copy, '\n')) != NULL && nl[1] == '\0')
            *nl = '\0';
        if (*copy)
            add_history(copy);
    }
    str_free_wiped(copy);
}

void
shell_edit_end(void)
{
    mode_t old = umask(077);

    if (write_history(history_path) != 0 && errno != 0)
        fprintf(stderr, "postern: cannot save the history in %s: %s\n", history_path,
                strerror(errno));
    umask(old);
    free(history_path);
    history_path = NULL;
    cands_clear();
}
