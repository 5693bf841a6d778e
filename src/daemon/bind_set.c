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
bind_open(const struct binding *b, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len = binding_sockaddr(b, &ss);
    char text[80];
    int fd, on = 1;

    binding_format(b, text, sizeof(text));
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
                    if (binding_equal(&list[k], b) ||
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

/* Closes socket i (no longer wanted, or covered by a new wildcard). */
static void
bind_close(struct bind_set *bs, size_t i)
{
    char text[80];

    binding_format(&bs->items[i].binding, text, sizeof(text));
    log_info("no longer listening on %s", text);
    close(bs->items[i].fd);
    bs->items[i] = bs->items[bs->n - 1];
    bs->wanted[i] = bs->wanted[bs->n - 1];
    bs->n--;
}

static void
bind_add(struct bind_set *bs, const struct binding *b, int fd)
{
    bs->items = xrealloc(bs->items, (bs->n + 1) * sizeof(*bs->items));
    bs->wanted = xrealloc(bs->wanted, (bs->n + 1) * sizeof(*bs->wanted));
    bs->items[bs->n].binding = *b;
    bs->items[bs->n].fd = fd;
    bs->wanted[bs->n] = true;
    bs->n++;
}

int
bind_set_apply(struct bind_set *bs, const struct config *cfg, char *err, size_t errlen)
{
    struct binding *want;
    size_t nwant = wanted_bindings(cfg, &want);
    int rc = 0, first_errno = 0;

    for (size_t i = 0; i < bs->n; i++)
        bs->wanted[i] = false;
    for (size_t w = 0; w < nwant; w++) {
        struct binding *covered = NULL;
        size_t ncovered = 0;
        bool found = false;
        int fd;

        for (size_t i = 0; i < bs->n; i++)
            if (binding_equal(&bs->items[i].binding, &want[w]))
                bs->wanted[i] = found = true;
        if (found)
            continue;
        /* A new wildcard on a port where specific addresses listen: those
         * sockets must go first (the kernel refuses both), and come back if
         * the wildcard cannot be bound. */
        if (want[w].any) {
            for (size_t i = 0; i < bs->n;) {
                const struct binding *b = &bs->items[i].binding;
                if (!b->any && b->family == want[w].family && b->port == want[w].port) {
                    covered = xrealloc(covered, (ncovered + 1) * sizeof(*covered));
                    covered[ncovered++] = *b;
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
    struct binding *want;
    size_t nwant = wanted_bindings(cfg, &want), n = 0;

    *out = xcalloc(bs->n ? bs->n : 1, sizeof(**out));
    for (size_t i = 0; i < bs->n; i++) {
        const struct binding *b = &bs->items[i].binding;
        bool replaced = false;
        for (size_t w = 0; w < nwant && !b->any; w++)
            replaced |= want[w].any && want[w].family == b->family && want[w].port == b->port;
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
