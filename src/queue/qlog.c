/*
 * qlog.c — see qlog.h.
 *
 * In memory: the segments, oldest first (the last is the one appended
 * to), and an index of the live messages (tsearch tree by ID): the segment
 * and offset of each one's content and of its latest envelope. Appends
 * queue their index changes; qlog_sync applies them only once the flush
 * succeeded, so a reader never sees a record that might not survive.
 *
 * Must never: write anywhere but at the end of the newest segment, apply
 * a change whose flush failed, or remove a segment out of order.
 */
#include "queue/qlog.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define MAGIC 0x474c5150u /* "PQLG" */
#define HEADER 40
#define CHUNK (64 * 1024)
#define ENV_MAX (1u << 20) /* an envelope is text of a few hundred bytes */

enum rec_type { REC_MSG = 1, REC_ENV = 2, REC_DEL = 3 };

struct segment {
    uint64_t seq;
    int fd;
    uint64_t size;   /* end of the last complete record */
    uint64_t synced; /* durable up to here */
    bool new_entry;  /* its directory entry is not durable yet */
    bool failed;     /* a flush failed: no more records here */
    size_t live;     /* live messages whose content is here */
    uint64_t live_bytes;
};

/* Where a record's payload parts are. */
struct loc {
    uint64_t seq, off;
    uint64_t len;
};

struct live_msg {
    char id[QLOG_ID_LEN + 1];
    struct loc content, env;
};

struct change {
    enum rec_type type;
    char id[QLOG_ID_LEN + 1];
    struct loc content, env;
};

struct qlog {
    pthread_mutex_t lock; /* segments, index: appends change them, readers read them */
    char *dir;
    int dirfd;
    bool read_only;
    uint64_t segment_size;
    struct segment *segs;
    size_t nsegs;
    void *index; /* tsearch root of struct live_msg */
    size_t nentries;
    struct change *pending;
    size_t npending, pending_cap;
};

/* ---- little helpers ---- */

static void
put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void
put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t
get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t
get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int
entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct live_msg *)a)->id, ((const struct live_msg *)b)->id);
}

static bool
id_valid(const char *id)
{
    if (id == NULL || strlen(id) != QLOG_ID_LEN)
        return false;
    for (size_t i = 0; i < QLOG_ID_LEN; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'A' && id[i] <= 'F')))
            return false;
    return true;
}

static struct live_msg *
find(struct qlog *l, const char *id)
{
    struct live_msg key;
    void *found;

    strlcpy_p(key.id, id, sizeof(key.id));
    found = tfind(&key, &l->index, entry_cmp);
    return found ? *(struct live_msg **)found : NULL;
}

static struct segment *
segment_of(struct qlog *l, uint64_t seq)
{
    for (size_t i = 0; i < l->nsegs; i++)
        if (l->segs[i].seq == seq)
            return &l->segs[i];
    return NULL;
}

static int
pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = EIO; /* shorter than its record says */
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

static int
pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

/* "queue: fdatasync DIR/0000000000000002.seg failed: ..." The queue names
 * the step and the file of a failure where it happens; its callers only
 * pass errno on. Returns e. */
static int
step_failed(const struct qlog *l, const char *step, uint64_t seq, int e)
{
    char buf[128];

    if (seq == 0)
        log_warnx("queue: %s %s failed: %s", step, l->dir, strerror_r(e, buf, sizeof(buf)));
    else
        log_warnx("queue: %s %s/%016llx.seg failed: %s", step, l->dir, (unsigned long long)seq,
                  strerror_r(e, buf, sizeof(buf)));
    return e;
}

/* ---- the index: live messages ---- */

static void
live_add(struct qlog *l, const struct loc *content, int delta)
{
    struct segment *s = segment_of(l, content->seq);

    if (s == NULL)
        return;
    if (delta > 0) {
        s->live++;
        s->live_bytes += content->len;
    } else {
        s->live--;
        s->live_bytes -= content->len;
    }
}

/* One record's effect, at replay or when its sync succeeded. */
static void
apply(struct qlog *l, enum rec_type type, const char *id, const struct loc *content,
      const struct loc *env)
{
    struct live_msg *e = find(l, id);

    switch (type) {
    case REC_MSG:
        if (e == NULL) {
            e = xcalloc(1, sizeof(*e));
            strlcpy_p(e->id, id, sizeof(e->id));
            (void)tsearch(e, &l->index, entry_cmp);
            l->nentries++;
        } else {
            live_add(l, &e->content, -1); /* moved forward */
        }
        e->content = *content;
        e->env = *env;
        live_add(l, &e->content, 1);
        break;
    case REC_ENV:
        if (e != NULL)
            e->env = *env;
        break;
    case REC_DEL:
        if (e != NULL) {
            live_add(l, &e->content, -1);
            (void)tdelete(e, &l->index, entry_cmp);
            l->nentries--;
            free(e);
        }
        break;
    }
}

/* ---- segments ---- */

static char *
segment_name(uint64_t seq)
{
    return xasprintf("%016llx.seg", (unsigned long long)seq);
}

static int
seq_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct segment *)a)->seq, y = ((const struct segment *)b)->seq;
    return x < y ? -1 : x > y;
}

/* The record at off of a segment of size bytes: 0 with its fields, or -1
 * with why it is not a whole record (r->total is still set when only the
 * checksum fails: the header's lengths fit). buf is CHUNK bytes of
 * scratch. */
struct record {
    enum rec_type type;
    char id[QLOG_ID_LEN + 1];
    uint32_t env_len;
    uint64_t content_len, total; /* total: header and payload */
};

static int
read_record(int fd, uint64_t off, uint64_t size, unsigned char *buf, struct record *r,
            const char **why)
{
    unsigned char h[HEADER];
    uint64_t payload, done = 0;
    uint32_t crc;

    memset(r, 0, sizeof(*r));
    if (size - off < HEADER || pread_all(fd, h, HEADER, off) < 0) {
        *why = "a record is cut short";
        return -1;
    }
    r->type = h[8];
    r->env_len = get32(h + 12);
    r->content_len = get64(h + 16);
    memcpy(r->id, h + 24, QLOG_ID_LEN);
    r->id[QLOG_ID_LEN] = '\0';
    if (get32(h) != MAGIC || r->type < REC_MSG || r->type > REC_DEL || r->env_len > ENV_MAX ||
        !id_valid(r->id) || (r->type != REC_MSG && r->content_len != 0)) {
        *why = "a record header is damaged";
        return -1;
    }
    payload = (uint64_t)r->env_len + r->content_len;
    if (payload > size - off - HEADER) {
        *why = "a record is cut short";
        return -1;
    }
    /* the header holds together: its length is where the next record is */
    r->total = HEADER + payload;
    crc = (uint32_t)crc32(0L, h + 8, HEADER - 8);
    while (done < payload) {
        size_t n = payload - done < CHUNK ? (size_t)(payload - done) : CHUNK;
        if (pread_all(fd, buf, n, off + HEADER + done) < 0)
            break;
        crc = (uint32_t)crc32(crc, buf, (uInt)n);
        done += n;
    }
    if (done < payload || crc != get32(h + 4)) {
        *why = "a record fails its checksum";
        return -1;
    }
    return 0;
}

/* The offset of the next whole record after from, or size when there is
 * none: where reading goes on after damage. */
static uint64_t
next_record(int fd, uint64_t from, uint64_t size, unsigned char *buf)
{
    static const unsigned char magic[4] = {MAGIC & 0xff, (MAGIC >> 8) & 0xff, (MAGIC >> 16) & 0xff,
                                           MAGIC >> 24};
    unsigned char *rest;
    uint64_t found = size;
    const char *why;
    struct record r;

    if (from >= size)
        return size;
    rest = xmalloc(size - from);
    if (pread_all(fd, rest, size - from, from) == 0) {
        for (uint64_t p = 0; p + HEADER <= size - from && found == size; p++) {
            const unsigned char *m = memmem(rest + p, size - from - p, magic, sizeof(magic));
            if (m == NULL)
                break;
            p = (uint64_t)(m - rest);
            if (read_record(fd, from + p, size, buf, &r, &why) == 0)
                found = from + p;
        }
    }
    free(rest);
    return found;
}

/* Reads one segment's records into the index; returns 0, or -1 when it
 * cannot be read at all. A record that is not whole is skipped up to the
 * next whole one (damage, logged); with none after it, the segment ends
 * there, and the newest is cut there (a write a crash interrupted). */
static int
replay_segment(struct qlog *l, struct segment *s, bool newest, char *err, size_t errlen)
{
    struct stat st;
    uint64_t off = 0, size;
    unsigned char *buf = xmalloc(CHUNK);
    const char *why = NULL, *why2;
    struct record r, r2;

    if (fstat(s->fd, &st) < 0) {
        free(buf);
        errorf(err, errlen, "%s/%016llx.seg: %s", l->dir, (unsigned long long)s->seq,
               strerror(errno));
        return -1;
    }
    size = (uint64_t)st.st_size;
    while (off < size) {
        uint64_t next;

        if (read_record(s->fd, off, size, buf, &r, &why) == 0) {
            struct loc env = {s->seq, off + HEADER, r.env_len};
            struct loc content = {s->seq, off + HEADER + r.env_len, r.content_len};
            apply(l, r.type, r.id, &content, &env);
            off += r.total;
            continue;
        }
        /* Only damage to a header needs a search for the next record: a
         * search may land on a record-like run inside a message's content,
         * which a sender chooses. When the header holds, its length says
         * where the next record is. */
        next = r.total > 0 && (off + r.total == size ||
                               read_record(s->fd, off + r.total, size, buf, &r2, &why2) == 0)
                   ? off + r.total
                   : next_record(s->fd, off + 1, size, buf);
        if (next == size)
            break; /* nothing whole after it: the end of the segment */
        if (!l->read_only)
            log_warnx("queue: %s/%016llx.seg: %s at offset %llu; %llu bytes skipped to the next "
                      "whole record%s%s (the disk lost data that had been flushed)",
                      l->dir, (unsigned long long)s->seq, why, (unsigned long long)off,
                      (unsigned long long)(next - off),
                      id_valid(r.id) ? ", among them a record of message " : "",
                      id_valid(r.id) ? r.id : "");
        off = next;
        why = NULL;
    }
    free(buf);
    s->size = s->synced = off;
    if (why == NULL || l->read_only)
        return 0;
    if (newest) {
        /* a batch a crash interrupted: none of it was acknowledged */
        log_warnx("queue: %s/%016llx.seg: %s at offset %llu: the end of the log is cut there "
                  "(%llu bytes, a write a crash interrupted)",
                  l->dir, (unsigned long long)s->seq, why, (unsigned long long)off,
                  (unsigned long long)(size - off));
        if (ftruncate(s->fd, (off_t)off) < 0 || fdatasync(s->fd) < 0) {
            errorf(err, errlen, "%s/%016llx.seg: cannot cut the damaged end: %s", l->dir,
                   (unsigned long long)s->seq, strerror(errno));
            return -1;
        }
    } else {
        log_warnx("queue: %s/%016llx.seg: %s at offset %llu: its last %llu bytes are damaged "
                  "and not used (the disk lost data that had been flushed)",
                  l->dir, (unsigned long long)s->seq, why, (unsigned long long)off,
                  (unsigned long long)(size - off));
    }
    return 0;
}

static int
load_segments(struct qlog *l, char *err, size_t errlen)
{
    DIR *d = fdopendir(dup(l->dirfd));
    struct dirent *de;
    struct timespec said;

    if (d == NULL) {
        errorf(err, errlen, "%s: %s", l->dir, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        unsigned long long seq;
        char tail[8];
        struct segment *s;

        if (sscanf(de->d_name, "%16llx.%3s", &seq, tail) != 2 || strcmp(tail, "seg") != 0 ||
            strlen(de->d_name) != 20)
            continue;
        l->segs = xrealloc(l->segs, (l->nsegs + 1) * sizeof(*l->segs));
        s = &l->segs[l->nsegs];
        memset(s, 0, sizeof(*s));
        s->seq = seq;
        s->fd = openat(l->dirfd, de->d_name,
                       (l->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW);
        if (s->fd < 0 && errno == ENOENT)
            continue; /* removed by the service since readdir */
        if (s->fd < 0) {
            errorf(err, errlen, "%s/%s: %s", l->dir, de->d_name, strerror(errno));
            closedir(d);
            return -1;
        }
        l->nsegs++;
    }
    closedir(d);
    if (l->nsegs > 1)
        qsort(l->segs, l->nsegs, sizeof(*l->segs), seq_cmp);
    clock_gettime(CLOCK_MONOTONIC, &said);
    for (size_t i = 0; i < l->nsegs; i++) {
        struct timespec now;
        if (replay_segment(l, &l->segs[i], i + 1 == l->nsegs, err, errlen) < 0)
            return -1;
        /* a big queue after a crash: say how far the reading got */
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (!l->read_only && i + 1 < l->nsegs && now.tv_sec - said.tv_sec >= 2) {
            log_info("queue: recovering: %zu of %zu segment(s) read", i + 1, l->nsegs);
            said = now;
        }
    }
    return 0;
}

/* A new newest segment. */
static int
segment_add(struct qlog *l)
{
    uint64_t seq = l->nsegs > 0 && l->segs != NULL ? l->segs[l->nsegs - 1].seq + 1 : 1;
    char *name = segment_name(seq);
    int fd = openat(l->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    struct segment *s;

    if (fd < 0) {
        int e = step_failed(l, "create", seq, errno);
        free(name);
        errno = e;
        return -1;
    }
    free(name);
    pthread_mutex_lock(&l->lock);
    l->segs = xrealloc(l->segs, (l->nsegs + 1) * sizeof(*l->segs));
    s = &l->segs[l->nsegs++];
    memset(s, 0, sizeof(*s));
    s->seq = seq;
    s->fd = fd;
    s->new_entry = true;
    pthread_mutex_unlock(&l->lock);
    return 0;
}

/* The segment a record of len bytes goes to (a new one when it would not
 * fit, or after a failed flush). NULL with errno. */
static struct segment *
segment_for(struct qlog *l, uint64_t len)
{
    const struct segment *last = l->nsegs ? &l->segs[l->nsegs - 1] : NULL;

    if (l->read_only) {
        errno = EROFS;
        return NULL;
    }
    if ((last == NULL || last->failed || (last->size > 0 && last->size + len > l->segment_size)) &&
        segment_add(l) < 0)
        return NULL;
    return &l->segs[l->nsegs - 1];
}

/* ---- appending ---- */

static void
pending_add(struct qlog *l, enum rec_type type, const char *id, const struct loc *content,
            const struct loc *env)
{
    struct change *c;

    if (l->npending == l->pending_cap) {
        l->pending_cap = l->pending_cap ? 2 * l->pending_cap : 64;
        l->pending = xrealloc(l->pending, l->pending_cap * sizeof(*l->pending));
    }
    c = &l->pending[l->npending++];
    c->type = type;
    strlcpy_p(c->id, id, sizeof(c->id));
    c->content = *content;
    c->env = *env;
}

/* Writes one record at the end of the newest segment: the header, env,
 * then content_len bytes of src_fd from src_off (none when src_fd < 0). */
static int
append(struct qlog *l, enum rec_type type, const char *id, const char *env, size_t env_len,
       int src_fd, uint64_t src_off, uint64_t content_len)
{
    uint64_t total = HEADER + (uint64_t)env_len + content_len, off, done = 0;
    unsigned char h[HEADER], *buf = NULL;
    struct segment *s;
    uint32_t crc;
    const char *step = "write";

    if (!id_valid(id) || env_len > ENV_MAX) {
        errno = EINVAL;
        return -1;
    }
    if ((s = segment_for(l, total)) == NULL)
        return -1;
    off = s->size;
    memset(h, 0, sizeof(h));
    put32(h, MAGIC);
    h[8] = (unsigned char)type;
    put32(h + 12, (uint32_t)env_len);
    put64(h + 16, content_len);
    memcpy(h + 24, id, QLOG_ID_LEN);
    crc = (uint32_t)crc32(0L, h + 8, HEADER - 8);
    /* (zlib's crc32 with a NULL buffer returns the initial value) */
    if (env_len > 0) {
        crc = (uint32_t)crc32(crc, (const unsigned char *)env, (uInt)env_len);
        if (pwrite_all(s->fd, env, env_len, off + HEADER) < 0)
            goto fail;
    }
    if (content_len > 0)
        buf = xmalloc(CHUNK);
    while (done < content_len) {
        size_t n = content_len - done < CHUNK ? (size_t)(content_len - done) : CHUNK;
        if (pread_all(src_fd, buf, n, src_off + done) < 0) {
            step = "read the content for";
            goto fail;
        }
        if (pwrite_all(s->fd, buf, n, off + HEADER + env_len + done) < 0)
            goto fail;
        crc = (uint32_t)crc32(crc, buf, (uInt)n);
        done += n;
    }
    put32(h + 4, crc);
    if (pwrite_all(s->fd, h, HEADER, off) < 0)
        goto fail;
    free(buf);
    s->size = off + total;
    {
        struct loc envloc = {s->seq, off + HEADER, env_len};
        struct loc content = {s->seq, off + HEADER + env_len, content_len};
        pending_add(l, type, id, &content, &envloc);
    }
    return 0;
fail : {
    int e = step_failed(l, step, s->seq, errno);
    free(buf);
    /* the next record starts where this one did; after an I/O error (not
     * a full disk) the segment itself is suspect and takes no more */
    if (ftruncate(s->fd, (off_t)off) < 0)
        s->failed = true; /* a torn record stays at its end: nothing more goes after it */
    if (e != ENOSPC && e != EDQUOT && strcmp(step, "write") == 0)
        s->failed = true;
    errno = e;
    return -1;
}
}

int
qlog_append_msg(struct qlog *l, const char *id, const char *env, size_t env_len, int content_fd,
                uint64_t content_len)
{
    return append(l, REC_MSG, id, env, env_len, content_fd, 0, content_len);
}

int
qlog_append_env(struct qlog *l, const char *id, const char *env, size_t env_len)
{
    return append(l, REC_ENV, id, env, env_len, -1, 0, 0);
}

int
qlog_append_del(struct qlog *l, const char *id)
{
    return append(l, REC_DEL, id, NULL, 0, -1, 0, 0);
}

/* ---- making it durable ---- */

/* Removes the oldest segments while nothing live is in them (never the
 * newest, which takes the next records). */
static void
reclaim(struct qlog *l)
{
    size_t gone = 0;

    while (gone + 1 < l->nsegs && l->segs[gone].live == 0 &&
           l->segs[gone].synced == l->segs[gone].size)
        gone++;
    if (gone == 0)
        return;
    for (size_t i = 0; i < gone; i++) {
        char *name = segment_name(l->segs[i].seq);
        /* no fsync: a removal the crash undid is redone at the next start,
         * and every message in it is dead by records in later segments */
        if (unlinkat(l->dirfd, name, 0) < 0)
            log_warn("queue: cannot remove %s/%s", l->dir, name);
        free(name);
    }
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < gone; i++)
        close(l->segs[i].fd);
    memmove(l->segs, l->segs + gone, (l->nsegs - gone) * sizeof(*l->segs));
    l->nsegs -= gone;
    pthread_mutex_unlock(&l->lock);
}

int
qlog_sync(struct qlog *l)
{
    bool dir = false;
    int error = 0;

    for (size_t i = 0; i < l->nsegs && error == 0; i++) {
        struct segment *s = &l->segs[i];
        if (s->synced != s->size && fdatasync(s->fd) < 0)
            error = step_failed(l, "fdatasync", s->seq, errno);
        dir = dir || s->new_entry;
    }
    if (error == 0 && dir && fs_fsync_dirfd(l->dirfd) < 0)
        error = step_failed(l, "fsync", 0, errno);
    if (error != 0) {
        /* Every record of the batch is reported as failed, so none may
         * come back at a restart: each segment is cut back to what earlier
         * syncs made durable (best effort) and takes no more records. */
        for (size_t i = 0; i < l->nsegs; i++) {
            struct segment *s = &l->segs[i];
            if (s->synced == s->size && !s->new_entry)
                continue;
            if (ftruncate(s->fd, (off_t)s->synced) < 0 || fdatasync(s->fd) < 0)
                log_warn("queue: cannot cut %s/%016llx.seg back after a failed flush", l->dir,
                         (unsigned long long)s->seq);
            s->size = s->synced;
            s->failed = true;
        }
        l->npending = 0;
        errno = error;
        return -1;
    }
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < l->nsegs; i++) {
        l->segs[i].synced = l->segs[i].size;
        l->segs[i].new_entry = false;
    }
    for (size_t i = 0; i < l->npending; i++)
        apply(l, l->pending[i].type, l->pending[i].id, &l->pending[i].content, &l->pending[i].env);
    l->npending = 0;
    pthread_mutex_unlock(&l->lock);
    reclaim(l);
    return 0;
}

/* ---- copying forward ---- */

struct walk_ctx {
    uint64_t seq;
    struct live_msg **v;
    size_t n;
};

static _Thread_local struct walk_ctx *walk_ctx; /* twalk has no argument */

static void
collect(const void *node, VISIT which, int depth)
{
    const struct live_msg *e = *(struct live_msg *const *)node;

    (void)depth;
    if ((which == postorder || which == leaf) && e->content.seq == walk_ctx->seq) {
        // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
        walk_ctx->v = xrealloc(walk_ctx->v, (walk_ctx->n + 1) * sizeof(*walk_ctx->v));
        walk_ctx->v[walk_ctx->n++] = (struct live_msg *)e;
    }
}

int
qlog_compact(struct qlog *l)
{
    struct walk_ctx w = {0};
    char *env = NULL;
    int rc = 0, old_fd;

    if (l->read_only || l->nsegs < 2 || l->segs[0].live == 0 ||
        l->segs[0].live_bytes * 4 >= l->segs[0].size)
        return 0;
    /* not a pointer: appending may move the array */
    old_fd = l->segs[0].fd;
    w.seq = l->segs[0].seq;
    walk_ctx = &w;
    twalk(l->index, collect);
    walk_ctx = NULL;
    for (size_t i = 0; i < w.n && rc == 0; i++) {
        struct live_msg *e = w.v[i];
        struct segment *es = segment_of(l, e->env.seq);
        env = xrealloc(env, e->env.len + 1);
        if (es == NULL || pread_all(es->fd, env, e->env.len, e->env.off) < 0 ||
            append(l, REC_MSG, e->id, env, e->env.len, old_fd, e->content.off, e->content.len) < 0)
            rc = -1;
    }
    free(env);
    free(w.v);
    if (rc == 0)
        rc = qlog_sync(l);
    else
        l->npending = 0; /* the copies made are harmless duplicates */
    return rc;
}

/* ---- reading ---- */

int
qlog_content_fd(struct qlog *l, const char *id)
{
    struct live_msg *e;
    struct segment *s;
    uint64_t off, len, done = 0;
    int src, mfd;
    char *buf;

    pthread_mutex_lock(&l->lock);
    e = find(l, id);
    s = e ? segment_of(l, e->content.seq) : NULL;
    if (s == NULL) {
        pthread_mutex_unlock(&l->lock);
        errno = ENOENT;
        return -1;
    }
    off = e->content.off;
    len = e->content.len;
    /* a descriptor of our own: the segment may be removed meanwhile */
    src = fcntl(s->fd, F_DUPFD_CLOEXEC, 0);
    pthread_mutex_unlock(&l->lock);
    if (src < 0)
        return -1;
    if ((mfd = memfd_create("postern-content", MFD_CLOEXEC)) < 0) {
        close(src);
        return -1;
    }
    buf = xmalloc(CHUNK);
    while (done < len) {
        size_t n = len - done < CHUNK ? (size_t)(len - done) : CHUNK;
        if (pread_all(src, buf, n, off + done) < 0 || fs_write_all(mfd, buf, n) < 0) {
            int e2 = errno;
            free(buf);
            close(src);
            close(mfd);
            errno = e2;
            return -1;
        }
        done += n;
    }
    free(buf);
    close(src);
    if (lseek(mfd, 0, SEEK_SET) < 0) {
        close(mfd);
        return -1;
    }
    return mfd;
}

char *
qlog_content_head(struct qlog *l, const char *id, size_t max, size_t *len)
{
    struct live_msg *e;
    struct segment *s;
    char *buf = NULL;
    size_t n = 0;
    int error = ENOENT;

    /* a short read, done under the lock: no descriptor, no copy file */
    pthread_mutex_lock(&l->lock);
    e = find(l, id);
    if (e != NULL && (s = segment_of(l, e->content.seq)) != NULL) {
        n = e->content.len < max ? (size_t)e->content.len : max;
        buf = xmalloc(n + 1);
        error = pread_all(s->fd, buf, n, e->content.off) < 0 ? errno : 0;
    }
    pthread_mutex_unlock(&l->lock);
    if (error != 0) {
        free(buf);
        errno = error;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

bool
qlog_has(struct qlog *l, const char *id)
{
    bool has;

    pthread_mutex_lock(&l->lock);
    has = id_valid(id) && find(l, id) != NULL;
    pthread_mutex_unlock(&l->lock);
    return has;
}

void
qlog_stats(struct qlog *l, struct qlog_stats *out)
{
    pthread_mutex_lock(&l->lock);
    out->segments = l->nsegs;
    out->messages = l->nentries;
    out->bytes = 0;
    for (size_t i = 0; i < l->nsegs; i++)
        out->bytes += l->segs[i].size;
    pthread_mutex_unlock(&l->lock);
}

/* ---- open and close ---- */

/* What qlog_each reports of one message, read under the lock. */
struct live_copy {
    char id[QLOG_ID_LEN + 1];
    char *env;
    size_t env_len;
    uint64_t content_len;
};

struct live_walk {
    struct qlog *l;
    struct live_copy *v;
    size_t n;
};

static _Thread_local struct live_walk *live_walk;

static void
copy_live(const void *node, VISIT which, int depth)
{
    const struct live_msg *e = *(struct live_msg *const *)node;
    struct segment *s;
    struct live_copy *c;

    (void)depth;
    if (which != postorder && which != leaf)
        return;
    s = segment_of(live_walk->l, e->env.seq);
    c = &live_walk->v[live_walk->n];
    c->env = xmalloc(e->env.len + 1);
    if (s == NULL || pread_all(s->fd, c->env, e->env.len, e->env.off) < 0) {
        free(c->env);
        return;
    }
    memcpy(c->id, e->id, sizeof(c->id));
    c->env_len = e->env.len;
    c->content_len = e->content.len;
    live_walk->n++;
}

size_t
qlog_each(struct qlog *l, qlog_live_fn *fn, void *arg)
{
    struct live_walk w = {l, NULL, 0};

    /* the envelopes are read under the lock (the appending thread may
     * remove a segment), fn runs without it (it may read content) */
    pthread_mutex_lock(&l->lock);
    w.v = xcalloc(l->nentries + 1, sizeof(*w.v));
    live_walk = &w;
    twalk(l->index, copy_live);
    live_walk = NULL;
    pthread_mutex_unlock(&l->lock);
    for (size_t i = 0; i < w.n; i++) {
        fn(arg, w.v[i].id, w.v[i].env, w.v[i].env_len, w.v[i].content_len);
        free(w.v[i].env);
    }
    free(w.v);
    return w.n;
}

struct qlog *
qlog_open(const char *dir, const struct qlog_options *opt, char *err, size_t errlen)
{
    struct qlog *l = xcalloc(1, sizeof(*l));

    pthread_mutex_init(&l->lock, NULL);
    l->dirfd = -1;
    l->dir = xstrdup(dir);
    l->read_only = opt && opt->read_only;
    l->segment_size = opt && opt->segment_size ? opt->segment_size : QLOG_SEGMENT_SIZE;
    if (!l->read_only && fs_mkdir(dir, 0700) < 0) {
        errorf(err, errlen, "%s: %s", dir, strerror(errno));
        goto fail;
    }
    if ((l->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        errorf(err, errlen, "%s: %s", dir, strerror(errno));
        goto fail;
    }
    if (load_segments(l, err, errlen) < 0)
        goto fail;
    if (!l->read_only)
        reclaim(l);
    return l;
fail:
    qlog_close(l);
    return NULL;
}

void
qlog_close(struct qlog *l)
{
    if (l == NULL)
        return;
    tdestroy(l->index, free);
    for (size_t i = 0; i < l->nsegs; i++)
        close(l->segs[i].fd);
    free(l->segs);
    free(l->pending);
    if (l->dirfd >= 0)
        close(l->dirfd);
    pthread_mutex_destroy(&l->lock);
    free(l->dir);
    free(l);
}
