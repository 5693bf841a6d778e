/*
 * deliver_local.c — delivery to local mailboxes: each item (some
 * recipients of one message) becomes a job on the worker pool that writes
 * one Maildir copy per recipient under DIR/mail/<address>/. The file name
 * is the queue ID and recipient index, so a repeat after a crash finds the
 * earlier copy instead of delivering twice.
 */
#include "delivery/deliver_int.h"
#include "delivery/maildir.h"
#include "lib/util.h"
#include "lib/workq.h"
#include "queue/queue.h"

#include <errno.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct local_job {
    struct deliver *d;
    struct dqueue *q;
    struct ditem *it;
    char **maildir; /* per recipient */
    char **key;     /* per recipient */
    int content_fd; /* -1 when it could not be read (content_errno) */
    int content_errno;
    char *return_path;
    char **delivered_to;
    struct drcpt_result *res;
};

static void
local_work(void *arg)
{
    struct local_job *j = arg;

    for (size_t i = 0; i < j->it->nrcpt; i++) {
        struct drcpt_result *r = &j->res[i];
        bool temporary = true;
        char err[400];
        r->rcpt = j->it->rcpt[i];
        r->relay = "Maildir";
        if (j->content_fd < 0)
            snprintf(err, sizeof(err), "cannot read the queued message: %s",
                     strerror(j->content_errno));
        if (j->content_fd >= 0 &&
            maildir_deliver(j->maildir[i], j->key[i], j->content_fd, j->return_path,
                            j->delivered_to[i], &temporary, err, sizeof(err)) == 0) {
            r->code = 250;
            snprintf(r->text, sizeof(r->text), "250 2.0.0 delivered to %s", j->maildir[i]);
        } else {
            r->code = temporary ? 451 : 550;
            r->temporary = temporary;
            snprintf(r->text, sizeof(r->text), "%s %s mailbox delivery failed: %s",
                     temporary ? "451" : "550", temporary ? "4.2.0" : "5.2.0", err);
        }
    }
}

static void
local_done(void *arg)
{
    struct local_job *j = arg;
    struct deliver *d = j->d;
    size_t n = j->it->nrcpt;

    j->q->connections--;
    d->connections--;
    deliver_item_done(d, j->q, j->it, j->res, n);
    for (size_t i = 0; i < n; i++) {
        free(j->maildir[i]);
        free(j->key[i]);
        free(j->delivered_to[i]);
    }
    free(j->maildir);
    free(j->key);
    free(j->delivered_to);
    if (j->content_fd >= 0)
        close(j->content_fd);
    free(j->return_path);
    free(j->res);
    free(j);
    deliver_kick(d);
}

/* The Maildir of a recipient: its mailbox's address, lower-cased, or
 * "postmaster" for postmaster without a mailbox of its own. */
static char *
local_maildir(struct deliver *d, const struct dmsg *m, size_t rcpt)
{
    struct route r;
    char domain[300], *path, *p;
    const char *who;

    strlcpy_p(domain, deliver_rcpt_domain(m, rcpt), sizeof(domain));
    str_lower(domain);
    route_recipient(deliver_config(d), m->env->rcpts[rcpt].address, domain, m->env->size, &r);
    who = r.mailbox ? r.mailbox->primary_smtp_address : "postmaster";
    path = xasprintf("%s/mail/%s", d->env.instance_dir, who);
    for (p = path + strlen(d->env.instance_dir) + 6; *p; p++)
        if (*p == '/')
            *p = '_'; /* an address never makes a subdirectory */
    str_lower(path + strlen(d->env.instance_dir) + 6);
    return path;
}

void
deliver_local_start(struct deliver *d, struct dqueue *q)
{
    struct ditem *it = deliver_next_item(d, q);
    struct local_job *j;

    if (it == NULL)
        return;
    j = xcalloc(1, sizeof(*j));
    j->d = d;
    j->q = q;
    j->it = it;
    j->maildir = xcalloc(it->nrcpt, sizeof(char *));
    j->key = xcalloc(it->nrcpt, sizeof(char *));
    j->delivered_to = xcalloc(it->nrcpt, sizeof(char *));
    j->res = xcalloc(it->nrcpt, sizeof(*j->res));
    for (size_t i = 0; i < it->nrcpt; i++) {
        j->maildir[i] = local_maildir(d, it->m, it->rcpt[i]);
        j->key[i] = xasprintf("%s.%zu", it->m->env->id, it->rcpt[i]);
        j->delivered_to[i] = xstrdup(it->m->env->rcpts[it->rcpt[i]].address);
    }
    j->content_fd = queue_content_fd(d->env.queue, it->m->env->id);
    j->content_errno = errno;
    j->return_path = xstrdup(it->m->env->from);
    q->connections++;
    d->connections++;
    workq_submit(d->env.workers, local_work, local_done, j);
}
