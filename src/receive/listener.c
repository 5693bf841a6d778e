/*
 * listener.c — see listener.h.
 */
#include "receive/listener.h"
#include "lib/log.h"
#include "lib/util.h"
#include "receive/server.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 1024
#define ACCEPT_PAUSE_MS 250

struct listener {
    struct binding binding;
    struct evconnlistener *evl;
    struct event *resume; /* ends a pause after an accept error */
    struct listener_set *set;
    bool wanted;
};

struct listener_set {
    struct server *srv;
    struct listener **items;
    size_t n;
};

static bool
same_binding(const struct binding *a, const struct binding *b)
{
    return a->family == b->family && a->port == b->port &&
           memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

static void
accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    struct listener *l = arg;

    server_accept(l->set->srv, fd, sa, salen);
}

static void
accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct listener *l = arg;

    evconnlistener_enable(l->evl);
}

/* Out of descriptors (EMFILE/ENFILE) or memory: the pending connection stays
 * in the backlog and accept would fail again at once, so accepting pauses
 * for a moment instead of spinning the loop and the log. */
static void
accept_error_cb(struct evconnlistener *evl, void *arg)
{
    struct listener *l = arg;
    int err = EVUTIL_SOCKET_ERROR();
    struct timeval pause = {0, ACCEPT_PAUSE_MS * 1000};

    log_warnx("accept failed: %s; pausing new connections for %d ms",
              evutil_socket_error_to_string(err), ACCEPT_PAUSE_MS);
    evconnlistener_disable(evl);
    evtimer_add(l->resume, &pause);
}

static struct listener *
listener_open(struct listener_set *ls, const struct binding *b, char *err, size_t errlen)
{
    struct listener *l;
    struct sockaddr_storage ss;
    socklen_t len = binding_sockaddr(b, &ss);
    char text[80];
    int fd, on = 1;
    struct evconnlistener *evl;

    binding_format(b, text, sizeof(text));
    fd = socket(b->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", text, strerror(errno));
        return NULL;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (b->family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", text, strerror(errno));
        close(fd);
        return NULL;
    }
    l = xcalloc(1, sizeof(*l));
    /* backlog 0: the socket already listens with LISTEN_BACKLOG; libevent's
     * -1 would call listen() again with its own default of 128 */
    evl = evconnlistener_new(ls->srv->base, accept_cb, l, LEV_OPT_CLOSE_ON_FREE, 0, fd);
    if (evl == NULL) {
        snprintf(err, errlen, "cannot listen on %s", text);
        close(fd);
        free(l);
        return NULL;
    }
    evconnlistener_set_error_cb(evl, accept_error_cb);
    l->binding = *b;
    l->evl = evl;
    l->set = ls;
    l->wanted = true;
    l->resume = evtimer_new(ls->srv->base, accept_resume_cb, l);
    log_info("listening on %s", text);
    return l;
}

static void
listener_free(struct listener *l)
{
    evconnlistener_free(l->evl);
    event_free(l->resume);
    free(l);
}

struct listener_set *
listener_set_new(struct server *srv)
{
    struct listener_set *ls = xcalloc(1, sizeof(*ls));

    ls->srv = srv;
    return ls;
}

/* The sockets cfg needs: wildcard bindings, and specific ones not covered
 * by a wildcard of the same family and port. */
static size_t
wanted_bindings(const struct config *cfg, struct binding **out)
{
    struct binding *list = NULL;
    size_t n = 0;

    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < cfg->nreceive_connectors; i++) {
            const struct receive_connector *rc = &cfg->receive_connectors[i];
            if (!rc->enabled)
                continue;
            for (size_t j = 0; j < rc->nbindings; j++) {
                const struct binding *b = &rc->bindings[j];
                bool covered = false;
                /* pass 0 collects wildcards, pass 1 the specific rest */
                if (b->any != (pass == 0))
                    continue;
                for (size_t k = 0; k < n; k++)
                    if (same_binding(&list[k], b) ||
                        (list[k].any && list[k].family == b->family && list[k].port == b->port))
                        covered = true;
                if (covered)
                    continue;
                list = xrealloc(list, (n + 1) * sizeof(*list));
                list[n++] = *b;
            }
        }
    }
    *out = list;
    return n;
}

/* Closes listener i (no longer wanted, or covered by a new wildcard). */
static void
listener_close(struct listener_set *ls, size_t i)
{
    char text[80];

    binding_format(&ls->items[i]->binding, text, sizeof(text));
    log_info("no longer listening on %s", text);
    listener_free(ls->items[i]);
    ls->items[i] = ls->items[--ls->n];
}

static void
listener_add(struct listener_set *ls, struct listener *l)
{
    // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
    ls->items = xrealloc(ls->items, (ls->n + 1) * sizeof(*ls->items));
    ls->items[ls->n++] = l;
}

int
listener_set_apply(struct listener_set *ls, const struct config *cfg, char *err, size_t errlen)
{
    struct binding *want;
    size_t nwant = wanted_bindings(cfg, &want);
    int rc = 0;

    for (size_t i = 0; i < ls->n; i++)
        ls->items[i]->wanted = false;
    for (size_t w = 0; w < nwant; w++) {
        struct listener *l;
        struct binding *covered = NULL;
        size_t ncovered = 0;
        bool found = false;

        for (size_t i = 0; i < ls->n; i++)
            if (same_binding(&ls->items[i]->binding, &want[w]))
                ls->items[i]->wanted = found = true;
        if (found)
            continue;
        /* A new wildcard on a port where specific addresses listen: those
         * sockets must go first (the kernel refuses both), and come back if
         * the wildcard cannot be bound. */
        if (want[w].any) {
            for (size_t i = 0; i < ls->n;) {
                const struct binding *b = &ls->items[i]->binding;
                if (!b->any && b->family == want[w].family && b->port == want[w].port) {
                    covered = xrealloc(covered, (ncovered + 1) * sizeof(*covered));
                    covered[ncovered++] = *b;
                    listener_close(ls, i);
                    continue;
                }
                i++;
            }
        }
        l = listener_open(ls, &want[w], err, errlen);
        if (l == NULL) {
            rc = -1;
            err = NULL; /* keep the first error */
            errlen = 0;
            for (size_t k = 0; k < ncovered; k++) {
                char e2[1];
                struct listener *back = listener_open(ls, &covered[k], e2, 0);
                if (back)
                    listener_add(ls, back);
            }
        } else {
            listener_add(ls, l);
        }
        free(covered);
    }
    /* Close what is no longer wanted. */
    for (size_t i = 0; i < ls->n;) {
        if (!ls->items[i]->wanted) {
            listener_close(ls, i);
            continue;
        }
        i++;
    }
    free(want);
    return rc;
}

void
listener_set_free(struct listener_set *ls)
{
    if (ls == NULL)
        return;
    for (size_t i = 0; i < ls->n; i++)
        listener_free(ls->items[i]);
    free(ls->items);
    free(ls);
}
