/*
 * ipc.h — typed messages between postern's processes over a SOCK_STREAM
 * unix socketpair (imsg-style framing), driven by libevent, with file
 * descriptors passed alongside (SCM_RIGHTS).
 *
 * A message on the wire is a 16-byte header {u32 type, u32 id, u32 len,
 * u32 flags} in host byte order (both ends are on one machine, built from
 * one binary), then len payload bytes (at most IPC_MAX_PAYLOAD). Flag
 * IPC_F_HAS_FD says one descriptor travels with the message: the sender
 * passes it with the sendmsg() that carries the message's first bytes, the
 * receiver queues descriptors in arrival order and gives the first queued
 * one to the next message so flagged.
 *
 * The peer may be less trusted than we are (the smtp process parses the
 * network): a header that claims more than IPC_MAX_PAYLOAD, unknown flags,
 * a flagged message without a descriptor, or descriptors that pile up
 * without messages end the channel with a reason, as does end of stream or
 * a socket error. A descriptor the kernel drops because this process has
 * none left (EMFILE) is not the peer's fault: its message comes with
 * fd_lost.
 *
 * Must never: block the event loop (sends are queued in memory and flushed
 * on EV_WRITE), allocate more than IPC_MAX_PAYLOAD plus a header for one
 * message whatever a header claims, leak a received or queued descriptor,
 * or touch a channel after a callback freed it.
 */
#ifndef POSTERN_IPC_H
#define POSTERN_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct ipc_chan;

#define IPC_MAX_PAYLOAD (16u * 1024 * 1024)
#define IPC_HDR_SIZE 16u
#define IPC_F_HAS_FD 0x1u

struct ipc_msg {
    uint32_t type;
    uint32_t id;
    int fd; /* -1, or the descriptor that came with the message */
    const unsigned char *data;
    size_t len;
    /* A descriptor was sent with the message, but this process had no room
     * for it and the kernel dropped it (MSG_CTRUNC): fd is -1. The channel
     * goes on; the request that needed it fails. */
    bool fd_lost;
};

/* A message arrived. The handler owns m->fd (close it or keep it); m->data
 * is valid until the handler returns. The handler may send on ch and may
 * free ch (the messages still buffered are then dropped). */
typedef void ipc_handler_fn(struct ipc_chan *ch, const struct ipc_msg *m, void *arg);

/* The peer closed the channel, a socket error happened, or the peer sent
 * something malformed: ch is dead from now on (ipc_send fails) and must
 * still be freed, which this callback may do. Called at most once, never
 * after ipc_chan_free. */
typedef void ipc_closed_fn(struct ipc_chan *ch, const char *reason, void *arg);

/* Takes ownership of fd (a connected SOCK_STREAM unix socket), makes it
 * non-blocking and starts reading. */
struct ipc_chan *ipc_chan_new(struct event_base *base, int fd, ipc_handler_fn *handler,
                              ipc_closed_fn *closed, void *arg);

/* Closes the socket and every descriptor not yet sent or handed out; safe
 * from inside the channel's own callbacks; NULL is a no-op. */
void ipc_chan_free(struct ipc_chan *ch);

/* Queues one message; never blocks, never calls a callback. fd >= 0 moves
 * to the channel (it is closed once sent, or at once when -1 is returned).
 * Returns 0, or -1: ch dead (errno EPIPE) or len over IPC_MAX_PAYLOAD
 * (EMSGSIZE). */
int ipc_send(struct ipc_chan *ch, uint32_t type, uint32_t id, int fd, const void *data, size_t len);

/* Bytes queued and not yet written (headers included), for back-pressure. */
size_t ipc_pending_bytes(const struct ipc_chan *ch);

/* Synchronous use of a socket no event loop watches (start-up, small calls
 * on a dedicated socket), blocking or not. timeout_ms < 0 waits forever;
 * it bounds the whole call. Returns 0, or -1 with errno: ETIMEDOUT,
 * EMSGSIZE, ECONNRESET (the peer closed), EPROTO (malformed), or the
 * socket's error. */

/* Unlike ipc_send, the caller keeps fd (it was sent when 0 is returned). */
int ipc_write_blocking(int sock, uint32_t type, uint32_t id, int fd, const void *data, size_t len,
                       int timeout_ms);

/* Reads exactly one message and nothing after it. *buf (the caller frees
 * it) holds the payload plus a NUL; out->data points into it and out->fd
 * belongs to the caller. On -1, *buf is NULL and no descriptor stays open. */
int ipc_read_blocking(int sock, struct ipc_msg *out, unsigned char **buf, int timeout_ms);

#endif
