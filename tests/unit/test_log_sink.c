/*
 * test_log_sink.c — unit tests for lib/log_sink's journal fields: the
 * session id, QUEUE_ID, CONNECTOR and CLIENT of the service's own lines,
 * and none that a client's text (an AUTH user name, an RCPT address, a
 * reply) could forge.
 * Must never: need journald (tests/e2e/test_journal.py talks to the real one).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/log.h"
#include "lib/log_sink.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *
fields(const char *line)
{
    static char out[512];

    log_sink_fields(line, strlen(line), out, sizeof(out));
    return out;
}

static void
test_fields_of_the_service_lines(void **state)
{
    assert_string_equal(
        fields("0006b15e74e86f1f smtp queued id=661FEF8B6611C345 connector=\"Default mail\" "
               "client=127.0.0.1"),
        "SESSION_ID=0006b15e74e86f1f\nQUEUE_ID=661FEF8B6611C345\nCONNECTOR=Default mail\n"
        "CLIENT=127.0.0.1\n");
    assert_string_equal(fields("0006b15e74e86f1f smtp connected connector=\"Inbound\" "
                               "client=[::1]:4711 local=[::1]:25"),
                        "SESSION_ID=0006b15e74e86f1f\nCONNECTOR=Inbound\nCLIENT=[::1]:4711\n");
    assert_string_equal(fields("queue: delivered id=661FEF8B6611C345 to=<a@b.test> relay=x "
                               "reply=\"250 ok\""),
                        "QUEUE_ID=661FEF8B6611C345\n");
    assert_string_equal(fields("postern ready (instance /var/lib/postern, fqdn mail)"), "");
}

static void
test_client_text_forges_no_field(void **state)
{
    /* an AUTH user name, an RCPT address with a quoted local part, a
     * remote server's reply: each after the head, none becomes a field */
    assert_string_equal(fields("0006b15e74e86f1f smtp auth failed connector=\"In\" client=10.0.0.1 "
                               "user=\"x id=FAKE client=6.6.6.6\" failures=1"),
                        "SESSION_ID=0006b15e74e86f1f\nCONNECTOR=In\nCLIENT=10.0.0.1\n");
    assert_string_equal(
        fields("0006b15e74e86f1f smtp rcpt refused connector=\"In\" client=10.0.0.1 "
               "to=<\"a id=FAKE\"@b.test> reply=\"550 id=FAKE\""),
        "SESSION_ID=0006b15e74e86f1f\nCONNECTOR=In\nCLIENT=10.0.0.1\n");
    assert_string_equal(fields("queue: next hop b.test unavailable: 421 id=FAKE client=1.2.3.4"),
                        "");
    assert_string_equal(fields("queue: b.test: 421 id=FAKE"), "");
    assert_string_equal(fields("0006b15e74e86f1f smtp TLS negotiation failed: x id=FAKE "
                               "client=1.2.3.4"),
                        "SESSION_ID=0006b15e74e86f1f\n");
    /* a second id= in the head is not a second field */
    assert_string_equal(fields("x id=A id=B"), "QUEUE_ID=A\n");
    /* control characters never reach a field (they would end it) */
    assert_string_equal(fields("x id=A\x01"
                               "B"),
                        "");
    /* an unterminated quote ends the head */
    assert_string_equal(fields("x connector=\"open client=1.2.3.4"), "");
}

static void
test_small_buffer(void **state)
{
    char out[24];
    const char *line = "0006b15e74e86f1f smtp queued id=661FEF8B6611C345 client=127.0.0.1";

    log_sink_fields(line, strlen(line), out, sizeof(out));
    assert_true(strlen(out) < sizeof(out));
    assert_int_equal(log_sink_fields(line, strlen(line), out, 0), 0);
}

/* A peer's CR, ESC or NUL-less control bytes reach no log as they are. */
static void
test_control_bytes_are_escaped(void **state)
{
    int fds[2], saved = dup(STDERR_FILENO);
    char buf[512];
    ssize_t n;

    assert_int_equal(pipe(fds), 0);
    dup2(fds[1], STDERR_FILENO);
    log_info("reply=\"250 ok\r\x1b[31mforged\x7f\"");
    dup2(saved, STDERR_FILENO);
    close(fds[1]);
    n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    close(saved);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, " info reply=\"250 ok\\x0d\\x1b[31mforged\\x7f\"\n"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_of_the_service_lines),
        cmocka_unit_test(test_client_text_forges_no_field),
        cmocka_unit_test(test_small_buffer),
        cmocka_unit_test(test_control_bytes_are_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
