/*
 * session_io.c — how a clear-text SMTP session reads and writes its socket.
 *
 * The session keeps a socket bufferevent for its buffers, for the STARTTLS
 * handoff and for waiting on a client that does not read its replies; the
 * common path bypasses its reader and writer, which cost syscalls that show
 * in the accept benchmark (strace -c of postern-smtp):
 * - libevent 2.1 reads at most 4096 octets per call and asks FIONREAD
 *   first: two syscalls per 4 KiB (a 100 KiB message took 31 of each).
 *   session_recv_cb reads up to 64 KiB straight into the input buffer.
 * - its writer asks epoll for writability before each reply and withdraws
 *   the request after it: two epoll_ctl per reply. session_flush_cb writes
 *   a turn's replies at once, and waits for writability only when the
 *   socket takes less than all of them.
 * A TLS session uses its bufferevent_openssl for both: SSL decides what
 * goes on the wire.
 * Must never: read past SESSION_INPUT_MAX of unprocessed input, or let a
 * client read a reply before the log lines of its turn are written.
 */
#include "lib/log.h"
#include "receive/session_int.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sys/socket.h>

/* One read takes at most this much (and never more than the room left),
 * into one buffer for every session (the loop thread's), then into the
 * session's input in pieces of SESSION_INPUT_PIECE: libevent keeps a chain
 * (rounded up to a power of two) as long as one octet of it is unprocessed,
 * so 64 KiB added at once would leave 128 KiB behind a partial line (a
 * slowloris client's, per connection); 4 KiB pieces leave at most 8 KiB, as
 * libevent's own 4 KiB reads did. */
#define SESSION_READ_MAX (64 * 1024)
#define SESSION_INPUT_PIECE 4096
static char session_rbuf[SESSION_READ_MAX];

static void
session_recv_cb(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;
    struct evbuffer *in;
    size_t held, want;
    ssize_t n;
    int added = 0;

    if (what == EV_TIMEOUT) { /* (data that came as the time ran out is read) */
        session_idle_timeout(s);
        return;
    }
    in = bufferevent_get_input(s->bev);
    held = evbuffer_get_length(in);
    if (held >= SESSION_INPUT_MAX) {
        /* session_process resumes reading once it has consumed some */
        s->input_full = true;
        session_read_stop(s);
        return;
    }
    want =
        SESSION_INPUT_MAX - held < SESSION_READ_MAX ? SESSION_INPUT_MAX - held : SESSION_READ_MAX;
    n = recv(fd, session_rbuf, want, 0);
    if (n > 0) {
        /* the socket bufferevent freezes its input's end between its own reads */
        evbuffer_unfreeze(in, 0);
        for (size_t off = 0; off < (size_t)n && added == 0; off += SESSION_INPUT_PIECE)
            added = evbuffer_add(in, session_rbuf + off,
                                 (size_t)n - off < SESSION_INPUT_PIECE ? (size_t)n - off
                                                                       : SESSION_INPUT_PIECE);
        evbuffer_freeze(in, 0);
        if (added < 0)
            session_close(s, "out of memory");
        else
            session_process(s);
    } else if (n == 0) {
        session_read_stop(s);
        session_input_ended(s);
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        session_close(s, "connection error");
    }
}

static void
session_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;
    struct evbuffer *out;
    int n;

    (void)fd;
    (void)what;
    if (s->bev == NULL || s->tls)
        return;
    out = bufferevent_get_output(s->bev);
    if (evbuffer_get_length(out) == 0)
        return;
    /* What the client is about to read is in the log already: the lines of
     * this turn (log.h batches them) go first, all sessions' in one write. */
    log_flush();
    /* a socket bufferevent freezes its output's front between its own writes */
    evbuffer_unfreeze(out, 1);
    n = evbuffer_write(out, bufferevent_getfd(s->bev));
    evbuffer_freeze(out, 1);
    if (n < 0 || evbuffer_get_length(out) > 0) {
        /* a full socket buffer, or an error the bufferevent reports */
        bufferevent_enable(s->bev, EV_WRITE);
        return;
    }
    session_output_drained(s);
}

void
session_io_start(struct session *s, int fd)
{
    struct event_base *base = bufferevent_get_base(s->bev);

    s->flush = event_new(base, -1, 0, session_flush_cb, s);
    s->recv = event_new(base, fd, EV_READ | EV_PERSIST, session_recv_cb, s);
    session_read_start(s);
}

void
session_io_end(struct session *s)
{
    if (s->recv) {
        event_free(s->recv);
        s->recv = NULL;
    }
    if (s->flush) {
        event_free(s->flush);
        s->flush = NULL;
    }
}

void
session_output_queued(struct session *s)
{
    if (!s->tls && s->flush)
        event_active(s->flush, EV_WRITE, 0);
}

void
session_read_start(struct session *s)
{
    struct timeval idle = {(time_t)s->rc->connection_inactivity_timeout, 0};

    if (s->bev == NULL)
        return;
    if (s->tls || s->recv == NULL)
        bufferevent_enable(s->bev, EV_READ);
    else
        event_add(s->recv, &idle);
}

void
session_read_stop(struct session *s)
{
    if (s->bev == NULL)
        return;
    if (s->tls || s->recv == NULL)
        bufferevent_disable(s->bev, EV_READ);
    else
        event_del(s->recv);
}
