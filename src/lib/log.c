/*
 * log.c — see log.h. Writes whole lines with one write(2) so that lines from
 * worker threads never interleave; a batch holds only whole lines.
 */
#include "lib/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int debug_enabled;

#define LOG_BATCH_MAX 4096
static pthread_mutex_t batch_lock = PTHREAD_MUTEX_INITIALIZER;
static void (*batch_wake)(void *);
static void *batch_wake_arg;
static char batch[LOG_BATCH_MAX];
static size_t batch_len;

static void
batch_write_locked(void)
{
    if (batch_len > 0)
        (void)!write(STDERR_FILENO, batch, batch_len);
    batch_len = 0;
}

void
log_flush(void)
{
    pthread_mutex_lock(&batch_lock);
    batch_write_locked();
    pthread_mutex_unlock(&batch_lock);
}

void
log_batch_lines(void (*wake)(void *), void *arg)
{
    static bool flush_at_exit;

    pthread_mutex_lock(&batch_lock);
    batch_write_locked();
    batch_wake = wake;
    batch_wake_arg = arg;
    pthread_mutex_unlock(&batch_lock);
    if (!flush_at_exit && atexit(log_flush) == 0)
        flush_at_exit = true;
}

/* Writes line, or adds it to the batch when batching and it may wait. */
static void
line_out(const char *line, size_t n, bool may_wait)
{
    bool was_empty;
    void (*wake)(void *);
    void *wake_arg;

    pthread_mutex_lock(&batch_lock);
    if (batch_wake == NULL || !may_wait || n > LOG_BATCH_MAX) {
        batch_write_locked();
        (void)!write(STDERR_FILENO, line, n);
        pthread_mutex_unlock(&batch_lock);
        return;
    }
    if (batch_len + n > LOG_BATCH_MAX)
        batch_write_locked();
    was_empty = batch_len == 0;
    memcpy(batch + batch_len, line, n);
    batch_len += n;
    wake = batch_wake;
    wake_arg = batch_wake_arg;
    pthread_mutex_unlock(&batch_lock);
    if (was_empty)
        wake(wake_arg);
}

void
log_set_debug(int on)
{
    debug_enabled = on;
}

static void
log_line(const char *level, bool may_wait, int with_errno, int saved_errno, const char *fmt,
         va_list ap)
{
    char line[2048];
    struct timeval tv;
    struct tm tm;
    size_t n;
    int r;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    r = snprintf(line + n, sizeof(line) - n, ".%03dZ %s ", (int)(tv.tv_usec / 1000), level);
    if (r > 0)
        n += (size_t)r;
    r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    n = r < 0 ? n : (n + (size_t)r >= sizeof(line) - 64 ? sizeof(line) - 64 : n + (size_t)r);
    if (with_errno) {
        r = snprintf(line + n, sizeof(line) - n, ": %s", strerror(saved_errno));
        if (r > 0)
            n += (size_t)r;
    }
    line[n++] = '\n';
    line_out(line, n, may_wait);
}

#define LOG_BODY(level, may_wait, with_errno)                                                      \
    int saved_errno = errno;                                                                       \
    va_list ap;                                                                                    \
    va_start(ap, fmt);                                                                             \
    log_line(level, may_wait, with_errno, saved_errno, fmt, ap);                                   \
    va_end(ap);                                                                                    \
    errno = saved_errno

void
log_debug(const char *fmt, ...)
{
    if (!debug_enabled)
        return;
    LOG_BODY("debug", true, 0);
}

void
log_info(const char *fmt, ...)
{
    LOG_BODY("info", true, 0);
}

void
log_warnx(const char *fmt, ...)
{
    LOG_BODY("warning", false, 0);
}

void
log_warn(const char *fmt, ...)
{
    LOG_BODY("warning", false, 1);
}

void
fatal(const char *fmt, ...)
{
    LOG_BODY("fatal", false, 1);
    exit(1);
}

void
fatalx(const char *fmt, ...)
{
    LOG_BODY("fatal", false, 0);
    exit(1);
}
