/*
 * accept_set.c — see accept_set.h.
 */
#include "receive/accept_set.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ACCEPT_PAUSE_MS 250

struct acceptor {
    struct binding binding;
    struct evconnlistener *evl;
    struct event *resume; /* ends a pause after an accept error */
    struct accept_set *set;
};

struct accept_set {
    struct event_base *base;
    accept_fn *fn;
    void *arg;
    struct acceptor **items;
    size_t n;
};

static void
accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    struct acceptor *a = arg;

    a->set->fn(a->set->arg, fd, sa, salen);
}

static void
accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct acceptor *a = arg;

    evconnlistener_enable(a->evl);
}

/* Out of descriptors (EMFILE/ENFILE) or memory: the pending connection stays
 * in the backlog and accept would fail again at once, so accepting pauses
 * for a moment instead of spinning the loop and the log. */
static void
accept_error_cb(struct evconnlistener *evl, void *arg)
{
    struct acceptor *a = arg;
    int err = EVUTIL_SOCKET_ERROR();
    struct timeval pause = {0, ACCEPT_PAUSE_MS * 1000};

    log_warnx("accept failed: %s; pausing new connections for %d ms",
              evutil_socket_error_to_string(err), ACCEPT_PAUSE_MS);
    evconnlistener_disable(evl);
    evtimer_add(a->resume, &pause);
}

static struct acceptor *
acceptor_new(struct accept_set *as, const struct listen_socket *ls)
{
    struct acceptor *a = xcalloc(1, sizeof(*a));

    evutil_make_socket_nonblocking(ls->fd);
    /* backlog 0: the socket already listens with the daemon's backlog;
     * libevent's -1 would call listen() again with its default of 128 */
    a->evl = evconnlistener_new(as->base, accept_cb, a, LEV_OPT_CLOSE_ON_FREE, 0, ls->fd);
    if (a->evl == NULL) {
        log_warnx("cannot accept on a listening socket: out of memory");
        close(ls->fd);
        free(a);
        return NULL;
    }
    evconnlistener_set_error_cb(a->evl, accept_error_cb);
    a->binding = ls->binding;
    a->set = as;
    a->resume = evtimer_new(as->base, accept_resume_cb, a);
    return a;
}

static void
acceptor_free(struct acceptor *a)
{
    evconnlistener_free(a->evl);
    event_free(a->resume);
    free(a);
}

struct accept_set *
accept_set_new(struct event_base *base, accept_fn *fn, void *arg)
{
    struct accept_set *as = xcalloc(1, sizeof(*as));

    as->base = base;
    as->fn = fn;
    as->arg = arg;
    return as;
}

void
accept_set_replace(struct accept_set *as, const struct listen_socket *socks, size_t n)
{
    struct acceptor **next = xcalloc(n ? n : 1, sizeof(*next));
    size_t nnext = 0;

    for (size_t i = 0; i < n; i++) {
        struct acceptor *a = NULL;
        for (size_t j = 0; j < as->n; j++) {
            if (as->items[j] && binding_equal(&as->items[j]->binding, &socks[i].binding)) {
                a = as->items[j];
                as->items[j] = NULL;
                close(socks[i].fd); /* the same socket again: keep the one in use */
                break;
            }
        }
        if (a == NULL)
            a = acceptor_new(as, &socks[i]);
        if (a != NULL)
            next[nnext++] = a;
    }
    for (size_t j = 0; j < as->n; j++)
        if (as->items[j])
            acceptor_free(as->items[j]);
    free(as->items);
    as->items = next;
    as->n = nnext;
}

void
accept_set_free(struct accept_set *as)
{
    if (as == NULL)
        return;
    for (size_t i = 0; i < as->n; i++)
        acceptor_free(as->items[i]);
    free(as->items);
    free(as);
}
