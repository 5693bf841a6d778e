/*
 * log_client.c — see log_client.h.
 *
 * Must never: call ipc_read_blocking before a whole message is waiting
 * (a time-out in the middle of one would leave the rest to be taken for
 * the next), or hold the mutex across anything but one call.
 */
#include "logs/log_client.h"
#include "lib/ipc.h"
#include "lib/ipc_buf.h"
#include "lib/log.h"
#include "lib/proc.h"
#include "lib/util.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct log_client {
    pthread_mutex_t lock;
    int sock;
    int timeout_ms;
    uint32_t last_req;
};

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct log_client *
log_client_new(int fd, int timeout_ms)
{
    struct log_client *lc = xcalloc(1, sizeof(*lc));

    if (pthread_mutex_init(&lc->lock, NULL) != 0)
        fatalx("logs: pthread_mutex_init");
    lc->sock = fd;
    lc->timeout_ms = timeout_ms;
    return lc;
}

void
log_client_attach(struct log_client *lc, int fd)
{
    pthread_mutex_lock(&lc->lock);
    if (lc->sock >= 0)
        close(lc->sock);
    lc->sock = fd;
    pthread_mutex_unlock(&lc->lock);
}

void
log_client_free(struct log_client *lc)
{
    if (lc == NULL)
        return;
    if (lc->sock >= 0)
        close(lc->sock);
    pthread_mutex_destroy(&lc->lock);
    free(lc);
}

/* The channel lost its framing or its peer: nothing more can be asked
 * on it until the next attach. */
static void
broken(struct log_client *lc, const char *what)
{
    log_warn("logs: the channel to the queue process failed (%s); log files stay closed until "
             "it is restored",
             what);
    close(lc->sock);
    lc->sock = -1;
}

/* Waits until a whole message is queued on the socket, reading nothing.
 * The answers are a few bytes sent in one piece, so this is normally the
 * moment the first byte arrives. */
static int
wait_message(int sock, long long deadline)
{
    for (;;) {
        uint32_t h[4];
        int avail = 0;
        ssize_t n = recv(sock, h, sizeof(h), MSG_PEEK | MSG_DONTWAIT);
        long long left = deadline - now_ms();

        if (n == 0) {
            errno = ECONNRESET;
            return -1;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        if (n == (ssize_t)sizeof(h) &&
            (h[2] > IPC_MAX_PAYLOAD ||
             (ioctl(sock, FIONREAD, &avail) == 0 && (size_t)avail >= sizeof(h) + h[2])))
            return 0; /* whole (or so broken that reading it says so) */
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        /* part of a message: look again shortly rather than spin */
        struct pollfd p = {sock, n > 0 ? 0 : POLLIN, 0};
        (void)poll(&p, 1, n > 0 ? 1 : (int)(left > 1000000 ? 1000000 : left));
    }
}

int
log_client_open_day(void *arg, const struct csvlog_spec *spec, const char *day, const char *stamp)
{
    struct log_client *lc = arg;
    struct ipc_wbuf w = {0};
    long long deadline = now_ms() + lc->timeout_ms;
    uint32_t req;
    int fd = -1, e = 0;

    pthread_mutex_lock(&lc->lock);
    if (lc->sock < 0) {
        e = ENOTCONN;
        goto out;
    }
    if (++lc->last_req == 0)
        lc->last_req = 1;
    req = lc->last_req;
    ipc_put_str(&w, spec->subdir);
    ipc_put_str(&w, spec->prefix);
    ipc_put_str(&w, day);
    ipc_put_str(&w, stamp);
    if (ipc_write_blocking(lc->sock, MSG_LOG_OPEN, req, -1, w.data, w.len, lc->timeout_ms) < 0) {
        e = errno;
        broken(lc, "write");
        goto out;
    }
    for (;;) {
        struct ipc_msg m;
        unsigned char *buf;
        struct ipc_rbuf r;
        uint32_t err;

        if (wait_message(lc->sock, deadline) < 0) {
            e = errno;
            if (e != ETIMEDOUT)
                broken(lc, "read");
            goto out;
        }
        if (ipc_read_blocking(lc->sock, &m, &buf, lc->timeout_ms) < 0) {
            e = errno;
            broken(lc, "read");
            goto out;
        }
        ipc_rbuf_init(&r, m.data, m.len);
        err = ipc_get_u32(&r);
        if (m.type != MSG_LOG_OPENED || m.id != req) {
            /* the late answer to a call that timed out */
            if (m.fd >= 0)
                close(m.fd);
            free(buf);
            continue;
        }
        free(buf);
        if (!ipc_rbuf_done(&r) || (err == 0) != (m.fd >= 0)) {
            if (m.fd >= 0)
                close(m.fd);
            e = err ? (int)err : EPROTO;
        } else if (err != 0) {
            e = (int)err;
        } else {
            fd = m.fd;
        }
        break;
    }
out:
    pthread_mutex_unlock(&lc->lock);
    ipc_wbuf_free(&w);
    errno = e;
    return fd;
}
