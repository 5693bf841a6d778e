/*
 * accept_set.c — see accept_set.h.
 */
#include "receive/accept_set.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <event2/listener.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ACCEPT_PAUSE_MS 250
/* Descriptors kept free for what arrives from the other processes (content
 * files, log files, their channels after a restart) and for outbound
 * connections: a descriptor passed with a message is lost, and the channel
 * with it, when the process has none left to receive it into. An eighth of
 * the limit, at least 8 and at most 64. */
#define ACCEPT_FD_RESERVE_MIN 8
#define ACCEPT_FD_RESERVE_MAX 64

struct acceptor {
    struct binding binding;
    struct evconnlistener *evl;
    struct event *resume; /* ends a pause after an accept error */
    struct accept_set *set;
};

struct accept_set {
    struct event_base *base;
    int fd_limit; /* a connection on a descriptor from here on is refused */
    accept_fn *fn;
    void *arg;
    struct acceptor **items;
    size_t n;
};

static void accept_pause(struct acceptor *a, const char *why);

static void
accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    struct acceptor *a = arg;
    int on = 1;

    /* Replies are whole lines written at once: Nagle would hold one back
     * until the client's delayed ACK (40 ms on Linux) whenever the previous
     * segment is unacknowledged, as after the TLS 1.3 tickets. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    a->set->fn(a->set->arg, fd, sa, salen);
    /* the kernel hands out the lowest free descriptor: one this high means
     * the reserve is being used; the next connections wait in the backlog */
    if (fd >= a->set->fd_limit)
        accept_pause(a, "too few descriptors left (a reserve is kept for the files the other "
                        "processes send)");
}

/* Accepting resumes once descriptors are free again: the lowest free one
 * is below the reserve. */
static void
accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct acceptor *a = arg;
    int probe = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
    struct timeval pause = {0, ACCEPT_PAUSE_MS * 1000};

    if (probe >= 0)
        close(probe);
    if (probe < 0 || probe >= a->set->fd_limit) {
        evtimer_add(a->resume, &pause);
        return;
    }
    evconnlistener_enable(a->evl);
}

/* Out of descriptors (EMFILE/ENFILE) or memory: the pending connection stays
 * in the backlog and accept would fail again at once, so accepting pauses
 * for a moment instead of spinning the loop and the log. */
static void
accept_pause(struct acceptor *a, const char *why)
{
    struct timeval pause = {0, ACCEPT_PAUSE_MS * 1000};

    log_warnx("accept failed: %s; pausing new connections for %d ms", why, ACCEPT_PAUSE_MS);
    evconnlistener_disable(a->evl);
    evtimer_add(a->resume, &pause);
}

static void
accept_error_cb(struct evconnlistener *evl, void *arg)
{
    accept_pause(arg, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
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
    struct rlimit rl;

    as->base = base;
    as->fd_limit = INT_MAX;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)INT_MAX) {
        int limit = (int)rl.rlim_cur, reserve = limit / 8;
        reserve = reserve < ACCEPT_FD_RESERVE_MIN   ? ACCEPT_FD_RESERVE_MIN
                  : reserve > ACCEPT_FD_RESERVE_MAX ? ACCEPT_FD_RESERVE_MAX
                                                    : reserve;
        as->fd_limit = limit > 2 * reserve ? limit - reserve : limit / 2;
    }
    as->fn = fn;
    as->arg = arg;
    return as;
}

void
accept_set_replace(struct accept_set *as, const struct listen_socket *socks, size_t n)
{
    // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
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

#define LISTEN_METRICS_PREFIX "metrics "

void
listen_socket_format(const struct listen_socket *ls, char *buf, size_t len)
{
    char text[80];

    binding_format(&ls->binding, text, sizeof(text));
    snprintf(buf, len, "%s%s", ls->metrics ? LISTEN_METRICS_PREFIX : "", text);
}

int
listen_socket_parse(const char *text, struct listen_socket *ls, char *err, size_t errlen)
{
    size_t n = strlen(LISTEN_METRICS_PREFIX);

    memset(ls, 0, sizeof(*ls));
    ls->fd = -1;
    ls->metrics = strncmp(text, LISTEN_METRICS_PREFIX, n) == 0;
    return binding_parse(ls->metrics ? text + n : text, &ls->binding, err, errlen);
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
