/*
 * deliver_dsn.c — sending delivery status notifications: builds the
 * RFC 3464 report (queue/dsn.c) and queues it as a new message from the
 * null sender to the original sender, like any other message.
 * Must never: report to a null sender (dsn_wanted refuses), so a report
 * can never cause another.
 */
#include "delivery/deliver_int.h"
#include "lib/log.h"
#include "lib/util.h"
#include "logs/msgtrack.h"
#include "queue/queue.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

/* Exchange's External/InternalDsnMaxMessageAttachSize default. */
#define DSN_MAX_ATTACH (10 * 1024 * 1024)

/* "5.1.1" from "550 5.1.1 User unknown", else the class default. */
static void
status_code(const char *text, int code, char *out, size_t len)
{
    const char *p = text;

    while (*p && isdigit((unsigned char)*p))
        p++;
    while (*p == ' ' || *p == '-')
        p++;
    if ((p[0] == '2' || p[0] == '4' || p[0] == '5') && p[1] == '.' &&
        isdigit((unsigned char)p[2])) {
        size_t n = strspn(p, "0123456789.");
        if (n < len) {
            memcpy(out, p, n);
            out[n] = '\0';
            return;
        }
    }
    snprintf(out, len, "%d.0.0", code >= 500 ? 5 : code >= 400 ? 4 : 2);
}

static void
dsn_committed(void *arg, int error)
{
    char *id = arg;

    if (error)
        log_warnx("queue: cannot queue the report about %s: %s", id, strerror(error));
    free(id);
}

void
deliver_send_dsn(struct deliver *d, struct dmsg *m, enum dsn_kind kind,
                 const struct drcpt_result *res, size_t nres)
{
    struct config *cfg = deliver_config(d);
    const struct accepted_domain *def = config_default_domain(cfg);
    const char *fqdn = cfg->transport.fqdn ? cfg->transport.fqdn : "postern";
    struct dsn_rcpt *rcpts = xcalloc(nres, sizeof(*rcpts));
    char(*codes)[16] = xcalloc(nres, sizeof(*codes));
    char **diag = xcalloc(nres, sizeof(char *));
    char **mta = xcalloc(nres, sizeof(char *));
    char *postmaster, *text, err[256];
    struct queue_msg *qm;
    struct envelope *env;
    time_t now = time(NULL);
    size_t len;

    if (m->env->from[0] == '\0')
        goto out; /* never report on a report */
    postmaster = cfg->transport.external_postmaster_address
                     ? xstrdup(cfg->transport.external_postmaster_address)
                     : xasprintf("postmaster@%s", def ? def->domain_name : fqdn);
    for (size_t i = 0; i < nres; i++) {
        const struct envelope_rcpt *r = &m->env->rcpts[res[i].rcpt];
        status_code(res[i].text, kind == DSN_SUCCESS ? 250 : res[i].code, codes[i],
                    sizeof(codes[i]));
        if (kind == DSN_DELAY && codes[i][0] != '4')
            memcpy(codes[i], "4.0.0", 6);
        diag[i] = xasprintf("smtp; %s", res[i].text);
        rcpts[i].address = r->address;
        rcpts[i].orcpt = r->orcpt;
        rcpts[i].status = codes[i];
        /* RFC 3464 2.3.5: "dns; name" — the host part of "name[addr]:port" */
        if (res[i].relay && strcmp(res[i].relay, "Maildir") != 0) {
            size_t n = strcspn(res[i].relay, "[");
            mta[i] = xasprintf("dns; %.*s", (int)n, res[i].relay);
        }
        rcpts[i].remote_mta = mta[i];
        rcpts[i].diagnostic = diag[i];
        rcpts[i].last_attempt = now;
    }
    {
        int fd = queue_content_fd(d->env.queue, m->env->id);
        text = fd < 0
                   ? NULL
                   : dsn_build(kind, fqdn, postmaster, m->env, rcpts, nres, fd, DSN_MAX_ATTACH, now,
                               m->env->received + (time_t)cfg->transport.message_expiration_timeout,
                               &len);
        if (fd >= 0)
            close(fd);
    }
    free(postmaster);
    if (text == NULL) {
        log_warnx("queue: cannot build the report about %s", m->env->id);
        goto out;
    }
    if ((qm = queue_msg_begin(d->env.queue, err, sizeof(err))) == NULL) {
        log_warnx("queue: cannot queue the report about %s: %s", m->env->id, err);
        free(text);
        goto out;
    }
    queue_msg_write(qm, text, len);
    free(text);
    env = envelope_new();
    env->received = now;
    env->from = xstrdup("");
    env->connector = xstrdup("DSN");
    env->client_ip = xstrdup("127.0.0.1");
    env->client_helo = xstrdup(fqdn);
    env->body = m->env->body;
    env->smtputf8 = m->env->smtputf8;
    /* RFC 8689 5: a report about a REQUIRETLS message quotes it, so it
     * travels under the same promise (and is dropped, never reported on,
     * if it cannot) */
    env->requiretls = m->env->requiretls;
    envelope_add_rcpt(env, m->env->from, 0, NULL);
    log_info("queue: %s report about %s to <%s>, queued as %s",
             kind == DSN_FAILURE ? "failure"
             : kind == DSN_DELAY ? "delay"
                                 : "success",
             m->env->id, m->env->from, queue_msg_id(qm));
    if (d->env.track) {
        const char *to = m->env->from;
        struct msgtrack_event ev = {
            .source = "DSN",
            .event_id = "DSN",
            .internal_message_id = m->env->id,
            .recipients = &to,
            .nrecipients = 1,
            .related_recipient_address = rcpts[0].address,
            .reference = m->message_id,
            .subject = m->subject,
            .sender = m->env->from,
            .return_path = m->env->from,
            .message_info = kind == DSN_FAILURE ? "failure"
                            : kind == DSN_DELAY ? "delay"
                                                : "success",
        };
        msgtrack_write(d->env.track, &ev);
    }
    queue_msg_commit(qm, env, dsn_committed, xstrdup(m->env->id));
out:
    for (size_t i = 0; i < nres; i++) {
        free(diag[i]);
        free(mta[i]);
    }
    free(diag);
    free(mta);
    free(codes);
    free(rcpts);
}
