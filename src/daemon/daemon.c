/*
 * daemon.c — see daemon.h.
 */
#include "daemon/daemon.h"
#include "config/config_warnings.h"
#include "daemon/bind_set.h"
#include "daemon/control_server.h"
#include "delivery/deliver.h"
#include "lib/detach.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/runas.h"
#include "lib/util.h"
#include "lib/workq.h"
#include "logs/msgtrack.h"
#include "logs/protolog.h"
#include "queue/queue.h"
#include "receive/accept_set.h"
#include "receive/server.h"
#include "tls/tls.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

/* Password checks are the only pooled work for now; two threads keep a
 * burst of AUTH from queueing behind one slow hash on a 2-core machine. */
#define DAEMON_WORKERS 2
/* How long a stop waits for commits in flight to be answered. */
#define DAEMON_STOP_GRACE 10

struct daemon {
    char *instance_dir;
    char *config_path;
    struct event_base *base;
    struct server smtp; /* sessions, and the current configuration */
    struct bind_set *binds;
    struct deliver *deliver;
    struct control_server *control;
    uid_t service_uid;
    uint64_t certs_stamp; /* signature of DIR/certs, to notice renewals */
    bool stopping;
    time_t stop_deadline;
    bool stop_now; /* a second signal, or the grace period is over */
    struct event *drain;
};

static struct tls_store *
daemon_load_tls(struct daemon *d)
{
    char *certdir = xasprintf("%s/certs", d->instance_dir), err[256];
    struct tls_store *store = tls_store_load(certdir, err, sizeof(err));

    if (store == NULL)
        log_warnx("certificates: %s", err);
    else
        tls_store_set_profile(store, d->smtp.cfg->transport.tls_cipher_profile);
    free(certdir);
    return store;
}

/* A cheap signature of the certificate files: names, sizes and times. */
static uint64_t
daemon_certs_stamp(const char *instance_dir)
{
    static const char *const subdirs[] = {"", "/root", "/crl"};
    uint64_t stamp = 1469598103934665603ull;

    for (size_t i = 0; i < 3; i++) {
        char *dir = xasprintf("%s/certs%s", instance_dir, subdirs[i]);
        DIR *dp = opendir(dir);
        struct dirent *de;
        while (dp && (de = readdir(dp)) != NULL) {
            struct stat st;
            if (de->d_name[0] == '.' || fstatat(dirfd(dp), de->d_name, &st, 0) < 0)
                continue;
            for (const char *p = de->d_name; *p; p++)
                stamp = (stamp ^ (unsigned char)*p) * 1099511628211ull;
            stamp = (stamp ^ (uint64_t)st.st_size) * 1099511628211ull;
            stamp = (stamp ^ (uint64_t)st.st_mtim.tv_sec) * 1099511628211ull;
            stamp = (stamp ^ (uint64_t)st.st_mtim.tv_nsec) * 1099511628211ull;
        }
        if (dp)
            closedir(dp);
        free(dir);
    }
    return stamp;
}

/* Certificates renewed on disk (Import-ExchangeCertificate, or by hand)
 * take effect without a reload or a restart. */
static void
daemon_watch_certs(struct daemon *d)
{
    uint64_t stamp = daemon_certs_stamp(d->instance_dir);
    struct tls_store *fresh;

    if (stamp == d->certs_stamp)
        return;
    d->certs_stamp = stamp;
    if ((fresh = daemon_load_tls(d)) == NULL)
        return;
    if (server_swap_tls(&d->smtp, fresh) == 0) {
        log_info("certificates changed on disk: reloaded");
        server_check_tls(&d->smtp);
    }
}

static void
daemon_log_warning(void *arg, const char *text)
{
    log_warnx("WARNING: %s", text);
}

/* Hands listening sockets to the accepting side (duplicates: the daemon
 * keeps its own). */
static void
daemon_hand_sockets(struct daemon *d, const struct listen_socket *socks, size_t n)
{
    struct listen_socket *copy = xcalloc(n ? n : 1, sizeof(*copy));
    size_t ncopy = 0;

    for (size_t i = 0; i < n; i++) {
        copy[ncopy].binding = socks[i].binding;
        if ((copy[ncopy].fd = fcntl(socks[i].fd, F_DUPFD_CLOEXEC, 0)) >= 0)
            ncopy++;
        else
            log_warn("cannot hand on a listening socket");
    }
    accept_set_replace(d->smtp.accepts, copy, ncopy);
    free(copy);
}

static void
daemon_pass_listeners(struct daemon *d)
{
    size_t n;
    const struct listen_socket *socks = bind_set_sockets(d->binds, &n);

    daemon_hand_sockets(d, socks, n);
}

static int
daemon_reload(struct daemon *d, char *err, size_t errlen)
{
    struct config *cfg = config_load(d->config_path, err, errlen);
    struct tls_store *tls;
    char bind_err[256];

    if (cfg == NULL) {
        log_warnx("reload refused: %s", err);
        return -1;
    }
    bind_err[0] = '\0';
    {
        struct listen_socket *keep;
        size_t nkeep = bind_set_surviving(d->binds, cfg, &keep);
        daemon_hand_sockets(d, keep, nkeep);
        free(keep);
    }
    if (bind_set_apply(d->binds, cfg, bind_err, sizeof(bind_err)) < 0)
        log_warnx("reload: %s", bind_err);
    /* sockets that could open stay open; the configuration still applies */
    daemon_pass_listeners(d);
    server_set_config(&d->smtp, cfg);
    d->certs_stamp = daemon_certs_stamp(d->instance_dir);
    if ((tls = daemon_load_tls(d)) != NULL)
        (void)server_swap_tls(&d->smtp, tls);
    server_check_tls(&d->smtp);
    deliver_reconfigure(d->deliver);
    config_warnings(cfg, daemon_log_warning, NULL);
    log_info("configuration reloaded from %s", d->config_path);
    if (bind_err[0]) {
        snprintf(err, errlen, "configuration applied, but %s", bind_err);
        return -1;
    }
    return 0;
}

/* Ends the loop once no session waits for a commit (or the grace period is
 * over): a client whose message is being committed still hears 250, so it
 * does not send it again. */
static void
daemon_drain_cb(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;

    if (server_sessions_waiting(&d->smtp) == 0)
        event_base_loopbreak(d->base);
    else if (time(NULL) >= d->stop_deadline) {
        d->stop_now = true;
        event_base_loopbreak(d->base);
    }
}

static void
daemon_begin_shutdown(struct daemon *d)
{
    struct timeval tick = {0, 50 * 1000};

    d->stopping = true;
    d->stop_deadline = time(NULL) + DAEMON_STOP_GRACE;
    bind_set_free(d->binds);
    d->binds = NULL;
    deliver_stop(d->deliver);
    server_begin_stop(&d->smtp);
    d->drain = event_new(d->base, -1, EV_PERSIST, daemon_drain_cb, d);
    evtimer_add(d->drain, &tick);
}

static void
daemon_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;
    char err[512];

    if (sig == SIGHUP) {
        log_info("SIGHUP: reloading");
        (void)daemon_reload(d, err, sizeof(err));
        return;
    }
    if (d->stopping) {
        log_info("signal %d again: stopping now", (int)sig);
        d->stop_now = true;
        event_base_loopbreak(d->base);
        return;
    }
    log_info("signal %d: stopping", (int)sig);
    daemon_begin_shutdown(d);
}

static void
daemon_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;

    protolog_flush(d->smtp.protolog);
    protolog_flush(d->smtp.send_protolog);
    msgtrack_flush(d->smtp.track);
    daemon_watch_certs(d);
}

/* Each message the receive side commits goes straight to delivery. */
static void
daemon_committed(void *arg, struct envelope *env)
{
    struct daemon *d = arg;

    deliver_add(d->deliver, env);
}

/* One request on the control socket: reload, or a queue cmdlet. */
static void
daemon_control(void *arg, char *const *argv, struct control_reply *reply)
{
    struct daemon *d = arg;
    char err[512], *text = NULL;
    size_t len = 0;
    FILE *f;
    int rc = -1;

    if (strcmp(argv[0], "reload") == 0) {
        if (daemon_reload(d, err, sizeof(err)) == 0)
            control_reply_finish(reply, true, "", 0);
        else
            control_reply_finish(reply, false, err, strlen(err));
        return;
    }
    if ((f = open_memstream(&text, &len)) == NULL) {
        control_reply_finish(reply, false, "out of memory", 13);
        return;
    }
    if (strcmp(argv[0], "get-queue") == 0)
        rc = deliver_cmd_get_queue(d->deliver, argv[1], f);
    else if (strcmp(argv[0], "get-message") == 0)
        rc = deliver_cmd_get_message(d->deliver, argv[1], argv[2], argv[3][0] == '1', f);
    else if (strcmp(argv[0], "queue-action") == 0)
        rc = deliver_cmd_queue_action(d->deliver, argv[1], argv[2], f);
    else if (strcmp(argv[0], "message-action") == 0)
        rc = deliver_cmd_message_action(d->deliver, argv[1], argv[2], argv[3][0] == '1', f);
    else
        fprintf(f, "unknown request\n");
    fclose(f);
    control_reply_finish(reply, rc == 0, text, len);
    free(text);
}

/* Gives the instance to the service user and becomes that user. Only root
 * can do this; anyone else simply runs as themselves. */
static int
daemon_drop_privileges(struct daemon *d)
{
    const char *user = d->smtp.cfg->transport.service_user;
    struct passwd *pw;

    d->service_uid = geteuid();
    if (geteuid() != 0)
        return 0;
    if (user == NULL || (pw = getpwnam(user)) == NULL) {
        log_warnx("service user \"%s\" does not exist: create it (useradd --system %s) or set "
                  "TransportConfig ServiceUser",
                  user ? user : "(none)", user ? user : "postern");
        return -1;
    }
    /* Cmdlets run as root may have left root-owned files behind. */
    if (fs_chown_tree(d->instance_dir, pw->pw_uid, pw->pw_gid) < 0) {
        log_warn("cannot give %s to user %s", d->instance_dir, user);
        return -1;
    }
    /* Keep exactly one capability across setuid: binding ports below 1024,
     * so that a connector added while running can listen on port 25. */
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(0, NULL) < 0 ||
        setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
        log_warn("cannot drop privileges to %s", user);
        return -1;
    }
    {
        struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
        struct __user_cap_data_struct data[2];
        memset(data, 0, sizeof(data));
        data[0].effective = data[0].permitted = 1u << CAP_NET_BIND_SERVICE;
        if (syscall(SYS_capset, &hdr, data) < 0)
            log_warn("cannot keep CAP_NET_BIND_SERVICE: ports below 1024 added while running "
                     "will need a restart");
        (void)prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
    }
    if (setuid(0) == 0) {
        log_warnx("privileges were not dropped");
        return -1;
    }
    d->service_uid = pw->pw_uid;
    runas_sanitizer_keep_traceable();
    log_info("running as user %s", user);
    return 0;
}

static int
daemon_write_pid(struct daemon *d)
{
    char *path = xasprintf("%s/run/postern.pid", d->instance_dir);
    FILE *f = fopen(path, "w");

    if (f == NULL) {
        log_warn("cannot write %s", path);
        free(path);
        return -1;
    }
    fprintf(f, "%ld\n", (long)getpid());
    fclose(f);
    free(path);
    return 0;
}

static int
daemon_open_control(struct daemon *d, char *err, size_t errlen)
{
    char *rundir = xasprintf("%s/run", d->instance_dir);
    char *path = xasprintf("%s/control.sock", rundir);

    (void)mkdir(rundir, 0700);
    d->control = control_server_open(d->base, path, d->service_uid, daemon_control, d, err, errlen);
    free(rundir);
    free(path);
    return d->control ? 0 : -1;
}

int
daemon_run(const char *instance_dir, int detach_fd)
{
    struct daemon d = {0};
    struct server *srv = &d.smtp;
    struct config *cfg;
    char err[512], *path;
    struct event *sig_hup = NULL, *sig_term = NULL, *sig_int = NULL, *flush_timer = NULL;
    struct timeval one_second = {1, 0};
    int status = 1;

    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    d.instance_dir = xstrdup(instance_dir);
    d.config_path = xasprintf("%s/postern.conf", instance_dir);
    /* Read with the instance owner's rights: the file is in a directory
     * that user controls (lib/runas.h). */
    if (runas_owner_enter(instance_dir, err, sizeof(err)) < 0) {
        log_warnx("%s", err);
        goto out;
    }
    cfg = config_load(d.config_path, err, sizeof(err));
    runas_owner_leave();
    if (cfg == NULL) {
        log_warnx("%s", err);
        goto out;
    }
    config_warnings(cfg, daemon_log_warning, NULL);
    if ((d.base = event_base_new()) == NULL) {
        log_warnx("cannot create the event loop");
        config_unref(cfg);
        goto out;
    }
    server_init(srv, d.base, cfg);
    /* As root: bind, then give up root for good. */
    d.binds = bind_set_new();
    if (bind_set_apply(d.binds, cfg, err, sizeof(err)) < 0) {
        log_warnx("%s", err);
        goto out;
    }
    if (daemon_drop_privileges(&d) < 0)
        goto out;
    daemon_pass_listeners(&d);
    d.certs_stamp = daemon_certs_stamp(instance_dir);
    srv->tls = daemon_load_tls(&d);
    server_check_tls(srv);
    path = xasprintf("%s/queue", instance_dir);
    srv->queue = queue_open(path, d.base, err, sizeof(err));
    free(path);
    if (srv->queue == NULL) {
        log_warnx("queue: %s", err);
        goto out;
    }
    log_info("queue holds %zu message(s)", queue_count(srv->queue));
    path = xasprintf("%s/logs", instance_dir);
    srv->protolog = protolog_open(path, "SmtpReceive");
    srv->send_protolog = protolog_open(path, "SmtpSend");
    srv->track = msgtrack_open(path);
    free(path);
    srv->workers = workq_new(d.base, DAEMON_WORKERS);
    {
        struct deliver_env denv = {
            .base = d.base,
            .queue = srv->queue,
            .workers = srv->workers,
            .cfg = &srv->cfg,
            .tls = &srv->tls,
            .plog = srv->send_protolog,
            .track = srv->track,
            .instance_dir = d.instance_dir,
        };
        d.deliver = deliver_new(&denv);
        queue_set_commit_hook(srv->queue, daemon_committed, &d);
    }
    if (daemon_open_control(&d, err, sizeof(err)) < 0) {
        log_warnx("control socket: %s", err);
        goto out;
    }
    daemon_write_pid(&d);
    if (detach_fd >= 0 && detach_ready(detach_fd, instance_dir) < 0)
        goto out;

    sig_hup = evsignal_new(d.base, SIGHUP, daemon_signal_cb, &d);
    sig_term = evsignal_new(d.base, SIGTERM, daemon_signal_cb, &d);
    sig_int = evsignal_new(d.base, SIGINT, daemon_signal_cb, &d);
    flush_timer = event_new(d.base, -1, EV_PERSIST, daemon_flush_cb, &d);
    evsignal_add(sig_hup, NULL);
    evsignal_add(sig_term, NULL);
    evsignal_add(sig_int, NULL);
    evtimer_add(flush_timer, &one_second);
    log_info("postern ready (instance %s, fqdn %s)", instance_dir,
             srv->cfg->transport.fqdn ? srv->cfg->transport.fqdn : "?");

    event_base_dispatch(d.base);

    if (d.stop_now && server_sessions_waiting(srv) > 0) {
        /* Stop at once: waiting for a commit stuck on a slow disk is what
         * the administrator just declined. None of the commits in flight
         * was acknowledged: their clients send the message again, and the
         * queue's recovery at the next start keeps or removes each one
         * whole. Exiting closes every socket now; an orderly cleanup would
         * first join the committer thread. */
        log_warnx("stopping now: %zu session(s) still waiting for a commit are cut off",
                  server_sessions_waiting(srv));
        daemon_flush_cb(-1, 0, &d);
        _exit(0);
    }
    status = 0;
    log_info("postern stopped");
out:
    /* Close outbound connections (their messages stay queued), finish
     * worker jobs (password checks, Maildir writes), drop the sessions
     * (those waiting for a commit are freed when it completes), then let
     * the queue finish its commits; only then can delivery's memory go. */
    control_server_close(d.control);
    bind_set_free(d.binds);
    deliver_stop(d.deliver);
    workq_free(srv->workers);
    srv->workers = NULL;
    if (srv->base)
        server_close(srv);
    if (srv->queue)
        queue_set_commit_hook(srv->queue, NULL, NULL);
    queue_close(srv->queue);
    deliver_free(d.deliver);
    protolog_close(srv->protolog);
    protolog_close(srv->send_protolog);
    msgtrack_close(srv->track);
    if (sig_hup) {
        event_free(sig_hup);
        event_free(sig_term);
        event_free(sig_int);
        event_free(flush_timer);
    }
    if (d.drain)
        event_free(d.drain);
    tls_store_free(srv->tls);
    config_unref(srv->cfg);
    if (d.base)
        event_base_free(d.base);
    free(d.instance_dir);
    free(d.config_path);
    return status;
}
