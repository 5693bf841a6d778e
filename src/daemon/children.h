/*
 * children.h — the daemon's child processes (keys, queue, smtp): starting
 * them with fork(), wiring their channels, restarting one that dies, and
 * stopping them in order.
 *
 * Each child gets a control channel to the daemon and the peer channels of
 * its role (lib/proc.h). When a child is started again after dying, the
 * peers still running receive their new end of each channel (MSG_PEER).
 * A child that dies unexpectedly is logged with its exit status or signal
 * and started again, after a pause that grows while it keeps dying soon
 * after starting.
 * Must never: leave a child's descriptors open in another child; start a
 * child while the service is stopping.
 */
#ifndef POSTERN_CHILDREN_H
#define POSTERN_CHILDREN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/ipc.h"
#include "lib/proc.h"

struct event_base;
struct children;

struct children_hooks {
    /* fills what a child of role starts with besides its channels: the
     * configuration text (and for smtp the listening sockets) */
    void (*prepare)(void *arg, enum proc_role role, struct proc_start *st);
    /* the child's main, run in the new process; returns its exit status */
    int (*child_main)(const struct proc_start *st);
    /* a message from a child on its control channel */
    void (*message)(void *arg, enum proc_role role, const struct ipc_msg *m);
    /* a child was started again (it will send MSG_READY when it serves) */
    void (*restarted)(void *arg, enum proc_role role);
    /* every child has exited after children_stop */
    void (*all_exited)(void *arg);
    void *arg;
};

struct children *children_new(struct event_base *base, const struct children_hooks *hooks);
/* Starts keys, queue, then smtp. Returns 0, or -1 (logged). */
int children_start(struct children *c);
/* Sends a message to a running child; fd is passed and closed. */
int children_send(struct children *c, enum proc_role role, uint32_t type, uint32_t id, int fd,
                  const void *data, size_t len);
bool children_running(const struct children *c, enum proc_role role);
/* Stops the service: MSG_STOP (or MSG_STOP_NOW) to smtp; once it has
 * exited, to queue and keys (smtp's commits and TLS handshakes in flight
 * need them). Children that do not exit within grace seconds are killed. */
void children_stop(struct children *c, bool now, unsigned grace);
void children_free(struct children *c);

#endif
