/*
 * fuzz_metrics_request.c — libFuzzer target for the judgement of a scrape's
 * HTTP request (receive/metrics_request.c): whatever reaches
 * MetricsBindings.
 *
 * Checks: the answer is 0 (wait for more) or one of the statuses the
 * server sends; it does not depend on how the bytes arrive (whole, or cut
 * at a point the input's first byte chooses); 0 only while fewer than
 * METRICS_HTTP_REQUEST_MAX + 1 bytes have come; 200 only for a request
 * that starts with "GET /metrics".
 * Must never: keep state between inputs.
 */
#include "fuzz_common.h"
#include "receive/metrics_http.h"
#include "receive/metrics_request.h"

#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf;
    size_t len, cut, scanned = 0, scanned2 = 0;
    int whole, part;

    if (size < 1)
        return 0;
    buf = (const char *)data + 1;
    len = size - 1;
    cut = len ? data[0] % (len + 1) : 0;
    whole = metrics_request_status(buf, len, &scanned);
    part = metrics_request_status(buf, cut, &scanned2);
    if (part == 0)
        part = metrics_request_status(buf, len, &scanned2);
    FUZZ_CHECK(whole == part);
    FUZZ_CHECK(whole == 0 || whole == 200 || whole == 400 || whole == 404 || whole == 405 ||
               whole == 414 || whole == 431 || whole == 505);
    FUZZ_CHECK(whole != 0 || len <= METRICS_HTTP_REQUEST_MAX);
    FUZZ_CHECK(whole != 200 || (len >= 12 && memcmp(buf, "GET /metrics", 12) == 0));
    return 0;
}
