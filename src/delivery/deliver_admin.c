/*
 * deliver_admin.c — the queue cmdlets as the running service answers them
 * (Get-Queue, Get-Message, Retry-Queue, Suspend-/Resume-Queue,
 * Suspend-/Resume-Message, Remove-Message), in Exchange's terms:
 * queue identities "Server\NextHop", message identities
 * "Server\NextHop\MessageId".
 * Must never: lose a recipient: Remove-Message fails recipients (with or
 * without a report) through the normal result path.
 */
#include "delivery/deliver_int.h"
#include "queue/queue_show.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *
delivery_type(const struct dqueue *q)
{
    switch (q->kind) {
    case ROUTE_DNS:
        return "DNSConnectorDelivery";
    case ROUTE_SMART_HOST:
        return "SmartHostConnectorDelivery";
    case ROUTE_MAILBOX:
    case ROUTE_LMTP:
        return "SmtpDeliveryToMailbox";
    default:
        return "Unreachable";
    }
}

static const char *
queue_status(const struct dqueue *q, time_t now)
{
    if (q->suspended)
        return "Suspended";
    if (q->connections > 0)
        return "Active";
    if (q->next_retry > now || q->kind == ROUTE_UNREACHABLE)
        return "Retry";
    return "Ready";
}

/* "Server\hop" or "hop" names q? */
static bool
queue_named(const struct deliver *d, const struct dqueue *q, const char *identity)
{
    const char *slash = strrchr(identity, '\\');

    if (slash) {
        size_t n = (size_t)(slash - identity);
        if (n != strlen(d->server_name) || strncasecmp(identity, d->server_name, n) != 0)
            return false;
        identity = slash + 1;
    }
    return strcasecmp(identity, q->next_hop) == 0;
}

static size_t
queue_message_count(const struct dqueue *q)
{
    size_t n = 0;

    for (const struct ditem *it = q->items; it; it = it->next)
        n++;
    return n;
}

int
deliver_cmd_get_queue(struct deliver *d, const char *identity, FILE *out)
{
    time_t now = time(NULL);
    size_t shown = 0;

    for (size_t i = 0; i < d->nqueues; i++) {
        const struct dqueue *q = d->queues[i];
        if (identity && *identity && !queue_named(d, q, identity))
            continue;
        struct queue_view view = {
            .server = d->server_name,
            .next_hop = q->next_hop,
            .delivery_type = delivery_type(q),
            .status = queue_status(q, now),
            .connector = q->connector,
            .last_error = q->last_error,
            .count = queue_message_count(q),
            .next_retry = q->next_retry > now ? q->next_retry : 0,
            .tls_requirement = q->requiretls         ? "RequireTLS"
                               : q->tls_not_required ? "TLS-Required: No"
                                                     : NULL,
        };

        if (shown++)
            fputc('\n', out);
        queue_show(out, &view);
    }
    if (identity && *identity && shown == 0) {
        fprintf(out, "queue \"%s\" does not exist\n", identity);
        return -1;
    }
    return 0;
}

static const char *
message_status(const struct dqueue *q, const struct ditem *it, time_t now)
{
    if (it->m->env->suspended)
        return "Suspended";
    if (it->in_flight)
        return "Active";
    if (it->m->env->next_attempt > now || q->next_retry > now || q->kind == ROUTE_UNREACHABLE)
        return "Retry";
    return "Ready";
}

static void
print_message(struct deliver *d, const struct dqueue *q, const struct ditem *it, bool recipients,
              FILE *out, time_t now)
{
    const struct dmsg *m = it->m;
    struct message_view view = {
        .server = d->server_name,
        .queue = q->next_hop,
        .id = m->env->id,
        .env = m->env,
        .status = message_status(q, it, now),
        .subject = m->subject,
        .message_id = m->message_id,
        .last_error = q->last_error,
        .expiration_timeout = deliver_config(d)->transport.message_expiration_timeout,
        .rcpts = it->rcpt,
        .nrcpts = it->nrcpt,
        .recipient_info = recipients,
    };

    message_show(out, &view);
}

int
deliver_cmd_get_message(struct deliver *d, const char *identity, const char *queue, bool recipients,
                        FILE *out)
{
    const char *msgid = identity && *identity ? identity : NULL;
    time_t now = time(NULL);
    size_t shown = 0;

    if (msgid && strrchr(msgid, '\\'))
        msgid = strrchr(msgid, '\\') + 1;
    for (size_t i = 0; i < d->nqueues; i++) {
        const struct dqueue *q = d->queues[i];
        if (queue && *queue && !queue_named(d, q, queue))
            continue;
        for (const struct ditem *it = q->items; it; it = it->next) {
            if (msgid && strcasecmp(msgid, it->m->env->id) != 0)
                continue;
            if (shown++)
                fputc('\n', out);
            print_message(d, q, it, recipients, out, now);
        }
    }
    if (msgid && shown == 0) {
        fprintf(out, "message \"%s\" is not in the queue\n", identity);
        return -1;
    }
    return 0;
}

int
deliver_cmd_queue_action(struct deliver *d, const char *action, const char *identity, FILE *out)
{
    size_t matched = 0;

    for (size_t i = 0; i < d->nqueues; i++) {
        struct dqueue *q = d->queues[i];
        if (!queue_named(d, q, identity))
            continue;
        matched++;
        if (strcasecmp(action, "Retry-Queue") == 0) {
            q->next_retry = 0;
            for (struct ditem *it = q->items; it; it = it->next)
                it->m->env->next_attempt = 0;
        } else if (strcasecmp(action, "Suspend-Queue") == 0) {
            q->suspended = true;
        } else if (strcasecmp(action, "Resume-Queue") == 0) {
            q->suspended = false;
        } else {
            fprintf(out, "unknown action %s\n", action);
            return -1;
        }
    }
    if (matched == 0) {
        fprintf(out, "queue \"%s\" does not exist\n", identity);
        return -1;
    }
    deliver_kick(d);
    return 0;
}

int
deliver_cmd_message_action(struct deliver *d, const char *action, const char *identity,
                           bool with_ndr, FILE *out)
{
    const char *msgid = strrchr(identity, '\\') ? strrchr(identity, '\\') + 1 : identity;

    for (struct dmsg *m = d->msgs; m; m = m->next) {
        if (strcasecmp(m->env->id, msgid) != 0 || m->removing)
            continue;
        if (strcasecmp(action, "Suspend-Message") == 0) {
            m->env->suspended = true;
            deliver_persist_message(d, m);
        } else if (strcasecmp(action, "Resume-Message") == 0) {
            m->env->suspended = false;
            m->env->next_attempt = 0;
            deliver_persist_message(d, m);
        } else if (strcasecmp(action, "Remove-Message") == 0) {
            deliver_fail_waiting(d, m, "550 5.3.0 message deleted by an administrator", with_ndr);
        } else {
            fprintf(out, "unknown action %s\n", action);
            return -1;
        }
        deliver_kick(d);
        return 0;
    }
    fprintf(out, "message \"%s\" is not in the queue\n", identity);
    return -1;
}
