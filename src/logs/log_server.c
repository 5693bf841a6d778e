/*
 * log_server.c — see log_server.h.
 *
 * Must never: answer a request without checking every field of it, or
 * keep a descriptor it handed over.
 */
#include "logs/log_server.h"
#include "lib/ipc.h"
#include "lib/ipc_buf.h"
#include "lib/log.h"
#include "lib/proc.h"
#include "lib/util.h"
#include "logs/csvlog.h"
#include "logs/msgtrack.h"
#include "logs/protolog.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_SERVER_NSPECS 3

struct log_server {
    char *logs_dir;
    struct ipc_chan *ch;
    const struct csvlog_spec *specs[LOG_SERVER_NSPECS];
    log_server_closed_fn *closed;
    void *closed_arg;
};

static bool
all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* yyyymmdd of yesterday, today or tomorrow (UTC): rows are stamped when
 * they are written, so no other day can be asked for honestly. */
static bool
day_is_near(const char *day)
{
    time_t now = time(NULL);

    if (strlen(day) != 8 || !all_digits(day, 8))
        return false;
    for (int d = -1; d <= 1; d++) {
        time_t t = now + (time_t)d * 86400;
        struct tm tm;
        char near[16];
        gmtime_r(&t, &tm);
        strftime(near, sizeof(near), "%Y%m%d", &tm);
        if (strcmp(near, day) == 0)
            return true;
    }
    return false;
}

/* "yyyy-mm-ddThh:mm:ss.mmmZ" of the day yyyymmdd. */
static bool
stamp_fits(const char *stamp, const char *day)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";

    if (strlen(stamp) != sizeof(shape) - 1)
        return false;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? !all_digits(stamp + i, 1) : stamp[i] != shape[i])
            return false;
    return memcmp(stamp, day, 4) == 0 && memcmp(stamp + 5, day + 4, 2) == 0 &&
           memcmp(stamp + 8, day + 6, 2) == 0;
}

static const struct csvlog_spec *
find_spec(const struct log_server *ls, const char *subdir, const char *prefix)
{
    for (size_t i = 0; i < LOG_SERVER_NSPECS; i++)
        if (strcmp(ls->specs[i]->subdir, subdir) == 0 && strcmp(ls->specs[i]->prefix, prefix) == 0)
            return ls->specs[i];
    return NULL;
}

static void
reply(struct log_server *ls, uint32_t req, int error, int fd)
{
    struct ipc_wbuf w = {0};

    ipc_put_u32(&w, (uint32_t)error);
    (void)ipc_send(ls->ch, MSG_LOG_OPENED, req, fd, w.data, w.len);
    ipc_wbuf_free(&w);
}

static void
on_open(struct log_server *ls, const struct ipc_msg *msg)
{
    struct ipc_rbuf r;
    const char *subdir, *prefix, *day, *stamp;
    const struct csvlog_spec *spec;
    int fd;

    ipc_rbuf_init(&r, msg->data, msg->len);
    subdir = ipc_get_str(&r);
    prefix = ipc_get_str(&r);
    day = ipc_get_str(&r);
    stamp = ipc_get_str(&r);
    if (!ipc_rbuf_done(&r) || (spec = find_spec(ls, subdir, prefix)) == NULL || !day_is_near(day) ||
        !stamp_fits(stamp, day)) {
        log_warnx("logs: refused a malformed request for a log file from the smtp process");
        reply(ls, msg->id, EINVAL, -1);
        return;
    }
    if ((fd = csvlog_open_day(ls->logs_dir, spec, day, stamp)) < 0) {
        int e = errno;
        log_warn("%s: cannot open %s/%s/%s%s-1.log", spec->what, ls->logs_dir, spec->subdir,
                 spec->prefix, day);
        reply(ls, msg->id, e ? e : EIO, -1);
        return;
    }
    reply(ls, msg->id, 0, fd); /* the channel closes fd once sent */
}

static void
handle(struct ipc_chan *ch, const struct ipc_msg *msg, void *arg)
{
    struct log_server *ls = arg;

    if (msg->fd >= 0)
        close(msg->fd); /* nothing the smtp process sends carries one */
    if (msg->type == MSG_LOG_OPEN)
        on_open(ls, msg);
    else
        log_warnx("logs: ignored message type %u from the smtp process", msg->type);
}

static void
chan_closed(struct ipc_chan *ch, const char *reason, void *arg)
{
    struct log_server *ls = arg;

    ipc_chan_free(ls->ch);
    ls->ch = NULL;
    if (ls->closed)
        ls->closed(ls, reason, ls->closed_arg);
}

struct log_server *
log_server_new(struct event_base *base, const char *logs_dir, int fd, log_server_closed_fn *closed,
               void *arg)
{
    struct log_server *ls = xcalloc(1, sizeof(*ls));

    ls->logs_dir = xstrdup(logs_dir);
    ls->specs[0] = protolog_spec("SmtpReceive");
    ls->specs[1] = protolog_spec("SmtpSend");
    ls->specs[2] = msgtrack_spec();
    for (size_t i = 0; i < LOG_SERVER_NSPECS; i++)
        csvlog_make_dirs(logs_dir, ls->specs[i]);
    ls->closed = closed;
    ls->closed_arg = arg;
    ls->ch = ipc_chan_new(base, fd, handle, chan_closed, ls);
    return ls;
}

void
log_server_free(struct log_server *ls)
{
    if (ls == NULL)
        return;
    ipc_chan_free(ls->ch);
    free(ls->logs_dir);
    free(ls);
}
