/*
 * daemon.c — see daemon.h.
 */
#include "daemon/daemon.h"
#include "config/config_warnings.h"
#include "daemon/bind_set.h"
#include "daemon/children.h"
#include "daemon/control_server.h"
#include "daemon/sd_notify.h"
#include "keys/keys_process.h"
#include "lib/detach.h"
#include "lib/fsutil.h"
#include "lib/ipc_buf.h"
#include "lib/log.h"
#include "lib/log_sink.h"
#include "lib/proc.h"
#include "lib/runas.h"
#include "lib/sandbox.h"
#include "lib/user_reach.h"
#include "lib/util.h"
#include "qmgr/qmgr_process.h"
#include "receive/smtp_process.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* How long a stop waits for commits in flight before children are killed. */
#define DAEMON_STOP_GRACE 12
/* How long a port in use at start is tried again: 2 s. */
#define DAEMON_BIND_TRIES 20
#define DAEMON_BIND_PAUSE_US 100000
/* Where the smtp process is locked up when the kernel has no Landlock. */
#define DAEMON_EMPTY_DIR "/run/postern-empty"

/* A queue cmdlet forwarded to the queue process, waiting for its answer. */
struct pending_control {
    struct pending_control *next;
    uint32_t id;
    enum proc_role to; /* only its answer counts: another child cannot forge it */
    struct control_reply *reply;
};

struct daemon {
    char *instance_dir;
    char *config_path;
    struct event_base *base;
    struct config *cfg; /* the current configuration, without its secrets */
    char *redacted;     /* ... as text, for the queue and smtp processes */
    size_t redacted_len;
    char *keys_text; /* the whole text, only while a keys process is being started */
    size_t keys_len;
    struct bind_set *binds;
    struct children *kids;
    struct control_server *control;
    struct pending_control *pending;
    uint32_t next_id;
    /* A reload is answered once every child applied the configuration and
     * the smtp process the listening sockets: a cmdlet's change is in force
     * when it returns. */
    struct control_reply *reload_reply;
    char reload_error[512]; /* "" or what to answer */
    uint32_t config_round;  /* of the MSG_CONFIG sent last */
    bool config_waiting[PROC_NROLES];
    uint32_t listeners_round; /* of the listener set sent to smtp last */
    bool listeners_waiting;   /* for smtp's answer to that set */
    bool rebind_waiting;      /* smtp must release sockets before the rebind */
    uid_t uid;
    gid_t gid;
    int log_fd;             /* run --daemon: the log file every process writes to */
    char **listen_bindings; /* what the last smtp process started with */
    int *listen_fds;
    size_t nlisten;
    int detach_fd;
    bool ready[PROC_NROLES];
    bool up; /* all three were ready once */
    bool stopping;
    struct event *sig_hup, *sig_term, *sig_int;
};

static void
daemon_log_warning(void *arg, const char *text)
{
    log_warnx("WARNING: %s", text);
}

/*
 * Reads postern.conf with the instance owner's rights (the directory is
 * theirs, lib/runas.h) and validates it. On success *full holds the whole
 * text (the caller wipes it) and the return is the configuration without
 * its secrets.
 */
static struct config *
daemon_read_config(struct daemon *d, char **full, size_t *full_len, char *err, size_t errlen)
{
    struct config *cfg;

    *full = NULL;
    if (runas_owner_enter(d->instance_dir, err, errlen) < 0)
        return NULL;
    *full = file_read(d->config_path, full_len);
    runas_owner_leave();
    if (*full == NULL) {
        struct stat st;
        struct passwd *pw;
        int saved = errno;

        snprintf(err, errlen, "cannot read %s: %s", d->config_path, strerror(saved));
        /* root reads as the instance's owner: say which directory stops it */
        if (saved == EACCES && stat(d->instance_dir, &st) == 0 &&
            (pw = getpwuid(st.st_uid)) != NULL)
            (void)user_reach_check(d->instance_dir, pw->pw_name, pw->pw_uid, pw->pw_gid, true, err,
                                   errlen);
        return NULL;
    }
    if ((cfg = config_load_text(*full, *full_len, d->config_path, err, errlen)) == NULL) {
        mem_free_wiped(*full, *full_len);
        *full = NULL;
        return NULL;
    }
    config_redact_secrets(cfg);
    return cfg;
}

static void
daemon_wipe_keys_text(struct daemon *d)
{
    mem_free_wiped(d->keys_text, d->keys_len);
    d->keys_text = NULL;
    d->keys_len = 0;
}

static void
daemon_set_config(struct daemon *d, struct config *cfg)
{
    config_unref(d->cfg);
    d->cfg = cfg;
    log_set_level(cfg->transport.log_level);
    free(d->redacted);
    d->redacted = config_format(cfg, &d->redacted_len);
}

static void
daemon_free_listen_list(struct daemon *d)
{
    for (size_t i = 0; i < d->nlisten; i++)
        free(d->listen_bindings[i]);
    free(d->listen_bindings);
    free(d->listen_fds);
    d->listen_bindings = NULL;
    d->listen_fds = NULL;
    d->nlisten = 0;
}

/* What a child starts with (children.h prepare hook). */
static void
daemon_prepare_child(void *arg, enum proc_role role, struct proc_start *st)
{
    struct daemon *d = arg;

    st->instance_dir = d->instance_dir;
    st->uid = d->uid;
    st->gid = d->gid;
    st->empty_dir = DAEMON_EMPTY_DIR;
    st->log_fd = d->log_fd;
    if (role == PROC_KEYS) {
        if (d->keys_text == NULL) { /* a restart: read the file again */
            char err[512];
            struct config *cfg =
                daemon_read_config(d, &d->keys_text, &d->keys_len, err, sizeof(err));
            if (cfg == NULL)
                log_warnx("keys process: %s; it starts without the configuration", err);
            config_unref(cfg);
        }
        st->config = d->keys_text;
        st->config_len = d->keys_len;
        return;
    }
    st->config = d->redacted;
    st->config_len = d->redacted_len;
    if (role != PROC_SMTP)
        return;
    daemon_free_listen_list(d);
    {
        size_t n;
        const struct listen_socket *socks = bind_set_sockets(d->binds, &n);
        d->listen_bindings = xcalloc(n + 1, sizeof(*d->listen_bindings));
        d->listen_fds = xcalloc(n + 1, sizeof(*d->listen_fds));
        for (size_t i = 0; i < n; i++) {
            char text[80];
            listen_socket_format(&socks[i], text, sizeof(text));
            d->listen_bindings[i] = xstrdup(text);
            d->listen_fds[i] = socks[i].fd;
        }
        d->nlisten = n;
    }
    st->listen_fds = d->listen_fds;
    st->listen_bindings = (const char *const *)d->listen_bindings;
    st->nlisten = d->nlisten;
}

static int
daemon_child_main(const struct proc_start *st)
{
    switch (st->role) {
    case PROC_KEYS:
        return keys_process_main(st);
    case PROC_QUEUE:
        return qmgr_process_main(st);
    default:
        return smtp_process_main(st);
    }
}

/* Sends the smtp process a listener set: socks, then the end of the set
 * (round: acknowledged with MSG_LISTENERS_END when applied). */
static void
daemon_send_listeners(struct daemon *d, const struct listen_socket *socks, size_t n)
{
    struct ipc_wbuf w = {0};

    for (size_t i = 0; i < n; i++) {
        char text[80];
        int fd = fcntl(socks[i].fd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0) {
            log_warn("cannot hand on a listening socket");
            continue;
        }
        listen_socket_format(&socks[i], text, sizeof(text));
        (void)children_send(d->kids, PROC_SMTP, MSG_LISTENER, 0, fd, text, strlen(text) + 1);
    }
    d->listeners_waiting = children_send(d->kids, PROC_SMTP, MSG_LISTENERS_END,
                                         ++d->listeners_round, -1, w.data, w.len) == 0;
}

static void
daemon_reply(struct control_reply **reply, bool ok, const char *text)
{
    if (*reply)
        control_reply_finish(*reply, ok, text, strlen(text));
    *reply = NULL;
}

/* Answers the reload once nothing of it is outstanding. */
static void
daemon_reload_check(struct daemon *d)
{
    for (int r = 0; r < PROC_NROLES; r++)
        if (d->config_waiting[r])
            return;
    if (d->rebind_waiting || d->listeners_waiting)
        return;
    sd_notify_reloaded(d->reload_error[0] ? d->reload_error : "ready: configuration reloaded");
    daemon_reply(&d->reload_reply, d->reload_error[0] == '\0', d->reload_error);
}

/* Binds what the configuration now wants and hands the sockets on. */
static void
daemon_rebind(struct daemon *d)
{
    char err[256] = "";
    size_t n;
    const struct listen_socket *socks;

    if (bind_set_apply(d->binds, d->cfg, err, sizeof(err)) < 0) {
        log_warnx("reload: %s", err);
        snprintf(d->reload_error, sizeof(d->reload_error), "configuration applied, but %s", err);
    }
    socks = bind_set_sockets(d->binds, &n);
    d->rebind_waiting = false;
    daemon_send_listeners(d, socks, n);
    daemon_reload_check(d);
}

static void
daemon_reload(struct daemon *d, struct control_reply *reply)
{
    char err[512], *full;
    size_t full_len, nkeep, ncur;
    struct config *cfg;
    struct listen_socket *keep;

    if (d->stopping) {
        daemon_reply(&reply, false, "the service is stopping");
        return;
    }
    if (d->up) /* systemd: reloading until every child applied it */
        sd_notify_reloading();
    if ((cfg = daemon_read_config(d, &full, &full_len, err, sizeof(err))) == NULL) {
        log_warnx("reload refused: %s", err);
        sd_notify_reloaded("ready: reload refused, the previous configuration stays in force");
        daemon_reply(&reply, false, err);
        return;
    }
    if (d->reload_reply) /* an earlier reload still waits: this one supersedes it */
        daemon_reply(&d->reload_reply, true, "");
    d->reload_reply = reply;
    d->reload_error[0] = '\0';
    d->config_round++;
    d->config_waiting[PROC_KEYS] =
        children_send(d->kids, PROC_KEYS, MSG_CONFIG, d->config_round, -1, full, full_len + 1) == 0;
    mem_free_wiped(full, full_len);
    daemon_set_config(d, cfg);
    for (enum proc_role r = PROC_QUEUE; r <= PROC_SMTP; r++)
        d->config_waiting[r] = children_send(d->kids, r, MSG_CONFIG, d->config_round, -1,
                                             d->redacted, d->redacted_len + 1) == 0;
    config_warnings(cfg, daemon_log_warning, NULL);
    log_info("configuration reloaded from %s", d->config_path);
    /* A new wildcard binding replaces specific ones on its port: the smtp
     * process closes its copies first (bind_set.h). */
    nkeep = bind_set_surviving(d->binds, cfg, &keep);
    (void)bind_set_sockets(d->binds, &ncur);
    if (nkeep != ncur && children_running(d->kids, PROC_SMTP)) {
        d->rebind_waiting = true;
        daemon_send_listeners(d, keep, nkeep);
    } else {
        daemon_rebind(d);
    }
    free(keep);
}

static void
daemon_check_up(struct daemon *d)
{
    if (d->up || !d->ready[PROC_KEYS] || !d->ready[PROC_QUEUE] || !d->ready[PROC_SMTP])
        return;
    d->up = true;
    if (d->detach_fd >= 0) {
        (void)detach_ready(d->detach_fd, d->log_fd);
        d->detach_fd = -1;
    }
    log_info("postern ready (instance %s, fqdn %s)", d->instance_dir,
             d->cfg->transport.fqdn ? d->cfg->transport.fqdn : "?");
    sd_notify_ready("ready: accepting mail"); /* the sockets listen since daemon_bind */
}

static void
daemon_child_message(void *arg, enum proc_role role, const struct ipc_msg *m)
{
    struct daemon *d = arg;
    struct ipc_rbuf r;

    ipc_rbuf_init(&r, m->data, m->len);
    switch (m->type) {
    case MSG_READY:
        d->ready[role] = true;
        if (role == PROC_KEYS)
            daemon_wipe_keys_text(d);
        daemon_check_up(d);
        break;
    case MSG_CONFIG: /* applied */
        if (m->id == d->config_round) {
            d->config_waiting[role] = false;
            daemon_reload_check(d);
        }
        break;
    case MSG_LISTENERS_END: /* applied */
        if (role != PROC_SMTP || m->id != d->listeners_round)
            break;
        d->listeners_waiting = false;
        if (d->rebind_waiting)
            daemon_rebind(d);
        else
            daemon_reload_check(d);
        break;
    case MSG_CONTROL_REPLY:
        for (struct pending_control **pp = &d->pending; *pp; pp = &(*pp)->next) {
            struct pending_control *p = *pp;
            uint32_t ok;
            const char *text;
            if (p->id != m->id || p->to != role)
                continue;
            ok = ipc_get_u32(&r);
            text = ipc_get_str(&r);
            if (!ipc_rbuf_ok(&r))
                control_reply_finish(p->reply, false, "bad answer from the queue process", 33);
            else
                control_reply_finish(p->reply, ok != 0, text, strlen(text));
            *pp = p->next;
            free(p);
            break;
        }
        break;
    case MSG_TEST_OPEN_RESULT:
        for (struct pending_control **pp = &d->pending; *pp; pp = &(*pp)->next) {
            struct pending_control *p = *pp;
            char text[64];
            if (p->id != m->id || p->to != role)
                continue;
            snprintf(text, sizeof(text), "%u\n", ipc_get_u32(&r));
            control_reply_finish(p->reply, true, text, strlen(text));
            *pp = p->next;
            free(p);
            break;
        }
        break;
    default:
        log_warnx("%s process sent an unexpected message %u", proc_role_name(role), m->type);
        break;
    }
}

/* Answers every cmdlet a restarted child (PROC_NROLES: any) can no longer
 * answer. */
static void
daemon_fail_pending(struct daemon *d, enum proc_role role, const char *why)
{
    for (struct pending_control **pp = &d->pending; *pp;) {
        struct pending_control *p = *pp;
        if (role != PROC_NROLES && p->to != role) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        control_reply_finish(p->reply, false, why, strlen(why));
        free(p);
    }
}

static void
daemon_child_restarted(void *arg, enum proc_role role)
{
    struct daemon *d = arg;

    d->ready[role] = false;
    daemon_fail_pending(d, role,
                        role == PROC_QUEUE ? "the queue process was restarted; try again"
                                           : "the smtp process was restarted; try again");
    /* a restarted child starts with the current configuration (and smtp
     * with the current sockets): nothing of a reload is owed by it */
    d->config_waiting[role] = false;
    if (role == PROC_SMTP) {
        d->listeners_waiting = false;
        if (d->rebind_waiting)
            daemon_rebind(d); /* the old process's sockets are gone with it */
    }
    daemon_reload_check(d);
}

static void
daemon_all_exited(void *arg)
{
    struct daemon *d = arg;

    event_base_loopbreak(d->base);
}

static void
daemon_forward(struct daemon *d, uint32_t type, enum proc_role to, char *const *argv, int from,
               struct control_reply *reply)
{
    struct ipc_wbuf w = {0};
    struct pending_control *p;

    for (int i = from; i < CONTROL_MAX_ARGS; i++)
        ipc_put_str(&w, argv[i]);
    p = xcalloc(1, sizeof(*p));
    p->id = ++d->next_id;
    p->to = to;
    p->reply = reply;
    if (children_send(d->kids, to, type, p->id, -1, w.data, w.len) < 0) {
        const char *why = to == PROC_QUEUE ? "the queue process is not running; try again"
                                           : "the smtp process is not running; try again";
        control_reply_finish(reply, false, why, strlen(why));
        free(p);
    } else {
        p->next = d->pending;
        d->pending = p;
    }
    ipc_wbuf_free(&w);
}

/* One request on the control socket: reload here, queue cmdlets in the
 * queue process. */
static void
daemon_control(void *arg, char *const *argv, struct control_reply *reply)
{
    struct daemon *d = arg;

    if (strcmp(argv[0], "reload") == 0) {
        daemon_reload(d, reply);
        return;
    }
    if (strcmp(argv[0], "status") == 0) { /* Get-Service */
        const char *state = d->stopping ? "StopPending\n" : "Running\n";
        control_reply_finish(reply, true, state, strlen(state));
        return;
    }
#ifdef POSTERN_TEST_HOOKS
    if (strcmp(argv[0], "test-open") == 0) {
        daemon_forward(d, MSG_TEST_OPEN, PROC_SMTP, argv, 1, reply);
        return;
    }
#endif
    if (d->stopping) {
        control_reply_finish(reply, false, "the service is stopping", 23);
        return;
    }
    daemon_forward(d, MSG_CONTROL, PROC_QUEUE, argv, 0, reply);
}

static void
daemon_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;

    if (sig == SIGHUP) {
        log_info("SIGHUP: reloading");
        daemon_reload(d, NULL);
        return;
    }
    if (d->stopping) {
        log_info("signal %d again: stopping now", (int)sig);
        children_stop(d->kids, true, DAEMON_STOP_GRACE);
        return;
    }
    log_info("signal %d: stopping", (int)sig);
    d->stopping = true;
    sd_notify_stopping();
    /* no new connection from now on: the smtp process closes its copies of
     * the listening sockets when told to stop, these are the others */
    bind_set_free(d->binds);
    d->binds = NULL;
    control_server_close(d->control);
    d->control = NULL;
    daemon_fail_pending(d, PROC_NROLES, "the service is stopping");
    children_stop(d->kids, false, DAEMON_STOP_GRACE);
}

/* Binds at start. A port still in use may be held by the processes of a
 * service that was just killed (the kernel kills them a moment after their
 * daemon): a short wait tells that apart from a port that is taken. */
static int
daemon_bind(struct daemon *d, char *err, size_t errlen)
{
    for (int i = 0;; i++) {
        if (bind_set_apply(d->binds, d->cfg, err, errlen) == 0)
            return 0;
        if (errno != EADDRINUSE || i == DAEMON_BIND_TRIES)
            return -1;
        usleep(DAEMON_BIND_PAUSE_US);
    }
}

/* The service user and, as root, the instance handed to it. */
static int
daemon_service_user(struct daemon *d)
{
    const char *user = d->cfg->transport.service_user;
    struct passwd *pw;
    char err[512];

    d->uid = geteuid();
    d->gid = getegid();
    if (geteuid() != 0) {
        log_warnx("not started as root: every process runs as uid %ld, so the network process "
                  "is not kept from the keys by file permissions",
                  (long)d->uid);
        return 0;
    }
    if (user == NULL || (pw = getpwnam(user)) == NULL) {
        log_warnx("service user \"%s\" does not exist: create it (useradd --system %s) or set "
                  "TransportConfig ServiceUser",
                  user ? user : "(none)", user ? user : "postern");
        return -1;
    }
    d->uid = pw->pw_uid;
    d->gid = pw->pw_gid;
    if (user_reach_check(d->instance_dir, user, pw->pw_uid, pw->pw_gid, false, err, sizeof(err)) <
        0) {
        log_warnx("%s", err);
        return -1;
    }
    /* Cmdlets run as root may have left root-owned files behind. */
    if (fs_chown_tree(d->instance_dir, pw->pw_uid, pw->pw_gid) < 0) {
        log_warn("cannot give %s to user %s", d->instance_dir, user);
        return -1;
    }
    if (sandbox_prepare_empty_dir(DAEMON_EMPTY_DIR, err, sizeof(err)) < 0) {
        log_warnx("%s", err);
        return -1;
    }
    return 0;
}

/* Files the daemon writes in the instance: as the instance's owner, so a
 * link planted there leads nowhere (lib/runas.h). */
static int
daemon_write_files(struct daemon *d)
{
    char err[512], *path;
    FILE *f;
    int rc = 0;

    if (runas_owner_enter(d->instance_dir, err, sizeof(err)) < 0) {
        log_warnx("%s", err);
        return -1;
    }
    path = xasprintf("%s/run", d->instance_dir);
    (void)mkdir(path, 0700);
    free(path);
    path = xasprintf("%s/run/postern.pid", d->instance_dir);
    if ((f = fopen(path, "w")) == NULL) {
        log_warn("cannot write %s", path);
    } else {
        fprintf(f, "%ld\n", (long)getpid());
        fclose(f);
    }
    free(path);
    path = xasprintf("%s/run/control.sock", d->instance_dir);
    d->control = control_server_open(d->base, path, d->uid, daemon_control, d, err, sizeof(err));
    if (d->control == NULL) {
        log_warnx("control socket: %s", err);
        rc = -1;
    }
    free(path);
    if (rc == 0 && d->detach_fd >= 0) {
        /* run --daemon: syslog's mail facility, or logs/postern.log where
         * nothing listens on /dev/log (the file also takes the lines a full
         * syslog queue cannot); the caller's terminal is told which */
        if (log_sink_syslog() == 0)
            fprintf(stderr, "postern: logging to syslog (mail facility)\n");
        else
            fprintf(stderr, "postern: no syslog on /dev/log: logging to %s/logs/postern.log\n",
                    d->instance_dir);
        d->log_fd = detach_open_log(d->instance_dir); /* stderr of every process */
        if (d->log_fd < 0)
            rc = -1;
    }
    runas_owner_leave();
    return rc;
}

int
daemon_run(const char *instance_dir, int detach_fd)
{
    struct daemon d = {0};
    char err[512];
    struct children_hooks hooks = {
        .prepare = daemon_prepare_child,
        .child_main = daemon_child_main,
        .message = daemon_child_message,
        .restarted = daemon_child_restarted,
        .all_exited = daemon_all_exited,
        .arg = &d,
    };
    struct config *cfg;
    int status = 1;

    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    (void)sd_notify_init(); /* before any fork: children never talk to systemd */
    d.log_fd = -1;
    d.detach_fd = detach_fd;
    if (detach_fd < 0)
        (void)log_sink_journal_if_stream(); /* under systemd: fields journalctl can match */
    d.instance_dir = xstrdup(instance_dir);
    d.config_path = xasprintf("%s/postern.conf", instance_dir);
    if ((cfg = daemon_read_config(&d, &d.keys_text, &d.keys_len, err, sizeof(err))) == NULL) {
        log_warnx("%s", err);
        goto out;
    }
    daemon_set_config(&d, cfg);
    config_warnings(cfg, daemon_log_warning, NULL);
    if ((d.base = event_base_new()) == NULL) {
        log_warnx("cannot create the event loop");
        goto out;
    }
    d.binds = bind_set_new();
    if (daemon_bind(&d, err, sizeof(err)) < 0) {
        log_warnx("%s", err);
        goto out;
    }
    if (daemon_service_user(&d) < 0 || daemon_write_files(&d) < 0)
        goto out;
    d.sig_hup = evsignal_new(d.base, SIGHUP, daemon_signal_cb, &d);
    d.sig_term = evsignal_new(d.base, SIGTERM, daemon_signal_cb, &d);
    d.sig_int = evsignal_new(d.base, SIGINT, daemon_signal_cb, &d);
    evsignal_add(d.sig_hup, NULL);
    evsignal_add(d.sig_term, NULL);
    evsignal_add(d.sig_int, NULL);
    d.kids = children_new(d.base, &hooks);
    if (children_start(d.kids) < 0) {
        children_stop(d.kids, true, 2);
        event_base_dispatch(d.base);
        goto out;
    }
    event_base_dispatch(d.base);
    status = d.stopping ? 0 : 1;
    log_info("postern stopped");
out:
    daemon_wipe_keys_text(&d);
    daemon_fail_pending(&d, PROC_NROLES, "the service stopped");
    daemon_reply(&d.reload_reply, false, "the service stopped");
    control_server_close(d.control);
    children_free(d.kids);
    bind_set_free(d.binds);
    if (d.sig_hup) {
        event_free(d.sig_hup);
        event_free(d.sig_term);
        event_free(d.sig_int);
    }
    config_unref(d.cfg);
    free(d.redacted);
    daemon_free_listen_list(&d);
    if (d.base)
        event_base_free(d.base);
    if (d.log_fd >= 0)
        close(d.log_fd);
    free(d.instance_dir);
    free(d.config_path);
    return status;
}
