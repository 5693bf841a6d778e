/*
 * tls_handshake.c — the asynchronous handshake driver (see
 * tls_handshake.h).
 *
 * Each step is one SSL_do_handshake in OpenSSL's ASYNC mode. It returns
 * WANT_READ or WANT_WRITE (wait for the socket), WANT_ASYNC (a key
 * operation paused its job: wait for the wake-up, which tls_remote_key
 * sends through the job's ASYNC_WAIT_CTX callback), WANT_ASYNC_JOB (no job
 * free: wait in line), success or failure. The wake-up only marks an
 * event active: the next step always runs from the loop, never inside
 * whoever delivered the answer.
 *
 * Must never: call done more than once or after cancel, free or close the
 * SSL or the socket, or free itself while its SSL has a paused job (the
 * job would keep its stack and its request for ever).
 */
#include "tls/tls_handshake.h"
#include "lib/log.h"
#include "lib/util.h"
#include "tls/tls_int.h"

#include <openssl/async.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <errno.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A handshake that found no free ASYNC job is woken when a paused one
 * finishes its job; this retry only covers a job freed some other way
 * (another user of the thread's pool). */
#define JOB_RETRY_USEC 100000
/* Resumptions tried when winding up a paused job; one suffices (the
 * abandoned request fails, and so does the handshake). */
#define WIND_UP_TRIES 4

struct tls_handshake {
    SSL *ssl;
    struct event *rd, *wr, *step_ev, *timer;
    tls_handshake_done_fn done;
    void *arg;
    bool waiting; /* in the line for a free job */
    struct tls_handshake *wait_prev, *wait_next;
};

/* The handshakes of this thread waiting for an ASYNC job, oldest first.
 * Per thread, as OpenSSL's job pool is; handshakes run on their loop's
 * thread only. */
static _Thread_local struct tls_handshake *job_line_head, *job_line_tail;
static _Thread_local size_t job_line_len;
static _Thread_local size_t job_pool_max;
static _Thread_local time_t job_line_logged;

static void
job_line_leave(struct tls_handshake *h)
{
    if (!h->waiting)
        return;
    if (h->wait_prev)
        h->wait_prev->wait_next = h->wait_next;
    else
        job_line_head = h->wait_next;
    if (h->wait_next)
        h->wait_next->wait_prev = h->wait_prev;
    else
        job_line_tail = h->wait_prev;
    h->wait_prev = h->wait_next = NULL;
    h->waiting = false;
    job_line_len--;
}

static void
job_line_join(struct tls_handshake *h)
{
    time_t now = time(NULL);

    if (h->waiting)
        return;
    h->waiting = true;
    h->wait_prev = job_line_tail;
    if (job_line_tail)
        job_line_tail->wait_next = h;
    else
        job_line_head = h;
    job_line_tail = h;
    job_line_len++;
    if (now - job_line_logged >= 60) {
        job_line_logged = now;
        log_warnx("tls: %zu handshakes wait for a key operation slot (all %zu in use)",
                  job_line_len, job_pool_max);
    }
}

/* A job went back to the pool: the first in line takes its turn. */
static void
job_line_wake(void)
{
    struct tls_handshake *h = job_line_head;

    if (h == NULL)
        return;
    job_line_leave(h);
    event_active(h->step_ev, EV_TIMEOUT, 0);
}

int
tls_handshake_init_thread(size_t max_paused)
{
    if (ASYNC_init_thread(max_paused, 0) != 1) {
        ERR_clear_error();
        return -1;
    }
    job_pool_max = max_paused;
    return 0;
}

/* What the SSL keeps as its async callback once h is gone: libssl calls
 * it without checking for NULL, and nothing should reach it anyway. */
static int
async_ignore(SSL *ssl, void *arg)
{
    return 1;
}

static void
release(struct tls_handshake *h)
{
    job_line_leave(h);
    SSL_clear_mode(h->ssl, SSL_MODE_ASYNC);
    if (SSL_set_async_callback(h->ssl, async_ignore) != 1 ||
        SSL_set_async_callback_arg(h->ssl, NULL) != 1)
        ERR_clear_error();
    if (h->rd)
        event_free(h->rd);
    if (h->wr)
        event_free(h->wr);
    if (h->step_ev)
        event_free(h->step_ev);
    if (h->timer)
        event_free(h->timer);
    free(h);
}

/* Resumes a paused job until it finishes: its request, unanswered, is
 * given up, the key operation fails and the handshake with it. */
static void
wind_up(struct tls_handshake *h)
{
    bool paused = SSL_waiting_for_async(h->ssl);

    for (int i = 0; i < WIND_UP_TRIES && SSL_waiting_for_async(h->ssl); i++) {
        ERR_clear_error();
        (void)SSL_do_handshake(h->ssl);
    }
    ERR_clear_error();
    if (paused && !SSL_waiting_for_async(h->ssl))
        job_line_wake();
}

static void
finish(struct tls_handshake *h, enum tls_handshake_result result, const char *reason)
{
    tls_handshake_done_fn done = h->done;
    void *arg = h->arg;
    char text[256];

    strlcpy_p(text, reason, sizeof(text));
    if (result != TLS_HANDSHAKE_OK)
        wind_up(h);
    release(h);
    done(arg, result, text);
}

/* The reason of a failed step, from the OpenSSL error queue first. */
static void
failure_reason(int err, int saved_errno, char *buf, size_t len)
{
    if (ERR_peek_error() != 0)
        tls_last_error(buf, len);
    else if (err == SSL_ERROR_SYSCALL && saved_errno != 0)
        strlcpy_p(buf, strerror(saved_errno), len);
    else
        strlcpy_p(buf, "connection closed", len);
}

static void
step(struct tls_handshake *h)
{
    char reason[256];
    int r, err, saved_errno;
    bool paused = SSL_waiting_for_async(h->ssl);

    ERR_clear_error();
    errno = 0;
    r = SSL_do_handshake(h->ssl);
    saved_errno = errno;
    if (paused && !SSL_waiting_for_async(h->ssl))
        job_line_wake(); /* its job is back in the pool */
    if (r == 1) {
        finish(h, TLS_HANDSHAKE_OK, "");
        return;
    }
    err = SSL_get_error(h->ssl, r);
    switch (err) {
    case SSL_ERROR_WANT_READ:
        event_add(h->rd, NULL);
        return;
    case SSL_ERROR_WANT_WRITE:
        event_add(h->wr, NULL);
        return;
    case SSL_ERROR_WANT_ASYNC:
        /* tls_remote_key wakes us through async_wake */
        return;
    case SSL_ERROR_WANT_ASYNC_JOB: {
        struct timeval retry = {0, JOB_RETRY_USEC};
        job_line_join(h);
        evtimer_add(h->step_ev, &retry);
        return;
    }
    default:
        failure_reason(err, saved_errno, reason, sizeof(reason));
        finish(h, TLS_HANDSHAKE_FAILED, reason);
        return;
    }
}

static void
io_cb(evutil_socket_t fd, short what, void *arg)
{
    step(arg);
}

static void
step_cb(evutil_socket_t fd, short what, void *arg)
{
    step(arg);
}

static void
timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    finish(arg, TLS_HANDSHAKE_TIMEOUT, "handshake timed out");
}

/* The ASYNC_WAIT_CTX callback (SSL_set_async_callback): the answer a
 * paused job waits for is there. Possibly on another thread: it only
 * marks the next step due. */
static int
async_wake(SSL *ssl, void *arg)
{
    struct tls_handshake *h = arg;

    event_active(h->step_ev, EV_TIMEOUT, 0);
    return 1;
}

struct tls_handshake *
tls_handshake_start(struct event_base *base, int fd, struct ssl_st *ssl, int timeout_seconds,
                    tls_handshake_done_fn done, void *arg)
{
    struct tls_handshake *h;

    if (base == NULL || fd < 0 || ssl == NULL || done == NULL)
        return NULL;
    h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->ssl = ssl;
    h->done = done;
    h->arg = arg;
    h->rd = event_new(base, fd, EV_READ, io_cb, h);
    h->wr = event_new(base, fd, EV_WRITE, io_cb, h);
    h->step_ev = evtimer_new(base, step_cb, h);
    h->timer = evtimer_new(base, timeout_cb, h);
    if (h->rd == NULL || h->wr == NULL || h->step_ev == NULL || h->timer == NULL)
        goto fail;
    if (SSL_get_rbio(ssl) == NULL && SSL_set_fd(ssl, fd) != 1)
        goto fail;
    if (SSL_set_async_callback(ssl, async_wake) != 1 || SSL_set_async_callback_arg(ssl, h) != 1)
        goto fail;
    SSL_set_mode(ssl, SSL_MODE_ASYNC);
    if (timeout_seconds > 0) {
        struct timeval tv = {timeout_seconds, 0};
        evtimer_add(h->timer, &tv);
    }
    /* the first step from the loop: done never runs inside this call */
    event_active(h->step_ev, EV_TIMEOUT, 0);
    return h;
fail:
    ERR_clear_error();
    release(h);
    return NULL;
}

void
tls_handshake_cancel(struct tls_handshake *h)
{
    if (h == NULL)
        return;
    wind_up(h);
    release(h);
}
