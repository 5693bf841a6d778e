/*
 * deliver.c — the delivery manager's core (see deliver.h): messages in
 * memory, routing into queues, the scheduler tick, per-recipient results,
 * retry, expiry and delay notices, and persistence of progress.
 *
 * Ownership: a dmsg lives until its removal from the durable queue has
 * completed; items point at it and count in m->in_flight while a
 * connection or worker holds them.
 */
#include "delivery/deliver_int.h"
#include "delivery/deliver_metrics.h"
#include "lib/log.h"
#include "lib/util.h"
#include "logs/msgtrack.h"
#include "queue/queue.h"
#include "smtp/header_read.h"
#include "smtp/smtp_parse.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* The scheduler looks at every queue this often even when nothing happens:
 * retry times, expiry and delay notices are checked on this beat. */
#define DELIVER_TICK_SECONDS 1

static void deliver_schedule_cb(evutil_socket_t fd, short what, void *arg);

struct config *
deliver_config(const struct deliver *d)
{
    return *d->env.cfg;
}

const char *
deliver_rcpt_domain(const struct dmsg *m, size_t rcpt)
{
    const char *at = strrchr(m->env->rcpts[rcpt].address, '@');

    return at ? at + 1 : "";
}

/* Runs the scheduler soon (new work, a freed connection) without waiting
 * for the next beat. A separate event from the beat, so that kicks never
 * disturb the beat's own schedule. */
void
deliver_kick(struct deliver *d)
{
    if (d->kick && !d->stopping)
        event_active(d->kick, EV_TIMEOUT, 0);
}

/* ---- messages ---- */

/* Subject and Message-ID for the tracking log, read once per message. */
static void
dmsg_read_headers(struct deliver *d, struct dmsg *m)
{
    char *h;
    size_t n;

    if (m->message_id || m->subject)
        return;
    if ((h = queue_header_section(d->env.queue, m->env->id, &n)) != NULL) {
        m->message_id = header_field_get(h, n, "Message-ID");
        m->subject = header_field_get(h, n, "Subject");
        free(h);
    }
}

static void
dmsg_free(struct dmsg *m)
{
    envelope_free(m->env);
    free(m->message_id);
    free(m->subject);
    free(m);
}

static void
dmsg_unlink(struct deliver *d, struct dmsg *m)
{
    if (m->prev)
        m->prev->next = m->next;
    else
        d->msgs = m->next;
    if (m->next)
        m->next->prev = m->prev;
    d->nmsgs--;
}

/* The message-info of a message's tracking events: what its envelope says
 * about how it must travel, as Get-Message names it, joined with ';'; NULL
 * when it says nothing. */
static const char *
track_info(const struct envelope *env, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s%s%s%s", env->domain_secured ? ";DomainSecured=" : "",
                     env->domain_secured ? env->domain_secured : "",
                     env->requiretls ? ";RequireTLS=True" : "",
                     env->tls_required_no ? ";TlsRequiredNo=True" : "");

    return n > 0 ? buf + 1 : NULL;
}

static void track_tls(struct deliver *d, struct dmsg *m, const char *event, const char *source,
                      size_t rcpt, const char *status, const char *relay, const char *tls);

static void
track(struct deliver *d, struct dmsg *m, const char *event, const char *source, size_t rcpt,
      const char *status, const char *relay)
{
    track_tls(d, m, event, source, rcpt, status, relay, NULL);
}

/* An event with, for a delivery over SMTP, how its connection was
 * protected: the TLS version, the policy that decided and whether the peer
 * was verified (the transit-security question administrators ask the
 * tracking log). */
static void
track_tls(struct deliver *d, struct dmsg *m, const char *event, const char *source, size_t rcpt,
          const char *status, const char *relay, const char *tls)
{
    const char *addr = rcpt == (size_t)-1 ? NULL : m->env->rcpts[rcpt].address;
    struct msgtrack_event ev = {
        .client_ip = m->env->client_ip,
        .client_hostname = m->env->client_helo,
        .server_hostname = relay,
        .source_context = status,
        .connector_id = m->env->connector,
        .source = source,
        .event_id = event,
        .internal_message_id = m->env->id,
        .recipients = addr ? &addr : NULL,
        .nrecipients = addr ? 1 : 0,
        .recipient_status = status && addr ? &status : NULL,
        .total_bytes = m->env->size,
        .sender = m->env->from,
        .return_path = m->env->from,
    };
    char info[320], both[520];

    if (d->env.track == NULL)
        return;
    ev.message_info = track_info(m->env, info, sizeof(info));
    if (tls != NULL && tls[0] != '\0') {
        snprintf(both, sizeof(both), "%s%s%s", ev.message_info ? ev.message_info : "",
                 ev.message_info ? ";" : "", tls);
        ev.message_info = both;
    }
    dmsg_read_headers(d, m);
    ev.message_id = m->message_id;
    ev.subject = m->subject;
    msgtrack_write(d->env.track, &ev);
}

/* ---- queues ---- */

/* What a message asks of TLS, for the queue its remote recipients wait
 * in (local delivery has no next hop to ask anything of). */
struct tls_demand {
    bool requiretls, tls_not_required;
};

static struct dqueue *
queue_find(struct deliver *d, const struct route *r, struct tls_demand t)
{
    /* A queue is one next hop reached one way: after a reload changes the
     * connector, domain security or LMTP server of a hop, its waiting mail
     * moves to a new queue and the old one drains away. */
    for (size_t i = 0; i < d->nqueues; i++) {
        const struct dqueue *q = d->queues[i];
        const char *connector = r->connector ? r->connector->name : NULL;
        if (strcasecmp(q->next_hop, r->next_hop) == 0 && q->kind == r->kind &&
            q->domain_secure == r->domain_secure && (q->connector == NULL) == (connector == NULL) &&
            (connector == NULL || strcmp(q->connector, connector) == 0) &&
            (q->lmtp_server == NULL) == (r->lmtp_server == NULL) &&
            (r->lmtp_server == NULL || strcmp(q->lmtp_server, r->lmtp_server) == 0) &&
            q->requiretls == t.requiretls && q->tls_not_required == t.tls_not_required)
            return d->queues[i];
    }
    return NULL;
}

static struct dqueue *
queue_get(struct deliver *d, const struct route *r, struct tls_demand t)
{
    struct dqueue *q = queue_find(d, r, t);

    if (q)
        return q;
    q = xcalloc(1, sizeof(*q));
    q->next_hop = xstrdup(r->next_hop);
    q->kind = r->kind;
    q->connector = r->connector ? xstrdup(r->connector->name) : NULL;
    q->lmtp_server = r->lmtp_server ? xstrdup(r->lmtp_server) : NULL;
    q->domain_secure = r->domain_secure;
    q->requiretls = t.requiretls;
    q->tls_not_required = t.tls_not_required;
    // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
    d->queues = xrealloc(d->queues, (d->nqueues + 1) * sizeof(*d->queues));
    d->queues[d->nqueues++] = q;
    return q;
}

static void
queue_free(struct dqueue *q)
{
    free(q->next_hop);
    free(q->connector);
    free(q->lmtp_server);
    free(q->last_error);
    free(q);
}

static void
item_free(struct ditem *it)
{
    free(it->rcpt);
    free(it);
}

/* Adds recipient rcpt of m to q, in the item of m if it has one. */
/* Recipient rcpt of m joins q: with m's other recipients there, else in a
 * new item at the end. A message's recipients are routed in one go
 * (route_message; a reload first drops every item not in flight), so the
 * item that may take more of them can only be the last one: no walk over
 * a queue that may hold 100,000 messages. */
static void
queue_add_rcpt(struct dqueue *q, struct dmsg *m, size_t rcpt)
{
    struct ditem *it = q->tail;

    if (it == NULL || it->m != m || it->in_flight) {
        it = xcalloc(1, sizeof(*it));
        it->m = m;
        if (q->tail)
            q->tail->next = it;
        else
            q->items = it;
        q->tail = it;
    }
    it->rcpt = xrealloc(it->rcpt, (it->nrcpt + 1) * sizeof(size_t));
    it->rcpt[it->nrcpt++] = rcpt;
}

/* Takes *pp, an item of q, off the list (the caller frees it); the tail
 * moves back to the item whose next pp is when *pp was the last. */
static struct ditem *
queue_unlink(struct dqueue *q, struct ditem **pp)
{
    struct ditem *it = *pp;

    *pp = it->next;
    if (q->tail == it)
        q->tail =
            pp == &q->items ? NULL : (struct ditem *)((char *)pp - offsetof(struct ditem, next));
    return it;
}

static void
queue_remove_item(struct dqueue *q, struct ditem *it)
{
    for (struct ditem **pp = &q->items; *pp; pp = &(*pp)->next) {
        if (*pp == it) {
            (void)queue_unlink(q, pp);
            return;
        }
    }
}

/* Drops queues with nothing waiting and nothing running. */
static void
queues_prune(struct deliver *d)
{
    size_t kept = 0;

    for (size_t i = 0; i < d->nqueues; i++) {
        struct dqueue *q = d->queues[i];
        if (q->items == NULL && q->connections == 0 && !q->suspended) {
            queue_free(q);
            continue;
        }
        d->queues[kept++] = q;
    }
    d->nqueues = kept;
}

/* ---- persistence ---- */

static void
persist_done(void *arg, int error)
{
    struct dmsg *m = arg;

    m->pending_io--;
    if (error)
        log_warnx("queue: cannot record delivery progress of %s: %s", m->env->id, strerror(error));
    if (m->remove_wanted && m->pending_io == 0)
        deliver_persist_message(m->d, m);
}

struct removal {
    struct deliver *d;
    struct dmsg *m;
};

static void
remove_done(void *arg, int error)
{
    struct removal *r = arg;

    r->m->pending_io--;
    if (error)
        log_warnx("queue: cannot remove finished message %s: %s", r->m->env->id, strerror(error));
    dmsg_unlink(r->d, r->m);
    dmsg_free(r->m);
    free(r);
}

static bool
dmsg_finished(const struct dmsg *m)
{
    for (size_t i = 0; i < m->env->nrcpts; i++)
        if (m->env->rcpts[i].status == RCPT_READY)
            return false;
    return true;
}

void
deliver_persist_message(struct deliver *d, struct dmsg *m)
{
    if (m->removing)
        return;
    if (dmsg_finished(m) && m->in_flight == 0 && m->pending_io > 0) {
        /* the removal waits for the updates in flight (persist_done) */
        m->remove_wanted = true;
        return;
    }
    m->pending_io++;
    if (dmsg_finished(m) && m->in_flight == 0) {
        struct removal *r = xmalloc(sizeof(*r));
        r->d = d;
        r->m = m;
        m->removing = true;
        log_info("queue: message %s done: every recipient delivered or failed", m->env->id);
        queue_remove(d->env.queue, m->env->id, remove_done, r);
        return;
    }
    queue_update(d->env.queue, m->env, persist_done, m);
}

/* ---- results ---- */

static uint64_t
cfg_seconds(uint64_t v)
{
    return v == CONFIG_UNLIMITED ? 0 : v;
}

/* Applies results to m's envelope; sends the reports they call for. */
static void
apply_results(struct deliver *d, struct dmsg *m, const struct drcpt_result *res, size_t nres)
{
    struct drcpt_result *failed = xcalloc(nres ? nres : 1, sizeof(*failed));
    struct drcpt_result *delivered = xcalloc(nres ? nres : 1, sizeof(*delivered));
    size_t nfailed = 0, ndelivered = 0;

    for (size_t i = 0; i < nres; i++) {
        struct envelope_rcpt *r = &m->env->rcpts[res[i].rcpt];
        if (r->status != RCPT_READY)
            continue;
        if (res[i].code >= 200 && res[i].code < 300) {
            r->status = RCPT_DELIVERED;
            free(r->last_error);
            r->last_error = NULL;
            log_info("queue: delivered id=%s to=<%s> relay=%s reply=\"%s\"", m->env->id, r->address,
                     res[i].relay ? res[i].relay : "", res[i].text);
            track_tls(d, m,
                      res[i].relay && strcmp(res[i].relay, "Maildir") == 0 ? "DELIVER" : "SEND",
                      res[i].relay && strcmp(res[i].relay, "Maildir") == 0 ? "STOREDRIVER" : "SMTP",
                      res[i].rcpt, res[i].text, res[i].relay, res[i].tls);
            if (dsn_wanted(m->env, r, DSN_SUCCESS))
                delivered[ndelivered++] = res[i];
            continue;
        }
        free(r->last_error);
        r->last_error = xstrdup(res[i].text);
        if (res[i].temporary) {
            log_info("queue: deferred id=%s to=<%s> relay=%s reason=\"%s\"", m->env->id, r->address,
                     res[i].relay ? res[i].relay : "", res[i].text);
            track(d, m, "DEFER", "SMTP", res[i].rcpt, res[i].text, res[i].relay);
            continue;
        }
        r->status = RCPT_FAILED;
        log_info("queue: failed id=%s to=<%s> relay=%s reason=\"%s\"", m->env->id, r->address,
                 res[i].relay ? res[i].relay : "", res[i].text);
        track(d, m, "FAIL", "SMTP", res[i].rcpt, res[i].text, res[i].relay);
        if (dsn_wanted(m->env, r, DSN_FAILURE))
            failed[nfailed++] = res[i];
    }
    if (nfailed)
        deliver_send_dsn(d, m, DSN_FAILURE, failed, nfailed);
    if (ndelivered)
        deliver_send_dsn(d, m, DSN_SUCCESS, delivered, ndelivered);
    free(failed);
    free(delivered);
}

void
deliver_item_done(struct deliver *d, struct dqueue *q, struct ditem *it,
                  const struct drcpt_result *res, size_t nres)
{
    struct dmsg *m = it->m;
    struct config *cfg = deliver_config(d);
    size_t kept = 0;

    m->env->attempts++;
    deliver_metrics_results(q, m, res, nres);
    apply_results(d, m, res, nres);
    /* recipients still ready stay in the item for the next attempt */
    for (size_t i = 0; i < it->nrcpt; i++)
        if (m->env->rcpts[it->rcpt[i]].status == RCPT_READY)
            it->rcpt[kept++] = it->rcpt[i];
    it->nrcpt = kept;
    it->in_flight = false;
    m->in_flight--;
    if (kept == 0) {
        queue_remove_item(q, it);
        item_free(it);
    } else {
        m->env->next_attempt =
            time(NULL) + (time_t)cfg_seconds(cfg->transport.message_retry_interval);
    }
    deliver_persist_message(d, m);
}

void
deliver_item_failed(struct deliver *d, struct dqueue *q, struct ditem *it, bool temporary,
                    const char *why, const char *relay)
{
    struct drcpt_result *res = xcalloc(it->nrcpt, sizeof(*res));

    for (size_t i = 0; i < it->nrcpt; i++) {
        res[i].rcpt = it->rcpt[i];
        res[i].code = temporary ? 451 : 550;
        res[i].temporary = temporary;
        res[i].relay = relay;
        strlcpy_p(res[i].text, why, sizeof(res[i].text));
    }
    deliver_item_done(d, q, it, res, it->nrcpt);
    free(res);
}

struct ditem *
deliver_next_item(struct deliver *d, struct dqueue *q)
{
    time_t now = time(NULL);

    for (struct ditem *it = q->items; it; it = it->next) {
        struct dmsg *m = it->m;
        if (it->in_flight || m->removing || m->env->suspended || m->env->next_attempt > now)
            continue;
        it->in_flight = true;
        m->in_flight++;
        return it;
    }
    return NULL;
}

static uint64_t
retry_interval(const struct transport_config *tc, unsigned failures)
{
    if (failures <= tc->queue_glitch_retry_count)
        return tc->queue_glitch_retry_interval;
    if (failures <= tc->queue_glitch_retry_count + tc->transient_failure_retry_count)
        return tc->transient_failure_retry_interval;
    return tc->outbound_connection_failure_retry_interval;
}

void
deliver_queue_failed(struct deliver *d, struct dqueue *q, const char *why)
{
    const struct transport_config *tc = &deliver_config(d)->transport;
    uint64_t wait;

    q->failures++;
    deliver_metrics_connection_failed(q);
    wait = retry_interval(tc, q->failures);
    q->next_retry = time(NULL) + (time_t)wait;
    free(q->last_error);
    q->last_error = xstrdup(why);
    for (struct ditem *it = q->items; it; it = it->next) {
        for (size_t i = 0; i < it->nrcpt; i++) {
            struct envelope_rcpt *r = &it->m->env->rcpts[it->rcpt[i]];
            free(r->last_error);
            r->last_error = xstrdup(why);
        }
    }
    log_info("queue: next hop %s unavailable (attempt %u), retry in %" PRIu64 " s: %s", q->next_hop,
             q->failures, wait, why);
}

void
deliver_queue_succeeded(struct deliver *d, struct dqueue *q)
{
    q->failures = 0;
    q->next_retry = 0;
    free(q->last_error);
    q->last_error = NULL;
}

/* ---- routing ---- */

/* Is recipient rcpt of m in an item being delivered right now? */
static bool
rcpt_in_flight(const struct deliver *d, const struct dmsg *m, size_t rcpt)
{
    if (m->in_flight == 0)
        return false; /* the common case: no walk over every queue */
    for (size_t k = 0; k < d->nqueues; k++)
        for (const struct ditem *it = d->queues[k]->items; it; it = it->next)
            for (size_t j = 0; it->m == m && j < it->nrcpt; j++)
                if (it->rcpt[j] == rcpt)
                    return true;
    return false;
}

static struct tls_demand
tls_demand_of(const struct dmsg *m, const struct route *r)
{
    struct tls_demand t = {0};

    if (r->kind == ROUTE_DNS || r->kind == ROUTE_SMART_HOST) {
        t.requiretls = m->env->requiretls;
        t.tls_not_required = m->env->tls_required_no && !m->env->requiretls;
    }
    return t;
}

/* Puts m's waiting recipients into their queues; a recipient whose mailbox
 * no longer exists fails with a report. */
static void
route_message(struct deliver *d, struct dmsg *m, bool skip_in_flight)
{
    struct config *cfg = deliver_config(d);
    struct drcpt_result *failed = NULL;
    size_t nfailed = 0;

    for (size_t i = 0; i < m->env->nrcpts; i++) {
        struct route r;
        char domain[300];
        if (m->env->rcpts[i].status != RCPT_READY || (skip_in_flight && rcpt_in_flight(d, m, i)))
            continue;
        strlcpy_p(domain, deliver_rcpt_domain(m, i), sizeof(domain));
        str_lower(domain);
        route_recipient(cfg, m->env->rcpts[i].address, domain, m->env->size, &r);
        if (r.kind == ROUTE_NO_MAILBOX) {
            failed = xrealloc(failed, (nfailed + 1) * sizeof(*failed));
            memset(&failed[nfailed], 0, sizeof(*failed));
            failed[nfailed].rcpt = i;
            failed[nfailed].code = 550;
            failed[nfailed].relay = "Mailbox Delivery";
            strlcpy_p(failed[nfailed].text, "550 5.1.1 mailbox unavailable: no such mailbox here",
                      sizeof(failed[nfailed].text));
            nfailed++;
            continue;
        }
        queue_add_rcpt(queue_get(d, &r, tls_demand_of(m, &r)), m, i);
    }
    if (nfailed) {
        apply_results(d, m, failed, nfailed);
        deliver_persist_message(d, m);
    }
    free(failed);
}

/* When check_timers can next have something to do for m: its expiry, or
 * its delay notice while none was sent. */
static time_t
timers_due_of(struct deliver *d, const struct dmsg *m)
{
    const struct transport_config *tc = &deliver_config(d)->transport;
    time_t due = m->env->received + (time_t)tc->message_expiration_timeout;

    if (!m->env->delay_notified && m->env->received + (time_t)tc->delay_notification_timeout < due)
        due = m->env->received + (time_t)tc->delay_notification_timeout;
    return due;
}

static void
timers_note(struct deliver *d, const struct dmsg *m)
{
    time_t due = timers_due_of(d, m);

    if (d->timers_due && due < d->timers_due)
        d->timers_due = due;
}

static struct dmsg *
dmsg_add(struct deliver *d, struct envelope *env)
{
    struct dmsg *m = xcalloc(1, sizeof(*m));

    m->env = env;
    m->d = d;
    m->next = d->msgs;
    if (m->next)
        m->next->prev = m;
    d->msgs = m;
    d->nmsgs++;
    timers_note(d, m);
    route_message(d, m, false);
    return m;
}

void
deliver_add(struct deliver *d, struct envelope *env)
{
    struct dmsg *m = dmsg_add(d, env);

    for (size_t i = 0; i < env->nrcpts; i++)
        track(d, m, "RECEIVE", env->from[0] ? "SMTP" : "DSN", i, NULL, NULL);
    deliver_kick(d);
}

/* Re-routes everything that waits (after a reload). */
void
deliver_reconfigure(struct deliver *d)
{
    for (size_t i = 0; i < d->nqueues; i++) {
        struct dqueue *q = d->queues[i];
        struct ditem **pp = &q->items;
        while (*pp) {
            struct ditem *it = *pp;
            if (it->in_flight) {
                pp = &it->next;
                continue;
            }
            item_free(queue_unlink(q, pp));
        }
    }
    for (struct dmsg *m = d->msgs; m; m = m->next)
        if (!m->removing)
            route_message(d, m, true); /* recipients in flight stay put */
    queues_prune(d);
    d->timers_due = 0; /* the timeouts may have changed */
    deliver_kick(d);
}

/* ---- expiry and delay notices ---- */

/* Fails every waiting (not in flight) recipient of m: expiry or removal. */
void
deliver_fail_waiting(struct deliver *d, struct dmsg *m, const char *status_text, bool notify)
{
    struct drcpt_result *res = NULL;
    size_t n = 0;

    for (size_t k = 0; k < d->nqueues; k++) {
        struct dqueue *q = d->queues[k];
        struct ditem **pp = &q->items;
        while (*pp) {
            struct ditem *it = *pp;
            if (it->m != m || it->in_flight) {
                pp = &it->next;
                continue;
            }
            for (size_t i = 0; i < it->nrcpt; i++) {
                const char *last = m->env->rcpts[it->rcpt[i]].last_error;
                res = xrealloc(res, (n + 1) * sizeof(*res));
                memset(&res[n], 0, sizeof(*res));
                res[n].rcpt = it->rcpt[i];
                res[n].code = 550;
                snprintf(res[n].text, sizeof(res[n].text), "%s%s%s", status_text,
                         last ? "; last error: " : "", last ? last : "");
                n++;
            }
            deliver_metrics_failed(q, it->nrcpt);
            item_free(queue_unlink(q, pp));
        }
    }
    if (n == 0)
        return;
    if (notify) {
        apply_results(d, m, res, n);
    } else {
        for (size_t i = 0; i < n; i++) {
            m->env->rcpts[res[i].rcpt].status = RCPT_FAILED;
            log_info("queue: removed id=%s to=<%s> without a report: %s", m->env->id,
                     m->env->rcpts[res[i].rcpt].address, res[i].text);
            track(d, m, "FAIL", "ADMIN", res[i].rcpt, res[i].text, NULL);
        }
    }
    free(res);
    deliver_persist_message(d, m);
}

static void
check_timers(struct deliver *d, struct dmsg *m, time_t now)
{
    const struct transport_config *tc = &deliver_config(d)->transport;
    time_t age = now - m->env->received;

    if (m->removing)
        return;
    if (age >= (time_t)tc->message_expiration_timeout) {
        deliver_fail_waiting(d, m, "550 4.4.7 message expired: it could not be delivered in time",
                             true);
        return;
    }
    if (!m->env->delay_notified && age >= (time_t)tc->delay_notification_timeout) {
        struct drcpt_result *res = xcalloc(m->env->nrcpts, sizeof(*res));
        size_t n = 0;
        for (size_t i = 0; i < m->env->nrcpts; i++) {
            const struct envelope_rcpt *r = &m->env->rcpts[i];
            if (r->status != RCPT_READY || !dsn_wanted(m->env, r, DSN_DELAY))
                continue;
            res[n].rcpt = i;
            res[n].code = 451;
            res[n].temporary = true;
            strlcpy_p(res[n].text, r->last_error ? r->last_error : "delivery not yet possible",
                      sizeof(res[n].text));
            n++;
        }
        m->env->delay_notified = true;
        if (n && tc->external_delay_dsn_enabled)
            deliver_send_dsn(d, m, DSN_DELAY, res, n);
        free(res);
        deliver_persist_message(d, m);
    }
}

/* ---- the scheduler ---- */

/* How many of q's items could go now, counting no further than limit: the
 * scheduler only needs to know whether there is work for one connection
 * more, and a queue with a long backlog must not be walked on every kick. */
static size_t
queue_ready_items(const struct dqueue *q, time_t now, size_t limit)
{
    size_t n = 0;

    for (const struct ditem *it = q->items; it && n < limit; it = it->next)
        if (!it->in_flight && !it->m->removing && !it->m->env->suspended &&
            it->m->env->next_attempt <= now)
            n++;
    return n;
}

static void
schedule_queue(struct deliver *d, struct dqueue *q, time_t now)
{
    const struct transport_config *tc = &deliver_config(d)->transport;
    size_t want;

    if (q->suspended || q->kind == ROUTE_UNREACHABLE || q->next_retry > now)
        return;
    /* a mailbox queue starts a delivery per ready item, an SMTP queue one
     * connection a tick (each serves many items) */
    want = q->kind == ROUTE_MAILBOX ? SIZE_MAX : q->connections + 1;
    if (tc->max_per_domain_outbound_connections != CONFIG_UNLIMITED &&
        want > tc->max_per_domain_outbound_connections)
        want = tc->max_per_domain_outbound_connections;
    if (want <= q->connections)
        return;
    if (tc->max_outbound_connections != CONFIG_UNLIMITED) {
        if (d->connections >= tc->max_outbound_connections)
            return;
        if (want - q->connections > tc->max_outbound_connections - d->connections)
            want = q->connections + (tc->max_outbound_connections - d->connections);
    }
    want = queue_ready_items(q, now, want);
    while (q->connections < want) {
        if (tc->max_outbound_connections != CONFIG_UNLIMITED &&
            d->connections >= tc->max_outbound_connections)
            return;
        /* each start takes at least one item, so the loop ends */
        size_t before = q->connections;
        if (q->kind == ROUTE_MAILBOX)
            deliver_local_start(d, q);
        else
            deliver_smtp_start(d, q);
        if (q->connections == before)
            return;
        if (q->kind != ROUTE_MAILBOX)
            return; /* a connection serves many items: one new one per tick */
    }
}

/* The scheduler: on each beat, and at once on each kick (new work, a freed
 * connection). Expiry and delay notices come first, so that no expired
 * message is handed out (after a long outage, at the first start); the walk
 * over every message runs only once the earliest of their timers is due,
 * since kicks come with every message and every result and a walk each
 * time would make a long queue quadratic. */
static void
deliver_schedule_cb(evutil_socket_t fd, short what, void *arg)
{
    struct deliver *d = arg;
    time_t now = time(NULL);
    (void)fd;
    (void)what;
    if (d->stopping)
        return;
    if (now >= d->timers_due) {
        time_t next_due = 0; /* none */
        /* (a message that check_timers removes is freed later, once its
         * removal is durable) */
        for (struct dmsg *m = d->msgs; m; m = m->next) {
            check_timers(d, m, now);
            if (!m->removing && (!next_due || timers_due_of(d, m) < next_due))
                next_due = timers_due_of(d, m);
        }
        d->timers_due = next_due ? next_due : now + DELIVER_TICK_SECONDS;
    }
    for (size_t i = 0; i < d->nqueues; i++)
        schedule_queue(d, d->queues[i], now);
    if (now >= d->tlsrpt_due) {
        d->tlsrpt_due = now + 3600; /* the daily reports: looked for hourly */
        deliver_tls_reports_due(d, now);
    }
    queues_prune(d);
}

static void
load_one(const char *id, const struct envelope *env, struct queue_reader *r, void *arg)
{
    struct deliver *d = arg;
    char err[256];
    size_t len;
    char *text;
    struct envelope *copy;

    if (env == NULL) {
        log_warnx("queue: envelope of %s cannot be read; message left in place", id);
        return;
    }
    /* queue_scan's envelope is temporary: take a copy through the text */
    text = envelope_serialize(env, &len);
    copy = envelope_parse(text, len, err, sizeof(err));
    free(text);
    if (copy)
        dmsg_add(d, copy);
}

struct deliver *
deliver_new(const struct deliver_env *env)
{
    struct deliver *d = xcalloc(1, sizeof(*d));
    const char *fqdn = (*env->cfg)->transport.fqdn;
    char *dir = xasprintf("%s/queue", env->instance_dir);
    struct timeval beat = {DELIVER_TICK_SECONDS, 0};

    d->env = *env;
    strlcpy_p(d->server_name, fqdn ? fqdn : "postern", sizeof(d->server_name));
    d->server_name[strcspn(d->server_name, ".")] = '\0';
    d->tick = event_new(env->base, -1, EV_PERSIST, deliver_schedule_cb, d);
    d->kick = event_new(env->base, -1, 0, deliver_schedule_cb, d);
    event_add(d->tick, &beat);
    queue_load(env->queue, load_one, d);
    free(dir);
    if (d->nmsgs)
        log_info("delivery: %zu message(s) to deliver", d->nmsgs);
    deliver_kick(d);
    return d;
}

void
deliver_stop(struct deliver *d)
{
    if (d == NULL || d->stopping)
        return;
    d->stopping = true;
    deliver_smtp_stop_all(d);
}

void
deliver_free(struct deliver *d)
{
    if (d == NULL)
        return;
    deliver_stop(d);
    event_free(d->tick);
    event_free(d->kick);
    for (size_t i = 0; i < d->nqueues; i++) {
        struct ditem *it = d->queues[i]->items, *next;
        for (; it; it = next) {
            next = it->next;
            item_free(it);
        }
        queue_free(d->queues[i]);
    }
    free(d->queues);
    /* The whole list goes, so each message is simply taken off its head. */
    while (d->msgs) {
        struct dmsg *m = d->msgs;
        d->msgs = m->next;
        dmsg_free(m);
    }
    free(d);
}
