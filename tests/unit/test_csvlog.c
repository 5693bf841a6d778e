/*
 * test_csvlog.c — the daily CSV logs when two processes write them: a
 * local writer and a remote one (its files opened by logs/log_server.c
 * through logs/log_client.c, on a socketpair, the server on its own thread
 * and loop) append to the same day's file at once; the file must have one
 * header and every row whole. The server must refuse what is not one of
 * postern's logs for a near day, and the client must survive a peer that
 * answers late.
 * Must never: wait without a bound, or leave its temporary directories.
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
#include "logs/csvlog.h"
#include "logs/log_client.h"
#include "logs/log_server.h"
#include "logs/protolog.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define ROWS 3000 /* per writer and round */
#define ROUNDS 5  /* fresh directories: each races to make the day's file */
#define TIMEOUT_MS 2000

/* ---- a log server on its own thread ---- */

struct server_thread {
    pthread_t thread;
    struct event_base *base;
    struct log_server *ls;
    int client_fd;
};

static void
server_closed(struct log_server *ls, const char *reason, void *arg)
{
    event_base_loopbreak(arg);
}

static void *
server_main(void *arg)
{
    struct server_thread *st = arg;

    event_base_dispatch(st->base);
    log_server_free(st->ls);
    event_base_free(st->base);
    return NULL;
}

/* Starts a server for logs_dir; st->client_fd is the other end. */
static void
server_start(struct server_thread *st, const char *logs_dir)
{
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    st->base = event_base_new();
    st->ls = log_server_new(st->base, logs_dir, sv[1], server_closed, st->base);
    st->client_fd = sv[0];
    assert_int_equal(pthread_create(&st->thread, NULL, server_main, st), 0);
}

/* The client's end must be closed first (that stops the server). */
static void
server_join(struct server_thread *st)
{
    assert_int_equal(pthread_join(st->thread, NULL), 0);
}

static void
make_tmpdir(char *dir)
{
    strcpy(dir, "/tmp/test_csvlog.XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void
remove_tree(const char *dir)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void
today(char *day, size_t n, char *stamp, size_t sn)
{
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(day, n, "%Y%m%d", &tm);
    strftime(stamp, sn, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

/* ---- two writers, one file ---- */

struct writer {
    struct csvlog *log;
    const char *name;
    pthread_barrier_t *start;
    int failed_rows;
};

/* Row i's data field: lengths vary from a few bytes to more than the
 * whole buffer, so that writes carry many rows and some carry one. */
static size_t
data_len(unsigned i)
{
    return i % 500 == 7 ? 9000 : (i * 37u) % 2500;
}

static void *
writer_main(void *arg)
{
    struct writer *w = arg;
    char *data = xmalloc(9001);

    pthread_barrier_wait(w->start);
    for (unsigned i = 0; i < ROWS; i++) {
        size_t n = data_len(i);
        memset(data, 'a' + (int)(i % 26), n);
        data[n] = '\0';
        if (!csvlog_row_begin(w->log)) {
            w->failed_rows++;
            continue;
        }
        csvlog_field(w->log, w->name);
        csvlog_fieldf(w->log, "%016X", i);
        csvlog_fieldf(w->log, "%u", i);
        csvlog_fieldf(w->log, "%s", "127.0.0.1:25");
        csvlog_fieldf(w->log, "%s", "192.0.2.1:4000");
        csvlog_fieldf(w->log, "%c", '*');
        csvlog_field(w->log, data);
        csvlog_field(w->log, "end");
        csvlog_row_end(w->log);
        if (i % 50 == 49)
            csvlog_flush(w->log);
    }
    free(data);
    return NULL;
}

/* Checks the one file of dir: one header, then ROWS whole rows from each
 * writer, each once. */
static void
check_day_file(const char *logs_dir)
{
    char dir[160], path[512];
    DIR *d;
    struct dirent *de;
    int nfiles = 0;
    size_t len;
    char *text, *line, *save = NULL;
    unsigned char *seen[2];
    unsigned nheader = 0, counts[2] = {0, 0};
    const char *names[2] = {"writer-local", "writer-remote"};

    snprintf(dir, sizeof(dir), "%s/ProtocolLog/SmtpReceive", logs_dir);
    assert_non_null(d = opendir(dir));
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        nfiles++; /* a temporary file left behind counts too */
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        assert_int_equal(strncmp(de->d_name, "RECV", 4), 0);
    }
    closedir(d);
    assert_int_equal(nfiles, 1);
    assert_non_null(text = file_read(path, &len));
    assert_true(len > 0 && text[len - 1] == '\n');
    seen[0] = xcalloc(ROWS, 1);
    seen[1] = xcalloc(ROWS, 1);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[9], *p = line;
        unsigned who, seq;
        size_t nf = 0;

        if (line[0] == '#') {
            static const char *const heads[] = {
                "#Software: postern", "#Version: ", "#Log-type: SMTP Receive Protocol Log",
                "#Date: ", "#Fields: date-time,"};
            assert_true(nheader < 5);
            assert_int_equal(counts[0] + counts[1], 0); /* only at the top */
            assert_int_equal(strncmp(line, heads[nheader], strlen(heads[nheader])), 0);
            nheader++;
            continue;
        }
        while (nf < 9) {
            f[nf++] = p;
            if ((p = strchr(p, ',')) == NULL)
                break;
            *p++ = '\0';
        }
        assert_int_equal(nf, 9);
        assert_null(p); /* no tenth field: nothing glued on */
        assert_int_equal(strlen(f[0]), 24);
        who = strcmp(f[1], names[1]) == 0;
        assert_string_equal(f[1], names[who]);
        seq = (unsigned)strtoul(f[3], NULL, 10);
        assert_true(seq < ROWS);
        assert_int_equal(strtoul(f[2], NULL, 16), seq);
        assert_int_equal(strlen(f[7]), data_len(seq));
        for (size_t i = 0; i < strlen(f[7]); i++)
            assert_int_equal(f[7][i], 'a' + (int)(seq % 26));
        assert_string_equal(f[8], "end");
        assert_int_equal(seen[who][seq], 0);
        seen[who][seq] = 1;
        counts[who]++;
    }
    assert_int_equal(nheader, 5);
    assert_int_equal(counts[0], ROWS);
    assert_int_equal(counts[1], ROWS);
    free(seen[0]);
    free(seen[1]);
    free(text);
}

static void
test_two_writers_one_file(void **state)
{
    for (int round = 0; round < ROUNDS; round++) {
        char dir[64];
        struct server_thread st;
        struct log_client *lc;
        pthread_barrier_t start;
        struct writer w[2];
        pthread_t t[2];
        const struct csvlog_spec *spec = protolog_spec("SmtpReceive");

        make_tmpdir(dir);
        server_start(&st, dir); /* makes the directories */
        lc = log_client_new(st.client_fd, TIMEOUT_MS);
        pthread_barrier_init(&start, NULL, 2);
        w[0] = (struct writer){csvlog_open(dir, spec), "writer-local", &start, 0};
        w[1] = (struct writer){csvlog_open_remote(spec, log_client_open_day, lc), "writer-remote",
                               &start, 0};
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_join(t[i], NULL), 0);
        for (int i = 0; i < 2; i++) {
            assert_int_equal(w[i].failed_rows, 0);
            csvlog_close(w[i].log);
        }
        log_client_free(lc);
        server_join(&st);
        pthread_barrier_destroy(&start);
        check_day_file(dir);
        remove_tree(dir);
    }
}

/* ---- what the server refuses ---- */

static size_t
count_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    size_t n = 0;

    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        char sub[1024];
        if (de->d_name[0] == '.' && (de->d_name[1] == '\0' || strcmp(de->d_name, "..") == 0))
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
        n += 1 + count_tree(sub);
    }
    closedir(d);
    return n;
}

static void
expect_refused(struct log_client *lc, const char *subdir, const char *prefix, const char *day,
               const char *stamp)
{
    struct csvlog_spec spec = *protolog_spec("SmtpReceive");

    spec.subdir = subdir;
    spec.prefix = prefix;
    errno = 0;
    assert_int_equal(log_client_open_day(lc, &spec, day, stamp), -1);
    assert_int_equal(errno, EINVAL);
}

static void
test_bad_requests_are_refused(void **state)
{
    char dir[64], day[16], stamp[40], old_stamp[40], path[256];
    struct server_thread st;
    struct log_client *lc;
    size_t before;
    struct stat sb;
    const struct csvlog_spec *recv = protolog_spec("SmtpReceive");
    int fd;

    make_tmpdir(dir);
    server_start(&st, dir);
    lc = log_client_new(st.client_fd, TIMEOUT_MS);
    today(day, sizeof(day), stamp, sizeof(stamp));
    before = count_tree(dir); /* the log directories, empty */
    assert_true(before >= 4);

    expect_refused(lc, "ProtocolLog/Other", "RECV", day, stamp);
    expect_refused(lc, "../x", "RECV", day, stamp);
    expect_refused(lc, "ProtocolLog/SmtpReceive/../../..", "RECV", day, stamp);
    expect_refused(lc, "ProtocolLog/SmtpReceive", "SEND", day, stamp); /* not that log's */
    expect_refused(lc, "ProtocolLog/SmtpReceive", "../RECV", day, stamp);
    expect_refused(lc, "ProtocolLog/SmtpReceive", "RECV", "2026120", stamp);
    expect_refused(lc, "ProtocolLog/SmtpReceive", "RECV", "2026120a", stamp);
    expect_refused(lc, "ProtocolLog/SmtpReceive", "RECV", "../../20", stamp);
    expect_refused(lc, "ProtocolLog/SmtpReceive", "RECV", "19700101", "1970-01-01T00:00:00.000Z");
    expect_refused(lc, "ProtocolLog/SmtpReceive", "RECV", day, "garbage\n#Fields: x");
    strcpy(old_stamp, "1999-01-01T00:00:00.000Z");
    expect_refused(lc, "ProtocolLog/SmtpReceive", "RECV", day, old_stamp);
    assert_int_equal(count_tree(dir), before); /* nothing was made */

    /* the channel still serves a good request */
    fd = log_client_open_day(lc, recv, day, stamp);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_int_equal(fcntl(fd, F_GETFL) & (O_APPEND | O_ACCMODE), O_APPEND | O_WRONLY);
    close(fd);
    snprintf(path, sizeof(path), "%s/ProtocolLog/SmtpReceive/RECV%s-1.log", dir, day);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_ino, sb.st_ino);
    assert_int_equal(count_tree(dir), before + 1);

    log_client_free(lc);
    server_join(&st);
    remove_tree(dir);
}

/* ---- a peer that answers late ---- */

struct slow_peer {
    int sock;
    char marker[2][200];
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stale_sent;
};

static void
answer(int sock, uint32_t id, const char *path)
{
    struct ipc_wbuf w = {0};
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);

    assert_true(fd >= 0);
    ipc_put_u32(&w, 0);
    assert_int_equal(ipc_write_blocking(sock, MSG_LOG_OPENED, id, fd, w.data, w.len, 5000), 0);
    close(fd);
    ipc_wbuf_free(&w);
}

static void *
slow_peer_main(void *arg)
{
    struct slow_peer *sp = arg;
    struct ipc_msg m;
    unsigned char *buf;
    uint32_t first;

    assert_int_equal(ipc_read_blocking(sp->sock, &m, &buf, 5000), 0);
    first = m.id;
    free(buf);
    /* the client has given up by the time this answer comes */
    assert_int_equal(ipc_read_blocking(sp->sock, &m, &buf, 5000), 0);
    free(buf);
    answer(sp->sock, first, sp->marker[0]);
    answer(sp->sock, m.id, sp->marker[1]);
    return NULL;
}

static int
count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    int n = 0;

    while (d && (de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static void
test_late_answer_is_dropped(void **state)
{
    char dir[64], day[16], stamp[40];
    struct slow_peer sp;
    struct log_client *lc;
    pthread_t t;
    int sv[2], fd, fds_before;
    struct timeval t0, t1;
    struct stat want, got;
    long ms;

    make_tmpdir(dir);
    today(day, sizeof(day), stamp, sizeof(stamp));
    for (int i = 0; i < 2; i++) {
        snprintf(sp.marker[i], sizeof(sp.marker[i]), "%s/marker%d", dir, i);
        close(open(sp.marker[i], O_WRONLY | O_CREAT, 0600));
    }
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    sp.sock = sv[1];
    lc = log_client_new(sv[0], 200);
    assert_int_equal(pthread_create(&t, NULL, slow_peer_main, &sp), 0);
    fds_before = count_fds();

    gettimeofday(&t0, NULL);
    assert_int_equal(log_client_open_day(lc, protolog_spec("SmtpReceive"), day, stamp), -1);
    assert_int_equal(errno, ETIMEDOUT);
    gettimeofday(&t1, NULL);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
    assert_true(ms >= 190 && ms < 1500);

    /* the next call skips the answer to the first and gets its own */
    fd = log_client_open_day(lc, protolog_spec("SmtpReceive"), day, stamp);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &got), 0);
    assert_int_equal(stat(sp.marker[1], &want), 0);
    assert_int_equal(got.st_ino, want.st_ino);
    close(fd);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(count_fds(), fds_before); /* the stale descriptor was closed */

    log_client_free(lc);
    close(sv[1]);
    remove_tree(dir);
}

/* ---- an opener that fails is not asked for every row ---- */

static int opener_calls;

static int
failing_opener(void *arg, const struct csvlog_spec *spec, const char *day, const char *stamp)
{
    opener_calls++;
    errno = EIO;
    return -1;
}

static void
test_failed_open_backs_off(void **state)
{
    struct csvlog *log = csvlog_open_remote(protolog_spec("SmtpSend"), failing_opener, NULL);

    opener_calls = 0;
    for (int i = 0; i < 50; i++)
        assert_false(csvlog_row_begin(log));
    assert_int_equal(opener_calls, 1);
    csvlog_close(log);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_writers_one_file),
        cmocka_unit_test(test_bad_requests_are_refused),
        cmocka_unit_test(test_late_answer_is_dropped),
        cmocka_unit_test(test_failed_open_backs_off),
    };

    evthread_use_pthreads();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
