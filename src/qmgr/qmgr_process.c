/*
 * qmgr_process.c — see qmgr_process.h.
 */
#include "qmgr/qmgr_process.h"
#include "config/config.h"
#include "delivery/deliver.h"
#include "delivery/deliver_metrics.h"
#include "delivery/tlsrpt_outbox.h"
#include "lib/ipc.h"
#include "lib/ipc_buf.h"
#include "lib/log.h"
#include "lib/metrics_catalog.h"
#include "lib/sandbox.h"
#include "lib/util.h"
#include "lib/workq.h"
#include "logs/log_retention.h"
#include "logs/log_server.h"
#include "logs/msgtrack.h"
#include "logs/protolog.h"
#include "qmgr/metrics_answer.h"
#include "qmgr/outbound_proxy.h"
#include "queue/queue.h"
#include "queue/spool_server.h"

#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Maildir writes are the pooled work: two threads on a 2-core machine. */
#define QMGR_WORKERS 2
/* How long a queue process waits for the spool lock: 10 s. */
#define QMGR_LOCK_TRIES 200
#define QMGR_LOCK_PAUSE_US 50000

struct qmgr {
    struct event_base *base;
    char *instance_dir;
    struct config *cfg;
    struct queue *queue;
    struct workq *workers;
    struct msgtrack *track;
    struct protolog *send_protolog; /* unused here: outbound logs in the smtp process */
    struct deliver *deliver;
    struct outbound_proxy *outbound;
    struct tlsrpt_outbox *tls_posts; /* TLS reports waiting for their POST */
    struct spool_server *spool;
    struct metrics_answer *metrics; /* the smtp process's scrapes */
    struct log_server *logs;
    struct ipc_chan *ctl;
    struct event *tick;
    time_t logs_swept; /* when log_retention last ran */
    int lock_fd;       /* the spool's lock (qmgr_lock_spool), held until exit */
    bool stopping;
};

static void
qmgr_spool_closed(struct spool_server *ss, const char *reason, void *arg)
{
    struct qmgr *q = arg;

    spool_server_free(q->spool);
    q->spool = NULL;
}

static void
qmgr_logs_closed(struct log_server *ls, const char *reason, void *arg)
{
    struct qmgr *q = arg;

    log_server_free(q->logs);
    q->logs = NULL;
}

static void
qmgr_attach(struct qmgr *q, uint32_t which, int fd)
{
    char *logs_dir;

    switch (which) {
    case PEER_SMTP_SPOOL:
        spool_server_free(q->spool);
        q->spool = spool_server_new(q->base, q->queue, fd, qmgr_spool_closed, q);
        break;
    case PEER_SMTP_LOGS:
        log_server_free(q->logs);
        logs_dir = xasprintf("%s/logs", q->instance_dir);
        q->logs = log_server_new(q->base, logs_dir, fd, qmgr_logs_closed, q);
        free(logs_dir);
        break;
    case PEER_SMTP_OUTBOUND:
        outbound_proxy_attach(q->outbound, fd);
        break;
    case PEER_SMTP_METRICS:
        metrics_answer_attach(q->metrics, fd);
        break;
    default:
        close(fd);
        break;
    }
}

/* Before each metrics answer: the delivery queues as they are now. */
static void
qmgr_metrics_collect(void *arg)
{
    struct qmgr *q = arg;

    deliver_metrics_collect(q->deliver);
}

/* Each message the smtp process commits goes straight to delivery. */
static void
qmgr_committed(void *arg, struct envelope *env)
{
    struct qmgr *q = arg;

    deliver_add(q->deliver, env);
}

static void
qmgr_apply_config(struct qmgr *q, const struct ipc_msg *m)
{
    char err[512];
    struct config *cfg;

    if ((cfg = config_load_message(m->data, m->len, err, sizeof(err))) == NULL) {
        log_warnx("queue process: configuration refused: %s", err);
        return;
    }
    config_unref(q->cfg);
    q->cfg = cfg;
    log_set_level(cfg->transport.log_level);
    q->logs_swept = 0; /* a MaxAge may have changed: sweep at the next tick */
    deliver_reconfigure(q->deliver);
}

/* A queue cmdlet: the words the control socket received. */
static void
qmgr_control(struct qmgr *q, const struct ipc_msg *m)
{
    struct ipc_rbuf r;
    struct ipc_wbuf w = {0};
    const char *argv[5];
    char *text = NULL;
    size_t len = 0;
    FILE *f;
    int rc = -1;

    ipc_rbuf_init(&r, m->data, m->len);
    for (size_t i = 0; i < 5; i++)
        argv[i] = ipc_get_str(&r);
    if ((f = open_memstream(&text, &len)) == NULL)
        fatal("open_memstream");
    if (!ipc_rbuf_done(&r))
        fprintf(f, "malformed request\n");
    else if (strcmp(argv[0], "get-queue") == 0)
        rc = deliver_cmd_get_queue(q->deliver, argv[1], f);
    else if (strcmp(argv[0], "get-message") == 0)
        rc = deliver_cmd_get_message(q->deliver, argv[1], argv[2], argv[3][0] == '1', f);
    else if (strcmp(argv[0], "queue-action") == 0)
        rc = deliver_cmd_queue_action(q->deliver, argv[1], argv[2], f);
    else if (strcmp(argv[0], "message-action") == 0)
        rc = deliver_cmd_message_action(q->deliver, argv[1], argv[2], argv[3][0] == '1', f);
    else if (strcmp(argv[0], "send-tlsreport") == 0)
        rc = deliver_send_tls_reports(q->deliver, argv[1], argv[2], f) < 0 ? -1 : 0;
    else
        fprintf(f, "unknown request\n");
    fclose(f);
    ipc_put_u32(&w, rc == 0);
    ipc_put_str(&w, text);
    (void)ipc_send(q->ctl, MSG_CONTROL_REPLY, m->id, -1, w.data, w.len);
    ipc_wbuf_free(&w);
    free(text);
}

static void
qmgr_begin_stop(struct qmgr *q)
{
    if (q->stopping)
        return;
    q->stopping = true;
    deliver_stop(q->deliver);
}

static void
qmgr_ctl_message(struct ipc_chan *ch, const struct ipc_msg *m, void *arg)
{
    struct qmgr *q = arg;
    struct ipc_rbuf r;

    ipc_rbuf_init(&r, m->data, m->len);
    switch (m->type) {
    case MSG_CONFIG:
        qmgr_apply_config(q, m);
        (void)ipc_send(ch, MSG_CONFIG, m->id, -1, NULL, 0);
        break;
    case MSG_PEER: {
        uint32_t which = ipc_get_u32(&r);
        if (m->fd >= 0 && ipc_rbuf_done(&r)) {
            qmgr_attach(q, which, m->fd);
            return;
        }
        break;
    }
    case MSG_CONTROL:
        qmgr_control(q, m);
        break;
    case MSG_STOP:
        /* the smtp process has exited: nothing new can arrive */
        qmgr_begin_stop(q);
        event_base_loopbreak(q->base);
        break;
    case MSG_STOP_NOW:
        /* Commits still in flight were never acknowledged (their client
         * was cut off): the queue's recovery at the next start keeps or
         * removes each whole. Waiting for a disk that hangs is what the
         * administrator just declined. */
        msgtrack_flush(q->track);
        _exit(0);
    default:
        log_warnx("queue process: unexpected message %u from the daemon", m->type);
        break;
    }
    if (m->fd >= 0)
        close(m->fd);
}

static void
qmgr_ctl_closed(struct ipc_chan *ch, const char *reason, void *arg)
{
    struct qmgr *q = arg;

    /* The daemon is gone: finish the commits accepted, then go. */
    qmgr_begin_stop(q);
    event_base_loopbreak(q->base);
}

static void
qmgr_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct qmgr *q = arg;
    time_t now = time(NULL);

    msgtrack_flush(q->track);
    if (now - q->logs_swept >= 3600 || now < q->logs_swept) {
        const struct transport_config *tc = &q->cfg->transport;
        char *logs_dir = xasprintf("%s/logs", q->instance_dir);

        q->logs_swept = now;
        log_retention_sweep(logs_dir, msgtrack_spec(), tc->message_tracking_log_max_age, now);
        log_retention_sweep(logs_dir, protolog_spec("SmtpReceive"),
                            tc->receive_protocol_log_max_age, now);
        log_retention_sweep(logs_dir, protolog_spec("SmtpSend"), tc->send_protocol_log_max_age,
                            now);
        free(logs_dir);
    }
}

/*
 * One queue process per spool: after `kill -9` of a daemon its queue
 * process is killed by the kernel a moment later, which a service started
 * again at once may overtake. The lock (on the queue directory, released
 * when the process dies) makes the new one wait for the old one to be gone
 * before it recovers the spool. Returns the locked descriptor, or -1.
 */
static int
qmgr_lock_spool(const char *queue_dir)
{
    int fd = open(queue_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return -1; /* queue_open creates it: nobody else has it */
    for (int i = 0; i < QMGR_LOCK_TRIES; i++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return fd;
        if (i == 0)
            log_warnx("queue process: another process still holds %s; waiting", queue_dir);
        usleep(QMGR_LOCK_PAUSE_US);
    }
    log_warnx("queue process: %s stays locked by another process", queue_dir);
    close(fd);
    return -2;
}

int
qmgr_process_main(const struct proc_start *st)
{
    struct qmgr q = {.lock_fd = -1};
    char err[512], *path;
    struct timeval one_second = {1, 0};
    int status = 1;

    if (sandbox_become(st->uid, st->gid, err, sizeof(err)) < 0) {
        log_warnx("queue process: %s", err);
        return 1;
    }
    sandbox_private();
    /* the registry exists before the committer thread observes into it */
    metrics_process_start(PROC_QUEUE);
    signal(SIGTERM, SIG_IGN); /* the daemon says when to stop */
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    q.instance_dir = xstrdup(st->instance_dir);
    if ((q.cfg = config_load_text(st->config, st->config_len, "(daemon)", err, sizeof(err))) ==
        NULL) {
        log_warnx("queue process: %s", err);
        goto out;
    }
    log_set_level(q.cfg->transport.log_level);
    q.base = event_base_new();
    path = xasprintf("%s/queue", q.instance_dir);
    if ((q.lock_fd = qmgr_lock_spool(path)) == -2) {
        free(path);
        goto out;
    }
    q.queue = queue_open(path, q.base, err, sizeof(err));
    free(path);
    if (q.queue == NULL) {
        log_warnx("queue: %s", err);
        goto out;
    }
    log_info("queue holds %zu message(s)", queue_count(q.queue));
    path = xasprintf("%s/logs", q.instance_dir);
    q.track = msgtrack_open(path);
    free(path);
    q.workers = workq_new(q.base, QMGR_WORKERS);
    q.outbound = outbound_proxy_new(q.base);
    q.tls_posts =
        tlsrpt_outbox_new(q.base, q.instance_dir, &q.cfg, &outbound_proxy_ops, q.outbound);
    {
        struct deliver_env denv = {
            .base = q.base,
            .queue = q.queue,
            .workers = q.workers,
            .cfg = &q.cfg,
            .track = q.track,
            .instance_dir = q.instance_dir,
            .outbound = &outbound_proxy_ops,
            .outbound_arg = q.outbound,
            .tls_posts = q.tls_posts,
        };
        q.deliver = deliver_new(&denv);
        queue_set_commit_hook(q.queue, qmgr_committed, &q);
    }
    q.metrics = metrics_answer_new(q.base, qmgr_metrics_collect, &q);
    q.ctl = ipc_chan_new(q.base, st->ctl_fd, qmgr_ctl_message, qmgr_ctl_closed, &q);
    for (uint32_t p = 0; p < PEER_N; p++)
        if (st->peer_fd[p] >= 0)
            qmgr_attach(&q, p, st->peer_fd[p]);
    q.tick = event_new(q.base, -1, EV_PERSIST, qmgr_tick_cb, &q);
    evtimer_add(q.tick, &one_second);
    (void)ipc_send(q.ctl, MSG_READY, 0, -1, NULL, 0);
    event_base_dispatch(q.base);
    status = 0;
out:
    /* Close outbound connections (their messages stay queued), finish
     * worker jobs (Maildir writes), let the queue finish its commits; only
     * then can delivery's memory go. */
    if (q.deliver)
        deliver_stop(q.deliver);
    workq_free(q.workers);
    spool_server_free(q.spool);
    metrics_answer_free(q.metrics); /* before delivery, which it reads */
    log_server_free(q.logs);
    if (q.queue)
        queue_set_commit_hook(q.queue, NULL, NULL);
    queue_close(q.queue);
    deliver_free(q.deliver);
    tlsrpt_outbox_free(q.tls_posts); /* before the proxy its POSTs run through */
    outbound_proxy_free(q.outbound);
    msgtrack_close(q.track);
    ipc_chan_free(q.ctl);
    if (q.tick)
        event_free(q.tick);
    config_unref(q.cfg);
    if (q.base)
        event_base_free(q.base);
    free(q.instance_dir);
    if (q.lock_fd >= 0)
        close(q.lock_fd);
    return status;
}
