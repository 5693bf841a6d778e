/*
 * metrics_answer.c — see metrics_answer.h.
 */
#include "qmgr/metrics_answer.h"
#include "lib/ipc.h"
#include "lib/ipc_buf.h"
#include "lib/log.h"
#include "lib/metrics_catalog.h"
#include "lib/proc.h"
#include "lib/strbuf.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct metrics_answer {
    struct event_base *base;
    struct ipc_chan *ch;
    void (*collect)(void *arg);
    void *arg;
    char *text;         /* rendered last, at rendered_at */
    time_t rendered_at; /* CLOCK_MONOTONIC seconds */
};

/* The queue's gauges walk every queued message: a scraper that loops
 * would keep the queue process busy (and mail waiting). The text is made
 * at most once a second; scrapes in between get that copy. */
static const char *
rendered(struct metrics_answer *ma)
{
    struct timespec now;
    struct strbuf text = {0};

    clock_gettime(CLOCK_MONOTONIC, &now);
    if (ma->text != NULL && now.tv_sec == ma->rendered_at)
        return ma->text;
    ma->collect(ma->arg);
    metrics_process_render(&text);
    free(ma->text);
    ma->text = strbuf_take(&text);
    ma->rendered_at = now.tv_sec;
    if (strlen(ma->text) > METRICS_QUEUE_TEXT_MAX) {
        char *cut = memrchr(ma->text, '\n', METRICS_QUEUE_TEXT_MAX);
        *(cut ? cut + 1 : ma->text) = '\0'; /* whole lines only */
        log_warnx("queue process: metrics cut to %u bytes", METRICS_QUEUE_TEXT_MAX);
    }
    return ma->text;
}

static void
answer(struct metrics_answer *ma, uint32_t id)
{
    struct ipc_wbuf w = {0};

    if (ipc_pending_bytes(ma->ch) > METRICS_QUEUE_TEXT_MAX)
        return; /* the peer does not read: it hears nothing more */
    ipc_put_str(&w, rendered(ma));
    (void)ipc_send(ma->ch, MSG_METRICS_TEXT, id, -1, w.data, w.len);
    ipc_wbuf_free(&w);
}

static void
on_message(struct ipc_chan *ch, const struct ipc_msg *m, void *arg)
{
    struct metrics_answer *ma = arg;

    if (m->fd >= 0)
        close(m->fd);
    if (m->type == MSG_METRICS_GET)
        answer(ma, m->id);
    else
        log_warnx("queue process: unexpected message %u on the metrics channel", m->type);
}

static void
on_closed(struct ipc_chan *ch, const char *reason, void *arg)
{
    struct metrics_answer *ma = arg;

    ipc_chan_free(ma->ch);
    ma->ch = NULL;
}

struct metrics_answer *
metrics_answer_new(struct event_base *base, void (*collect)(void *arg), void *arg)
{
    struct metrics_answer *ma = xcalloc(1, sizeof(*ma));

    ma->base = base;
    ma->collect = collect;
    ma->arg = arg;
    return ma;
}

void
metrics_answer_attach(struct metrics_answer *ma, int fd)
{
    ipc_chan_free(ma->ch);
    ma->ch = ipc_chan_new(ma->base, fd, on_message, on_closed, ma);
}

void
metrics_answer_free(struct metrics_answer *ma)
{
    if (ma == NULL)
        return;
    ipc_chan_free(ma->ch);
    free(ma->text);
    free(ma);
}
