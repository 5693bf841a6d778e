/*
 * metrics_request.h — the judgement of one HTTP request for /metrics
 * (receive/metrics_http.h serves it): pure, so that its tests and a fuzz
 * target can feed it anything.
 *
 * Accepted: "GET /metrics HTTP/1.1" (or HTTP/1.0, or a query after
 * /metrics), CRLF line ends, header fields "name: value" without obsolete
 * line folding, at most METRICS_HTTP_REQUEST_MAX bytes up to the empty
 * line, a Host field for HTTP/1.1, no body (no Transfer-Encoding, no
 * Content-Length but 0). Everything else gets its error status.
 * Must never: read outside buf[0, len), or accept what RFC 9112 says a
 * server must refuse.
 */
#ifndef POSTERN_METRICS_REQUEST_H
#define POSTERN_METRICS_REQUEST_H

#include <stddef.h>

/* Looks at the request received so far, buf[0, len): 0 while it may still
 * be a good request that is not complete, else the status of the answer
 * (200: serve the metrics). *scanned (0 at first, kept between calls)
 * spares the bytes already looked at. */
int metrics_request_status(const char *buf, size_t len, size_t *scanned);
/* The reason phrase of a status this file or metrics_http.c answers. */
const char *metrics_request_reason(int status);

#endif
