/*
 * test_ipc.c — unit tests for lib/ipc (framing, descriptor passing,
 * protocol errors, re-entrancy, blocking helpers) and lib/ipc_buf (the
 * payload writer and the bounds-checked reader), over real socketpairs and
 * a real libevent loop.
 * Must never: wait without a bound (every loop has a deadline), or leave a
 * descriptor open that a test checks for end of file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/ipc.h"
#include "lib/ipc_buf.h"

/* Bound on any one loop run; tests end well before it or fail. */
#define LOOP_LIMIT_S 60

/* ---- helpers ---- */

static void
make_pair(int sv[2], int sndbuf)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    if (sndbuf > 0) {
        for (int i = 0; i < 2; i++) {
            assert_int_equal(setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
            assert_int_equal(setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof(sndbuf)), 0);
        }
    }
}

/* Runs base until something calls event_base_loopbreak; fails the test if
 * the limit passes first. */
static void
run_loop(struct event_base *base)
{
    struct timeval limit = {LOOP_LIMIT_S, 0};

    assert_int_equal(event_base_loopexit(base, &limit), 0);
    assert_int_equal(event_base_dispatch(base), 0);
    if (!event_base_got_break(base))
        fail_msg("the event loop ran %d s without finishing", LOOP_LIMIT_S);
}

static unsigned char
pattern(uint32_t msg, size_t off)
{
    return (unsigned char)(msg * 131u + off * 7u + (off >> 9));
}

static unsigned char *
make_payload(uint32_t msg, size_t len)
{
    unsigned char *p = malloc(len ? len : 1);

    assert_non_null(p);
    for (size_t i = 0; i < len; i++)
        p[i] = pattern(msg, i);
    return p;
}

static bool
payload_ok(uint32_t msg, const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != pattern(msg, i))
            return false;
    return true;
}

/* What a receiving channel saw. */
struct rx {
    struct event_base *base;
    struct ipc_chan *ch;
    unsigned nmsgs, want;
    uint32_t types[64];
    int fds[64];
    size_t lens[64];
    bool bad; /* a payload or header did not match */
    bool closed;
    char reason[256];
    unsigned free_at; /* free the channel inside the handler at this message (1-based) */
};

static void
rx_closed(struct ipc_chan *ch, const char *reason, void *arg)
{
    struct rx *rx = arg;

    (void)ch;
    if (rx->closed)
        rx->bad = true; /* twice */
    rx->closed = true;
    snprintf(rx->reason, sizeof(rx->reason), "%s", reason);
    event_base_loopbreak(rx->base);
}

/* Records the message (its descriptor too) and stops the loop once want
 * messages came. */
static void
rx_record(struct ipc_chan *ch, const struct ipc_msg *m, void *arg)
{
    struct rx *rx = arg;

    if (rx->nmsgs < 64) {
        rx->types[rx->nmsgs] = m->type;
        rx->fds[rx->nmsgs] = m->fd;
        rx->lens[rx->nmsgs] = m->len;
    } else if (m->fd >= 0) {
        close(m->fd);
    }
    if (m->id != m->type * 10 || !payload_ok(m->type, m->data, m->len))
        rx->bad = true;
    rx->nmsgs++;
    if (rx->free_at != 0 && rx->nmsgs == rx->free_at) {
        ipc_chan_free(ch);
        rx->ch = NULL;
        event_base_loopbreak(rx->base);
        return;
    }
    if (rx->nmsgs == rx->want)
        event_base_loopbreak(rx->base);
}

static void
no_msg(struct ipc_chan *ch, const struct ipc_msg *m, void *arg)
{
    (void)ch;
    (void)m;
    (void)arg;
    fail_msg("unexpected message");
}

static void
tx_closed(struct ipc_chan *ch, const char *reason, void *arg)
{
    (void)ch;
    (void)arg;
    fail_msg("sender closed: %s", reason);
}

static void
send_pattern(struct ipc_chan *ch, uint32_t type, int fd, size_t len)
{
    unsigned char *p = make_payload(type, len);

    assert_int_equal(ipc_send(ch, type, type * 10, fd, p, len), 0);
    free(p);
}

/* Raw bytes on the wire, as a misbehaving peer would write them. */
static void
write_raw_header(int sock, uint32_t type, uint32_t id, uint32_t len, uint32_t flags)
{
    uint32_t h[4] = {type, id, len, flags};

    assert_int_equal(write(sock, h, sizeof(h)), (ssize_t)sizeof(h));
}

/* A peer's bytes (written raw to sv[0]) read by a channel on sv[1]: returns
 * the reason it closed with. */
static void
expect_closed(int sv[2], struct rx *rx, const char *want)
{
    struct event_base *base = rx->base;

    rx->ch = ipc_chan_new(base, sv[1], rx_record, rx_closed, rx);
    run_loop(base);
    assert_true(rx->closed);
    if (strstr(rx->reason, want) == NULL)
        fail_msg("closed with \"%s\", expected \"%s\"", rx->reason, want);
    assert_int_equal(ipc_send(rx->ch, 1, 10, -1, "x", 1), -1);
    assert_int_equal(errno, EPIPE);
    ipc_chan_free(rx->ch);
}

/* ---- tests ---- */

/* Many messages of sizes 0 to 1 MiB through 4 KB socket buffers: every
 * byte arrives in order, headers intact, nothing left queued. */
static void
test_round_trip(void **state)
{
    struct event_base *base = event_base_new();
    struct rx rx = {.base = base};
    int sv[2];
    size_t sizes[60], total = 0;
    uint32_t seed = 12345;
    size_t fixed[] = {0,     1,     15,    16,     17,     255,     4095, 4096,
                      65535, 65536, 65537, 131072, 524287, 1 << 20, 0,    3};

    (void)state;
    make_pair(sv, 4096);
    for (size_t i = 0; i < 60; i++) {
        if (i < sizeof(fixed) / sizeof(fixed[0])) {
            sizes[i] = fixed[i];
        } else {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            /* mostly small, some up to 1 MiB */
            sizes[i] = (seed % 4 == 0) ? seed % ((1u << 20) + 1) : seed % 3000;
        }
    }
    struct ipc_chan *tx = ipc_chan_new(base, sv[0], no_msg, tx_closed, NULL);
    rx.ch = ipc_chan_new(base, sv[1], rx_record, rx_closed, &rx);
    rx.want = 60;
    for (uint32_t i = 0; i < 60; i++) {
        send_pattern(tx, i + 1, -1, sizes[i]);
        total += IPC_HDR_SIZE + sizes[i];
    }
    assert_int_equal(ipc_pending_bytes(tx), total);
    run_loop(base);
    assert_false(rx.bad);
    assert_false(rx.closed);
    assert_int_equal(rx.nmsgs, 60);
    for (uint32_t i = 0; i < 60; i++) {
        assert_int_equal(rx.types[i], i + 1);
        assert_int_equal(rx.lens[i], sizes[i]);
        assert_int_equal(rx.fds[i], -1);
    }
    assert_int_equal(ipc_pending_bytes(tx), 0);

    /* The largest payload allowed passes; one byte more is refused at once. */
    rx.nmsgs = 0;
    rx.want = 1;
    send_pattern(tx, 61, -1, IPC_MAX_PAYLOAD);
    run_loop(base);
    assert_false(rx.bad);
    assert_int_equal(rx.lens[0], IPC_MAX_PAYLOAD);
    assert_int_equal(ipc_send(tx, 62, 620, -1, "", IPC_MAX_PAYLOAD + 1), -1);
    assert_int_equal(errno, EMSGSIZE);
    assert_int_equal(ipc_pending_bytes(tx), 0);

    ipc_chan_free(tx);
    ipc_chan_free(rx.ch);
    event_base_free(base);
}

/* A pipe's write end sent over the channel works on the other side; the
 * sender's copy is closed once sent (the reader sees end of file after the
 * receiver closes its copy) and the received one is close-on-exec. */
static void
test_fd_passing(void **state)
{
    struct event_base *base = event_base_new();
    struct rx rx = {.base = base, .want = 1};
    int sv[2], p[2];
    char buf[16];

    (void)state;
    make_pair(sv, 0);
    assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    struct ipc_chan *tx = ipc_chan_new(base, sv[0], no_msg, tx_closed, NULL);
    rx.ch = ipc_chan_new(base, sv[1], rx_record, rx_closed, &rx);
    send_pattern(tx, 1, p[1], 100);
    run_loop(base);
    assert_false(rx.bad);
    assert_int_equal(rx.nmsgs, 1);
    assert_true(rx.fds[0] >= 0);
    assert_true(fcntl(rx.fds[0], F_GETFD) & FD_CLOEXEC);
    assert_int_equal(write(rx.fds[0], "hello", 5), 5);
    assert_int_equal(close(rx.fds[0]), 0);
    assert_int_equal(read(p[0], buf, sizeof(buf)), 5);
    assert_memory_equal(buf, "hello", 5);
    /* Every write end is closed: end of file, not EAGAIN. */
    assert_int_equal(read(p[0], buf, sizeof(buf)), 0);
    close(p[0]);
    ipc_chan_free(tx);
    ipc_chan_free(rx.ch);
    event_base_free(base);
}

/* Descriptors go to their own messages, with messages without one (small
 * and large, so writes are partial) in between. */
static void
test_fd_ordering(void **state)
{
    struct event_base *base = event_base_new();
    struct rx rx = {.base = base, .want = 12};
    /* which messages carry a descriptor */
    const bool with_fd[12] = {true,  false, false, true, true,  false,
                              false, true,  false, true, false, true};
    int sv[2], pipes[12][2];

    (void)state;
    make_pair(sv, 4096);
    struct ipc_chan *tx = ipc_chan_new(base, sv[0], no_msg, tx_closed, NULL);
    rx.ch = ipc_chan_new(base, sv[1], rx_record, rx_closed, &rx);
    for (uint32_t i = 0; i < 12; i++) {
        int fd = -1;
        if (with_fd[i]) {
            assert_int_equal(pipe2(pipes[i], O_NONBLOCK | O_CLOEXEC), 0);
            fd = pipes[i][1];
        }
        send_pattern(tx, i + 1, fd, i % 3 == 0 ? 70000 : 10 * i);
    }
    run_loop(base);
    assert_false(rx.bad);
    assert_int_equal(rx.nmsgs, 12);
    for (uint32_t i = 0; i < 12; i++) {
        char c = (char)('a' + i), got = 0;
        if (!with_fd[i]) {
            assert_int_equal(rx.fds[i], -1);
            continue;
        }
        /* The descriptor of message i is the pipe the test made for i. */
        assert_true(rx.fds[i] >= 0);
        assert_int_equal(write(rx.fds[i], &c, 1), 1);
        close(rx.fds[i]);
        assert_int_equal(read(pipes[i][0], &got, 1), 1);
        assert_int_equal(got, c);
        assert_int_equal(read(pipes[i][0], &got, 1), 0);
        close(pipes[i][0]);
    }
    ipc_chan_free(tx);
    ipc_chan_free(rx.ch);
    event_base_free(base);
}

/* A peer that sends three flagged messages and their three descriptors in
 * one sendmsg: the queue gives them out oldest first. */
static void
test_fds_batched(void **state)
{
    struct event_base *base = event_base_new();
    struct rx rx = {.base = base, .want = 3};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(3 * sizeof(int))];
    } cbuf;
    uint32_t wire[3][4];
    int sv[2], pipes[3][2], fds[3];
    struct iovec iov = {wire, sizeof(wire)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

    (void)state;
    make_pair(sv, 0);
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(pipe2(pipes[i], O_NONBLOCK | O_CLOEXEC), 0);
        fds[i] = pipes[i][1];
        wire[i][0] = i + 1;
        wire[i][1] = (i + 1) * 10;
        wire[i][2] = 0;
        wire[i][3] = IPC_F_HAS_FD;
    }
    memset(&cbuf, 0, sizeof(cbuf));
    mh.msg_control = cbuf.buf;
    mh.msg_controllen = sizeof(cbuf.buf);
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(fds));
    memcpy(CMSG_DATA(c), fds, sizeof(fds));
    assert_int_equal(sendmsg(sv[0], &mh, 0), (ssize_t)sizeof(wire));
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    rx.ch = ipc_chan_new(base, sv[1], rx_record, rx_closed, &rx);
    run_loop(base);
    assert_false(rx.bad);
    assert_int_equal(rx.nmsgs, 3);
    for (int i = 0; i < 3; i++) {
        char ch = (char)('0' + i), got = 0;
        assert_int_equal(write(rx.fds[i], &ch, 1), 1);
        close(rx.fds[i]);
        assert_int_equal(read(pipes[i][0], &got, 1), 1);
        assert_int_equal(got, ch);
        close(pipes[i][0]);
    }
    ipc_chan_free(rx.ch);
    close(sv[0]);
    event_base_free(base);
}

static void
test_oversize_header(void **state)
{
    struct event_base *base = event_base_new();
    struct rx rx = {.base = base};
    int sv[2];

    (void)state;
    make_pair(sv, 0);
    write_raw_header(sv[0], 7, 70, IPC_MAX_PAYLOAD + 1, 0);
    expect_closed(sv, &rx, "message type 7 claims 16777217 bytes (at most 16777216)");
    assert_int_equal(rx.nmsgs, 0);
    close(sv[0]);

    /* Even a header that claims 4 GiB, after a good message. */
    memset(&rx, 0, sizeof(rx));
    rx.base = base;
    make_pair(sv, 0);
    write_raw_header(sv[0], 1, 10, 0, 0);
    write_raw_header(sv[0], 8, 80, UINT32_MAX, 0);
    expect_closed(sv, &rx, "claims 4294967295 bytes");
    assert_int_equal(rx.nmsgs, 1);
    close(sv[0]);

    memset(&rx, 0, sizeof(rx));
    rx.base = base;
    make_pair(sv, 0);
    write_raw_header(sv[0], 9, 90, 0, 0x80);
    expect_closed(sv, &rx, "message type 9 has unknown flags 0x80");
    close(sv[0]);
    event_base_free(base);
}

static void
test_truncated_stream(void **state)
{
    struct event_base *base = event_base_new();
    struct rx rx = {.base = base};
    unsigned char half[50] = {0};
    int sv[2];

    (void)state;
    make_pair(sv, 0);
    write_raw_header(sv[0], 3, 30, 100, 0);
    assert_int_equal(write(sv[0], half, sizeof(half)), (ssize_t)sizeof(half));
    close(sv[0]);
    expect_closed(sv, &rx, "peer closed the channel in the middle of a message (66 bytes)");
    assert_int_equal(rx.nmsgs, 0);

    /* Half a header. */
    memset(&rx, 0, sizeof(rx));
    rx.base = base;
    make_pair(sv, 0);
    assert_int_equal(write(sv[0], half, 7), 7);
    close(sv[0]);
    expect_closed(sv, &rx, "in the middle of a message (7 bytes)");

    /* A clean end after whole messages. */
    memset(&rx, 0, sizeof(rx));
    rx.base = base;
    make_pair(sv, 0);
    write_raw_header(sv[0], 1, 10, 0, 0);
    close(sv[0]);
    expect_closed(sv, &rx, "peer closed the channel");
    assert_int_equal(rx.nmsgs, 1);
    event_base_free(base);
}

static void
test_flag_without_fd(void **state)
{
    struct event_base *base = event_base_new();
    struct rx rx = {.base = base};
    int sv[2];

    (void)state;
    make_pair(sv, 0);
    write_raw_header(sv[0], 4, 40, 3, IPC_F_HAS_FD);
    assert_int_equal(write(sv[0], "abc", 3), 3);
    expect_closed(sv, &rx, "message type 4 should carry a descriptor, none came");
    assert_int_equal(rx.nmsgs, 0);
    close(sv[0]);
    event_base_free(base);
}

/* The handler frees its channel on the 2nd of 6 buffered messages: no
 * further call, no closed callback, and the descriptors of the messages
 * it never saw are closed (their pipes reach end of file). */
static void
test_free_in_handler(void **state)
{
    struct event_base *base = event_base_new();
    struct rx rx = {.base = base, .want = 6, .free_at = 2};
    int sv[2], pipes[6][2];
    char c;

    (void)state;
    make_pair(sv, 0);
    struct ipc_chan *tx = ipc_chan_new(base, sv[0], no_msg, tx_closed, NULL);
    for (uint32_t i = 0; i < 6; i++) {
        assert_int_equal(pipe2(pipes[i], O_NONBLOCK | O_CLOEXEC), 0);
        send_pattern(tx, i + 1, pipes[i][1], 10);
    }
    /* Everything is on the wire before the receiver starts. */
    for (int i = 0; i < 100 && ipc_pending_bytes(tx) > 0; i++)
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_int_equal(ipc_pending_bytes(tx), 0);
    rx.ch = ipc_chan_new(base, sv[1], rx_record, rx_closed, &rx);
    run_loop(base);
    assert_int_equal(rx.nmsgs, 2);
    assert_false(rx.closed);
    assert_false(rx.bad);
    for (int i = 0; i < 2; i++)
        close(rx.fds[i]);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(read(pipes[i][0], &c, 1), 0);
        close(pipes[i][0]);
    }
    ipc_chan_free(tx);
    event_base_free(base);
}

struct freeing_closed {
    struct event_base *base;
    struct ipc_chan *ch;
    int calls;
};

static void
free_on_close(struct ipc_chan *ch, const char *reason, void *arg)
{
    struct freeing_closed *fc = arg;

    (void)reason;
    fc->calls++;
    ipc_chan_free(ch);
    event_base_loopbreak(fc->base);
}

/* The closed callback may free the channel; it is called once. */
static void
test_free_in_closed(void **state)
{
    struct event_base *base = event_base_new();
    struct freeing_closed fc = {.base = base};
    int sv[2];

    (void)state;
    make_pair(sv, 0);
    fc.ch = ipc_chan_new(base, sv[1], no_msg, free_on_close, &fc);
    /* Queued output is dropped with the channel, descriptor included. */
    int p[2];
    char c;
    assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    assert_int_equal(ipc_send(fc.ch, 1, 1, p[1], "x", 1), 0);
    shutdown(sv[0], SHUT_RDWR);
    run_loop(base);
    assert_int_equal(fc.calls, 1);
    assert_int_equal(read(p[0], &c, 1), 0);
    close(p[0]);
    close(sv[0]);
    event_base_free(base);
}

/* Both ends answer from inside their handlers: ping-pong 200 times. */
struct pingpong {
    struct event_base *base;
    unsigned rounds;
};

static void
pong(struct ipc_chan *ch, const struct ipc_msg *m, void *arg)
{
    struct pingpong *pp = arg;

    if (m->type == 2 && ++pp->rounds == 200) {
        event_base_loopbreak(pp->base);
        return;
    }
    assert_int_equal(m->len, 4);
    assert_int_equal(ipc_send(ch, m->type == 1 ? 2 : 1, m->id + 1, -1, m->data, m->len), 0);
}

static void
test_send_from_handler(void **state)
{
    struct event_base *base = event_base_new();
    struct pingpong pp = {.base = base};
    int sv[2];

    (void)state;
    make_pair(sv, 0);
    struct ipc_chan *a = ipc_chan_new(base, sv[0], pong, tx_closed, &pp);
    struct ipc_chan *b = ipc_chan_new(base, sv[1], pong, tx_closed, &pp);
    assert_int_equal(ipc_send(a, 1, 0, -1, "ping", 4), 0);
    run_loop(base);
    assert_int_equal(pp.rounds, 200);
    ipc_chan_free(a);
    ipc_chan_free(b);
    event_base_free(base);
}

/* The blocking helpers speak the same framing as the channel: a thread
 * writes with ipc_write_blocking (a descriptor included) while the loop
 * reads, then reads the loop's answers with ipc_read_blocking. */
struct blocking_peer {
    int sock;
    int pipe_w;
    bool ok;
};

static void *
blocking_peer(void *arg)
{
    struct blocking_peer *bp = arg;
    unsigned char *p = make_payload(5, 200000);
    struct ipc_msg m;
    unsigned char *buf;

    bp->ok = ipc_write_blocking(bp->sock, 5, 50, -1, p, 200000, 10000) == 0 &&
             ipc_write_blocking(bp->sock, 6, 60, bp->pipe_w, p, 0, 10000) == 0;
    free(p);
    close(bp->pipe_w);
    for (uint32_t t = 7; t <= 8 && bp->ok; t++) {
        if (ipc_read_blocking(bp->sock, &m, &buf, 10000) < 0) {
            bp->ok = false;
            break;
        }
        bp->ok = m.type == t && m.id == t * 10 && payload_ok(t, m.data, m.len) &&
                 m.len == (t == 7 ? 300000u : 0u) && buf[m.len] == '\0' && (t == 8) == (m.fd >= 0);
        if (m.fd >= 0) {
            bp->ok = bp->ok && write(m.fd, "!", 1) == 1;
            close(m.fd);
        }
        free(buf);
    }
    return NULL;
}

static void
test_blocking_helpers(void **state)
{
    struct event_base *base = event_base_new();
    struct rx rx = {.base = base, .want = 2};
    struct blocking_peer bp;
    int sv[2], p1[2], p2[2];
    pthread_t th;
    char c;

    (void)state;
    make_pair(sv, 4096);
    assert_int_equal(pipe2(p1, O_NONBLOCK | O_CLOEXEC), 0);
    assert_int_equal(pipe2(p2, O_NONBLOCK | O_CLOEXEC), 0);
    bp = (struct blocking_peer){sv[0], p1[1], false};
    rx.ch = ipc_chan_new(base, sv[1], rx_record, rx_closed, &rx);
    send_pattern(rx.ch, 7, -1, 300000);
    send_pattern(rx.ch, 8, p2[1], 0);
    assert_int_equal(pthread_create(&th, NULL, blocking_peer, &bp), 0);
    run_loop(base);
    /* the answers are still being flushed: keep the loop running until the
     * thread has them all */
    for (int i = 0; i < 10000 && ipc_pending_bytes(rx.ch) > 0; i++)
        event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_true(bp.ok);
    assert_false(rx.bad);
    assert_int_equal(rx.nmsgs, 2);
    assert_int_equal(rx.lens[0], 200000);
    assert_int_equal(rx.fds[0], -1);
    assert_true(rx.fds[1] >= 0);
    assert_int_equal(write(rx.fds[1], "?", 1), 1);
    close(rx.fds[1]);
    assert_int_equal(read(p1[0], &c, 1), 1);
    assert_int_equal(c, '?');
    assert_int_equal(read(p1[0], &c, 1), 0);
    assert_int_equal(read(p2[0], &c, 1), 1);
    assert_int_equal(c, '!');
    assert_int_equal(read(p2[0], &c, 1), 0);
    close(p1[0]);
    close(p2[0]);
    ipc_chan_free(rx.ch);
    close(sv[0]);
    event_base_free(base);
}

/* Blocking reads end: on time, at the peer's end, on bad framing. */
static void
test_blocking_errors(void **state)
{
    struct ipc_msg m;
    unsigned char *buf = (unsigned char *)"not touched";
    int sv[2];

    (void)state;
    make_pair(sv, 0);
    assert_int_equal(ipc_read_blocking(sv[1], &m, &buf, 50), -1);
    assert_int_equal(errno, ETIMEDOUT);
    assert_null(buf);

    write_raw_header(sv[0], 1, 10, IPC_MAX_PAYLOAD + 1, 0);
    assert_int_equal(ipc_read_blocking(sv[1], &m, &buf, 1000), -1);
    assert_int_equal(errno, EMSGSIZE);
    close(sv[0]);
    close(sv[1]);

    make_pair(sv, 0);
    write_raw_header(sv[0], 1, 10, 2, IPC_F_HAS_FD);
    assert_int_equal(write(sv[0], "ab", 2), 2);
    assert_int_equal(ipc_read_blocking(sv[1], &m, &buf, 1000), -1);
    assert_int_equal(errno, EPROTO);
    write_raw_header(sv[0], 1, 10, 5, 0);
    close(sv[0]);
    assert_int_equal(ipc_read_blocking(sv[1], &m, &buf, 1000), -1);
    assert_int_equal(errno, ECONNRESET);
    assert_int_equal(ipc_write_blocking(sv[1], 1, 1, -1, "x", 1, 1000), -1);
    assert_int_equal(errno, EPIPE);
    close(sv[1]);
}

/* ---- ipc_buf ---- */

static void
encode_sample(struct ipc_wbuf *w)
{
    ipc_put_u32(w, 0xdeadbeef);
    ipc_put_u64(w, 0x0123456789abcdefull);
    ipc_put_str(w, "alice@example.test");
    ipc_put_bytes(w, "\0\1\2\3", 4);
    ipc_put_str(w, "");
    ipc_put_bytes(w, NULL, 0);
    ipc_put_u32(w, 7);
}

/* Reads the sample's fields; true when all were as written. */
static bool
decode_sample(struct ipc_rbuf *r)
{
    size_t n1, n2;
    uint32_t a = ipc_get_u32(r);
    uint64_t b = ipc_get_u64(r);
    const char *s = ipc_get_str(r);
    const void *bytes = ipc_get_bytes(r, &n1);
    const char *empty = ipc_get_str(r);
    const void *none = ipc_get_bytes(r, &n2);
    uint32_t last = ipc_get_u32(r);

    /* Whatever happened, the results are safe to use. */
    assert_non_null(s);
    assert_non_null(bytes);
    assert_non_null(empty);
    assert_non_null(none);
    return a == 0xdeadbeef && b == 0x0123456789abcdefull && strcmp(s, "alice@example.test") == 0 &&
           n1 == 4 && memcmp(bytes, "\0\1\2\3", 4) == 0 && strcmp(empty, "") == 0 && n2 == 0 &&
           last == 7;
}

static void
test_buf_round_trip(void **state)
{
    struct ipc_wbuf w = {0};
    struct ipc_rbuf r;

    (void)state;
    encode_sample(&w);
    ipc_rbuf_init(&r, w.data, w.len);
    assert_true(decode_sample(&r));
    assert_true(ipc_rbuf_ok(&r));
    assert_true(ipc_rbuf_done(&r));

    /* Trailing bytes: every field reads, but the payload was not exact. */
    ipc_put_u32(&w, 0);
    ipc_rbuf_init(&r, w.data, w.len);
    assert_true(decode_sample(&r));
    assert_true(ipc_rbuf_ok(&r));
    assert_false(ipc_rbuf_done(&r));

    /* Growth well past the first allocation keeps every byte. */
    struct ipc_wbuf big = {0};
    for (uint32_t i = 0; i < 100000; i++)
        ipc_put_u32(&big, i);
    ipc_rbuf_init(&r, big.data, big.len);
    for (uint32_t i = 0; i < 100000; i++)
        assert_int_equal(ipc_get_u32(&r), i);
    assert_true(ipc_rbuf_done(&r));
    ipc_wbuf_free(&big);
    ipc_wbuf_free(&w);
    assert_null(w.data);
}

/* Every truncation of a valid payload is an error, read from a copy of
 * exactly that length (so ASan sees any read past it). */
static void
test_buf_truncations(void **state)
{
    struct ipc_wbuf w = {0};
    struct ipc_rbuf r;

    (void)state;
    encode_sample(&w);
    for (size_t cut = 0; cut < w.len; cut++) {
        unsigned char *copy = malloc(cut ? cut : 1);
        assert_non_null(copy);
        memcpy(copy, w.data, cut);
        ipc_rbuf_init(&r, copy, cut);
        if (decode_sample(&r) || ipc_rbuf_ok(&r) || ipc_rbuf_done(&r))
            fail_msg("a payload cut to %zu of %zu bytes was accepted", cut, w.len);
        free(copy);
    }
    ipc_rbuf_init(&r, NULL, 0);
    assert_int_equal(ipc_get_u32(&r), 0);
    assert_false(ipc_rbuf_ok(&r));
    ipc_wbuf_free(&w);
}

static void
test_buf_malformed(void **state)
{
    struct ipc_rbuf r;
    size_t n = 99;
    unsigned char no_nul[5] = {'a', 'b', 'c', 'd', 'e'};
    unsigned char huge_len[6] = {0xff, 0xff, 0xff, 0xff, 'x', 'y'};
    unsigned char two_strs[4] = {'a', 0, 'b', 'c'};

    (void)state;
    ipc_rbuf_init(&r, no_nul, sizeof(no_nul));
    assert_string_equal(ipc_get_str(&r), "");
    assert_false(ipc_rbuf_ok(&r));

    ipc_rbuf_init(&r, huge_len, sizeof(huge_len));
    const void *b = ipc_get_bytes(&r, &n);
    assert_non_null(b);
    assert_int_equal(n, 0);
    assert_false(ipc_rbuf_ok(&r));
    /* sticky: a field that would fit is still refused */
    ipc_rbuf_init(&r, two_strs, sizeof(two_strs));
    assert_string_equal(ipc_get_str(&r), "a");
    assert_string_equal(ipc_get_str(&r), "");
    assert_false(ipc_rbuf_ok(&r));
    assert_int_equal(ipc_get_u32(&r), 0);
}

int
main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_fd_passing),
        cmocka_unit_test(test_fd_ordering),
        cmocka_unit_test(test_fds_batched),
        cmocka_unit_test(test_oversize_header),
        cmocka_unit_test(test_truncated_stream),
        cmocka_unit_test(test_flag_without_fd),
        cmocka_unit_test(test_free_in_handler),
        cmocka_unit_test(test_free_in_closed),
        cmocka_unit_test(test_send_from_handler),
        cmocka_unit_test(test_blocking_helpers),
        cmocka_unit_test(test_blocking_errors),
        cmocka_unit_test(test_buf_round_trip),
        cmocka_unit_test(test_buf_truncations),
        cmocka_unit_test(test_buf_malformed),
    };
    /* clang-format on */

    return cmocka_run_group_tests(tests, NULL, NULL);
}
