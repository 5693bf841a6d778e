/*
 * session_data.c — the DATA phase: the Received: header, dot-unstuffing,
 * the checks made while content streams to the queue, and the commit.
 *
 * Content goes to disk as it arrives (spool_msg_write, into a file the
 * queue process made), never whole into memory. Only "<CRLF>.<CRLF>" ends
 * the data: a bare LF or CR anywhere makes the message fail (RFC 5321
 * 2.3.8; SMTP smuggling), but reading goes on to the real end so that
 * nothing hidden after a fake end is read as commands.
 * Must never: reply 250 before spool_msg_commit reports the message
 * durable, or answer a refused message before its file is gone.
 */
#include "lib/log.h"
#include "lib/metrics_catalog.h"
#include "lib/util.h"
#include "receive/server.h"
#include "receive/session_int.h"
#include "receive/spool.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* RFC 5321 4.5.3.1.6 allows 1000 octets per line; real mail exceeds that
 * often enough that refusing at 1000 would lose legitimate messages, so
 * lines are accepted up to this much larger bound. */
#define DATA_LINE_MAX 65536

static char data_line[DATA_LINE_MAX + 1];

/* postern's own mark of domain-secured mail (the header firewall strips
 * every X-Postern-* field from senders who may not set them). */
#define DOMAIN_SECURED_HEADER DATA_OWN_HEADER_PREFIX "Domain-Secured"

/* RFC 3848 / RFC 6531 "with" protocol names. */
static const char *
received_with(const struct session *s)
{
    static const char *const names[2][2][2] = {
        {{"SMTP", "ESMTPA"}, {"ESMTPS", "ESMTPSA"}},
        {{"UTF8SMTP", "UTF8SMTPA"}, {"UTF8SMTPS", "UTF8SMTPSA"}},
    };

    if (!s->esmtp)
        return "SMTP";
    if (!s->tls && !s->auth_user && !s->tx.mail.smtputf8)
        return "ESMTP";
    return names[s->tx.mail.smtputf8][s->tls][s->auth_user != NULL];
}

static void
write_received(struct session *s)
{
    char date[64], header[2048];
    time_t now = time(NULL);
    struct tm tm;
    int n;

    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    n = snprintf(header, sizeof(header),
                 "Received: from %s ([%s])\r\n\tby %s (postern) with %s id %s\r\n"
                 "\t(connector \"%s\"%s%s%s%s)",
                 s->helo, s->remote_ip, session_fqdn(s), received_with(s), spool_msg_id(s->tx.msg),
                 s->rc->name, s->tls_desc ? "; " : "", s->tls_desc ? s->tls_desc : "",
                 s->tx.domain_secured ? "; domain-secured=" : "",
                 s->tx.domain_secured ? s->tx.domain_secured : "");
    if (n > 0 && (size_t)n < sizeof(header) && s->tx.env->nrcpts == 1)
        n += snprintf(header + n, sizeof(header) - (size_t)n, "\r\n\tfor <%s>",
                      s->tx.env->rcpts[0].address);
    if (n > 0 && (size_t)n < sizeof(header))
        n += snprintf(header + n, sizeof(header) - (size_t)n, "; %s\r\n", date);
    /* Readers and later hops see the mark; the header firewall below makes
     * sure only we (or a trusted server of ours) can have set it. */
    if (s->tx.domain_secured && n > 0 && (size_t)n < sizeof(header))
        n += snprintf(header + n, sizeof(header) - (size_t)n, "%s: %s\r\n", DOMAIN_SECURED_HEADER,
                      s->tx.domain_secured);
    if (n > 0 && (size_t)n < sizeof(header))
        spool_msg_write(s->tx.msg, header, (size_t)n);
}

/* DATA goes ahead on the message file m. */
static void
data_start(struct session *s, struct spool_msg *m)
{
    s->tx.msg = m;
    write_received(s);
    data_stream_begin(&s->tx.data, &(struct data_limits){
                                       .max_size = session_max_message_size(s),
                                       .max_header_size = s->rc->max_header_size,
                                       .max_hop_count = s->rc->max_hop_count,
                                       .may_set_own_headers = session_rights(s) & RIGHT_ORG_HEADERS,
                                   });
    session_enter_state(s, SS_DATA);
    session_reply(s, "354 Start mail input; end with <CRLF>.<CRLF>");
}

/* The message file a session waited for (or why there is none). */
static void
data_begun(void *arg, struct spool_msg *m, int error)
{
    struct session *s = arg;

    if (m == NULL) {
        log_warnx("%016llx smtp cannot queue: %s", (unsigned long long)s->id, strerror(error));
        if (!s->dead)
            session_reply(s, error == ENOSPC
                                 ? "452 4.3.1 Insufficient system storage"
                                 : "451 4.3.0 Cannot queue the message now; try again later");
    } else if (s->dead || s->srv->stopping) {
        s->tx.msg = m; /* dropped with the transaction when the session ends */
    } else {
        data_start(s, m);
    }
    session_resume(s);
}

void
session_data_begin(struct session *s)
{
    struct spool_msg *m = spool_msg_begin(s->srv->spool, data_begun, s);

    if (m != NULL) {
        data_start(s, m);
        return;
    }
    /* read nothing until the file is there; a stop waits for it too */
    s->busy = true;
}

static void
session_commit_done(void *arg, int error)
{
    struct session *s = arg;

    if (error) {
        log_warnx("%016llx smtp queue commit failed id=%s: %s", (unsigned long long)s->id,
                  s->tx.queue_id, strerror(error));
        if (!s->dead)
            session_reply(s, (error == ENOSPC || error == EDQUOT)
                                 ? "452 4.3.1 Insufficient system storage"
                                 : "451 4.3.0 Error writing the message to the queue; try again");
    } else {
        log_info("%016llx smtp queued id=%s connector=\"%s\" client=%s", (unsigned long long)s->id,
                 s->tx.queue_id, s->rc->name, s->remote_ip);
        metric_inc(MET_MESSAGES_RECEIVED, METRIC_L(s->rc->name));
        if (!s->dead)
            session_reply(s, "250 2.6.0 %s Queued mail for delivery", s->tx.queue_id);
    }
    if (!s->dead && s->state != SS_QUIT)
        session_enter_state(s, SS_READY);
    session_resume(s);
}

static const char *
write_error_reply(int error)
{
    return error == ENOSPC ? "452 4.3.1 Insufficient system storage"
                           : "451 4.3.0 Error writing the message";
}

/* A refused message's file is gone: now the client may hear why. */
static void
data_discarded(void *arg, int write_error)
{
    struct session *s = arg;
    const char *refused = s->tx.data.error ? s->tx.data.error : write_error_reply(write_error);

    if (!s->dead)
        session_reply(s, "%s", refused);
    session_reset_transaction(s);
    if (!s->dead && s->state != SS_QUIT)
        session_enter_state(s, SS_READY);
    session_resume(s);
}

static void
data_end(struct session *s)
{
    struct spool_msg *m = s->tx.msg;
    struct envelope *env = s->tx.env;
    const char *refused = data_stream_finish(&s->tx.data);

    if (refused == NULL && spool_msg_error(m))
        refused = write_error_reply(spool_msg_error(m));
    s->tx.msg = NULL;
    s->busy = true;
    if (refused) {
        log_info("%016llx smtp message refused connector=\"%s\" client=%s reply=\"%s\"",
                 (unsigned long long)s->id, s->rc->name, s->remote_ip, refused);
        spool_msg_discard(m, data_discarded, s);
        return;
    }
    strlcpy_p(s->tx.queue_id, spool_msg_id(m), sizeof(s->tx.queue_id));
    /* RFC 8689 4.1: REQUIRETLS on MAIL FROM makes the field irrelevant. */
    env->tls_required_no = s->tx.data.tls_required_no && !env->requiretls;
    s->tx.env = NULL;
    spool_msg_commit(m, env, session_commit_done, s);
}

bool
session_data_input(struct session *s)
{
    size_t len = 0, store_len;
    const char *store;
    enum line_end end;
    enum data_action action;
    unsigned removed;
    bool too_long = false;

    switch (session_read_line(s, data_line, DATA_LINE_MAX, &len, &end)) {
    case LINE_NEED_MORE:
        return false;
    case LINE_TOO_LONG:
        too_long = true;
        break;
    default:
        break;
    }
    removed = s->tx.data.fields_removed;
    action = data_stream_line(&s->tx.data, data_line, len, end, too_long, &store, &store_len);
    if (s->tx.data.fields_removed != removed) {
        /* one protocol log line per field removed, naming it */
        const char *name = data_line + (data_line[0] == '.');
        char field[80];
        snprintf(field, sizeof(field), "%.*s", (int)strcspn(name, ": \t"), name);
        session_log(s, '*', field, "header removed by the header firewall");
    }
    switch (action) {
    case DATA_END:
        data_end(s);
        break;
    case DATA_STORE:
        spool_msg_write(s->tx.msg, store, store_len);
        break;
    case DATA_SKIP:
        break;
    }
    return true;
}
