/*
 * test_queue.c — the envelope format and the durable queue: round trips,
 * refusal of truncated or unknown envelopes, commit through the committer
 * thread, and recovery of what a crash leaves behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/util.h"
#include "queue/envelope.h"
#include "queue/queue.h"

#include <dirent.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct envelope *
sample_envelope(void)
{
    struct envelope *env = envelope_new();

    memcpy(env->id, "0006A1B2C3D4E5F6", 17);
    env->received = 1764358200;
    env->connector = xstrdup("Default mail, with comma");
    env->client_ip = xstrdup("192.0.2.7");
    env->client_helo = xstrdup("client.example");
    env->from = xstrdup("alice@example.org");
    env->envid = xstrdup("abc+2B1");
    env->ret = 2;
    env->body = 2;
    env->smtputf8 = true;
    env->tls = xstrdup("version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384");
    envelope_add_rcpt(env, "bob@example.test", 6, "rfc822;bob@example.test");
    envelope_add_rcpt(env, "\"odd local\\\"\"@example.test", 0, NULL);
    return env;
}

static void
test_envelope_round_trip(void **state)
{
    struct envelope *env = sample_envelope(), *back;
    size_t len, len2;
    char *text = envelope_serialize(env, &len), *text2, err[128];

    back = envelope_parse(text, len, err, sizeof(err));
    assert_non_null(back);
    assert_string_equal(back->id, "0006A1B2C3D4E5F6");
    assert_int_equal(back->received, 1764358200);
    assert_string_equal(back->connector, "Default mail, with comma");
    assert_string_equal(back->from, "alice@example.org");
    assert_string_equal(back->tls, "version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384");
    assert_true(back->smtputf8);
    assert_int_equal(back->nrcpts, 2);
    assert_int_equal(back->rcpts[0].notify, 6);
    assert_string_equal(back->rcpts[0].orcpt, "rfc822;bob@example.test");
    assert_string_equal(back->rcpts[1].address, "\"odd local\\\"\"@example.test");
    assert_null(back->rcpts[1].orcpt);
    text2 = envelope_serialize(back, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(text, text2, len);
    free(text);
    free(text2);
    envelope_free(env);
    envelope_free(back);
}

static void
test_envelope_null_sender(void **state)
{
    struct envelope *env = sample_envelope(), *back;
    size_t len;
    char *text, err[128];

    free(env->from);
    env->from = xstrdup("");
    text = envelope_serialize(env, &len);
    back = envelope_parse(text, len, err, sizeof(err));
    assert_non_null(back);
    assert_string_equal(back->from, "");
    free(text);
    envelope_free(env);
    envelope_free(back);
}

static void
test_envelope_truncated_refused(void **state)
{
    struct envelope *env = sample_envelope();
    size_t len;
    char *text = envelope_serialize(env, &len), err[128];

    /* every proper prefix must be refused: a crash can cut the file anywhere */
    for (size_t cut = 0; cut < len; cut++)
        assert_null(envelope_parse(text, cut, err, sizeof(err)));
    free(text);
    envelope_free(env);
}

static void
test_envelope_bad_version_refused(void **state)
{
    const char *v2 = "version: 2\nid: 0006A1B2C3D4E5F6\nfrom: a@b\nend\n";
    const char *junk = "version: 1\nid: 0006A1B2C3D4E5F6\nfrom: a@b\nbogus line\nend\n";
    char err[128];

    assert_null(envelope_parse(v2, strlen(v2), err, sizeof(err)));
    assert_non_null(strstr(err, "version"));
    assert_null(envelope_parse(junk, strlen(junk), err, sizeof(err)));
}

/* ---- queue ---- */

struct commit_result {
    int done;
    int error;
    struct event_base *base;
};

static void
commit_cb(void *arg, int error)
{
    struct commit_result *r = arg;

    r->done++;
    r->error = error;
    event_base_loopbreak(r->base);
}

/* Runs the loop until a commit callback breaks it; the idle timer keeps the
 * loop alive while the committer thread works, as listeners do in the
 * service. */
static void
run_loop(struct event_base *base)
{
    struct event *idle = event_new(base, -1, EV_PERSIST, NULL, NULL);
    struct timeval tv = {10, 0};

    event_add(idle, &tv);
    event_base_dispatch(base);
    event_free(idle);
}

static char *
make_tmpdir(void)
{
    char tmpl[] = "/tmp/postern-qtest-XXXXXX";
    char *d = mkdtemp(tmpl);

    assert_non_null(d);
    return xstrdup(d);
}

static void
rm_rf(const char *dir)
{
    char *cmd = xasprintf("rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

static bool
exists(const char *dir, const char *sub, const char *name)
{
    char *p = xasprintf("%s/%s/%s", dir, sub, name);
    struct stat st;
    bool ok = stat(p, &st) == 0;

    free(p);
    return ok;
}

static void
test_queue_commit_and_recover(void **state)
{
    char *dir = make_tmpdir(), err[256], id[QUEUE_ID_LEN + 1], partial[QUEUE_ID_LEN + 1];
    struct event_base *base = event_base_new();
    struct queue *q = queue_open(dir, base, err, sizeof(err));
    struct queue_msg *m, *p;
    struct commit_result r = {0, -1, base};
    struct envelope *env;
    char *data;
    size_t len;

    assert_non_null(q);
    assert_int_equal(queue_count(q), 0);
    assert_true(queue_has_space(q, 1000));

    m = queue_msg_begin(q, err, sizeof(err));
    assert_non_null(m);
    strlcpy_p(id, queue_msg_id(m), sizeof(id));
    assert_int_equal(strlen(id), QUEUE_ID_LEN);
    queue_msg_write(m, "Subject: x\r\n\r\nbody\r\n", 20);
    assert_int_equal(queue_msg_size(m), 20);

    p = queue_msg_begin(q, err, sizeof(err));
    assert_non_null(p);
    strlcpy_p(partial, queue_msg_id(p), sizeof(partial));
    assert_true(strcmp(partial, id) > 0); /* IDs increase */
    queue_msg_abort(p);
    /* A crash in the middle of DATA leaves a content file and no envelope. */
    {
        char *path = xasprintf("%s/data/%s", dir, partial);
        int fd = open(path, O_WRONLY | O_CREAT, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "partial", 7), 7);
        close(fd);
        free(path);
    }

    env = sample_envelope();
    queue_msg_commit(m, env, commit_cb, &r);
    run_loop(base);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.error, 0);
    assert_int_equal(queue_count(q), 1);
    assert_true(exists(dir, "env", id));
    assert_true(exists(dir, "data", id));

    /* Simulate a crash: the partial message's file stays behind, plus a
     * half-written envelope. */
    {
        char *tmp = xasprintf("%s/env/%s.tmp", dir, partial);
        int fd = open(tmp, O_WRONLY | O_CREAT, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "version: 1\n", 11), 11);
        close(fd);
        free(tmp);
    }
    assert_true(exists(dir, "data", partial));

    queue_close(q);
    q = queue_open(dir, base, err, sizeof(err));
    assert_non_null(q);
    assert_int_equal(queue_count(q), 1);
    assert_true(exists(dir, "data", id));
    assert_false(exists(dir, "data", partial));
    {
        char tmpname[QUEUE_ID_LEN + 8];
        snprintf(tmpname, sizeof(tmpname), "%s.tmp", partial);
        assert_false(exists(dir, "env", tmpname));
    }
    {
        char *path = xasprintf("%s/data/%s", dir, id);
        data = file_read(path, &len);
        free(path);
        assert_non_null(data);
        assert_int_equal(len, 20);
        free(data);
    }
    queue_close(q);
    event_base_free(base);
    rm_rf(dir);
    free(dir);
}

static void
scan_fn(const char *id, const struct envelope *env, const char *data_path, void *arg)
{
    int *n = arg;

    assert_non_null(env);
    assert_string_equal(env->id, id);
    assert_int_equal(env->nrcpts, 2);
    (*n)++;
}

static void
test_queue_abort_and_scan(void **state)
{
    char *dir = make_tmpdir(), err[256], id[QUEUE_ID_LEN + 1];
    struct event_base *base = event_base_new();
    struct queue *q = queue_open(dir, base, err, sizeof(err));
    struct commit_result r = {0, -1, base};
    struct queue_msg *m;
    int seen = 0;

    m = queue_msg_begin(q, err, sizeof(err));
    strlcpy_p(id, queue_msg_id(m), sizeof(id));
    queue_msg_abort(m);
    assert_false(exists(dir, "data", id));

    for (int i = 0; i < 3; i++) {
        m = queue_msg_begin(q, err, sizeof(err));
        queue_msg_write(m, "x\r\n", 3);
        queue_msg_commit(m, sample_envelope(), commit_cb, &r);
        run_loop(base);
        assert_int_equal(r.error, 0);
    }
    assert_int_equal(queue_scan(dir, scan_fn, &seen), 3);
    assert_int_equal(seen, 3);
    queue_close(q);
    event_base_free(base);
    rm_rf(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_round_trip),
        cmocka_unit_test(test_envelope_null_sender),
        cmocka_unit_test(test_envelope_truncated_refused),
        cmocka_unit_test(test_envelope_bad_version_refused),
        cmocka_unit_test(test_queue_commit_and_recover),
        cmocka_unit_test(test_queue_abort_and_scan),
    };

    evthread_use_pthreads();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
