/*
 * shell.c — see shell.h.
 */
#include "admin/shell.h"
#include "admin/cmdlet.h"
#include "lib/util.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHELL_MAX_WORDS 256

/* Splits line in place into words; returns the count, or -1 on an
 * unterminated quote or too many words. */
static int
shell_split(char *line, char **words)
{
    int n = 0;
    char *r = line, *w = line;

    for (;;) {
        while (*r == ' ' || *r == '\t' || *r == '\r' || *r == '\n')
            r++;
        if (*r == '\0' || *r == '#')
            return n;
        if (n == SHELL_MAX_WORDS)
            return -1;
        words[n++] = w;
        while (*r && *r != ' ' && *r != '\t' && *r != '\r' && *r != '\n') {
            if (*r == '\'' || *r == '"') {
                char q = *r++;
                while (*r && *r != q)
                    *w++ = *r++;
                if (*r != q)
                    return -1;
                r++;
            } else {
                *w++ = *r++;
            }
        }
        if (*r)
            r++;
        *w++ = '\0';
    }
}

int
shell_run(const char *instance_dir)
{
    bool tty = isatty(STDIN_FILENO);
    char *line = NULL, *words[SHELL_MAX_WORDS];
    size_t cap = 0;
    int status = 0, lineno = 0;

    for (;;) {
        int n, rc;
        if (tty) {
            printf("postern> ");
            fflush(stdout);
        }
        if (getline(&line, &cap, stdin) < 0)
            break;
        lineno++;
        if ((n = shell_split(line, words)) < 0) {
            fprintf(stderr, "line %d: unterminated quote or too many words\n", lineno);
            rc = CMDLET_USAGE;
        } else if (n == 0) {
            continue;
        } else if (str_ieq(words[0], "exit") || str_ieq(words[0], "quit")) {
            break;
        } else {
            rc = cmdlet_run_io(instance_dir, n, words, stdin, stdout, stderr);
            if (rc != 0 && !tty)
                fprintf(stderr, "line %d: %s failed\n", lineno, words[0]);
        }
        if (rc != 0 && status == 0)
            status = rc;
        fflush(stdout);
    }
    free(line);
    if (tty)
        printf("\n");
    return tty ? 0 : status;
}
