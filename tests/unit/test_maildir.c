/*
 * test_maildir.c — Maildir delivery (src/delivery/maildir.c): directory
 * creation, CRLF -> LF content with the two trace headers first, idempotent
 * redelivery by key (new/ and cur/), stale tmp files, refused keys and the
 * temporary/permanent classification.
 *
 * Each test works in its own mkdtemp directory and removes it afterwards.
 * Must never: touch anything outside its temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "delivery/maildir.h"
#include "lib/util.h"
#include "testlib.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RP "alice@example.org"
#define TO "bob@example.test"

static const char message[] = "Subject: hi\r\n"
                              "From: <alice@example.org>\r\n"
                              "\r\n"
                              "line one\r\n"
                              "a lone \r stays\r\n"
                              "last\r\n";
static const char expected[] = "Return-Path: <alice@example.org>\n"
                               "Delivered-To: bob@example.test\n"
                               "Subject: hi\n"
                               "From: <alice@example.org>\n"
                               "\n"
                               "line one\n"
                               "a lone \r stays\n"
                               "last\n";

struct fixture {
    char *dir;  /* the temporary directory */
    char *root; /* dir/mail/bob (dir/mail exists, bob does not) */
    char *data; /* dir/data: the queued content, CRLF */
};

static int
setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    char *mail;

    f->dir = testlib_mkdtemp("maildir");
    mail = xasprintf("%s/mail", f->dir);
    assert_int_equal(mkdir(mail, 0700), 0);
    f->root = xasprintf("%s/bob", mail);
    free(mail);
    f->data = xasprintf("%s/data", f->dir);
    testlib_write_file(f->data, message, sizeof(message) - 1);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    testlib_rmtree(f->dir);
    free(f->dir);
    free(f->root);
    free(f->data);
    free(f);
    return 0;
}

/* Names of the entries of root/sub, sorted, in a NULL-terminated array. */
static char **
list(const char *root, const char *sub, int *count)
{
    char *p = xasprintf("%s/%s", root, sub);
    struct dirent **ents = NULL;
    char **names;
    int n = scandir(p, &ents, NULL, alphasort), k = 0;

    assert_true(n >= 0);
    names = xcalloc((size_t)n + 1, sizeof(*names));
    for (int i = 0; i < n; i++) {
        if (strcmp(ents[i]->d_name, ".") != 0 && strcmp(ents[i]->d_name, "..") != 0)
            names[k++] = xstrdup(ents[i]->d_name);
        free(ents[i]);
    }
    free(ents);
    free(p);
    *count = k;
    return names;
}

static void
free_list(char **names)
{
    for (char **p = names; *p != NULL; p++)
        free(*p);
    free(names);
}

static int
count(const char *root, const char *sub)
{
    int n;

    free_list(list(root, sub, &n));
    return n;
}

static char *
expected_name(const char *key)
{
    char host[256];

    assert_int_equal(gethostname(host, sizeof(host)), 0);
    /* Test hosts have plain names; escaping is not exercised here. */
    assert_null(strpbrk(host, "/:,\\ "));
    return xasprintf("%s.%s", key, host);
}

/* maildir_deliver with the content at path; a path that cannot be opened
 * stands for content that cannot be read (a directory's descriptor). */
static int
deliver_path(const char *root, const char *key, const char *path, const char *rp, const char *to,
             bool *temporary, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

    if (fd < 0)
        fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    rc = maildir_deliver(root, key, fd, rp, to, temporary, err, errlen);
    close(fd);
    return rc;
}

static int
deliver(const struct fixture *f, const char *key, bool *temporary, char *err, size_t errlen)
{
    return deliver_path(f->root, key, f->data, RP, TO, temporary, err, errlen);
}

static void
test_deliver(void **state)
{
    struct fixture *f = *state;
    char err[512], *name = expected_name("0006A1B2C3D4E5F6.0"), **names, *path, *content;
    bool temporary = true;
    struct stat st;
    mode_t old;
    int n;

    /* A umask that strips the owner's write bit: the modes must still be
     * exactly 0700 and 0600. */
    old = umask(0277);
    assert_int_equal(deliver(f, "0006A1B2C3D4E5F6.0", &temporary, err, sizeof(err)), 0);
    umask(old);
    assert_string_equal(err, "");

    /* The Maildir and its three subdirectories, private to the owner. */
    assert_int_equal(stat(f->root, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    for (int i = 0; i < 3; i++) {
        char *sub = xasprintf("%s/%s", f->root, (const char *[]){"tmp", "new", "cur"}[i]);
        assert_int_equal(stat(sub, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0700);
        free(sub);
    }

    names = list(f->root, "new", &n);
    assert_int_equal(n, 1);
    assert_string_equal(names[0], name);
    path = xasprintf("%s/new/%s", f->root, names[0]);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_nlink, 1); /* the tmp link is gone */
    content = testlib_read_file(path, NULL);
    assert_string_equal(content, expected);
    assert_int_equal(count(f->root, "tmp"), 0);
    assert_int_equal(count(f->root, "cur"), 0);

    free(content);
    free(path);
    free_list(names);
    free(name);
}

static void
test_redelivery_is_idempotent(void **state)
{
    struct fixture *f = *state;
    char err[512], *name = expected_name("Q1.0"), *from, *to, *content;
    bool temporary;

    assert_int_equal(deliver(f, "Q1.0", &temporary, err, sizeof(err)), 0);
    assert_int_equal(count(f->root, "new"), 1);

    /* Same key again (a retry after a crash): nothing more. */
    assert_int_equal(deliver(f, "Q1.0", &temporary, err, sizeof(err)), 0);
    assert_int_equal(count(f->root, "new"), 1);
    assert_int_equal(count(f->root, "tmp"), 0);

    /* A reader has seen it and moved it to cur/ with flags. */
    from = xasprintf("%s/new/%s", f->root, name);
    to = xasprintf("%s/cur/%s:2,S", f->root, name);
    assert_int_equal(rename(from, to), 0);
    assert_int_equal(deliver(f, "Q1.0", &temporary, err, sizeof(err)), 0);
    assert_int_equal(count(f->root, "new"), 0);
    assert_int_equal(count(f->root, "cur"), 1);
    content = testlib_read_file(to, NULL);
    assert_string_equal(content, expected);
    free(content);

    /* A key that is a prefix of the delivered name is a different one. */
    assert_int_equal(deliver(f, "Q1", &temporary, err, sizeof(err)), 0);
    assert_int_equal(count(f->root, "new"), 1);

    /* A different key is a different delivery. */
    assert_int_equal(deliver(f, "Q1.1", &temporary, err, sizeof(err)), 0);
    assert_int_equal(count(f->root, "new"), 2);
    assert_int_equal(count(f->root, "cur"), 1);

    /* The name without info in cur/ counts as delivered too. */
    assert_int_equal(rename(to, from), 0);
    free(to);
    to = xasprintf("%s/cur/%s", f->root, name);
    assert_int_equal(rename(from, to), 0);
    assert_int_equal(deliver(f, "Q1.0", &temporary, err, sizeof(err)), 0);
    assert_int_equal(count(f->root, "new"), 2);
    assert_int_equal(count(f->root, "cur"), 1);

    free(from);
    free(to);
    free(name);
}

static void
test_bad_keys(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {
        "", ".hidden", "../escape", "a/b", "a:2,S", "a,S=12", "sp ace", "nl\n", "caf\xc3\xa9",
    };
    char err[512], longkey[200];
    bool temporary;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        temporary = true;
        assert_int_equal(deliver(f, bad[i], &temporary, err, sizeof(err)), -1);
        assert_false(temporary);
        assert_non_null(strstr(err, "invalid delivery key"));
    }
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    assert_int_equal(deliver(f, longkey, &temporary, err, sizeof(err)), -1);
    assert_false(temporary);
    assert_int_equal(deliver(f, NULL, &temporary, err, sizeof(err)), -1);
    assert_false(temporary);

    /* Header injection through the addresses is refused as well. */
    temporary = true;
    assert_int_equal(
        deliver_path(f->root, "k", f->data, "a@b\r\nX-Evil: 1", TO, &temporary, err, sizeof(err)),
        -1);
    assert_false(temporary);

    /* Nothing was created for a refused delivery. */
    assert_int_equal(access(f->root, F_OK), -1);
}

static void
test_stale_tmp_replaced(void **state)
{
    struct fixture *f = *state;
    char err[512], *name = expected_name("Q2.0"), *tmpdir, *stale, *path, *content;
    bool temporary;

    /* What a crash in the middle of writing leaves behind. */
    assert_int_equal(mkdir(f->root, 0700), 0);
    tmpdir = xasprintf("%s/tmp", f->root);
    assert_int_equal(mkdir(tmpdir, 0700), 0);
    stale = xasprintf("%s/%s", tmpdir, name);
    testlib_write_file(stale, "Return-Path: <x>\nDelivered-To: trunc", 36);

    assert_int_equal(deliver(f, "Q2.0", &temporary, err, sizeof(err)), 0);
    assert_int_equal(count(f->root, "tmp"), 0);
    assert_int_equal(count(f->root, "new"), 1);
    path = xasprintf("%s/new/%s", f->root, name);
    content = testlib_read_file(path, NULL);
    assert_string_equal(content, expected);

    free(content);
    free(path);
    free(stale);
    free(tmpdir);
    free(name);
}

static void
test_headers_and_line_endings(void **state)
{
    struct fixture *f = *state;
    char err[512], *name = expected_name("Q3.0"), *path, *content;
    bool temporary;

    /* A CR at the very end and a CRLF split across the 64 kB read chunks
     * both come out right; the null sender is "<>". */
    {
        size_t big = 64 * 1024 + 10;
        char *buf = xmalloc(big + 1);
        memset(buf, 'x', big);
        buf[64 * 1024 - 1] = '\r';
        buf[64 * 1024] = '\n';
        buf[big - 1] = '\r';
        buf[big] = '\0';
        testlib_write_file(f->data, buf, big);
        free(buf);
    }
    assert_int_equal(deliver_path(f->root, "Q3.0", f->data, "", TO, &temporary, err, sizeof(err)),
                     0);
    path = xasprintf("%s/new/%s", f->root, name);
    content = testlib_read_file(path, NULL);
    {
        const char *head = "Return-Path: <>\nDelivered-To: bob@example.test\n";
        size_t hl = strlen(head), body = strlen(content) - hl;
        assert_memory_equal(content, head, hl);
        assert_int_equal(body, 64 * 1024 + 9);
        assert_int_equal(content[hl + 64 * 1024 - 1], '\n');
        assert_int_equal(content[hl + 64 * 1024 - 2], 'x');
        assert_int_equal(content[hl + body - 1], '\r');
    }
    free(content);
    free(path);
    free(name);

    /* A bracketed reverse-path is not bracketed twice. */
    testlib_write_file(f->data, message, sizeof(message) - 1);
    name = expected_name("Q3.1");
    assert_int_equal(
        deliver_path(f->root, "Q3.1", f->data, "<" RP ">", TO, &temporary, err, sizeof(err)), 0);
    path = xasprintf("%s/new/%s", f->root, name);
    content = testlib_read_file(path, NULL);
    assert_string_equal(content, expected);
    free(content);
    free(path);
    free(name);
}

static void
test_root_under_a_file(void **state)
{
    struct fixture *f = *state;
    char err[512], *blocker, *root;
    bool temporary = true;

    /* The parent of the root is a regular file: permanent. */
    blocker = xasprintf("%s/blocker", f->dir);
    testlib_write_file(blocker, "x", 1);
    root = xasprintf("%s/bob", blocker);
    assert_int_equal(deliver_path(root, "Q4.0", f->data, RP, TO, &temporary, err, sizeof(err)), -1);
    assert_false(temporary);
    assert_non_null(strstr(err, root));
    free(root);

    /* The root itself is a regular file: permanent too. */
    temporary = true;
    assert_int_equal(deliver_path(blocker, "Q4.0", f->data, RP, TO, &temporary, err, sizeof(err)),
                     -1);
    assert_false(temporary);

    /* new/ is a file inside an otherwise good Maildir: permanent. */
    {
        char *newp = xasprintf("%s/new", f->root);
        assert_int_equal(mkdir(f->root, 0700), 0);
        testlib_write_file(newp, "x", 1);
        temporary = true;
        assert_int_equal(deliver(f, "Q4.0", &temporary, err, sizeof(err)), -1);
        assert_false(temporary);
        assert_non_null(strstr(err, "new/"));
        free(newp);
    }
    free(blocker);
}

static void
test_temporary_errors(void **state)
{
    struct fixture *f = *state;
    char err[512], *missing, *root;
    bool temporary = false;

    /* A missing data file, and a missing parent of the root: temporary (the
     * queue or an administrator can put things right). */
    missing = xasprintf("%s/no-such-data", f->dir);
    assert_int_equal(deliver_path(f->root, "Q5.0", missing, RP, TO, &temporary, err, sizeof(err)),
                     -1);
    assert_true(temporary);
    assert_non_null(strstr(err, "queued message"));
    assert_int_equal(count(f->root, "tmp"), 0); /* the tmp file was removed */
    assert_int_equal(count(f->root, "new"), 0);

    root = xasprintf("%s/nonexistent/bob", f->dir);
    temporary = false;
    assert_int_equal(deliver_path(root, "Q5.0", f->data, RP, TO, &temporary, err, sizeof(err)), -1);
    assert_true(temporary);

    /* Permissions an administrator can fix: temporary. Root bypasses mode
     * bits, so this part only runs unprivileged. */
    if (geteuid() != 0) {
        char *tmpdir = xasprintf("%s/tmp", f->root); /* the root exists by now */
        assert_int_equal(chmod(tmpdir, 0500), 0);
        temporary = false;
        assert_int_equal(deliver(f, "Q5.0", &temporary, err, sizeof(err)), -1);
        assert_true(temporary);
        assert_non_null(strstr(err, "Permission denied"));
        assert_int_equal(chmod(tmpdir, 0700), 0);
        free(tmpdir);
    }
    free(root);
    free(missing);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_deliver, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redelivery_is_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_tmp_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_headers_and_line_endings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root_under_a_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_temporary_errors, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
