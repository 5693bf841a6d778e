/*
 * test_qlog.c — the queue's log: what is synced survives a reopen and
 * what is not is invisible; envelope updates and removals replay; a torn
 * or corrupted tail is cut at the last whole record; damage in an older
 * segment keeps what came before; segments go once nothing in them lives
 * and only in order; a long-lived message is copied forward; a read-only
 * open changes nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/util.h"
#include "queue/qlog.h"
#include "testlib.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define ID1 "0006A1B2C3D4E501"
#define ID2 "0006A1B2C3D4E502"
#define ID3 "0006A1B2C3D4E503"

/* What replay reported: "ID=env(content length)" lines. */
struct seen {
    char text[4096];
    size_t n;
};

static void
on_live(void *arg, const char *id, const char *env, size_t env_len, uint64_t content_len)
{
    struct seen *s = arg;
    size_t used = strlen(s->text);

    snprintf(s->text + used, sizeof(s->text) - used, "%s=%.*s(%llu)\n", id, (int)env_len, env,
             (unsigned long long)content_len);
    s->n++;
}

/* DIR/content holding data, open for reading. */
static int
content_bytes(const char *dir, const void *data, size_t len)
{
    char *path = xasprintf("%s/content", dir);
    int fd;

    testlib_write_file(path, data, len);
    fd = open(path, O_RDONLY);
    free(path);
    assert_true(fd >= 0);
    return fd;
}

static int
content_file(const char *dir, const char *text)
{
    return content_bytes(dir, text, strlen(text));
}

static struct qlog *
reopen(const char *dir, struct seen *seen, uint64_t segment_size)
{
    struct qlog_options opt = {.segment_size = segment_size};
    char err[256];
    struct qlog *l;

    memset(seen, 0, sizeof(*seen));
    l = qlog_open(dir, &opt, err, sizeof(err));
    if (l == NULL)
        fail_msg("qlog_open: %s", err);
    {
        size_t n = qlog_each(l, on_live, seen);
        assert_int_equal(n, seen->n);
    }
    return l;
}

static char *
content_of(struct qlog *l, const char *id)
{
    int fd = qlog_content_fd(l, id);
    char buf[4096];
    ssize_t n;

    if (fd < 0)
        return NULL;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    assert_true(n >= 0);
    buf[n] = '\0';
    return xstrdup(buf);
}

static char *
seg_path(const char *logdir, unsigned seq)
{
    return xasprintf("%s/%016x.seg", logdir, seq);
}

/* Damage on the disk: the octet at off of segment seq (counted from its end
 * when off is negative) gets the bits of mask flipped. Returns the
 * segment's length. */
static size_t
damage(const char *logdir, unsigned seq, long off, unsigned char mask)
{
    char *seg = seg_path(logdir, seq), *data;
    size_t len;

    data = testlib_read_file(seg, &len);
    assert_non_null(data);
    data[off < 0 ? (long)len + off : off] ^= (char)mask;
    testlib_write_file(seg, data, len);
    free(data);
    free(seg);
    return len;
}

static void
test_synced_survives_unsynced_does_not(void **state)
{
    char *dir = testlib_mkdtemp("qlog"), *logdir = xasprintf("%s/log", dir), *c;
    struct seen seen;
    struct qlog *l = reopen(logdir, &seen, 0);
    int fd = content_file(dir, "Subject: one\r\n\r\nbody\r\n");

    assert_int_equal(seen.n, 0);
    assert_int_equal(qlog_append_msg(l, ID1, "env-1", 5, fd, 22), 0);
    /* appended, not synced: not visible */
    assert_false(qlog_has(l, ID1));
    assert_int_equal(qlog_sync(l), 0);
    assert_true(qlog_has(l, ID1));
    c = content_of(l, ID1);
    assert_string_equal(c, "Subject: one\r\n\r\nbody\r\n");
    free(c);
    /* a second message appended but never synced: a crash loses it */
    assert_int_equal(qlog_append_msg(l, ID2, "env-2", 5, fd, 22), 0);
    qlog_close(l);
    l = reopen(logdir, &seen, 0);
    /* (the unsynced record is in the page cache, so a reopen in the same
     * boot does see it: what matters is that nothing acknowledged is
     * missing, which the crash tests check against the disk) */
    assert_true(strstr(seen.text, ID1 "=env-1(22)\n") != NULL);
    qlog_close(l);
    close(fd);
    testlib_rmtree(dir);
    free(logdir);
    free(dir);
}

static void
test_updates_and_removals_replay(void **state)
{
    char *dir = testlib_mkdtemp("qlog"), *logdir = xasprintf("%s/log", dir);
    struct seen seen;
    struct qlog *l = reopen(logdir, &seen, 0);
    int fd = content_file(dir, "abc");

    assert_int_equal(qlog_append_msg(l, ID1, "v1", 2, fd, 3), 0);
    assert_int_equal(qlog_append_msg(l, ID2, "w1", 2, fd, 3), 0);
    assert_int_equal(qlog_append_msg(l, ID3, "x1", 2, fd, 3), 0);
    assert_int_equal(qlog_sync(l), 0);
    assert_int_equal(qlog_append_env(l, ID1, "v2", 2), 0);
    assert_int_equal(qlog_append_del(l, ID2), 0);
    assert_int_equal(qlog_sync(l), 0);
    assert_false(qlog_has(l, ID2));
    qlog_close(l);
    l = reopen(logdir, &seen, 0);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.text, ID1 "=v2(3)\n" ID3 "=x1(3)\n");
    qlog_close(l);
    close(fd);
    testlib_rmtree(dir);
    free(logdir);
    free(dir);
}

static void
test_torn_tail_is_cut(void **state)
{
    char *dir = testlib_mkdtemp("qlog"), *logdir = xasprintf("%s/log", dir), *seg;
    struct seen seen;
    struct qlog *l = reopen(logdir, &seen, 0);
    int fd = content_file(dir, "0123456789");
    struct stat before, after;
    char *data;
    size_t len;

    assert_int_equal(qlog_append_msg(l, ID1, "e1", 2, fd, 10), 0);
    assert_int_equal(qlog_sync(l), 0);
    qlog_close(l);
    seg = seg_path(logdir, 1);
    assert_int_equal(stat(seg, &before), 0);
    /* half a record after the good one, as a crash during a write leaves */
    data = testlib_read_file(seg, &len);
    {
        int sfd = open(seg, O_WRONLY | O_APPEND);
        assert_true(sfd >= 0);
        assert_int_equal(write(sfd, data, 30), 30);
        close(sfd);
    }
    l = reopen(logdir, &seen, 0);
    assert_int_equal(seen.n, 1);
    assert_int_equal(stat(seg, &after), 0);
    assert_int_equal(after.st_size, before.st_size); /* cut back */
    qlog_close(l);
    /* a whole record whose content changed: the checksum catches it */
    l = reopen(logdir, &seen, 0);
    assert_int_equal(qlog_append_msg(l, ID2, "e2", 2, fd, 10), 0);
    assert_int_equal(qlog_sync(l), 0);
    qlog_close(l);
    damage(logdir, 1, -3, 0x20);
    l = reopen(logdir, &seen, 0);
    assert_string_equal(seen.text, ID1 "=e1(10)\n");
    assert_int_equal(stat(seg, &after), 0);
    assert_int_equal(after.st_size, before.st_size);
    /* and appending goes on after the cut */
    assert_int_equal(qlog_append_msg(l, ID3, "e3", 2, fd, 10), 0);
    assert_int_equal(qlog_sync(l), 0);
    qlog_close(l);
    l = reopen(logdir, &seen, 0);
    assert_string_equal(seen.text, ID1 "=e1(10)\n" ID3 "=e3(10)\n");
    qlog_close(l);
    free(data);
    free(seg);
    close(fd);
    testlib_rmtree(dir);
    free(logdir);
    free(dir);
}

static void
test_segments_rotate_and_go_in_order(void **state)
{
    char *dir = testlib_mkdtemp("qlog"), *logdir = xasprintf("%s/log", dir), *s1, *s2;
    struct seen seen;
    /* segments of 200 bytes: each message (40 + 2 + 100) fills one */
    struct qlog *l = reopen(logdir, &seen, 200);
    char body[101];
    int fd;
    struct qlog_stats st;

    memset(body, 'x', 100);
    body[100] = '\0';
    fd = content_file(dir, body);
    assert_int_equal(qlog_append_msg(l, ID1, "e1", 2, fd, 100), 0);
    assert_int_equal(qlog_append_msg(l, ID2, "e2", 2, fd, 100), 0);
    assert_int_equal(qlog_sync(l), 0);
    qlog_stats(l, &st);
    assert_int_equal(st.segments, 2);
    s1 = seg_path(logdir, 1);
    s2 = seg_path(logdir, 2);
    /* ID2 goes first, but its segment is newer than ID1's: both stay, and
     * the removal record (in segment 3) must outlive segment 1 */
    assert_int_equal(qlog_append_del(l, ID2), 0);
    assert_int_equal(qlog_sync(l), 0);
    assert_true(testlib_exists(s1) && testlib_exists(s2));
    assert_int_equal(qlog_append_del(l, ID1), 0);
    assert_int_equal(qlog_sync(l), 0);
    assert_false(testlib_exists(s1));
    assert_false(testlib_exists(s2));
    qlog_close(l);
    l = reopen(logdir, &seen, 200);
    assert_int_equal(seen.n, 0);
    qlog_close(l);
    free(s1);
    free(s2);
    close(fd);
    testlib_rmtree(dir);
    free(logdir);
    free(dir);
}

static void
test_a_long_lived_message_is_copied_forward(void **state)
{
    char *dir = testlib_mkdtemp("qlog"), *logdir = xasprintf("%s/log", dir), *s1, *c;
    struct seen seen;
    /* segments of 1 KiB: the three messages and their changes fill the
     * first, the others three or four to a segment after it */
    struct qlog *l = reopen(logdir, &seen, 1024);
    char body[201];
    int fd;
    const char *ids[] = {ID1, ID2, ID3};

    memset(body, 'y', 200);
    body[200] = '\0';
    fd = content_file(dir, body);
    /* segment 1: three messages; two go, one stays for its retries */
    for (int i = 0; i < 3; i++)
        assert_int_equal(qlog_append_msg(l, ids[i], "e", 1, fd, 200), 0);
    assert_int_equal(qlog_sync(l), 0);
    assert_int_equal(qlog_append_env(l, ID2, "e-retry", 7), 0);
    assert_int_equal(qlog_append_del(l, ID1), 0);
    assert_int_equal(qlog_append_del(l, ID3), 0);
    assert_int_equal(qlog_sync(l), 0);
    /* still a third live: not worth copying yet */
    assert_int_equal(qlog_compact(l), 0);
    s1 = seg_path(logdir, 1);
    assert_true(testlib_exists(s1));
    /* a newer segment fills with other traffic, so segment 1 is mostly dead */
    for (int i = 0; i < 12; i++) {
        char id[17];
        snprintf(id, sizeof(id), "0007000000000%03d", i);
        assert_int_equal(qlog_append_msg(l, id, "o", 1, fd, 200), 0);
        assert_int_equal(qlog_sync(l), 0);
    }
    {
        /* make segment 1's live share small: ID2 alone in a long segment */
        struct qlog_stats st;
        qlog_stats(l, &st);
        assert_true(st.segments >= 2);
    }
    assert_int_equal(qlog_compact(l), 0);
    assert_false(testlib_exists(s1));
    c = content_of(l, ID2);
    assert_string_equal(c, body);
    free(c);
    qlog_close(l);
    l = reopen(logdir, &seen, 1024);
    /* the copy carries the latest envelope */
    assert_non_null(strstr(seen.text, ID2 "=e-retry(200)\n"));
    assert_int_equal(seen.n, 13);
    qlog_close(l);
    free(s1);
    close(fd);
    testlib_rmtree(dir);
    free(logdir);
    free(dir);
}

static void
test_damage_is_skipped_and_read_only_changes_nothing(void **state)
{
    char *dir = testlib_mkdtemp("qlog"), *logdir = xasprintf("%s/log", dir), *s1;
    struct seen seen;
    struct qlog *l = reopen(logdir, &seen, 0);
    struct qlog_options ro = {.read_only = true};
    char body[101], err[256];
    int fd;
    struct stat before, after;
    const char *ids[] = {ID1, ID2, ID3};

    memset(body, 'z', 100);
    body[100] = '\0';
    fd = content_file(dir, body);
    for (int i = 0; i < 3; i++)
        assert_int_equal(qlog_append_msg(l, ids[i], "e", 1, fd, 100), 0);
    assert_int_equal(qlog_sync(l), 0);
    qlog_close(l);
    /* one byte of the middle record's content changes on the disk */
    s1 = seg_path(logdir, 1);
    assert_int_equal(damage(logdir, 1, 141 + 100, 1), 3 * 141);
    assert_int_equal(stat(s1, &before), 0);
    /* read-only: reports what is whole, changes nothing */
    memset(&seen, 0, sizeof(seen));
    l = qlog_open(logdir, &ro, err, sizeof(err));
    assert_non_null(l);
    qlog_each(l, on_live, &seen);
    assert_string_equal(seen.text, ID1 "=e(100)\n" ID3 "=e(100)\n");
    assert_int_equal(qlog_append_del(l, ID1), -1);
    qlog_close(l);
    assert_int_equal(stat(s1, &after), 0);
    assert_int_equal(after.st_size, before.st_size);
    /* writable: the damaged record is skipped, the one after it kept, the
     * file not cut; appending goes on after the last record */
    l = reopen(logdir, &seen, 0);
    assert_string_equal(seen.text, ID1 "=e(100)\n" ID3 "=e(100)\n");
    assert_int_equal(stat(s1, &after), 0);
    assert_int_equal(after.st_size, before.st_size);
    assert_int_equal(qlog_append_del(l, ID1), 0);
    assert_int_equal(qlog_sync(l), 0);
    qlog_close(l);
    l = reopen(logdir, &seen, 0);
    assert_string_equal(seen.text, ID3 "=e(100)\n");
    qlog_close(l);
    free(s1);
    close(fd);
    testlib_rmtree(dir);
    free(logdir);
    free(dir);
}

/* A sender chooses a message's content: it may hold bytes shaped like a
 * record, checksum and all (here: a removal of another message). When the
 * disk damages that message's record elsewhere, replay must go on after
 * the record as its header says, not read the forged one. */
static void
test_a_record_forged_in_content_is_never_read(void **state)
{
    char *dir = testlib_mkdtemp("qlog"), *logdir = xasprintf("%s/log", dir);
    struct seen seen;
    struct qlog *l = reopen(logdir, &seen, 0);
    unsigned char forged[40] = {0}, content[200];
    uint32_t crc;
    int fd;

    /* "PQLG", crc, type 3 (removal), lengths 0, the ID of the victim */
    forged[0] = 'P', forged[1] = 'Q', forged[2] = 'L', forged[3] = 'G';
    forged[8] = 3;
    memcpy(forged + 24, ID1, 16);
    crc = (uint32_t)crc32(0L, forged + 8, 32);
    for (int i = 0; i < 4; i++)
        forged[4 + i] = (unsigned char)(crc >> (8 * i));
    memset(content, 'a', sizeof(content));
    memcpy(content + 100, forged, sizeof(forged));
    fd = content_bytes(dir, content, sizeof(content));
    assert_int_equal(qlog_append_msg(l, ID1, "victim", 6, fd, 50), 0);
    assert_int_equal(qlog_append_msg(l, ID2, "attacker", 8, fd, sizeof(content)), 0);
    assert_int_equal(qlog_append_msg(l, ID3, "after", 5, fd, 50), 0);
    assert_int_equal(qlog_sync(l), 0);
    qlog_close(l);
    /* one bit of the attacker's record changes, before the forged bytes */
    damage(logdir, 1, 40 + 6 + 50 + 40 + 8 + 10, 1);
    l = reopen(logdir, &seen, 0);
    assert_string_equal(seen.text, ID1 "=victim(50)\n" ID3 "=after(50)\n");
    qlog_close(l);
    close(fd);
    testlib_rmtree(dir);
    free(logdir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synced_survives_unsynced_does_not),
        cmocka_unit_test(test_updates_and_removals_replay),
        cmocka_unit_test(test_torn_tail_is_cut),
        cmocka_unit_test(test_segments_rotate_and_go_in_order),
        cmocka_unit_test(test_a_long_lived_message_is_copied_forward),
        cmocka_unit_test(test_damage_is_skipped_and_read_only_changes_nothing),
        cmocka_unit_test(test_a_record_forged_in_content_is_never_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
