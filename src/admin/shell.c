/*
 * shell.c — see shell.h.
 */
#include "admin/shell.h"
#include "admin/cmdlet.h"
#include "admin/ps_run.h"
#include "admin/shell_edit.h"
#include "lib/util.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* Reads one line from the terminal, without echo when secret. */
static char *
prompt_line(const char *prompt, bool secret)
{
    struct termios old, quiet;
    char *line = NULL;
    size_t cap = 0;
    bool restore = false;

    /* Echo goes off before the prompt shows, and without flushing, so that
     * nothing typed after the prompt can appear or be lost. */
    if (secret && tcgetattr(STDIN_FILENO, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        restore = tcsetattr(STDIN_FILENO, TCSANOW, &quiet) == 0;
    }
    fprintf(stderr, "%s", prompt);
    fflush(stderr);
    if (getline(&line, &cap, stdin) < 0) {
        free(line);
        line = NULL;
    }
    if (restore) {
        tcsetattr(STDIN_FILENO, TCSANOW, &old);
        fputc('\n', stderr);
    }
    if (line)
        line[strcspn(line, "\r\n")] = '\0';
    return line;
}

char *
shell_read_credential(char *err, size_t errlen)
{
    char *user, *pass, *both;

    if (!isatty(STDIN_FILENO)) {
        snprintf(err, errlen,
                 "(Get-Credential) needs a terminal; give \"-\" instead and "
                 "user:password on standard input");
        return NULL;
    }
    if ((user = prompt_line("User name: ", false)) == NULL ||
        (pass = prompt_line("Password: ", true)) == NULL) {
        free(user);
        snprintf(err, errlen, "(Get-Credential): no answer");
        return NULL;
    }
    both = xasprintf("%s:%s", user, pass);
    str_free_wiped(pass);
    free(user);
    return both;
}

/* Reads one statement: a line, and the lines that complete it when it
 * ends open (a quote, a brace, a trailing '|', ',' or backtick). NULL at
 * the end of input. *first_line: the number of its first line. */
static char *
read_statement(bool tty, const char *prompt, int *lineno, int *first_line)
{
    char *text = NULL, *line = NULL;
    size_t cap = 0, len = 0;

    *first_line = *lineno + 1;
    for (;;) {
        struct ps_script probe;
        char err[256];
        bool incomplete = false, cancelled = false;
        ssize_t n;

        if (tty) {
            char *typed = shell_edit_line(text == NULL ? prompt : ">> ", &cancelled);
            if (typed == NULL)
                break;
            if (cancelled) { /* Ctrl-C drops the whole statement */
                str_free_wiped(text);
                free(typed);
                text = xstrdup("");
                break;
            }
            n = (ssize_t)strlen(typed);
            mem_free_wiped(line, cap);
            line = typed;
            cap = (size_t)n + 1;
        } else if ((n = getline(&line, &cap, stdin)) < 0) {
            break;
        }
        (*lineno)++;
        text = xrealloc(text, len + (size_t)n + 1);
        memcpy(text + len, line, (size_t)n + 1);
        len += (size_t)n;
        if (ps_parse_text(text, &probe, &incomplete, err, sizeof(err)) == 0)
            ps_script_free(&probe);
        if (!incomplete)
            break;
    }
    mem_free_wiped(line, cap); /* after EOF, getline leaves no NUL */
    return text;
}

int
shell_run(const char *instance_dir, bool keep_going)
{
    bool tty = isatty(STDIN_FILENO);
    struct ps_io io = {stdin, stdout, stderr};
    int status = 0, lineno = 0, first;
    char *text, *prompt;
    const char *base = strrchr(instance_dir, '/');

    /* the prompt names the instance, as Exchange's names the server */
    prompt = xasprintf("[PS] %s> ", base && base[1] ? base + 1 : instance_dir);
    if (tty)
        shell_edit_begin(instance_dir);
    while ((text = read_statement(tty, prompt, &lineno, &first)) != NULL) {
        struct ps_script s;
        char err[512];
        int rc;
        char word[8] = "";
        bool stop = false;

        if (*text == '\0') { /* cancelled with Ctrl-C */
            free(text);
            continue;
        }
        if (sscanf(text, " %7s", word) == 1 && (str_ieq(word, "exit") || str_ieq(word, "quit")) &&
            strlen(text) - strspn(text, " \t") <= 6) {
            str_free_wiped(text);
            break;
        }
        if (tty)
            shell_edit_remember(text);
        if (ps_parse_text(text, &s, NULL, err, sizeof(err)) < 0) {
            unsigned l = 1, c = 1;
            const char *why = strstr(err, ": ");
            /* the parser counts from the statement's first line */
            if (sscanf(err, "line %u, column %u:", &l, &c) == 2 && why != NULL)
                fprintf(stderr, "line %u, column %u%s\n", (unsigned)first + l - 1, c, why);
            else
                fprintf(stderr, "line %d: %s\n", first, err);
            rc = CMDLET_USAGE;
            stop = !tty && !keep_going;
        } else {
            /* statement lines count from the statement's first line */
            for (size_t i = 0; i < s.npipes; i++)
                s.pipes[i].line += (unsigned)first - 1;
            rc = ps_run_script(instance_dir, &s, &io, tty || keep_going, !tty, &stop);
            ps_script_free(&s);
        }
        str_free_wiped(text);
        if (rc != 0 && status == 0)
            status = rc;
        if (stop)
            break; /* a script stops at its first failure, unless keep_going */
        fflush(stdout);
    }
    if (tty) {
        shell_edit_end();
        printf("\n");
    }
    free(prompt);
    return tty ? 0 : status;
}
