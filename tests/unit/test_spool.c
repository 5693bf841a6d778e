/*
 * test_spool.c — message files over IPC: receive/spool.c (the smtp
 * process's end) against queue/spool_server.c (the queue process's end) on
 * a socketpair in one process and one libevent loop, with a real queue in
 * a temporary directory. Commits must come out of queue_scan whole, drops
 * must remove files, a channel that dies must fail what waits on it and
 * leave nothing half-committed, and a peer that sends nonsense must get
 * errors, never a crash.
 * Must never: wait without a bound (every loop has a deadline).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/ipc.h"
#include "lib/ipc_buf.h"
#include "lib/proc.h"
#include "lib/util.h"
#include "queue/envelope.h"
#include "queue/queue.h"
#include "queue/spool_server.h"
#include "receive/spool.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define POOL 8        /* receive/spool.c keeps this many files ready */
#define DEADLINE_S 30 /* any one wait; tests finish far sooner or fail */
#define NMANY 100

/* ---- the fixture: a queue, a server and a client on one loop ---- */

struct fix {
    char dir[64], qdir[80];
    struct event_base *base;
    struct event *tick;
    struct queue *q;
    struct spool_server *ss;
    struct spool *sp;
    int server_closed;
};

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

static struct spool_server *new_server(struct fix *f, int fd);

static void
server_closed(struct spool_server *ss, const char *reason, void *arg)
{
    struct fix *f = arg;

    f->server_closed++;
    if (f->ss == ss)
        f->ss = NULL;
    spool_server_free(ss);
}

static struct spool_server *
new_server(struct fix *f, int fd)
{
    return spool_server_new(f->base, f->q, fd, server_closed, f);
}

/* Runs the loop until cond(arg) holds; fails after DEADLINE_S. */
static void
run_until(struct fix *f, bool (*cond)(struct fix *, void *), void *arg)
{
    struct timeval start, now;

    gettimeofday(&start, NULL);
    while (!cond(f, arg)) {
        gettimeofday(&now, NULL);
        if (now.tv_sec - start.tv_sec > DEADLINE_S)
            fail_msg("waited %d s in vain", DEADLINE_S);
        event_base_loop(f->base, EVLOOP_ONCE);
    }
}

static size_t
count_dir(const struct fix *f, const char *sub)
{
    char path[128];
    DIR *d;
    struct dirent *de;
    size_t n = 0;

    snprintf(path, sizeof(path), "%s/%s", f->qdir, sub);
    if ((d = opendir(path)) == NULL)
        return 0;
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Octets held by the files of a queue subdirectory. */
static size_t
bytes_in_dir(const struct fix *f, const char *sub)
{
    char path[256];
    DIR *d;
    struct dirent *de;
    struct stat st;
    size_t n = 0;

    snprintf(path, sizeof(path), "%s/%s", f->qdir, sub);
    if ((d = opendir(path)) == NULL)
        return 0;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.' && fstatat(dirfd(d), de->d_name, &st, 0) == 0)
            n += (size_t)st.st_size;
    closedir(d);
    return n;
}

static bool
exists_in(const struct fix *f, const char *sub, const char *id)
{
    char path[160];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s/%s", f->qdir, sub, id);
    return stat(path, &st) == 0;
}

static void
count_cb(const char *id, const struct envelope *env, struct queue_reader *r, void *arg)
{
    (*(size_t *)arg)++;
}

/* Messages committed to the queue's log, as a cmdlet would read them. */
static size_t
committed_count(const struct fix *f)
{
    size_t n = 0;

    assert_true(queue_scan(f->qdir, count_cb, &n) >= 0);
    return n;
}

static bool committed(const struct fix *f, const char *id);

static bool
pool_full(struct fix *f, void *arg)
{
    return f->sp != NULL && spool_pooled(f->sp) == POOL;
}

static void
attach_pair(struct fix *f)
{
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    f->ss = new_server(f, sv[1]);
    spool_attach(f->sp, sv[0]);
}

static int
setup(void **state)
{
    struct fix *f = xcalloc(1, sizeof(*f));
    struct timeval ms10 = {0, 10000};
    char err[256];

    strcpy(f->dir, "/tmp/test_spool.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->qdir, sizeof(f->qdir), "%s/queue", f->dir);
    f->base = event_base_new();
    /* the loop wakes now and then so that run_until sees its deadline */
    f->tick = event_new(f->base, -1, EV_PERSIST, tick_cb, NULL);
    event_add(f->tick, &ms10);
    f->q = queue_open(f->qdir, f->base, err, sizeof(err));
    assert_non_null(f->q);
    f->sp = spool_new(f->base);
    attach_pair(f);
    run_until(f, pool_full, NULL);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fix *f = *state;
    char cmd[128];

    spool_free(f->sp);
    spool_server_free(f->ss);
    queue_close(f->q);
    event_free(f->tick);
    event_base_free(f->base);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* ---- helpers ---- */

static struct envelope *
make_env(const char *rcpt)
{
    struct envelope *env = envelope_new();

    env->received = 1764358200;
    env->connector = xstrdup("Default mail");
    env->client_ip = xstrdup("192.0.2.7");
    env->client_helo = xstrdup("client.example");
    env->from = xstrdup("bob@example.org");
    envelope_add_rcpt(env, rcpt, 0, NULL);
    return env;
}

struct done {
    bool called;
    int error;
};

static void
done_cb(void *arg, int error)
{
    struct done *d = arg;

    d->called = true;
    d->error = error;
}

static bool
is_done(struct fix *f, void *arg)
{
    return ((struct done *)arg)->called;
}

/* What queue_scan says about one message. */
struct found {
    const char *id;
    bool seen;
    uint64_t size;
    char rcpt[64];
    char *content; /* malloc'd */
    size_t content_len;
};

static void
find_cb(const char *id, const struct envelope *env, struct queue_reader *r, void *arg)
{
    struct found *fd = arg;
    int cfd;

    if (strcmp(id, fd->id) != 0 || env == NULL)
        return;
    fd->seen = true;
    fd->size = env->size;
    snprintf(fd->rcpt, sizeof(fd->rcpt), "%s", env->nrcpts ? env->rcpts[0].address : "");
    if ((cfd = queue_reader_content(r, id)) >= 0) {
        fd->content = fd_read_all(cfd, &fd->content_len);
        close(cfd);
    }
}

static struct found
scan_for(const struct fix *f, const char *id)
{
    struct found fd = {.id = id};

    assert_true(queue_scan(f->qdir, find_cb, &fd) >= 0);
    return fd;
}

static bool
committed(const struct fix *f, const char *id)
{
    struct found fd = scan_for(f, id);

    free(fd.content);
    return fd.seen;
}

/* Content of message n: distinct, and long enough for some to cross the
 * 64 KiB write chunk. */
static char *
content_of(unsigned n, size_t *len)
{
    size_t body = 100 + (size_t)n * 1500;
    char *s = xmalloc(body + 64);
    int h = snprintf(s, 64, "Subject: message %u\r\n\r\n", n);

    for (size_t i = 0; i < body; i++)
        s[h + i] = (char)('a' + (n + i) % 26);
    *len = (size_t)h + body;
    return s;
}

/* ---- tests ---- */

static void
test_commit_is_scanned_whole(void **state)
{
    struct fix *f = *state;
    struct spool_msg *m = spool_msg_begin(f->sp, NULL, NULL);
    struct done d = {0};
    char id[QUEUE_ID_LEN + 1];
    size_t len;
    char *content = content_of(60, &len); /* > 64 KiB: two writes */
    struct found fd;

    assert_non_null(m); /* the pool had one */
    strcpy(id, spool_msg_id(m));
    spool_msg_write(m, content, 1000);
    spool_msg_write(m, content + 1000, len - 1000);
    assert_int_equal(spool_msg_size(m), len);
    assert_int_equal(spool_msg_error(m), 0);
    spool_msg_commit(m, make_env("alice@a.test"), done_cb, &d);
    assert_false(d.called); /* never from inside the call */
    run_until(f, is_done, &d);
    assert_int_equal(d.error, 0);

    fd = scan_for(f, id);
    assert_true(fd.seen);
    assert_int_equal(fd.size, len);
    assert_string_equal(fd.rcpt, "alice@a.test");
    assert_int_equal(fd.content_len, len);
    assert_memory_equal(fd.content, content, len);
    free(fd.content);
    free(content);
    /* the pool stays in spare/ and is made up again; the committed
     * message's file is kept there too, emptied, for a later message */
    run_until(f, pool_full, NULL);
    assert_int_equal(committed_count(f), 1);
    assert_in_range(count_dir(f, "spare"), POOL, POOL + 1);
    assert_int_equal(bytes_in_dir(f, "spare"), 0);
}

static bool
gone(struct fix *f, void *arg)
{
    const char *id = arg;

    return !committed(f, id) && !exists_in(f, "spare", id);
}

static void
test_abort_and_discard_remove_the_file(void **state)
{
    struct fix *f = *state;
    struct spool_msg *m = spool_msg_begin(f->sp, NULL, NULL);
    char id[QUEUE_ID_LEN + 1];
    struct done d = {0};

    assert_non_null(m);
    strcpy(id, spool_msg_id(m));
    spool_msg_write(m, "x\r\n", 3);
    spool_msg_abort(m);
    run_until(f, gone, id);

    /* discard: the callback comes once the file is gone */
    m = spool_msg_begin(f->sp, NULL, NULL);
    assert_non_null(m);
    strcpy(id, spool_msg_id(m));
    run_until(f, pool_full, NULL);
    assert_true(exists_in(f, "spare", id)); /* being written */
    spool_msg_discard(m, done_cb, &d);
    run_until(f, is_done, &d);
    assert_int_equal(d.error, 0);
    assert_false(committed(f, id));
    assert_false(exists_in(f, "spare", id));
    assert_int_equal(committed_count(f), 0);
}

/* ---- many messages, begins and commits interleaved ---- */

struct slot {
    struct fix *f;
    unsigned n;
    struct spool_msg *m;
    char id[QUEUE_ID_LEN + 1];
    bool begun;
    struct done d;
};

static struct slot slots[NMANY];
static unsigned nbegun;

static void
slot_commit(struct slot *s)
{
    char rcpt[32];

    snprintf(rcpt, sizeof(rcpt), "u%u@a.test", s->n);
    spool_msg_commit(s->m, make_env(rcpt), done_cb, &s->d);
    s->m = NULL;
}

static void
slot_begun(struct slot *s, struct spool_msg *m)
{
    size_t len;
    char *content = content_of(s->n % 50, &len);

    s->m = m;
    s->begun = true;
    strcpy(s->id, spool_msg_id(m));
    spool_msg_write(m, content, len);
    free(content);
    nbegun++;
    /* every other message commits at once, while others still wait for
     * their file */
    if (s->n % 2)
        slot_commit(s);
}

static void
slot_begin_cb(void *arg, struct spool_msg *m, int error)
{
    struct slot *s = arg;

    assert_int_equal(error, 0);
    assert_non_null(m);
    slot_begun(s, m);
}

static bool
all_begun(struct fix *f, void *arg)
{
    return nbegun == NMANY;
}

static bool
all_done(struct fix *f, void *arg)
{
    for (unsigned i = 0; i < NMANY; i++)
        if (!slots[i].d.called)
            return false;
    return true;
}

static void
test_hundred_interleaved(void **state)
{
    struct fix *f = *state;
    unsigned immediate = 0;

    memset(slots, 0, sizeof(slots));
    nbegun = 0;
    for (unsigned i = 0; i < NMANY; i++) {
        struct spool_msg *m;
        slots[i].f = f;
        slots[i].n = i;
        if ((m = spool_msg_begin(f->sp, slot_begin_cb, &slots[i])) != NULL) {
            immediate++;
            slot_begun(&slots[i], m);
        }
    }
    assert_int_equal(immediate, POOL);
    run_until(f, all_begun, NULL);
    for (unsigned i = NMANY; i-- > 0;)
        if (slots[i].m != NULL)
            slot_commit(&slots[i]);
    run_until(f, all_done, NULL);
    for (unsigned i = 0; i < NMANY; i++) {
        size_t len;
        char *content = content_of(i % 50, &len);
        struct found fd = scan_for(f, slots[i].id);
        char rcpt[32];

        assert_int_equal(slots[i].d.error, 0);
        assert_true(fd.seen);
        assert_int_equal(fd.size, len);
        snprintf(rcpt, sizeof(rcpt), "u%u@a.test", i);
        assert_string_equal(fd.rcpt, rcpt);
        assert_int_equal(fd.content_len, len);
        assert_memory_equal(fd.content, content, len);
        free(fd.content);
        free(content);
        for (unsigned j = 0; j < i; j++)
            assert_string_not_equal(slots[j].id, slots[i].id);
    }
    assert_int_equal(committed_count(f), NMANY);
    assert_int_equal(queue_count(f->q), NMANY);
}

/* ---- the channel dies ---- */

/* A message either whole in the queue or gone without a trace. */
static void
assert_whole_or_absent(struct fix *f, const char *id, const char *content, size_t len)
{
    struct found fd = scan_for(f, id);

    if (fd.seen) {
        assert_int_equal(fd.size, len);
        assert_int_equal(fd.content_len, len);
        assert_memory_equal(fd.content, content, len);
    }
    free(fd.content);
    assert_false(exists_in(f, "spare", id));
}

struct begin_result {
    bool called;
    struct spool_msg *m;
    int error;
};

static void
begin_cb(void *arg, struct spool_msg *m, int error)
{
    struct begin_result *r = arg;

    r->called = true;
    r->m = m;
    r->error = error;
}

static bool
begin_called(struct fix *f, void *arg)
{
    return ((struct begin_result *)arg)->called;
}

static bool
server_got_commits(struct fix *f, void *arg)
{
    return f->ss == NULL || spool_server_commits(f->ss) > 0;
}

static void
test_server_closes_mid_commit(void **state)
{
    struct fix *f = *state;
    struct spool_msg *m[4];
    char ids[4][QUEUE_ID_LEN + 1];
    struct done d[3] = {{0}};
    size_t len;
    char *content = content_of(3, &len);
    struct spool_msg *late;
    struct done dl = {0};
    struct begin_result r = {0};

    for (int i = 0; i < 4; i++) {
        m[i] = spool_msg_begin(f->sp, NULL, NULL);
        assert_non_null(m[i]);
        strcpy(ids[i], spool_msg_id(m[i]));
        spool_msg_write(m[i], content, len);
    }
    for (int i = 0; i < 3; i++)
        spool_msg_commit(m[i], make_env("alice@a.test"), done_cb, &d[i]);
    /* the queue has at least one of them when its end goes */
    run_until(f, server_got_commits, NULL);
    spool_server_free(f->ss);
    f->ss = NULL;
    for (int i = 0; i < 3; i++)
        run_until(f, is_done, &d[i]);
    for (int i = 0; i < 3; i++)
        assert_int_equal(d[i].error, ENOTCONN); /* temporary: 451 */
    /* the message still being written fails too, and its commit */
    assert_int_equal(spool_msg_error(m[3]), ENOTCONN);
    spool_msg_commit(m[3], make_env("alice@a.test"), done_cb, &dl);
    assert_false(dl.called);
    run_until(f, is_done, &dl);
    assert_int_equal(dl.error, ENOTCONN);

    /* the commits the queue had finish; nothing is left half-way */
    queue_close(f->q);
    f->q = NULL;
    for (int i = 0; i < 4; i++)
        assert_whole_or_absent(f, ids[i], content, len);
    assert_false(committed(f, ids[3]));
    assert_int_equal(count_dir(f, "spare"), 0);

    /* a new channel: begins wait for its files, then work as before */
    {
        char err[256];
        f->q = queue_open(f->qdir, f->base, err, sizeof(err));
        assert_non_null(f->q);
    }
    attach_pair(f);
    /* nothing pooled on the new channel yet: the session waits */
    assert_null(spool_msg_begin(f->sp, begin_cb, &r));
    run_until(f, begin_called, &r);
    assert_int_equal(r.error, 0);
    late = r.m;
    assert_non_null(late);
    strcpy(ids[0], spool_msg_id(late));
    spool_msg_write(late, content, len);
    memset(&dl, 0, sizeof(dl));
    spool_msg_commit(late, make_env("alice@a.test"), done_cb, &dl);
    run_until(f, is_done, &dl);
    assert_int_equal(dl.error, 0);
    assert_true(committed(f, ids[0]));
    free(content);
}

static void
test_server_closes_before_commit_arrives(void **state)
{
    struct fix *f = *state;
    struct spool_msg *m = spool_msg_begin(f->sp, NULL, NULL);
    char id[QUEUE_ID_LEN + 1];
    struct done d = {0};

    assert_non_null(m);
    strcpy(id, spool_msg_id(m));
    spool_msg_write(m, "x\r\n", 3);
    spool_msg_commit(m, make_env("alice@a.test"), done_cb, &d);
    spool_server_free(f->ss); /* the COMMIT is still in the client's buffer */
    f->ss = NULL;
    run_until(f, is_done, &d);
    assert_int_equal(d.error, ENOTCONN);
    assert_false(committed(f, id));
    assert_false(committed(f, id));
    assert_int_equal(count_dir(f, "spare"), 0);
}

static bool
msg_failed(struct fix *f, void *arg)
{
    return spool_msg_error(arg) != 0;
}

static void
test_no_channel_fails_begin_later(void **state)
{
    struct fix *f = *state;
    struct spool_msg *held = spool_msg_begin(f->sp, NULL, NULL);
    struct begin_result r = {0};

    assert_non_null(held);
    spool_server_free(f->ss);
    f->ss = NULL;
    run_until(f, msg_failed, held); /* the client has seen the channel go */
    assert_int_equal(spool_msg_error(held), ENOTCONN);
    spool_msg_abort(held);
    assert_true(spool_has_space(f->sp, 1u << 20));     /* no file at hand: cannot tell */
    assert_null(spool_msg_begin(f->sp, begin_cb, &r)); /* the pool went with it */
    assert_false(r.called);
    run_until(f, begin_called, &r);
    assert_null(r.m);
    assert_int_equal(r.error, ENOTCONN);
}

static bool
client_gone_seen(struct fix *f, void *arg)
{
    return f->server_closed > 0 && queue_count(f->q) == 2;
}

static void
test_client_closes(void **state)
{
    struct fix *f = *state;
    struct spool_msg *a = spool_msg_begin(f->sp, NULL, NULL), *b, *c;
    char ida[QUEUE_ID_LEN + 1], idb[QUEUE_ID_LEN + 1], idc[QUEUE_ID_LEN + 1];
    struct done da = {0}, dc = {0};

    assert_non_null(a);
    strcpy(ida, spool_msg_id(a));
    spool_msg_write(a, "a\r\n", 3);
    spool_msg_commit(a, make_env("alice@a.test"), done_cb, &da);
    run_until(f, is_done, &da);
    assert_int_equal(da.error, 0);

    b = spool_msg_begin(f->sp, NULL, NULL);
    c = spool_msg_begin(f->sp, NULL, NULL);
    assert_non_null(b);
    assert_non_null(c);
    strcpy(idb, spool_msg_id(b));
    strcpy(idc, spool_msg_id(c));
    spool_msg_write(b, "b\r\n", 3);
    spool_msg_write(c, "c\r\n", 3);
    spool_msg_commit(c, make_env("alice@a.test"), done_cb, &dc);
    run_until(f, server_got_commits, NULL);
    /* the smtp process goes away while c's commit is in the queue's hands */
    spool_free(f->sp);
    f->sp = NULL;
    assert_true(dc.called); /* failed by spool_free, at once */
    assert_int_equal(dc.error, ENOTCONN);
    spool_msg_abort(b); /* held across spool_free: only dropped */
    run_until(f, client_gone_seen, NULL);
    assert_true(committed(f, ida));
    assert_true(committed(f, idc)); /* durable, its client may not know */
    assert_false(committed(f, idb));
    assert_int_equal(committed_count(f), 2);
    /* nothing held is left: at most the committed ones' files, emptied */
    assert_true(count_dir(f, "spare") <= 2);
    assert_int_equal(bytes_in_dir(f, "spare"), 0);
}

/* ---- a peer that sends nonsense ---- */

struct raw {
    struct ipc_chan *ch;
    int sock;
    bool got, closed;
    uint32_t type, id, err;
    int fd;
    char str[64];
};

static void
raw_handler(struct ipc_chan *ch, const struct ipc_msg *m, void *arg)
{
    struct raw *r = arg;
    struct ipc_rbuf rb;

    r->got = true;
    r->type = m->type;
    r->id = m->id;
    r->fd = m->fd;
    r->err = 0;
    r->str[0] = '\0';
    ipc_rbuf_init(&rb, m->data, m->len);
    if (m->type == MSG_SPOOL_BEGUN && m->fd >= 0)
        snprintf(r->str, sizeof(r->str), "%s", ipc_get_str(&rb));
    else if (m->len > 0)
        r->err = ipc_get_u32(&rb);
}

static void
raw_closed(struct ipc_chan *ch, const char *reason, void *arg)
{
    ((struct raw *)arg)->closed = true;
}

static bool
raw_got(struct fix *f, void *arg)
{
    struct raw *r = arg;

    return r->got || r->closed;
}

static void
raw_send(struct fix *f, struct raw *r, uint32_t type, uint32_t id, const void *data, size_t len)
{
    r->got = false;
    r->fd = -1;
    assert_int_equal(ipc_send(r->ch, type, id, -1, data, len), 0);
    run_until(f, raw_got, r);
    assert_false(r->closed);
    assert_true(r->got);
    assert_int_equal(r->id, id);
}

/* A file of the raw channel: its ID in id, its descriptor in *fd. */
static void
raw_begin(struct fix *f, struct raw *r, char *id, int *fd)
{
    raw_send(f, r, MSG_SPOOL_BEGIN, 7, NULL, 0);
    assert_int_equal(r->type, MSG_SPOOL_BEGUN);
    assert_true(r->fd >= 0);
    assert_int_equal(strlen(r->str), QUEUE_ID_LEN);
    strcpy(id, r->str);
    *fd = r->fd;
}

static void
raw_commit(struct fix *f, struct raw *r, const char *id, uint32_t werr, uint64_t size,
           const char *envtext)
{
    struct ipc_wbuf w = {0};

    ipc_put_str(&w, id);
    ipc_put_u32(&w, werr);
    ipc_put_u64(&w, size);
    ipc_put_bytes(&w, envtext, strlen(envtext));
    raw_send(f, r, MSG_SPOOL_COMMIT, 9, w.data, w.len);
    ipc_wbuf_free(&w);
    assert_int_equal(r->type, MSG_SPOOL_COMMITTED);
}

static char *
env_text(void)
{
    struct envelope *env = make_env("alice@a.test");
    size_t len;
    char *text;

    memcpy(env->id, "0000000000000001", QUEUE_ID_LEN + 1); /* the queue sets its own */
    /* a peer's claims about delivery state are not kept */
    env->attempts = 7;
    env->suspended = true;
    env->rcpts[0].status = RCPT_DELIVERED;
    text = envelope_serialize(env, &len);
    envelope_free(env);
    return text;
}

static unsigned scanned_attempts;
static bool scanned_suspended;
static int scanned_status;

static void
state_cb(const char *id, const struct envelope *env, struct queue_reader *r, void *arg)
{
    if (strcmp(id, arg) != 0 || env == NULL)
        return;
    scanned_attempts = env->attempts;
    scanned_suspended = env->suspended;
    scanned_status = env->rcpts[0].status;
}

static bool
raw_dead(struct fix *f, void *arg)
{
    struct raw *r = arg;

    return r->closed && f->server_closed > 0;
}

static void
test_malformed_requests(void **state)
{
    struct fix *f = *state;
    struct raw r = {.fd = -1};
    int sv[2], fd;
    char a[QUEUE_ID_LEN + 1], c[QUEUE_ID_LEN + 1], d[QUEUE_ID_LEN + 1], e[QUEUE_ID_LEN + 1];
    char *text = env_text();
    struct spool_msg *other;
    struct done dd = {0};

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    (void)new_server(f, sv[1]);
    r.sock = sv[0];
    r.ch = ipc_chan_new(f->base, sv[0], raw_handler, raw_closed, &r);

    /* BEGIN takes no payload */
    raw_send(f, &r, MSG_SPOOL_BEGIN, 3, "x", 1);
    assert_int_equal(r.type, MSG_SPOOL_BEGUN);
    assert_true(r.fd < 0);
    assert_int_equal(r.err, EINVAL);

    raw_begin(f, &r, a, &fd);
    close(fd);
    /* garbage */
    raw_send(f, &r, MSG_SPOOL_COMMIT, 9, "garbage", 7);
    assert_int_equal(r.type, MSG_SPOOL_COMMITTED);
    assert_int_equal(r.err, EINVAL);
    assert_true(exists_in(f, "spare", a)); /* untouched */
    /* an ID nobody was given */
    raw_commit(f, &r, "0000000000000000", 0, 0, text);
    assert_int_equal(r.err, ENOENT);
    raw_commit(f, &r, "../../etc/passwd", 0, 0, text);
    assert_int_equal(r.err, ENOENT);
    /* another channel's ID: refused here, still good there */
    other = spool_msg_begin(f->sp, NULL, NULL);
    assert_non_null(other);
    raw_commit(f, &r, spool_msg_id(other), 0, 0, text);
    assert_int_equal(r.err, ENOENT);
    spool_msg_write(other, "o\r\n", 3);
    spool_msg_commit(other, make_env("alice@a.test"), done_cb, &dd);
    run_until(f, is_done, &dd);
    assert_int_equal(dd.error, 0);
    /* a malformed envelope: refused, and the file goes */
    raw_commit(f, &r, a, 0, 0, "version: 1\nnonsense\n");
    assert_int_equal(r.err, EINVAL);
    assert_false(exists_in(f, "spare", a));
    assert_false(committed(f, a));
    raw_commit(f, &r, a, 0, 0, text); /* gone now */
    assert_int_equal(r.err, ENOENT);

    /* a size that is not the file's */
    raw_begin(f, &r, c, &fd);
    assert_int_equal(write(fd, "12345", 5), 5);
    close(fd);
    raw_commit(f, &r, c, 0, 4, text);
    assert_int_equal(r.err, EIO);
    assert_false(exists_in(f, "spare", c) || committed(f, c));

    /* the writer's own error is honoured */
    raw_begin(f, &r, e, &fd);
    close(fd);
    raw_commit(f, &r, e, ENOSPC, 0, text);
    assert_int_equal(r.err, ENOSPC);
    assert_false(exists_in(f, "spare", e) || committed(f, e));

    /* unknown types and stray descriptors are ignored: the channel goes on */
    assert_int_equal(ipc_send(r.ch, 999, 1, -1, "??", 2), 0);
    assert_int_equal(ipc_send(r.ch, 999, 0, open("/dev/null", O_RDONLY), "", 1), 0);

    /* a good commit, then the same again */
    raw_begin(f, &r, d, &fd);
    assert_int_equal(write(fd, "hi\r\n", 4), 4);
    close(fd);
    raw_commit(f, &r, d, 0, 4, text);
    assert_int_equal(r.err, 0);
    {
        struct found got = scan_for(f, d);
        assert_true(got.seen);
        assert_int_equal(got.size, 4);
        free(got.content);
    }
    assert_true(queue_scan(f->qdir, state_cb, d) >= 0);
    assert_int_equal(scanned_attempts, 0);
    assert_false(scanned_suspended);
    assert_int_equal(scanned_status, RCPT_READY);
    raw_commit(f, &r, d, 0, 4, text);
    assert_int_equal(r.err, ENOENT);
    assert_true(committed(f, d));

    /* a frame no sane peer sends: the channel ends, its files go */
    raw_begin(f, &r, c, &fd);
    close(fd);
    {
        uint32_t hdr[4] = {MSG_SPOOL_COMMIT, 1, IPC_MAX_PAYLOAD + 1, 0};
        assert_int_equal(write(r.sock, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
    }
    run_until(f, raw_dead, &r);
    assert_false(exists_in(f, "spare", c));
    ipc_chan_free(r.ch);
    free(text);
    /* the well-behaved client was not disturbed */
    assert_int_equal(committed_count(f), 2);
}

static void
test_has_space(void **state)
{
    struct fix *f = *state;

    assert_true(spool_has_space(f->sp, 0));
    assert_true(spool_has_space(f->sp, 1000));
    assert_false(spool_has_space(f->sp, UINT64_C(1) << 60));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commit_is_scanned_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_and_discard_remove_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hundred_interleaved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_closes_mid_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_closes_before_commit_arrives, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_channel_fails_begin_later, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_has_space, setup, teardown),
    };

    evthread_use_pthreads();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
