/*
 * metrics_http.h — Prometheus scrapes: GET /metrics over plain HTTP/1.1 on
 * TransportConfig MetricsBindings, served by the smtp process (it owns
 * every socket that faces the network; the daemon binds them). A scrape
 * gets this process's families and the queue process's
 * (receive/metrics_peer.h) in the text format 0.0.4; when the queue
 * process does not answer in time, this process's alone, with
 * postern_metrics_queue_up 0.
 *
 * Whatever reaches a binding can talk to it, so the reader is strict and
 * bounded in every dimension: one request per connection (Connection:
 * close); request line and header fields within METRICS_HTTP_REQUEST_MAX
 * bytes (414, 431 beyond), CRLF line ends, no NUL (400); HTTP/1.0 or 1.1
 * (505 for another version); no body (400); a Host field for HTTP/1.1
 * (400); /metrics only (404), GET only (405); the request complete within
 * METRICS_HTTP_TIMEOUT seconds of the accept (408), the answer written
 * within a few seconds more; at most METRICS_HTTP_CONNECTIONS at once
 * (503 to the next, unread).
 * Must never: block, read past the request bound before answering, keep a
 * connection past its deadline, or put anything of a request into a
 * metric but its status code.
 */
#ifndef POSTERN_METRICS_HTTP_H
#define POSTERN_METRICS_HTTP_H

#include <stddef.h>

#define METRICS_HTTP_REQUEST_MAX 8192
#define METRICS_HTTP_TIMEOUT 10
#define METRICS_HTTP_CONNECTIONS 8
/* How long a scrape waits for the queue process's part. */
#define METRICS_HTTP_QUEUE_WAIT_MS 3000

struct event_base;
struct listen_socket;
struct metrics_http;
struct metrics_peer;

/* peer (the queue process's metrics) must outlive mh; collect(arg), when
 * not NULL, sets this process's scrape-time gauges before each answer. */
struct metrics_http *metrics_http_new(struct event_base *base, struct metrics_peer *peer,
                                      void (*collect)(void *arg), void *arg);
/* Accepts on exactly these sockets from now on (takes their fds; see
 * accept_set_replace). */
void metrics_http_listen(struct metrics_http *mh, const struct listen_socket *socks, size_t n);
/* Closes the sockets and every connection. NULL is a no-op. */
void metrics_http_free(struct metrics_http *mh);

#endif
