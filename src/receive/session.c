/*
 * session.c — the SMTP server session: connection life, input framing,
 * replies, and the command dispatcher. DATA lives in session_data.c, AUTH
 * in session_auth.c.
 *
 * Input is framed strictly: a command line ends in CRLF; a bare LF or a CR
 * inside a line is a protocol error (SMTP smuggling), and lines longer
 * than SESSION_LINE_MAX are refused whole. Commands are handled one at a
 * time from the input buffer, which is what lets PIPELINING work: while an
 * asynchronous step runs (busy) the rest of the batch waits in the buffer.
 * Must never: send 250 for a message before the queue reports it durable;
 * relay for a session without the right to; offer AUTH where the connector
 * forbids it.
 */
#include "receive/session.h"
#include "lib/log.h"
#include "lib/util.h"
#include "receive/spool.h"
#include "lib/metrics_catalog.h"
#include "logs/protolog.h"
#include "receive/receive_metrics.h"
#include "receive/server.h"
#include "receive/session_int.h"
#include "tls/tls.h"
#include "tls/tls_handshake.h"
#include "tls/tls_shutdown.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* RFC 4954 4: AUTH lines may be up to 12288 octets; other commands are far
 * shorter (RFC 5321 4.5.3.1.4: 512), so one limit covers both. */
#define SESSION_LINE_MAX 12288
/* Replies held for a client that does not read them. */
#define SESSION_OUTPUT_MAX (256 * 1024)

/* A STARTTLS handshake in progress: the socket and the SSL belong to the
 * session until the TLS bufferevent takes them over. */
struct session_starttls {
    struct tls_handshake *hs;
    struct ssl_st *ssl;
    evutil_socket_t fd;
};

/* Lines are parsed one at a time on the loop thread, so one buffer serves
 * every session. */
static char session_line[SESSION_LINE_MAX + 1];

static void session_process_input(struct session *s);
static void session_close_after_reply(struct session *s, const char *reason);
static void session_read_cb(struct bufferevent *bev, void *arg);
static void session_write_cb(struct bufferevent *bev, void *arg);
static void session_event_cb(struct bufferevent *bev, short what, void *arg);

static const char *const session_state_names[] = {
    "GREETING", "READY", "MAIL", "RCPT", "DATA", "AUTH", "TLS", "QUIT",
};

void
session_enter_state(struct session *s, enum session_state state)
{
    log_debug("%016llx smtp state %s -> %s", (unsigned long long)s->id,
              session_state_names[s->state], session_state_names[state]);
    s->state = state;
}

void
session_log(struct session *s, char event, const char *data, const char *context)
{
    if (!s->logging)
        return;
    protolog_write(s->srv->protolog, s->rc->name, s->id, s->log_seq++, s->local, s->remote, event,
                   data, context);
}

void
session_reply(struct session *s, const char *fmt, ...)
{
    char text[2048];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0 || s->bev == NULL)
        return;
    if ((size_t)n >= sizeof(text))
        n = sizeof(text) - 1;
    evbuffer_add(bufferevent_get_output(s->bev), text, (size_t)n);
    evbuffer_add(bufferevent_get_output(s->bev), "\r\n", 2);
    session_output_queued(s);
    /* A client that pipelines without reading its replies would make us
     * hold them all: stop reading until it catches up. */
    if (!s->read_paused &&
        evbuffer_get_length(bufferevent_get_output(s->bev)) > SESSION_OUTPUT_MAX) {
        s->read_paused = true;
        session_read_stop(s);
    }
    if (s->logging) {
        /* one log line per reply line */
        char *line = text, *crlf;
        while ((crlf = strstr(line, "\r\n")) != NULL) {
            *crlf = '\0';
            session_log(s, '>', line, NULL);
            line = crlf + 2;
        }
        session_log(s, '>', line, NULL);
    }
}

const char *
session_fqdn(const struct session *s)
{
    return receive_connector_fqdn(s->cfg, s->rc);
}

static uint64_t
min_limit(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

uint64_t
session_max_message_size(const struct session *s)
{
    return min_limit(s->rc->max_message_size, s->cfg->transport.max_receive_size);
}

/*
 * Rights from the connector's permission groups (docs/exchange-model.md):
 * AnonymousUsers may submit to accepted domains; ExchangeUsers (an
 * authenticated session) may also relay; ExchangeServers is granted to
 * every session of an ExternalAuthoritative connector (secured outside
 * SMTP), which may also pass postern's own X-Postern-* headers along.
 */
unsigned
session_rights(const struct session *s)
{
    return rcvconn_rights(s->rc, s->auth_user != NULL, s->tx.domain_secured != NULL);
}

void
session_reset_transaction(struct session *s)
{
    envelope_free(s->tx.env);
    spool_msg_abort(s->tx.msg);
    free(s->tx.domain_secured);
    memset(&s->tx, 0, sizeof(s->tx));
}

/* Ends a STARTTLS handshake that has not finished, with its socket. */
static void
session_starttls_abandon(struct session *s)
{
    struct session_starttls *st = s->starttls;

    if (st == NULL)
        return;
    tls_handshake_cancel(st->hs);
    tls_ssl_free(st->ssl);
    close(st->fd);
    free(st);
    s->starttls = NULL;
}

static void
session_free(struct session *s)
{
    struct server *srv = s->srv;

    session_reset_transaction(s);
    session_starttls_abandon(s);
    session_io_end(s); /* before the bufferevent closes the socket */
    tls_bufferevent_free(s->bev);
    if (s->lifetime_timer)
        event_free(s->lifetime_timer);
    if (s->prev)
        s->prev->next = s->next;
    else
        srv->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    srv->nsessions--;
    config_unref(s->cfg);
    free(s->tls_desc);
    free(s->helo);
    free(s->auth_user);
    if (s->auth_login_user) {
        explicit_bzero(s->auth_login_user, strlen(s->auth_login_user));
        free(s->auth_login_user);
    }
    free(s);
}

void
session_close(struct session *s, const char *reason)
{
    if (s->dead)
        return;
    log_info("%016llx smtp disconnected connector=\"%s\" client=%s reason=\"%s\"",
             (unsigned long long)s->id, s->rc->name, s->remote, reason);
    session_log(s, '-', NULL, reason);
    receive_metrics_session_end(s->rc->name, reason);
    protolog_flush(s->srv->protolog);
    if (s->busy || s->in_process) {
        /* A worker (or session_process up the stack) still holds a pointer
         * to us: drop the connection now and free the rest when it lets
         * go. */
        s->dead = true;
        session_starttls_abandon(s);
        session_io_end(s);
        tls_bufferevent_free(s->bev);
        s->bev = NULL;
        return;
    }
    session_free(s);
}

/* Sends a final reply, then closes once it has been written. */
static void
session_close_after_reply(struct session *s, const char *reason)
{
    if (s->bev == NULL) {
        /* in a STARTTLS handshake: no reply can reach the client */
        session_close(s, reason);
        return;
    }
    session_enter_state(s, SS_QUIT);
    free(s->helo);
    s->helo = xstrdup(reason); /* kept for the disconnect log line */
    session_read_stop(s);
    bufferevent_setcb(s->bev, NULL, session_write_cb, session_event_cb, s);
    if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
        session_close(s, reason);
}

bool
session_protocol_error(struct session *s)
{
    s->protocol_errors++;
    if (s->rc->max_protocol_errors != CONFIG_UNLIMITED &&
        s->protocol_errors > s->rc->max_protocol_errors) {
        session_reply(s, "421 4.7.0 %s Too many protocol errors; closing connection",
                      session_fqdn(s));
        session_close_after_reply(s, "too many protocol errors");
        return false;
    }
    return true;
}

void
session_resume(struct session *s)
{
    s->busy = false;
    if (s->dead) {
        session_free(s);
        return;
    }
    if (s->srv->stopping) {
        session_shutdown(s); /* the reply to the finished step is out */
        return;
    }
    session_process(s);
}

void
session_shutdown(struct session *s)
{
    if (s->dead || s->state == SS_QUIT || s->bev == NULL)
        return;
    session_reply(s, "421 4.3.2 %s Service shutting down; try again later", session_fqdn(s));
    session_close_after_reply(s, "service stopping");
}

/* ---- commands ---- */

static void
cmd_helo(struct session *s, const struct smtp_command *cmd)
{
    bool ehlo = cmd->verb == SMTP_VERB_EHLO;
    unsigned long long max = session_max_message_size(s);
    char ext[512];
    int n = 0;

    if (*cmd->arg == '\0' || !smtp_valid_helo(cmd->arg)) {
        session_reply(s, "501 5.5.4 Syntax: %s hostname", cmd->verb_text);
        session_protocol_error(s);
        return;
    }
    session_reset_transaction(s);
    free(s->helo);
    s->helo = xstrdup(cmd->arg);
    s->esmtp = ehlo;
    session_enter_state(s, SS_READY);
    if (!ehlo) {
        session_reply(s, "250 %s Hello [%s]", session_fqdn(s), s->remote_ip);
        return;
    }
    if (max != CONFIG_UNLIMITED)
        n += snprintf(ext + n, sizeof(ext) - (size_t)n, "250-SIZE %llu\r\n", max);
    else
        n += snprintf(ext + n, sizeof(ext) - (size_t)n, "250-SIZE\r\n");
    n += snprintf(ext + n, sizeof(ext) - (size_t)n,
                  "250-PIPELINING\r\n250-DSN\r\n"
                  "250-ENHANCEDSTATUSCODES\r\n");
    if (!s->tls && server_tls_ctx(s->srv, s->rc) != NULL)
        n += snprintf(ext + n, sizeof(ext) - (size_t)n, "250-STARTTLS\r\n");
    if (session_auth_offered(s))
        n += snprintf(ext + n, sizeof(ext) - (size_t)n, "250-AUTH PLAIN LOGIN\r\n");
    /* RFC 8689 2: only a session already inside TLS may offer REQUIRETLS
     * (after STARTTLS: postern has no implicit-TLS listener). */
    if (s->tls)
        snprintf(ext + n, sizeof(ext) - (size_t)n, "250-REQUIRETLS\r\n");
    session_reply(s, "250-%s Hello [%s]\r\n%s250-8BITMIME\r\n250 SMTPUTF8", session_fqdn(s),
                  s->remote_ip, ext);
}

/*
 * Domain security, receive side (docs/exchange-model.md; decided here where
 * Exchange's behaviour is unconfirmed): on a connector with
 * DomainSecureEnabled, mail from a domain in TLSReceiveDomainSecureList is
 * accepted only inside TLS with a client certificate that chains to a
 * trusted root, passes revocation and names the domain. Every refusal is
 * 454 4.7.5 (temporary): the partner's mail waits in its queue until its
 * TLS is fixed instead of bouncing. Returns NULL when the transaction may
 * go on (setting s->tx.domain_secured when proved), else the reply.
 */
static const char *
session_domain_security(struct session *s, const struct smtp_address *from)
{
    static char reply[1024];
    char domain[SMTP_DOMAIN_MAX + 1], why[400];
    const char *names[1] = {domain};
    enum tls_peer_status st;

    if (!s->rc->domain_secure_enabled || from->at == 0)
        return NULL;
    strlcpy_p(domain, smtp_address_domain(from), sizeof(domain));
    str_lower(domain);
    if (!config_receive_domain_secure(s->cfg, domain))
        return NULL;
    if (!s->tls) {
        snprintf(why, sizeof(why), "mail from %s must arrive over TLS (domain security)", domain);
        st = TLS_PEER_NO_CERTIFICATE;
    } else {
        st = tls_peer_check(bufferevent_openssl_get_ssl(s->bev), names, 1, why, sizeof(why));
    }
    /* domain is in TLSReceiveDomainSecureList: a label of bounded count */
    metric_inc(MET_DOMAIN_SECURITY, METRIC_L("inbound", domain,
                                             st == TLS_PEER_OK ? "success"
                                             : s->tls          ? tls_peer_status_name(st)
                                                               : "NoTLS"));
    if (st == TLS_PEER_OK) {
        s->tx.domain_secured = xstrdup(domain);
        log_info("%016llx smtp domain-secured connector=\"%s\" client=%s domain=%s",
                 (unsigned long long)s->id, s->rc->name, s->remote_ip, domain);
        session_log(s, '*', domain, "domain secured: client certificate accepted");
        return NULL;
    }
    log_info("%016llx smtp domain security failed connector=\"%s\" client=%s domain=%s "
             "check=%s reason=\"%s\"",
             (unsigned long long)s->id, s->rc->name, s->remote_ip, domain,
             s->tls ? tls_peer_status_name(st) : "NoTLS", why);
    session_log(s, '*', why, "domain security failed");
    snprintf(reply, sizeof(reply), "454 4.7.5 Domain security for %s failed (%s): %s", domain,
             s->tls ? tls_peer_status_name(st) : "NoTLS", why);
    return reply;
}

static bool
mail_has_params(const struct smtp_mail_params *p)
{
    return p->has_size || p->body != SMTP_BODY_UNSPEC || p->smtputf8 || p->ret != SMTP_RET_UNSPEC ||
           p->envid[0] || p->auth[0] || p->requiretls;
}

static void
cmd_mail(struct session *s, const struct smtp_command *cmd)
{
    struct smtp_address from;
    struct smtp_mail_params params;
    const char *reply;
    uint64_t max = session_max_message_size(s);

    if (s->rc->require_tls && !s->tls) {
        session_reply(s, "530 5.7.0 Must issue a STARTTLS command first");
        return;
    }
    free(s->tx.domain_secured);
    s->tx.domain_secured = NULL;
    if (smtp_parse_mail(cmd->arg, &from, &params, &reply) < 0) {
        session_reply(s, "%s", reply);
        session_protocol_error(s);
        return;
    }
    if ((reply = session_domain_security(s, &from)) != NULL) {
        session_reply(s, "%s", reply);
        return;
    }
    if (!(session_rights(s) & RIGHT_SUBMIT)) {
        session_reply(s, "530 5.7.1 Client was not authenticated");
        free(s->tx.domain_secured);
        s->tx.domain_secured = NULL;
        return;
    }
    if (!s->esmtp && mail_has_params(&params)) {
        session_reply(s, "555 5.5.4 MAIL parameters need EHLO");
        session_protocol_error(s);
        return;
    }
    if (params.body == SMTP_BODY_BINARYMIME) {
        session_reply(s, "555 5.5.4 BINARYMIME needs CHUNKING, which is not offered");
        return;
    }
    /* Not offered outside TLS (cmd_helo), so refused like any parameter
     * the session did not offer: 555 (RFC 5321 4.1.1.11). Permanent: the
     * same command on a clear session can never succeed, and the text
     * tells the client what would. */
    if (params.requiretls && !s->tls) {
        session_reply(s, "555 5.5.4 REQUIRETLS is offered only after STARTTLS");
        return;
    }
    if (params.has_size && max != CONFIG_UNLIMITED && params.size > max) {
        session_reply(s, "552 5.3.4 Message size exceeds fixed maximum message size");
        return;
    }
    if (!spool_has_space(s->srv->spool, params.has_size ? params.size : 0)) {
        log_warnx("%016llx smtp queue disk is full: refusing mail", (unsigned long long)s->id);
        session_reply(s, "452 4.3.1 Insufficient system storage");
        return;
    }
    s->tx.mail = params;
    s->tx.env = envelope_new();
    s->tx.env->from = xstrdup(from.addr);
    s->tx.env->received = time(NULL);
    s->tx.env->connector = xstrdup(s->rc->name);
    s->tx.env->client_ip = xstrdup(s->remote_ip);
    s->tx.env->client_helo = xstrdup(s->helo);
    s->tx.env->auth_user = s->auth_user ? xstrdup(s->auth_user) : NULL;
    s->tx.env->tls = s->tls_desc ? xstrdup(s->tls_desc) : NULL;
    s->tx.env->envid = params.envid[0] ? xstrdup(params.envid) : NULL;
    s->tx.env->ret = params.ret;
    s->tx.env->body = params.body;
    s->tx.env->smtputf8 = params.smtputf8;
    s->tx.env->requiretls = params.requiretls;
    s->tx.env->domain_secured = s->tx.domain_secured ? xstrdup(s->tx.domain_secured) : NULL;
    session_enter_state(s, SS_MAIL);
    session_reply(s, "250 2.1.0 Sender OK");
}

/* Is the local part "postmaster" (RFC 5321 4.5.1: always accepted)? */
static bool
is_postmaster(const struct smtp_address *a)
{
    size_t len = a->at ? a->at : strlen(a->addr);

    return len == 10 && strncasecmp(a->addr, "postmaster", 10) == 0;
}

/* Does the local part carry a route to another domain? */
static bool
has_routing_characters(const struct smtp_address *a)
{
    return memchr(a->addr, '%', a->at) != NULL || memchr(a->addr, '!', a->at) != NULL ||
           memchr(a->addr, '@', a->at) != NULL;
}

/* Returns NULL when the recipient is acceptable, else the reply. */
static const char *
rcpt_policy(struct session *s, const struct smtp_address *to)
{
    const struct accepted_domain *ad;
    char domain[SMTP_DOMAIN_MAX + 1];

    if (to->at == 0) /* <postmaster> with no domain: this host's */
        return NULL;
    strlcpy_p(domain, smtp_address_domain(to), sizeof(domain));
    str_lower(domain);
    ad = config_match_accepted_domain(s->cfg, domain);
    if (ad == NULL) {
        if (session_rights(s) & RIGHT_RELAY)
            return NULL;
        return "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain";
    }
    /* A relay domain's next hop may honour %-hacks, bang paths or a quoted
     * address in the local part and pass the mail on to wherever they
     * name: that is relaying, so it needs the right (Postfix:
     * allow_untrusted_routing = no). */
    if (ad->domain_type != DOMAIN_AUTHORITATIVE && has_routing_characters(to) &&
        !(session_rights(s) & RIGHT_RELAY))
        return "550 5.7.54 SMTP; Routing characters (% ! @) in the local part need relay "
               "permission";
    if (ad->domain_type == DOMAIN_AUTHORITATIVE && !is_postmaster(to) &&
        config_find_mailbox_by_address(s->cfg, to->addr) == NULL)
        return "550 5.1.1 User unknown";
    return NULL;
}

static void
cmd_rcpt(struct session *s, const struct smtp_command *cmd)
{
    struct smtp_address to;
    struct smtp_rcpt_params params;
    const char *reply;
    uint64_t max = min_limit(s->rc->max_recipients_per_message,
                             s->cfg->transport.max_recipient_envelope_limit);

    if (smtp_parse_rcpt(cmd->arg, &to, &params, &reply) < 0) {
        session_reply(s, "%s", reply);
        session_protocol_error(s);
        return;
    }
    if (to.utf8 && !s->tx.mail.smtputf8) {
        session_reply(s, "553 5.6.7 Non-ASCII address requires SMTPUTF8");
        return;
    }
    if ((params.notify || params.orcpt[0]) && !s->esmtp) {
        session_reply(s, "555 5.5.4 RCPT parameters need EHLO");
        return;
    }
    if (s->tx.env->nrcpts >= max) {
        session_reply(s, "452 4.5.3 Too many recipients");
        return;
    }
    if ((reply = rcpt_policy(s, &to)) != NULL) {
        log_info("%016llx smtp rcpt refused connector=\"%s\" client=%s to=<%s> reply=\"%s\"",
                 (unsigned long long)s->id, s->rc->name, s->remote_ip, to.addr, reply);
        session_reply(s, "%s", reply);
        return;
    }
    envelope_add_rcpt(s->tx.env, to.addr, params.notify, params.orcpt);
    session_enter_state(s, SS_RCPT);
    session_reply(s, "250 2.1.5 Recipient OK");
}

static void
cmd_data(struct session *s, const struct smtp_command *cmd)
{
    if (*cmd->arg) {
        session_reply(s, "501 5.5.4 Syntax: DATA");
        session_protocol_error(s);
        return;
    }
    session_data_begin(s);
}

static void
cmd_rset(struct session *s, const struct smtp_command *cmd)
{
    session_reset_transaction(s);
    if (s->state != SS_GREETING)
        session_enter_state(s, SS_READY);
    session_reply(s, "250 2.0.0 Resetting");
}

static void
cmd_noop(struct session *s, const struct smtp_command *cmd)
{
    session_reply(s, "250 2.0.0 OK");
}

static void
cmd_quit(struct session *s, const struct smtp_command *cmd)
{
    session_reply(s, "221 2.0.0 %s Service closing transmission channel", session_fqdn(s));
    session_close_after_reply(s, "QUIT");
}

static void
cmd_vrfy(struct session *s, const struct smtp_command *cmd)
{
    /* RFC 5321 3.5.3: 252 when the server will not verify. */
    session_reply(s, "252 2.1.5 Cannot VRFY user, but will accept message and attempt delivery");
}

static void
cmd_expn(struct session *s, const struct smtp_command *cmd)
{
    session_reply(s, "502 5.5.1 EXPN is not supported");
}

static void
cmd_help(struct session *s, const struct smtp_command *cmd)
{
    session_reply(s, "214-2.0.0 Commands supported:\r\n"
                     "214 2.0.0 EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS AUTH");
}

static void
session_tls_established(struct session *s)
{
    struct ssl_st *ssl = bufferevent_openssl_get_ssl(s->bev);

    s->tls = true;
    metric_inc(MET_TLS_HANDSHAKES, METRIC_L("inbound", tls_ssl_version(ssl), "success"));
    free(s->tls_desc);
    s->tls_desc = xasprintf("version=%s cipher=%s group=%s", tls_ssl_version(ssl),
                            tls_ssl_cipher(ssl), tls_ssl_group(ssl));
    log_info("%016llx smtp tls connector=\"%s\" client=%s %s", (unsigned long long)s->id,
             s->rc->name, s->remote, s->tls_desc);
    session_log(s, '*', s->tls_desc, "TLS negotiation succeeded");
    /* RFC 3207 4.2: forget everything learnt before TLS. */
    free(s->helo);
    s->helo = NULL;
    free(s->auth_user);
    s->auth_user = NULL;
    s->esmtp = false;
    session_enter_state(s, SS_GREETING);
}

static void
session_tls_done(void *arg, enum tls_handshake_result result, const char *reason)
{
    struct session *s = arg;
    struct session_starttls *st = s->starttls;
    struct timeval idle = {(time_t)s->rc->connection_inactivity_timeout, 0};

    st->hs = NULL;
    if (result != TLS_HANDSHAKE_OK) {
        char text[320];
        metric_inc(MET_TLS_HANDSHAKES, METRIC_L("inbound", "none", "failure"));
        snprintf(text, sizeof(text), "TLS negotiation failed: %s", reason);
        log_info("%016llx smtp %s client=%s", (unsigned long long)s->id, text, s->remote);
        session_close(s, text);
        return;
    }
    s->bev = bufferevent_openssl_socket_new(s->srv->base, st->fd, st->ssl, BUFFEREVENT_SSL_OPEN,
                                            BEV_OPT_CLOSE_ON_FREE);
    if (s->bev == NULL) {
        session_close(s, "cannot start TLS");
        return;
    }
    free(st);
    s->starttls = NULL;
    bufferevent_setcb(s->bev, session_read_cb, session_write_cb, session_event_cb, s);
    bufferevent_setwatermark(s->bev, EV_READ, 0, SESSION_INPUT_MAX);
    bufferevent_set_timeouts(s->bev, &idle, NULL);
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    session_tls_established(s);
    if (s->srv->stopping) {
        /* the stop found no connection to say goodbye on */
        session_shutdown(s);
        return;
    }
    session_process(s);
}

static void
cmd_starttls(struct session *s, const struct smtp_command *cmd)
{
    struct ssl_ctx_st *ctx;
    struct ssl_st *ssl;
    struct evbuffer *in, *out;
    size_t pending;
    evutil_socket_t fd;

    if (s->tls) {
        session_reply(s, "503 5.5.1 TLS is already active");
        session_protocol_error(s);
        return;
    }
    if (*cmd->arg) {
        session_reply(s, "501 5.5.4 Syntax: STARTTLS");
        session_protocol_error(s);
        return;
    }
    /* The keys process signs every handshake: without it none can finish. */
    if (!s->srv->keys_up) {
        log_warnx("%016llx smtp STARTTLS refused: the keys process is not running",
                  (unsigned long long)s->id);
        session_log(s, '*', "STARTTLS refused: the keys process is not running", NULL);
        session_reply(s, "454 4.7.0 TLS not available due to temporary reason");
        return;
    }
    if ((ctx = server_tls_ctx(s->srv, s->rc)) == NULL || (ssl = tls_ssl_new(ctx)) == NULL) {
        session_reply(s, "454 4.7.0 TLS not available");
        return;
    }
    if (s->rc->domain_secure_enabled)
        tls_ssl_request_client_cert(ssl);
    session_reply(s, "220 2.0.0 SMTP server ready");
    /* RFC 3207 6 / CVE-2011-0411: anything pipelined after STARTTLS came in
     * clear text and must not be executed inside the TLS session. */
    in = bufferevent_get_input(s->bev);
    if ((pending = evbuffer_get_length(in)) > 0) {
        char note[80];
        snprintf(note, sizeof(note), "discarded %zu bytes sent after STARTTLS", pending);
        session_log(s, '*', note, NULL);
        evbuffer_drain(in, pending);
        s->scanned = 0;
    }
    session_reset_transaction(s);
    /* The 220 must leave in clear text before the handshake; it is a few
     * bytes on a socket whose peer is waiting for them, so it goes out now.
     * The TLS bufferevent then owns the socket directly (no filter layer:
     * less memory, and a flushed output means the kernel has the data). */
    fd = bufferevent_getfd(s->bev);
    out = bufferevent_get_output(s->bev);
    /* The bufferevent freezes the front of its output buffer; we take over
     * the socket, so we thaw it and write what is left (any pipelined
     * replies and the 220) ourselves. */
    evbuffer_unfreeze(out, 1);
    log_flush(); /* what the client reads is in the log first (log.h) */
    while (evbuffer_get_length(out) > 0) {
        if (evbuffer_write(out, fd) <= 0) {
            tls_ssl_free(ssl);
            session_close(s, "cannot send the STARTTLS reply");
            return;
        }
    }
    session_io_end(s);
    bufferevent_setfd(s->bev, -1);
    bufferevent_free(s->bev);
    s->bev = NULL;
    /* The handshake runs on its own (tls_handshake.h: a signature by the
     * keys process pauses this session only); the TLS bufferevent takes
     * the socket over when it is done (session_tls_done). */
    s->starttls = xcalloc(1, sizeof(*s->starttls));
    s->starttls->ssl = ssl;
    s->starttls->fd = fd;
    session_enter_state(s, SS_TLS);
    s->starttls->hs = tls_handshake_start(s->srv->base, fd, ssl,
                                          s->rc->connection_inactivity_timeout > INT_MAX
                                              ? INT_MAX
                                              : (int)s->rc->connection_inactivity_timeout,
                                          session_tls_done, s);
    if (s->starttls->hs == NULL)
        session_close(s, "cannot start TLS");
}

static void
cmd_auth(struct session *s, const struct smtp_command *cmd)
{
    session_auth_command(s, cmd->arg);
}

static void
cmd_unknown(struct session *s, const struct smtp_command *cmd)
{
    session_reply(s, "500 5.5.2 Command unrecognized");
    session_protocol_error(s);
}

/*
 * The commands and the states that accept them (OpenSMTPD's check column):
 * a command is dispatched only in one of its states, so no handler has to
 * test the order of the dialogue again. Lines read in the other states
 * (DATA, an AUTH exchange, a TLS handshake, closing) never come here.
 */
#define IN(st) (1u << (st))
#define DIALOGUE (IN(SS_GREETING) | IN(SS_READY) | IN(SS_MAIL) | IN(SS_RCPT))

static const struct session_command {
    enum smtp_verb verb;
    unsigned states;
    const char *too_late; /* the 503 once its states are past */
    void (*handler)(struct session *, const struct smtp_command *);
} session_commands[] = {
    {SMTP_VERB_HELO, DIALOGUE, NULL, cmd_helo},
    {SMTP_VERB_EHLO, DIALOGUE, NULL, cmd_helo},
    {SMTP_VERB_MAIL, IN(SS_READY), "503 5.5.1 Sender already specified", cmd_mail},
    {SMTP_VERB_RCPT, IN(SS_MAIL) | IN(SS_RCPT), NULL, cmd_rcpt},
    {SMTP_VERB_DATA, IN(SS_RCPT), NULL, cmd_data},
    {SMTP_VERB_RSET, DIALOGUE, NULL, cmd_rset},
    {SMTP_VERB_NOOP, DIALOGUE, NULL, cmd_noop},
    {SMTP_VERB_QUIT, DIALOGUE, NULL, cmd_quit},
    {SMTP_VERB_VRFY, DIALOGUE, NULL, cmd_vrfy},
    {SMTP_VERB_EXPN, DIALOGUE, NULL, cmd_expn},
    {SMTP_VERB_HELP, DIALOGUE, NULL, cmd_help},
    {SMTP_VERB_AUTH, IN(SS_READY), "503 5.5.1 AUTH is not permitted during a mail transaction",
     cmd_auth},
    {SMTP_VERB_STARTTLS, DIALOGUE, NULL, cmd_starttls},
};

/* The reply to a command out of order: what the dialogue still lacks, or
 * the command's own reply when its moment has passed. */
static const char *
out_of_order(const struct session_command *c, enum session_state state)
{
    static const char *const missing[] = {
        [SS_GREETING] = "503 5.5.1 Send EHLO or HELO first",
        [SS_READY] = "503 5.5.1 Need MAIL command",
        [SS_MAIL] = "503 5.5.1 Need RCPT command",
    };

    /* the states of the dialogue run in order: a later one is accepted */
    if (c->states >> state != 0 && state < sizeof(missing) / sizeof(missing[0]))
        return missing[state];
    return c->too_late ? c->too_late : "503 5.5.1 Bad sequence of commands";
}

static void
session_command(struct session *s, char *line)
{
    struct smtp_command cmd;

    smtp_command_parse(line, &cmd);
    if (s->logging) {
        /* AUTH carries credentials in its initial response. */
        session_log(s, '<', cmd.verb == SMTP_VERB_AUTH ? "AUTH ****" : line, NULL);
    }
    for (size_t i = 0; i < sizeof(session_commands) / sizeof(session_commands[0]); i++) {
        const struct session_command *c = &session_commands[i];
        if (c->verb != cmd.verb)
            continue;
        if (!(c->states & IN(s->state))) {
            session_reply(s, "%s", out_of_order(c, s->state));
            session_protocol_error(s);
            return;
        }
        c->handler(s, &cmd);
        return;
    }
    cmd_unknown(s, &cmd);
}

/* ---- input ---- */

int
session_read_line(struct session *s, char *buf, size_t max, size_t *len, enum line_end *end)
{
    struct evbuffer *in = bufferevent_get_input(s->bev);
    size_t avail = evbuffer_get_length(in), n;
    struct evbuffer_ptr lf, before;
    char c;

    if (avail == 0)
        return LINE_NEED_MORE;
    /* Bytes already searched hold no LF: start after them, so a line sent a
     * few bytes at a time costs linear, not quadratic, work. */
    if (s->scanned > avail || evbuffer_ptr_set(in, &lf, s->scanned, EVBUFFER_PTR_SET) < 0)
        evbuffer_ptr_set(in, &lf, 0, EVBUFFER_PTR_SET);
    lf = evbuffer_search(in, "\n", 1, &lf);
    if (lf.pos < 0) {
        if (avail <= max && !s->skip_line) {
            s->scanned = avail;
            return LINE_NEED_MORE;
        }
        /* An over-long line: its bytes go, but whether its last byte was a
         * CR must stay known, because an LF arriving in the next read then
         * ends the line in CRLF (and only such a line may precede the end
         * of data). */
        evbuffer_ptr_set(in, &before, avail - 1, EVBUFFER_PTR_SET);
        s->skip_last_cr = evbuffer_copyout_from(in, &before, &c, 1) == 1 && c == '\r';
        evbuffer_drain(in, avail);
        s->scanned = 0;
        s->skip_line = true;
        return LINE_NEED_MORE;
    }
    s->scanned = 0;
    n = (size_t)lf.pos + 1;
    if (!s->skip_line && n <= max) {
        /* the usual line: its ending is read from the copy */
        evbuffer_remove(in, buf, n);
        buf[n] = '\0';
        *len = n;
        *end = n >= 2 && buf[n - 2] == '\r' ? LINE_END_CRLF : LINE_END_LF;
        return LINE_OK;
    }
    /* the end of a line too long to keep: report it once, now that it is
     * known how it ended (a lone LF continues what was discarded) */
    if (n == 1) {
        *end = s->skip_line && s->skip_last_cr ? LINE_END_CRLF : LINE_END_LF;
    } else {
        evbuffer_ptr_set(in, &before, n - 2, EVBUFFER_PTR_SET);
        *end = evbuffer_copyout_from(in, &before, &c, 1) == 1 && c == '\r' ? LINE_END_CRLF
                                                                           : LINE_END_LF;
    }
    evbuffer_drain(in, n);
    s->skip_line = false;
    *len = 0;
    return LINE_TOO_LONG;
}

void
session_process(struct session *s)
{
    s->in_process++;
    session_process_input(s);
    if (s->input_closed && !s->busy && !s->dead && !s->read_paused && s->bev != NULL &&
        s->state != SS_QUIT) {
        /* everything the client sent before it stopped sending is answered:
         * now the connection can go (a partial command or message with it) */
        session_close_after_reply(s, "client closed the connection");
    } else if (s->input_full && !s->dead && s->bev != NULL && !s->read_paused &&
               s->state != SS_QUIT &&
               evbuffer_get_length(bufferevent_get_input(s->bev)) < SESSION_INPUT_MAX) {
        /* input that filled the buffer has been taken in: read again */
        s->input_full = false;
        session_read_start(s);
    }
    /* in_process is still >= 1 above, so session_close only marked s dead
     * (the analyzer forgets the count across the calls). */
    // NOLINTNEXTLINE(clang-analyzer-unix.Malloc): s is freed only here
    if (--s->in_process == 0 && s->dead && !s->busy)
        session_free(s); /* closed by a command handler */
}

static void
session_process_input(struct session *s)
{
    size_t len;
    enum line_end end;

    while (!s->busy && !s->dead && s->bev && s->state != SS_QUIT && s->state != SS_TLS &&
           !s->read_paused) {
        int r;
        if (s->state == SS_DATA) {
            if (!session_data_input(s))
                break;
            continue;
        }
        r = session_read_line(s, session_line, SESSION_LINE_MAX, &len, &end);
        if (r == LINE_NEED_MORE)
            break;
        if (r == LINE_TOO_LONG) {
            session_log(s, '*', NULL, "line too long");
            session_reply(s, "500 5.5.2 Line too long");
            if (!session_protocol_error(s))
                return;
            continue;
        }
        if (end != LINE_END_CRLF || memchr(session_line, '\r', len - 2)) {
            session_log(s, '*', NULL, "bare LF or CR in command");
            session_reply(s, "500 5.5.2 Bare LF or CR received; lines must end with CRLF");
            if (!session_protocol_error(s))
                return;
            continue;
        }
        if (memchr(session_line, '\0', len - 2)) {
            /* the command is read as a C string: a NUL would hide what
             * follows it from the parser but not from the peer or a log */
            session_log(s, '*', NULL, "NUL in command");
            session_reply(s, "500 5.5.2 NUL octet in command");
            if (!session_protocol_error(s))
                return;
            continue;
        }
        session_line[len - 2] = '\0';
        if (s->state == SS_AUTH)
            session_auth_line(s, session_line);
        else
            session_command(s, session_line);
    }
}

static void
session_read_cb(struct bufferevent *bev, void *arg)
{
    session_process(arg);
}

void
session_output_drained(struct session *s)
{
    if (s->state == SS_QUIT) {
        session_close(s, s->helo ? s->helo : "closed");
        return;
    }
    if (s->read_paused) {
        s->read_paused = false;
        session_read_start(s);
        session_process(s);
    }
}

static void
session_write_cb(struct bufferevent *bev, void *arg)
{
    struct session *s = arg;

    if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
        return;
    if (!s->tls)
        bufferevent_disable(bev, EV_WRITE); /* back to direct writes */
    session_output_drained(s);
}

void
session_idle_timeout(struct session *s)
{
    if (s->busy) {
        /* our own commit or password check is what takes time */
        session_read_start(s);
        return;
    }
    session_reply(s, "421 4.4.2 %s Connection inactivity timeout; closing", session_fqdn(s));
    session_close_after_reply(s, "inactivity timeout");
}

void
session_input_ended(struct session *s)
{
    /* A client may send its last commands and stop sending at once (Exim
     * writes QUIT right behind the final dot, then shuts its side down):
     * what it sent is answered first, or a committed message loses its 250
     * and comes back as a duplicate. A commit in flight resumes the
     * processing when it is done. */
    s->input_closed = true;
    if (!s->busy)
        session_process(s);
}

static void
session_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct session *s = arg;

    (void)bev;
    if (what & BEV_EVENT_TIMEOUT) {
        session_idle_timeout(s);
        return;
    }
    if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
        session_input_ended(s);
        return;
    }
    session_close(s, "connection error");
}

static void
session_lifetime_cb(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;

    if (s->state == SS_QUIT)
        return;
    if (s->busy) {
        /* answer the step in progress first, then time out */
        struct timeval again = {1, 0};
        evtimer_add(s->lifetime_timer, &again);
        return;
    }
    session_reply(s, "421 4.4.2 %s Connection timed out; closing", session_fqdn(s));
    session_close_after_reply(s, "connection timeout");
}

void
session_start(struct server *srv, struct config *cfg, const struct receive_connector *rc, int fd,
              const struct sockaddr *local, const struct sockaddr *remote)
{
    struct session *s = xcalloc(1, sizeof(*s));
    struct timeval lifetime = {(time_t)rc->connection_timeout, 0};
    char stamp[64];
    time_t now = time(NULL);
    struct tm tm;

    s->srv = srv;
    s->cfg = config_ref(cfg);
    s->rc = rc;
    s->id = srv->next_session_id++;
    s->logging = rc->protocol_logging_level == LOGGING_VERBOSE;
    sockaddr_format(local, s->local, sizeof(s->local));
    sockaddr_format(remote, s->remote, sizeof(s->remote));
    sockaddr_format_ip(remote, s->remote_ip, sizeof(s->remote_ip));
    memcpy(&s->remote_sa, remote,
           remote->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                         : sizeof(struct sockaddr_in));
    s->next = srv->sessions;
    if (s->next)
        s->next->prev = s;
    srv->sessions = s;
    srv->nsessions++;

    /* reads and writes: session_io.c */
    s->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(s->bev, NULL, session_write_cb, session_event_cb, s);
    bufferevent_disable(s->bev, EV_WRITE); /* (enabled from the start) */
    session_io_start(s, fd);
    s->lifetime_timer = evtimer_new(srv->base, session_lifetime_cb, s);
    evtimer_add(s->lifetime_timer, &lifetime);

    log_info("%016llx smtp connected connector=\"%s\" client=%s local=%s",
             (unsigned long long)s->id, rc->name, s->remote, s->local);
    session_log(s, '+', NULL, NULL);
    if (rc->banner) {
        session_reply(s, "%s", rc->banner);
    } else {
        gmtime_r(&now, &tm);
        strftime(stamp, sizeof(stamp), "%a, %d %b %Y %H:%M:%S +0000", &tm);
        session_reply(s, "220 %s postern ESMTP service ready at %s", session_fqdn(s), stamp);
    }
}

void
session_close_all(struct server *srv)
{
    struct session *s = srv->sessions, *next;

    for (; s; s = next) {
        next = s->next;
        session_close(s, "service stopping");
    }
}
