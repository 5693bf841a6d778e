/*
 * server.c — the transport service: start-up, privilege drop, reload,
 * connection admission, shutdown. See server.h.
 */
#include "receive/server.h"
#include "config/config_warnings.h"
#include "lib/detach.h"
#include "lib/log.h"
#include "lib/runas.h"
#include "lib/util.h"
#include "lib/workq.h"
#include "delivery/deliver.h"
#include "logs/msgtrack.h"
#include "queue/queue.h"
#include "lib/fsutil.h"
#include "receive/control_server.h"
#include "receive/listener.h"
#include "logs/protolog.h"
#include "receive/rcvconn_select.h"
#include "receive/session.h"
#include "receive/session_int.h"
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
#define SERVER_WORKERS 2
/* How long a stop waits for commits in flight to be answered. */
#define SERVER_STOP_GRACE 10

struct ssl_ctx_st *
server_tls_ctx(struct server *srv, const struct receive_connector *rc)
{
    char why[512];
    struct ssl_ctx_st *ctx;

    if (!(rc->auth_mechanism & AUTHM_TLS) || srv->tls == NULL)
        return NULL;
    ctx = tls_store_server_ctx(srv->tls, receive_connector_fqdn(srv->cfg, rc), why, sizeof(why));
    return ctx;
}

/* Logs, once per (re)load, connectors that offer no STARTTLS and why. */
static void
server_check_tls(struct server *srv)
{
    char why[512];

    for (size_t i = 0; i < srv->cfg->nreceive_connectors; i++) {
        const struct receive_connector *rc = &srv->cfg->receive_connectors[i];
        if (!(rc->auth_mechanism & AUTHM_TLS) || !rc->enabled)
            continue;
        if (tls_store_server_ctx(srv->tls, receive_connector_fqdn(srv->cfg, rc), why,
                                 sizeof(why)) == NULL)
            log_warnx("receive connector \"%s\": STARTTLS is not offered: %s", rc->name, why);
    }
}

static struct tls_store *
server_load_tls(struct server *srv)
{
    char *certdir = xasprintf("%s/certs", srv->instance_dir), err[256];
    struct tls_store *store = tls_store_load(certdir, err, sizeof(err));

    if (store == NULL)
        log_warnx("certificates: %s", err);
    else
        tls_store_set_profile(store, srv->cfg->transport.tls_cipher_profile);
    free(certdir);
    return store;
}

/*
 * Installs a new certificate store unless it would take STARTTLS away from
 * a connector that has it now (a broken or expired replacement): then the
 * previous certificates stay in use and the reason is logged. Returns 0
 * when installed.
 */
static int
server_swap_tls(struct server *srv, struct tls_store *fresh)
{
    char why[512];

    for (size_t i = 0; i < srv->cfg->nreceive_connectors && srv->tls; i++) {
        const struct receive_connector *rc = &srv->cfg->receive_connectors[i];
        const char *fqdn = receive_connector_fqdn(srv->cfg, rc);
        if (!rc->enabled || !(rc->auth_mechanism & AUTHM_TLS))
            continue;
        if (tls_store_server_ctx(srv->tls, fqdn, why, sizeof(why)) != NULL &&
            tls_store_server_ctx(fresh, fqdn, why, sizeof(why)) == NULL) {
            log_warnx("certificates changed, but receive connector \"%s\" would lose STARTTLS "
                      "(%s); the previous certificates stay in use",
                      rc->name, why);
            tls_store_free(fresh);
            return -1;
        }
    }
    /* TLS contexts of running sessions are reference-counted by OpenSSL
     * through their SSL objects (and tls_ctx_ref), so the old store can go. */
    tls_store_free(srv->tls);
    srv->tls = fresh;
    return 0;
}

/* A cheap signature of the certificate files: names, sizes and times. */
static uint64_t
server_certs_stamp(const char *instance_dir)
{
    static const char *const subdirs[] = {"", "/root", "/crl"};
    uint64_t stamp = 1469598103934665603ull;

    for (size_t i = 0; i < 3; i++) {
        char *dir = xasprintf("%s/certs%s", instance_dir, subdirs[i]);
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            struct stat st;
            if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, 0) < 0)
                continue;
            for (const char *p = de->d_name; *p; p++)
                stamp = (stamp ^ (unsigned char)*p) * 1099511628211ull;
            stamp = (stamp ^ (uint64_t)st.st_size) * 1099511628211ull;
            stamp = (stamp ^ (uint64_t)st.st_mtim.tv_sec) * 1099511628211ull;
            stamp = (stamp ^ (uint64_t)st.st_mtim.tv_nsec) * 1099511628211ull;
        }
        if (d)
            closedir(d);
        free(dir);
    }
    return stamp;
}

/* Certificates renewed on disk (Import-ExchangeCertificate, or by hand)
 * take effect without a reload or a restart. */
static void
server_watch_certs(struct server *srv)
{
    uint64_t stamp = server_certs_stamp(srv->instance_dir);
    struct tls_store *fresh;

    if (stamp == srv->certs_stamp)
        return;
    srv->certs_stamp = stamp;
    if ((fresh = server_load_tls(srv)) == NULL)
        return;
    if (server_swap_tls(srv, fresh) == 0) {
        log_info("certificates changed on disk: reloaded");
        server_check_tls(srv);
    }
}

static void
server_log_warning(void *arg, const char *text)
{
    log_warnx("WARNING: %s", text);
}

int
server_reload(struct server *srv, char *err, size_t errlen)
{
    struct config *cfg = config_load(srv->config_path, err, errlen);
    struct tls_store *tls;
    char bind_err[256];

    if (cfg == NULL) {
        log_warnx("reload refused: %s", err);
        return -1;
    }
    bind_err[0] = '\0';
    if (listener_set_apply(srv->listeners, cfg, bind_err, sizeof(bind_err)) < 0)
        log_warnx("reload: %s", bind_err);
    /* sockets that could open stay open; the configuration still applies */
    /* Sessions keep their own config reference; only new ones see this. */
    config_unref(srv->cfg);
    srv->cfg = cfg;
    srv->certs_stamp = server_certs_stamp(srv->instance_dir);
    if ((tls = server_load_tls(srv)) != NULL)
        (void)server_swap_tls(srv, tls);
    server_check_tls(srv);
    deliver_reconfigure(srv->deliver);
    config_warnings(srv->cfg, server_log_warning, NULL);
    log_info("configuration reloaded from %s", srv->config_path);
    if (bind_err[0]) {
        snprintf(err, errlen, "configuration applied, but %s", bind_err);
        return -1;
    }
    return 0;
}

/* Sends a one-line reply on a connection we will not serve, then closes. */
static void
server_refuse(int fd, const char *reply)
{
    (void)!send(fd, reply, strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT);
    close(fd);
}

void
server_accept(struct server *srv, int fd, const struct sockaddr *remote, int remote_len)
{
    struct sockaddr_storage local;
    socklen_t llen = sizeof(local);
    const struct receive_connector *rc;
    char rtext[64], ltext[64], reply[256];
    uint64_t on_connector = 0, from_source = 0;

    if (getsockname(fd, (struct sockaddr *)&local, &llen) < 0) {
        close(fd);
        return;
    }
    sockaddr_format(remote, rtext, sizeof(rtext));
    sockaddr_format((struct sockaddr *)&local, ltext, sizeof(ltext));
    rc = rcvconn_select(srv->cfg, (struct sockaddr *)&local, remote);
    if (rc == NULL) {
        log_info("smtp refused client=%s local=%s reason=\"no receive connector accepts this "
                 "client on this address\"",
                 rtext, ltext);
        snprintf(reply, sizeof(reply),
                 "554 5.7.1 %s No receive connector accepts connections from you here\r\n",
                 srv->cfg->transport.fqdn ? srv->cfg->transport.fqdn : "postern");
        server_refuse(fd, reply);
        return;
    }
    for (struct session *s = srv->sessions; s; s = s->next) {
        if (s->dead || strcmp(s->rc->name, rc->name) != 0)
            continue;
        on_connector++;
        if (sockaddr_same_ip((struct sockaddr *)&s->remote_sa, remote))
            from_source++;
    }
    if ((rc->max_inbound_connection != CONFIG_UNLIMITED &&
         on_connector >= rc->max_inbound_connection) ||
        (rc->max_inbound_connection_per_source != CONFIG_UNLIMITED &&
         from_source >= rc->max_inbound_connection_per_source)) {
        log_info("smtp refused client=%s connector=\"%s\" reason=\"connection limit reached\" "
                 "connector_sessions=%llu source_sessions=%llu",
                 rtext, rc->name, (unsigned long long)on_connector,
                 (unsigned long long)from_source);
        snprintf(reply, sizeof(reply), "421 4.3.2 %s Too many connections; try again later\r\n",
                 receive_connector_fqdn(srv->cfg, rc));
        server_refuse(fd, reply);
        return;
    }
    evutil_make_socket_nonblocking(fd);
    session_start(srv, srv->cfg, rc, fd, (struct sockaddr *)&local, remote);
}

/* Sessions waiting for another thread (a commit, a password check). */
static size_t
server_sessions_waiting(const struct server *srv)
{
    size_t n = 0;

    for (const struct session *s = srv->sessions; s; s = s->next)
        n += s->busy && !s->dead;
    return n;
}

/* Ends the loop once no session waits for a commit (or the grace period is
 * over): a client whose message is being committed still hears 250, so it
 * does not send it again. */
static void
server_drain_cb(evutil_socket_t fd, short what, void *arg)
{
    struct server *srv = arg;

    if (server_sessions_waiting(srv) == 0)
        event_base_loopbreak(srv->base);
    else if (time(NULL) >= srv->stop_deadline) {
        srv->stop_now = true;
        event_base_loopbreak(srv->base);
    }
}

static void
server_begin_shutdown(struct server *srv)
{
    struct timeval tick = {0, 50 * 1000};
    struct session *s, *next;

    srv->stopping = true;
    srv->stop_deadline = time(NULL) + SERVER_STOP_GRACE;
    listener_set_free(srv->listeners);
    srv->listeners = NULL;
    deliver_stop(srv->deliver);
    for (s = srv->sessions; s; s = next) {
        next = s->next;
        if (!s->busy)
            session_shutdown(s);
    }
    srv->drain = event_new(srv->base, -1, EV_PERSIST, server_drain_cb, srv);
    evtimer_add(srv->drain, &tick);
}

static void
server_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct server *srv = arg;
    char err[512];

    if (sig == SIGHUP) {
        log_info("SIGHUP: reloading");
        (void)server_reload(srv, err, sizeof(err));
        return;
    }
    if (srv->stopping) {
        log_info("signal %d again: stopping now", (int)sig);
        srv->stop_now = true;
        event_base_loopbreak(srv->base);
        return;
    }
    log_info("signal %d: stopping", (int)sig);
    server_begin_shutdown(srv);
}

static void
server_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct server *srv = arg;

    protolog_flush(srv->protolog);
    protolog_flush(srv->send_protolog);
    msgtrack_flush(srv->track);
    server_watch_certs(srv);
}

/* Each message the receive side commits goes straight to delivery. */
static void
server_committed(void *arg, struct envelope *env)
{
    struct server *srv = arg;

    deliver_add(srv->deliver, env);
}

/* Gives the instance to the service user and becomes that user. Only root
 * can do this; anyone else simply runs as themselves. */
static int
server_drop_privileges(struct server *srv)
{
    const char *user = srv->cfg->transport.service_user;
    struct passwd *pw;

    if (geteuid() != 0)
        return 0;
    if (user == NULL || (pw = getpwnam(user)) == NULL) {
        log_warnx("service user \"%s\" does not exist: create it (useradd --system %s) or set "
                  "TransportConfig ServiceUser",
                  user ? user : "(none)", user ? user : "postern");
        return -1;
    }
    /* Cmdlets run as root may have left root-owned files behind. */
    if (fs_chown_tree(srv->instance_dir, pw->pw_uid, pw->pw_gid) < 0) {
        log_warn("cannot give %s to user %s", srv->instance_dir, user);
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
    runas_sanitizer_keep_traceable();
    log_info("running as user %s", user);
    return 0;
}

static int
server_write_pid(struct server *srv)
{
    char *path = xasprintf("%s/run/postern.pid", srv->instance_dir);
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

int
server_run(const char *instance_dir, int detach_fd)
{
    struct server srv = {0};
    char err[512], *path;
    struct event *sig_hup, *sig_term, *sig_int, *flush_timer;
    struct control_server *control = NULL;
    struct timeval one_second = {1, 0};
    struct timeval now;
    int status = 1;

    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    srv.instance_dir = xstrdup(instance_dir);
    srv.config_path = xasprintf("%s/postern.conf", instance_dir);
    gettimeofday(&now, NULL);
    /* Session ids: unique across restarts, readable as a time. */
    srv.next_session_id = ((uint64_t)now.tv_sec << 20) | (uint64_t)(now.tv_usec & 0xfffff);
    /* Read with the instance owner's rights: the file is in a directory
     * that user controls (lib/runas.h). */
    if (runas_owner_enter(instance_dir, err, sizeof(err)) < 0) {
        log_warnx("%s", err);
        goto out;
    }
    srv.cfg = config_load(srv.config_path, err, sizeof(err));
    runas_owner_leave();
    if (srv.cfg == NULL) {
        log_warnx("%s", err);
        goto out;
    }
    config_warnings(srv.cfg, server_log_warning, NULL);
    if ((srv.base = event_base_new()) == NULL) {
        log_warnx("cannot create the event loop");
        goto out;
    }
    /* As root: bind, read keys, then give up root for good. */
    srv.listeners = listener_set_new(&srv);
    if (listener_set_apply(srv.listeners, srv.cfg, err, sizeof(err)) < 0) {
        log_warnx("%s", err);
        goto out;
    }
    if (server_drop_privileges(&srv) < 0)
        goto out;
    srv.certs_stamp = server_certs_stamp(instance_dir);
    srv.tls = server_load_tls(&srv);
    server_check_tls(&srv);
    path = xasprintf("%s/queue", instance_dir);
    srv.queue = queue_open(path, srv.base, err, sizeof(err));
    free(path);
    if (srv.queue == NULL) {
        log_warnx("queue: %s", err);
        goto out;
    }
    log_info("queue holds %zu message(s)", queue_count(srv.queue));
    path = xasprintf("%s/logs", instance_dir);
    srv.protolog = protolog_open(path, "SmtpReceive");
    srv.send_protolog = protolog_open(path, "SmtpSend");
    srv.track = msgtrack_open(path);
    free(path);
    srv.workers = workq_new(srv.base, SERVER_WORKERS);
    {
        struct deliver_env denv = {
            .base = srv.base,
            .queue = srv.queue,
            .workers = srv.workers,
            .cfg = &srv.cfg,
            .tls = &srv.tls,
            .plog = srv.send_protolog,
            .track = srv.track,
            .instance_dir = srv.instance_dir,
        };
        srv.deliver = deliver_new(&denv);
        queue_set_commit_hook(srv.queue, server_committed, &srv);
    }
    if ((control = control_server_open(&srv, err, sizeof(err))) == NULL) {
        log_warnx("control socket: %s", err);
        goto out;
    }
    server_write_pid(&srv);
    if (detach_fd >= 0 && detach_ready(detach_fd, instance_dir) < 0)
        goto out;

    sig_hup = evsignal_new(srv.base, SIGHUP, server_signal_cb, &srv);
    sig_term = evsignal_new(srv.base, SIGTERM, server_signal_cb, &srv);
    sig_int = evsignal_new(srv.base, SIGINT, server_signal_cb, &srv);
    flush_timer = event_new(srv.base, -1, EV_PERSIST, server_flush_cb, &srv);
    evsignal_add(sig_hup, NULL);
    evsignal_add(sig_term, NULL);
    evsignal_add(sig_int, NULL);
    evtimer_add(flush_timer, &one_second);
    log_info("postern ready (instance %s, fqdn %s)", instance_dir,
             srv.cfg->transport.fqdn ? srv.cfg->transport.fqdn : "?");

    event_base_dispatch(srv.base);

    if (srv.stop_now && server_sessions_waiting(&srv) > 0) {
        /* Stop at once: waiting for a commit stuck on a slow disk is what
         * the administrator just declined. None of the commits in flight
         * was acknowledged: their clients send the message again, and the
         * queue's recovery at the next start keeps or removes each one
         * whole. Exiting closes every socket now; an orderly cleanup would
         * first join the committer thread. */
        log_warnx("stopping now: %zu session(s) still waiting for a commit are cut off",
                  server_sessions_waiting(&srv));
        server_flush_cb(-1, 0, &srv);
        _exit(0);
    }

    listener_set_free(srv.listeners);
    srv.listeners = NULL;
    /* Close outbound connections (their messages stay queued), finish
     * worker jobs (password checks, Maildir writes), drop the sessions
     * (those waiting for a commit are freed when it completes), then let
     * the queue finish its commits; only then can delivery's memory go. */
    deliver_stop(srv.deliver);
    workq_free(srv.workers);
    srv.workers = NULL;
    session_close_all(&srv);
    queue_set_commit_hook(srv.queue, NULL, NULL);
    queue_close(srv.queue);
    srv.queue = NULL;
    deliver_free(srv.deliver);
    srv.deliver = NULL;
    event_free(sig_hup);
    event_free(sig_term);
    event_free(sig_int);
    event_free(flush_timer);
    if (srv.drain)
        event_free(srv.drain);
    status = 0;
    log_info("postern stopped");
out:
    control_server_close(control);
    listener_set_free(srv.listeners);
    deliver_stop(srv.deliver);
    workq_free(srv.workers);
    srv.workers = NULL;
    queue_close(srv.queue);
    deliver_free(srv.deliver);
    protolog_close(srv.protolog);
    protolog_close(srv.send_protolog);
    msgtrack_close(srv.track);
    tls_store_free(srv.tls);
    config_unref(srv.cfg);
    if (srv.base)
        event_base_free(srv.base);
    free(srv.instance_dir);
    free(srv.config_path);
    return status;
}
