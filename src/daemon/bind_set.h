/*
 * bind_set.h — the listening sockets for the bindings of all enabled
 * Receive connectors, opened by the daemon (it may bind ports below 1024)
 * and handed to the smtp process, which accepts on them.
 *
 * Per port and family, a wildcard binding (0.0.0.0 / [::]) is one socket
 * that also serves every specific address of that family; otherwise one
 * socket per address. Connector selection uses the connection's real local
 * address, so which socket accepted it does not matter. IPv6 sockets are
 * IPV6_V6ONLY so that 0.0.0.0:25 and [::]:25 coexist.
 * bind_set_apply keeps sockets whose binding is still wanted, so a reload
 * never refuses connections on an unchanged port.
 * Must never: accept a connection (the daemon reads nothing from the network).
 */
#ifndef POSTERN_BIND_SET_H
#define POSTERN_BIND_SET_H

#include <stddef.h>

#include "config/config.h"
#include "receive/accept_set.h"

struct bind_set;

struct bind_set *bind_set_new(void);
/* Opens/closes sockets to match cfg. Returns 0, or -1 with the first bind
 * error in err and errno (sockets that did open stay open; calling again
 * tries the others again). */
int bind_set_apply(struct bind_set *bs, const struct config *cfg, char *err, size_t errlen);
/* A socket is open in the daemon and, duplicated, in the smtp process: a
 * new wildcard binding on a port where specific addresses listen can only
 * be bound once every copy of those is closed. So a reload first hands the
 * smtp process the sockets that survive it (this list: the current ones
 * minus those a new wildcard of cfg replaces), then applies cfg, then
 * hands on the result. Returns how many of out[] (caller frees) are set. */
size_t bind_set_surviving(const struct bind_set *bs, const struct config *cfg,
                          struct listen_socket **out);
/* The sockets now open (owned by the set: duplicate an fd to hand it on). */
const struct listen_socket *bind_set_sockets(const struct bind_set *bs, size_t *n);
void bind_set_free(struct bind_set *bs);

#endif
