/*
 * fuzz_spool_server.c — libFuzzer target for the queue process's end of
 * the spool channel (queue/spool_server.c): what a compromised smtp
 * process can send it (MSG_SPOOL_* of lib/proc.h; the honest peer is
 * receive/spool.c).
 *
 * Once: a queue (queue_open) in a temporary directory (under /dev/shm when
 * there is one: fsync is cheap there) and an event base. Per input: two
 * channels, each a socketpair with spool_server_new on one end and an
 * ipc channel (lib/ipc.h) played by the harness on the other, then the
 * input read as actions, one octet A each (bit 0: which channel, bits 1-3:
 * the action, bits 4-7: its argument) and the octets that action takes:
 *   0 BEGIN   req id octet; with arg bit 0, (arg >> 1) + 1 octets of payload
 *   1 JUNK    a message ID (below) under a type the server does not know;
 *             arg bit 3 adds a stray octet
 *   2 COMMIT  a message ID; an octet choosing the envelope (bits 0-1: a
 *             good one, one claiming delivery state, one without
 *             recipients, octets of the input), the size (bits 2-3: the
 *             file's, one more, 0, 8 octets of the input), the write errno
 *             (bits 4-5: 0, 0, ENOSPC, 4 octets) and a stray octet (bit 6);
 *             then the req id octet
 *   3 ABORT   a message ID; an octet for the write errno; the req id octet
 *             (0: no answer wanted)
 *   4 WRITE   an octet choosing a handed-out file, a length octet: that many
 *             octets of the input appended to the file
 *   5 RAW     type octet (mostly the MSG_SPOOL_* types), req id octet,
 *             length octet, payload; arg bit 0 sends a descriptor along
 *             (arg bit 1: a memfd, else a file of the harness)
 *   6 SYNC    run the loop until every request is answered
 *   7 CLOSE   close the channel (arg bit 0: the server's end, else the
 *             peer's) and open a new one in its place
 * A message ID is, by arg bits 0-2: an ID the server handed out in this
 * input (on either channel, in any state; an index octet), one with a
 * digit changed, 16 hex digits from the input, a path-like string from a
 * table, a raw string, or the last one handed out on this channel.
 * Req id octets: 0 is 0, 0xff is 0xffffffff; a COMMIT's id is made unique.
 * The loop only runs at SYNC, CLOSE and the end: everything in between is
 * pipelined. At the end, both channels are synced, closed, and the queue's
 * last commits waited for. Seeds: make_spool_server_seeds.py.
 *
 * Besides memory errors, leaks, UB and hangs it checks the promises of
 * spool_server.h against a model of each channel kept by the harness:
 * every BEGIN, COMMIT and ABORT (with an id) is answered once, with its own
 * request id and type, and nothing else is; a BEGUN's descriptor is the
 * file spare/<ID> under a fresh ID, and a BEGIN with a payload gets none;
 * a COMMIT succeeds exactly when its ID was handed out on this channel and
 * neither committed nor aborted there, the writer reported no error, the
 * envelope parses with recipients and the size is the file's; a committed
 * message is in the queue's log before its answer, at most once, with its
 * delivery state reset, and its file is gone or kept empty for a later
 * message (so a BEGUN's file is empty but may carry an older ID's name); an
 * ABORTED file is gone, as is a refused one; a message being written stays
 * in spare/; the server holds exactly the messages handed out and not
 * finished; when a channel closes, what it had not committed is removed; at
 * the end, spare/ holds only empty files and the log holds only messages
 * each committed by its own channel; no file outside the queue that a
 * path-like ID names is touched; no descriptor leaks. (Whether a file is
 * still in spare/ is read from the harness's own descriptor of it: its link
 * count.)
 * Must never: touch anything outside its temporary directory (which it
 * removes at exit; a crash leaves it behind), or wait without a bound.
 */
#include "fuzz_common.h"
#include "lib/ipc.h"
#include "lib/ipc_buf.h"
#include "lib/proc.h"
#include "queue/envelope.h"
#include "queue/queue.h"
#include "queue/spool_server.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <sanitizer/common_interface_defs.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NCHANS 2
#define MAX_IDS 200  /* handed-out files per input (each holds a descriptor here) */
#define MAX_REQS 512 /* requests per channel */
#define MAX_CLOSES 6 /* CLOSE actions per input */
#define WAIT_MS 5000 /* any one wait; the tick below wakes the loop to see it */
#define VICTIM "victim\n"

/* A broken property: said through the sanitizer's report too, because the
 * options file closes stderr (the server logs every refusal). */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            check_failed(__LINE__, #cond);                                                         \
    } while (0)

static void
check_failed(int line, const char *what)
{
    char msg[512];

    snprintf(msg, sizeof(msg), "fuzz_spool_server.c:%d: property failed: %s", line, what);
    __sanitizer_report_error_summary(msg);
    fuzz_fail(__FILE__, line, what);
}

/* A message ID the server handed out during this input. */
struct tracked {
    char id[QUEUE_ID_LEN + 1];
    int chan;
    unsigned gen;         /* the channel's generation when handed out */
    int fd;               /* the harness's copy of the file, or -1 */
    bool live;            /* no COMMIT or ABORT for it sent on its channel yet */
    bool commit_sent;     /* a COMMIT was sent while live: it may be committed */
    int commit_req;       /* that COMMIT's request (index on its channel) */
    uint64_t commit_size; /* the size it claimed */
    bool hooked;          /* the queue reported it committed */
    bool committed_ok;    /* its COMMITTED said 0 */
    bool late_write;      /* written after its COMMIT was sent */
};

struct request {
    uint32_t type; /* MSG_SPOOL_BEGIN, _COMMIT or _ABORT */
    uint32_t id;
    uint64_t seq;
    int tid;        /* COMMIT, ABORT: the live ID it named, or -1 */
    bool empty;     /* BEGIN: without payload */
    bool predict;   /* COMMIT: the outcome is known (no WRITE to the file since) */
    bool expect_ok; /* ... and it is success */
    bool answered;
};

struct chan {
    struct ipc_chan *client;
    struct spool_server *ss;
    unsigned gen;
    bool client_closed, server_closed, closing;
    uint64_t seq;       /* messages sent on this generation */
    uint64_t processed; /* the server has read every message up to this one */
    struct request reqs[MAX_REQS];
    size_t nreqs;
    uint32_t unique; /* for COMMIT ids */
};

static struct event_base *base;
static struct event *tick;
/* A message type the spool server does not know: ignored, the channel goes on. */
#define MSG_JUNK 0x7fff

static struct queue *q;
static char dir[64], qdir[96];
static char *good_env, *state_env, *empty_env;
static size_t good_len, state_len, empty_len;

static struct tracked tracked[MAX_IDS];
static size_t ntracked;
static struct chan chans[NCHANS];
static bool detached; /* a channel closed with a COMMIT unanswered */

/* ---- files ---- */

/* Does the file of t still have its name in spare/ (its only directory)? */
static bool
linked(const struct tracked *t)
{
    struct stat st;

    return fstat(t->fd, &st) == 0 && st.st_nlink > 0;
}

/* Are the harness's descriptors of a and b one file? */
static bool
same_file(const struct tracked *a, const struct tracked *b)
{
    struct stat x, y;

    return fstat(a->fd, &x) == 0 && fstat(b->fd, &y) == 0 && x.st_ino == y.st_ino &&
           x.st_dev == y.st_dev;
}

/* Files of earlier inputs written to after their COMMIT, still kept in
 * spare/ at the end of their input (the queue drops such a file when it
 * would reuse it). */
static ino_t late_kept[128]; /* (the queue keeps at most 64) */
static size_t nlate_kept;

/* Is this the file of a message the harness wrote to after its COMMIT (kept
 * for reuse meanwhile, it may be another message's now)? */
static bool
late_written(ino_t ino)
{
    for (size_t i = 0; i < nlate_kept; i++)
        if (late_kept[i] == ino)
            return true;
    for (size_t i = 0; i < ntracked; i++) {
        struct stat st;
        if (tracked[i].late_write && fstat(tracked[i].fd, &st) == 0 && st.st_ino == ino)
            return true;
    }
    return false;
}

/* Is there a file in spare/ with this inode? */
static bool
spare_holds_inode(ino_t ino)
{
    char path[160];
    DIR *d;
    struct dirent *de;
    bool found = false;

    snprintf(path, sizeof(path), "%s/spare", qdir);
    if ((d = opendir(path)) == NULL)
        return false;
    while (!found && (de = readdir(d)) != NULL)
        found = de->d_ino == ino;
    closedir(d);
    return found;
}

/* Is id a message of the queue's log (committed)? */
static bool
committed(const char *id)
{
    int fd = queue_content_fd(q, id);

    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
}

static bool
file_is(const char *path, const char *text)
{
    char buf[64];
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL)
        return false;
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    return n == strlen(text) && memcmp(buf, text, n) == 0;
}

/* Files in spare/. */
static size_t
spare_files(void)
{
    char path[160];
    DIR *d;
    struct dirent *de;
    size_t n = 0;

    snprintf(path, sizeof(path), "%s/spare", qdir);
    if ((d = opendir(path)) == NULL)
        return 0;
    while ((de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

static size_t
count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    size_t n = 0;

    if (d == NULL)
        abort();
    while ((de = readdir(d)) != NULL) {
        char link[64], target[512];
        ssize_t len;
        snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
        len = readlink(link, target, sizeof(target) - 1);
        target[len > 0 ? len : 0] = '\0';
        /* the queue's log keeps its segments open from one input to the
         * next, as the service does: not a leak */
        n += strstr(target, "/queue/log/") == NULL;
    }
    closedir(d);
    return n;
}

static void
remove_tree(void)
{
    static const char *subs[] = {"queue/log", "queue/spare", "queue", ""};
    char path[256];

    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        DIR *d;
        struct dirent *de;
        snprintf(path, sizeof(path), "%s/%s", dir, subs[i]);
        if ((d = opendir(path)) == NULL)
            continue;
        while ((de = readdir(d)) != NULL) {
            char p[512];
            if (de->d_type == DT_DIR)
                continue;
            snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
            unlink(p);
        }
        closedir(d);
        rmdir(path);
    }
}

static void
at_exit(void)
{
    queue_close(q);
    q = NULL;
    remove_tree();
}

/* ---- the loop ---- */

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

static long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the loop until cond(arg) holds; false after WAIT_MS. */
static bool
run_until(bool (*cond)(void *), void *arg)
{
    long deadline = now_ms() + WAIT_MS;

    while (!cond(arg)) {
        if (now_ms() > deadline)
            return false;
        event_base_loop(base, EVLOOP_ONCE);
    }
    return true;
}

/* ---- the queue's commit hook ---- */

static struct tracked *
find_tracked(const char *id)
{
    for (size_t i = 0; i < ntracked; i++)
        if (strcmp(tracked[i].id, id) == 0)
            return &tracked[i];
    return NULL;
}

static void
committed_hook(void *arg, struct envelope *env)
{
    struct tracked *t = find_tracked(env->id);

    /* only a message handed out here and asked to commit while its own */
    CHECK(t != NULL && t->commit_sent);
    CHECK(!t->hooked); /* never twice */
    t->hooked = true;
    CHECK(env->size == t->commit_size);
    /* a new message's delivery state, whatever the text claimed */
    CHECK(env->attempts == 0 && env->next_attempt == 0);
    CHECK(!env->delay_notified && !env->suspended);
    CHECK(env->nrcpts > 0);
    for (size_t i = 0; i < env->nrcpts; i++)
        CHECK(env->rcpts[i].status == RCPT_READY && env->rcpts[i].last_error == NULL);
    envelope_free(env);
}

/* ---- the harness's end of a channel ---- */

static struct request *
find_request(struct chan *c, uint32_t type, uint32_t id)
{
    for (size_t i = 0; i < c->nreqs; i++)
        if (!c->reqs[i].answered && c->reqs[i].type == type && c->reqs[i].id == id)
            return &c->reqs[i];
    return NULL;
}

static bool
is_queue_id(const char *s)
{
    if (strlen(s) != QUEUE_ID_LEN)
        return false;
    for (size_t i = 0; i < QUEUE_ID_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
            return false;
    return true;
}

static void
on_begun(struct chan *c, const struct ipc_msg *m)
{
    struct request *r = find_request(c, MSG_SPOOL_BEGIN, m->id);
    struct ipc_rbuf rb;

    CHECK(r != NULL);
    r->answered = true;
    c->processed = r->seq > c->processed ? r->seq : c->processed;
    ipc_rbuf_init(&rb, m->data, m->len);
    if (m->fd >= 0) {
        const char *id = ipc_get_str(&rb);
        char path[256];
        struct stat a, b;
        struct tracked *t;

        CHECK(r->empty); /* BEGIN takes no payload */
        CHECK(ipc_rbuf_done(&rb) && is_queue_id(id));
        CHECK(find_tracked(id) == NULL); /* a fresh ID */
        /* the descriptor is an empty file in spare/, named spare/<ID> when
         * made for it (a kept one has an older ID's name), unless the
         * server's end closed after sending this: then it is gone already */
        CHECK(fstat(m->fd, &a) == 0 && S_ISREG(a.st_mode));
        CHECK(a.st_size == 0 || late_written(a.st_ino));
        snprintf(path, sizeof(path), "%s/spare/%s", qdir, id);
        if (c->ss != NULL) {
            CHECK(a.st_nlink == 1 && spare_holds_inode(a.st_ino));
            CHECK(stat(path, &b) != 0 || (a.st_ino == b.st_ino && a.st_dev == b.st_dev));
        } else {
            CHECK(a.st_nlink == 0);
        }
        CHECK(ntracked < MAX_IDS); /* the harness sends no more BEGINs than that */
        t = &tracked[ntracked++];
        memset(t, 0, sizeof(*t));
        memcpy(t->id, id, sizeof(t->id));
        t->chan = (int)(c - chans);
        t->gen = c->gen;
        t->fd = m->fd;
        t->live = true;
        t->commit_req = -1;
    } else {
        uint32_t e = ipc_get_u32(&rb);
        const char *reason = ipc_get_str(&rb);
        CHECK(ipc_rbuf_done(&rb) && e != 0 && reason[0] != '\0');
        CHECK(!r->empty && !m->fd_lost); /* a good BEGIN gets a file */
    }
}

static void
on_committed(struct chan *c, const struct ipc_msg *m)
{
    struct request *r = find_request(c, MSG_SPOOL_COMMIT, m->id);
    struct ipc_rbuf rb;
    uint32_t e;

    CHECK(r != NULL);
    CHECK(m->fd < 0);
    r->answered = true;
    c->processed = r->seq > c->processed ? r->seq : c->processed;
    ipc_rbuf_init(&rb, m->data, m->len);
    e = ipc_get_u32(&rb);
    CHECK(ipc_rbuf_done(&rb));
    if (r->predict)
        CHECK((e == 0) == r->expect_ok);
    if (e == 0) {
        struct tracked *t;
        CHECK(r->tid >= 0);
        t = &tracked[r->tid];
        CHECK(t->commit_req == (int)(r - c->reqs) && t->chan == (int)(c - chans) &&
              t->gen == c->gen);
        /* durable before the answer: on disk, and the queue said so */
        CHECK(t->hooked);
        CHECK(committed(t->id));
        {
            /* its content has left spare/: the file is gone or kept empty
             * (unless the harness wrote to it since) */
            struct stat st;
            CHECK(fstat(t->fd, &st) == 0 && (st.st_nlink == 0 || st.st_size == 0 || t->late_write));
        }
        t->committed_ok = true;
    } else if (r->tid >= 0) {
        /* a refused or failed commit removes the file */
        const char *id = tracked[r->tid].id;
        CHECK(!linked(&tracked[r->tid]) && !committed(id));
        CHECK(!tracked[r->tid].hooked);
    }
}

static void
on_aborted(struct chan *c, const struct ipc_msg *m)
{
    struct request *r = find_request(c, MSG_SPOOL_ABORT, m->id);

    CHECK(m->id != 0 && r != NULL);
    CHECK(m->len == 0 && m->fd < 0);
    r->answered = true;
    c->processed = r->seq > c->processed ? r->seq : c->processed;
    if (r->tid >= 0) { /* the file of that ABORT is gone */
        const char *id = tracked[r->tid].id;
        CHECK(!linked(&tracked[r->tid]) && !committed(id));
    }
}

static void
client_msg(struct ipc_chan *ch, const struct ipc_msg *m, void *arg)
{
    struct chan *c = arg;

    switch (m->type) {
    case MSG_SPOOL_BEGUN:
        on_begun(c, m);
        break;
    case MSG_SPOOL_COMMITTED:
        on_committed(c, m);
        break;
    case MSG_SPOOL_ABORTED:
        on_aborted(c, m);
        break;
    default:
        CHECK(!"an answer of another type");
    }
    if (m->fd >= 0 && m->type != MSG_SPOOL_BEGUN)
        close(m->fd);
}

static void
client_closed(struct ipc_chan *ch, const char *reason, void *arg)
{
    struct chan *c = arg;

    /* the server never ends a channel whose frames are well formed */
    CHECK(c->closing);
    c->client_closed = true;
    ipc_chan_free(c->client);
    c->client = NULL;
}

static void
server_closed(struct spool_server *ss, const char *reason, void *arg)
{
    struct chan *c = arg;

    CHECK(c->closing && c->ss == ss);
    CHECK(spool_server_messages(ss) == 0 && spool_server_commits(ss) == 0);
    c->server_closed = true;
    spool_server_free(ss);
    c->ss = NULL;
}

static void
chan_open(struct chan *c)
{
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    c->ss = spool_server_new(base, q, sv[1], server_closed, c);
    c->client = ipc_chan_new(base, sv[0], client_msg, client_closed, c);
    c->gen++;
    c->client_closed = c->server_closed = c->closing = false;
    c->seq = c->processed = 0;
    c->nreqs = 0;
}

static bool
all_answered(void *arg)
{
    struct chan *c = arg;

    if (c->client == NULL)
        return true;
    for (size_t i = 0; i < c->nreqs; i++)
        if (!c->reqs[i].answered)
            return false;
    return true;
}

static bool
live_on(const struct tracked *t, const struct chan *c)
{
    return t->live && t->chan == (int)(c - chans) && t->gen == c->gen;
}

/* Every request answered; then what the server holds is what the model
 * says. */
static void
sync_chan(struct chan *c)
{
    size_t live = 0;

    if (c->client == NULL)
        return;
    CHECK(run_until(all_answered, c)); /* else a request was never answered */
    for (size_t i = 0; i < ntracked; i++) {
        struct tracked *t = &tracked[i];
        if (!live_on(t, c))
            continue;
        live++;
        CHECK(linked(t) && !committed(t->id));
    }
    CHECK(spool_server_commits(c->ss) == 0);
    /* messages sent after the last answered request may be unread yet */
    if (c->seq == c->processed)
        CHECK(spool_server_messages(c->ss) == live);
}

static bool
chan_gone(void *arg)
{
    struct chan *c = arg;

    return c->client == NULL && c->ss == NULL;
}

/* Closes c from one end and waits for the other to notice; then nothing
 * it had begun and not committed is left. */
static void
chan_close(struct chan *c, bool server_side)
{
    c->closing = true;
    for (size_t i = 0; i < c->nreqs; i++)
        if (c->reqs[i].type == MSG_SPOOL_COMMIT && !c->reqs[i].answered)
            detached = true;
    if (server_side) {
        spool_server_free(c->ss);
        c->ss = NULL;
    } else {
        ipc_chan_free(c->client);
        c->client = NULL;
    }
    CHECK(run_until(chan_gone, c));
    for (size_t i = 0; i < ntracked; i++) {
        struct tracked *t = &tracked[i];
        if (t->chan != (int)(c - chans) || t->gen != c->gen || t->commit_sent)
            continue;
        CHECK(!linked(t) && !committed(t->id));
    }
}

/* Files that BEGINs sent and not answered yet may bring. */
static size_t
begins_pending(void)
{
    size_t n = 0;

    for (int i = 0; i < NCHANS; i++)
        for (size_t j = 0; j < chans[i].nreqs; j++)
            n += chans[i].reqs[j].type == MSG_SPOOL_BEGIN && chans[i].reqs[j].empty &&
                 !chans[i].reqs[j].answered;
    return n;
}

/* Sends one message on c and notes what it asks for. */
static void
chan_send(struct chan *c, uint32_t type, uint32_t id, int fd, const void *data, size_t len)
{
    struct ipc_rbuf rb;
    struct request *r = NULL;
    const char *sid;

    if (c->client == NULL ||
        ((type == MSG_SPOOL_BEGIN || type == MSG_SPOOL_COMMIT ||
          (type == MSG_SPOOL_ABORT && id != 0)) &&
         c->nreqs == MAX_REQS) ||
        /* a descriptor here for each file handed out */
        (type == MSG_SPOOL_BEGIN && len == 0 && ntracked + begins_pending() >= MAX_IDS)) {
        if (fd >= 0)
            close(fd);
        return;
    }
    CHECK(ipc_send(c->client, type, id, fd, data, len) == 0);
    c->seq++;
    if (type == MSG_SPOOL_BEGIN || type == MSG_SPOOL_COMMIT ||
        (type == MSG_SPOOL_ABORT && id != 0)) {
        r = &c->reqs[c->nreqs++];
        memset(r, 0, sizeof(*r));
        r->type = type;
        r->id = id;
        r->seq = c->seq;
        r->tid = -1;
        r->empty = len == 0;
        r->predict = true;
    }
    /* what the request says, read as the server must read it */
    ipc_rbuf_init(&rb, data, len);
    sid = ipc_get_str(&rb);
    if (type == MSG_SPOOL_ABORT) {
        struct tracked *t = find_tracked(sid);
        (void)ipc_get_u32(&rb);
        if (ipc_rbuf_done(&rb) && t != NULL && live_on(t, c)) {
            t->live = false;
            if (r != NULL)
                r->tid = (int)(t - tracked);
        }
    } else if (type == MSG_SPOOL_COMMIT) {
        struct tracked *t = find_tracked(sid);
        uint32_t werr = ipc_get_u32(&rb);
        uint64_t size = ipc_get_u64(&rb);
        size_t textlen;
        const char *text = ipc_get_bytes(&rb, &textlen);
        if (ipc_rbuf_done(&rb) && t != NULL && live_on(t, c)) {
            char err[128];
            struct envelope *env = envelope_parse(text, textlen, err, sizeof(err));
            struct stat st;
            CHECK(fstat(t->fd, &st) == 0);
            t->live = false;
            t->commit_sent = true;
            t->commit_req = (int)(r - c->reqs);
            t->commit_size = size;
            r->tid = (int)(t - tracked);
            r->expect_ok =
                werr == 0 && env != NULL && env->nrcpts > 0 && (uint64_t)st.st_size == size;
            envelope_free(env);
        }
    }
}

/* ---- reading the input ---- */

struct rd {
    const uint8_t *p;
    size_t n;
};

static uint8_t
get8(struct rd *rd)
{
    if (rd->n == 0)
        return 0;
    rd->n--;
    return *rd->p++;
}

static size_t
take(struct rd *rd, size_t want, const uint8_t **p)
{
    size_t n = want < rd->n ? want : rd->n;

    *p = rd->p;
    rd->p += n;
    rd->n -= n;
    return n;
}

static uint32_t
req_id(uint8_t b)
{
    return b == 0 ? 0 : b == 0xff ? 0xffffffffu : b;
}

/* A COMMIT's id: one no unanswered COMMIT of c has (their answers may come
 * in any order). */
static uint32_t
commit_id(struct chan *c, uint8_t b)
{
    uint32_t id = req_id(b);

    if (find_request(c, MSG_SPOOL_COMMIT, id) != NULL)
        id = (++c->unique << 8) | b;
    while (find_request(c, MSG_SPOOL_COMMIT, id) != NULL)
        id = (++c->unique << 8) | b;
    return id;
}

static void
pick_id(struct rd *rd, struct chan *c, unsigned how, char *out, size_t outlen)
{
    static const char *paths[] = {
        "../victim", "../../victim",     "../spare/../../victim", "/etc/passwd",
        "",          "0000000000000000", "0123456789ABCDEF.tmp",  ".",
        "..",        "env/../../victim",
    };
    static const char hex[] = "0123456789ABCDEF";
    ssize_t last = -1;

    for (size_t i = 0; i < ntracked; i++)
        if (tracked[i].chan == (int)(c - chans))
            last = (ssize_t)i;
    switch (how & 7) {
    case 0:
    case 1:
    case 2:
        if (ntracked > 0) {
            snprintf(out, outlen, "%s", tracked[get8(rd) % ntracked].id);
            return;
        }
        break;
    case 3:
        if (ntracked > 0) {
            size_t i = get8(rd) % ntracked;
            snprintf(out, outlen, "%s", tracked[i].id);
            size_t pos = get8(rd) % QUEUE_ID_LEN;
            out[pos] = hex[get8(rd) % 16];
            return;
        }
        break;
    case 5:
        snprintf(out, outlen, "%s", paths[get8(rd) % (sizeof(paths) / sizeof(paths[0]))]);
        return;
    case 6: {
        const uint8_t *p;
        size_t n = take(rd, get8(rd) % 40, &p);
        n = n < outlen - 1 ? n : outlen - 1;
        memcpy(out, p, n);
        out[n] = '\0';
        return;
    }
    case 7:
        if (last >= 0) {
            snprintf(out, outlen, "%s", tracked[last].id);
            return;
        }
        break;
    default:
        break;
    }
    for (size_t i = 0; i < QUEUE_ID_LEN; i += 2) { /* 16 hex digits from the input */
        uint8_t b = get8(rd);
        out[i] = hex[b >> 4];
        out[i + 1] = hex[b & 15];
    }
    out[QUEUE_ID_LEN] = '\0';
}

static uint32_t
werr_of(struct rd *rd, unsigned how)
{
    switch (how & 3) {
    case 2:
        return ENOSPC;
    case 3: {
        uint32_t v = get8(rd);
        v |= (uint32_t)get8(rd) << 8;
        v |= (uint32_t)get8(rd) << 16;
        return v | (uint32_t)get8(rd) << 24;
    }
    default:
        return 0;
    }
}

static void
act_commit(struct rd *rd, struct chan *c, unsigned arg)
{
    char id[64];
    uint8_t b;
    const char *text = good_env;
    size_t textlen = good_len;
    uint64_t size = 0;
    uint32_t werr;
    struct ipc_wbuf w = {0};
    struct tracked *t;
    struct stat st;
    const uint8_t *p;

    pick_id(rd, c, arg, id, sizeof(id));
    b = get8(rd);
    switch (b & 3) {
    case 1:
        text = state_env;
        textlen = state_len;
        break;
    case 2:
        text = empty_env;
        textlen = empty_len;
        break;
    case 3:
        textlen = take(rd, get8(rd), &p);
        text = (const char *)p;
        break;
    default:
        break;
    }
    if ((t = find_tracked(id)) != NULL && fstat(t->fd, &st) == 0)
        size = (uint64_t)st.st_size;
    switch ((b >> 2) & 3) {
    case 1:
        size++;
        break;
    case 2:
        size = 0;
        break;
    case 3:
        for (int i = 0; i < 8; i++)
            size = size << 8 | get8(rd);
        break;
    default:
        break;
    }
    werr = werr_of(rd, b >> 4);
    ipc_put_str(&w, id);
    ipc_put_u32(&w, werr);
    ipc_put_u64(&w, size);
    ipc_put_bytes(&w, text, textlen);
    if (b & 0x40)
        ipc_put_u32(&w, 0); /* more than the request holds */
    chan_send(c, MSG_SPOOL_COMMIT, commit_id(c, get8(rd)), -1, w.data, w.len);
    ipc_wbuf_free(&w);
}

static void
act_write(struct rd *rd)
{
    struct tracked *t;
    const uint8_t *p;
    size_t n;

    if (ntracked == 0) {
        (void)get8(rd);
        (void)get8(rd);
        return;
    }
    t = &tracked[get8(rd) % ntracked];
    n = take(rd, get8(rd), &p);
    if (n > 0)
        CHECK(write(t->fd, p, n) == (ssize_t)n);
    /* A COMMIT not read yet will see another size than it was sent with:
     * its own, and that of any later message given the same file (a file
     * is kept for reuse after its commit). */
    for (size_t k = 0; k < ntracked; k++) {
        if (!same_file(&tracked[k], t))
            continue;
        tracked[k].late_write = tracked[k].late_write || tracked[k].commit_sent;
        for (int i = 0; i < NCHANS; i++)
            for (size_t j = 0; j < chans[i].nreqs; j++)
                if (chans[i].reqs[j].tid == (int)k && !chans[i].reqs[j].answered)
                    chans[i].reqs[j].predict = false;
    }
}

static void
act_raw(struct rd *rd, struct chan *c, unsigned arg)
{
    static const uint32_t others[] = {0,   MSG_CONFIG,  MSG_OUT_OPEN,    MSG_KEY_SIGN,
                                      999, 0xffffffffu, MSG_SPOOL_BEGUN, MSG_SPOOL_COMMITTED};
    uint8_t tb = get8(rd), ib = get8(rd);
    uint32_t type = tb < 0xf0 ? MSG_SPOOL_BEGIN + tb % 7 : others[tb % 8];
    uint32_t id = type == MSG_SPOOL_COMMIT ? commit_id(c, ib) : req_id(ib);
    const uint8_t *p;
    size_t n = take(rd, get8(rd), &p);
    int fd = -1;

    if (arg & 1) {
        char path[128];
        snprintf(path, sizeof(path), "%s/harness-file", dir);
        fd = arg & 2 ? memfd_create("fuzz-spool", MFD_CLOEXEC) : open(path, O_RDONLY | O_CLOEXEC);
        CHECK(fd >= 0);
    }
    chan_send(c, type, id, fd, p, n);
}

static void
setup_once(void)
{
    struct envelope *env;
    char err[256];
    const char *shm = "/dev/shm";
    struct stat st;

    if (base != NULL)
        return;
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads(); /* the queue's committer wakes the loop */
    snprintf(dir, sizeof(dir), "%s/postern-fuzz-spool.XXXXXX",
             stat(shm, &st) == 0 && S_ISDIR(st.st_mode) ? shm : "/tmp");
    if (mkdtemp(dir) == NULL)
        abort();
    snprintf(qdir, sizeof(qdir), "%s/queue", dir);
    base = event_base_new();
    tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
    if (base == NULL || tick == NULL || event_add(tick, &(struct timeval){0, 20000}) != 0)
        abort();
    if ((q = queue_open(qdir, base, err, sizeof(err))) == NULL) {
        fprintf(stderr, "queue_open: %s\n", err);
        abort();
    }
    queue_set_commit_hook(q, committed_hook, NULL);
    atexit(at_exit);
    {
        char path[160];
        snprintf(path, sizeof(path), "%s/victim", dir);
        write_file(path, VICTIM);
        snprintf(path, sizeof(path), "%s/victim", qdir);
        write_file(path, VICTIM);
        snprintf(path, sizeof(path), "%s/harness-file", dir);
        write_file(path, "a file of the harness\n");
    }

    env = envelope_new();
    memcpy(env->id, "0000000000000001", QUEUE_ID_LEN + 1); /* the queue sets its own */
    env->received = 1764358200;
    env->connector = strdup("Default mail");
    env->client_ip = strdup("192.0.2.7");
    env->client_helo = strdup("client.example");
    env->from = strdup("bob@example.org");
    empty_env = envelope_serialize(env, &empty_len);
    envelope_add_rcpt(env, "alice@a.test", 0, NULL);
    good_env = envelope_serialize(env, &good_len);
    env->attempts = 7;
    env->next_attempt = 1764358300;
    env->suspended = true;
    env->delay_notified = true;
    env->rcpts[0].status = RCPT_DELIVERED;
    env->rcpts[0].last_error = strdup("smtp; 451 4.3.0 try later");
    state_env = envelope_serialize(env, &state_len);
    envelope_free(env);
}

static bool
barrier_done(void *arg)
{
    return *(bool *)arg;
}

static void
barrier_cb(void *arg, int error)
{
    *(bool *)arg = true;
}

/* One committed message of the log, at the end: it must be one a channel
 * legitimately committed. */
static void
check_committed(const char *id, const struct envelope *env, struct queue_reader *r, void *arg)
{
    struct tracked *t = find_tracked(id);

    (void)env;
    (void)r;
    CHECK(t != NULL && t->commit_sent && t->hooked);
    *(size_t *)arg += 1;
}

static bool
all_removed(void *arg)
{
    return *(size_t *)arg == 0;
}

static void
removed_cb(void *arg, int error)
{
    CHECK(error == 0);
    *(size_t *)arg -= 1;
}

/* After everything: spare/ holds no content (only files kept empty for later
 * messages), the log holds exactly the messages the channels committed; then
 * they are removed for the next input. */
static void
check_and_clean_queue(void)
{
    char path[160];
    DIR *d;
    struct dirent *de;
    size_t n = 0, hooked = 0, nlate = 0;
    ino_t late[sizeof(late_kept) / sizeof(late_kept[0])];

    snprintf(path, sizeof(path), "%s/spare", qdir);
    d = opendir(path);
    CHECK(d != NULL);
    while ((de = readdir(d)) != NULL) { /* no reserved file outlives its channel */
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        CHECK(fstatat(dirfd(d), de->d_name, &st, 0) == 0);
        /* kept for a later message: empty, unless written after its commit */
        CHECK(st.st_size == 0 || late_written(st.st_ino));
        if (st.st_size != 0) {
            CHECK(nlate < sizeof(late) / sizeof(late[0]));
            late[nlate++] = st.st_ino;
        }
    }
    closedir(d);
    memcpy(late_kept, late, nlate * sizeof(late[0]));
    nlate_kept = nlate;
    (void)queue_load(q, check_committed, &n);
    for (size_t i = 0; i < ntracked; i++) {
        struct tracked *t = &tracked[i];
        CHECK(!t->committed_ok || t->hooked);
        if (t->hooked) {
            CHECK(committed(t->id));
            hooked++;
        }
    }
    CHECK(n == hooked);
    for (size_t i = 0; i < ntracked; i++)
        if (tracked[i].hooked)
            queue_remove(q, tracked[i].id, removed_cb, &n);
    CHECK(run_until(all_removed, &n));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rd rd = {data, size};
    size_t fds_before;
    unsigned closes = 0;
    bool barrier = false;
    char path[160];

    setup_once();
    fds_before = count_fds() - spare_files();
    ntracked = 0;
    detached = false;
    for (int i = 0; i < NCHANS; i++)
        chan_open(&chans[i]);

    while (rd.n > 0) {
        uint8_t a = get8(&rd);
        struct chan *c = &chans[a & 1];
        unsigned arg = a >> 4;

        switch ((a >> 1) & 7) {
        case 0: {
            const uint8_t *p = NULL;
            uint8_t ib = get8(&rd);
            size_t n = arg & 1 ? take(&rd, (arg >> 1) + 1, &p) : 0;
            chan_send(c, MSG_SPOOL_BEGIN, req_id(ib), -1, p, n);
            break;
        }
        case 1: {
            char id[64];
            struct ipc_wbuf w = {0};
            pick_id(&rd, c, arg, id, sizeof(id));
            ipc_put_str(&w, id);
            if (arg & 8)
                ipc_put_u32(&w, 1);
            chan_send(c, MSG_JUNK, 0, -1, w.data, w.len);
            ipc_wbuf_free(&w);
            break;
        }
        case 2:
            act_commit(&rd, c, arg);
            break;
        case 3: {
            char id[64];
            struct ipc_wbuf w = {0};
            pick_id(&rd, c, arg, id, sizeof(id));
            ipc_put_str(&w, id);
            ipc_put_u32(&w, werr_of(&rd, get8(&rd)));
            chan_send(c, MSG_SPOOL_ABORT, req_id(get8(&rd)), -1, w.data, w.len);
            ipc_wbuf_free(&w);
            break;
        }
        case 4:
            act_write(&rd);
            break;
        case 5:
            act_raw(&rd, c, arg);
            break;
        case 6:
            sync_chan(c);
            break;
        default:
            if (closes++ < MAX_CLOSES) { /* answers and commits may be in flight */
                chan_close(c, arg & 1);
                chan_open(c);
            }
            break;
        }
    }

    /* the end: every answer, then both channels close, from either end */
    for (int i = 0; i < NCHANS; i++) {
        sync_chan(&chans[i]);
        chan_close(&chans[i], (size + (size_t)i) % 2 == 0);
    }
    /* commits a closed channel left to the queue: done when this is (a
     * removal of an ID that never exists, queued after them) */
    if (detached) {
        queue_remove(q, "0000000000000000", barrier_cb, &barrier);
        CHECK(run_until(barrier_done, &barrier));
    }
    check_and_clean_queue();
    snprintf(path, sizeof(path), "%s/victim", dir);
    CHECK(file_is(path, VICTIM));
    snprintf(path, sizeof(path), "%s/victim", qdir);
    CHECK(file_is(path, VICTIM));
    for (size_t i = 0; i < ntracked; i++)
        close(tracked[i].fd);
    /* no descriptor leaks (the queue keeps one open for each file it
     * keeps in spare/ for later messages; no other file is there now) */
    CHECK(count_fds() - spare_files() == fds_before);
    return 0;
}
