/*
 * queue.c — see queue.h for the layout, the commit order and the recovery
 * rules. The loop thread owns struct queue_msg until it calls
 * queue_msg_commit; from then on the committer thread owns it until the
 * completion runs back on the loop.
 */
#include "queue/queue.h"
#include "lib/log.h"
#include "lib/fd_writer.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

/* Per-message fsyncs of one batch run on this many threads at once: a
 * disk completes concurrent syncs far faster than the same ones in a row
 * (PERF-ANCHORS.md: ~1,200 serial vs ~2,500 concurrent commits/s here). */
#define QUEUE_SYNC_THREADS 8

/* Space kept free for envelopes, logs and bounces when a disk fills. */
#define QUEUE_SPACE_RESERVE (1024 * 1024)

enum queue_job { JOB_COMMIT, JOB_UPDATE, JOB_REMOVE };

struct queue_msg {
    struct queue *q;
    enum queue_job job;
    char id[QUEUE_ID_LEN + 1];
    int fd;
    int error;
    bool external;         /* written by another process: size from the file */
    bool in_spare;         /* reserved, still spare/<ID> (not yet claimed) */
    unsigned data_dir_gen; /* q->data_dir_failures when data/<ID> was created */
    uint64_t size;
    struct fd_writer out; /* content written here (not external) */
    /* filled at commit */
    struct envelope *env;
    char *envtext;
    size_t envlen;
    queue_commit_cb *cb;
    void *cbarg;
    bool superseded; /* a later update of the same message is in the batch */
    struct queue_msg *next;
};

/* Threads that run commit_prepare for the messages of one batch. */
struct sync_pool {
    pthread_t threads[QUEUE_SYNC_THREADS];
    size_t nthreads;
    pthread_mutex_t lock;
    pthread_cond_t work, done;
    struct queue_msg **items;
    size_t nitems, next, finished;
    bool stop;
};

struct queue {
    char *dir, *data_dir, *env_dir, *spare_dir;
    int data_dirfd, env_dirfd, spare_dirfd;
    size_t count;
    uint64_t last_id;
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
    struct sync_pool pool;
    /* Failed fsyncs of data/ so far. A failed fsync reports its error once
     * and the next one may succeed without having written what was lost
     * (fsyncgate): a content file created before a failure has a
     * directory entry that no later success vouches for. */
    atomic_uint data_dir_failures;
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

static bool
file_exists(const char *dir, const char *name)
{
    struct stat st;
    char *path = xasprintf("%s/%s", dir, name);
    bool ok = stat(path, &st) == 0;

    free(path);
    return ok;
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

/*
 * Recovery: an envelope is the commit record. Half-written envelopes (.tmp)
 * and content files without an envelope belong to messages that were never
 * acknowledged, so they are removed; an envelope without content is a
 * damaged message and is set aside rather than deleted.
 */
static void
queue_recover(struct queue *q)
{
    size_t ntmp, nenv, ndata, nspare, removed = 0;
    char **tmp = list_ids(q->env_dir, ".tmp", &ntmp);
    char **spare = list_ids(q->spare_dir, "", &nspare);
    char **env, **data;

    for (size_t i = 0; i < ntmp; i++)
        unlink_in(q->env_dir, tmp[i]);
    free_names(tmp, ntmp);
    /* files reserved for a writer and never claimed hold no message */
    for (size_t i = 0; i < nspare; i++)
        unlink_in(q->spare_dir, spare[i]);
    free_names(spare, nspare);

    env = list_ids(q->env_dir, "", &nenv);
    data = list_ids(q->data_dir, "", &ndata);
    for (size_t i = 0; i < ndata; i++) {
        /* no envelopes: env is NULL, which bsearch must not be given
         * (UBSan, after a kill -9 with only unacknowledged content) */
        if (nenv == 0 || !bsearch(&data[i], env, nenv, sizeof(*env), cmp_names)) {
            unlink_in(q->data_dir, data[i]);
            removed++;
        }
    }
    q->count = 0;
    for (size_t i = 0; i < nenv; i++) {
        if (!file_exists(q->data_dir, env[i])) {
            char *from = xasprintf("%s/%s", q->env_dir, env[i]);
            char *to = xasprintf("%s/%s.damaged", q->env_dir, env[i]);
            log_warnx("queue: message %s has an envelope but no content; set aside as %s", env[i],
                      to);
            if (rename(from, to) < 0)
                log_warn("queue: rename %s", from);
            free(from);
            free(to);
            continue;
        }
        q->count++;
    }
    if (ntmp || removed)
        log_info("queue: recovery removed %zu unacknowledged message(s) and %zu partial "
                 "envelope(s)",
                 removed, ntmp);
    free_names(env, nenv);
    free_names(data, ndata);
}

static void *committer_thread(void *arg);
static void sync_pool_start(struct queue *q);
static void sync_pool_stop(struct queue *q);
static void committer_done_cb(evutil_socket_t fd, short what, void *arg);

struct queue *
queue_open(const char *queue_dir, struct event_base *base, char *err, size_t errlen)
{
    struct queue *q = xcalloc(1, sizeof(*q));

    q->dir = xstrdup(queue_dir);
    q->data_dir = xasprintf("%s/data", queue_dir);
    q->env_dir = xasprintf("%s/env", queue_dir);
    q->spare_dir = xasprintf("%s/spare", queue_dir);
    q->data_dirfd = q->env_dirfd = q->spare_dirfd = -1;
    if (fs_mkdir(q->dir, 0700) < 0 || fs_mkdir(q->data_dir, 0700) < 0 ||
        fs_mkdir(q->env_dir, 0700) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", queue_dir, strerror(errno));
        goto fail;
    }
    q->data_dirfd = open(q->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    q->env_dirfd = open(q->env_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (q->data_dirfd < 0 || q->env_dirfd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", queue_dir, strerror(errno));
        goto fail;
    }
    if (base == NULL)
        return q;
    if (fs_mkdir(q->spare_dir, 0700) < 0 ||
        (q->spare_dirfd = open(q->spare_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "cannot open %s: %s", q->spare_dir, strerror(errno));
        goto fail;
    }
    queue_recover(q);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->wake, NULL);
    q->notify = event_new(base, -1, 0, committer_done_cb, q);
    if (pthread_create(&q->thread, NULL, committer_thread, q) != 0) {
        snprintf(err, errlen, "cannot start the queue committer thread");
        goto fail;
    }
    q->has_thread = true;
    sync_pool_start(q);
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
        sync_pool_stop(q);
        /* Completions of the last batch still run, so their sessions hear. */
        committer_done_cb(-1, 0, q);
    }
    if (q->notify) {
        event_free(q->notify);
        pthread_cond_destroy(&q->wake);
        pthread_mutex_destroy(&q->lock);
    }
    if (q->data_dirfd >= 0)
        close(q->data_dirfd);
    if (q->env_dirfd >= 0)
        close(q->env_dirfd);
    if (q->spare_dirfd >= 0)
        close(q->spare_dirfd);
    free(q->dir);
    free(q->data_dir);
    free(q->env_dir);
    free(q->spare_dir);
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
    return queue_fd_has_space(q->data_dirfd, size);
}

bool
queue_fd_has_space(int fd, uint64_t size)
{
    struct statvfs sv;
    uint64_t avail;

    if (fd < 0 || fstatvfs(fd, &sv) < 0)
        return true; /* cannot tell: the write itself will report ENOSPC */
    avail = (uint64_t)sv.f_bavail * sv.f_frsize;
    return avail >= size + size / 2 + QUEUE_SPACE_RESERVE && sv.f_favail > 16;
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
    if (getrandom(&salt, sizeof(salt), 0) != sizeof(salt))
        salt = (uint64_t)tv.tv_usec * 2654435761u;
    now = (((uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec) << 12) | (salt & 0xfff);
    q->last_id = now > q->last_id ? now : q->last_id + 1;
    snprintf(id, QUEUE_ID_LEN + 1, "%016" PRIX64, q->last_id);
}

/* A new content file under a new ID in dirfd (data/ or spare/). */
static struct queue_msg *
msg_create(struct queue *q, int dirfd, const char *dir, char *err, size_t errlen)
{
    struct queue_msg *m = xcalloc(1, sizeof(*m));

    m->q = q;
    /* read before the file exists: a failure in between counts against it */
    m->data_dir_gen = atomic_load(&q->data_dir_failures);
    for (int tries = 0; tries < 8; tries++) {
        queue_next_id(q, m->id);
        m->fd = openat(dirfd, m->id, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (m->fd >= 0 || errno != EEXIST)
            break;
    }
    if (m->fd < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot create message file %s/%s: %s", dir, m->id, strerror(e));
        free(m);
        errno = e;
        return NULL;
    }
    return m;
}

struct queue_msg *
queue_msg_begin(struct queue *q, char *err, size_t errlen)
{
    struct queue_msg *m = msg_create(q, q->data_dirfd, q->data_dir, err, errlen);

    if (m != NULL)
        fd_writer_start(&m->out, m->fd);
    return m;
}

struct queue_msg *
queue_msg_reserve(struct queue *q, char *err, size_t errlen)
{
    struct queue_msg *m = msg_create(q, q->spare_dirfd, q->spare_dir, err, errlen);

    if (m != NULL)
        m->external = m->in_spare = true;
    return m;
}

int
queue_msg_fd(const struct queue_msg *m)
{
    return m->fd;
}

int
queue_msg_claim(struct queue_msg *m)
{
    struct queue *q = m->q;

    if (!m->in_spare) {
        errno = m->error;
        return m->error ? -1 : 0;
    }
    /* data/<ID> is created now, as far as a failed fsync of data/ goes */
    m->data_dir_gen = atomic_load(&q->data_dir_failures);
    if (fs_rename_noreplace(q->spare_dirfd, m->id, q->data_dirfd, m->id) < 0) {
        m->error = step_failed("rename", q->spare_dir, m->id, errno);
        if (unlinkat(q->spare_dirfd, m->id, 0) == 0)
            m->in_spare = false; /* nothing left to remove at abort */
        errno = m->error;
        return -1;
    }
    m->in_spare = false;
    return 0;
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
        m->error = step_failed("write", m->q->data_dir, m->id, m->out.error);
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
        m->error =
            step_failed("write", m->in_spare ? m->q->spare_dir : m->q->data_dir, m->id, error);
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
    if (unlinkat(m->in_spare ? m->q->spare_dirfd : m->q->data_dirfd, m->id, 0) < 0 &&
        errno != ENOENT)
        log_warn("queue: cannot remove aborted message %s", m->id);
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

void
queue_update(struct queue *q, const struct envelope *env, queue_commit_cb *cb, void *arg)
{
    struct queue_msg *m = xcalloc(1, sizeof(*m));

    m->q = q;
    m->job = JOB_UPDATE;
    m->fd = -1;
    memcpy(m->id, env->id, sizeof(m->id));
    m->envtext = envelope_serialize(env, &m->envlen);
    m->cb = cb;
    m->cbarg = arg;
    queue_enqueue_job(q, m);
}

void
queue_remove(struct queue *q, const char *id, queue_commit_cb *cb, void *arg)
{
    struct queue_msg *m = xcalloc(1, sizeof(*m));

    m->q = q;
    m->job = JOB_REMOVE;
    m->fd = -1;
    strlcpy_p(m->id, id, sizeof(m->id));
    m->cb = cb;
    m->cbarg = arg;
    queue_enqueue_job(q, m);
}

void
queue_msg_commit(struct queue_msg *m, struct envelope *env, queue_commit_cb *cb, void *arg)
{
    struct queue *q = m->q;
    struct stat st;

    if (fd_writer_finish(&m->out) != 0 && m->error == 0)
        m->error = step_failed("write", q->data_dir, m->id, m->out.error);
    /* Another process wrote the content (and has finished: it asked for
     * the commit): the file says how much. */
    if (m->external && queue_msg_claim(m) == 0) {
        if (fstat(m->fd, &st) < 0)
            m->error = step_failed("fstat", q->data_dir, m->id, errno);
        else
            m->size = (uint64_t)st.st_size;
    }
    memcpy(env->id, m->id, sizeof(env->id));
    env->size = m->size;
    m->env = env;
    m->envtext = envelope_serialize(env, &m->envlen);
    m->cb = cb;
    m->cbarg = arg;
    queue_enqueue_job(q, m);
}

/* Step 1 for one message: content durable, envelope written as .tmp. */
static void
commit_prepare(struct queue *q, struct queue_msg *m)
{
    char tmp[QUEUE_ID_LEN + 8];
    int fd;

    if (m->error || m->job == JOB_REMOVE)
        return;
    if (m->job == JOB_COMMIT && fsync(m->fd) < 0) {
        m->error = step_failed("fsync", q->data_dir, m->id, errno);
        return;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", m->id);
    fd = openat(q->env_dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        m->error = step_failed("create", q->env_dir, tmp, errno);
        return;
    }
    if (fs_write_all(fd, m->envtext, m->envlen) < 0)
        m->error = step_failed("write", q->env_dir, tmp, errno);
    else if (fsync(fd) < 0)
        m->error = step_failed("fsync", q->env_dir, tmp, errno);
    close(fd);
}

static void *
sync_thread(void *arg)
{
    struct queue *q = arg;
    struct sync_pool *p = &q->pool;

    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && p->next >= p->nitems)
            pthread_cond_wait(&p->work, &p->lock);
        if (p->stop)
            break;
        struct queue_msg *m = p->items[p->next++];
        pthread_mutex_unlock(&p->lock);
        commit_prepare(q, m);
        pthread_mutex_lock(&p->lock);
        if (++p->finished == p->nitems)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static void
sync_pool_start(struct queue *q)
{
    struct sync_pool *p = &q->pool;

    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    for (p->nthreads = 0; p->nthreads < QUEUE_SYNC_THREADS; p->nthreads++)
        if (pthread_create(&p->threads[p->nthreads], NULL, sync_thread, q) != 0)
            break;
}

static void
sync_pool_stop(struct queue *q)
{
    struct sync_pool *p = &q->pool;

    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
}

/* Runs commit_prepare for every message of the batch on the pool and waits
 * for all of them (with no pool, in this thread). */
static void
sync_pool_run(struct queue *q, struct queue_msg **items, size_t n)
{
    struct sync_pool *p = &q->pool;

    if (p->nthreads == 0 || n == 1) {
        for (size_t i = 0; i < n; i++)
            commit_prepare(q, items[i]);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->items = items;
    p->nitems = n;
    p->next = p->finished = 0;
    pthread_cond_broadcast(&p->work);
    while (p->finished < p->nitems)
        pthread_cond_wait(&p->done, &p->lock);
    p->items = NULL;
    p->nitems = p->next = p->finished = 0;
    pthread_mutex_unlock(&p->lock);
}

/*
 * One batch: everything pending when the thread woke. The per-message
 * fsyncs run in parallel; the two directory fsyncs are shared by the whole
 * batch: that is the group commit.
 */
static void
commit_batch(struct queue *q, struct queue_msg *batch)
{
    struct queue_msg *m, **items;
    char tmp[QUEUE_ID_LEN + 8];
    int dir_error = 0;
    size_t n = 0, i = 0;

    for (m = batch; m; m = m->next) {
        /* Two updates of one message would share its .tmp name: only the
         * last one (the newest state) is written. */
        for (struct queue_msg *later = m->next; later && m->job == JOB_UPDATE; later = later->next)
            if (later->job == JOB_UPDATE && strcmp(later->id, m->id) == 0)
                m->superseded = true;
        n += !m->superseded;
    }
    // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
    items = xcalloc(n ? n : 1, sizeof(*items));
    for (m = batch; m; m = m->next)
        if (!m->superseded)
            items[i++] = m;
    sync_pool_run(q, items, n);
    free(items);
    /* The content files' directory entries must be durable before any
     * envelope that points at them becomes visible. */
    if (fs_fsync_dirfd(q->data_dirfd) < 0) {
        dir_error = step_failed("fsync", q->data_dir, NULL, errno);
        atomic_fetch_add(&q->data_dir_failures, 1);
    }
    for (m = batch; m; m = m->next) {
        /* Only new content needs data/ durable: an update or a removal
         * failed for it would keep a delivered message on disk. */
        if (m->error == 0 && dir_error && m->job == JOB_COMMIT)
            m->error = dir_error;
        /* fsyncgate: data/<ID> existed when an earlier fsync of data/
         * failed, so this batch's success does not cover its entry. */
        if (m->error == 0 && m->job == JOB_COMMIT &&
            m->data_dir_gen != atomic_load(&q->data_dir_failures)) {
            log_warnx("queue: %s/%s was created before a failed fsync of %s: not acknowledged",
                      q->data_dir, m->id, q->data_dir);
            m->error = EIO;
        }
        if (m->error || m->superseded)
            continue;
        if (m->job == JOB_REMOVE) {
            /* envelope first: a crash between the two leaves content
             * without an envelope, which recovery removes */
            if (unlinkat(q->env_dirfd, m->id, 0) < 0 && errno != ENOENT)
                m->error = step_failed("unlink", q->env_dir, m->id, errno);
            else if (unlinkat(q->data_dirfd, m->id, 0) < 0 && errno != ENOENT)
                m->error = step_failed("unlink", q->data_dir, m->id, errno);
            continue;
        }
        snprintf(tmp, sizeof(tmp), "%s.tmp", m->id);
        if (renameat(q->env_dirfd, tmp, q->env_dirfd, m->id) < 0)
            m->error = step_failed("rename", q->env_dir, tmp, errno);
    }
    if (fs_fsync_dirfd(q->env_dirfd) < 0) {
        dir_error = step_failed("fsync", q->env_dir, NULL, errno);
        /* New envelopes may or may not survive a crash: do not acknowledge,
         * and take them back so that no unacknowledged message is
         * delivered. (An update that fails here leaves the old or the new
         * envelope, both valid.) */
        for (m = batch; m; m = m->next) {
            if (m->error == 0 && !m->superseded) {
                m->error = dir_error;
                if (m->job == JOB_COMMIT)
                    unlinkat(q->env_dirfd, m->id, 0);
            }
        }
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

        list = m->next;
        if (error && m->job != JOB_REMOVE) {
            char tmp[QUEUE_ID_LEN + 8];
            snprintf(tmp, sizeof(tmp), "%s.tmp", m->id);
            unlinkat(q->env_dirfd, tmp, 0);
            if (m->job == JOB_COMMIT)
                unlinkat(q->data_dirfd, m->id, 0);
        } else if (!error && m->job == JOB_COMMIT) {
            q->count++;
        } else if (!error && m->job == JOB_REMOVE && q->count > 0) {
            q->count--;
        }
        struct envelope *env = NULL;
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

long
queue_scan(const char *queue_dir, queue_scan_fn *fn, void *arg)
{
    char *env_dir = xasprintf("%s/env", queue_dir);
    size_t n;
    char **ids = list_ids(env_dir, "", &n);

    for (size_t i = 0; i < n; i++) {
        char *env_path = xasprintf("%s/%s", env_dir, ids[i]);
        char *data_path = xasprintf("%s/data/%s", queue_dir, ids[i]);
        struct envelope *env = NULL;
        size_t len;
        char *text = file_read(env_path, &len), err[128];
        if (text)
            env = envelope_parse(text, len, err, sizeof(err));
        free(text);
        fn(ids[i], env, data_path, arg);
        envelope_free(env);
        free(env_path);
        free(data_path);
    }
    free_names(ids, n);
    free(env_dir);
    return (long)n;
}
