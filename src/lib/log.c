/*
 * log.c — see log.h. Writes whole lines with one write(2) so that lines from
 * worker threads never interleave.
 */
#include "lib/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int debug_enabled;

void
log_set_debug(int on)
{
    debug_enabled = on;
}

static void
log_line(const char *level, int with_errno, int saved_errno, const char *fmt, va_list ap)
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
    (void)!write(STDERR_FILENO, line, n);
}

#define LOG_BODY(level, with_errno)                                                                \
    int saved_errno = errno;                                                                       \
    va_list ap;                                                                                    \
    va_start(ap, fmt);                                                                             \
    log_line(level, with_errno, saved_errno, fmt, ap);                                             \
    va_end(ap);                                                                                    \
    errno = saved_errno

void
log_debug(const char *fmt, ...)
{
    if (!debug_enabled)
        return;
    LOG_BODY("debug", 0);
}

void
log_info(const char *fmt, ...)
{
    LOG_BODY("info", 0);
}

void
log_warnx(const char *fmt, ...)
{
    LOG_BODY("warning", 0);
}

void
log_warn(const char *fmt, ...)
{
    LOG_BODY("warning", 1);
}

void
fatal(const char *fmt, ...)
{
    LOG_BODY("fatal", 1);
    exit(1);
}

void
fatalx(const char *fmt, ...)
{
    LOG_BODY("fatal", 0);
    exit(1);
}
