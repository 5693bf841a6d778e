/*
 * workq.c — see workq.h. Jobs wait in a FIFO under one mutex; finished jobs
 * move to a done list and one libevent event is activated (event_active is
 * thread-safe once evthread_use_pthreads() is in force) to run their
 * callbacks on the loop.
 */
#include "lib/workq.h"
#include "lib/log.h"
#include "lib/util.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct job {
    void (*work)(void *);
    void (*done)(void *);
    void *arg;
    struct job *next;
};

struct workq {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct job *head, *tail; /* waiting to run */
    struct job *finished;    /* waiting for done() on the loop */
    struct event *notify;
    pthread_t *threads;
    int nthreads;
    bool stopping;
};

static void *
workq_thread(void *arg)
{
    struct workq *q = arg;
    struct job *j;

    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (q->head == NULL && !q->stopping)
            pthread_cond_wait(&q->wake, &q->lock);
        if (q->head == NULL)
            break;
        j = q->head;
        q->head = j->next;
        if (q->head == NULL)
            q->tail = NULL;
        pthread_mutex_unlock(&q->lock);

        j->work(j->arg);

        pthread_mutex_lock(&q->lock);
        j->next = q->finished;
        q->finished = j;
        event_active(q->notify, EV_READ, 0);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

static void
workq_run_done(struct workq *q)
{
    struct job *list, *j;

    pthread_mutex_lock(&q->lock);
    list = q->finished;
    q->finished = NULL;
    pthread_mutex_unlock(&q->lock);
    while ((j = list) != NULL) {
        list = j->next;
        j->done(j->arg);
        free(j);
    }
}

static void
workq_notify_cb(evutil_socket_t fd, short what, void *arg)
{
    workq_run_done(arg);
}

struct workq *
workq_new(struct event_base *base, int nthreads)
{
    struct workq *q = xcalloc(1, sizeof(*q));

    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->wake, NULL);
    q->notify = event_new(base, -1, 0, workq_notify_cb, q);
    q->threads = xcalloc((size_t)nthreads, sizeof(pthread_t));
    q->nthreads = nthreads;
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&q->threads[i], NULL, workq_thread, q) != 0)
            fatalx("cannot start worker thread");
    return q;
}

void
workq_submit(struct workq *q, void (*work)(void *), void (*done)(void *), void *arg)
{
    struct job *j = xmalloc(sizeof(*j));

    j->work = work;
    j->done = done;
    j->arg = arg;
    j->next = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->lock);
}

void
workq_free(struct workq *q)
{
    if (q == NULL)
        return;
    pthread_mutex_lock(&q->lock);
    q->stopping = true;
    pthread_cond_broadcast(&q->wake);
    pthread_mutex_unlock(&q->lock);
    for (int i = 0; i < q->nthreads; i++)
        pthread_join(q->threads[i], NULL);
    workq_run_done(q);
    event_free(q->notify);
    pthread_cond_destroy(&q->wake);
    pthread_mutex_destroy(&q->lock);
    free(q->threads);
    free(q);
}
