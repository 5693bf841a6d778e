/*
 * metrics_peer.h — the smtp process's end of the metrics channel to the
 * queue process (lib/proc.h, MSG_METRICS_*; the other end is
 * qmgr/metrics_answer.c): asks for the queue process's metrics text for
 * one scrape and hands it to the caller, or says that none came in time.
 *
 * The answer is data for the scraper, never read here beyond a check: one
 * string of at most METRICS_QUEUE_TEXT_MAX bytes, whole lines of printable
 * text (UTF-8 bytes and tabs allowed, no other control character), for a
 * request still waiting. Anything else counts as no answer.
 * Must never: call back from inside metrics_peer_get or _cancel, call back
 * twice, or pass on text that failed the check.
 */
#ifndef POSTERN_METRICS_PEER_H
#define POSTERN_METRICS_PEER_H

struct event_base;
struct metrics_peer;
struct metrics_peer_req;

/* text: the queue process's families ("" when it has none), or NULL when
 * it did not answer (no channel, timeout, a malformed answer). */
typedef void metrics_peer_cb(void *arg, const char *text);

struct metrics_peer *metrics_peer_new(struct event_base *base);
/* Every request still waiting ends without a callback. */
void metrics_peer_free(struct metrics_peer *mp);
/* A channel to the queue process (fd: ownership passes); requests waiting
 * on the previous one end with NULL. */
void metrics_peer_attach(struct metrics_peer *mp, int fd);

/* Asks; cb runs later, from the loop, within timeout_ms. */
struct metrics_peer_req *metrics_peer_get(struct metrics_peer *mp, int timeout_ms,
                                          metrics_peer_cb *cb, void *arg);
/* The answer is no longer wanted: no callback. */
void metrics_peer_cancel(struct metrics_peer_req *req);

#endif
