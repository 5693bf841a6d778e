/*
 * metrics_http.c — see metrics_http.h.
 */
#include "receive/metrics_http.h"
#include "lib/log.h"
#include "lib/metrics_catalog.h"
#include "lib/strbuf.h"
#include "lib/util.h"
#include "receive/accept_set.h"
#include "receive/metrics_peer.h"
#include "receive/metrics_request.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* After the answer: how long the client has to read it, and how much of
 * what it still sends is read and dropped before the close (a close with
 * unread input would reset the connection and could cut the answer). */
#define METRICS_HTTP_LINGER 5
#define METRICS_HTTP_DRAIN_MAX (64 * 1024)

struct mconn {
    struct mconn *prev, *next;
    struct metrics_http *mh;
    struct bufferevent *bev;
    struct event *deadline;
    struct metrics_peer_req *req; /* waiting for the queue process's part */
    size_t scanned;               /* of the request (metrics_request_status) */
    bool answered;                /* the answer is queued: close once written */
    bool shut;                    /* written and shut down for writing: draining */
    size_t drained;
};

struct metrics_http {
    struct event_base *base;
    struct accept_set *accepts;
    struct metrics_peer *peer;
    void (*collect)(void *arg);
    void *arg;
    struct mconn *conns;
    size_t nconns;
};

static const char content_type[] = "text/plain; version=0.0.4; charset=utf-8";

static void
conn_free(struct mconn *c)
{
    struct metrics_http *mh = c->mh;

    metrics_peer_cancel(c->req);
    if (c->prev)
        c->prev->next = c->next;
    else
        mh->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    mh->nconns--;
    bufferevent_free(c->bev);
    event_free(c->deadline);
    free(c);
}

static void
free_body(const void *data, size_t len, void *arg)
{
    free((void *)data);
}

/* Queues the answer (body: malloc'd, handed over; NULL: the reason as
 * text) and stops reading; conn_write_cb closes once it is out. */
static void
respond(struct mconn *c, int status, char *body, size_t len)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    const char *reason = metrics_request_reason(status);
    char code[8];

    if (body == NULL) {
        body = status == 405
                   ? xasprintf("%d %s: only GET /metrics is served here\n", status, reason)
               : status == 404 ? xasprintf("%d %s: only /metrics is served here\n", status, reason)
                               : xasprintf("%d %s\n", status, reason);
        len = strlen(body);
    }
    snprintf(code, sizeof(code), "%d", status);
    if (status != 200) /* a 200 counted itself before it was rendered */
        metric_inc(MET_METRICS_REQUESTS, METRIC_L(code));
    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                        "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n",
                        status, reason, status == 200 ? content_type : "text/plain; charset=utf-8",
                        len, status == 405 ? "Allow: GET\r\n" : "");
    evbuffer_add_reference(out, body, len, free_body, NULL);
    c->answered = true;
    bufferevent_disable(c->bev, EV_READ);
    bufferevent_enable(c->bev, EV_WRITE);
}

/* The queue process's part has come (or not): the whole answer. */
static void
on_queue_text(void *arg, const char *text)
{
    struct mconn *c = arg;
    struct strbuf body = {0};

    c->req = NULL;
    if (c->mh->collect)
        c->mh->collect(c->mh->arg);
    metric_set(MET_METRICS_QUEUE_UP, NULL, text != NULL);
    metric_inc(MET_METRICS_REQUESTS, METRIC_L("200")); /* this scrape counts itself */
    metrics_process_render(&body);
    if (text != NULL)
        strbuf_puts(&body, text);
    {
        size_t len = body.len;
        respond(c, 200, strbuf_take(&body), len);
    }
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct mconn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    int status;

    if (c->shut) { /* the answer is out: what still comes is dropped */
        c->drained += len;
        evbuffer_drain(in, len);
        if (c->drained > METRICS_HTTP_DRAIN_MAX)
            conn_free(c);
        return;
    }
    if (c->answered || c->req != NULL)
        return;
    status = metrics_request_status((const char *)evbuffer_pullup(in, -1), len, &c->scanned);
    if (status == 0)
        return;
    if (status != 200) {
        respond(c, status, NULL, 0);
        return;
    }
    bufferevent_disable(bev, EV_READ); /* one request per connection */
    c->req = metrics_peer_get(c->mh->peer, METRICS_HTTP_QUEUE_WAIT_MS, on_queue_text, c);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
    struct mconn *c = arg;
    struct timeval linger = {METRICS_HTTP_LINGER, 0};

    if (!c->answered || c->shut || evbuffer_get_length(bufferevent_get_output(bev)) > 0)
        return;
    /* All written: say so with a FIN, then read until the client closes
     * (or the linger ends), so that its unread input cannot reset the
     * connection before it has read the answer. */
    c->shut = true;
    (void)shutdown(bufferevent_getfd(bev), SHUT_WR);
    bufferevent_setwatermark(bev, EV_READ, 0, 0);
    bufferevent_enable(bev, EV_READ);
    evtimer_add(c->deadline, &linger);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    /* end of input or an error: nothing more can be said on it */
    conn_free(arg);
}

static void
conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct mconn *c = arg;
    struct timeval linger = {METRICS_HTTP_LINGER, 0};

    if (c->answered) {
        conn_free(c); /* it did not read the answer, or did not close, in time */
        return;
    }
    if (c->req != NULL) { /* a whole request: served without the queue's part */
        metrics_peer_cancel(c->req);
        on_queue_text(c, NULL);
    } else {
        respond(c, 408, NULL, 0);
    }
    evtimer_add(c->deadline, &linger);
}

/* Over the cap: told so at once, without reading it. */
static void
refuse_busy(int fd)
{
    static const char body[] = "503 Service Unavailable: too many scrapes at once\n";
    char text[300];
    int n = snprintf(text, sizeof(text),
                     "HTTP/1.1 503 %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s",
                     metrics_request_reason(503), strlen(body), body);

    metric_inc(MET_METRICS_REQUESTS, METRIC_L("503"));
    (void)!send(fd, text, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    close(fd);
}

static void
metrics_accept(void *arg, int fd, const struct sockaddr *remote, int remote_len)
{
    struct metrics_http *mh = arg;
    struct timeval deadline = {METRICS_HTTP_TIMEOUT, 0};
    struct mconn *c;

    if (mh->nconns >= METRICS_HTTP_CONNECTIONS) {
        refuse_busy(fd);
        return;
    }
    evutil_make_socket_nonblocking(fd);
    c = xcalloc(1, sizeof(*c));
    c->mh = mh;
    c->bev = bufferevent_socket_new(mh->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        close(fd);
        free(c);
        return;
    }
    c->deadline = evtimer_new(mh->base, conn_deadline_cb, c);
    c->next = mh->conns;
    if (c->next)
        c->next->prev = c;
    mh->conns = c;
    mh->nconns++;
    /* the request is read up to one byte past its bound, never further */
    bufferevent_setwatermark(c->bev, EV_READ, 0, METRICS_HTTP_REQUEST_MAX + 1);
    bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    bufferevent_enable(c->bev, EV_READ);
    evtimer_add(c->deadline, &deadline);
}

struct metrics_http *
metrics_http_new(struct event_base *base, struct metrics_peer *peer, void (*collect)(void *arg),
                 void *arg)
{
    struct metrics_http *mh = xcalloc(1, sizeof(*mh));

    mh->base = base;
    mh->peer = peer;
    mh->collect = collect;
    mh->arg = arg;
    mh->accepts = accept_set_new(base, metrics_accept, mh);
    return mh;
}

void
metrics_http_listen(struct metrics_http *mh, const struct listen_socket *socks, size_t n)
{
    accept_set_replace(mh->accepts, socks, n);
}

void
metrics_http_free(struct metrics_http *mh)
{
    if (mh == NULL)
        return;
    accept_set_free(mh->accepts);
    for (struct mconn *c = mh->conns, *next; c != NULL; c = next) {
        next = c->next; /* c goes */
        conn_free(c);
    }
    free(mh);
}
