/*
 * ipc.c — see ipc.h: framing of typed messages with passed descriptors on
 * a unix stream socket, for libevent loops and for blocking start-up calls.
 *
 * Re-entrancy: every libevent callback holds the channel (busy) while it
 * calls the user's handler or closed callback; ipc_chan_free during that
 * time only marks the channel, and the callback frees it on its way out.
 * Payload bytes are wiped once handled or sent, since a configuration with
 * its secrets travels this way to the keys process.
 *
 * Must never: read a message's payload before its header was checked, give
 * a descriptor to the wrong message, or call a callback from ipc_send.
 */
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

/* Smallest read; a message in progress may need more, grown by doubling
 * as its bytes arrive rather than by what its header claims. */
#define READ_CHUNK (64u * 1024)
/* A buffer this large is given back once it is empty. */
#define READ_KEEP (1024u * 1024)
/* Reads per EV_READ before the loop serves someone else. */
#define READS_PER_EVENT 16
/* Descriptors waiting for their messages: each comes with its message's
 * first bytes, so a well-behaved peer keeps this at one or two. */
#define MAX_QUEUED_FDS 64
/* Room for descriptors in one recvmsg: Linux stops a stream read after
 * the bytes that carried descriptors, so one sendmsg's worth arrives. */
#define FDS_PER_RECV 8
#define WRITE_IOV 64

struct ipc_hdr {
    uint32_t type;
    uint32_t id;
    uint32_t len;
    uint32_t flags;
};
_Static_assert(sizeof(struct ipc_hdr) == IPC_HDR_SIZE, "ipc header is not 16 bytes");

struct out_msg {
    struct out_msg *next;
    int fd;     /* still to be sent with the first bytes, or -1 */
    size_t len; /* header and payload */
    size_t off; /* bytes already written */
    unsigned char buf[];
};

/* In the descriptor queue: the place of one the kernel dropped. */
#define FD_LOST (-2)

struct ipc_chan {
    struct event_base *base;
    int sock;
    struct event *rev, *wev;
    ipc_handler_fn *handler;
    ipc_closed_fn *closed;
    void *arg;

    unsigned char *rbuf; /* rbuf[roff, rend): received, not yet handled */
    size_t rcap, roff, rend;
    int fdq[MAX_QUEUED_FDS]; /* received descriptors, oldest first */
    size_t nfdq;

    struct out_msg *whead, **wtail;
    size_t pending;
    int werr; /* a write failed: drain what the peer sent, then report this */

    unsigned busy; /* inside one of our libevent callbacks */
    bool dead;     /* closed callback called (or about to be) */
    bool freeing;  /* ipc_chan_free called while busy */
};

static void
out_free(struct out_msg *m)
{
    if (m->fd >= 0)
        close(m->fd);
    explicit_bzero(m->buf, m->len);
    free(m);
}

static void
drop_writes(struct ipc_chan *ch)
{
    struct out_msg *m, *next;

    for (m = ch->whead; m != NULL; m = next) {
        next = m->next;
        out_free(m);
    }
    ch->whead = NULL;
    ch->wtail = &ch->whead;
    ch->pending = 0;
}

static void
drop_fds(struct ipc_chan *ch)
{
    for (size_t i = 0; i < ch->nfdq; i++)
        if (ch->fdq[i] >= 0)
            close(ch->fdq[i]);
    ch->nfdq = 0;
}

static void
release_rbuf(struct ipc_chan *ch)
{
    mem_free_wiped(ch->rbuf, ch->rcap);
    ch->rbuf = NULL;
    ch->rcap = ch->roff = ch->rend = 0;
}

static void
chan_destroy(struct ipc_chan *ch)
{
    event_free(ch->rev);
    event_free(ch->wev);
    if (ch->sock >= 0)
        close(ch->sock);
    drop_writes(ch);
    drop_fds(ch);
    release_rbuf(ch);
    free(ch);
}

static void chan_die(struct ipc_chan *ch, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The channel is unusable: everything is let go now, the owner hears why
 * (once) and frees the shell. */
static void
chan_die(struct ipc_chan *ch, const char *fmt, ...)
{
    char reason[256];
    va_list ap;

    if (ch->dead)
        return;
    ch->dead = true;
    event_del(ch->rev);
    event_del(ch->wev);
    drop_writes(ch);
    drop_fds(ch);
    release_rbuf(ch);
    close(ch->sock);
    ch->sock = -1;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (ch->closed != NULL)
        ch->closed(ch, reason, ch->arg);
}

static bool
chan_alive(const struct ipc_chan *ch)
{
    return !ch->dead && !ch->freeing;
}

static void
chan_leave(struct ipc_chan *ch)
{
    if (--ch->busy == 0 && ch->freeing)
        chan_destroy(ch);
}

/* Free space after rend for the next read, at least a chunk: compacts
 * first, then doubles, but never past what the message in progress needs
 * (its header was checked), so memory follows the bytes that arrived, not
 * what a header claims. The old buffer is wiped. Returns the free space. */
static size_t
make_room(struct ipc_chan *ch)
{
    size_t avail = ch->rend - ch->roff, cap;
    struct ipc_hdr h;

    if (ch->rcap - ch->rend >= READ_CHUNK)
        return ch->rcap - ch->rend;
    if (ch->roff > 0) {
        memmove(ch->rbuf, ch->rbuf + ch->roff, avail);
        explicit_bzero(ch->rbuf + avail, ch->rend - avail);
        ch->roff = 0;
        ch->rend = avail;
        if (ch->rcap - ch->rend >= READ_CHUNK)
            return ch->rcap - ch->rend;
    }
    cap = ch->rcap * 2 > avail + READ_CHUNK ? ch->rcap * 2 : avail + READ_CHUNK;
    if (avail >= IPC_HDR_SIZE) {
        memcpy(&h, ch->rbuf, sizeof(h));
        size_t whole = IPC_HDR_SIZE + (size_t)h.len; /* dispatch() checked h.len */
        size_t enough = whole > avail + READ_CHUNK ? whole : avail + READ_CHUNK;
        if (cap > enough)
            cap = enough;
    }
    unsigned char *nb = xmalloc(cap);
    if (avail > 0)
        memcpy(nb, ch->rbuf, avail);
    release_rbuf(ch);
    ch->rbuf = nb;
    ch->rcap = cap;
    ch->rend = avail;
    return cap - avail;
}

/* Appends the descriptors one recvmsg brought to fds (*n of max used);
 * closes those that do not fit and returns false then. */
static bool
collect_fds(struct msghdr *mh, int *fds, size_t *n, size_t max)
{
    bool fit = true;

    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (*n < max)
                fds[(*n)++] = fd;
            else {
                close(fd);
                fit = false;
            }
        }
    }
    return fit;
}

/* Queues the descriptors of one recvmsg; closes what cannot be kept.
 * Returns false (the channel is dead) on a protocol error. */
static bool
take_fds(struct ipc_chan *ch, struct msghdr *mh)
{
    bool overflow = !collect_fds(mh, ch->fdq, &ch->nfdq, MAX_QUEUED_FDS);

    if (mh->msg_flags & MSG_CTRUNC) {
        /* The kernel dropped the descriptor this read carried: this process
         * has none left (EMFILE). One sendmsg carries one message's
         * descriptor and one read takes at most one sendmsg's, so exactly
         * that message goes without: it is delivered with fd_lost and the
         * channel lives on. */
        if (ch->nfdq < MAX_QUEUED_FDS)
            ch->fdq[ch->nfdq++] = FD_LOST;
        else
            overflow = true;
    }
    if (overflow) {
        chan_die(ch, "protocol error: more than %d descriptors without their messages",
                 MAX_QUEUED_FDS);
        return false;
    }
    return true;
}

/* Hands every complete message to the handler. Returns false once the
 * channel died or was freed. */
static bool
dispatch(struct ipc_chan *ch)
{
    while (chan_alive(ch)) {
        size_t avail = ch->rend - ch->roff;
        struct ipc_hdr h;
        struct ipc_msg m;

        if (avail < IPC_HDR_SIZE)
            break;
        memcpy(&h, ch->rbuf + ch->roff, sizeof(h));
        if (h.len > IPC_MAX_PAYLOAD) {
            chan_die(ch, "protocol error: message type %u claims %u bytes (at most %u)", h.type,
                     h.len, IPC_MAX_PAYLOAD);
            return false;
        }
        if (h.flags & ~IPC_F_HAS_FD) {
            chan_die(ch, "protocol error: message type %u has unknown flags 0x%x", h.type, h.flags);
            return false;
        }
        if (avail < IPC_HDR_SIZE + (size_t)h.len)
            break;
        m = (struct ipc_msg){h.type, h.id, -1, ch->rbuf + ch->roff + IPC_HDR_SIZE, h.len, false};
        if (h.flags & IPC_F_HAS_FD) {
            if (ch->nfdq == 0) {
                chan_die(ch, "protocol error: message type %u should carry a descriptor, none came",
                         h.type);
                return false;
            }
            m.fd = ch->fdq[0];
            memmove(ch->fdq, ch->fdq + 1, --ch->nfdq * sizeof(int));
            if (m.fd == FD_LOST) {
                m.fd = -1;
                m.fd_lost = true;
            }
        }
        size_t start = ch->roff;
        ch->roff += IPC_HDR_SIZE + h.len;
        ch->handler(ch, &m, ch->arg);
        if (!chan_alive(ch))
            return false;
        explicit_bzero(ch->rbuf + start, IPC_HDR_SIZE + h.len);
    }
    if (ch->roff == ch->rend) {
        ch->roff = ch->rend = 0;
        if (ch->rcap > READ_KEEP)
            release_rbuf(ch);
    }
    return chan_alive(ch);
}

static void
chan_read(struct ipc_chan *ch)
{
    for (int i = 0; i < READS_PER_EVENT && chan_alive(ch); i++) {
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(FDS_PER_RECV * sizeof(int))];
        } cbuf;
        size_t want = make_room(ch);
        struct iovec iov = {ch->rbuf + ch->rend, want};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = cbuf.buf,
                            .msg_controllen = sizeof(cbuf.buf)};
        ssize_t n = recvmsg(ch->sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* The peer had nothing more to say after our write failed. */
            if (ch->werr != 0)
                chan_die(ch, "write: %s", strerror(ch->werr));
            return;
        }
        if (n < 0) {
            chan_die(ch, "read: %s", strerror(errno));
            return;
        }
        if (!take_fds(ch, &mh))
            return;
        if (n == 0) {
            if (ch->rend > ch->roff)
                chan_die(ch, "peer closed the channel in the middle of a message (%zu bytes)",
                         ch->rend - ch->roff);
            else
                chan_die(ch, "peer closed the channel");
            return;
        }
        ch->rend += (size_t)n;
        if (!dispatch(ch))
            return;
    }
}

static void
read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ipc_chan *ch = arg;

    (void)fd;
    (void)what;
    ch->busy++;
    chan_read(ch);
    chan_leave(ch);
}

/* Marks n written bytes off the queue, freeing whole messages. */
static void
consume(struct ipc_chan *ch, size_t n)
{
    ch->pending -= n;
    /* the kernel never reports more than it was given */
    while (n > 0 && ch->whead != NULL) {
        struct out_msg *m = ch->whead;
        size_t take = m->len - m->off < n ? m->len - m->off : n;
        m->off += take;
        n -= take;
        if (m->off == m->len) {
            ch->whead = m->next;
            if (ch->whead == NULL)
                ch->wtail = &ch->whead;
            out_free(m);
        }
    }
}

static void
chan_flush(struct ipc_chan *ch)
{
    while (ch->whead != NULL) {
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(sizeof(int))];
        } cbuf;
        struct iovec iov[WRITE_IOV];
        struct msghdr mh = {.msg_iov = iov};
        struct out_msg *head = ch->whead;
        int niov = 0;

        /* A message with a descriptor starts its own sendmsg, so the
         * descriptor arrives with that message's first bytes. */
        for (struct out_msg *m = head; m != NULL && niov < WRITE_IOV; m = m->next) {
            if (m != head && m->fd >= 0)
                break;
            iov[niov++] = (struct iovec){m->buf + m->off, m->len - m->off};
        }
        mh.msg_iovlen = (size_t)niov;
        if (head->fd >= 0) {
            memset(&cbuf, 0, sizeof(cbuf));
            mh.msg_control = cbuf.buf;
            mh.msg_controllen = sizeof(cbuf.buf);
            struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(c), &head->fd, sizeof(int));
        }
        ssize_t n = sendmsg(ch->sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0) {
            /* Whatever the peer sent before it went away still gets
             * handled: the read side reports the end. */
            ch->werr = errno;
            drop_writes(ch);
            event_del(ch->wev);
            event_active(ch->rev, EV_READ, 0);
            return;
        }
        if (head->fd >= 0) {
            close(head->fd);
            head->fd = -1;
        }
        consume(ch, (size_t)n);
    }
    event_del(ch->wev);
}

static void
write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ipc_chan *ch = arg;

    (void)fd;
    (void)what;
    ch->busy++;
    if (chan_alive(ch))
        chan_flush(ch);
    chan_leave(ch);
}

struct ipc_chan *
ipc_chan_new(struct event_base *base, int fd, ipc_handler_fn *handler, ipc_closed_fn *closed,
             void *arg)
{
    struct ipc_chan *ch = xcalloc(1, sizeof(*ch));
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        fatal("ipc: fcntl O_NONBLOCK on %d", fd);
    ch->base = base;
    ch->sock = fd;
    ch->handler = handler;
    ch->closed = closed;
    ch->arg = arg;
    ch->wtail = &ch->whead;
    ch->rev = event_new(base, fd, EV_READ | EV_PERSIST, read_cb, ch);
    ch->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, write_cb, ch);
    if (ch->rev == NULL || ch->wev == NULL || event_add(ch->rev, NULL) < 0)
        fatalx("ipc: cannot create the events of descriptor %d", fd);
    return ch;
}

void
ipc_chan_free(struct ipc_chan *ch)
{
    if (ch == NULL)
        return;
    ch->freeing = true;
    event_del(ch->rev);
    event_del(ch->wev);
    if (ch->busy == 0)
        chan_destroy(ch);
}

int
ipc_send(struct ipc_chan *ch, uint32_t type, uint32_t id, int fd, const void *data, size_t len)
{
    struct ipc_hdr h = {type, id, (uint32_t)len, fd >= 0 ? IPC_F_HAS_FD : 0};
    struct out_msg *m;

    if (!chan_alive(ch) || ch->werr != 0 || len > IPC_MAX_PAYLOAD) {
        if (fd >= 0)
            close(fd);
        errno = len > IPC_MAX_PAYLOAD ? EMSGSIZE : EPIPE;
        return -1;
    }
    m = xmalloc(sizeof(*m) + IPC_HDR_SIZE + len);
    m->next = NULL;
    m->fd = fd;
    m->len = IPC_HDR_SIZE + len;
    m->off = 0;
    memcpy(m->buf, &h, sizeof(h));
    if (len > 0)
        memcpy(m->buf + IPC_HDR_SIZE, data, len);
    *ch->wtail = m;
    ch->wtail = &m->next;
    ch->pending += m->len;
    if (!event_pending(ch->wev, EV_WRITE, NULL) && event_add(ch->wev, NULL) < 0)
        fatalx("ipc: cannot watch descriptor %d for writing", ch->sock);
    return 0;
}

size_t
ipc_pending_bytes(const struct ipc_chan *ch)
{
    return ch->pending;
}

/* ---- blocking helpers ---- */

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on sock until deadline (< 0: forever). 0, or -1 with
 * errno (ETIMEDOUT). Errors and hang-ups count as ready: the next call on
 * the socket reports them. */
static int
wait_sock(int sock, short events, long long deadline)
{
    for (;;) {
        struct pollfd p = {sock, events, 0};
        long long left = deadline < 0 ? -1 : deadline - now_ms();
        if (deadline >= 0 && left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        int rc = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

/* After a non-blocking sendmsg or recvmsg that returned n: 0 when it
 * moved data (or saw the end), 1 to call it again (interrupted, or the
 * socket is ready now), -1 on an error or past the deadline. */
static int
after_io(ssize_t n, int sock, short events, long long deadline)
{
    if (n >= 0)
        return 0;
    if (errno == EINTR)
        return 1;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return wait_sock(sock, events, deadline) < 0 ? -1 : 1;
    return -1;
}

static long long
deadline_of(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

int
ipc_write_blocking(int sock, uint32_t type, uint32_t id, int fd, const void *data, size_t len,
                   int timeout_ms)
{
    struct ipc_hdr h = {type, id, (uint32_t)len, fd >= 0 ? IPC_F_HAS_FD : 0};
    long long deadline = deadline_of(timeout_ms);
    size_t done = 0, total = IPC_HDR_SIZE + len;
    bool fd_sent = fd < 0;

    if (len > IPC_MAX_PAYLOAD) {
        errno = EMSGSIZE;
        return -1;
    }
    while (done < total) {
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(sizeof(int))];
        } cbuf;
        struct iovec iov[2];
        struct msghdr mh = {.msg_iov = iov};
        size_t niov = 0;

        if (done < IPC_HDR_SIZE)
            iov[niov++] = (struct iovec){(char *)&h + done, IPC_HDR_SIZE - done};
        if (len > 0) {
            size_t pdone = done > IPC_HDR_SIZE ? done - IPC_HDR_SIZE : 0;
            iov[niov++] = (struct iovec){(char *)data + pdone, len - pdone};
        }
        mh.msg_iovlen = niov;
        if (!fd_sent) {
            memset(&cbuf, 0, sizeof(cbuf));
            mh.msg_control = cbuf.buf;
            mh.msg_controllen = sizeof(cbuf.buf);
            struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(c), &fd, sizeof(int));
        }
        ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        int next = after_io(n, sock, POLLOUT, deadline);
        if (next != 0) {
            if (next < 0)
                return -1;
            continue;
        }
        fd_sent = true;
        done += (size_t)n;
    }
    return 0;
}

struct fdset {
    int fds[FDS_PER_RECV];
    size_t n;
    bool lost;
};

static void
fdset_close(struct fdset *s)
{
    for (size_t i = 0; i < s->n; i++)
        close(s->fds[i]);
    s->n = 0;
}

/* Exactly len bytes (no more: what follows is the next caller's),
 * collecting the descriptors that come with them. */
static int
read_exact(int sock, void *buf, size_t len, struct fdset *fds, long long deadline)
{
    size_t done = 0;

    while (done < len) {
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(FDS_PER_RECV * sizeof(int))];
        } cbuf;
        struct iovec iov = {(char *)buf + done, len - done};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = cbuf.buf,
                            .msg_controllen = sizeof(cbuf.buf)};
        ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        int next = after_io(n, sock, POLLIN, deadline);

        if (next != 0) {
            if (next < 0)
                return -1;
            continue;
        }
        if (!collect_fds(&mh, fds->fds, &fds->n, FDS_PER_RECV))
            fds->lost = true;
        if (mh.msg_flags & MSG_CTRUNC)
            fds->lost = true;
        if (n == 0) {
            errno = ECONNRESET;
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

int
ipc_read_blocking(int sock, struct ipc_msg *out, unsigned char **buf, int timeout_ms)
{
    long long deadline = deadline_of(timeout_ms);
    struct fdset fds = {.n = 0};
    struct ipc_hdr h;
    unsigned char *payload = NULL;
    int saved;

    *buf = NULL;
    *out = (struct ipc_msg){0, 0, -1, NULL, 0, false};
    if (read_exact(sock, &h, sizeof(h), &fds, deadline) < 0)
        goto fail;
    if (h.len > IPC_MAX_PAYLOAD) {
        errno = EMSGSIZE;
        goto fail;
    }
    if (h.flags & ~IPC_F_HAS_FD) {
        errno = EPROTO;
        goto fail;
    }
    payload = xmalloc((size_t)h.len + 1);
    if (read_exact(sock, payload, h.len, &fds, deadline) < 0)
        goto fail;
    payload[h.len] = '\0';
    /* One descriptor with a flagged message, none otherwise: anything
     * else is a peer that does not frame as we do. */
    if (fds.lost || fds.n != ((h.flags & IPC_F_HAS_FD) ? 1u : 0u)) {
        errno = EPROTO;
        goto fail;
    }
    *out = (struct ipc_msg){h.type, h.id, fds.n ? fds.fds[0] : -1, payload, h.len, false};
    *buf = payload;
    return 0;
fail:
    saved = errno;
    fdset_close(&fds);
    if (payload != NULL)
        mem_free_wiped(payload, (size_t)h.len + 1);
    errno = saved;
    return -1;
}
