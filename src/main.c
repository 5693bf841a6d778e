/*
 * main.c — the command line of postern (docs/product.md, "The command line"):
 *   postern [-D DIR] setup [--fqdn NAME] [--bind IP:PORT ...]
 *   postern [-D DIR] run [--daemon]
 *   postern [-D DIR] check
 *   postern [-D DIR] reload
 *   postern [-D DIR] shell [-ErrorAction Continue]
 *   postern [-D DIR] console
 *   postern [-D DIR] <Cmdlet> [-Param value ...]
 * DIR defaults to $POSTERN_HOME, then /var/lib/postern.
 * Must never: run a cmdlet or the service on a half-parsed command line.
 */
#include "admin/check.h"
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
               "       postern [-D DIR] check\n"
               "       postern [-D DIR] reload\n"
               "       postern [-D DIR] shell [-ErrorAction Continue|SilentlyContinue|Stop]\n"
               "       postern [-D DIR] console\n"
               "       postern [-D DIR] <Cmdlet> [-Parameter value ...]\n"
               "DIR defaults to $POSTERN_HOME, then " DEFAULT_INSTANCE ".\n");
}

/* `postern SUBCOMMAND -h`: what it does, in a few lines. */
static const struct subcommand_help {
    const char *name, *synopsis, *text;
} subcommand_help[] = {
    {"setup", "[--fqdn NAME] [--bind IP:PORT ...]",
     "Creates an instance in DIR: postern.conf with the Receive connector \"Default <host>\" on\n"
     "each --bind (default 0.0.0.0:25 and [::]:25), a self-signed certificate for NAME\n"
     "(default: this machine's name) enabled for SMTP, and its directories. Refuses when DIR\n"
     "holds an instance already, or when the service user could not reach DIR (it says which\n"
     "directory to open).\n"},
    {"run", "[--daemon]",
     "Starts the service: binds the connectors' ports as root, then runs as the ServiceUser.\n"
     "In the foreground it logs to stderr (to journald, with fields, under systemd); --daemon\n"
     "returns once it accepts mail and logs to syslog's mail facility (DIR/logs/postern.log\n"
     "where nothing listens on /dev/log). SIGHUP or `reload` rereads postern.conf; SIGTERM\n"
     "stops it without losing a message. Without an instance in DIR it runs setup first.\n"},
    {"check", "",
     "Reads DIR/postern.conf as run would and says what is wrong with it; exit status 0 when\n"
     "the service would start with it (the systemd unit's ExecStartPre).\n"},
    {"reload", "",
     "Has the running service reread postern.conf; it answers once every process applied it,\n"
     "or says why it refused it (the previous configuration then stays in force).\n"},
    {"shell", "[-ErrorAction Continue|SilentlyContinue|Stop]",
     "The Exchange Management Shell of this instance: cmdlets, pipelines, Get-Help, tab\n"
     "completion; reads a script from standard input when that is not a terminal.\n"},
    {"console", "",
     "Serves the management console over HTTPS on ConsoleBindings (127.0.0.1:2580 by default).\n"},
};

/* Prints name's help and returns true when name is a subcommand. */
static bool
subcommand_usage(const char *name)
{
    for (size_t i = 0; i < sizeof(subcommand_help) / sizeof(subcommand_help[0]); i++) {
        const struct subcommand_help *h = &subcommand_help[i];
        if (strcmp(h->name, name) == 0) {
            printf("usage: postern [-D DIR] %s%s%s\n\n%s", h->name, *h->synopsis ? " " : "",
                   h->synopsis, h->text);
            return true;
        }
    }
    return false;
}

static bool
is_help_flag(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0 || strcmp(arg, "-?") == 0;
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
        printf("postern %s\n", POSTERN_VERSION); /* meson.build's project version */
        return 0;
    }
    if (i + 2 == argc && is_help_flag(argv[i + 1])) {
        /* a cmdlet's help is Get-Help's */
        char *help[] = {"Get-Help", argv[i]};
        if (subcommand_usage(argv[i]))
            return 0;
        if (cmdlet_find(argv[i]) != NULL)
            return ps_run_argv(dir, 2, help, stdin, stdout, stderr);
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
    if (strcmp(argv[i], "check") == 0 && i + 1 == argc) /* systemd's ExecStartPre */
        return check_instance(dir);
    /* a cmdlet, or a whole command line given as one argument */
    if (strpbrk(argv[i], "- \t|;") != NULL)
        return ps_run_argv(dir, argc - i, argv + i, stdin, stdout, stderr);
    fprintf(stderr, "postern: unknown command '%s'\n", argv[i]);
    usage(stderr);
    return 2;
}
