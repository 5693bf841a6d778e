/*
 * queue.c — see queue.h for the layout, the commit order and the recovery
 * rules. The loop thread owns struct queue_msg until it calls
 * queue_msg_commit (or queue_update, queue_remove make one); from then on
 * the committer thread owns it until the completion runs back on the loop.
 */
#include "queue/queue.h"
#include "lib/fd_writer.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/metrics_catalog.h"
#include "lib/util.h"
#include "queue/qlog.h"
#include "smtp/header_read.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

/* Content files kept empty for the next messages after a commit. */
#define QUEUE_SPARES_KEPT 64

/* Space kept free for envelopes, logs and bounces when a disk fills. */
#define QUEUE_SPACE_RESERVE (1024 * 1024)

enum queue_job { JOB_COMMIT, JOB_UPDATE, JOB_REMOVE };

struct queue_msg {
    struct queue *q;
    enum queue_job job;
    char id[QUEUE_ID_LEN + 1];
    int fd;                       /* the content (JOB_COMMIT): spare/<spare> */
    char spare[QUEUE_ID_LEN + 1]; /* named after the message that first used it */
    int error;
    bool external; /* written by another process: size from the file */
    uint64_t size;
    struct fd_writer out; /* content written here (not external) */
    /* filled at commit */
    struct envelope *env;
    char *envtext;
    size_t envlen;
    queue_commit_cb *cb;
    void *cbarg;
    struct timespec requested; /* JOB_COMMIT: for its latency (metrics) */
    struct queue_msg *next;
};

struct queue {
    char *dir, *spare_dir, *log_dir;
    int spare_dirfd;
    struct qlog *log;
    size_t count;
    uint64_t last_id;
    uint16_t salts[128]; /* random bits for IDs, refilled with one getrandom */
    size_t salts_left;
    /* Emptied content files of committed messages, for new messages (under
     * lock): making and removing a file per message was a third of the
     * queue process's CPU (ext4 inode allocation, perf). */
    struct kept_spare {
        int fd;
        char name[QUEUE_ID_LEN + 1];
    } kept[QUEUE_SPARES_KEPT];
    size_t nkept;
    /* committer thread */
    pthread_t thread;
    bool has_thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct queue_msg *pending, *finished;
    bool stopping;
    struct event *notify;
    queue_commit_hook *hook;
    void *hook_arg;
};

/* A file name is ours when it is exactly a queue ID (optionally + suffix). */
static bool
is_queue_id(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);

    if (n != QUEUE_ID_LEN + s || strcmp(name + QUEUE_ID_LEN, suffix) != 0)
        return false;
    for (size_t i = 0; i < QUEUE_ID_LEN; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'A' && name[i] <= 'F')))
            return false;
    return true;
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted list of entries of dir whose names are IDs with the suffix. */
static char **
list_ids(const char *dir, const char *suffix, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t cap = 0;

    *n = 0;
    if (d == NULL)
        return NULL;
    while ((de = readdir(d)) != NULL) {
        if (!is_queue_id(de->d_name, suffix))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            names = xrealloc(names, cap * sizeof(*names));
        }
        names[(*n)++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (*n)
        qsort(names, *n, sizeof(*names), cmp_names);
    return names;
}

static void
free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static void
unlink_in(const char *dir, const char *name)
{
    char *path = xasprintf("%s/%s", dir, name);

    if (unlink(path) < 0 && errno != ENOENT)
        log_warn("queue: cannot remove %s", path);
    free(path);
}

/* Says which step failed on which file, with the errno: the session's
 * reply and log line only say that the commit failed. Sync threads call
 * it too, hence strerror_r. Returns e. */
static int
step_failed(const char *what, const char *dir, const char *name, int e)
{
    char buf[128];

    log_warnx("queue: %s %s%s%s failed: %s", what, dir, name ? "/" : "", name ? name : "",
              strerror_r(e, buf, sizeof(buf)));
    return e;
}

/* Files reserved for a writer and never committed hold no acknowledged
 * message: a restart removes them. */
static void
remove_spares(struct queue *q)
{
    size_t n;
    char **spare = list_ids(q->spare_dir, "", &n);

    for (size_t i = 0; i < n; i++)
        unlink_in(q->spare_dir, spare[i]);
    free_names(spare, n);
}

/*
 * A queue of the layout before the log (data/<ID> content, env/<ID> the
 * commit record) is appended to the log, flushed, and only then removed:
 * a crash in between leaves both, and the next start finds the log's
 * copies (the same IDs) and moves nothing twice.
 */
static int
migrate_old_layout(struct queue *q, char *err, size_t errlen)
{
    char *env_dir = xasprintf("%s/env", q->dir), *data_dir = xasprintf("%s/data", q->dir);
    size_t n, moved = 0;
    char **ids = list_ids(env_dir, "", &n);
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        char *env_path = xasprintf("%s/%s", env_dir, ids[i]);
        char *data_path = xasprintf("%s/%s", data_dir, ids[i]);
        size_t len;
        char *text = file_read(env_path, &len);
        int fd = open(data_path, O_RDONLY | O_CLOEXEC);
        struct stat st;

        if (text != NULL && fd >= 0 && fstat(fd, &st) == 0 && !qlog_has(q->log, ids[i])) {
            if (qlog_append_msg(q->log, ids[i], text, len, fd, (uint64_t)st.st_size) < 0)
                rc = -1;
            else
                moved++;
        } else if (text == NULL || fd < 0) {
            log_warnx("queue: %s from the earlier layout has no %s; left in place", ids[i],
                      text == NULL ? "readable envelope" : "content");
        }
        if (fd >= 0)
            close(fd);
        free(text);
        free(env_path);
        free(data_path);
    }
    if (rc == 0 && moved > 0 && qlog_sync(q->log) < 0)
        rc = -1;
    if (rc < 0) {
        errorf(err, errlen, "cannot move the queue of the earlier layout into %s/log: %s", q->dir,
               strerror(errno));
    } else {
        for (size_t i = 0; i < n; i++) {
            if (!qlog_has(q->log, ids[i]))
                continue;
            unlink_in(env_dir, ids[i]);
            unlink_in(data_dir, ids[i]);
        }
        if (moved > 0)
            log_info("queue: %zu message(s) moved from %s and %s into %s/log", moved, env_dir,
                     data_dir, q->dir);
    }
    free_names(ids, n);
    free(env_dir);
    free(data_dir);
    return rc;
}

static void *committer_thread(void *arg);
static void committer_done_cb(evutil_socket_t fd, short what, void *arg);

struct queue *
queue_open(const char *queue_dir, struct event_base *base, char *err, size_t errlen)
{
    struct queue *q = xcalloc(1, sizeof(*q));
    struct qlog_options opt = {.read_only = base == NULL};
    struct qlog_stats st;

    q->dir = xstrdup(queue_dir);
    q->spare_dir = xasprintf("%s/spare", queue_dir);
    q->log_dir = xasprintf("%s/log", queue_dir);
    q->spare_dirfd = -1;
    if (base != NULL &&
        (fs_mkdir(q->dir, 0700) < 0 || fs_mkdir(q->spare_dir, 0700) < 0 ||
         (q->spare_dirfd = open(q->spare_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)) {
        snprintf(err, errlen, "cannot create %s: %s", q->spare_dir, strerror(errno));
        goto fail;
    }
    if ((q->log = qlog_open(q->log_dir, &opt, err, errlen)) == NULL)
        goto fail;
    if (base == NULL)
        return q;
    remove_spares(q);
    if (migrate_old_layout(q, err, errlen) < 0)
        goto fail;
    qlog_stats(q->log, &st);
    q->count = st.messages;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->wake, NULL);
    q->notify = event_new(base, -1, 0, committer_done_cb, q);
    if (pthread_create(&q->thread, NULL, committer_thread, q) != 0) {
        snprintf(err, errlen, "cannot start the queue committer thread");
        goto fail;
    }
    q->has_thread = true;
    return q;
fail:
    queue_close(q);
    return NULL;
}

void
queue_close(struct queue *q)
{
    if (q == NULL)
        return;
    if (q->has_thread) {
        pthread_mutex_lock(&q->lock);
        q->stopping = true;
        pthread_cond_signal(&q->wake);
        pthread_mutex_unlock(&q->lock);
        pthread_join(q->thread, NULL);
        /* Completions of the last batch still run, so their sessions hear. */
        committer_done_cb(-1, 0, q);
    }
    if (q->notify) {
        event_free(q->notify);
        pthread_cond_destroy(&q->wake);
        pthread_mutex_destroy(&q->lock);
    }
    qlog_close(q->log);
    for (size_t i = 0; i < q->nkept; i++) {
        close(q->kept[i].fd);
        if (unlinkat(q->spare_dirfd, q->kept[i].name, 0) < 0 && errno != ENOENT)
            log_warn("queue: cannot remove %s/%s", q->spare_dir, q->kept[i].name);
    }
    if (q->spare_dirfd >= 0)
        close(q->spare_dirfd);
    free(q->dir);
    free(q->spare_dir);
    free(q->log_dir);
    free(q);
}

size_t
queue_count(const struct queue *q)
{
    return q->count;
}

bool
queue_has_space(const struct queue *q, uint64_t size)
{
    return queue_fd_has_space(q->spare_dirfd, size);
}

bool
queue_fd_has_space(int fd, uint64_t size)
{
    struct statvfs sv;
    uint64_t avail;

    if (fd < 0 || fstatvfs(fd, &sv) < 0)
        return true; /* cannot tell: the write itself will report ENOSPC */
    avail = (uint64_t)sv.f_bavail * sv.f_frsize;
    /* the content is on the disk twice for a moment: in its spare file and
     * in the log, until the flush lets the spare file go */
    return avail >= 2 * size + QUEUE_SPACE_RESERVE && sv.f_favail > 16;
}

/* IDs are microseconds since the epoch followed by 12 random bits, made
 * unique and increasing within the process: they sort by arrival, and even
 * a clock stepped back across a restart repeats an old ID only by a 1 in
 * 4096 chance at the same microsecond. That matters beyond the spool: the
 * Maildir copy of a delivered message is named after its ID, and an old
 * copy of the same name would be taken for this message's. */
static void
queue_next_id(struct queue *q, char *id)
{
    struct timeval tv;
    uint64_t now, salt = 0;

    gettimeofday(&tv, NULL);
    if (q->salts_left == 0 && getrandom(q->salts, sizeof(q->salts), 0) == (ssize_t)sizeof(q->salts))
        q->salts_left = sizeof(q->salts) / sizeof(q->salts[0]);
    if (q->salts_left > 0)
        salt = q->salts[--q->salts_left];
    else
        salt = (uint64_t)tv.tv_usec * 2654435761u;
    now = (((uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec) << 12) | (salt & 0xfff);
    q->last_id = now > q->last_id ? now : q->last_id + 1;
    snprintf(id, QUEUE_ID_LEN + 1, "%016" PRIX64, q->last_id);
}

/* A content file under a new ID: a kept one when may_reuse, else a new
 * spare/<ID>. Only files for the smtp process are reused: its commits are
 * checked against the size it wrote, so an append through a descriptor a
 * writer kept would show; this process's own messages (reports) have no
 * such check and always get a new file. */
static struct queue_msg *
msg_create(struct queue *q, bool may_reuse, char *err, size_t errlen)
{
    struct queue_msg *m = xcalloc(1, sizeof(*m));

    m->q = q;
    while (may_reuse && !m->spare[0]) {
        struct kept_spare k;
        struct stat st;
        pthread_mutex_lock(&q->lock);
        if (q->nkept == 0) {
            pthread_mutex_unlock(&q->lock);
            break;
        }
        k = q->kept[--q->nkept];
        pthread_mutex_unlock(&q->lock);
        /* something wrote to it after its commit (a writer that kept its
         * descriptor): not for a new message */
        if (fstat(k.fd, &st) < 0 || st.st_size != 0) {
            log_warnx("queue: %s/%s was written after its commit; removed", q->spare_dir, k.name);
            close(k.fd);
            if (unlinkat(q->spare_dirfd, k.name, 0) < 0 && errno != ENOENT)
                log_warn("queue: cannot remove %s/%s", q->spare_dir, k.name);
            continue;
        }
        m->fd = k.fd;
        memcpy(m->spare, k.name, sizeof(m->spare));
    }
    if (m->spare[0]) {
        queue_next_id(q, m->id);
        return m;
    }
    for (int tries = 0; tries < 8; tries++) {
        queue_next_id(q, m->id);
        /* O_APPEND: whoever writes the content (this process or the smtp
         * process it is handed to) appends, whatever its file offset */
        m->fd =
            openat(q->spare_dirfd, m->id, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (m->fd >= 0 || errno != EEXIST)
            break;
    }
    if (m->fd < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot create message file %s/%s: %s", q->spare_dir, m->id,
                 strerror(e));
        free(m);
        errno = e;
        return NULL;
    }
    memcpy(m->spare, m->id, sizeof(m->spare));
    return m;
}

struct queue_msg *
queue_msg_begin(struct queue *q, char *err, size_t errlen)
{
    struct queue_msg *m = msg_create(q, false, err, errlen);

    if (m != NULL)
        fd_writer_start(&m->out, m->fd);
    return m;
}

struct queue_msg *
queue_msg_reserve(struct queue *q, char *err, size_t errlen)
{
    struct queue_msg *m = msg_create(q, true, err, errlen);

    if (m != NULL)
        m->external = true;
    return m;
}

int
queue_msg_fd(const struct queue_msg *m)
{
    return m->fd;
}

const char *
queue_msg_id(const struct queue_msg *m)
{
    return m->id;
}

void
queue_msg_write(struct queue_msg *m, const void *data, size_t len)
{
    if (m->error || m->external)
        return;
    fd_writer_put(&m->out, data, len);
    m->size = m->out.size;
    if (m->out.error)
        m->error = step_failed("write", m->q->spare_dir, m->spare, m->out.error);
}

int
queue_msg_error(const struct queue_msg *m)
{
    return m->error;
}

uint64_t
queue_msg_size(const struct queue_msg *m)
{
    return m->size;
}

void
queue_msg_set_error(struct queue_msg *m, int error)
{
    if (m->error == 0 && error != 0)
        m->error = step_failed("write", m->q->spare_dir, m->spare, error);
}

static void
queue_msg_free(struct queue_msg *m)
{
    if (m->fd >= 0)
        close(m->fd);
    envelope_free(m->env);
    free(m->envtext);
    fd_writer_drop(&m->out);
    free(m);
}

void
queue_msg_abort(struct queue_msg *m)
{
    if (m == NULL)
        return;
    if (unlinkat(m->q->spare_dirfd, m->spare, 0) < 0 && errno != ENOENT)
        log_warn("queue: cannot remove aborted message %s (%s)", m->id, m->spare);
    queue_msg_free(m);
}

static void
queue_enqueue_job(struct queue *q, struct queue_msg *m)
{
    pthread_mutex_lock(&q->lock);
    m->next = q->pending;
    q->pending = m;
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->lock);
}

void
queue_set_commit_hook(struct queue *q, queue_commit_hook *hook, void *arg)
{
    q->hook = hook;
    q->hook_arg = arg;
}

static struct queue_msg *
job_new(struct queue *q, enum queue_job job, const char *id, queue_commit_cb *cb, void *arg)
{
    struct queue_msg *m = xcalloc(1, sizeof(*m));

    m->q = q;
    m->job = job;
    m->fd = -1;
    strlcpy_p(m->id, id, sizeof(m->id));
    m->cb = cb;
    m->cbarg = arg;
    return m;
}

void
queue_update(struct queue *q, const struct envelope *env, queue_commit_cb *cb, void *arg)
{
    struct queue_msg *m = job_new(q, JOB_UPDATE, env->id, cb, arg);

    m->envtext = envelope_serialize(env, &m->envlen);
    queue_enqueue_job(q, m);
}

void
queue_remove(struct queue *q, const char *id, queue_commit_cb *cb, void *arg)
{
    queue_enqueue_job(q, job_new(q, JOB_REMOVE, id, cb, arg));
}

void
queue_msg_commit(struct queue_msg *m, struct envelope *env, queue_commit_cb *cb, void *arg)
{
    struct queue *q = m->q;
    struct stat st;

    if (fd_writer_finish(&m->out) != 0 && m->error == 0)
        m->error = step_failed("write", q->spare_dir, m->spare, m->out.error);
    /* Another process wrote the content (and has finished: it asked for
     * the commit): the file says how much. */
    if (m->external && m->error == 0) {
        if (fstat(m->fd, &st) < 0)
            m->error = step_failed("fstat", q->spare_dir, m->spare, errno);
        else
            m->size = (uint64_t)st.st_size;
    }
    memcpy(env->id, m->id, sizeof(env->id));
    env->size = m->size;
    m->env = env;
    m->envtext = envelope_serialize(env, &m->envlen);
    m->cb = cb;
    m->cbarg = arg;
    metric_clock(&m->requested);
    queue_enqueue_job(q, m);
}

/*
 * One batch: everything pending when the thread woke, appended to the log
 * in arrival order and flushed once: that is the group commit. A record
 * that cannot be appended fails its own job; a failed flush fails every
 * job of the batch (qlog drops their changes).
 */
static void
commit_batch(struct queue *q, struct queue_msg *batch)
{
    struct queue_msg *m;
    size_t appended = 0;

    for (m = batch; m; m = m->next) {
        int rc;
        if (m->error)
            continue;
        if (m->job == JOB_COMMIT)
            rc = qlog_append_msg(q->log, m->id, m->envtext, m->envlen, m->fd, m->size);
        else if (m->job == JOB_UPDATE)
            rc = qlog_append_env(q->log, m->id, m->envtext, m->envlen);
        else
            rc = qlog_append_del(q->log, m->id);
        /* (qlog logs the step and the file) */
        if (rc < 0)
            m->error = errno;
        else
            appended++;
    }
    if (appended > 0 && qlog_sync(q->log) < 0) {
        int e = errno;
        for (m = batch; m; m = m->next)
            if (m->error == 0)
                m->error = e;
    }
    /* The content is in the log now, or the commit failed: either way its
     * file has served. Emptied, it serves the next message: its writer
     * (the smtp process) closed its descriptor before asking for the
     * commit, and an append from a stale one would show at the next
     * commit's size check. */
    for (m = batch; m; m = m->next) {
        if (m->job != JOB_COMMIT)
            continue;
        if (m->error == 0) /* durable now (the registry is thread-safe) */
            metric_observe(MET_QUEUE_COMMIT_SECONDS, NULL, metric_seconds_since(&m->requested));
        if (m->error == 0 && ftruncate(m->fd, 0) == 0) {
            pthread_mutex_lock(&q->lock);
            if (q->nkept < QUEUE_SPARES_KEPT) {
                struct kept_spare *k = &q->kept[q->nkept++];
                k->fd = m->fd;
                memcpy(k->name, m->spare, sizeof(k->name));
                m->fd = -1;
            }
            pthread_mutex_unlock(&q->lock);
            if (m->fd < 0)
                continue;
        }
        if (unlinkat(q->spare_dirfd, m->spare, 0) < 0 && errno != ENOENT)
            log_warn("queue: cannot remove %s/%s", q->spare_dir, m->spare);
    }
}

static void *
committer_thread(void *arg)
{
    struct queue *q = arg;
    struct queue_msg *batch, *m, *rev;

    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (q->pending == NULL && !q->stopping)
            pthread_cond_wait(&q->wake, &q->lock);
        if (q->pending == NULL)
            break;
        batch = q->pending;
        q->pending = NULL;
        pthread_mutex_unlock(&q->lock);

        /* pending is LIFO; commit in arrival order */
        for (rev = NULL; batch; batch = m) {
            m = batch->next;
            batch->next = rev;
            rev = batch;
        }
        commit_batch(q, rev);

        pthread_mutex_lock(&q->lock);
        while ((m = rev) != NULL) {
            rev = m->next;
            m->next = q->finished;
            q->finished = m;
        }
        event_active(q->notify, EV_READ, 0);
        /* with nothing waiting, long-lived messages may be copied out of a
         * mostly dead segment (no commit waits for that) */
        if (q->pending == NULL) {
            pthread_mutex_unlock(&q->lock);
            if (qlog_compact(q->log) < 0)
                log_warnx("queue: copying long-lived messages forward in %s failed", q->log_dir);
            pthread_mutex_lock(&q->lock);
        }
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

static void
committer_done_cb(evutil_socket_t fd, short what, void *arg)
{
    struct queue *q = arg;
    struct queue_msg *list, *m;

    pthread_mutex_lock(&q->lock);
    list = q->finished;
    q->finished = NULL;
    pthread_mutex_unlock(&q->lock);
    /* finished is a stack: turn it round so that completions run in the
     * order the jobs were submitted (an update before a removal) */
    {
        struct queue_msg *rev = NULL, *next;
        for (; list; list = next) {
            next = list->next;
            list->next = rev;
            rev = list;
        }
        list = rev;
    }
    while ((m = list) != NULL) {
        queue_commit_cb *cb = m->cb;
        void *cbarg = m->cbarg;
        int error = m->error;
        struct envelope *env = NULL;

        list = m->next;
        if (!error && m->job == JOB_COMMIT)
            q->count++;
        else if (!error && m->job == JOB_REMOVE && q->count > 0)
            q->count--;
        if (!error && m->job == JOB_COMMIT && q->hook) {
            env = m->env; /* handed to the hook below */
            m->env = NULL;
        }
        queue_msg_free(m);
        if (cb)
            cb(cbarg, error);
        if (env)
            q->hook(q->hook_arg, env);
    }
}

int
queue_content_fd(struct queue *q, const char *id)
{
    return qlog_content_fd(q->log, id);
}

static char *
header_section_of(struct qlog *l, const char *id, size_t *len)
{
    char *h = qlog_content_head(l, id, HEADER_SECTION_READ, len);

    if (h != NULL) {
        *len = header_section_cut(h, *len, HEADER_SECTION_MAX);
        h[*len] = '\0';
    }
    return h;
}

char *
queue_header_section(struct queue *q, const char *id, size_t *len)
{
    return header_section_of(q->log, id, len);
}

/* ---- reading every message ---- */

struct queue_reader {
    struct qlog *log;
    queue_scan_fn *fn;
    void *arg;
};

int
queue_reader_content(struct queue_reader *r, const char *id)
{
    return qlog_content_fd(r->log, id);
}

char *
queue_reader_header_section(struct queue_reader *r, const char *id, size_t *len)
{
    return header_section_of(r->log, id, len);
}

static void
scan_one(void *arg, const char *id, const char *text, size_t len, uint64_t content_len)
{
    struct queue_reader *r = arg;
    char err[128];
    struct envelope *env = envelope_parse(text, len, err, sizeof(err));

    (void)content_len;
    r->fn(id, env, r, r->arg);
    envelope_free(env);
}

long
queue_load(struct queue *q, queue_scan_fn *fn, void *arg)
{
    struct queue_reader r = {q->log, fn, arg};

    return (long)qlog_each(q->log, scan_one, &r);
}

long
queue_scan(const char *queue_dir, queue_scan_fn *fn, void *arg)
{
    struct queue *q = queue_open(queue_dir, NULL, NULL, 0);
    long n;

    if (q == NULL)
        return -1;
    n = queue_load(q, fn, arg);
    queue_close(q);
    return n;
}
