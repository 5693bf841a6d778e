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
#include "queue/queue_show.h"
#include "testlib.h"

#include <dirent.h>
#include <errno.h>
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

/* Serialises env, parses it back and checks the text is stable. */
static struct envelope *
round_trip(const struct envelope *env, char **text_out)
{
    size_t len, len2;
    char *text = envelope_serialize(env, &len), *text2, err[128];
    struct envelope *back = envelope_parse(text, len, err, sizeof(err));

    assert_non_null(back);
    text2 = envelope_serialize(back, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(text, text2, len);
    free(text2);
    *text_out = text;
    return back;
}

static void
test_envelope_tls_flags_round_trip(void **state)
{
    struct envelope *env = sample_envelope(), *back;
    char *text;

    /* neither flag: neither key is written, as before they existed */
    back = round_trip(env, &text);
    assert_false(back->requiretls);
    assert_false(back->tls_required_no);
    assert_null(strstr(text, "requiretls"));
    assert_null(strstr(text, "tls-required-no"));
    free(text);
    envelope_free(back);

    env->requiretls = true;
    back = round_trip(env, &text);
    assert_true(back->requiretls);
    assert_false(back->tls_required_no);
    assert_non_null(strstr(text, "\nrequiretls: 1\n"));
    free(text);
    envelope_free(back);

    env->requiretls = false;
    env->tls_required_no = true;
    back = round_trip(env, &text);
    assert_false(back->requiretls);
    assert_true(back->tls_required_no);
    assert_non_null(strstr(text, "\ntls-required-no: 1\n"));
    free(text);
    envelope_free(back);

    /* RFC 8689: with REQUIRETLS the header is ignored, so only it is kept */
    env->requiretls = true;
    back = round_trip(env, &text);
    assert_true(back->requiretls);
    assert_false(back->tls_required_no);
    assert_null(strstr(text, "tls-required-no"));
    free(text);
    envelope_free(back);
    envelope_free(env);
}

static void
test_envelope_tls_flags_old_and_odd_text(void **state)
{
    /* an envelope written before the flags existed reads as neither */
    const char *old = "version: 1\nid: 0006A1B2C3D4E5F6\nreceived: 1764358200\n"
                      "from: a@b\nret: 0\nbody: 0\nsmtputf8: 1\nsize: 10\n"
                      "rcpt: ready 0 - c@d\nattempts: 0\nnext-attempt: 0\n"
                      "delay-notified: 0\nsuspended: 0\nend\n";
    /* written by hand with both: REQUIRETLS wins */
    const char *both = "version: 1\nid: 0006A1B2C3D4E5F6\nfrom: a@b\n"
                       "tls-required-no: 1\nrequiretls: 1\nrcpt: ready 0 - c@d\nend\n";
    const char *zero = "version: 1\nid: 0006A1B2C3D4E5F6\nfrom: a@b\n"
                       "requiretls: 0\ntls-required-no: 0\nend\n";
    const char *bad = "version: 1\nid: 0006A1B2C3D4E5F6\nfrom: a@b\nrequiretls: yes\nend\n";
    struct envelope *env;
    char err[128];

    env = envelope_parse(old, strlen(old), err, sizeof(err));
    assert_non_null(env);
    assert_true(env->smtputf8);
    assert_false(env->requiretls);
    assert_false(env->tls_required_no);
    envelope_free(env);

    env = envelope_parse(both, strlen(both), err, sizeof(err));
    assert_non_null(env);
    assert_true(env->requiretls);
    assert_false(env->tls_required_no);
    envelope_free(env);

    env = envelope_parse(zero, strlen(zero), err, sizeof(err));
    assert_non_null(env);
    assert_false(env->requiretls);
    assert_false(env->tls_required_no);
    envelope_free(env);

    assert_null(envelope_parse(bad, strlen(bad), err, sizeof(err)));
    assert_non_null(strstr(err, "requiretls"));
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

static bool
absent_or_empty(const char *dir, const char *sub, const char *name)
{
    char *p = xasprintf("%s/%s/%s", dir, sub, name);
    struct stat st;
    bool ok = stat(p, &st) < 0 ? errno == ENOENT : st.st_size == 0;

    free(p);
    return ok;
}

static bool
exists(const char *dir, const char *sub, const char *name)
{
    char *p = xasprintf("%s/%s/%s", dir, sub, name);
    bool ok = testlib_exists(p);

    free(p);
    return ok;
}

/* The content of a committed message, through the queue. */
static char *
content_of(struct queue *q, const char *id, size_t *len)
{
    int fd = queue_content_fd(q, id);
    char *data;

    if (fd < 0)
        return NULL;
    data = fd_read_all(fd, len);
    close(fd);
    return data;
}

static void
test_queue_commit_and_recover(void **state)
{
    char *dir = testlib_mkdtemp("queue"), err[256], id[QUEUE_ID_LEN + 1], partial[QUEUE_ID_LEN + 1];
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
    /* being received: in spare/, not committed */
    assert_true(exists(dir, "spare", id));
    assert_int_equal(queue_content_fd(q, id), -1);

    p = queue_msg_begin(q, err, sizeof(err));
    assert_non_null(p);
    strlcpy_p(partial, queue_msg_id(p), sizeof(partial));
    assert_true(strcmp(partial, id) > 0); /* IDs increase */
    queue_msg_abort(p);
    assert_false(exists(dir, "spare", partial));
    /* what a message in the middle of DATA leaves when the service dies */
    {
        char *path = xasprintf("%s/spare/%s", dir, partial);
        testlib_write_text(path, "partial");
        free(path);
    }

    env = sample_envelope();
    queue_msg_commit(m, env, commit_cb, &r);
    run_loop(base);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.error, 0);
    assert_int_equal(queue_count(q), 1);
    /* the content is in the log now; its file is kept, emptied, for the
     * next message */
    assert_true(absent_or_empty(dir, "spare", id));
    data = content_of(q, id, &len);
    assert_non_null(data);
    assert_int_equal(len, 20);
    assert_memory_equal(data, "Subject: x\r\n\r\nbody\r\n", 20);
    free(data);

    /* "crash": the partial message's file stays behind */
    assert_true(exists(dir, "spare", partial));
    queue_close(q);
    q = queue_open(dir, base, err, sizeof(err));
    assert_non_null(q);
    assert_int_equal(queue_count(q), 1);
    assert_false(exists(dir, "spare", partial));
    data = content_of(q, id, &len);
    assert_non_null(data);
    assert_int_equal(len, 20);
    free(data);
    queue_close(q);
    event_base_free(base);
    testlib_rmtree(dir);
    free(dir);
}

/* A committed message's file is kept, emptied, for a later message: the
 * next one gets it (no new file), and a file something wrote to after its
 * commit (a writer that kept its descriptor) goes instead of being reused. */
static void
test_queue_reuses_emptied_files_but_not_written_ones(void **state)
{
    char *dir = testlib_mkdtemp("queue"), err[256];
    struct event_base *base = event_base_new();
    struct queue *q = queue_open(dir, base, err, sizeof(err));
    struct commit_result r = {0, -1, base};
    struct queue_msg *m;
    struct stat first, st;
    int stale;

    assert_non_null(q);
    m = queue_msg_reserve(q, err, sizeof(err));
    assert_non_null(m);
    assert_int_equal(fstat(queue_msg_fd(m), &first), 0);
    stale = dup(queue_msg_fd(m)); /* as the smtp process holds it */
    assert_int_equal(write(stale, "Subject: a\r\n\r\na\r\n", 17), 17);
    queue_msg_commit(m, sample_envelope(), commit_cb, &r);
    run_loop(base);
    assert_int_equal(r.error, 0);
    assert_int_equal(fstat(stale, &st), 0);
    assert_int_equal(st.st_size, 0); /* emptied, still in spare/ */
    assert_int_equal(st.st_nlink, 1);

    /* the next message gets the same file */
    m = queue_msg_reserve(q, err, sizeof(err));
    assert_non_null(m);
    assert_int_equal(fstat(queue_msg_fd(m), &st), 0);
    assert_true(st.st_ino == first.st_ino && st.st_size == 0);
    assert_int_equal(write(queue_msg_fd(m), "Subject: b\r\n\r\nb\r\n", 17), 17);
    r.done = 0;
    queue_msg_commit(m, sample_envelope(), commit_cb, &r);
    run_loop(base);
    assert_int_equal(r.error, 0);

    /* written after that commit: removed, and the next message gets a new file */
    assert_int_equal(write(stale, "late", 4), 4);
    m = queue_msg_reserve(q, err, sizeof(err));
    assert_non_null(m);
    assert_int_equal(fstat(queue_msg_fd(m), &st), 0);
    assert_true(st.st_ino != first.st_ino && st.st_size == 0);
    assert_int_equal(fstat(stale, &st), 0);
    assert_int_equal(st.st_nlink, 0);
    queue_msg_abort(m);
    close(stale);
    assert_int_equal(queue_count(q), 2);
    queue_close(q);
    event_base_free(base);
    testlib_rmtree(dir);
    free(dir);
}

static void
scan_fn(const char *id, const struct envelope *env, struct queue_reader *rd, void *arg)
{
    int *n = arg, fd;
    char *data;
    size_t len;

    assert_non_null(env);
    assert_string_equal(env->id, id);
    assert_int_equal(env->nrcpts, 2);
    fd = queue_reader_content(rd, id);
    assert_true(fd >= 0);
    data = fd_read_all(fd, &len);
    close(fd);
    assert_int_equal(len, 3);
    free(data);
    (*n)++;
}

static void
test_queue_abort_update_remove_and_scan(void **state)
{
    char *dir = testlib_mkdtemp("queue"), err[256], id[QUEUE_ID_LEN + 1], ids[3][QUEUE_ID_LEN + 1];
    struct event_base *base = event_base_new();
    struct queue *q = queue_open(dir, base, err, sizeof(err));
    struct commit_result r = {0, -1, base};
    struct queue_msg *m;
    struct envelope *env;
    int seen = 0;

    m = queue_msg_begin(q, err, sizeof(err));
    strlcpy_p(id, queue_msg_id(m), sizeof(id));
    queue_msg_abort(m);
    assert_false(exists(dir, "spare", id));

    for (int i = 0; i < 3; i++) {
        m = queue_msg_begin(q, err, sizeof(err));
        strlcpy_p(ids[i], queue_msg_id(m), sizeof(ids[i]));
        queue_msg_write(m, "x\r\n", 3);
        queue_msg_commit(m, sample_envelope(), commit_cb, &r);
        run_loop(base);
        assert_int_equal(r.error, 0);
    }
    /* the second one changes, the third goes */
    env = sample_envelope();
    memcpy(env->id, ids[1], sizeof(env->id));
    env->suspended = true;
    queue_update(q, env, commit_cb, &r);
    run_loop(base);
    assert_int_equal(r.error, 0);
    envelope_free(env);
    queue_remove(q, ids[2], commit_cb, &r);
    run_loop(base);
    assert_int_equal(r.error, 0);
    assert_int_equal(queue_count(q), 2);
    queue_close(q);
    /* what a cmdlet reads with the service stopped */
    assert_int_equal(queue_scan(dir, scan_fn, &seen), 2);
    assert_int_equal(seen, 2);
    event_base_free(base);
    testlib_rmtree(dir);
    free(dir);
}

/* A queue written by postern before the log (data/<ID>, env/<ID>) is
 * moved into the log at the next start, nothing lost. */
static void
test_queue_of_the_earlier_layout_is_moved_in(void **state)
{
    char *dir = testlib_mkdtemp("queue"), err[256], *text, *path, *data;
    struct envelope *env = sample_envelope();
    struct event_base *base = event_base_new();
    struct queue *q;
    size_t len;

    path = xasprintf("%s/env", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    free(path);
    path = xasprintf("%s/data", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    free(path);
    text = envelope_serialize(env, &len);
    path = xasprintf("%s/env/%s", dir, env->id);
    testlib_write_file(path, text, len);
    free(path);
    free(text);
    path = xasprintf("%s/data/%s", dir, env->id);
    testlib_write_text(path, "Subject: old\r\n\r\nkept\r\n");
    free(path);

    q = queue_open(dir, base, err, sizeof(err));
    assert_non_null(q);
    assert_int_equal(queue_count(q), 1);
    data = content_of(q, env->id, &len);
    assert_non_null(data);
    assert_string_equal(data, "Subject: old\r\n\r\nkept\r\n");
    free(data);
    assert_false(exists(dir, "env", env->id));
    assert_false(exists(dir, "data", env->id));
    queue_close(q);
    /* and a second start finds it once */
    q = queue_open(dir, base, err, sizeof(err));
    assert_int_equal(queue_count(q), 1);
    queue_close(q);
    envelope_free(env);
    event_base_free(base);
    testlib_rmtree(dir);
    free(dir);
}

/* Get-Message and Get-Queue as both the service and the cmdlets on a
 * stopped instance print them (queue/queue_show.c): the exact text the
 * e2e harness and scripts parse. */
static char *
shown_message(const struct message_view *v)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    assert_non_null(f);
    message_show(f, v);
    assert_int_equal(fclose(f), 0);
    return text;
}

static void
test_message_show(void **state)
{
    struct envelope *env = sample_envelope();
    size_t second[] = {1};
    struct message_view v = {
        .server = "mail",
        .queue = "b.test",
        .id = env->id,
        .env = env,
        .status = "Retry",
        .subject = "Hello",
        .message_id = "<m1@example.org>",
        .expiration_timeout = 2 * 86400,
        .recipient_info = true,
    };
    char *text;

    env->size = 2048;
    env->attempts = 3;
    env->rcpts[0].last_error = xstrdup("smtp; 451 4.3.0 busy");
    env->rcpts[1].status = RCPT_DELIVERED;
    text = shown_message(&v);
    assert_string_equal(text,
                        "Identity          : mail\\b.test\\0006A1B2C3D4E5F6\n"
                        "FromAddress       : alice@example.org\n"
                        "Status            : Retry\n"
                        "Size              : 2 KB (2,048 bytes)\n"
                        "Subject           : Hello\n"
                        "InternetMessageId : <m1@example.org>\n"
                        "DateReceived      : 2025-11-28T19:30:00Z\n"
                        "ExpirationTime    : 2025-11-30T19:30:00Z\n"
                        "LastError         : smtp; 451 4.3.0 busy\n"
                        "RetryCount        : 3\n"
                        "SourceIP          : 192.0.2.7\n"
                        "MessageSourceName : Default mail, with comma\n"
                        "DomainSecured     : False\n"
                        "TlsProtocol       : version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384\n"
                        "RequireTLS        : False\n"
                        "TlsRequiredNo     : False\n"
                        "Queue             : mail\\b.test\n"
                        "Recipients        : {bob@example.test (Retry: smtp; 451 4.3.0 busy), "
                        "\"odd local\\\"\"@example.test (Complete)}\n");
    free(text);

    /* the RFC 8689 flags */
    env->requiretls = true;
    text = shown_message(&v);
    assert_non_null(strstr(text, "\nRequireTLS        : True\nTlsRequiredNo     : False\n"));
    free(text);
    env->requiretls = false;
    env->tls_required_no = true;
    text = shown_message(&v);
    assert_non_null(strstr(text, "\nRequireTLS        : False\nTlsRequiredNo     : True\n"));
    free(text);
    env->tls_required_no = false;

    /* only the recipients in this queue; the queue's error comes first */
    v.rcpts = second;
    v.nrcpts = 1;
    v.recipient_info = false;
    v.last_error = "TLS negotiation failed";
    text = shown_message(&v);
    assert_non_null(strstr(text, "\nLastError         : TLS negotiation failed\n"));
    assert_non_null(strstr(text, "\nRecipients        : {\"odd local\\\"\"@example.test}\n"));
    free(text);

    /* an envelope that cannot be read */
    v.env = NULL;
    text = shown_message(&v);
    assert_string_equal(text, "Identity          : mail\\b.test\\0006A1B2C3D4E5F6\n"
                              "Status            : Damaged\n"
                              "LastError         : the envelope cannot be read\n");
    free(text);
    envelope_free(env);
}

static void
test_queue_show(void **state)
{
    struct queue_view v = {
        .server = "mail",
        .next_hop = "Submission",
        .delivery_type = "Undefined",
        .status = "Ready",
        .count = 2,
    };
    char *text = NULL, server[64];
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    assert_non_null(f);
    queue_show(f, &v);
    assert_int_equal(fclose(f), 0);
    assert_string_equal(text, "Identity          : mail\\Submission\n"
                              "DeliveryType      : Undefined\n"
                              "Status            : Ready\n"
                              "MessageCount      : 2\n"
                              "NextHopDomain     : Submission\n"
                              "NextHopConnector  : \n"
                              "LastError         : \n"
                              "NextRetryTime     : \n");
    free(text);

    queue_show_server("mail.example.test", server, sizeof(server));
    assert_string_equal(server, "mail");
    queue_show_server(NULL, server, sizeof(server));
    assert_string_equal(server, "postern");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_round_trip),
        cmocka_unit_test(test_envelope_null_sender),
        cmocka_unit_test(test_envelope_truncated_refused),
        cmocka_unit_test(test_envelope_bad_version_refused),
        cmocka_unit_test(test_envelope_tls_flags_round_trip),
        cmocka_unit_test(test_envelope_tls_flags_old_and_odd_text),
        cmocka_unit_test(test_queue_commit_and_recover),
        cmocka_unit_test(test_queue_reuses_emptied_files_but_not_written_ones),
        cmocka_unit_test(test_queue_abort_update_remove_and_scan),
        cmocka_unit_test(test_queue_of_the_earlier_layout_is_moved_in),
        cmocka_unit_test(test_message_show),
        cmocka_unit_test(test_queue_show),
    };

    evthread_use_pthreads();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
