/*
 * smtp_process.c — see smtp_process.h.
 */
#include "receive/smtp_process.h"
#include "config/config.h"
#include "lib/ipc.h"
#include "lib/ipc_buf.h"
#include "lib/log.h"
#include "lib/metrics_catalog.h"
#include "lib/proc.h"
#include "lib/sandbox.h"
#include "lib/util.h"
#include "logs/log_client.h"
#include "logs/msgtrack.h"
#include "logs/protolog.h"
#include "receive/accept_set.h"
#include "receive/keys_client.h"
#include "receive/metrics_http.h"
#include "receive/metrics_peer.h"
#include "receive/outbound_server.h"
#include "receive/server.h"
#include "receive/spool.h"
#include "tls/tls.h"
#include "tls/tls_handshake.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long a stop waits for commits in flight to be answered. */
#define SMTP_STOP_GRACE 10
/* Handshakes paused on a signature by the keys process at once, each with
 * a 32 KiB job stack (4 MiB in all). The keys process signs about a
 * thousand a second, so this is a tenth of a second of its work: more in
 * flight would only wait there instead of here. Beyond it handshakes
 * wait in line (tls_handshake.h). */
#define SMTP_PAUSED_HANDSHAKES_MAX 128

struct smtp_process {
    const struct proc_start *st;
    struct event_base *base;
    struct server srv;
    struct ipc_chan *ctl;
    struct spool *spool;
    struct keys_client *keys;
    struct outbound_server *out;
    struct log_client *logs;
    struct metrics_peer *metrics_peer; /* the queue process's metrics */
    struct metrics_http *metrics;      /* GET /metrics on MetricsBindings */
    bool has_spool;
    /* the listener set being received from the daemon */
    struct listen_socket *incoming;
    size_t nincoming;
    struct listen_socket *initial; /* listeners to start accepting on once ready */
    size_t ninitial;
    bool ready;
    bool stopping;
    time_t stop_deadline;
    struct event *tick;
    struct event *log_flush; /* writes the batch of log lines (log.h) */
};

/* Accepts on exactly socks from now on: SMTP for the sessions, metrics
 * sockets for /metrics (each set takes the descriptors of its kind). */
static void
smtp_listen(struct smtp_process *p, const struct listen_socket *socks, size_t n)
{
    struct listen_socket *smtp = xcalloc(n ? n : 1, sizeof(*smtp));
    struct listen_socket *metrics = xcalloc(n ? n : 1, sizeof(*metrics));
    size_t ns = 0, nm = 0;

    for (size_t i = 0; i < n; i++) {
        if (socks[i].metrics)
            metrics[nm++] = socks[i];
        else if (p->srv.accepts != NULL)
            smtp[ns++] = socks[i];
        else
            close(socks[i].fd); /* stopping: no new session */
    }
    if (p->srv.accepts != NULL)
        accept_set_replace(p->srv.accepts, smtp, ns);
    metrics_http_listen(p->metrics, metrics, nm);
    free(smtp);
    free(metrics);
}

/* The gauges read at each scrape. */
static void
smtp_metrics_collect(void *arg)
{
    struct smtp_process *p = arg;

    metric_set(MET_SMTP_SESSIONS_ACTIVE, NULL, (double)p->srv.nsessions);
}

/* Starts accepting once the certificates and the queue are there, so that
 * the first client already sees STARTTLS. */
static void
smtp_check_ready(struct smtp_process *p)
{
    if (p->ready || !keys_client_has_certs(p->keys) || !p->has_spool)
        return;
    p->ready = true;
    smtp_listen(p, p->initial, p->ninitial);
    free(p->initial);
    p->initial = NULL;
    p->ninitial = 0;
    (void)ipc_send(p->ctl, MSG_READY, 0, -1, NULL, 0);
}

/* A channel to the queue or keys process: at start, and each time the
 * daemon has started one of them again. */
static void
smtp_attach(struct smtp_process *p, uint32_t which, int fd)
{
    switch (which) {
    case PEER_SMTP_SPOOL:
        spool_attach(p->spool, fd);
        p->has_spool = true;
        break;
    case PEER_SMTP_OUTBOUND:
        outbound_server_attach(p->out, fd);
        break;
    case PEER_SMTP_LOGS:
        log_client_attach(p->logs, fd);
        break;
    case PEER_SMTP_KEYS:
        keys_client_attach(p->keys, fd);
        break;
    case PEER_SMTP_METRICS:
        metrics_peer_attach(p->metrics_peer, fd);
        break;
    default:
        close(fd);
        return;
    }
    smtp_check_ready(p);
}

static void
smtp_apply_config(struct smtp_process *p, const struct ipc_msg *m)
{
    char err[512];
    struct config *cfg;

    if ((cfg = config_load_message(m->data, m->len, err, sizeof(err))) == NULL) {
        log_warnx("smtp process: configuration refused: %s", err);
        return;
    }
    log_set_level(cfg->transport.log_level);
    server_set_config(&p->srv, cfg);
    keys_client_reconfigure(p->keys);
    outbound_server_reconfigure(p->out, cfg);
    server_check_tls(&p->srv);
}

static void
smtp_begin_stop(struct smtp_process *p, bool now)
{
    if (now || (p->stopping && server_sessions_waiting(&p->srv) > 0)) {
        if (server_sessions_waiting(&p->srv) > 0)
            log_warnx("stopping now: %zu session(s) still waiting for a commit are cut off",
                      server_sessions_waiting(&p->srv));
        protolog_flush(p->srv.protolog);
        protolog_flush(p->srv.send_protolog);
        msgtrack_flush(p->srv.track);
        log_flush(); /* _exit skips atexit */
        _exit(PROC_EXIT_CUT_OFF);
    }
    p->stopping = true;
    p->stop_deadline = time(NULL) + SMTP_STOP_GRACE;
    outbound_server_stop(p->out);
    server_begin_stop(&p->srv);
}

static void
smtp_ctl_message(struct ipc_chan *ch, const struct ipc_msg *m, void *arg)
{
    struct smtp_process *p = arg;
    struct ipc_rbuf r;

    ipc_rbuf_init(&r, m->data, m->len);
    switch (m->type) {
    case MSG_CONFIG:
        smtp_apply_config(p, m);
        (void)ipc_send(ch, MSG_CONFIG, m->id, -1, NULL, 0);
        break;
    case MSG_LISTENER: {
        struct listen_socket ls;
        char err[128];
        if (m->fd < 0 || m->len == 0 || m->data[m->len - 1] != '\0' ||
            listen_socket_parse((const char *)m->data, &ls, err, sizeof(err)) < 0) {
            log_warnx("smtp process: malformed listener message");
            break;
        }
        p->incoming = xrealloc(p->incoming, (p->nincoming + 1) * sizeof(*p->incoming));
        ls.fd = m->fd;
        p->incoming[p->nincoming++] = ls;
        return; /* the fd is ours now */
    }
    case MSG_LISTENERS_END:
        if (p->ready) {
            smtp_listen(p, p->incoming, p->nincoming);
        } else { /* before ready: the newest set waits for ready */
            for (size_t i = 0; i < p->ninitial; i++)
                close(p->initial[i].fd);
            free(p->initial);
            p->initial = xcalloc(p->nincoming ? p->nincoming : 1, sizeof(*p->initial));
            memcpy(p->initial, p->incoming, p->nincoming * sizeof(*p->initial));
            p->ninitial = p->nincoming;
        }
        free(p->incoming);
        p->incoming = NULL;
        p->nincoming = 0;
        (void)ipc_send(ch, MSG_LISTENERS_END, m->id, -1, NULL, 0);
        break;
    case MSG_PEER: {
        uint32_t which = ipc_get_u32(&r);
        if (m->fd < 0 || !ipc_rbuf_done(&r))
            break;
        if (which >= PEER_N || !proc_peer_has(which, PROC_SMTP))
            break;
        smtp_attach(p, which, m->fd);
        return;
    }
    case MSG_STOP:
        smtp_begin_stop(p, false);
        break;
    case MSG_STOP_NOW:
        smtp_begin_stop(p, true);
        break;
#ifdef POSTERN_TEST_HOOKS
    case MSG_TEST_OPEN: {
        /* the boundary test: can this process open the path it is given? */
        const char *path = ipc_get_str(&r);
        struct ipc_wbuf w = {0};
        int fd = ipc_rbuf_ok(&r) ? open(path, O_RDONLY | O_CLOEXEC) : -1;
        ipc_put_u32(&w, fd >= 0 ? 0 : (uint32_t)errno);
        if (fd >= 0)
            close(fd);
        (void)ipc_send(ch, MSG_TEST_OPEN_RESULT, m->id, -1, w.data, w.len);
        ipc_wbuf_free(&w);
        break;
    }
#endif
    default:
        log_warnx("smtp process: unexpected message %u from the daemon", m->type);
        break;
    }
    if (m->fd >= 0)
        close(m->fd);
}

/* The daemon is gone: nobody can stop or supervise this process. */
static void
smtp_ctl_closed(struct ipc_chan *ch, const char *reason, void *arg)
{
    log_flush(); /* _exit skips atexit */
    _exit(1);
}

static void
smtp_log_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    log_flush();
}

/* (any thread: libevent is set up for threads in this process) */
static void
smtp_log_wake(void *arg)
{
    event_active(arg, EV_TIMEOUT, 0);
}

static void
smtp_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct smtp_process *p = arg;

    smtp_check_ready(p); /* the first certificates may have come */
    protolog_flush(p->srv.protolog);
    protolog_flush(p->srv.send_protolog);
    msgtrack_flush(p->srv.track);
    if (p->stopping && server_sessions_waiting(&p->srv) == 0)
        event_base_loopbreak(p->base);
    else if (p->stopping && time(NULL) >= p->stop_deadline)
        smtp_begin_stop(p, true);
}

int
smtp_process_main(const struct proc_start *st)
{
    struct smtp_process p = {0};
    struct config *cfg;
    char err[512], what[200];
    struct timeval tick = {0, 100 * 1000};

    p.st = st;
    if ((cfg = config_load_text(st->config, st->config_len, "(daemon)", err, sizeof(err))) ==
        NULL) {
        log_warnx("smtp process: %s", err);
        return 1;
    }
    log_set_level(cfg->transport.log_level);
    /* Everything that reads a file happens before the sandbox: time zone,
     * resolver configuration, the system's CA certificates. */
    tzset();
    if (outbound_preload(cfg, err, sizeof(err)) < 0) {
        log_warnx("smtp process: %s", err);
        return 1;
    }
    if (sandbox_chroot_if_needed(st->empty_dir, err, sizeof(err)) < 0 ||
        sandbox_become(st->uid, st->gid, err, sizeof(err)) < 0) {
        log_warnx("smtp process: %s", err);
        return 1;
    }
    sandbox_private();
    metrics_process_start(PROC_SMTP);
    if (!sandbox_no_files(what, sizeof(what)))
        log_warnx("smtp process: files are not locked away: %s", what);
    else
        log_info("smtp process: no file access (%s)", what);

    p.base = event_base_new();
    if (tls_handshake_init_thread(SMTP_PAUSED_HANDSHAKES_MAX) < 0)
        log_warnx("smtp process: cannot bound the TLS handshakes waiting for keys");
    server_init(&p.srv, p.base, cfg);
    /* Log files come from the queue process, one blocking call per file
     * and day, bounded. */
    p.logs = log_client_new(-1, 2000);
    p.srv.protolog = protolog_open_remote("SmtpReceive", log_client_open_day, p.logs);
    p.srv.send_protolog = protolog_open_remote("SmtpSend", log_client_open_day, p.logs);
    p.srv.track = msgtrack_open_remote(log_client_open_day, p.logs);
    p.spool = spool_new(p.base);
    p.srv.spool = p.spool;
    p.keys = keys_client_new(p.base, &p.srv);
    p.srv.keys = p.keys;
    p.out = outbound_server_new(p.base, &p.srv, p.keys);
    p.metrics_peer = metrics_peer_new(p.base);
    p.metrics = metrics_http_new(p.base, p.metrics_peer, smtp_metrics_collect, &p);
    p.initial = xcalloc(st->nlisten ? st->nlisten : 1, sizeof(*p.initial));
    for (size_t i = 0; i < st->nlisten; i++) {
        if (listen_socket_parse(st->listen_bindings[i], &p.initial[p.ninitial], err, sizeof(err)) ==
            0)
            p.initial[p.ninitial++].fd = st->listen_fds[i];
        else
            close(st->listen_fds[i]);
    }
    p.ctl = ipc_chan_new(p.base, st->ctl_fd, smtp_ctl_message, smtp_ctl_closed, &p);
    for (uint32_t i = 0; i < PEER_N; i++)
        if (st->peer_fd[i] >= 0)
            smtp_attach(&p, i, st->peer_fd[i]);
    /* session and message lines leave in one write per turn of the loop */
    p.log_flush = event_new(p.base, -1, 0, smtp_log_flush_cb, NULL);
    log_batch_lines(smtp_log_wake, p.log_flush);
    p.tick = event_new(p.base, -1, EV_PERSIST, smtp_tick_cb, &p);
    evtimer_add(p.tick, &tick);
    signal(SIGTERM, SIG_IGN); /* the daemon says when to stop */
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    event_base_dispatch(p.base);

    server_close(&p.srv);
    metrics_http_free(p.metrics);
    metrics_peer_free(p.metrics_peer);
    outbound_server_free(p.out);
    keys_client_free(p.keys);
    spool_free(p.spool);
    ipc_chan_free(p.ctl);
    protolog_close(p.srv.protolog);
    protolog_close(p.srv.send_protolog);
    msgtrack_close(p.srv.track);
    tls_store_free(p.srv.tls);
    config_unref(p.srv.cfg);
    for (size_t i = 0; i < p.ninitial; i++)
        close(p.initial[i].fd);
    free(p.initial);
    event_free(p.tick);
    log_batch_lines(NULL, NULL);
    event_free(p.log_flush);
    event_base_free(p.base);
    log_client_free(p.logs);
    return 0;
}
