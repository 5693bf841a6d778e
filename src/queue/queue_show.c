/*
 * queue_show.c — see queue_show.h.
 */
#include "queue/queue_show.h"
#include "config/config_param.h"
#include "lib/util.h"

#include <string.h>

void
queue_show_server(const char *fqdn, char *buf, size_t len)
{
    strlcpy_p(buf, fqdn != NULL && fqdn[0] != '\0' ? fqdn : "postern", len);
    buf[strcspn(buf, ".")] = '\0';
}

static void
field(FILE *out, const char *name, const char *value)
{
    fprintf(out, "%-17s : %s\n", name, value ? value : "");
}

/* ISO 8601 in UTC; empty for 0 and for a time gmtime_r cannot show (a
 * damaged envelope's). */
static void
iso_time(time_t t, char *buf, size_t len)
{
    struct tm tm;

    if (t == 0 || gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        buf[0] = '\0';
}

void
queue_show(FILE *out, const struct queue_view *q)
{
    char id[400], count[32], retry[32];

    snprintf(id, sizeof(id), "%s\\%s", q->server, q->next_hop);
    snprintf(count, sizeof(count), "%zu", q->count);
    iso_time(q->next_retry, retry, sizeof(retry));
    field(out, "Identity", id);
    field(out, "DeliveryType", q->delivery_type);
    field(out, "Status", q->status);
    field(out, "MessageCount", count);
    field(out, "NextHopDomain", q->next_hop);
    field(out, "NextHopConnector", q->connector);
    field(out, "LastError", q->last_error);
    field(out, "NextRetryTime", retry);
    if (q->tls_requirement)
        field(out, "TlsRequirement", q->tls_requirement);
}

static const char *
rcpt_status(const struct envelope_rcpt *r)
{
    if (r->status == RCPT_DELIVERED)
        return "Complete";
    if (r->status == RCPT_FAILED)
        return "Failed";
    return r->last_error ? "Retry" : "Ready";
}

void
message_show(FILE *out, const struct message_view *m)
{
    const struct envelope *env = m->env;
    size_t n = m->rcpts ? m->nrcpts : env ? env->nrcpts : 0;
    char queue[400], id[512], size[64], date[32], expires[32], retries[16];
    const char *last_error = m->last_error;

    snprintf(queue, sizeof(queue), "%s\\%s", m->server, m->queue);
    snprintf(id, sizeof(id), "%s\\%s", queue, m->id);
    field(out, "Identity", id);
    if (env == NULL) {
        field(out, "Status", "Damaged");
        field(out, "LastError", "the envelope cannot be read");
        return;
    }
    config_bytes_format(env->size, size, sizeof(size));
    iso_time(env->received, date, sizeof(date));
    iso_time(env->received + (time_t)m->expiration_timeout, expires, sizeof(expires));
    snprintf(retries, sizeof(retries), "%u", env->attempts);
    for (size_t i = 0; i < n && !last_error; i++)
        last_error = env->rcpts[m->rcpts ? m->rcpts[i] : i].last_error;
    field(out, "FromAddress", env->from[0] ? env->from : "<>");
    field(out, "Status", m->status);
    field(out, "Size", size);
    field(out, "Subject", m->subject);
    field(out, "InternetMessageId", m->message_id);
    field(out, "DateReceived", date);
    field(out, "ExpirationTime", expires);
    field(out, "LastError", last_error);
    field(out, "RetryCount", retries);
    field(out, "SourceIP", env->client_ip);
    field(out, "MessageSourceName", env->connector);
    field(out, "DomainSecured", env->domain_secured ? env->domain_secured : "False");
    field(out, "TlsProtocol", env->tls);
    /* RFC 8689: REQUIRETLS on MAIL FROM, or a "TLS-Required: No" field */
    field(out, "RequireTLS", env->requiretls ? "True" : "False");
    field(out, "TlsRequiredNo", env->tls_required_no ? "True" : "False");
    field(out, "Queue", queue);
    fprintf(out, "%-17s : {", "Recipients");
    for (size_t i = 0; i < n; i++) {
        const struct envelope_rcpt *r = &env->rcpts[m->rcpts ? m->rcpts[i] : i];

        fprintf(out, "%s%s", i ? ", " : "", r->address);
        if (m->recipient_info)
            fprintf(out, " (%s%s%s)", rcpt_status(r), r->last_error ? ": " : "",
                    r->last_error ? r->last_error : "");
    }
    fprintf(out, "}\n");
}
