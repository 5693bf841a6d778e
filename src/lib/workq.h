/*
 * workq.h — a small pool of worker threads for work that must not run on
 * the event loop (password hashing, anything that may block), with each
 * job's completion called back on the event loop thread.
 *
 * Contract: work(arg) runs on a worker thread and must touch nothing that
 * the loop owns; done(arg) then runs on the loop thread, in no particular
 * order relative to other jobs. Requires evthread_use_pthreads() before the
 * event base was created.
 * Must never: call done() from a worker thread.
 */
#ifndef POSTERN_WORKQ_H
#define POSTERN_WORKQ_H

struct event_base;
struct workq;

struct workq *workq_new(struct event_base *base, int nthreads);
void workq_submit(struct workq *q, void (*work)(void *arg), void (*done)(void *arg), void *arg);
/* Finishes queued work, joins the threads, runs pending done callbacks. */
void workq_free(struct workq *q);

#endif
