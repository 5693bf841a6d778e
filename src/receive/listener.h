/*
 * listener.h — the listening sockets for the bindings of all enabled
 * Receive connectors.
 *
 * Per port and family, a wildcard binding (0.0.0.0 / [::]) is one socket
 * that also serves every specific address of that family; otherwise one
 * socket per address. Connector selection uses the connection's real local
 * address, so which socket accepted it does not matter. IPv6 sockets are
 * IPV6_V6ONLY so that 0.0.0.0:25 and [::]:25 coexist.
 * listener_set_apply keeps sockets whose binding is still wanted, so a
 * reload never refuses connections on an unchanged port.
 */
#ifndef POSTERN_LISTENER_H
#define POSTERN_LISTENER_H

#include <stddef.h>

#include "config/config.h"

struct server;
struct listener_set;

struct listener_set *listener_set_new(struct server *srv);
/* Opens/closes sockets to match cfg. Returns 0, or -1 with the first bind
 * error in err (sockets that did open stay open). */
int listener_set_apply(struct listener_set *ls, const struct config *cfg, char *err, size_t errlen);
/* Stops accepting (shutdown) without closing established sessions. */
void listener_set_free(struct listener_set *ls);

#endif
