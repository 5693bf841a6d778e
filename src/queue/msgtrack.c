/*
 * msgtrack.c — see msgtrack.h. Written like the protocol log
 * (receive/protolog.c): one CSV file per UTC day, lines buffered in stdio
 * and written out by msgtrack_flush on the service's timer, at a day change
 * and at close, so tracking costs no syscall per event.
 *
 * Several threads (receive, delivery, the queue) report events, so a line
 * is written under a mutex and never interleaves with another.
 * Must never: block for long (no fsync, no flush per line), or let a field
 * break the CSV (CR and LF are dropped, commas and quotes are quoted).
 */
#include "queue/msgtrack.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Large enough that a timer interval of busy traffic rarely fills it. */
#define MSGTRACK_BUFSIZE (64 * 1024)

struct msgtrack {
    pthread_mutex_t lock;
    char *dir;
    FILE *f;
    int yday, year;
};

struct msgtrack *
msgtrack_open(const char *logs_dir)
{
    struct msgtrack *mt = xcalloc(1, sizeof(*mt));

    pthread_mutex_init(&mt->lock, NULL);
    mt->dir = xasprintf("%s/MessageTracking", logs_dir);
    (void)fs_mkdir(logs_dir, 0750);
    if (fs_mkdir(mt->dir, 0750) < 0)
        log_warn("message tracking log: cannot create %s", mt->dir);
    mt->yday = -1;
    return mt;
}

void
msgtrack_close(struct msgtrack *mt)
{
    if (mt == NULL)
        return;
    if (mt->f)
        fclose(mt->f);
    pthread_mutex_destroy(&mt->lock);
    free(mt->dir);
    free(mt);
}

void
msgtrack_flush(struct msgtrack *mt)
{
    if (mt == NULL)
        return;
    pthread_mutex_lock(&mt->lock);
    if (mt->f)
        fflush(mt->f);
    pthread_mutex_unlock(&mt->lock);
}

static void
msgtrack_rotate(struct msgtrack *mt, const struct tm *tm, const char *stamp)
{
    char name[64];
    char *path;
    struct stat st;
    int fd;

    if (mt->f)
        fclose(mt->f); /* writes out the previous day's lines */
    mt->f = NULL;
    strftime(name, sizeof(name), "%Y%m%d", tm);
    path = xasprintf("%s/MSGTRK%s-1.log", mt->dir, name);
    /* 0640: the log names senders and recipients, not for every local user */
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0 || (mt->f = fdopen(fd, "a")) == NULL) {
        log_warn("message tracking log: cannot open %s", path);
        if (fd >= 0)
            close(fd);
    } else {
        setvbuf(mt->f, NULL, _IOFBF, MSGTRACK_BUFSIZE);
        if (fstat(fd, &st) == 0 && st.st_size == 0)
            fprintf(mt->f,
                    "#Software: postern\n#Version: 0.1.0\n#Log-type: Message Tracking Log\n"
                    "#Date: %s\n"
                    "#Fields: date-time,client-ip,client-hostname,server-ip,server-hostname,"
                    "source-context,connector-id,source,event-id,internal-message-id,"
                    "message-id,recipient-address,recipient-status,total-bytes,"
                    "recipient-count,related-recipient-address,reference,message-subject,"
                    "sender-address,return-path,message-info\n",
                    stamp);
    }
    free(path);
    mt->yday = tm->tm_yday;
    mt->year = tm->tm_year;
}

/* CSV field (RFC 4180): quoted when it holds a comma, quote or line break;
 * line breaks are dropped so one event stays one line. */
static void
csv_field(FILE *f, const char *s)
{
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

/* items[0..n) joined with ';' as one field (NULL items count as empty). */
static void
csv_joined(FILE *f, const char *const *items, size_t n)
{
    size_t len = 0;
    char *s, *p;

    if (items == NULL || n == 0)
        return;
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
    csv_field(f, s);
    free(s);
}

void
msgtrack_write(struct msgtrack *mt, const struct msgtrack_event *ev)
{
    struct timeval tv;
    struct tm tm;
    char stamp[40], base[32];
    FILE *f;

    if (mt == NULL || ev == NULL)
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp, sizeof(stamp), "%s.%03dZ", base, (int)(tv.tv_usec / 1000));

    pthread_mutex_lock(&mt->lock);
    if (mt->yday != tm.tm_yday || mt->year != tm.tm_year || mt->f == NULL)
        msgtrack_rotate(mt, &tm, stamp);
    if ((f = mt->f) == NULL) {
        pthread_mutex_unlock(&mt->lock);
        return;
    }
    /* the field order is Exchange's (see #Fields above) */
    fprintf(f, "%s,", stamp);
    csv_field(f, ev->client_ip);
    fputc(',', f);
    csv_field(f, ev->client_hostname);
    fputc(',', f);
    csv_field(f, ev->server_ip);
    fputc(',', f);
    csv_field(f, ev->server_hostname);
    fputc(',', f);
    csv_field(f, ev->source_context);
    fputc(',', f);
    csv_field(f, ev->connector_id);
    fputc(',', f);
    csv_field(f, ev->source);
    fputc(',', f);
    csv_field(f, ev->event_id);
    fputc(',', f);
    csv_field(f, ev->internal_message_id);
    fputc(',', f);
    csv_field(f, ev->message_id);
    fputc(',', f);
    csv_joined(f, ev->recipients, ev->nrecipients);
    fputc(',', f);
    if (ev->recipient_status)
        csv_joined(f, ev->recipient_status, ev->nrecipients);
    fprintf(f, ",%" PRIu64 ",%zu,", ev->total_bytes, ev->nrecipients);
    csv_field(f, ev->related_recipient_address);
    fputc(',', f);
    csv_field(f, ev->reference);
    fputc(',', f);
    csv_field(f, ev->subject);
    fputc(',', f);
    csv_field(f, ev->sender);
    fputc(',', f);
    csv_field(f, ev->return_path);
    fputc(',', f);
    csv_field(f, ev->message_info);
    fputc('\n', f);
    pthread_mutex_unlock(&mt->lock);
}
