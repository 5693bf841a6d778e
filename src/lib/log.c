/*
 * log.c — see log.h. Writes whole lines with one write(2) so that lines from
 * worker threads never interleave; a batch holds only whole lines. Under
 * journald or syslog (lib/log_sink.c) each line is one datagram instead.
 */
#include "lib/log.h"
#include "lib/log_sink.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static _Atomic enum log_level level = LOG_LEVEL_INFO;
static bool debug_forced; /* -d on the command line: the configuration cannot lower it */

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
    debug_forced = on;
    level = on ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
}

void
log_set_level(enum log_level l)
{
    if (!debug_forced)
        level = l;
}

static bool
log_enabled(enum log_level l)
{
    return l <= level;
}

/* A peer's text (a reply, a host name) may carry CR, ESC or other control
 * bytes that would end the line or rewrite a terminal: each becomes \xHH.
 * text holds n bytes in room for cap; returns the new length (what does
 * not fit is cut). */
static size_t
escape_controls(char *text, size_t n, size_t cap)
{
    char copy[2048];
    size_t out = 0;

    if (n > sizeof(copy))
        n = sizeof(copy);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
            goto escape;
    return n;
escape:
    memcpy(copy, text, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)copy[i];
        if (ch >= 0x20 && ch != 0x7f) {
            if (out + 1 > cap)
                break;
            text[out++] = (char)ch;
        } else {
            if (out + 4 > cap)
                break;
            snprintf(text + out, 5, "\\x%02x", ch);
            out += 4;
        }
    }
    return out;
}

/* Formats one line: the time and level (stderr only: journald and syslog
 * keep both themselves), the message, strerror when asked. */
static void
log_line(const char *name, int priority, bool may_wait, int with_errno, int saved_errno,
         const char *fmt, va_list ap)
{
    char line[2048];
    size_t n = 0, start;
    int r;
    bool to_sink = log_sink_kind() != LOG_SINK_STDERR;

    if (!to_sink) {
        struct timeval tv;
        struct tm tm;
        gettimeofday(&tv, NULL);
        gmtime_r(&tv.tv_sec, &tm);
        n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
        r = snprintf(line + n, sizeof(line) - n, ".%03dZ %s ", (int)(tv.tv_usec / 1000), name);
        if (r > 0)
            n += (size_t)r;
    }
    start = n;
    r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    n = r < 0 ? n : (n + (size_t)r >= sizeof(line) - 64 ? sizeof(line) - 64 : n + (size_t)r);
    n = start + escape_controls(line + start, n - start, sizeof(line) - 64 - start);
    if (with_errno) {
        r = snprintf(line + n, sizeof(line) - n, ": %s", strerror(saved_errno));
        if (r > 0)
            n += (size_t)r;
    }
    if (to_sink && log_sink_send(priority, line + start, n - start) == 0)
        return;
    line[n++] = '\n';
    line_out(line, n, may_wait);
}

/* priority: syslog's (2 critical, 4 warning, 6 informational, 7 debug) */
#define LOG_BODY(name, priority, may_wait, with_errno)                                             \
    int saved_errno = errno;                                                                       \
    va_list ap;                                                                                    \
    va_start(ap, fmt);                                                                             \
    log_line(name, priority, may_wait, with_errno, saved_errno, fmt, ap);                          \
    va_end(ap);                                                                                    \
    errno = saved_errno

void
log_debug(const char *fmt, ...)
{
    if (!log_enabled(LOG_LEVEL_DEBUG))
        return;
    LOG_BODY("debug", 7, true, 0);
}

void
log_info(const char *fmt, ...)
{
    if (!log_enabled(LOG_LEVEL_INFO))
        return;
    LOG_BODY("info", 6, true, 0);
}

void
log_warnx(const char *fmt, ...)
{
    LOG_BODY("warning", 4, false, 0);
}

void
log_warn(const char *fmt, ...)
{
    LOG_BODY("warning", 4, false, 1);
}

void
fatal(const char *fmt, ...)
{
    LOG_BODY("fatal", 2, false, 1);
    exit(1);
}

void
fatalx(const char *fmt, ...)
{
    LOG_BODY("fatal", 2, false, 0);
    exit(1);
}
