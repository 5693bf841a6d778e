/*
 * metrics_peer.c — see metrics_peer.h.
 */
#include "receive/metrics_peer.h"
#include "lib/ipc.h"
#include "lib/ipc_buf.h"
#include "lib/log.h"
#include "lib/metrics_catalog.h"
#include "lib/proc.h"
#include "lib/util.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct metrics_peer_req {
    struct metrics_peer_req *next;
    struct metrics_peer *mp;
    uint32_t id;
    metrics_peer_cb *cb;
    void *arg;
    struct event *timer; /* the deadline; at once when there is no channel */
};

struct metrics_peer {
    struct event_base *base;
    struct ipc_chan *ch;
    struct metrics_peer_req *reqs;
    uint32_t next_id;
};

static void
req_unlink(struct metrics_peer_req *req)
{
    for (struct metrics_peer_req **pp = &req->mp->reqs; *pp; pp = &(*pp)->next)
        if (*pp == req) {
            *pp = req->next;
            break;
        }
}

static void
req_free(struct metrics_peer_req *req)
{
    event_free(req->timer);
    free(req);
}

/* Off the list, the callback, freed. */
static void
req_end(struct metrics_peer_req *req, const char *text)
{
    req_unlink(req);
    req->cb(req->arg, text);
    req_free(req);
}

static void
req_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    req_end(arg, NULL);
}

/* Whole lines of text: bytes from 0x20 up (UTF-8 included) but DEL, tabs,
 * each line ended by a newline. */
static bool
text_acceptable(const char *text, size_t len)
{
    if (len > METRICS_QUEUE_TEXT_MAX || (len > 0 && text[len - 1] != '\n'))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

static void
on_message(struct ipc_chan *ch, const struct ipc_msg *m, void *arg)
{
    struct metrics_peer *mp = arg;
    struct metrics_peer_req *req = NULL;
    struct ipc_rbuf r;
    const char *text;

    if (m->fd >= 0)
        close(m->fd);
    if (m->type != MSG_METRICS_TEXT) {
        log_warnx("smtp process: unexpected message %u on the metrics channel", m->type);
        return;
    }
    for (struct metrics_peer_req *q = mp->reqs; q; q = q->next)
        if (q->id == m->id)
            req = q;
    if (req == NULL)
        return; /* timed out or cancelled meanwhile */
    ipc_rbuf_init(&r, m->data, m->len);
    text = ipc_get_str(&r);
    if (!ipc_rbuf_done(&r) || !text_acceptable(text, strlen(text))) {
        log_warnx("smtp process: malformed metrics from the queue process");
        text = NULL;
    }
    req_end(req, text);
}

/* Every request waiting on the channel that is gone ends at once. */
static void
fail_all(struct metrics_peer *mp)
{
    struct timeval now = {0, 0};

    for (struct metrics_peer_req *q = mp->reqs; q; q = q->next)
        evtimer_add(q->timer, &now);
}

static void
on_closed(struct ipc_chan *ch, const char *reason, void *arg)
{
    struct metrics_peer *mp = arg;

    ipc_chan_free(mp->ch);
    mp->ch = NULL;
    fail_all(mp);
}

struct metrics_peer *
metrics_peer_new(struct event_base *base)
{
    struct metrics_peer *mp = xcalloc(1, sizeof(*mp));

    mp->base = base;
    return mp;
}

void
metrics_peer_free(struct metrics_peer *mp)
{
    if (mp == NULL)
        return;
    while (mp->reqs) {
        struct metrics_peer_req *q = mp->reqs;
        mp->reqs = q->next;
        req_free(q);
    }
    ipc_chan_free(mp->ch);
    free(mp);
}

void
metrics_peer_attach(struct metrics_peer *mp, int fd)
{
    if (mp->ch != NULL) {
        ipc_chan_free(mp->ch);
        fail_all(mp);
    }
    mp->ch = ipc_chan_new(mp->base, fd, on_message, on_closed, mp);
}

struct metrics_peer_req *
metrics_peer_get(struct metrics_peer *mp, int timeout_ms, metrics_peer_cb *cb, void *arg)
{
    struct metrics_peer_req *req = xcalloc(1, sizeof(*req));
    struct timeval deadline = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};

    req->mp = mp;
    if (++mp->next_id == 0) /* 0 is never an id */
        mp->next_id = 1;
    req->id = mp->next_id;
    req->cb = cb;
    req->arg = arg;
    req->timer = evtimer_new(mp->base, req_timeout_cb, req);
    req->next = mp->reqs;
    mp->reqs = req;
    if (mp->ch == NULL || ipc_send(mp->ch, MSG_METRICS_GET, req->id, -1, NULL, 0) < 0)
        deadline = (struct timeval){0, 0};
    evtimer_add(req->timer, &deadline);
    return req;
}

void
metrics_peer_cancel(struct metrics_peer_req *req)
{
    if (req == NULL)
        return;
    req_unlink(req);
    req_free(req);
}
