/*
 * metrics_answer.h — the queue process's end of the metrics channel (lib/proc.h,
 * MSG_METRICS_*; the other end is receive/metrics_peer.c): each
 * MSG_METRICS_GET is answered with this process's families
 * (lib/metrics_catalog.h) in the text format, right after collect() has set
 * the gauges that are read at scrape time (delivery queues).
 *
 * The smtp process is trusted with nothing: a request's only field is its
 * id; nothing else of it is read. A peer that asks without reading the
 * answers gets no more of them once METRICS_QUEUE_TEXT_MAX bytes wait
 * unsent, so it cannot make this process hold much more than that.
 * Must never: send more than METRICS_QUEUE_TEXT_MAX bytes in one answer, or
 * change anything but the scrape-time gauges.
 */
#ifndef POSTERN_METRICS_ANSWER_H
#define POSTERN_METRICS_ANSWER_H

struct event_base;
struct metrics_answer;

struct metrics_answer *metrics_answer_new(struct event_base *base, void (*collect)(void *arg),
                                          void *arg);
/* Serves fd (a connected unix stream socket; ownership passes); a
 * previous channel is closed first. */
void metrics_answer_attach(struct metrics_answer *ma, int fd);
void metrics_answer_free(struct metrics_answer *ma);

#endif
