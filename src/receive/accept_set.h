/*
 * accept_set.h — accepting connections on listening sockets the service
 * process was handed (the daemon binds them: src/daemon/bind_set.h).
 *
 * The set is replaced whole whenever the bindings change (start, reload):
 * a socket whose binding is still wanted keeps accepting without a gap;
 * one no longer in the list is closed. Accepting pauses briefly when
 * descriptors run out instead of spinning, and before they run out: a
 * reserve stays free for the descriptors the other processes send.
 * Must never: bind or listen itself (it may run without the right to).
 */
#ifndef POSTERN_ACCEPT_SET_H
#define POSTERN_ACCEPT_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config/config.h"

struct event_base;
struct accept_set;

/* A listening socket and the binding it serves. */
struct listen_socket {
    struct binding binding;
    int fd;
    bool metrics; /* TransportConfig MetricsBindings (receive/metrics_http.h), not SMTP */
};

/* The text a listener travels with from the daemon (MSG_LISTENER, struct
 * proc_start): its binding, after "metrics " for a metrics socket. */
void listen_socket_format(const struct listen_socket *ls, char *buf, size_t len);
/* Reads that text into ls (fd -1); -1 with err when malformed. */
int listen_socket_parse(const char *text, struct listen_socket *ls, char *err, size_t errlen);

typedef void accept_fn(void *arg, int fd, const struct sockaddr *remote, int remote_len);

struct accept_set *accept_set_new(struct event_base *base, accept_fn *fn, void *arg);
/* Accepts on exactly these sockets from now on. Takes ownership of every fd
 * in socks (a duplicate of one already accepted on is closed). */
void accept_set_replace(struct accept_set *as, const struct listen_socket *socks, size_t n);
/* Stops accepting and closes every socket; sessions are not touched. */
void accept_set_free(struct accept_set *as);

#endif
