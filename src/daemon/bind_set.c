/*
 * bind_set.c — see bind_set.h.
 */
#include "daemon/bind_set.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 1024

struct bind_set {
    struct listen_socket *items;
    bool *wanted;
    size_t n;
};

static int
bind_open(const struct listen_socket *ls, char *err, size_t errlen)
{
    const struct binding *b = &ls->binding;
    struct sockaddr_storage ss;
    socklen_t len = binding_sockaddr(b, &ss);
    char text[96];
    int fd, on = 1;

    listen_socket_format(ls, text, sizeof(text)); /* "metrics 127.0.0.1:9125" for /metrics */
    fd = socket(b->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", text, strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (b->family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", text, strerror(errno));
        close(fd);
        return -1;
    }
    log_info("listening on %s", text);
    return fd;
}

struct bind_set *
bind_set_new(void)
{
    return xcalloc(1, sizeof(struct bind_set));
}

/* Adds b (of the metrics kind or not) to list unless a socket there of
 * the same kind serves it already. */
static void
want_binding(struct listen_socket **list, size_t *n, const struct binding *b, bool metrics)
{
    for (size_t k = 0; k < *n; k++) {
        const struct binding *h = &(*list)[k].binding;
        if ((*list)[k].metrics == metrics &&
            (binding_equal(h, b) || (h->any && h->family == b->family && h->port == b->port)))
            return;
    }
    *list = xrealloc(*list, (*n + 1) * sizeof(**list));
    (*list)[*n] = (struct listen_socket){.binding = *b, .fd = -1, .metrics = metrics};
    (*n)++;
}

/* The sockets cfg needs: wildcard bindings, and specific ones not covered
 * by a wildcard of the same family and port; those of the Receive
 * connectors, then MetricsBindings (config_validate keeps the two apart). */
static size_t
wanted_bindings(const struct config *cfg, struct listen_socket **out)
{
    struct listen_socket *list = NULL;
    size_t n = 0;

    /* pass 0 collects wildcards, pass 1 the specific rest */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < cfg->nreceive_connectors; i++) {
            const struct receive_connector *rc = &cfg->receive_connectors[i];
            for (size_t j = 0; rc->enabled && j < rc->nbindings; j++)
                if (rc->bindings[j].any == (pass == 0))
                    want_binding(&list, &n, &rc->bindings[j], false);
        }
        for (size_t j = 0; j < cfg->transport.nmetrics_bindings; j++)
            if (cfg->transport.metrics_bindings[j].any == (pass == 0))
                want_binding(&list, &n, &cfg->transport.metrics_bindings[j], true);
    }
    *out = list;
    return n;
}

/* The same socket: binding and kind. */
static bool
socket_same(const struct listen_socket *a, const struct listen_socket *b)
{
    return a->metrics == b->metrics && binding_equal(&a->binding, &b->binding);
}

/* Closes socket i (no longer wanted, or covered by a new wildcard). */
static void
bind_close(struct bind_set *bs, size_t i)
{
    char text[96];

    listen_socket_format(&bs->items[i], text, sizeof(text));
    log_info("no longer listening on %s", text);
    close(bs->items[i].fd);
    bs->items[i] = bs->items[bs->n - 1];
    bs->wanted[i] = bs->wanted[bs->n - 1];
    bs->n--;
}

static void
bind_add(struct bind_set *bs, const struct listen_socket *ls, int fd)
{
    bs->items = xrealloc(bs->items, (bs->n + 1) * sizeof(*bs->items));
    bs->wanted = xrealloc(bs->wanted, (bs->n + 1) * sizeof(*bs->wanted));
    bs->items[bs->n] = *ls;
    bs->items[bs->n].fd = fd;
    bs->wanted[bs->n] = true;
    bs->n++;
}

int
bind_set_apply(struct bind_set *bs, const struct config *cfg, char *err, size_t errlen)
{
    struct listen_socket *want;
    size_t nwant = wanted_bindings(cfg, &want);
    int rc = 0, first_errno = 0;

    for (size_t i = 0; i < bs->n; i++)
        bs->wanted[i] = false;
    for (size_t w = 0; w < nwant; w++) {
        struct listen_socket *covered = NULL;
        size_t ncovered = 0;
        bool found = false;
        int fd;

        for (size_t i = 0; i < bs->n; i++)
            if (socket_same(&bs->items[i], &want[w]))
                bs->wanted[i] = found = true;
        if (found)
            continue;
        /* A new wildcard on a port where specific addresses listen: those
         * sockets must go first (the kernel refuses both), and come back if
         * the wildcard cannot be bound. */
        if (want[w].binding.any) {
            for (size_t i = 0; i < bs->n;) {
                const struct binding *b = &bs->items[i].binding;
                if (!b->any && b->family == want[w].binding.family &&
                    b->port == want[w].binding.port) {
                    covered = xrealloc(covered, (ncovered + 1) * sizeof(*covered));
                    covered[ncovered++] = bs->items[i];
                    bind_close(bs, i);
                    continue;
                }
                i++;
            }
        }
        fd = bind_open(&want[w], err, errlen);
        if (fd < 0) {
            if (rc == 0)
                first_errno = errno;
            rc = -1;
            err = NULL; /* keep the first error */
            errlen = 0;
            for (size_t k = 0; k < ncovered; k++) {
                char e2[1];
                int back = bind_open(&covered[k], e2, 0);
                if (back >= 0)
                    bind_add(bs, &covered[k], back);
            }
        } else {
            bind_add(bs, &want[w], fd);
        }
        free(covered);
    }
    for (size_t i = 0; i < bs->n;) {
        if (!bs->wanted[i]) {
            bind_close(bs, i);
            continue;
        }
        i++;
    }
    free(want);
    errno = first_errno;
    return rc;
}

size_t
bind_set_surviving(const struct bind_set *bs, const struct config *cfg, struct listen_socket **out)
{
    struct listen_socket *want;
    size_t nwant = wanted_bindings(cfg, &want), n = 0;

    *out = xcalloc(bs->n ? bs->n : 1, sizeof(**out));
    for (size_t i = 0; i < bs->n; i++) {
        const struct binding *b = &bs->items[i].binding;
        bool replaced = false;
        for (size_t w = 0; w < nwant && !b->any; w++)
            replaced |= want[w].binding.any && want[w].binding.family == b->family &&
                        want[w].binding.port == b->port;
        if (!replaced)
            (*out)[n++] = bs->items[i];
    }
    free(want);
    return n;
}

const struct listen_socket *
bind_set_sockets(const struct bind_set *bs, size_t *n)
{
    *n = bs->n;
    return bs->items;
}

void
bind_set_free(struct bind_set *bs)
{
    if (bs == NULL)
        return;
    for (size_t i = 0; i < bs->n; i++)
        close(bs->items[i].fd);
    free(bs->items);
    free(bs->wanted);
    free(bs);
}
