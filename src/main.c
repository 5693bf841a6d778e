/*
 * main.c — the command line of postern (PRODUCT.md, "Interface contract"):
 *   postern [-D DIR] setup [--fqdn NAME] [--bind IP:PORT ...]
 *   postern [-D DIR] run [--daemon]
 *   postern [-D DIR] reload
 *   postern [-D DIR] shell [-ErrorAction Continue]
 *   postern [-D DIR] console
 *   postern [-D DIR] <Cmdlet> [-Param value ...]
 * DIR defaults to $POSTERN_HOME, then /var/lib/postern.
 * Must never: run a cmdlet or the service on a half-parsed command line.
 */
#include "admin/cmdlet.h"
#include "admin/control.h"
#include "admin/manpage.h"
#include "admin/ps_run.h"
#include "admin/secret_args.h"
#include "admin/setup.h"
#include "admin/shell.h"
#include "console/console.h"
#include "lib/detach.h"
#include "lib/log.h"
#include "lib/runas.h"
#include "lib/util.h"
#include "net/iprange.h"
#include "daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_INSTANCE "/var/lib/postern"
#define MAX_BINDINGS 64

static void
usage(FILE *f)
{
    fprintf(f, "usage: postern [-D DIR] [-d] setup [--fqdn NAME] [--bind IP:PORT ...]\n"
               "       postern [-D DIR] [-d] run [--daemon]\n"
               "       postern [-D DIR] reload\n"
               "       postern [-D DIR] shell [-ErrorAction Continue|SilentlyContinue|Stop]\n"
               "       postern [-D DIR] console\n"
               "       postern [-D DIR] <Cmdlet> [-Parameter value ...]\n"
               "DIR defaults to $POSTERN_HOME, then " DEFAULT_INSTANCE ".\n");
}

static int
cmd_setup(const char *dir, int argc, char **argv)
{
    char fqdn[256] = "", err[128];
    struct binding bindings[MAX_BINDINGS];
    size_t nbindings = 0;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--fqdn") == 0 && i + 1 < argc) {
            strlcpy_p(fqdn, argv[++i], sizeof(fqdn));
            str_lower(fqdn);
        } else if (strcmp(argv[i], "--bind") == 0 && i + 1 < argc) {
            if (nbindings == MAX_BINDINGS) {
                fprintf(stderr, "postern: setup: too many --bind\n");
                return 2;
            }
            if (binding_parse(argv[++i], &bindings[nbindings], err, sizeof(err)) < 0) {
                fprintf(stderr, "postern: setup: --bind %s: %s\n", argv[i], err);
                return 2;
            }
            nbindings++;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (fqdn[0] == '\0')
        setup_default_fqdn(fqdn, sizeof(fqdn));
    return setup_instance(dir, fqdn, bindings, nbindings) == 0 ? 0 : 1;
}

static int
cmd_run(const char *dir, int argc, char **argv)
{
    bool detach = false;
    char *conf = xasprintf("%s/postern.conf", dir);
    struct stat st;
    int exists = stat(conf, &st) == 0;

    free(conf);
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--daemon") == 0) {
            detach = true;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!exists && cmd_setup(dir, 0, NULL) != 0)
        return 1;
    return daemon_run(dir, detach ? detach_start() : -1);
}

static int
cmd_reload(const char *dir)
{
    char err[512];
    int r = control_request_reload(dir, err, sizeof(err));

    if (r == 1) {
        printf("reloaded\n");
        return 0;
    }
    if (r == 0)
        fprintf(stderr, "postern: no service is running for %s\n", dir);
    else
        fprintf(stderr, "postern: %s\n", err);
    return 1;
}

/* The options of `shell`: -ErrorAction (alias -ea) Continue or
 * SilentlyContinue (a script goes on after a failing line; the failure is
 * still shown and sets the exit status) or Stop (the default), as
 * "-ErrorAction X" or "-ErrorAction:X", case-insensitive. 0, or -1 after
 * one line on stderr. */
static int
shell_options(int argc, char **argv, bool *keep_going)
{
    *keep_going = false;
    for (int i = 0; i < argc; i++) {
        const char *name = argv[i], *value = NULL, *colon = strchr(name, ':');
        size_t len = colon ? (size_t)(colon - name) : strlen(name);

        if (!((len == 12 && strncasecmp(name, "-ErrorAction", len) == 0) ||
              (len == 3 && strncasecmp(name, "-ea", len) == 0))) {
            fprintf(stderr,
                    "postern: shell: unknown option '%s' (the shell takes only "
                    "-ErrorAction Continue, SilentlyContinue or Stop)\n",
                    name);
            return -1;
        }
        if (colon != NULL)
            value = colon + 1;
        else if (i + 1 < argc)
            value = argv[++i];
        if (value != NULL && (str_ieq(value, "Continue") || str_ieq(value, "SilentlyContinue"))) {
            *keep_going = true;
        } else if (value != NULL && str_ieq(value, "Stop")) {
            *keep_going = false;
        } else if (value == NULL || *value == '\0') {
            fprintf(stderr,
                    "postern: shell: %.*s needs a value: Continue, SilentlyContinue or "
                    "Stop\n",
                    (int)len, name);
            return -1;
        } else {
            fprintf(stderr,
                    "postern: shell: %.*s %s: not supported (Continue, SilentlyContinue or "
                    "Stop)\n",
                    (int)len, name, value);
            return -1;
        }
    }
    return 0;
}

/* The secrets taken out of argv, kept reachable until exit. */
static char **hidden_secrets;

int
main(int argc, char **argv)
{
    const char *dir = getenv("POSTERN_HOME");
    char err[512];
    int i = 1;
    bool keep_going = false;

    /* First of all: other users can read our command line */
    (void)secret_args_hide(argc, argv, &hidden_secrets);

    if (dir == NULL || *dir == '\0')
        dir = DEFAULT_INSTANCE;
    while (i < argc && argv[i][0] == '-' && argv[i][1] != '\0' && argv[i][1] != '-' &&
           argv[i][2] == '\0') {
        if (argv[i][1] == 'D' && i + 1 < argc) {
            dir = argv[i + 1];
            i += 2;
        } else if (argv[i][1] == 'd') {
            log_set_debug(1);
            i++;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[i], "--man") == 0 && i + 1 < argc) /* the build writes the man pages */
        return manpage_write(stdout, atoi(argv[i + 1])) == 0 ? 0 : 2;
    if (strcmp(argv[i], "--version") == 0) {
        printf("postern 0.1.0\n");
        return 0;
    }
    if (strcmp(argv[i], "run") == 0)
        return cmd_run(dir, argc - i - 1, argv + i + 1);
    /* binds first, then becomes the instance's owner for good */
    if (strcmp(argv[i], "console") == 0)
        return console_run(dir);
    if (strcmp(argv[i], "shell") == 0 && shell_options(argc - i - 1, argv + i + 1, &keep_going) < 0)
        return 2;
    /* Everything else works on the instance with its owner's rights. */
    if (runas_owner_enter(dir, err, sizeof(err)) < 0) {
        fprintf(stderr, "postern: %s\n", err);
        return 1;
    }
    if (strcmp(argv[i], "setup") == 0)
        return cmd_setup(dir, argc - i - 1, argv + i + 1);
    if (strcmp(argv[i], "shell") == 0)
        return shell_run(dir, keep_going);
    if (strcmp(argv[i], "reload") == 0)
        return cmd_reload(dir);
    /* a cmdlet, or a whole command line given as one argument */
    if (strpbrk(argv[i], "- \t|;") != NULL)
        return ps_run_argv(dir, argc - i, argv + i, stdin, stdout, stderr);
    fprintf(stderr, "postern: unknown command '%s'\n", argv[i]);
    usage(stderr);
    return 2;
}
