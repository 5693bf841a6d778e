/*
 * test_metrics.c — unit tests for lib/metrics.c (the registry and its text
 * exposition) and lib/metrics_catalog.c (which process owns which family):
 * exact output, escaping, label cleaning, the cardinality cap, histograms,
 * gauges set anew, and counts from several threads; and
 * receive/metrics_request.c, the judgement of a scrape's HTTP request.
 * Must never: depend on the network, the clock's value or the locale.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/metrics.h"
#include "lib/metrics_catalog.h"
#include "lib/strbuf.h"
#include "receive/metrics_http.h"
#include "receive/metrics_request.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double buckets[] = {0.5, 1, 2.5};

static const struct metric_def defs[] = {
    {"t_requests_total", "Requests, by code.", METRIC_COUNTER, {"code", "path"}, NULL, 0},
    {"t_temperature_celsius",
     "A gauge\\with \"quotes\"\nand a newline.",
     METRIC_GAUGE,
     {NULL},
     NULL,
     0},
    {"t_latency_seconds", "Latency.", METRIC_HISTOGRAM, {"op"}, buckets, 3},
    {"t_queue", "Per queue.", METRIC_GAUGE, {"queue"}, NULL, 0},
};
enum { F_REQ, F_TEMP, F_LAT, F_QUEUE };

static char *
render(struct metrics *m)
{
    struct strbuf b = {0};

    metrics_render(m, &b);
    return strbuf_take(&b);
}

static void
test_counter_and_unlabelled_gauge(void **state)
{
    struct metrics *m = metrics_new(defs, 2, 100);
    char *text;

    metrics_add(m, F_REQ, (const char *[]){"200", "/metrics"}, 1);
    metrics_add(m, F_REQ, (const char *[]){"200", "/metrics"}, 2);
    metrics_add(m, F_REQ, (const char *[]){"404", "/"}, 1);
    metrics_add(m, F_REQ, (const char *[]){"404", "/"}, -5);    /* counters never go down */
    metrics_observe(m, F_REQ, (const char *[]){"404", "/"}, 1); /* not a histogram */
    text = render(m);
    assert_string_equal(text, "# HELP t_requests_total Requests, by code.\n"
                              "# TYPE t_requests_total counter\n"
                              "t_requests_total{code=\"200\",path=\"/metrics\"} 3\n"
                              "t_requests_total{code=\"404\",path=\"/\"} 1\n"
                              "# HELP t_temperature_celsius A gauge\\\\with \"quotes\"\\nand a "
                              "newline.\n"
                              "# TYPE t_temperature_celsius gauge\n"
                              "t_temperature_celsius 0\n");
    free(text);
    metrics_set(m, F_TEMP, NULL, -1.25);
    text = render(m);
    assert_non_null(strstr(text, "\nt_temperature_celsius -1.25\n"));
    free(text);
    metrics_set(m, F_TEMP, NULL, 1.0 / 0.0);
    text = render(m);
    assert_non_null(strstr(text, "\nt_temperature_celsius +Inf\n"));
    free(text);
    metrics_set(m, F_TEMP, NULL, 1700000000.5);
    text = render(m);
    assert_non_null(strstr(text, "\nt_temperature_celsius 1700000000.5\n"));
    free(text);
    metrics_set(m, F_TEMP, NULL, 0.1);
    text = render(m);
    assert_non_null(strstr(text, "\nt_temperature_celsius 0.1\n"));
    free(text);
    metrics_free(m);
}

static void
test_escaping(void **state)
{
    struct metrics *m = metrics_new(defs, 1, 100);
    struct strbuf b = {0};
    char *text;

    metrics_escape_value(&b, "a\\b\"c\nd");
    text = strbuf_take(&b);
    assert_string_equal(text, "a\\\\b\\\"c\\nd");
    free(text);
    metrics_add(m, F_REQ, (const char *[]){"x\"y", "C:\\dir\nnext"}, 1);
    text = render(m);
    assert_non_null(
        strstr(text, "t_requests_total{code=\"x\\\"y\",path=\"C:\\\\dir\\nnext\"} 1\n"));
    free(text);
    metrics_free(m);
}

/* Control characters and broken UTF-8 become '?'; long values are cut at
 * a character; NULL is "". */
static void
test_label_cleaning(void **state)
{
    struct metrics *m = metrics_new(defs, 1, 100);
    char long_value[400], expect[300], *text, *line;

    metrics_add(m, F_REQ, (const char *[]){"a\rb\tc\x7f", "\xff\xc3 ok \xc3\xa9"}, 1);
    metrics_add(m, F_REQ, (const char *[]){NULL, ""}, 1);
    /* 199 ASCII bytes, then a 2-byte character that would end at byte 201 */
    memset(long_value, 'x', 199);
    memcpy(long_value + 199, "\xc3\xa9yyyy", 7);
    metrics_add(m, F_REQ, (const char *[]){long_value, "long"}, 1);
    text = render(m);
    assert_non_null(strstr(text, "{code=\"a?b?c?\",path=\"?? ok \xc3\xa9\"} 1\n"));
    assert_non_null(strstr(text, "{code=\"\",path=\"\"} 1\n"));
    memset(expect, 'x', 199);
    snprintf(expect + 199, sizeof(expect) - 199, "\",path=\"long\"} 1\n");
    line = strstr(text, "{code=\"xxx");
    assert_non_null(line);
    assert_string_equal(line + strlen("{code=\""), expect);
    free(text);
    metrics_free(m);
}

/* A flood of distinct label values: the family stops growing at the cap,
 * and everything beyond it is counted in one "other" series. */
static void
test_cardinality_cap(void **state)
{
    struct metrics *m = metrics_new(defs, 4, 3);
    char name[32], *text;

    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "d%d.example", i);
        metrics_add(m, F_REQ, (const char *[]){"250", name}, 1);
        metrics_add(m, F_QUEUE, (const char *[]){name}, 1);
    }
    assert_int_equal(metrics_count(m, F_REQ), 4);
    assert_int_equal(metrics_count(m, F_QUEUE), 4);
    /* a series already known still counts under its own values */
    metrics_add(m, F_REQ, (const char *[]){"250", "d1.example"}, 1);
    text = render(m);
    assert_non_null(strstr(text, "t_requests_total{code=\"250\",path=\"d0.example\"} 1\n"));
    assert_non_null(strstr(text, "t_requests_total{code=\"250\",path=\"d1.example\"} 2\n"));
    assert_non_null(strstr(text, "t_requests_total{code=\"other\",path=\"other\"} 997\n"));
    assert_non_null(strstr(text, "t_queue{queue=\"other\"} 997\n"));
    assert_null(strstr(text, "d3.example"));
    free(text);
    /* cleared, the family has room again */
    metrics_clear(m, F_QUEUE);
    assert_int_equal(metrics_count(m, F_QUEUE), 0);
    metrics_set(m, F_QUEUE, (const char *[]){"new.example"}, 5);
    assert_int_equal(metrics_count(m, F_QUEUE), 1);
    metrics_free(m);
}

static void
test_histogram(void **state)
{
    struct metrics *m = metrics_new(defs, 3, 100);
    char *text, *h;

    metrics_observe(m, F_LAT, (const char *[]){"commit"}, 0.25);
    metrics_observe(m, F_LAT, (const char *[]){"commit"}, 0.5); /* le is inclusive */
    metrics_observe(m, F_LAT, (const char *[]){"commit"}, 2);
    metrics_observe(m, F_LAT, (const char *[]){"commit"}, 10);
    metrics_add(m, F_LAT, (const char *[]){"commit"}, 1); /* not a counter */
    text = render(m);
    h = strstr(text, "# HELP t_latency_seconds");
    assert_non_null(h);
    assert_string_equal(h, "# HELP t_latency_seconds Latency.\n"
                           "# TYPE t_latency_seconds histogram\n"
                           "t_latency_seconds_bucket{op=\"commit\",le=\"0.5\"} 2\n"
                           "t_latency_seconds_bucket{op=\"commit\",le=\"1\"} 2\n"
                           "t_latency_seconds_bucket{op=\"commit\",le=\"2.5\"} 3\n"
                           "t_latency_seconds_bucket{op=\"commit\",le=\"+Inf\"} 4\n"
                           "t_latency_seconds_sum{op=\"commit\"} 12.75\n"
                           "t_latency_seconds_count{op=\"commit\"} 4\n");
    free(text);
    metrics_free(m);
}

static void
test_gauge_max(void **state)
{
    struct metrics *m = metrics_new(defs, 4, 100);
    char *text;

    metrics_max(m, F_QUEUE, (const char *[]){"b.test"}, -3); /* a new series takes v */
    metrics_max(m, F_QUEUE, (const char *[]){"c.test"}, 40);
    metrics_max(m, F_QUEUE, (const char *[]){"c.test"}, 10);
    metrics_max(m, F_QUEUE, (const char *[]){"c.test"}, 70);
    metrics_add(m, F_QUEUE, (const char *[]){"d.test"}, 2);
    metrics_add(m, F_QUEUE, (const char *[]){"d.test"}, -1); /* a gauge may go down */
    text = render(m);
    assert_non_null(strstr(text, "t_queue{queue=\"b.test\"} -3\n"));
    assert_non_null(strstr(text, "t_queue{queue=\"c.test\"} 70\n"));
    assert_non_null(strstr(text, "t_queue{queue=\"d.test\"} 1\n"));
    free(text);
    metrics_free(m);
}

static struct metrics *shared;

static void *
adder(void *arg)
{
    for (int i = 0; i < 20000; i++) {
        metrics_add(shared, F_REQ, (const char *[]){"250", (const char *)arg}, 1);
        metrics_observe(shared, F_LAT, (const char *[]){"x"}, 0.75);
    }
    return NULL;
}

static void
test_threads(void **state)
{
    pthread_t t[4];
    char *text;

    shared = metrics_new(defs, 3, 100);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, adder, i % 2 ? "odd" : "even"), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    text = render(shared);
    assert_non_null(strstr(text, "{code=\"250\",path=\"odd\"} 40000\n"));
    assert_non_null(strstr(text, "{code=\"250\",path=\"even\"} 40000\n"));
    assert_non_null(strstr(text, "t_latency_seconds_count{op=\"x\"} 80000\n"));
    free(text);
    metrics_free(shared);
}

/* The queue process's registry has its families only, each once; the
 * smtp process's families (and calls before any registry) do nothing. */
static void
test_catalog_roles(void **state)
{
    struct strbuf b = {0};
    char *text, *p;

    metric_inc(MET_DELIVERIES, METRIC_L("Out", "delivered")); /* no registry yet */
    metrics_process_start(PROC_QUEUE);
    metric_inc(MET_SMTP_SESSIONS, METRIC_L("Default", "quit"));
    metric_inc(MET_DELIVERIES, METRIC_L("Out", "delivered"));
    metric_observe(MET_QUEUE_COMMIT_SECONDS, NULL, 0.003);
    metrics_process_render(&b);
    text = strbuf_take(&b);
    assert_null(strstr(text, "postern_smtp_sessions_total"));
    assert_null(strstr(text, "postern_build_info"));
    assert_non_null(
        strstr(text, "\npostern_deliveries_total{connector=\"Out\",result=\"delivered\"} 1\n"));
    assert_non_null(strstr(text, "\npostern_queue_commit_duration_seconds_count 1\n"));
    assert_non_null(
        strstr(text, "\npostern_queue_commit_duration_seconds_bucket{le=\"0.005\"} 1\n"));
    assert_non_null(strstr(text, "\npostern_queue_process_start_time_seconds "));
    /* every family once */
    for (p = strstr(text, "# TYPE "); p; p = strstr(p + 1, "# TYPE ")) {
        char name[128];
        size_t n = strcspn(p + 7, " ");
        snprintf(name, sizeof(name), "# TYPE %.*s ", (int)n, p + 7);
        assert_ptr_equal(strstr(text, name), p);
        assert_null(strstr(p + 1, name));
    }
    free(text);
}

/* The status of a whole request given at once, and given a byte at a time
 * (the answer must not depend on how it arrives). */
static int
request_status(const char *req, size_t len)
{
    size_t scanned = 0, scanned1 = 0;
    int whole = metrics_request_status(req, len, &scanned), one = 0;

    for (size_t n = 1; n <= len && one == 0; n++)
        one = metrics_request_status(req, n, &scanned1);
    assert_int_equal(whole, one);
    return whole;
}

#define STATUS(lit) request_status(lit, sizeof(lit) - 1)

static void
test_http_requests(void **state)
{
    static char big[METRICS_HTTP_REQUEST_MAX + 64];
    size_t scanned = 0;

    assert_int_equal(STATUS("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9125\r\n"
                            "User-Agent: Prometheus/2.42.0\r\nAccept: text/plain\r\n\r\n"),
                     200);
    assert_int_equal(STATUS("GET /metrics HTTP/1.0\r\n\r\n"), 200); /* 1.0: no Host needed */
    assert_int_equal(STATUS("GET /metrics?name[]=up HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
    assert_int_equal(STATUS("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"), 200);
    /* incomplete: wait */
    assert_int_equal(metrics_request_status("GET /metrics HTTP/1.1\r", 22, &scanned), 0);
    assert_int_equal(metrics_request_status("GET /metrics HTTP/1.1\r\nHost: x\r\n", 32, &scanned),
                     0);
    /* path, then method */
    assert_int_equal(STATUS("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 404);
    assert_int_equal(STATUS("GET /metricsx HTTP/1.1\r\nHost: x\r\n\r\n"), 404);
    assert_int_equal(STATUS("POST /other HTTP/1.1\r\nHost: x\r\n\r\n"), 404);
    assert_int_equal(STATUS("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n"), 405);
    assert_int_equal(STATUS("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 405);
    assert_int_equal(STATUS("get /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 405);
    /* malformed */
    assert_int_equal(STATUS("GET /metrics HTTP/1.1\r\n\r\n"), 400); /* no Host */
    assert_int_equal(STATUS("GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    assert_int_equal(STATUS("GET /metrics HTTP/1.1\nHost: x\n\n"), 400);
    assert_int_equal(STATUS("GET /metrics HTTP/1.1\rHost: x\r\n\r\n"), 400);
    assert_int_equal(STATUS("\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    assert_int_equal(STATUS("GET  /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    assert_int_equal(STATUS("GET /metrics  HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    assert_int_equal(STATUS("GET /metrics\r\n\r\n"), 400); /* HTTP/0.9 */
    assert_int_equal(STATUS("GET http://h/metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    assert_int_equal(STATUS("GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n"), 400);
    assert_int_equal(STATUS("GET /metrics HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n"), 400);
    assert_int_equal(STATUS("GET /metrics HTTP/1.1\r\nHost: x\r\nNo colon\r\n\r\n"), 400);
    assert_int_equal(STATUS("GET /metrics HTTP/1.1\r\nHost: x\x01y\r\n\r\n"), 400);
    assert_int_equal(STATUS("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"), 400);
    assert_int_equal(
        STATUS("GET /metrics HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\n\r\n"), 400);
    assert_int_equal(request_status("GET /metrics HTTP/1.1\r\nHost: x\0\r\n\r\n", 35), 400);
    assert_int_equal(STATUS("GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
    assert_int_equal(STATUS("GET /metrics HTTP/1.2\r\nHost: x\r\n\r\n"), 505);
    assert_int_equal(STATUS("GET /metrics HTTP/11\r\nHost: x\r\n\r\n"), 400);
    /* bounds: the whole head may take METRICS_HTTP_REQUEST_MAX bytes, no more */
    memset(big, 'a', sizeof(big));
    memcpy(big, "GET /", 5);
    assert_int_equal(request_status(big, sizeof(big)), 414);
    {
        const char *head = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: ";
        size_t hl = strlen(head), fill = METRICS_HTTP_REQUEST_MAX - hl - 4;
        memcpy(big, head, hl);
        memset(big + hl, 'a', fill);
        memcpy(big + hl + fill, "\r\n\r\n", 4); /* exactly the bound */
        assert_int_equal(request_status(big, METRICS_HTTP_REQUEST_MAX), 200);
        memset(big + hl, 'a', fill + 1);
        memcpy(big + hl + fill + 1, "\r\n\r\n", 4); /* one more */
        scanned = 0;
        assert_int_equal(metrics_request_status(big, METRICS_HTTP_REQUEST_MAX + 1, &scanned), 431);
    }
    assert_string_equal(metrics_request_reason(431), "Request Header Fields Too Large");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_and_unlabelled_gauge),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_label_cleaning),
        cmocka_unit_test(test_cardinality_cap),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_gauge_max),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_catalog_roles),
        cmocka_unit_test(test_http_requests),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
