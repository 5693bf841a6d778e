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
#include <termios.h>
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

int
shell_expand_credentials(int argc, char **argv, char **owned)
{
    /* All of owned[] is cleared before the first early return: the caller
     * frees argc entries even on failure, and the shell's array is on the
     * stack, uninitialised. */
    for (int i = 0; i < argc; i++)
        owned[i] = NULL;
    for (int i = 0; i < argc; i++) {
        char *user, *pass;
        if (!str_ieq(argv[i], "(Get-Credential)"))
            continue;
        if (!isatty(STDIN_FILENO)) {
            fprintf(stderr, "postern: (Get-Credential) needs a terminal; give \"-\" instead and "
                            "user:password on standard input\n");
            return -1;
        }
        if ((user = prompt_line("User name: ", false)) == NULL ||
            (pass = prompt_line("Password: ", true)) == NULL) {
            free(user);
            return -1;
        }
        owned[i] = xasprintf("%s:%s", user, pass);
        explicit_bzero(pass, strlen(pass));
        free(user);
        free(pass);
        argv[i] = owned[i];
    }
    return 0;
}

void
shell_free_credentials(int argc, char **owned)
{
    for (int i = 0; i < argc; i++) {
        str_free_wiped(owned[i]);
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
            char *owned[SHELL_MAX_WORDS];
            if (shell_expand_credentials(n, words, owned) < 0)
                rc = CMDLET_USAGE;
            else
                rc = cmdlet_run_io(instance_dir, n, words, stdin, stdout, stderr);
            shell_free_credentials(n, owned);
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
