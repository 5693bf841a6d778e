/*
 * test_tracking.c — the pure parts of Get-MessageTrackingLog
 * (admin/cmdlet_tracking.h): splitting a line of the tracking log's CSV as
 * logs/csvlog.c writes it, the ISO 8601 date-times of -Start, -End and the
 * rows, and which names are the log's daily files.
 * Must never: touch a file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "admin/cmdlet_tracking.h"

#include <stdio.h>
#include <string.h>

static int
split(const char *text, char **v, size_t max, char *buf, size_t len)
{
    snprintf(buf, len, "%s", text);
    return tracking_csv_split(buf, v, max);
}

static void
test_csv_split(void **state)
{
    char buf[256], *v[8];

    (void)state;
    assert_int_equal(split("a,b,,c", v, 8, buf, sizeof(buf)), 4);
    assert_string_equal(v[0], "a");
    assert_string_equal(v[1], "b");
    assert_string_equal(v[2], "");
    assert_string_equal(v[3], "c");
    /* quoted: commas and "" escapes, as csvlog_field writes them */
    assert_int_equal(split("x,\"Hi, \"\"you\"\"\",\"\",y", v, 8, buf, sizeof(buf)), 4);
    assert_string_equal(v[1], "Hi, \"you\"");
    assert_string_equal(v[2], "");
    assert_string_equal(v[3], "y");
    assert_int_equal(split("\"a\"\"\"", v, 8, buf, sizeof(buf)), 1);
    assert_string_equal(v[0], "a\"");
    /* empty line: one empty field; trailing comma: an empty last field */
    assert_int_equal(split("", v, 8, buf, sizeof(buf)), 1);
    assert_int_equal(split("a,", v, 8, buf, sizeof(buf)), 2);
    assert_string_equal(v[1], "");
    /* malformed */
    assert_int_equal(split("a,\"open", v, 8, buf, sizeof(buf)), -1);
    assert_int_equal(split("\"a\"b,c", v, 8, buf, sizeof(buf)), -1);
    assert_int_equal(split("a\"b", v, 8, buf, sizeof(buf)), -1);
    assert_int_equal(split("\"", v, 8, buf, sizeof(buf)), -1);
    /* too many fields */
    assert_int_equal(split("a,b,c", v, 2, buf, sizeof(buf)), -1);
    assert_int_equal(split("a,b", v, 2, buf, sizeof(buf)), 2);
}

static void
test_time_parse(void **state)
{
    int64_t ms;

    (void)state;
    assert_int_equal(tracking_time_parse("1970-01-01", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(tracking_time_parse("2026-12-06", &ms), 0);
    assert_int_equal(ms, INT64_C(1796515200000));
    assert_int_equal(tracking_time_parse("2026-12-06T10:00:00Z", &ms), 0);
    assert_int_equal(ms, INT64_C(1796515200000) + 36000000);
    assert_int_equal(tracking_time_parse("2026-12-06 10:00", &ms), 0);
    assert_int_equal(ms, INT64_C(1796515200000) + 36000000);
    /* the log's own form */
    assert_int_equal(tracking_time_parse("2026-12-06T10:00:01.234Z", &ms), 0);
    assert_int_equal(ms, INT64_C(1796515200000) + 36001234);
    assert_int_equal(tracking_time_parse("2026-12-06T10:00:01.5", &ms), 0);
    assert_int_equal(ms, INT64_C(1796515200000) + 36001500);
    /* zones */
    assert_int_equal(tracking_time_parse("2026-12-06T11:00:00+01:00", &ms), 0);
    assert_int_equal(ms, INT64_C(1796515200000) + 36000000);
    assert_int_equal(tracking_time_parse("2026-12-06T05:30-0430", &ms), 0);
    assert_int_equal(ms, INT64_C(1796515200000) + 36000000);
    assert_int_equal(tracking_time_parse("2026-12-06T12:00+02", &ms), 0);
    assert_int_equal(ms, INT64_C(1796515200000) + 36000000);
    /* leap days */
    assert_int_equal(tracking_time_parse("2024-02-29", &ms), 0);
    assert_int_equal(tracking_time_parse("2000-02-29", &ms), 0);
    assert_int_equal(tracking_time_parse("2023-03-01", &ms), 0);
    assert_int_equal(ms, INT64_C(1677628800000));
    /* not date-times */
    const char *bad[] = {"",
                         "2026",
                         "2026-12",
                         "2026-13-01",
                         "2026-00-01",
                         "2026-12-00",
                         "2026-12-32",
                         "2023-02-29",
                         "1900-02-29",
                         "2026-12-06T",
                         "2026-12-06T10",
                         "2026-12-06T24:00",
                         "2026-12-06T10:60",
                         "2026-12-06T10:00:60",
                         "2026-12-06T10:00:00.",
                         "2026-12-06T10:00:00Y",
                         "2026-12-06T10:00+25:00",
                         "2026-12-06Z",
                         "2026-12-06 ",
                         "26-12-06",
                         "2026/12/06",
                         "yesterday"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (tracking_time_parse(bad[i], &ms) == 0)
            fail_msg("'%s' parsed", bad[i]);
}

static void
test_file_name(void **state)
{
    int64_t day;
    unsigned long seq;

    (void)state;
    assert_true(tracking_file_name("MSGTRK20261206-1.log", &day, &seq));
    assert_int_equal(day, INT64_C(1796515200000));
    assert_int_equal(seq, 1);
    assert_true(tracking_file_name("MSGTRK20261206-12.log", &day, &seq));
    assert_int_equal(seq, 12);
    const char *bad[] = {
        "MSGTRK20261206-1.log.bak",      ".MSGTRK20261206-1.log.123.4", "MSGTRK2026120-1.log",
        "MSGTRK20261306-1.log",          "MSGTRK20261206.log",          "MSGTRK20261206-.log",
        "MSGTRK20261206-1.LOG",          "RECV20261206-1.log",          "msgtrk20261206-1.log",
        "MSGTRK20261206-1234567890.log", "MSGTRK20261206-1x.log",       ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (tracking_file_name(bad[i], &day, &seq))
            fail_msg("'%s' taken for a log file", bad[i]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_split),
        cmocka_unit_test(test_time_parse),
        cmocka_unit_test(test_file_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
