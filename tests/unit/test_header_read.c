/*
 * test_header_read.c — unit tests for smtp/header_read.c, the reader of a
 * stored message's header section that reports, Get-Message and the
 * tracking log share: where the section ends, reading it from a file
 * within a bound, and unfolded field values.
 * Must never: write outside its own temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "smtp/header_read.h"
#include "lib/util.h"
#include "testlib.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#define STORED                                                                                     \
    "Received: from client.example ([192.0.2.7])\r\n\tby mx.example (postern);"                    \
    " Fri, 28 Nov 2025 18:30:00 +0000\r\n"                                                         \
    "Subject: a subject that was\r\n folded  over\r\n\ttwo lines \r\n"                             \
    "Message-ID : <m1@example.org>\r\n"                                                            \
    "X-Subject: not this one\r\n"                                                                  \
    "subject: a second Subject field\r\n"                                                          \
    "Empty:\r\n"                                                                                   \
    "\r\n"                                                                                         \
    "Only-Body: in the body\r\n"

static void
test_section_len(void **state)
{
    const char *crlf = "A: 1\r\nB: 2\r\n\r\nbody\r\n", *lf = "A: 1\nB: 2\n\nbody\n";

    assert_int_equal(header_section_len(crlf, strlen(crlf)), 12);
    assert_int_equal(header_section_len(lf, strlen(lf)), 10);
    assert_int_equal(header_section_len("\r\nbody", 6), 0);
    assert_int_equal(header_section_len("A: 1\r\nB: 2", 10), 10); /* no body */
}

static void
test_field_get(void **state)
{
    size_t n = header_section_len(STORED, strlen(STORED));
    char *v;

    v = header_field_get(STORED, n, "Subject");
    assert_string_equal(v, "a subject that was folded  over\ttwo lines");
    free(v);
    v = header_field_get(STORED, n, "message-id"); /* the obsolete blank before ':' too */
    assert_string_equal(v, "<m1@example.org>");
    free(v);
    v = header_field_get(STORED, n, "Empty");
    assert_string_equal(v, "");
    free(v);
    assert_null(header_field_get(STORED, n, "Subj"));
    assert_null(header_field_get(STORED, n, "In-Reply-To"));
    v = header_field_get(STORED, n, "X-Subject");
    assert_string_equal(v, "not this one");
    free(v);
    /* only what the caller gives is searched: the header section here */
    assert_null(header_field_get(STORED, n, "Only-Body"));
}

/* header_section_read of the file at path. */
static char *
read_path(const char *path, size_t max, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *h;

    assert_true(fd >= 0);
    h = header_section_read(fd, max, len);
    close(fd);
    return h;
}

static void
test_section_read(void **state)
{
    char *dir = testlib_mkdtemp("header"), *path = xasprintf("%s/msg", dir), *h, *v;
    size_t len;

    testlib_write_text(path, STORED);
    h = read_path(path, 1 << 20, &len);
    assert_non_null(h);
    assert_int_equal(len, header_section_len(STORED, strlen(STORED)));
    assert_int_equal(strlen(h), len);
    assert_null(strstr(h, "in the body"));
    v = header_field_get(h, len, "Subject");
    assert_string_equal(v, "a subject that was folded  over\ttwo lines");
    free(v);
    free(h);

    /* a bound cuts at a line boundary, before the line that crosses it */
    h = read_path(path, 50, &len);
    assert_non_null(h);
    assert_string_equal(h, "Received: from client.example ([192.0.2.7])\r\n");
    free(h);

    /* a message whose content starts with the empty line has no fields */
    testlib_write_text(path, "\r\nbody\r\n");
    h = read_path(path, 1 << 20, &len);
    assert_string_equal(h, "");
    assert_int_equal(len, 0);
    free(h);

    /* what cannot be read is NULL with errno */
    {
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_null(header_section_read(fd, 1 << 20, &len));
        assert_int_equal(errno, EISDIR);
        close(fd);
    }

    free(path);
    testlib_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_section_len),
        cmocka_unit_test(test_field_get),
        cmocka_unit_test(test_section_read),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
