/*
 * test_data_stream.c — unit tests for the DATA content state machine
 * (smtp/data_stream.c): end of data, dot-unstuffing, bare LF/CR, over-long
 * lines, the header section, the header firewall, the hop count and the
 * TLS-Required field.
 * Must never: depend on any other postern module, the network or the clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "smtp/data_stream.h"

#define LINE_MAX_TEST 64 /* a small line limit so over-long lines are cheap */

struct result {
    bool ended;
    size_t consumed; /* input octets up to and including the end of data */
    const char *reply;
    char stored[4096];
    size_t stored_len;
    bool tls_required_no;
};

static const struct data_limits default_limits = {
    .max_size = UINT64_MAX,
    .max_header_size = 1024,
    .max_hop_count = 3,
    .may_set_own_headers = false,
};

/* Frames input the way the session does (lines end at LF; a line longer
 * than LINE_MAX_TEST is discarded and reported once, with its ending) and
 * feeds the state machine until the end of data. */
static void
run(const char *input, size_t n, const struct data_limits *limits, struct result *r)
{
    struct data_stream ds;
    size_t pos = 0;

    memset(r, 0, sizeof(*r));
    data_stream_begin(&ds, limits ? limits : &default_limits);
    while (pos < n) {
        const char *lf = memchr(input + pos, '\n', n - pos), *store;
        size_t len, store_len;
        enum line_end end;
        bool too_long;

        if (lf == NULL)
            break; /* the rest never ended: no end of data */
        len = (size_t)(lf - (input + pos)) + 1;
        end = len >= 2 && input[pos + len - 2] == '\r' ? LINE_END_CRLF : LINE_END_LF;
        too_long = len > LINE_MAX_TEST;
        switch (data_stream_line(&ds, input + pos, too_long ? 0 : len, end, too_long, &store,
                                 &store_len)) {
        case DATA_END:
            r->ended = true;
            r->consumed = pos + len;
            r->reply = data_stream_finish(&ds);
            r->tls_required_no = ds.tls_required_no;
            return;
        case DATA_STORE:
            assert_true(r->stored_len + store_len < sizeof(r->stored));
            memcpy(r->stored + r->stored_len, store, store_len);
            r->stored_len += store_len;
            break;
        case DATA_SKIP:
            break;
        }
        pos += len;
    }
}

static void
run_str(const char *input, struct result *r)
{
    run(input, strlen(input), NULL, r);
}

static void
accepted(const char *input, const char *stored)
{
    struct result r;

    run_str(input, &r);
    assert_true(r.ended);
    assert_null(r.reply);
    assert_int_equal(r.stored_len, strlen(stored));
    assert_memory_equal(r.stored, stored, r.stored_len);
}

static void
refused(const char *input, const char *reply_prefix)
{
    struct result r;

    run_str(input, &r);
    assert_true(r.ended);
    assert_non_null(r.reply);
    if (strncmp(r.reply, reply_prefix, strlen(reply_prefix)) != 0)
        fail_msg("input %s: reply %s, expected %s", input, r.reply, reply_prefix);
}

static void
test_plain_message(void **state)
{
    accepted("Subject: hi\r\n\r\nbody\r\n.\r\n", "Subject: hi\r\n\r\nbody\r\n");
    accepted(".\r\n", "");
    accepted("\r\nno headers at all\r\n.\r\n", "\r\nno headers at all\r\n");
}

static void
test_dot_unstuffing(void **state)
{
    accepted("Subject: x\r\n\r\n..\r\n...x\r\n.\r\n", "Subject: x\r\n\r\n.\r\n..x\r\n");
}

/* Only <CRLF>.<CRLF> ends the data; every other form is content of a
 * message that fails, and what follows it is not a command. */
static void
test_only_crlf_dot_crlf_ends(void **state)
{
    static const char *const fakes[] = {
        "Subject: x\r\n\r\nbody\n.\r\nMAIL FROM:<a@b>\r\n.\r\n",
        "Subject: x\r\n\r\nbody\r\n.\nMAIL FROM:<a@b>\r\n.\r\n",
        "Subject: x\r\n\r\nbody\n.\nMAIL FROM:<a@b>\r\n.\r\n",
        "Subject: x\r\n\r\nbody\r.\r\nMAIL FROM:<a@b>\r\n.\r\n",
        "Subject: x\r\n\r\nbody\r\n.\r.\r\nMAIL FROM:<a@b>\r\n.\r\n",
    };
    for (size_t i = 0; i < sizeof(fakes) / sizeof(fakes[0]); i++) {
        struct result r;
        run_str(fakes[i], &r);
        assert_true(r.ended);
        /* the real end is the last five octets */
        assert_int_equal(r.consumed, strlen(fakes[i]));
        assert_non_null(r.reply);
        assert_memory_equal(r.reply, "554 5.6.0", 9);
    }
}

/* The defect the review found: an over-long line ending in a bare LF was
 * taken to have ended in CRLF, so "\n.\r\n" after it ended the data. */
static void
test_over_long_line_keeps_its_ending(void **state)
{
    char input[512];
    struct result r;
    int n;

    n = snprintf(input, sizeof(input), "Subject: x\r\n\r\n%0100d\n.\r\nRSET\r\n.\r\n", 0);
    run(input, (size_t)n, NULL, &r);
    assert_true(r.ended);
    assert_int_equal(r.consumed, (size_t)n);
    assert_non_null(r.reply);

    /* ended in CRLF: the next ".\r\n" is the end, and the message fails */
    n = snprintf(input, sizeof(input), "Subject: x\r\n\r\n%0100d\r\n.\r\nRSET\r\n", 0);
    run(input, (size_t)n, NULL, &r);
    assert_true(r.ended);
    assert_int_equal(r.consumed, (size_t)n - 6);
    assert_string_equal(r.reply, "500 5.5.2 Line too long");
}

static void
test_bare_cr_and_lf_fail(void **state)
{
    refused("Subject: x\r\n\r\na\nb\r\n.\r\n", "554 5.6.0 Message contains a bare");
    refused("Subject: x\r\n\r\na\rb\r\n.\r\n", "554 5.6.0 Message contains a bare");
    refused("Subject: x\r\n\r\na\r\r\n.\r\n", "554 5.6.0 Message contains a bare");
}

static void
test_firewall_strips_own_headers_everywhere(void **state)
{
    accepted("Subject: a\r\nX-Postern-Domain-Secured: evil.test\r\n\tfolded\r\nTo: b\r\n\r\n"
             "X-Postern-Domain-Secured: in the body stays\r\n.\r\n",
             "Subject: a\r\nTo: b\r\n\r\nX-Postern-Domain-Secured: in the body stays\r\n");
    accepted("x-postern-domain-secured : evil\r\n\r\n.\r\n", "\r\n");
    accepted("X-POSTERN-Other:1\r\nSubject: s\r\n\r\n.\r\n", "Subject: s\r\n\r\n");
    /* a dot-stuffed name is still the name once the dot is removed */
    accepted(".X-Postern-Domain-Secured: x\r\n\r\n.\r\n", "\r\n");
}

static void
test_firewall_lets_trusted_servers_through(void **state)
{
    struct data_limits trusted = default_limits;
    static const char input[] = "X-Postern-Domain-Secured: partner.test\r\n\r\nb\r\n.\r\n";
    struct result r;

    trusted.may_set_own_headers = true;
    run(input, sizeof(input) - 1, &trusted, &r);
    assert_null(r.reply);
    assert_int_equal(r.stored_len, sizeof(input) - 1 - 3);
}

/* Malformed lines anywhere before the first empty line refuse the message:
 * nothing after them escapes the firewall or the hop count. */
static void
test_malformed_header_lines_refuse(void **state)
{
    refused("Subject: a\r\njunk line\r\nX-Postern-Domain-Secured: x\r\n\r\n.\r\n",
            "554 5.6.0 Malformed header section");
    refused("From someone Sat Nov 28\r\nSubject: a\r\n\r\n.\r\n",
            "554 5.6.0 Message has no header section");
    refused("Subject: a\r\nBad Name: x\r\n\r\n.\r\n", "554 5.6.0 Malformed header section");
    refused("Subject: a\r\n: no name\r\n\r\n.\r\n", "554 5.6.0 Malformed header section");
    refused("Bad Name: x\r\n\r\n.\r\n", "554 5.6.0 Message has no header section");
    refused("hello world\r\n.\r\n", "554 5.6.0 Message has no header section");
    refused("Subject: a\r\nX-Postern\xc3\xa9: x\r\n\r\n.\r\n",
            "554 5.6.0 Malformed header section");
}

static void
test_nul_in_header_name_refuses(void **state)
{
    static const char input[] = "Subject: a\r\nX-Postern\0-Domain-Secured: x\r\n\r\n.\r\n";
    struct result r;

    run(input, sizeof(input) - 1, NULL, &r);
    assert_true(r.ended);
    assert_string_equal(r.reply, "554 5.6.0 Malformed header section: every line before the "
                                 "first empty line must be a header field (Name: value) or "
                                 "continue one");
}

static void
test_leading_fold_refused(void **state)
{
    refused("\tby evil.test\r\nSubject: x\r\n\r\n.\r\n", "554 5.6.0 Message starts with a folded");
    refused(" x\r\n\r\n.\r\n", "554 5.6.0 Message starts with a folded");
}

static void
test_hop_count_over_whole_section(void **state)
{
    refused("Received: a\r\nSubject: s\r\nReceived: b\r\n\tfolded\r\nreceived : c\r\n"
            "Received:d\r\n\r\n.\r\n",
            "554 5.4.6");
    accepted("Received: a\r\nReceived: b\r\nReceived: c\r\n\r\nReceived: body\r\n.\r\n",
             "Received: a\r\nReceived: b\r\nReceived: c\r\n\r\nReceived: body\r\n");
}

static void
test_header_and_message_size(void **state)
{
    struct data_limits small = default_limits;
    char input[4096];
    struct result r;
    int n = 0;

    for (int i = 0; i < 50; i++) /* 25 octets each */
        n += snprintf(input + n, sizeof(input) - (size_t)n, "X-Filler-%02d: 0123456789\r\n", i);
    n += snprintf(input + n, sizeof(input) - (size_t)n, "\r\nbody\r\n.\r\n");
    run(input, (size_t)n, NULL, &r);
    assert_string_equal(r.reply, "552 5.3.4 Header size exceeds the limit");

    small.max_size = 10;
    run("Subject: 0123456789\r\n\r\n.\r\n", 26, &small, &r);
    assert_string_equal(r.reply, "552 5.3.4 Message size exceeds fixed maximum message size");
}

/* Is the message input, which must be accepted, marked TLS-Required: No? */
static bool
says_tls_not_required(const char *input)
{
    struct result r;

    run_str(input, &r);
    assert_true(r.ended);
    if (r.reply != NULL)
        fail_msg("input %s: refused with %s", input, r.reply);
    return r.tls_required_no;
}

static void
test_tls_required_no(void **state)
{
    /* RFC 8689 3: the value "No", any case, whitespace and folding around it */
    assert_true(says_tls_not_required("TLS-Required: No\r\n\r\nb\r\n.\r\n"));
    assert_true(says_tls_not_required("tls-required:no\r\n\r\n.\r\n"));
    assert_true(
        says_tls_not_required("Subject: a\r\nTLS-REQUIRED :\t nO \t\r\nTo: b\r\n\r\n.\r\n"));
    assert_true(says_tls_not_required("TLS-Required:\r\n No\r\n \r\nX: y\r\n\r\n.\r\n"));
    assert_false(says_tls_not_required("TLS-Required: N\r\n\r\n.\r\n"));
    /* the field ends the message's header (no body, no empty line) */
    assert_true(says_tls_not_required("Subject: a\r\nTLS-Required: No\r\n.\r\n"));
    /* dot-stuffed lines are read after unstuffing: ".TLS-Required" is another name */
    assert_false(says_tls_not_required("Subject: a\r\n..TLS-Required: No\r\n\r\n.\r\n"));

    /* anything else is not the field asking for less */
    assert_false(says_tls_not_required("Subject: a\r\n\r\nb\r\n.\r\n"));
    assert_false(says_tls_not_required("TLS-Required: Yes\r\n\r\n.\r\n"));
    assert_false(says_tls_not_required("TLS-Required: Nope\r\n\r\n.\r\n"));
    assert_false(says_tls_not_required("TLS-Required: N o\r\n\r\n.\r\n"));
    assert_false(says_tls_not_required("TLS-Required: No\r\n more\r\n\r\n.\r\n"));
    assert_false(says_tls_not_required("TLS-Required: No (comment)\r\n\r\n.\r\n"));
    assert_false(says_tls_not_required("TLS-Required:\r\n\r\n.\r\n"));
    assert_false(says_tls_not_required("TLS-Required-X: No\r\n\r\n.\r\n"));
    assert_false(says_tls_not_required("X-TLS-Required: No\r\n\r\n.\r\n"));
    assert_false(says_tls_not_required("Subject: TLS-Required: No\r\n\r\n.\r\n"));
    assert_false(says_tls_not_required("Subject: a\r\n TLS-Required: No\r\n\r\n.\r\n"));
    /* only the top-level header section counts, not the body or a part's */
    assert_false(says_tls_not_required("Subject: a\r\n\r\nTLS-Required: No\r\n.\r\n"));
    assert_false(says_tls_not_required("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
                                       "TLS-Required: No\r\n\r\nb\r\n--x--\r\n.\r\n"));
    /* one field saying No is enough, wherever it stands */
    assert_true(says_tls_not_required("TLS-Required: Yes\r\nSubject: a\r\nTLS-Required: No\r\n"
                                      "\r\n.\r\n"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_message),
        cmocka_unit_test(test_dot_unstuffing),
        cmocka_unit_test(test_only_crlf_dot_crlf_ends),
        cmocka_unit_test(test_over_long_line_keeps_its_ending),
        cmocka_unit_test(test_bare_cr_and_lf_fail),
        cmocka_unit_test(test_firewall_strips_own_headers_everywhere),
        cmocka_unit_test(test_firewall_lets_trusted_servers_through),
        cmocka_unit_test(test_malformed_header_lines_refuse),
        cmocka_unit_test(test_nul_in_header_name_refuses),
        cmocka_unit_test(test_leading_fold_refused),
        cmocka_unit_test(test_hop_count_over_whole_section),
        cmocka_unit_test(test_header_and_message_size),
        cmocka_unit_test(test_tls_required_no),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
