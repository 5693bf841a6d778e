/*
 * outbound_proxy.c — see outbound_proxy.h.
 */
#include "qmgr/outbound_proxy.h"
#include "qmgr/post_proxy.h"
#include "lib/ipc.h"
#include "lib/ipc_buf.h"
#include "lib/log.h"
#include "lib/proc.h"
#include "lib/util.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct proxy_conn {
    struct proxy_conn *prev, *next;
    struct outbound_proxy *op;
    uint32_t id;
    const struct outbound_events *ev;
    void *arg;
    char relay[400];
    char tls[160]; /* outbound_tls of the smtp process's connection */
    bool ever_ready;
    size_t in_flight;   /* recipients of the transaction sent, 0: none */
    struct event *lost; /* finishes a connection that had no channel */
};

struct outbound_proxy {
    struct event_base *base;
    struct ipc_chan *ch;
    struct proxy_conn *conns;
    uint32_t next_id;
    struct post_proxy *posts; /* TLS reports POSTed (post_proxy.h) */
};

static void
conn_unlink(struct proxy_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->op->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void
conn_free(struct proxy_conn *c)
{
    if (c->lost)
        event_free(c->lost);
    free(c);
}

static struct proxy_conn *
conn_find(struct outbound_proxy *op, uint32_t id)
{
    for (struct proxy_conn *c = op->conns; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

/* The connection is over: unlinked, then its finished event, then freed. */
static void
conn_finish(struct proxy_conn *c, bool permanent, const char *error, const char *relay)
{
    struct outbound_end end;

    memset(&end, 0, sizeof(end));
    end.ever_ready = c->ever_ready;
    end.permanent = permanent;
    strlcpy_p(end.error, error, sizeof(end.error));
    strlcpy_p(end.relay, relay ? relay : c->relay, sizeof(end.relay));
    conn_unlink(c);
    c->ev->finished(c->arg, &end);
    conn_free(c);
}

static void
conn_lost_cb(evutil_socket_t fd, short what, void *arg)
{
    conn_finish(arg, false, "the smtp process is not running", NULL);
}

static void
proxy_message(struct ipc_chan *ch, const struct ipc_msg *m, void *arg)
{
    struct outbound_proxy *op = arg;
    struct proxy_conn *c = conn_find(op, m->id);
    struct ipc_rbuf r;

    if (m->fd >= 0)
        close(m->fd);
    if (m->type == MSG_OUT_POSTED) {
        post_proxy_answer(op->posts, m);
        return;
    }
    if (c == NULL)
        return; /* aborted meanwhile */
    ipc_rbuf_init(&r, m->data, m->len);
    switch (m->type) {
    case MSG_OUT_READY: {
        const char *relay = ipc_get_str(&r), *tls = ipc_get_str(&r);
        if (!ipc_rbuf_done(&r) || c->in_flight || str_has_control(tls)) {
            conn_finish(c, false, "malformed answer from the smtp process", NULL);
            return;
        }
        strlcpy_p(c->relay, relay, sizeof(c->relay));
        strlcpy_p(c->tls, tls, sizeof(c->tls));
        c->ever_ready = true;
        c->ev->ready(c->arg);
        return;
    }
    case MSG_OUT_DONE: {
        uint32_t n = ipc_get_u32(&r);
        struct smtp_result *res;
        if (!ipc_rbuf_ok(&r) || n != c->in_flight) {
            conn_finish(c, false, "malformed answer from the smtp process", NULL);
            return;
        }
        res = xcalloc(n, sizeof(*res));
        for (uint32_t i = 0; i < n; i++) {
            res[i].code = (int)ipc_get_u32(&r);
            res[i].temporary = ipc_get_u32(&r) != 0;
            res[i].tls_failed = ipc_get_u32(&r) != 0;
            strlcpy_p(res[i].text, ipc_get_str(&r), sizeof(res[i].text));
            if (res[i].code < 0 || res[i].code > 599)
                r.err = true;
        }
        strlcpy_p(c->relay, ipc_get_str(&r), sizeof(c->relay));
        if (!ipc_rbuf_done(&r)) {
            free(res);
            conn_finish(c, false, "malformed answer from the smtp process", NULL);
            return;
        }
        c->in_flight = 0;
        c->ev->done(c->arg, res, n);
        free(res);
        return;
    }
    case MSG_OUT_FINISHED: {
        uint32_t permanent = ipc_get_u32(&r);
        const char *error = ipc_get_str(&r), *relay = ipc_get_str(&r);
        if (!ipc_rbuf_done(&r))
            conn_finish(c, false, "malformed answer from the smtp process", NULL);
        else
            conn_finish(c, permanent != 0 && !c->ever_ready, error, relay);
        return;
    }
    case MSG_OUT_STS: {
        const char *policy = ipc_get_str(&r);
        /* the queue checks the text before it keeps it */
        if (ipc_rbuf_done(&r) && c->ev->sts_policy != NULL)
            c->ev->sts_policy(c->arg, policy);
        return;
    }
    case MSG_OUT_TLSRPT: {
        const char *json = ipc_get_str(&r);
        /* the queue checks what it counts */
        if (ipc_rbuf_done(&r) && c->ev->tls_result != NULL)
            c->ev->tls_result(c->arg, json);
        return;
    }
    default:
        log_warnx("queue process: unexpected message %u on the outbound channel", m->type);
        return;
    }
}

/* Every connection of the lost channel finishes with a temporary error:
 * its messages wait for their retry. */
static void
proxy_closed(struct ipc_chan *ch, const char *reason, void *arg)
{
    struct outbound_proxy *op = arg;

    ipc_chan_free(op->ch);
    op->ch = NULL;
    post_proxy_lost(op->posts);
    while (op->conns)
        // NOLINTNEXTLINE(clang-analyzer-unix.Malloc): conn_finish unlinks the head first
        conn_finish(op->conns, false, "lost the smtp process", NULL);
}

struct outbound_proxy *
outbound_proxy_new(struct event_base *base)
{
    struct outbound_proxy *op = xcalloc(1, sizeof(*op));

    op->base = base;
    op->posts = post_proxy_new(base);
    return op;
}

void
outbound_proxy_attach(struct outbound_proxy *op, int fd)
{
    if (op->ch)
        proxy_closed(op->ch, "replaced", op);
    op->ch = ipc_chan_new(op->base, fd, proxy_message, proxy_closed, op);
}

void
outbound_proxy_free(struct outbound_proxy *op)
{
    if (op == NULL)
        return;
    while (op->conns) {
        struct proxy_conn *c = op->conns;
        /* the analyzer cannot tell that c->op is op, so it misses that
         * conn_unlink took c off op->conns */
        // NOLINTNEXTLINE(clang-analyzer-unix.Malloc)
        conn_unlink(c);
        conn_free(c);
    }
    post_proxy_free(op->posts);
    ipc_chan_free(op->ch);
    free(op);
}

static void *
proxy_open(void *ops_arg, const struct route_policy *p, const struct outbound_events *ev, void *arg)
{
    struct outbound_proxy *op = ops_arg;
    struct proxy_conn *c = xcalloc(1, sizeof(*c));
    unsigned char *policy;
    size_t len;

    c->op = op;
    c->id = ++op->next_id;
    c->ev = ev;
    c->arg = arg;
    c->next = op->conns;
    if (c->next)
        c->next->prev = c;
    op->conns = c;
    policy = route_policy_encode(p, &len);
    if (op->ch == NULL || ipc_send(op->ch, MSG_OUT_OPEN, c->id, -1, policy, len) < 0) {
        struct timeval now = {0, 0};
        c->lost = evtimer_new(op->base, conn_lost_cb, c);
        evtimer_add(c->lost, &now);
    }
    free(policy);
    return c;
}

static void
proxy_send(void *conn, const struct envelope *env, const size_t *rcpt_index, size_t n,
           int content_fd)
{
    struct proxy_conn *c = conn;
    struct ipc_wbuf w = {0};
    size_t len;
    char *text = envelope_serialize(env, &len);

    ipc_put_bytes(&w, text, len);
    ipc_put_u32(&w, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        ipc_put_u32(&w, (uint32_t)rcpt_index[i]);
    c->in_flight = n;
    if (c->op->ch == NULL ||
        ipc_send(c->op->ch, MSG_OUT_SEND, c->id, content_fd, w.data, w.len) < 0) {
        /* the channel is gone: proxy_closed finishes c from the loop */
        if (c->lost == NULL) {
            struct timeval now = {0, 0};
            c->lost = evtimer_new(c->op->base, conn_lost_cb, c);
            evtimer_add(c->lost, &now);
        }
    }
    free(text);
    ipc_wbuf_free(&w);
}

static void
proxy_quit(void *conn)
{
    struct proxy_conn *c = conn;

    if (c->op->ch)
        (void)ipc_send(c->op->ch, MSG_OUT_QUIT, c->id, -1, NULL, 0);
}

static void
proxy_abort(void *conn)
{
    struct proxy_conn *c = conn;

    if (c->op->ch)
        (void)ipc_send(c->op->ch, MSG_OUT_ABORT, c->id, -1, NULL, 0);
    conn_unlink(c);
    conn_free(c);
}

static const char *
proxy_relay(const void *conn)
{
    const struct proxy_conn *c = conn;

    return c->relay;
}

static const char *
proxy_tls(const void *conn)
{
    const struct proxy_conn *c = conn;

    return c->tls;
}

static void *
proxy_post(void *ops_arg, const char *uri, const char *content_type, const void *body, size_t len,
           outbound_post_cb *cb, void *arg)
{
    struct outbound_proxy *op = ops_arg;

    return post_proxy_start(op->posts, op->ch, uri, content_type, body, len, cb, arg);
}

static void
proxy_post_cancel(void *ops_arg, void *post)
{
    struct outbound_proxy *op = ops_arg;

    post_proxy_cancel(op->posts, op->ch, post);
}

const struct outbound_ops outbound_proxy_ops = {
    .open = proxy_open,
    .send = proxy_send,
    .quit = proxy_quit,
    .abort = proxy_abort,
    .relay = proxy_relay,
    .tls = proxy_tls,
    .post = proxy_post,
    .post_cancel = proxy_post_cancel,
};
