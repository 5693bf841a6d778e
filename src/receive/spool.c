/*
 * spool.c — see spool.h. A message lives in exactly one list at a time:
 * the pool (made by the queue process, not yet used), held (a session
 * writes it), ops (a commit or discard waits for its answer) or done (its
 * callback is due from the deferred event).
 *
 * Must never: write to a descriptor of a message that was committed or
 * dropped, or lose a callback when the channel goes (each pending request
 * is failed exactly once).
 */
#include "receive/spool.h"
#include "lib/fd_writer.h"
#include "lib/ipc.h"
#include "lib/ipc_buf.h"
#include "lib/log.h"
#include "lib/proc.h"
#include "lib/util.h"
#include "queue/envelope.h"
#include "queue/queue.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Files kept ready: enough for a burst of sessions reaching DATA at once
 * between two answers of the queue process. */
#define SPOOL_POOL 8

enum spool_op { OP_NONE, OP_COMMIT, OP_DISCARD };

struct spool_msg {
    struct spool *sp; /* NULL once the spool is freed */
    unsigned gen;     /* the channel it came from */
    int fd;
    char id[QUEUE_ID_LEN + 1];
    int error;
    struct fd_writer out; /* the content, into fd */
    /* a commit or discard waiting for its answer */
    enum spool_op op;
    uint32_t req;
    int result;
    spool_done_cb *cb;
    void *cbarg;
    struct spool_msg *prev, *next;
};

struct spool_wait {
    spool_begin_cb *cb;
    void *arg;
    int error;
    struct spool_wait *next;
};

struct spool {
    struct event_base *base;
    struct ipc_chan *ch;
    unsigned gen; /* changes whenever a channel goes */
    uint32_t last_req;
    struct spool_msg *pool;
    size_t npool;
    size_t nrequested;  /* BEGINs not answered yet */
    bool refill_failed; /* the last BEGIN failed: ask only for waiting sessions */
    struct spool_wait *waits, **waits_tail;
    size_t nwaits;
    struct spool_msg *held, *ops;
    /* failed requests whose callbacks run from the deferred event */
    struct spool_msg *done, **done_tail;
    struct spool_wait *failed, **failed_tail;
    struct event *defer;
};

static void
list_add(struct spool_msg **head, struct spool_msg *m)
{
    m->prev = NULL;
    m->next = *head;
    if (*head)
        (*head)->prev = m;
    *head = m;
}

/* At the end (the pool is short): files go out in the order of their
 * IDs, which then still sort by arrival. */
static void
list_append(struct spool_msg **head, struct spool_msg *m)
{
    struct spool_msg *last = *head;

    while (last != NULL && last->next != NULL)
        last = last->next;
    m->next = NULL;
    m->prev = last;
    if (last)
        last->next = m;
    else
        *head = m;
}

static void
list_del(struct spool_msg **head, struct spool_msg *m)
{
    if (m->prev)
        m->prev->next = m->next;
    else
        *head = m->next;
    if (m->next)
        m->next->prev = m->prev;
    m->prev = m->next = NULL;
}

static void
msg_free(struct spool_msg *m)
{
    if (m->fd >= 0)
        close(m->fd);
    fd_writer_drop(&m->out);
    free(m);
}

static bool
msg_current(const struct spool_msg *m)
{
    return m->sp != NULL && m->sp->ch != NULL && m->gen == m->sp->gen;
}

static uint32_t
next_req(struct spool *sp)
{
    if (++sp->last_req == 0)
        sp->last_req = 1; /* 0 means "no answer" */
    return sp->last_req;
}

/* ---- deferred callbacks ---- */

static void
defer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct spool *sp = arg;

    for (;;) {
        if (sp->done != NULL) {
            struct spool_msg *m = sp->done;
            spool_done_cb *cb = m->cb;
            void *cbarg = m->cbarg;
            int result = m->result;
            if ((sp->done = m->next) == NULL)
                sp->done_tail = &sp->done;
            msg_free(m);
            cb(cbarg, result);
        } else if (sp->failed != NULL) {
            struct spool_wait *w = sp->failed;
            if ((sp->failed = w->next) == NULL)
                sp->failed_tail = &sp->failed;
            w->cb(w->arg, NULL, w->error);
            free(w);
        } else {
            break;
        }
    }
}

static void
defer_op(struct spool *sp, struct spool_msg *m, int result)
{
    m->result = result;
    m->next = NULL;
    *sp->done_tail = m;
    sp->done_tail = &m->next;
    event_active(sp->defer, EV_TIMEOUT, 0);
}

static void
defer_wait(struct spool *sp, struct spool_wait *w, int error)
{
    w->error = error;
    w->next = NULL;
    *sp->failed_tail = w;
    sp->failed_tail = &w->next;
    event_active(sp->defer, EV_TIMEOUT, 0);
}

/* ---- the pool ---- */

static void
top_up(struct spool *sp)
{
    size_t want = sp->nwaits + (sp->refill_failed ? 0 : SPOOL_POOL);

    while (sp->ch != NULL && sp->npool + sp->nrequested < want) {
        if (ipc_send(sp->ch, MSG_SPOOL_BEGIN, next_req(sp), -1, NULL, 0) < 0)
            break; /* the channel is dying: its closed callback follows */
        sp->nrequested++;
    }
}

/* m (current, from the pool or just arrived) goes to a session. */
static void
hand_out(struct spool *sp, struct spool_msg *m)
{
    fd_writer_start(&m->out, m->fd);
    list_add(&sp->held, m);
}

static bool
valid_id(const char *id)
{
    size_t n = strlen(id);

    if (n != QUEUE_ID_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'A' && id[i] <= 'F')))
            return false;
    return true;
}

static void
on_begun(struct spool *sp, const struct ipc_msg *msg)
{
    struct ipc_rbuf r;
    struct spool_msg *m;
    struct spool_wait *w;
    const char *id;

    if (sp->nrequested > 0)
        sp->nrequested--;
    ipc_rbuf_init(&r, msg->data, msg->len);
    if (msg->fd_lost) {
        /* The queue process made the file, but this process had no
         * descriptor left to take it: the file goes back, the waiting
         * session hears a temporary error. */
        struct ipc_wbuf abort = {0};
        id = ipc_get_str(&r);
        if (ipc_rbuf_done(&r) && valid_id(id)) {
            ipc_put_str(&abort, id);
            ipc_put_u32(&abort, EMFILE);
            (void)ipc_send(sp->ch, MSG_SPOOL_ABORT, 0, -1, abort.data, abort.len);
            ipc_wbuf_free(&abort);
        }
        log_warnx("spool: no descriptor left to take a message file");
        sp->refill_failed = true;
        if ((w = sp->waits) != NULL) {
            if ((sp->waits = w->next) == NULL)
                sp->waits_tail = &sp->waits;
            sp->nwaits--;
            w->cb(w->arg, NULL, EMFILE);
            free(w);
        }
        return;
    }
    if (msg->fd < 0) {
        uint32_t e = ipc_get_u32(&r);
        const char *reason = ipc_get_str(&r);
        if (!ipc_rbuf_done(&r) || e == 0)
            e = EPROTO;
        log_warnx("spool: the queue process could not make a message file: %s", reason);
        sp->refill_failed = true;
        if ((w = sp->waits) != NULL) {
            if ((sp->waits = w->next) == NULL)
                sp->waits_tail = &sp->waits;
            sp->nwaits--;
            w->cb(w->arg, NULL, (int)e);
            free(w);
        }
        top_up(sp);
        return;
    }
    id = ipc_get_str(&r);
    if (!ipc_rbuf_done(&r) || !valid_id(id)) {
        log_warnx("spool: malformed message file answer from the queue process");
        close(msg->fd);
        top_up(sp);
        return;
    }
    m = xcalloc(1, sizeof(*m));
    m->sp = sp;
    m->gen = sp->gen;
    m->fd = msg->fd;
    memcpy(m->id, id, sizeof(m->id));
    sp->refill_failed = false;
    if ((w = sp->waits) != NULL) {
        if ((sp->waits = w->next) == NULL)
            sp->waits_tail = &sp->waits;
        sp->nwaits--;
        hand_out(sp, m);
        w->cb(w->arg, m, 0);
        free(w);
    } else {
        list_append(&sp->pool, m);
        sp->npool++;
    }
    top_up(sp);
}

/* ---- answers to commits and discards ---- */

static void
on_answer(struct spool *sp, const struct ipc_msg *msg)
{
    struct spool_msg *m;
    spool_done_cb *cb;
    void *cbarg;
    int result;

    for (m = sp->ops; m != NULL; m = m->next)
        if (m->req == msg->id)
            break;
    if (m == NULL || (m->op == OP_COMMIT) != (msg->type == MSG_SPOOL_COMMITTED)) {
        log_warnx("spool: the queue process answered a request that was not made");
        return;
    }
    if (m->op == OP_COMMIT) {
        struct ipc_rbuf r;
        ipc_rbuf_init(&r, msg->data, msg->len);
        result = (int)ipc_get_u32(&r);
        if (!ipc_rbuf_done(&r))
            result = EPROTO;
    } else {
        result = m->error;
    }
    cb = m->cb;
    cbarg = m->cbarg;
    list_del(&sp->ops, m);
    msg_free(m);
    cb(cbarg, result);
}

static void
handle(struct ipc_chan *ch, const struct ipc_msg *msg, void *arg)
{
    struct spool *sp = arg;

    switch (msg->type) {
    case MSG_SPOOL_BEGUN:
        on_begun(sp, msg);
        return;
    case MSG_SPOOL_COMMITTED:
    case MSG_SPOOL_ABORTED:
        on_answer(sp, msg);
        break;
    default:
        log_warnx("spool: ignored message type %u from the queue process", msg->type);
        break;
    }
    if (msg->fd >= 0)
        close(msg->fd);
}

/* The channel is gone: the queue process removed the files it had given
 * us (or will when it notices), so everything that needs them fails. */
static void
drop_channel(struct spool *sp)
{
    struct spool_msg *m;
    struct spool_wait *w;

    ipc_chan_free(sp->ch);
    sp->ch = NULL;
    sp->gen++;
    while ((m = sp->pool) != NULL) {
        // NOLINTNEXTLINE(clang-analyzer-unix.Malloc): list_del unlinks m before it is freed
        list_del(&sp->pool, m);
        msg_free(m);
    }
    sp->npool = sp->nrequested = 0;
    while ((m = sp->ops) != NULL) {
        list_del(&sp->ops, m);
        defer_op(sp, m, m->op == OP_DISCARD ? m->error : ENOTCONN);
    }
    while ((w = sp->waits) != NULL) {
        sp->waits = w->next;
        defer_wait(sp, w, ENOTCONN);
    }
    sp->waits_tail = &sp->waits;
    sp->nwaits = 0;
    for (m = sp->held; m != NULL; m = m->next)
        if (m->error == 0)
            m->error = ENOTCONN;
}

static void
chan_closed(struct ipc_chan *ch, const char *reason, void *arg)
{
    struct spool *sp = arg;

    log_warnx("spool: the channel to the queue process closed: %s", reason);
    drop_channel(sp);
}

/* ---- the spool ---- */

struct spool *
spool_new(struct event_base *base)
{
    struct spool *sp = xcalloc(1, sizeof(*sp));

    sp->base = base;
    sp->waits_tail = &sp->waits;
    sp->done_tail = &sp->done;
    sp->failed_tail = &sp->failed;
    if ((sp->defer = event_new(base, -1, 0, defer_cb, sp)) == NULL)
        fatalx("spool: cannot create an event");
    return sp;
}

void
spool_free(struct spool *sp)
{
    if (sp == NULL)
        return;
    drop_channel(sp);
    defer_cb(-1, 0, sp);
    for (struct spool_msg *m = sp->held; m != NULL; m = m->next)
        m->sp = NULL;
    event_free(sp->defer);
    free(sp);
}

void
spool_attach(struct spool *sp, int fd)
{
    if (sp->ch != NULL)
        drop_channel(sp);
    sp->ch = ipc_chan_new(sp->base, fd, handle, chan_closed, sp);
    sp->refill_failed = false;
    top_up(sp);
}

bool
spool_has_space(const struct spool *sp, uint64_t size)
{
    /* any file of the queue is on its file system */
    const struct spool_msg *m = sp->pool ? sp->pool : sp->held;

    return queue_fd_has_space(m ? m->fd : -1, size);
}

size_t
spool_pooled(const struct spool *sp)
{
    return sp->npool;
}

/* ---- messages ---- */

struct spool_msg *
spool_msg_begin(struct spool *sp, spool_begin_cb *cb, void *arg)
{
    struct spool_wait *w;
    struct spool_msg *m;

    if ((m = sp->pool) != NULL) {
        list_del(&sp->pool, m);
        sp->npool--;
        hand_out(sp, m);
        top_up(sp);
        return m;
    }
    w = xcalloc(1, sizeof(*w));
    w->cb = cb;
    w->arg = arg;
    if (sp->ch == NULL) {
        defer_wait(sp, w, ENOTCONN);
        return NULL;
    }
    *sp->waits_tail = w;
    sp->waits_tail = &w->next;
    sp->nwaits++;
    top_up(sp);
    return NULL;
}

const char *
spool_msg_id(const struct spool_msg *m)
{
    return m->id;
}

void
spool_msg_write(struct spool_msg *m, const void *data, size_t len)
{
    if (m->error)
        return;
    fd_writer_put(&m->out, data, len);
    m->error = m->out.error;
}

int
spool_msg_error(const struct spool_msg *m)
{
    return m->error;
}

uint64_t
spool_msg_size(const struct spool_msg *m)
{
    return m->out.size;
}

/* Takes m out of the held list and asks the queue process to remove its
 * file; req 0: no answer wanted. False when the channel m came from is
 * gone (the file went with it). */
static bool
send_abort(struct spool_msg *m, uint32_t req)
{
    struct ipc_wbuf w = {0};
    bool sent = false;

    if (m->sp != NULL)
        list_del(&m->sp->held, m);
    if (msg_current(m)) {
        ipc_put_str(&w, m->id);
        ipc_put_u32(&w, (uint32_t)m->error);
        sent = ipc_send(m->sp->ch, MSG_SPOOL_ABORT, req, -1, w.data, w.len) == 0;
        ipc_wbuf_free(&w);
    }
    close(m->fd);
    m->fd = -1;
    fd_writer_drop(&m->out);
    return sent;
}

void
spool_msg_abort(struct spool_msg *m)
{
    if (m == NULL)
        return;
    (void)send_abort(m, 0);
    msg_free(m);
}

/* m waits for the answer to req, or fails later with result when req
 * could not be sent. */
static void
await(struct spool_msg *m, enum spool_op op, uint32_t req, bool sent, int result, spool_done_cb *cb,
      void *arg)
{
    m->op = op;
    m->req = req;
    m->cb = cb;
    m->cbarg = arg;
    if (m->sp == NULL) {
        /* after spool_free: nothing is left to defer to */
        msg_free(m);
        cb(arg, result);
    } else if (sent) {
        list_add(&m->sp->ops, m);
    } else {
        defer_op(m->sp, m, result);
    }
}

void
spool_msg_discard(struct spool_msg *m, spool_done_cb *cb, void *arg)
{
    uint32_t req = m->sp ? next_req(m->sp) : 0;
    bool sent = send_abort(m, req);

    await(m, OP_DISCARD, req, sent, m->error, cb, arg);
}

void
spool_msg_commit(struct spool_msg *m, struct envelope *env, spool_done_cb *cb, void *arg)
{
    struct ipc_wbuf w = {0};
    uint32_t req = 0;
    bool sent = false;
    char *text;
    size_t len;

    if (fd_writer_finish(&m->out) != 0 && m->error == 0)
        m->error = m->out.error;
    if (m->sp != NULL)
        list_del(&m->sp->held, m);
    memcpy(env->id, m->id, sizeof(env->id));
    env->size = m->out.size;
    if (msg_current(m)) {
        text = envelope_serialize(env, &len);
        req = next_req(m->sp);
        ipc_put_str(&w, m->id);
        ipc_put_u32(&w, (uint32_t)m->error);
        ipc_put_u64(&w, m->out.size);
        ipc_put_bytes(&w, text, len);
        sent = ipc_send(m->sp->ch, MSG_SPOOL_COMMIT, req, -1, w.data, w.len) == 0;
        ipc_wbuf_free(&w);
        free(text);
    }
    envelope_free(env);
    /* the queue process fsyncs its own descriptor of the same file */
    close(m->fd);
    m->fd = -1;
    await(m, OP_COMMIT, req, sent, ENOTCONN, cb, arg);
}
