/*
 * spool_server.c — see spool_server.h. One request at a time, in the order
 * the channel delivers them: a USE is always handled before the COMMIT of
 * the same message, which the client sends after it.
 *
 * Must never: trust a length, an ID or an errno from the peer without
 * checking it, or touch ss from a commit that completes after ss is gone
 * (commits in flight are detached, not cancelled).
 */
#include "queue/spool_server.h"
#include "lib/ipc.h"
#include "lib/ipc_buf.h"
#include "lib/log.h"
#include "lib/proc.h"
#include "lib/util.h"
#include "queue/queue.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Messages one channel may hold at once (pooled and being written): the
 * smtp process needs one per session in DATA plus its pool; a peer asking
 * for more is refused rather than allowed to fill the disk with files. */
#define SPOOL_SERVER_MAX_MSGS 8192

struct spool_entry {
    struct queue_msg *m;
    char id[QUEUE_ID_LEN + 1];
    struct spool_entry *prev, *next;
};

/* A commit handed to the queue; ss is NULL once the channel is gone. */
struct spool_commit {
    struct spool_server *ss;
    uint32_t req;
    struct spool_commit *prev, *next;
};

struct spool_server {
    struct queue *q;
    struct ipc_chan *ch;
    struct spool_entry *msgs;
    size_t nmsgs;
    struct spool_commit *commits;
    size_t ncommits;
    spool_server_closed_fn *closed;
    void *closed_arg;
};

static struct spool_entry *
find_msg(struct spool_server *ss, const char *id)
{
    for (struct spool_entry *e = ss->msgs; e; e = e->next)
        if (strcmp(e->id, id) == 0)
            return e;
    return NULL;
}

/* Takes e out of the channel's messages; the caller owns e->m then. */
static struct queue_msg *
take_msg(struct spool_server *ss, struct spool_entry *e)
{
    struct queue_msg *m = e->m;

    if (e->prev)
        e->prev->next = e->next;
    else
        ss->msgs = e->next;
    if (e->next)
        e->next->prev = e->prev;
    ss->nmsgs--;
    free(e);
    return m;
}

/* An errno fit to go back in an answer: the peer's own numbers are only
 * passed on when they look like one. */
static uint32_t
sane_errno(uint32_t e)
{
    return e > 0 && e < 4096 ? e : EIO;
}

static void
send_errno(struct spool_server *ss, uint32_t type, uint32_t req, int e)
{
    struct ipc_wbuf w = {0};

    ipc_put_u32(&w, (uint32_t)e);
    (void)ipc_send(ss->ch, type, req, -1, w.data, w.len);
    ipc_wbuf_free(&w);
}

static void
begun_error(struct spool_server *ss, uint32_t req, int e, const char *reason)
{
    struct ipc_wbuf w = {0};

    ipc_put_u32(&w, (uint32_t)e);
    ipc_put_str(&w, reason);
    (void)ipc_send(ss->ch, MSG_SPOOL_BEGUN, req, -1, w.data, w.len);
    ipc_wbuf_free(&w);
}

static void
on_begin(struct spool_server *ss, const struct ipc_msg *msg)
{
    struct spool_entry *ent;
    struct queue_msg *m;
    struct ipc_wbuf w = {0};
    char err[256];
    int fd;

    if (msg->len != 0) {
        begun_error(ss, msg->id, EINVAL, "malformed request");
        return;
    }
    if (ss->nmsgs >= SPOOL_SERVER_MAX_MSGS) {
        log_warnx("spool: the smtp process holds %zu message files already: refused another",
                  ss->nmsgs);
        begun_error(ss, msg->id, EMFILE, "too many messages in progress");
        return;
    }
    if ((m = queue_msg_reserve(ss->q, err, sizeof(err))) == NULL) {
        int e = errno;
        log_warnx("queue: %s", err);
        begun_error(ss, msg->id, e ? e : EIO, err);
        return;
    }
    /* (the file is open for appending: queue_msg_reserve) */
    fd = fcntl(queue_msg_fd(m), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        log_warn("spool: cannot hand on message file %s", queue_msg_id(m));
        queue_msg_abort(m);
        begun_error(ss, msg->id, e, "cannot hand on the message file");
        return;
    }
    ent = xcalloc(1, sizeof(*ent));
    ent->m = m;
    strlcpy_p(ent->id, queue_msg_id(m), sizeof(ent->id));
    ent->next = ss->msgs;
    if (ent->next)
        ent->next->prev = ent;
    ss->msgs = ent;
    ss->nmsgs++;
    ipc_put_str(&w, ent->id);
    (void)ipc_send(ss->ch, MSG_SPOOL_BEGUN, msg->id, fd, w.data, w.len);
    ipc_wbuf_free(&w);
}

static void
on_abort(struct spool_server *ss, const struct ipc_msg *msg)
{
    struct ipc_rbuf r;
    const char *id;
    uint32_t werr;
    struct spool_entry *e;

    ipc_rbuf_init(&r, msg->data, msg->len);
    id = ipc_get_str(&r);
    werr = ipc_get_u32(&r);
    if (ipc_rbuf_done(&r) && (e = find_msg(ss, id)) != NULL) {
        struct queue_msg *m = take_msg(ss, e);
        if (werr != 0)
            queue_msg_set_error(m, (int)sane_errno(werr));
        queue_msg_abort(m);
    }
    /* answered in any case: the file is not there (any more) */
    if (msg->id != 0)
        (void)ipc_send(ss->ch, MSG_SPOOL_ABORTED, msg->id, -1, NULL, 0);
}

static void
commit_done(void *arg, int error)
{
    struct spool_commit *c = arg;
    struct spool_server *ss = c->ss;

    if (ss != NULL) {
        if (c->prev)
            c->prev->next = c->next;
        else
            ss->commits = c->next;
        if (c->next)
            c->next->prev = c->prev;
        ss->ncommits--;
        send_errno(ss, MSG_SPOOL_COMMITTED, c->req, error);
    }
    free(c);
}

/* What the smtp process may say about a message is what a new one has:
 * its delivery state starts empty here, whatever the text claimed. */
static void
envelope_reset_delivery(struct envelope *env)
{
    for (size_t i = 0; i < env->nrcpts; i++) {
        env->rcpts[i].status = RCPT_READY;
        free(env->rcpts[i].last_error);
        env->rcpts[i].last_error = NULL;
    }
    env->attempts = 0;
    env->next_attempt = 0;
    env->delay_notified = false;
    env->suspended = false;
}

static void
on_commit(struct spool_server *ss, const struct ipc_msg *msg)
{
    struct ipc_rbuf r;
    const char *id, *text;
    uint32_t werr;
    uint64_t size;
    size_t textlen;
    struct spool_entry *e;
    struct queue_msg *m;
    struct envelope *env;
    struct spool_commit *c;
    struct stat st;
    char err[256];

    ipc_rbuf_init(&r, msg->data, msg->len);
    id = ipc_get_str(&r);
    werr = ipc_get_u32(&r);
    size = ipc_get_u64(&r);
    text = ipc_get_bytes(&r, &textlen);
    if (!ipc_rbuf_done(&r)) {
        log_warnx("spool: malformed commit request from the smtp process");
        send_errno(ss, MSG_SPOOL_COMMITTED, msg->id, EINVAL);
        return;
    }
    if ((e = find_msg(ss, id)) == NULL) {
        /* unknown, another channel's, or committed already */
        log_warnx("spool: the smtp process asked to commit a message it does not hold");
        send_errno(ss, MSG_SPOOL_COMMITTED, msg->id, ENOENT);
        return;
    }
    m = take_msg(ss, e); /* from here on, it is committed or removed: never twice */
    if (werr != 0) {
        queue_msg_set_error(m, (int)sane_errno(werr));
        queue_msg_abort(m);
        send_errno(ss, MSG_SPOOL_COMMITTED, msg->id, (int)sane_errno(werr));
        return;
    }
    if ((env = envelope_parse(text, textlen, err, sizeof(err))) == NULL || env->nrcpts == 0) {
        log_warnx("spool: refused the envelope of message %s from the smtp process: %s",
                  queue_msg_id(m), env ? "no recipients" : err);
        envelope_free(env);
        queue_msg_abort(m);
        send_errno(ss, MSG_SPOOL_COMMITTED, msg->id, EINVAL);
        return;
    }
    if (fstat(queue_msg_fd(m), &st) < 0)
        st.st_size = -1;
    if ((uint64_t)st.st_size != size) {
        log_warnx("spool: message %s holds %lld bytes, the smtp process wrote %llu",
                  queue_msg_id(m), (long long)st.st_size, (unsigned long long)size);
        envelope_free(env);
        queue_msg_abort(m);
        send_errno(ss, MSG_SPOOL_COMMITTED, msg->id, EIO);
        return;
    }
    envelope_reset_delivery(env);
    c = xcalloc(1, sizeof(*c));
    c->ss = ss;
    c->req = msg->id;
    c->next = ss->commits;
    if (c->next)
        c->next->prev = c;
    ss->commits = c;
    ss->ncommits++;
    queue_msg_commit(m, env, commit_done, c);
}

static void
handle(struct ipc_chan *ch, const struct ipc_msg *msg, void *arg)
{
    struct spool_server *ss = arg;

    if (msg->fd >= 0)
        close(msg->fd); /* nothing the smtp process sends carries one */
    switch (msg->type) {
    case MSG_SPOOL_BEGIN:
        on_begin(ss, msg);
        break;
    case MSG_SPOOL_COMMIT:
        on_commit(ss, msg);
        break;
    case MSG_SPOOL_ABORT:
        on_abort(ss, msg);
        break;
    default:
        log_warnx("spool: ignored message type %u from the smtp process", msg->type);
        break;
    }
}

/* Removes what the channel had not committed and lets its commits finish
 * unanswered. */
static void
release(struct spool_server *ss)
{
    while (ss->msgs)
        // NOLINTNEXTLINE(clang-analyzer-unix.Malloc): take_msg unlinks the head first
        queue_msg_abort(take_msg(ss, ss->msgs));
    for (struct spool_commit *c = ss->commits, *next; c; c = next) {
        next = c->next;
        c->ss = NULL;
        c->prev = c->next = NULL;
    }
    ss->commits = NULL;
    ss->ncommits = 0;
    ipc_chan_free(ss->ch);
    ss->ch = NULL;
}

static void
chan_closed(struct ipc_chan *ch, const char *reason, void *arg)
{
    struct spool_server *ss = arg;
    size_t n = ss->nmsgs;

    release(ss);
    if (n > 0)
        log_info("spool: channel closed (%s): removed %zu message(s) in progress", reason, n);
    if (ss->closed)
        ss->closed(ss, reason, ss->closed_arg);
}

struct spool_server *
spool_server_new(struct event_base *base, struct queue *q, int fd, spool_server_closed_fn *closed,
                 void *arg)
{
    struct spool_server *ss = xcalloc(1, sizeof(*ss));

    ss->q = q;
    ss->closed = closed;
    ss->closed_arg = arg;
    ss->ch = ipc_chan_new(base, fd, handle, chan_closed, ss);
    return ss;
}

void
spool_server_free(struct spool_server *ss)
{
    if (ss == NULL)
        return;
    release(ss);
    free(ss);
}

size_t
spool_server_messages(const struct spool_server *ss)
{
    return ss->nmsgs;
}

size_t
spool_server_commits(const struct spool_server *ss)
{
    return ss->ncommits;
}
