/*
 * csvlog.c — see csvlog.h: one stdio FILE per log, reopened for each UTC
 * day; a mutex makes each row whole.
 *
 * Must never: fsync or flush per row (the caller's timer flushes), or
 * write a field that ends the row or the field early.
 */
#include "logs/csvlog.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct csvlog {
    pthread_mutex_t lock;
    struct csvlog_spec spec;
    char *dir;
    FILE *f;        /* the day's file; NULL before the first row or when it cannot be opened */
    int yday, year; /* the day of f */
};

struct csvlog *
csvlog_open(const char *logs_dir, const struct csvlog_spec *spec)
{
    struct csvlog *log = xcalloc(1, sizeof(*log));
    char *slash;

    if (pthread_mutex_init(&log->lock, NULL) != 0)
        fatalx("%s: pthread_mutex_init", spec->what);
    log->spec = *spec;
    log->dir = xasprintf("%s/%s", logs_dir, spec->subdir);
    /* logs_dir, then each directory of subdir in turn. */
    (void)fs_mkdir(logs_dir, 0750);
    for (slash = strchr(log->dir + strlen(logs_dir) + 1, '/'); slash != NULL;
         slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        (void)fs_mkdir(log->dir, 0750);
        *slash = '/';
    }
    if (fs_mkdir(log->dir, 0750) < 0)
        log_warn("%s: cannot create %s", spec->what, log->dir);
    log->yday = -1;
    return log;
}

void
csvlog_close(struct csvlog *log)
{
    if (log == NULL)
        return;
    if (log->f)
        fclose(log->f);
    pthread_mutex_destroy(&log->lock);
    free(log->dir);
    free(log);
}

void
csvlog_flush(struct csvlog *log)
{
    if (log == NULL)
        return;
    pthread_mutex_lock(&log->lock);
    if (log->f)
        fflush(log->f);
    pthread_mutex_unlock(&log->lock);
}

/* Opens the file of the day of tm; stamp is the #Date of a new file. */
static void
rotate(struct csvlog *log, const struct tm *tm, const char *stamp)
{
    char day[64];
    char *path;
    struct stat st;
    int fd;

    if (log->f)
        fclose(log->f); /* writes out the previous day's rows */
    log->f = NULL;
    strftime(day, sizeof(day), "%Y%m%d", tm);
    path = xasprintf("%s/%s%s-1.log", log->dir, log->spec.prefix, day);
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, log->spec.mode);
    if (fd < 0 || (log->f = fdopen(fd, "a")) == NULL) {
        log_warn("%s: cannot open %s", log->spec.what, path);
        if (fd >= 0)
            close(fd);
    } else {
        if (log->spec.bufsize > 0)
            setvbuf(log->f, NULL, _IOFBF, log->spec.bufsize);
        if (fstat(fd, &st) == 0 && st.st_size == 0)
            fprintf(log->f,
                    "#Software: postern\n#Version: 0.1.0\n#Log-type: %s\n#Date: %s\n"
                    "#Fields: %s\n",
                    log->spec.log_type, stamp, log->spec.fields);
    }
    free(path);
    log->yday = tm->tm_yday;
    log->year = tm->tm_year;
}

bool
csvlog_row_begin(struct csvlog *log)
{
    struct timeval tv;
    struct tm tm;
    char stamp[40], base[32];

    if (log == NULL)
        return false;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp, sizeof(stamp), "%s.%03dZ", base, (int)(tv.tv_usec / 1000));

    pthread_mutex_lock(&log->lock);
    if (log->yday != tm.tm_yday || log->year != tm.tm_year || log->f == NULL)
        rotate(log, &tm, stamp);
    if (log->f == NULL) {
        pthread_mutex_unlock(&log->lock);
        return false;
    }
    fputs(stamp, log->f);
    return true;
}

void
csvlog_field(struct csvlog *log, const char *s)
{
    FILE *f = log->f;

    fputc(',', f);
    if (s == NULL)
        return;
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        if (*s == '\r' || *s == '\n')
            continue;
        fputc(*s, f);
    }
    fputc('"', f);
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
    va_list ap;

    fputc(',', log->f);
    va_start(ap, fmt);
    vfprintf(log->f, fmt, ap);
    va_end(ap);
}

void
csvlog_row_end(struct csvlog *log)
{
    fputc('\n', log->f);
    pthread_mutex_unlock(&log->lock);
}
