/*
 * csvlog.c — see csvlog.h: one descriptor per log, reopened for each UTC
 * day; rows are built in a memory buffer and written whole; a mutex makes
 * each row whole within the process.
 *
 * Must never: fsync or flush per row (the caller's timer flushes), write
 * part of a row (the buffer is only written between rows), or write a
 * field that ends the row or the field early.
 */
#include "logs/csvlog.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* After a day's file could not be opened, rows are dropped this long
 * before the next try: an opener that waits for another process must not
 * hold up every row. */
#define CSVLOG_RETRY_S 5

struct csvlog {
    pthread_mutex_t lock;
    struct csvlog_spec spec;
    char *logs_dir; /* local logs; NULL when the opener provides the files */
    csvlog_opener_fn *open_day;
    void *open_arg;
    int fd;          /* the day's file; -1 before the first row or when it cannot be opened */
    int yday, year;  /* the day of fd */
    time_t retry_at; /* after a failed open: not before */
    char *buf;       /* whole rows not written yet, then the row being built */
    size_t len, cap, limit;
    bool write_failed; /* warned once; quiet until a write succeeds */
};

void
csvlog_make_dirs(const char *logs_dir, const struct csvlog_spec *spec)
{
    char *dir = xasprintf("%s/%s", logs_dir, spec->subdir);

    /* logs_dir, then each directory of subdir in turn. */
    (void)fs_mkdir(logs_dir, 0750);
    for (char *slash = strchr(dir + strlen(logs_dir) + 1, '/'); slash != NULL;
         slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        (void)fs_mkdir(dir, 0750);
        *slash = '/';
    }
    if (fs_mkdir(dir, 0750) < 0)
        log_warn("%s: cannot create %s", spec->what, dir);
    free(dir);
}

int
csvlog_open_day(const char *logs_dir, const struct csvlog_spec *spec, const char *day,
                const char *stamp)
{
    static atomic_uint serial;
    char *path = xasprintf("%s/%s/%s%s-1.log", logs_dir, spec->subdir, spec->prefix, day);
    char *tmp = NULL, *header = NULL;
    int fd, e;

    fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd >= 0 || errno != ENOENT)
        goto out;
    /* A new file: made whole beside the final name, then linked to it, so
     * that no writer ever sees it without its header. */
    tmp = xasprintf("%s/%s/.%s%s-1.log.%ld.%u", logs_dir, spec->subdir, spec->prefix, day,
                    (long)getpid(), atomic_fetch_add(&serial, 1));
    fd = open(tmp, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, spec->mode);
    if (fd < 0)
        goto out;
    header = xasprintf("#Software: postern\n#Version: 0.1.0\n#Log-type: %s\n#Date: %s\n"
                       "#Fields: %s\n",
                       spec->log_type, stamp, spec->fields);
    if (fs_write_all(fd, header, strlen(header)) == 0 && link(tmp, path) == 0) {
        (void)unlink(tmp);
        goto out;
    }
    e = errno;
    (void)unlink(tmp);
    close(fd);
    fd = -1;
    errno = e;
    /* someone else made it meanwhile: theirs has the header */
    if (e == EEXIST)
        fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
out:
    e = errno;
    free(path);
    free(tmp);
    free(header);
    errno = e;
    return fd;
}

static struct csvlog *
csvlog_new(const struct csvlog_spec *spec)
{
    struct csvlog *log = xcalloc(1, sizeof(*log));

    if (pthread_mutex_init(&log->lock, NULL) != 0)
        fatalx("%s: pthread_mutex_init", spec->what);
    log->spec = *spec;
    log->fd = -1;
    log->yday = -1;
    log->limit = spec->bufsize ? spec->bufsize : CSVLOG_BUFSIZE;
    log->cap = log->limit + 512;
    log->buf = xmalloc(log->cap);
    return log;
}

struct csvlog *
csvlog_open(const char *logs_dir, const struct csvlog_spec *spec)
{
    struct csvlog *log = csvlog_new(spec);

    log->logs_dir = xstrdup(logs_dir);
    csvlog_make_dirs(logs_dir, spec);
    return log;
}

struct csvlog *
csvlog_open_remote(const struct csvlog_spec *spec, csvlog_opener_fn *open_day, void *arg)
{
    struct csvlog *log = csvlog_new(spec);

    log->open_day = open_day;
    log->open_arg = arg;
    return log;
}

/* Writes the buffered rows (only ever whole rows: callers hold the mutex
 * between rows) in one write(); a write cut short by the kernel goes on
 * with the rest at once. Rows that cannot be written are dropped. */
static void
write_rows(struct csvlog *log)
{
    if (log->len == 0)
        return;
    if (log->fd >= 0 && fs_write_all(log->fd, log->buf, log->len) < 0) {
        if (!log->write_failed)
            log_warn("%s: cannot write rows", log->spec.what);
        log->write_failed = true;
    } else if (log->fd >= 0) {
        log->write_failed = false;
    }
    log->len = 0;
}

void
csvlog_close(struct csvlog *log)
{
    if (log == NULL)
        return;
    write_rows(log);
    if (log->fd >= 0)
        close(log->fd);
    pthread_mutex_destroy(&log->lock);
    free(log->logs_dir);
    free(log->buf);
    free(log);
}

void
csvlog_flush(struct csvlog *log)
{
    if (log == NULL)
        return;
    pthread_mutex_lock(&log->lock);
    write_rows(log);
    pthread_mutex_unlock(&log->lock);
}

/* Opens the file of the day of tm; stamp is the #Date of a new file. */
static void
rotate(struct csvlog *log, const struct tm *tm, const char *stamp, time_t now)
{
    char day[16];

    write_rows(log); /* the previous day's rows */
    if (log->fd >= 0)
        close(log->fd);
    strftime(day, sizeof(day), "%Y%m%d", tm);
    if (log->open_day)
        log->fd = log->open_day(log->open_arg, &log->spec, day, stamp);
    else
        log->fd = csvlog_open_day(log->logs_dir, &log->spec, day, stamp);
    if (log->fd < 0) {
        log_warn("%s: cannot open %s%s%s/%s%s-1.log", log->spec.what,
                 log->logs_dir ? log->logs_dir : "", log->logs_dir ? "/" : "", log->spec.subdir,
                 log->spec.prefix, day);
        log->retry_at = now + CSVLOG_RETRY_S;
    }
    log->yday = tm->tm_yday;
    log->year = tm->tm_year;
}

/* Room for n more bytes of the row being built. */
static void
reserve(struct csvlog *log, size_t n)
{
    if (log->len + n <= log->cap)
        return;
    while (log->len + n > log->cap)
        log->cap *= 2;
    log->buf = xrealloc(log->buf, log->cap);
}

static void
put(struct csvlog *log, const char *s, size_t n)
{
    reserve(log, n);
    memcpy(log->buf + log->len, s, n);
    log->len += n;
}

static void
putch(struct csvlog *log, char c)
{
    reserve(log, 1);
    log->buf[log->len++] = c;
}

bool
csvlog_row_begin(struct csvlog *log)
{
    struct timeval tv;
    struct tm tm;
    char stamp[40], base[32];
    bool new_day;

    if (log == NULL)
        return false;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp, sizeof(stamp), "%s.%03dZ", base, (int)(tv.tv_usec / 1000));

    pthread_mutex_lock(&log->lock);
    new_day = log->yday != tm.tm_yday || log->year != tm.tm_year;
    if (new_day || (log->fd < 0 && tv.tv_sec >= log->retry_at))
        rotate(log, &tm, stamp, tv.tv_sec);
    if (log->fd < 0) {
        pthread_mutex_unlock(&log->lock);
        return false;
    }
    put(log, stamp, strlen(stamp));
    return true;
}

void
csvlog_field(struct csvlog *log, const char *s)
{
    putch(log, ',');
    if (s == NULL)
        return;
    if (strpbrk(s, ",\"\r\n") == NULL) {
        put(log, s, strlen(s));
        return;
    }
    putch(log, '"');
    for (; *s; s++) {
        if (*s == '"')
            putch(log, '"');
        if (*s == '\r' || *s == '\n')
            continue;
        putch(log, *s);
    }
    putch(log, '"');
}

void
csvlog_field_joined(struct csvlog *log, const char *const *items, size_t n)
{
    size_t len = 0;
    char *s, *p;

    if (items == NULL || n == 0) {
        csvlog_field(log, NULL);
        return;
    }
    for (size_t i = 0; i < n; i++)
        len += (items[i] ? strlen(items[i]) : 0) + 1;
    p = s = xmalloc(len + 1);
    for (size_t i = 0; i < n; i++) {
        size_t l = items[i] ? strlen(items[i]) : 0;
        if (i > 0)
            *p++ = ';';
        memcpy(p, items[i] ? items[i] : "", l);
        p += l;
    }
    *p = '\0';
    csvlog_field(log, s);
    free(s);
}

void
csvlog_fieldf(struct csvlog *log, const char *fmt, ...)
{
    va_list ap, again;
    int n;

    putch(log, ',');
    va_start(ap, fmt);
    va_copy(again, ap);
    n = vsnprintf(log->buf + log->len, log->cap - log->len, fmt, ap);
    if (n > 0 && (size_t)n >= log->cap - log->len) {
        reserve(log, (size_t)n + 1);
        n = vsnprintf(log->buf + log->len, log->cap - log->len, fmt, again);
    }
    if (n > 0)
        log->len += (size_t)n;
    va_end(again);
    va_end(ap);
}

void
csvlog_row_end(struct csvlog *log)
{
    putch(log, '\n');
    if (log->len >= log->limit)
        write_rows(log);
    pthread_mutex_unlock(&log->lock);
}
