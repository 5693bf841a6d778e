/*
 * post_proxy.c — see post_proxy.h.
 */
#include "qmgr/post_proxy.h"
#include "lib/ipc.h"
#include "lib/ipc_buf.h"
#include "lib/log.h"
#include "lib/proc.h"
#include "lib/util.h"

#include <event2/event.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The longest reason kept from the smtp process. */
#define POST_WHY_MAX 600

struct proxy_post {
    struct proxy_post *next;
    struct post_proxy *pp;
    uint32_t id;
    outbound_post_cb *cb;
    void *arg;
    struct event *lost; /* fails a POST that had no channel, from the loop */
};

struct post_proxy {
    struct event_base *base;
    struct proxy_post *posts;
    uint32_t next_id;
};

/* Takes p off the list; false when it is not on it. */
static bool
unlink_post(struct post_proxy *pp, struct proxy_post *p)
{
    for (struct proxy_post **pq = &pp->posts; *pq; pq = &(*pq)->next)
        if (*pq == p) {
            *pq = p->next;
            p->next = NULL;
            return true;
        }
    return false;
}

static void
post_free(struct proxy_post *p)
{
    if (p->lost != NULL)
        event_free(p->lost);
    free(p);
}

/* Off the list, then the callback, then freed. */
static void
post_end(struct proxy_post *p, int status, const char *why)
{
    (void)unlink_post(p->pp, p);
    p->cb(p->arg, status, why);
    post_free(p);
}

static void
lost_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    post_end(arg, 0, "the smtp process is not running");
}

struct post_proxy *
post_proxy_new(struct event_base *base)
{
    struct post_proxy *pp = xcalloc(1, sizeof(*pp));

    pp->base = base;
    return pp;
}

void
post_proxy_free(struct post_proxy *pp)
{
    if (pp == NULL)
        return;
    while (pp->posts) {
        struct proxy_post *p = pp->posts;
        pp->posts = p->next;
        post_free(p);
    }
    free(pp);
}

void *
post_proxy_start(struct post_proxy *pp, struct ipc_chan *ch, const char *uri,
                 const char *content_type, const void *body, size_t len, outbound_post_cb *cb,
                 void *arg)
{
    struct proxy_post *p = xcalloc(1, sizeof(*p));
    struct ipc_wbuf w = {0};

    p->pp = pp;
    if (++pp->next_id == 0) /* 0 is never an id */
        pp->next_id = 1;
    p->id = pp->next_id;
    p->cb = cb;
    p->arg = arg;
    p->next = pp->posts;
    pp->posts = p;
    ipc_put_str(&w, uri);
    ipc_put_str(&w, content_type);
    ipc_put_bytes(&w, body, len);
    if (ch == NULL || ipc_send(ch, MSG_OUT_POST, p->id, -1, w.data, w.len) < 0) {
        struct timeval now = {0, 0};
        p->lost = evtimer_new(pp->base, lost_cb, p);
        evtimer_add(p->lost, &now);
    }
    ipc_wbuf_free(&w);
    return p;
}

void
post_proxy_cancel(struct post_proxy *pp, struct ipc_chan *ch, void *post)
{
    struct proxy_post *p = post;

    if (p == NULL || !unlink_post(pp, p))
        return;
    if (ch != NULL && p->lost == NULL)
        (void)ipc_send(ch, MSG_OUT_POST_CANCEL, p->id, -1, NULL, 0);
    post_free(p);
}

void
post_proxy_answer(struct post_proxy *pp, const struct ipc_msg *m)
{
    struct proxy_post *p = NULL;
    struct ipc_rbuf r;
    uint32_t status;
    const char *why;
    char text[POST_WHY_MAX];

    for (struct proxy_post *q = pp->posts; q; q = q->next)
        if (q->id == m->id && q->lost == NULL)
            p = q;
    if (p == NULL)
        return; /* cancelled meanwhile */
    ipc_rbuf_init(&r, m->data, m->len);
    status = ipc_get_u32(&r);
    why = ipc_get_str(&r);
    if (!ipc_rbuf_done(&r) || (status != 0 && (status < 100 || status > 599)) ||
        str_has_control(why) || (status == 0 && why[0] == '\0')) {
        log_warnx("queue process: malformed POST answer from the smtp process");
        post_end(p, 0, "malformed answer from the smtp process");
        return;
    }
    strlcpy_p(text, why, sizeof(text));
    post_end(p, (int)status, text);
}

void
post_proxy_lost(struct post_proxy *pp)
{
    /* each callback may start another POST: the list is taken first */
    struct proxy_post *all = pp->posts;

    pp->posts = NULL;
    while (all) {
        struct proxy_post *p = all;
        all = p->next;
        p->next = NULL;
        p->cb(p->arg, 0, "lost the smtp process");
        post_free(p);
    }
}
