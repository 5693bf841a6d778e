/*
 * deliver_smtp.c — the scheduler's side of SMTP and LMTP connections: for
 * a delivery queue, ask routing for the next hop's policy, open a
 * connection through deliver_env's outbound_ops (src/outbound here, the
 * smtp process later), hand it the queue's messages one after another
 * (connection reuse) with their content as a read-only descriptor, record
 * each result, and decide what the end of the connection means for the
 * queue: success, retry, or a permanent refusal that fails its mail now.
 *
 * Must never: touch the network, or lose an item that was handed to a
 * connection (it comes back as a result or as a temporary failure).
 */
#include "delivery/deliver_int.h"
#include "lib/log.h"
#include "lib/util.h"
#include "delivery/mtasts_cache.h"
#include "delivery/tlsrpt_store.h"
#include "queue/queue.h"
#include "outbound/outbound.h"
#include "routing/route_policy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct dconn {
    struct dconn *prev, *next;
    struct deliver *d;
    struct dqueue *q;
    void *out;          /* the connection, behind d->env.outbound */
    struct ditem *item; /* handed over, no result yet */
    bool ready_once;
    bool sts_wanted;      /* its policy looks up MTA-STS; a fetched policy may come, once */
    unsigned tlsrpt_left; /* TLS results it may still report (0: its policy asks none) */
};

static const char *
conn_relay(const struct dconn *c)
{
    return c->d->env.outbound->relay(c->out);
}

static void
conn_free(struct dconn *c)
{
    struct deliver *d = c->d;

    if (c->prev)
        c->prev->next = c->next;
    else
        d->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->q->connections--;
    d->connections--;
    free(c);
}

/* Fails every ready item of the queue permanently (null MX, refused
 * credentials ...) so that their senders get a report now. */
static void
conn_fail_queue(struct dconn *c, const char *why, const char *relay)
{
    struct ditem *it;

    log_info("queue: next hop %s refused permanently: %s", c->q->next_hop, why);
    while ((it = deliver_next_item(c->d, c->q)) != NULL)
        deliver_item_failed(c->d, c->q, it, false, why, relay[0] ? relay : NULL);
    c->ready_once = true; /* not a connection failure to retry */
}

/* The message content, read-only, for the connection to own. */
static int
item_content(struct dconn *c, struct ditem *it)
{
    int fd = queue_content_fd(c->d->env.queue, it->m->env->id);

    if (fd < 0) {
        struct drcpt_result *res = xcalloc(it->nrcpt, sizeof(*res));
        for (size_t i = 0; i < it->nrcpt; i++) {
            res[i].rcpt = it->rcpt[i];
            res[i].code = 451;
            res[i].temporary = true;
            res[i].relay = conn_relay(c);
            snprintf(res[i].text, sizeof(res[i].text),
                     "451 4.3.0 cannot read the queued message: %s", strerror(errno));
        }
        deliver_item_done(c->d, c->q, it, res, it->nrcpt);
        free(res);
    }
    return fd;
}

static void
conn_send_next(struct dconn *c)
{
    int fd = -1;

    while ((c->item = deliver_next_item(c->d, c->q)) != NULL) {
        struct ditem *it = c->item;
        if ((fd = item_content(c, it)) >= 0)
            break;
    }
    if (c->item == NULL) {
        c->d->env.outbound->quit(c->out);
        return;
    }
    c->d->env.outbound->send(c->out, c->item->m->env, c->item->rcpt, c->item->nrcpt, fd);
}

static void
on_ready(void *arg)
{
    struct dconn *c = arg;

    if (!c->ready_once)
        deliver_queue_succeeded(c->d, c->q);
    c->ready_once = true;
    conn_send_next(c);
}

static void
on_done(void *arg, const struct smtp_result *results, size_t n)
{
    struct dconn *c = arg;
    struct ditem *it = c->item;
    struct drcpt_result *res;

    if (it == NULL || n != it->nrcpt) {
        log_warnx("queue: %s: results for no transaction", c->q->next_hop);
        return;
    }
    res = xcalloc(n, sizeof(*res));
    for (size_t i = 0; i < n; i++) {
        res[i].rcpt = it->rcpt[i];
        res[i].code = results[i].code ? results[i].code : 451;
        res[i].temporary = results[i].code == 0 || results[i].temporary;
        res[i].relay = conn_relay(c);
        res[i].tls = c->d->env.outbound->tls ? c->d->env.outbound->tls(c->out) : NULL;
        strlcpy_p(res[i].text, results[i].text, sizeof(res[i].text));
    }
    c->item = NULL;
    deliver_item_done(c->d, c->q, it, res, n);
    free(res);
}

static void
on_finished(void *arg, const struct outbound_end *end)
{
    struct dconn *c = arg;
    struct deliver *d = c->d;

    if (c->item) {
        /* lost in the middle of a transaction: try again later */
        struct ditem *it = c->item;
        c->item = NULL;
        deliver_item_failed(d, c->q, it, true, end->error, end->relay);
    }
    if (end->permanent && !c->ready_once)
        conn_fail_queue(c, end->error, end->relay);
    if (!c->ready_once && !d->stopping)
        deliver_queue_failed(d, c->q, end->error[0] ? end->error : "no address to try");
    conn_free(c);
    deliver_kick(d);
}

/* A connection fetched the recipient domain's MTA-STS policy: keep it
 * for the next ones, across restarts. The domain is the queue's own, never
 * taken from the other process. */
static void
on_sts_policy(void *arg, const char *policy)
{
    struct dconn *c = arg;
    struct mtasts_policy p;
    char err[512], *text;

    /* the smtp process only reports; the queue decides what it keeps:
     * only for a connection that looked a policy up, once, a text that
     * loads, timed by the queue's own clock */
    if (!c->sts_wanted)
        return;
    c->sts_wanted = false;
    if (mtasts_policy_load(policy, strlen(policy), &p, err, sizeof(err)) < 0) {
        log_warnx("queue: %s: an MTA-STS policy that does not load: %s", c->q->next_hop, err);
        return;
    }
    p.fetched = time(NULL);
    text = mtasts_policy_format(&p);
    if (mtasts_cache_put(c->d->env.instance_dir, c->q->next_hop, text, err, sizeof(err)) < 0)
        log_warnx("queue: %s: cannot keep its MTA-STS policy: %s", c->q->next_hop, err);
    free(text);
    mtasts_policy_free(&p);
}

/* One attempt's TLS result, counted for the recipient domain's report. */
static void
on_tls_result(void *arg, const char *json)
{
    struct dconn *c = arg;

    /* one per address tried, and only where the policy asked: a result
     * from anywhere else is not counted */
    if (c->tlsrpt_left == 0)
        return;
    c->tlsrpt_left--;
    tlsrpt_store_add(c->d->env.instance_dir, c->q->next_hop, json);
}

static const struct outbound_events conn_events = {on_ready, on_done, on_finished, on_sts_policy,
                                                   on_tls_result};

void
deliver_smtp_start(struct deliver *d, struct dqueue *q)
{
    struct route_hop hop = {
        .kind = q->kind,
        .next_hop = q->next_hop,
        .connector = q->connector,
        .lmtp_server = q->lmtp_server,
        .domain_secure = q->domain_secure,
        .requiretls = q->requiretls,
        .tls_not_required = q->tls_not_required,
    };
    struct route_policy p;
    struct dconn *c;

    if (route_policy(deliver_config(d), &hop, &p) < 0) {
        if (!d->stopping)
            deliver_queue_failed(d, q, p.error);
        route_policy_free(&p);
        deliver_kick(d);
        return;
    }
    if (p.sts)
        p.sts_cached = mtasts_cache_get(d->env.instance_dir, q->next_hop);
    c = xcalloc(1, sizeof(*c));
    c->d = d;
    c->q = q;
    c->sts_wanted = p.sts;
    c->tlsrpt_left = p.tlsrpt ? TLSRPT_RESULTS_PER_CONNECTION : 0;
    q->connections++;
    d->connections++;
    c->next = d->conns;
    if (c->next)
        c->next->prev = c;
    d->conns = c;
    c->out = d->env.outbound->open(d->env.outbound_arg, &p, &conn_events, c);
    route_policy_free(&p);
}

void
deliver_smtp_stop_all(struct deliver *d)
{
    while (d->conns) {
        struct dconn *c = d->conns;
        /* The analyzer cannot tell that c->d is d, so it misses that
         * conn_free took c off this list. */
        // NOLINTNEXTLINE(clang-analyzer-unix.Malloc): conn_free unlinks c from d->conns
        if (c->item) {
            struct ditem *it = c->item;
            c->item = NULL;
            deliver_item_failed(d, c->q, it, true, "service stopping", conn_relay(c));
        }
        d->env.outbound->abort(c->out);
        c->ready_once = true;
        conn_free(c);
    }
}
