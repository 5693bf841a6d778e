/*
 * test_dsn.c — delivery status notifications (queue/dsn.c) and the message
 * tracking log (queue/msgtrack.c).
 *
 * DSNs are checked on the wire form (CRLF only, no line over 998 octets,
 * MIME structure and boundaries, the RFC 3464 fields) and once more by an
 * independent parser, Python's email package, so that a report we think is
 * right is also read as a report by someone else. The tracking log is read
 * back and parsed as CSV.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/util.h"
#include "queue/dsn.h"
#include "queue/envelope.h"
#include "logs/msgtrack.h"
#include "smtp/smtp_parse.h"
#include "testlib.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#define MTA "mta.example.net"
#define POSTMASTER "postmaster@example.net"
#define BODY_MARKER "BODY-MARKER-7f3a"
#define LONG_SUBJECT                                                                               \
    "Hello there, this is a rather long subject line that goes on and on so that the report "      \
    "Subject field must be folded over more than one line"

static char *tmpdir;
static char original[128];

/* The content as the queue stores it: postern's own Received: first. */
static void
write_original(const char *path)
{
    FILE *f = fopen(path, "wb");
    char longline[2101];

    assert_non_null(f);
    memset(longline, 'x', sizeof(longline) - 1);
    longline[sizeof(longline) - 1] = '\0';
    fputs("Received: from client.example ([192.0.2.7])\r\n\tby " MTA
          " (postern) with ESMTP id 0006A1B2C3D4E5F6\r\n\t(connector \"Default\");"
          " Fri, 28 Nov 2025 18:30:00 +0000\r\n",
          f);
    fputs("From: Alice <alice@example.org>\r\nTo: bob@example.test, carol@example.test\r\n"
          "Subject: " LONG_SUBJECT "\r\n"
          "Message-ID: <orig-1@example.org>\r\nDate: Fri, 28 Nov 2025 18:29:59 +0000\r\n"
          "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
          f);
    fputs("Hello Bob,\r\n" BODY_MARKER "\r\n--not-a-boundary\r\n", f);
    fprintf(f, "%s\r\n", longline); /* longer than RFC 5322 allows */
    fputs("Bye.\r\n", f);
    fclose(f);
}

static int
setup(void **state)
{
    tmpdir = testlib_mkdtemp("dsn");
    snprintf(original, sizeof(original), "%s/original.eml", tmpdir);
    write_original(original);
    return 0;
}

static int
teardown(void **state)
{
    testlib_rmtree(tmpdir);
    free(tmpdir);
    return 0;
}

static struct envelope *
sample_envelope(void)
{
    struct envelope *env = envelope_new();

    memcpy(env->id, "0006A1B2C3D4E5F6", 17);
    env->received = 1764354600; /* 2025-11-28 18:30:00 UTC */
    env->connector = xstrdup("Default");
    env->client_ip = xstrdup("192.0.2.7");
    env->client_helo = xstrdup("client.example");
    env->from = xstrdup("alice@example.org");
    env->envid = xstrdup("QQ+2B1");
    env->ret = SMTP_RET_UNSPEC;
    env->body = SMTP_BODY_7BIT;
    envelope_add_rcpt(env, "bob@example.test", SMTP_NOTIFY_FAILURE,
                      "rfc822;Bob+2Bfilter@example.test");
    envelope_add_rcpt(env, "carol@example.test", 0, NULL);
    return env;
}

static const struct dsn_rcpt failed_rcpts[] = {
    {"bob@example.test", "rfc822;Bob+2Bfilter@example.test", "5.1.1", "dns; mx.example.test",
     "smtp; 550 5.1.1 <bob@example.test>: Recipient address rejected: User unknown", 1764358200},
    {"carol@example.test", NULL, "5.4.7", NULL, NULL, 0},
};

static size_t
count(const char *hay, size_t len, const char *needle)
{
    size_t n = 0, nl = strlen(needle);
    const char *p = hay, *end = hay + len;

    while ((p = memmem(p, (size_t)(end - p), needle, nl)) != NULL) {
        n++;
        p += nl;
    }
    return n;
}

static bool
contains(const char *s, size_t len, const char *needle)
{
    return memmem(s, len, needle, strlen(needle)) != NULL;
}

/* CRLF everywhere, never a bare CR or LF, no line over 998 octets. */
static void
assert_wire_form(const char *s, size_t len)
{
    size_t col = 0;

    assert_true(len >= 2);
    assert_memory_equal(s + len - 2, "\r\n", 2);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\r') {
            assert_true(i + 1 < len && s[i + 1] == '\n');
            assert_in_range(col, 0, 998);
            col = 0;
            i++;
            continue;
        }
        assert_true(s[i] != '\n');
        assert_true(s[i] != '\0');
        col++;
    }
}

/* The boundary from the top-level Content-Type; checks three parts. */
static char *
assert_mime_structure(const char *s, size_t len)
{
    const char *p = memmem(s, len, "boundary=\"", 10), *q;
    char *boundary, *delim, *close;
    const char *body = memmem(s, len, "\r\n\r\n", 4);

    assert_non_null(p);
    assert_non_null(body);
    assert_true(p < body); /* in the header */
    p += 10;
    q = strchr(p, '"');
    assert_non_null(q);
    boundary = xstrndup(p, (size_t)(q - p));
    assert_in_range(strlen(boundary), 1, 70); /* RFC 2046 5.1.1 */
    delim = xasprintf("\r\n--%s\r\n", boundary);
    close = xasprintf("\r\n--%s--\r\n", boundary);
    assert_int_equal(count(s, len, delim), 3);
    assert_int_equal(count(s, len, close), 1);
    /* nowhere else but the header, and the close delimiter ends the message */
    assert_int_equal(count(s, len, boundary), 5);
    assert_memory_equal(s + len - strlen(close), close, strlen(close));
    free(delim);
    free(close);
    return boundary;
}

/* Part n (1-based) of the report, from its MIME header to the next delimiter. */
static char *
part(const char *s, size_t len, const char *boundary, int n)
{
    char *delim = xasprintf("\r\n--%s", boundary), *out;
    const char *p = s, *end = s + len, *next;

    for (int i = 0; i < n; i++) {
        p = memmem(p, (size_t)(end - p), delim, strlen(delim));
        assert_non_null(p);
        p += strlen(delim) + 2;
    }
    next = memmem(p, (size_t)(end - p), delim, strlen(delim));
    assert_non_null(next);
    out = xstrndup(p, (size_t)(next - p));
    free(delim);
    return out;
}

/* Python's email package must read it as a multipart/report with a parsed
 * message/delivery-status part (one block per message + per recipient). */
static void
assert_python_parses(const char *dsn, size_t len, const char *third_type, int nrcpts,
                     const char *action)
{
    char *path = xasprintf("%s/dsn.eml", tmpdir), *cmd;
    int rc;

    testlib_write_file(path, dsn, len);
    cmd = xasprintf(
        "/usr/bin/python3 -c '\n"
        "import email, email.policy, sys\n"
        "with open(sys.argv[1], \"rb\") as f:\n"
        "    m = email.message_from_binary_file(f, policy=email.policy.default)\n"
        "assert m.get_content_type() == \"multipart/report\", m.get_content_type()\n"
        "assert m.get_param(\"report-type\") == \"delivery-status\"\n"
        "parts = list(m.iter_parts())\n"
        "assert len(parts) == 3, len(parts)\n"
        "assert parts[0].get_content_type() == \"text/plain\"\n"
        "assert parts[1].get_content_type() == \"message/delivery-status\"\n"
        "blocks = parts[1].get_payload()\n"
        "assert len(blocks) == 1 + int(sys.argv[3]), len(blocks)\n"
        "assert blocks[0][\"Reporting-MTA\"] == \"dns; " MTA "\", blocks[0][\"Reporting-MTA\"]\n"
        "assert blocks[0][\"Arrival-Date\"] is not None\n"
        "for b in blocks[1:]:\n"
        "    assert b[\"Action\"] == sys.argv[4], b[\"Action\"]\n"
        "    assert b[\"Final-Recipient\"].startswith(\"rfc822; \")\n"
        "    assert b[\"Status\"]\n"
        "assert parts[2].get_content_type() == sys.argv[2], parts[2].get_content_type()\n"
        "if sys.argv[2] == \"message/rfc822\":\n"
        "    inner = parts[2].get_payload(0)\n"
        "    assert inner[\"Message-ID\"] == \"<orig-1@example.org>\"\n"
        "    assert \"" BODY_MARKER "\" in inner.get_content()\n"
        "assert m[\"Auto-Submitted\"] == \"auto-replied\"\n"
        "assert str(m[\"Subject\"]).endswith(\": " LONG_SUBJECT "\"), str(m[\"Subject\"])\n"
        "for p in m.walk():\n"
        "    assert not p.defects, p.defects\n"
        "' '%s' '%s' %d '%s'",
        path, third_type, nrcpts, action);
    rc = system(cmd);
    assert_true(WIFEXITED(rc));
    assert_int_equal(WEXITSTATUS(rc), 0);
    free(cmd);
    free(path);
}

/* dsn_build with the original at path (-1 when it cannot be opened). */
static char *
dsn_build_path(enum dsn_kind kind, const char *mta, const char *postmaster,
               const struct envelope *env, const struct dsn_rcpt *rcpts, size_t nrcpts,
               const char *path, size_t max_attach, time_t now, time_t retry_until, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), e;
    char *out =
        dsn_build(kind, mta, postmaster, env, rcpts, nrcpts, fd, max_attach, now, retry_until, len);

    e = errno;
    if (fd >= 0)
        close(fd);
    errno = e;
    return out;
}

static void
test_failure_report(void **state)
{
    struct envelope *env = sample_envelope();
    size_t len;
    char *dsn = dsn_build_path(DSN_FAILURE, MTA, POSTMASTER, env, failed_rcpts, 2, original,
                               1 << 20, 1764358300, 0, &len);
    char *boundary, *p1, *p2, *p3;

    assert_non_null(dsn);
    assert_int_equal(strlen(dsn), len);
    assert_wire_form(dsn, len);
    boundary = assert_mime_structure(dsn, len);

    /* header */
    assert_true(contains(dsn, len, "From: \"Mail Delivery System\" <" POSTMASTER ">\r\n"));
    assert_true(contains(dsn, len, "\r\nTo: <alice@example.org>\r\n"));
    assert_true(contains(dsn, len, "\r\nSubject: Undeliverable: Hello there,"));
    p1 = strstr(dsn, "\r\nSubject: ") + 2; /* folded (RFC 5322 2.2.3) */
    assert_in_range(strstr(p1, "\r\n") - p1, 1, 78);
    assert_int_equal(strstr(p1, "\r\n")[2], ' ');
    assert_true(contains(dsn, len, "\r\nDate: Fri, 28 Nov 2025 19:31:40 +0000\r\n"));
    assert_true(contains(dsn, len, "\r\nMessage-ID: <"));
    assert_true(contains(dsn, len, "@" MTA ">\r\n"));
    assert_true(contains(dsn, len, "\r\nIn-Reply-To: <orig-1@example.org>\r\n"));
    assert_true(contains(dsn, len, "\r\nAuto-Submitted: auto-replied\r\n"));
    assert_true(contains(dsn, len, "\r\nMIME-Version: 1.0\r\n"));
    assert_true(
        contains(dsn, len, "\r\nContent-Type: multipart/report; report-type=delivery-status;"));

    /* 1: plain words */
    p1 = part(dsn, len, boundary, 1);
    assert_true(strstr(p1, "Content-Type: text/plain; charset=us-ascii\r\n") == p1);
    assert_non_null(strstr(p1, "bob@example.test"));
    assert_non_null(strstr(p1, "(originally addressed to Bob+filter@example.test)"));
    assert_non_null(strstr(p1, "couldn't be found"));
    assert_non_null(strstr(p1, "mx.example.test said: 550 5.1.1"));
    assert_non_null(strstr(p1, "carol@example.test"));

    /* 2: machine-readable */
    p2 = part(dsn, len, boundary, 2);
    assert_true(strstr(p2, "Content-Type: message/delivery-status\r\n\r\n") == p2);
    assert_non_null(strstr(p2, "\r\nOriginal-Envelope-Id: QQ+2B1\r\n"));
    assert_non_null(strstr(p2, "\r\nReporting-MTA: dns; " MTA "\r\n"));
    assert_non_null(strstr(p2, "\r\nArrival-Date: Fri, 28 Nov 2025 18:30:00 +0000\r\n"));
    assert_non_null(strstr(p2, "\r\n\r\nOriginal-Recipient: rfc822;Bob+2Bfilter@example.test\r\n"
                               "Final-Recipient: rfc822; bob@example.test\r\n"
                               "Action: failed\r\nStatus: 5.1.1\r\n"
                               "Remote-MTA: dns; mx.example.test\r\n"
                               "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.test>:"));
    assert_non_null(strstr(p2, "Last-Attempt-Date: Fri, 28 Nov 2025 19:30:00 +0000\r\n"));
    assert_non_null(strstr(p2, "\r\n\r\nFinal-Recipient: rfc822; carol@example.test\r\n"
                               "Action: failed\r\nStatus: 5.4.7\r\n"));
    assert_null(strstr(p2, "Will-Retry-Until"));

    /* 3: the whole original, Received: included */
    p3 = part(dsn, len, boundary, 3);
    assert_true(strstr(p3, "Content-Type: message/rfc822\r\n") == p3);
    assert_non_null(strstr(p3, "\r\n\r\nReceived: from client.example ([192.0.2.7])\r\n"));
    assert_non_null(strstr(p3, "\r\nMessage-ID: <orig-1@example.org>\r\n"));
    assert_non_null(strstr(p3, "\r\n" BODY_MARKER "\r\n"));
    assert_non_null(strstr(p3, "\r\nBye.\r\n"));

    assert_python_parses(dsn, len, "message/rfc822", 2, "failed");
    free(p1);
    free(p2);
    free(p3);
    free(boundary);
    free(dsn);
    envelope_free(env);
}

static void
assert_headers_only(const char *dsn, size_t len)
{
    char *boundary = assert_mime_structure(dsn, len), *p3;

    assert_wire_form(dsn, len);
    p3 = part(dsn, len, boundary, 3);
    assert_true(strstr(p3, "Content-Type: text/rfc822-headers\r\n") == p3);
    assert_non_null(strstr(p3, "\r\nReceived: from client.example"));
    assert_non_null(strstr(p3, "\r\nSubject: Hello there"));
    assert_non_null(strstr(p3, "\r\nContent-Type: text/plain; charset=us-ascii\r\n"));
    assert_null(strstr(dsn, BODY_MARKER));
    assert_null(strstr(dsn, "Hello Bob"));
    assert_python_parses(dsn, len, "text/rfc822-headers", 2, "failed");
    free(p3);
    free(boundary);
}

static void
test_ret_hdrs(void **state)
{
    struct envelope *env = sample_envelope();
    size_t len;
    char *dsn;

    env->ret = SMTP_RET_HDRS;
    dsn = dsn_build_path(DSN_FAILURE, MTA, POSTMASTER, env, failed_rcpts, 2, original, 1 << 20,
                         1764358300, 0, &len);
    assert_non_null(dsn);
    assert_headers_only(dsn, len);
    assert_null(strstr(dsn, "only its header is attached")); /* asked for, not explained */
    free(dsn);
    envelope_free(env);
}

static void
test_too_large(void **state)
{
    struct envelope *env = sample_envelope();
    size_t len;
    char *dsn;

    env->ret = SMTP_RET_FULL;
    dsn = dsn_build_path(DSN_FAILURE, MTA, POSTMASTER, env, failed_rcpts, 2, original, 200,
                         1764358300, 0, &len);
    assert_non_null(dsn);
    assert_headers_only(dsn, len);
    assert_non_null(strstr(dsn, "larger than 200 bytes"));
    free(dsn);
    envelope_free(env);
}

static void
test_delay_report(void **state)
{
    struct envelope *env = sample_envelope();
    struct dsn_rcpt r = {"bob@example.test",
                         NULL,
                         "4.4.1",
                         "dns; mx.example.test",
                         "smtp; 421 4.4.1 Try again later",
                         1764358200};
    size_t len;
    char *dsn = dsn_build_path(DSN_DELAY, MTA, POSTMASTER, env, &r, 1, original, 1 << 20,
                               1764358300, 1764527400, &len);
    char *boundary;

    assert_non_null(dsn);
    assert_wire_form(dsn, len);
    boundary = assert_mime_structure(dsn, len);
    assert_non_null(strstr(dsn, "\r\nSubject: Delivery delayed: Hello there"));
    assert_non_null(strstr(dsn, "\r\nAction: delayed\r\nStatus: 4.4.1\r\n"));
    assert_non_null(strstr(dsn, "\r\nWill-Retry-Until: Sun, 30 Nov 2025 18:30:00 +0000\r\n"));
    assert_non_null(strstr(dsn, "keep trying to deliver the message until Sun, 30 Nov 2025"));
    assert_python_parses(dsn, len, "message/rfc822", 1, "delayed");
    free(boundary);
    free(dsn);
    envelope_free(env);
}

static void
test_success_report(void **state)
{
    struct envelope *env = sample_envelope();
    struct dsn_rcpt r = {"bob@example.test",           NULL,      "2.0.0", "dns; mx.example.test",
                         "smtp; 250 2.0.0 Ok: queued", 1764358200};
    size_t len;
    char *dsn = dsn_build_path(DSN_SUCCESS, MTA, POSTMASTER, env, &r, 1, original, 1 << 20,
                               1764358300, 0, &len);

    assert_non_null(dsn);
    assert_wire_form(dsn, len);
    free(assert_mime_structure(dsn, len));
    assert_non_null(strstr(dsn, "\r\nSubject: Delivered: Hello there"));
    assert_non_null(strstr(dsn, "\r\nAction: delivered\r\nStatus: 2.0.0\r\n"));
    assert_null(strstr(dsn, "Will-Retry-Until"));
    /* an anonymous sender's address was never verified: header only */
    assert_python_parses(dsn, len, "text/rfc822-headers", 1, "delivered");
    free(dsn);

    /* an authenticated sender gets the whole message back */
    env->auth_user = xstrdup("alice");
    dsn = dsn_build_path(DSN_SUCCESS, MTA, POSTMASTER, env, &r, 1, original, 1 << 20, 1764358300, 0,
                         &len);
    assert_non_null(dsn);
    assert_python_parses(dsn, len, "message/rfc822", 1, "delivered");
    free(dsn);
    envelope_free(env);
}

/* A subject in encoded words is kept as it is; raw 8-bit octets are kept
 * only when the original came with SMTPUTF8 (RFC 6532). */
static void
test_subjects(void **state)
{
    struct envelope *env = sample_envelope();
    char *path = xasprintf("%s/utf8.eml", tmpdir), *dsn;
    size_t len;

    testlib_write_text(path, "Received: from x\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= "
                             "\xc3\xa9t\xc3\xa9\r\n\r\nbody\r\n");
    dsn = dsn_build_path(DSN_FAILURE, MTA, POSTMASTER, env, failed_rcpts, 1, path, 1 << 20,
                         1764358300, 0, &len);
    assert_non_null(dsn);
    assert_non_null(
        strstr(dsn, "\r\nSubject: Undeliverable: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= ??t??\r\n"));
    free(dsn);
    env->smtputf8 = true;
    dsn = dsn_build_path(DSN_FAILURE, MTA, POSTMASTER, env, failed_rcpts, 1, path, 1 << 20,
                         1764358300, 0, &len);
    assert_non_null(dsn);
    assert_non_null(strstr(
        dsn, "\r\nSubject: Undeliverable: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= \xc3\xa9t\xc3\xa9\r\n"));
    assert_wire_form(dsn, len);
    free(dsn);
    free(path);
    envelope_free(env);
}

/* Regression (fuzz/regressions/dsn): a damaged envelope's arrival time
 * that gmtime_r cannot convert made the date index outside its tables. */
static void
test_out_of_range_times(void **state)
{
    struct envelope *env = sample_envelope();
    struct dsn_rcpt r = failed_rcpts[0];
    size_t len;
    char *dsn;

    env->received = (time_t)0x3b00000000000000LL;
    r.last_attempt = (time_t)-0x3b00000000000000LL;
    dsn = dsn_build_path(DSN_DELAY, MTA, POSTMASTER, env, &r, 1, original, 1 << 20, 1764358300,
                         (time_t)0x7fffffffffffffffLL, &len);
    assert_non_null(dsn);
    assert_wire_form(dsn, len);
    assert_non_null(strstr(dsn, "\r\nArrival-Date: Thu, 1 Jan 1970 00:00:00 +0000\r\n"));
    assert_non_null(strstr(dsn, "\r\nLast-Attempt-Date: Thu, 1 Jan 1970 00:00:00 +0000\r\n"));
    assert_non_null(strstr(dsn, "\r\nWill-Retry-Until: Thu, 1 Jan 1970 00:00:00 +0000\r\n"));
    free(dsn);
    envelope_free(env);
}

static void
test_unreadable_or_null_sender(void **state)
{
    struct envelope *env = sample_envelope();
    size_t len;

    assert_null(dsn_build_path(DSN_FAILURE, MTA, POSTMASTER, env, failed_rcpts, 2, "/nonexistent/x",
                               1 << 20, 1764358300, 0, &len));
    free(env->from);
    env->from = xstrdup("");
    assert_null(dsn_build_path(DSN_FAILURE, MTA, POSTMASTER, env, failed_rcpts, 2, original,
                               1 << 20, 1764358300, 0, &len));
    envelope_free(env);
}

static void
test_dsn_wanted(void **state)
{
    struct envelope *env = envelope_new();
    struct envelope_rcpt *r;

    env->from = xstrdup("alice@example.org");
    envelope_add_rcpt(env, "a@example.test", 0, NULL);
    envelope_add_rcpt(env, "b@example.test", SMTP_NOTIFY_NEVER, NULL);
    envelope_add_rcpt(env, "c@example.test", SMTP_NOTIFY_SUCCESS, NULL);
    envelope_add_rcpt(env, "d@example.test", SMTP_NOTIFY_FAILURE, NULL);
    envelope_add_rcpt(env, "e@example.test", SMTP_NOTIFY_DELAY, NULL);
    envelope_add_rcpt(env, "f@example.test",
                      SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY, NULL);
    r = env->rcpts;

    /* absent: failure and delay, not success */
    assert_true(dsn_wanted(env, &r[0], DSN_FAILURE));
    assert_true(dsn_wanted(env, &r[0], DSN_DELAY));
    assert_false(dsn_wanted(env, &r[0], DSN_SUCCESS));
    /* NEVER */
    assert_false(dsn_wanted(env, &r[1], DSN_FAILURE));
    assert_false(dsn_wanted(env, &r[1], DSN_DELAY));
    assert_false(dsn_wanted(env, &r[1], DSN_SUCCESS));
    /* SUCCESS only */
    assert_false(dsn_wanted(env, &r[2], DSN_FAILURE));
    assert_false(dsn_wanted(env, &r[2], DSN_DELAY));
    assert_true(dsn_wanted(env, &r[2], DSN_SUCCESS));
    /* FAILURE only */
    assert_true(dsn_wanted(env, &r[3], DSN_FAILURE));
    assert_false(dsn_wanted(env, &r[3], DSN_DELAY));
    assert_false(dsn_wanted(env, &r[3], DSN_SUCCESS));
    /* DELAY only */
    assert_false(dsn_wanted(env, &r[4], DSN_FAILURE));
    assert_true(dsn_wanted(env, &r[4], DSN_DELAY));
    assert_false(dsn_wanted(env, &r[4], DSN_SUCCESS));
    /* all three */
    assert_true(dsn_wanted(env, &r[5], DSN_FAILURE));
    assert_true(dsn_wanted(env, &r[5], DSN_DELAY));
    assert_true(dsn_wanted(env, &r[5], DSN_SUCCESS));

    /* the null sender never gets a report, whatever was asked */
    free(env->from);
    env->from = xstrdup("");
    for (size_t i = 0; i < env->nrcpts; i++) {
        assert_false(dsn_wanted(env, &r[i], DSN_FAILURE));
        assert_false(dsn_wanted(env, &r[i], DSN_DELAY));
        assert_false(dsn_wanted(env, &r[i], DSN_SUCCESS));
    }
    envelope_free(env);
}

/* ---- message tracking log ---------------------------------------------- */

/* Splits one CSV line (RFC 4180 quoting) into at most max fields. */
static size_t
csv_split(const char *line, char **fields, size_t max)
{
    size_t n = 0;
    const char *p = line;

    for (;;) {
        char *out = xmalloc(strlen(line) + 1), *o = out;
        if (*p == '"') {
            p++;
            for (;;) {
                assert_true(*p != '\0'); /* unterminated quote */
                if (*p == '"' && p[1] == '"') {
                    *o++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *o++ = *p++;
                }
            }
        } else {
            while (*p && *p != ',')
                *o++ = *p++;
        }
        *o = '\0';
        assert_true(n < max);
        fields[n++] = out;
        if (*p == '\0')
            break;
        assert_true(*p == ',');
        p++;
    }
    return n;
}

static char *
tracking_file(const char *logs)
{
    char *dir = xasprintf("%s/MessageTracking", logs), *path = NULL;
    DIR *d = opendir(dir);
    struct dirent *de;
    struct stat st;

    assert_non_null(d);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0750);
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "MSGTRK", 6) != 0)
            continue;
        assert_null(path); /* exactly one file */
        assert_int_equal(strlen(de->d_name), strlen("MSGTRKyyyymmdd-1.log"));
        assert_string_equal(de->d_name + 14, "-1.log");
        path = xasprintf("%s/%s", dir, de->d_name);
    }
    closedir(d);
    assert_non_null(path);
    free(dir);
    return path;
}

static void
test_msgtrack(void **state)
{
    char *logs = xasprintf("%s/logs", tmpdir), *path, *text, *line, *save, *fields[32];
    const char *rcpts[] = {"bob@example.test", "carol@example.test"};
    const char *status[] = {"250 2.1.5 OK", "250 2.1.5 OK"};
    struct msgtrack_event ev = {
        .client_ip = "192.0.2.7",
        .client_hostname = "client.example",
        .server_ip = "198.51.100.1",
        .server_hostname = MTA,
        .source_context = "08DC1234, Default mail",
        .connector_id = "Default",
        .source = "SMTP",
        .event_id = "RECEIVE",
        .internal_message_id = "0006A1B2C3D4E5F6",
        .message_id = "<orig-1@example.org>",
        .recipients = rcpts,
        .nrecipients = 2,
        .recipient_status = status,
        .total_bytes = 1234,
        .subject = "Re: \"quoted\", with comma\r\nand a line break",
        .sender = "alice@example.org",
        .return_path = "alice@example.org",
        .message_info = "2025-11-28T18:30:00.000Z;SRV=" MTA ":TOTAL=0",
    };
    struct msgtrack *mt;
    size_t n, nlines = 0, nhash = 0;

    for (int round = 0; round < 2; round++) {
        /* the second round reopens the same day's file: no second header */
        mt = msgtrack_open(logs);
        assert_non_null(mt);
        msgtrack_write(mt, &ev);
        ev.event_id = "DELIVER";
        ev.source = "STOREDRIVER";
        ev.nrecipients = 1;
        ev.recipient_status = NULL;
        ev.subject = "plain";
        msgtrack_write(mt, &ev);
        msgtrack_flush(mt);
        msgtrack_close(mt);
        ev.event_id = "RECEIVE";
        ev.source = "SMTP";
        ev.nrecipients = 2;
        ev.recipient_status = status;
        ev.subject = "Re: \"quoted\", with comma\r\nand a line break";
    }

    path = tracking_file(logs);
    text = testlib_read_file(path, NULL);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') {
            assert_int_equal(nlines, 0); /* headers only at the top */
            switch (nhash++) {
            case 0:
                assert_string_equal(line, "#Software: postern");
                break;
            case 1:
                assert_true(strncmp(line, "#Version: ", 10) == 0);
                break;
            case 2:
                assert_string_equal(line, "#Log-type: Message Tracking Log");
                break;
            case 3:
                assert_true(strncmp(line, "#Date: ", 7) == 0);
                break;
            case 4:
                assert_string_equal(
                    line, "#Fields: date-time,client-ip,client-hostname,server-ip,"
                          "server-hostname,source-context,connector-id,source,event-id,"
                          "internal-message-id,message-id,recipient-address,recipient-status,"
                          "total-bytes,recipient-count,related-recipient-address,reference,"
                          "message-subject,sender-address,return-path,message-info");
                break;
            default:
                fail_msg("unexpected header line %s", line);
            }
            continue;
        }
        n = csv_split(line, fields, 32);
        assert_int_equal(n, 21);
        /* 2025-11-28T18:30:00.123Z */
        assert_int_equal(strlen(fields[0]), 24);
        assert_int_equal(fields[0][10], 'T');
        assert_int_equal(fields[0][19], '.');
        assert_int_equal(fields[0][23], 'Z');
        assert_string_equal(fields[1], "192.0.2.7");
        assert_string_equal(fields[2], "client.example");
        assert_string_equal(fields[3], "198.51.100.1");
        assert_string_equal(fields[4], MTA);
        assert_string_equal(fields[5], "08DC1234, Default mail");
        assert_string_equal(fields[6], "Default");
        assert_string_equal(fields[9], "0006A1B2C3D4E5F6");
        assert_string_equal(fields[10], "<orig-1@example.org>");
        assert_string_equal(fields[13], "1234");
        assert_string_equal(fields[15], "");
        assert_string_equal(fields[16], "");
        assert_string_equal(fields[18], "alice@example.org");
        assert_string_equal(fields[19], "alice@example.org");
        assert_string_equal(fields[20], "2025-11-28T18:30:00.000Z;SRV=" MTA ":TOTAL=0");
        if (nlines % 2 == 0) {
            assert_string_equal(fields[7], "SMTP");
            assert_string_equal(fields[8], "RECEIVE");
            assert_string_equal(fields[11], "bob@example.test;carol@example.test");
            assert_string_equal(fields[12], "250 2.1.5 OK;250 2.1.5 OK");
            assert_string_equal(fields[14], "2");
            assert_string_equal(fields[17], "Re: \"quoted\", with commaand a line break");
        } else {
            assert_string_equal(fields[7], "STOREDRIVER");
            assert_string_equal(fields[8], "DELIVER");
            assert_string_equal(fields[11], "bob@example.test");
            assert_string_equal(fields[12], "");
            assert_string_equal(fields[14], "1");
            assert_string_equal(fields[17], "plain");
        }
        for (size_t i = 0; i < n; i++)
            free(fields[i]);
        nlines++;
    }
    assert_int_equal(nhash, 5);
    assert_int_equal(nlines, 4);
    free(text);
    free(path);
    free(logs);
}

int
main(void)
{
    const struct CMUnitTest dsn_tests[] = {
        cmocka_unit_test(test_failure_report),
        cmocka_unit_test(test_ret_hdrs),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_delay_report),
        cmocka_unit_test(test_success_report),
        cmocka_unit_test(test_subjects),
        cmocka_unit_test(test_unreadable_or_null_sender),
        cmocka_unit_test(test_out_of_range_times),
        cmocka_unit_test(test_dsn_wanted),
    };
    const struct CMUnitTest msgtrack_tests[] = {
        cmocka_unit_test(test_msgtrack),
    };
    int failed = 0;

    failed += cmocka_run_group_tests_name("dsn", dsn_tests, setup, teardown);
    failed += cmocka_run_group_tests_name("msgtrack", msgtrack_tests, setup, teardown);
    return failed;
}
