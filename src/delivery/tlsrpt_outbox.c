/*
 * tlsrpt_outbox.c — the pending HTTPS POSTs of TLS reports (see
 * tlsrpt_outbox.h): their files, their schedule on a timer of their own,
 * and what each answer does to them.
 *
 * The file is written before the first attempt and removed only after a
 * 2xx or once retrying is over, so a crash can POST a report twice but
 * never lose one that was queued; the report id makes a duplicate
 * recognisable to its receiver (RFC 8460 4.4 report-id).
 */
#include "delivery/tlsrpt_outbox.h"
#include "delivery/tlsrpt_store.h"
#include "config/config.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"
#include "outbound/https_post.h"
#include "outbound/outbound.h"
#include "routing/tlsrpt_uri.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define OUTBOX_MAGIC "postern-tlsrpt-post 1\n"
/* RFC 8460 5.3 bounds the retrying of a report to a day from its first
 * attempt. */
#define OUTBOX_RETRY_LIMIT 86400
/* The longest wait between two attempts. */
#define OUTBOX_MAX_WAIT 3600
/* POSTs in flight at once: a daily run with many https: domains must not
 * meet the smtp process's own bound (receive/post_server.c) all at once. */
#define OUTBOX_IN_FLIGHT_MAX 16
/* A file name: the report id, a dot and the URI's place. */
#define OUTBOX_NAME_MAX 240

struct pending {
    struct pending *next;
    struct tlsrpt_outbox *ob;
    char name[OUTBOX_NAME_MAX + 1];
    char *uri, *type;
    unsigned char *body;
    size_t len;
    time_t first;   /* the first attempt */
    time_t due;     /* the next one; 0: at once */
    unsigned tries; /* attempts since this process started */
    void *post;     /* the attempt in flight (ops->post), or NULL */
};

struct tlsrpt_outbox {
    struct event_base *base;
    char *parent, *dir; /* DIR/tlsrpt, DIR/tlsrpt/outbox */
    struct config **cfg;
    const struct outbound_ops *ops;
    void *ops_arg;
    struct pending *list;
    struct event *timer;
};

/* A report id ("20261206.example.com.mail.example.net") and the URI's
 * place make the name: letters, digits, dots and dashes only, so that it
 * can name nothing but a file in the outbox. */
static bool
name_ok(const char *name)
{
    size_t n = strlen(name), dot;

    if (n == 0 || n > OUTBOX_NAME_MAX || name[0] == '.' ||
        name[strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789.-")] != '\0')
        return false;
    dot = (size_t)(strrchr(name, '.') ? strrchr(name, '.') - name : 0);
    return dot > 0 && dot + 1 < n && name[dot + 1 + strspn(name + dot + 1, "0123456789")] == '\0';
}

static void
pending_free(struct pending *p)
{
    free(p->uri);
    free(p->type);
    free(p->body);
    free(p);
}

/* Off the list, its file removed, freed. */
static void
pending_drop(struct pending *p)
{
    struct tlsrpt_outbox *ob = p->ob;
    char path[4096];

    for (struct pending **pp = &ob->list; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    if (p->post != NULL)
        ob->ops->post_cancel(ob->ops_arg, p->post);
    snprintf(path, sizeof(path), "%s/%s", ob->dir, p->name);
    if (unlink(path) < 0 && errno != ENOENT)
        log_warnx("queue: cannot remove %s: %s", path, strerror(errno));
    else
        (void)fs_fsync_dir(ob->dir);
    pending_free(p);
}

static time_t
retry_limit(const struct tlsrpt_outbox *ob)
{
    uint64_t expiry = (*ob->cfg)->transport.message_expiration_timeout;

    return expiry < OUTBOX_RETRY_LIMIT ? (time_t)expiry : OUTBOX_RETRY_LIMIT;
}

/* The k-th wait (from 0): TransientFailureRetryInterval times 1, 3, then
 * 12 (5 min, 15 min, 1 h with the default), an hour at most. */
static time_t
retry_wait(const struct tlsrpt_outbox *ob, unsigned k)
{
    uint64_t base = (*ob->cfg)->transport.transient_failure_retry_interval;
    uint64_t wait = (base ? base : 1) * (k == 0 ? 1 : k == 1 ? 3 : 12);

    return wait < OUTBOX_MAX_WAIT ? (time_t)wait : OUTBOX_MAX_WAIT;
}

/* The first attempt of the schedule (counted from first) after now, so
 * that a restart or a slow answer keeps to it. now - first is at most the
 * retry limit, and every wait at least a second: the loop is bounded. */
static time_t
next_attempt(const struct tlsrpt_outbox *ob, time_t first, time_t now)
{
    time_t t = first;

    for (unsigned k = 0; t <= now; k++)
        t += retry_wait(ob, k);
    return t;
}

static void outbox_run(evutil_socket_t fd, short what, void *arg);

static size_t
in_flight(const struct tlsrpt_outbox *ob)
{
    size_t n = 0;

    for (const struct pending *p = ob->list; p; p = p->next)
        n += p->post != NULL;
    return n;
}

/* The timer, for the earliest attempt due; none while as many POSTs as
 * allowed are in flight (each answer looks again). */
static void
reschedule(struct tlsrpt_outbox *ob)
{
    time_t now = time(NULL), due = 0;
    bool any = false;

    for (struct pending *p = ob->list; p; p = p->next)
        if (p->post == NULL && (!any || p->due < due)) {
            due = p->due;
            any = true;
        }
    evtimer_del(ob->timer);
    if (any && in_flight(ob) < OUTBOX_IN_FLIGHT_MAX) {
        struct timeval tv = {due > now ? due - now : 0, 0};
        evtimer_add(ob->timer, &tv);
    }
}

static void
on_answer(void *arg, int status, const char *why)
{
    struct pending *p = arg;
    struct tlsrpt_outbox *ob = p->ob;
    time_t now = time(NULL), next;
    char reason[700];

    p->post = NULL;
    p->tries++;
    if (status >= 200 && status <= 299) {
        log_info("queue: TLS report %s POSTed to %s (HTTP %d)", p->name, p->uri, status);
        pending_drop(p);
        reschedule(ob);
        return;
    }
    if (status != 0)
        errorf(reason, sizeof(reason), "the server answered HTTP %d%s", status,
               status >= 300 && status <= 399 ? " (redirects are not followed)" : "");
    else
        errorf(reason, sizeof(reason), "%s", why);
    if (p->first > now)
        p->first = now; /* the clock went back */
    next = next_attempt(ob, p->first, now);
    if (now - p->first >= retry_limit(ob) || next - p->first > retry_limit(ob)) {
        log_warnx("queue: TLS report %s to %s: %s; giving up after %u attempt(s) over %lld s",
                  p->name, p->uri, reason, p->tries, (long long)(now - p->first));
        pending_drop(p);
    } else {
        log_warnx("queue: TLS report %s to %s: %s; next attempt in %lld s", p->name, p->uri, reason,
                  (long long)(next - now));
        p->due = next;
    }
    reschedule(ob);
}

static void
attempt(struct pending *p)
{
    struct tlsrpt_outbox *ob = p->ob;

    log_info("queue: POSTing TLS report %s to %s (%zu bytes)", p->name, p->uri, p->len);
    p->post = ob->ops->post(ob->ops_arg, p->uri, p->type, p->body, p->len, on_answer, p);
}

static void
outbox_run(evutil_socket_t fd, short what, void *arg)
{
    struct tlsrpt_outbox *ob = arg;
    time_t now = time(NULL);
    size_t busy = in_flight(ob);

    (void)fd;
    (void)what;
    /* the answers come from the loop, never from inside ops->post */
    for (struct pending *p = ob->list; p && busy < OUTBOX_IN_FLIGHT_MAX; p = p->next)
        if (p->post == NULL && p->due <= now) {
            attempt(p);
            busy++;
        }
    reschedule(ob);
}

/* Reads one file of the outbox; NULL (with why) when it is not one. */
static struct pending *
load_one(struct tlsrpt_outbox *ob, const char *name, char *why, size_t whylen)
{
    struct tlsrpt_https_uri u;
    struct pending *p;
    char path[4096], *text, *line, *end, uwhy[200];
    size_t len;

    snprintf(path, sizeof(path), "%s/%s", ob->dir, name);
    if ((text = file_read(path, &len)) == NULL) {
        errorf(why, whylen, "cannot read it: %s", strerror(errno));
        return NULL;
    }
    p = xcalloc(1, sizeof(*p));
    p->ob = ob;
    strlcpy_p(p->name, name, sizeof(p->name));
    if (strncmp(text, OUTBOX_MAGIC, strlen(OUTBOX_MAGIC)) != 0) {
        errorf(why, whylen, "not a pending TLS report");
        goto bad;
    }
    for (line = text + strlen(OUTBOX_MAGIC);; line = end + 1) {
        if ((end = memchr(line, '\n', len - (size_t)(line - text))) == NULL) {
            errorf(why, whylen, "cut short");
            goto bad;
        }
        *end = '\0';
        if (line == end)
            break; /* the body follows */
        if (strncmp(line, "uri ", 4) == 0 && p->uri == NULL)
            p->uri = xstrdup(line + 4);
        else if (strncmp(line, "type ", 5) == 0 && p->type == NULL)
            p->type = xstrdup(line + 5);
        else if (strncmp(line, "first ", 6) == 0 && line[6] >= '0' && line[6] <= '9' &&
                 strlen(line + 6) <= 12 && line[6 + strspn(line + 6, "0123456789")] == '\0')
            p->first = (time_t)strtoll(line + 6, NULL, 10);
        else {
            errorf(why, whylen, "unexpected line \"%.40s\"", line);
            goto bad;
        }
    }
    if (p->uri == NULL || p->type == NULL || p->first == 0) {
        errorf(why, whylen, "the uri, type or first line is missing");
        goto bad;
    }
    if (!tlsrpt_https_uri_parse(p->uri, &u, uwhy, sizeof(uwhy))) {
        errorf(why, whylen, "its URI is not usable: %s", uwhy);
        goto bad;
    }
    if (strcmp(p->type, TLSRPT_TYPE_GZIP) != 0 && strcmp(p->type, TLSRPT_TYPE_JSON) != 0) {
        errorf(why, whylen, "not a TLS report's media type");
        goto bad;
    }
    p->len = len - (size_t)(end + 1 - text);
    p->body = xmalloc(p->len ? p->len : 1);
    memcpy(p->body, end + 1, p->len);
    free(text);
    return p;
bad:
    free(text);
    pending_free(p);
    return NULL;
}

static void
load_all(struct tlsrpt_outbox *ob)
{
    time_t now = time(NULL);
    struct dirent *e;
    DIR *d;

    if ((d = opendir(ob->dir)) == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        struct pending *p;
        char why[300];

        /* temporary files of fs_write_atomic start with a dot */
        if (!name_ok(e->d_name))
            continue;
        if ((p = load_one(ob, e->d_name, why, sizeof(why))) == NULL) {
            log_warnx("queue: %s/%s left alone: %s", ob->dir, e->d_name, why);
            continue;
        }
        p->next = ob->list;
        ob->list = p;
        if (now - p->first >= retry_limit(ob)) {
            log_warnx("queue: TLS report %s to %s: not sent within %lld s of its first attempt; "
                      "giving up",
                      p->name, p->uri, (long long)retry_limit(ob));
            pending_drop(p);
        }
    }
    closedir(d);
}

struct tlsrpt_outbox *
tlsrpt_outbox_new(struct event_base *base, const char *instance_dir, struct config **cfg,
                  const struct outbound_ops *ops, void *ops_arg)
{
    struct tlsrpt_outbox *ob = xcalloc(1, sizeof(*ob));

    ob->base = base;
    ob->parent = xasprintf("%s/%s", instance_dir, TLSRPT_DIR);
    ob->dir = xasprintf("%s/%s", instance_dir, TLSRPT_OUTBOX_DIR);
    ob->cfg = cfg;
    ob->ops = ops;
    ob->ops_arg = ops_arg;
    ob->timer = evtimer_new(base, outbox_run, ob);
    load_all(ob);
    reschedule(ob); /* what was pending is due at once */
    return ob;
}

void
tlsrpt_outbox_free(struct tlsrpt_outbox *ob)
{
    if (ob == NULL)
        return;
    while (ob->list) {
        struct pending *p = ob->list;
        ob->list = p->next;
        if (p->post != NULL)
            ob->ops->post_cancel(ob->ops_arg, p->post);
        pending_free(p);
    }
    event_free(ob->timer);
    free(ob->parent);
    free(ob->dir);
    free(ob);
}

int
tlsrpt_outbox_add(struct tlsrpt_outbox *ob, const char *report_id, unsigned n, const char *uri,
                  const char *content_type, const void *body, size_t len, char *err, size_t errlen)
{
    struct fs_atomic w = {.mode = 0600, .replace = true, .sync_dir = true};
    struct tlsrpt_https_uri u;
    struct pending *p = NULL;
    char name[OUTBOX_NAME_MAX + 16], path[4096], why[200], *head;
    unsigned char *file;
    size_t hlen;
    time_t now = time(NULL);

    if (ob->ops->post == NULL || ob->ops->post_cancel == NULL) {
        errorf(err, errlen, "nothing here can POST");
        return -1;
    }
    if (!tlsrpt_https_uri_parse(uri, &u, why, sizeof(why))) {
        errorf(err, errlen, "not a usable report URI: %s", why);
        return -1;
    }
    if (len > HTTPS_POST_BODY_MAX) {
        errorf(err, errlen, "a report of %zu bytes is larger than allowed", len);
        return -1;
    }
    snprintf(name, sizeof(name), "%s.%u", report_id, n);
    str_lower(name);
    if (!name_ok(name)) {
        errorf(err, errlen, "report id \"%.80s\" cannot name a file", report_id);
        return -1;
    }
    if (fs_mkdir(ob->parent, 0700) < 0 || fs_mkdir(ob->dir, 0700) < 0) {
        errorf(err, errlen, "cannot create %s: %s", ob->dir, strerror(errno));
        return -1;
    }
    head = xasprintf(OUTBOX_MAGIC "uri %s\ntype %s\nfirst %lld\n\n", uri, content_type,
                     (long long)now);
    hlen = strlen(head);
    file = xmalloc(hlen + len);
    memcpy(file, head, hlen);
    memcpy(file + hlen, body, len);
    free(head);
    snprintf(path, sizeof(path), "%s/%s", ob->dir, name);
    if (fs_write_atomic(path, file, hlen + len, &w) < 0) {
        errorf(err, errlen, "cannot write %s (%s): %s", path, w.step, strerror(errno));
        free(file);
        return -1;
    }
    free(file);
    for (p = ob->list; p; p = p->next)
        if (strcmp(p->name, name) == 0)
            break;
    if (p == NULL) {
        p = xcalloc(1, sizeof(*p));
        p->ob = ob;
        strlcpy_p(p->name, name, sizeof(p->name));
        p->next = ob->list;
        ob->list = p;
    } else {
        /* the same report again (Send-TlsReport): the new text, a new start */
        if (p->post != NULL)
            ob->ops->post_cancel(ob->ops_arg, p->post);
        p->post = NULL;
        free(p->uri);
        free(p->type);
        free(p->body);
    }
    p->uri = xstrdup(uri);
    p->type = xstrdup(content_type);
    p->body = xmalloc(len ? len : 1);
    memcpy(p->body, body, len);
    p->len = len;
    p->first = now;
    p->due = 0;
    p->tries = 0;
    reschedule(ob);
    return 0;
}
