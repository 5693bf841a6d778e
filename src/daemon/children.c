/*
 * children.c — see children.h.
 */
#include "daemon/children.h"
#include "lib/ipc_buf.h"
#include "lib/log.h"
#include "lib/log_sink.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A child that dies this soon after starting counts as failing at start:
 * its next start waits 1, 2, 4 ... up to RESTART_MAX_DELAY seconds. */
#define QUICK_DEATH_SECONDS 10
#define RESTART_MAX_DELAY 30

struct child {
    struct children *cs;
    enum proc_role role;
    pid_t pid; /* 0: not running */
    struct ipc_chan *ctl;
    time_t started;
    unsigned quick_deaths;
    struct event *restart;
};

struct children {
    struct event_base *base;
    struct children_hooks hooks;
    struct child kids[PROC_NROLES];
    struct event *sigchld;
    struct event *kill_timer;
    bool stopping, stop_now;
};

static void child_start(struct child *k);

static void
child_message(struct ipc_chan *ch, const struct ipc_msg *m, void *arg)
{
    struct child *k = arg;

    k->cs->hooks.message(k->cs->hooks.arg, k->role, m);
    if (m->fd >= 0)
        close(m->fd); /* no child hands the daemon descriptors */
}

/* The control channel ended: the child is exiting (SIGCHLD tells how). */
static void
child_channel_closed(struct ipc_chan *ch, const char *reason, void *arg)
{
    struct child *k = arg;

    ipc_chan_free(k->ctl);
    k->ctl = NULL;
}

/* Closes the daemon's own descriptors (every one it opens is
 * close-on-exec) except those in keep (n of them). Descriptors without
 * close-on-exec came from whoever started the service, like stdin, stdout
 * and stderr, and are left alone. */
static void
close_all_but(const int *keep, size_t n)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    int *doomed = NULL;
    size_t ndoomed = 0;

    if (d == NULL) {
        log_warn("cannot list the descriptors to close");
        _exit(1);
    }
    while ((de = readdir(d)) != NULL) {
        int fd = atoi(de->d_name), flags;
        bool kept = false;
        if (de->d_name[0] == '.' || fd == dirfd(d) || (flags = fcntl(fd, F_GETFD)) < 0 ||
            !(flags & FD_CLOEXEC))
            continue;
        for (size_t i = 0; i < n; i++)
            kept |= keep[i] == fd;
        if (!kept) {
            doomed = xrealloc(doomed, (ndoomed + 1) * sizeof(*doomed));
            doomed[ndoomed++] = fd;
        }
    }
    closedir(d);
    for (size_t i = 0; i < ndoomed; i++)
        close(doomed[i]);
    free(doomed);
}

/* In the new process: only its own descriptors, default signals, then the
 * role's main. Never returns. */
static void
child_run(struct child *k, struct proc_start *st, pid_t daemon_pid)
{
    int keep[3 + PEER_N + 64];
    size_t n = 0;
    sigset_t all;
    static const int reset[] = {SIGHUP, SIGTERM, SIGINT, SIGCHLD, SIGUSR1, SIGUSR2};

    char name[16];

    for (size_t i = 0; i < sizeof(reset) / sizeof(reset[0]); i++)
        signal(reset[i], SIG_DFL);
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    /* Dies with the daemon (kill -9 of the service takes all of it), and
     * is named so that ps and /proc tell the processes apart. */
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != daemon_pid)
        _exit(1); /* the daemon died before the line above */
    snprintf(name, sizeof(name), "postern-%s", proc_role_name(k->role));
    (void)prctl(PR_SET_NAME, name, 0, 0, 0);
    log_sink_set_process(proc_role_name(k->role));
    if (st->log_fd >= 0) {
        /* run --daemon: nothing of the terminal (or of a pipe the caller
         * waits on) stays open here */
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, STDIN_FILENO);
            dup2(null, STDOUT_FILENO);
            close(null);
        }
        dup2(st->log_fd, STDERR_FILENO);
    }
    keep[n++] = st->ctl_fd;
    for (size_t p = 0; p < PEER_N; p++)
        if (st->peer_fd[p] >= 0)
            keep[n++] = st->peer_fd[p];
    if (log_sink_fd() >= 0)
        keep[n++] = log_sink_fd(); /* journald or syslog: no process may reopen it */
    for (size_t i = 0; i < st->nlisten && n < sizeof(keep) / sizeof(keep[0]); i++)
        keep[n++] = st->listen_fds[i];
    close_all_but(keep, n);
    /* The daemon's event loop and channels are not ours: their memory is
     * left as it is (still reachable from the daemon's frames), their
     * descriptors are closed above. */
    exit(k->cs->hooks.child_main(st));
}

static void
child_start(struct child *k)
{
    struct children *cs = k->cs;
    struct proc_start st;
    int ctl[2], theirs[PEER_N];
    pid_t pid, daemon_pid;

    memset(&st, 0, sizeof(st));
    st.role = k->role;
    for (size_t p = 0; p < PEER_N; p++)
        st.peer_fd[p] = theirs[p] = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) < 0) {
        log_warn("cannot start the %s process", proc_role_name(k->role));
        return;
    }
    for (size_t p = 0; p < PEER_N; p++) {
        int sp[2];
        if (!proc_peer_has((enum proc_peer)p, k->role) ||
            cs->kids[proc_peer_other((enum proc_peer)p, k->role)].pid == 0)
            continue; /* the other side gets a channel when it starts */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
            log_warn("cannot connect the %s process", proc_role_name(k->role));
            continue;
        }
        st.peer_fd[p] = sp[0];
        theirs[p] = sp[1];
    }
    st.ctl_fd = ctl[1];
    cs->hooks.prepare(cs->hooks.arg, k->role, &st);
    daemon_pid = getpid();
    pid = fork();
    if (pid == 0)
        child_run(k, &st, daemon_pid);
    close(ctl[1]);
    for (size_t p = 0; p < PEER_N; p++)
        if (st.peer_fd[p] >= 0)
            close(st.peer_fd[p]);
    if (pid < 0) {
        log_warn("cannot start the %s process", proc_role_name(k->role));
        close(ctl[0]);
        for (size_t p = 0; p < PEER_N; p++)
            if (theirs[p] >= 0)
                close(theirs[p]);
        return;
    }
    k->pid = pid;
    k->started = time(NULL);
    k->ctl = ipc_chan_new(cs->base, ctl[0], child_message, child_channel_closed, k);
    for (size_t p = 0; p < PEER_N; p++) {
        struct ipc_wbuf w = {0};
        if (theirs[p] < 0)
            continue;
        ipc_put_u32(&w, (uint32_t)p);
        (void)children_send(cs, proc_peer_other((enum proc_peer)p, k->role), MSG_PEER, 0, theirs[p],
                            w.data, w.len);
        ipc_wbuf_free(&w);
    }
    log_info("%s process started (pid %ld)", proc_role_name(k->role), (long)pid);
}

static void
child_restart_cb(evutil_socket_t fd, short what, void *arg)
{
    struct child *k = arg;

    if (k->cs->stopping || k->pid != 0)
        return;
    child_start(k);
    if (k->pid != 0)
        k->cs->hooks.restarted(k->cs->hooks.arg, k->role);
}

/* The next step of a stop once a child has exited. */
static void
children_stop_step(struct children *cs)
{
    bool any = false;

    if (cs->kids[PROC_SMTP].pid == 0) {
        for (int r = 0; r < PROC_NROLES; r++) {
            struct child *k = &cs->kids[r];
            if (r != PROC_SMTP && k->pid != 0 && k->ctl)
                (void)ipc_send(k->ctl, cs->stop_now ? MSG_STOP_NOW : MSG_STOP, 0, -1, NULL, 0);
        }
    }
    for (int r = 0; r < PROC_NROLES; r++)
        any |= cs->kids[r].pid != 0;
    if (!any)
        cs->hooks.all_exited(cs->hooks.arg);
}

static void
child_exited(struct children *cs, struct child *k, int status)
{
    char why[64];
    time_t lived = time(NULL) - k->started;

    if (WIFSIGNALED(status))
        snprintf(why, sizeof(why), "was killed by signal %d", WTERMSIG(status));
    else
        snprintf(why, sizeof(why), "exited with status %d", WEXITSTATUS(status));
    k->pid = 0;
    ipc_chan_free(k->ctl);
    k->ctl = NULL;
    if (cs->stopping) {
        if (WIFEXITED(status) && WEXITSTATUS(status) == PROC_EXIT_CUT_OFF)
            cs->stop_now = true; /* it cut work off: the others need not wait */
        else if (status != 0)
            log_warnx("%s process %s while stopping", proc_role_name(k->role), why);
        children_stop_step(cs);
        return;
    }
    k->quick_deaths = lived < QUICK_DEATH_SECONDS ? k->quick_deaths + 1 : 0;
    {
        unsigned delay = k->quick_deaths <= 1 ? 0 : 1u << (k->quick_deaths - 2);
        struct timeval tv = {delay > RESTART_MAX_DELAY ? RESTART_MAX_DELAY : delay, 0};
        log_warnx("%s process %s; starting it again%s", proc_role_name(k->role), why,
                  tv.tv_sec ? " after a pause" : "");
        evtimer_add(k->restart, &tv);
    }
}

static void
children_sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
    struct children *cs = arg;
    pid_t pid;
    int status;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int r = 0; r < PROC_NROLES; r++) {
            if (cs->kids[r].pid == pid) {
                child_exited(cs, &cs->kids[r], status);
                break;
            }
        }
    }
}

struct children *
children_new(struct event_base *base, const struct children_hooks *hooks)
{
    struct children *cs = xcalloc(1, sizeof(*cs));

    cs->base = base;
    cs->hooks = *hooks;
    for (int r = 0; r < PROC_NROLES; r++) {
        cs->kids[r].cs = cs;
        cs->kids[r].role = (enum proc_role)r;
        cs->kids[r].restart = evtimer_new(base, child_restart_cb, &cs->kids[r]);
    }
    cs->sigchld = evsignal_new(base, SIGCHLD, children_sigchld_cb, cs);
    evsignal_add(cs->sigchld, NULL);
    return cs;
}

int
children_start(struct children *cs)
{
    static const enum proc_role order[] = {PROC_KEYS, PROC_QUEUE, PROC_SMTP};

    for (size_t i = 0; i < 3; i++) {
        child_start(&cs->kids[order[i]]);
        if (cs->kids[order[i]].pid == 0)
            return -1;
    }
    return 0;
}

int
children_send(struct children *cs, enum proc_role role, uint32_t type, uint32_t id, int fd,
              const void *data, size_t len)
{
    struct child *k = &cs->kids[role];

    if (k->pid == 0 || k->ctl == NULL) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return ipc_send(k->ctl, type, id, fd, data, len);
}

bool
children_running(const struct children *cs, enum proc_role role)
{
    return cs->kids[role].pid != 0;
}

static void
children_kill_cb(evutil_socket_t fd, short what, void *arg)
{
    struct children *cs = arg;

    for (int r = 0; r < PROC_NROLES; r++) {
        if (cs->kids[r].pid != 0) {
            log_warnx("%s process did not stop in time: killing it", proc_role_name(r));
            kill(cs->kids[r].pid, SIGKILL);
        }
    }
}

void
children_stop(struct children *cs, bool now, unsigned grace)
{
    struct timeval tv = {grace, 0};

    cs->stop_now |= now;
    if (!cs->stopping) {
        cs->stopping = true;
        cs->kill_timer = evtimer_new(cs->base, children_kill_cb, cs);
        evtimer_add(cs->kill_timer, &tv);
    }
    for (int r = 0; r < PROC_NROLES; r++)
        evtimer_del(cs->kids[r].restart);
    if (cs->kids[PROC_SMTP].pid != 0)
        (void)children_send(cs, PROC_SMTP, now ? MSG_STOP_NOW : MSG_STOP, 0, -1, NULL, 0);
    children_stop_step(cs);
}

void
children_free(struct children *cs)
{
    if (cs == NULL)
        return;
    for (int r = 0; r < PROC_NROLES; r++) {
        ipc_chan_free(cs->kids[r].ctl);
        event_free(cs->kids[r].restart);
    }
    event_free(cs->sigchld);
    if (cs->kill_timer)
        event_free(cs->kill_timer);
    free(cs);
}
