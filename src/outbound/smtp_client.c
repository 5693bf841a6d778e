/*
 * smtp_client.c — see smtp_client.h. One state machine per connection:
 *
 *   CONNECTING → BANNER → EHLO (→ HELO) → [STARTTLS → TLS → EHLO]
 *     → [AUTH] → READY ⇄ TRANSACTION (MAIL, RCPT..., DATA, content, ".")
 *     → QUIT
 *
 * In a transaction the commands MAIL, RCPT... and DATA are sent together
 * when the peer offers PIPELINING (RFC 2920) and one by one otherwise; the
 * replies are matched to them in order either way.
 */
#include "outbound/smtp_client.h"
#include "lib/log.h"
#include "lib/metrics_catalog.h"
#include "lib/util.h"
#include "logs/protolog.h"
#include "smtp/dot_stuff.h"
#include "smtp/smtp_parse.h"
#include "tls/tls.h"
#include "tls/tls_dane.h"
#include "tls/tls_handshake.h"
#include "tls/tls_shutdown.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define CLIENT_LINE_MAX 4096
#define CLIENT_CHUNK (64 * 1024)
/* Refill the output when it drops below this much: keeps the socket busy
 * without holding a whole message in memory. */
#define CLIENT_LOW_WATER (64 * 1024)

enum client_state {
    CS_CONNECTING,
    CS_BANNER,
    CS_EHLO,
    CS_HELO,
    CS_STARTTLS,
    CS_TLS,
    CS_AUTH,
    CS_AUTH_LOGIN_USER,
    CS_AUTH_LOGIN_PASS,
    CS_READY,
    CS_TXN,      /* waiting for MAIL/RCPT/DATA replies */
    CS_BODY,     /* sending content */
    CS_BODY_END, /* waiting for the final reply (or replies, LMTP) */
    CS_RSET,
    CS_PROBE_RSET, /* a probe's RSET before QUIT */
    CS_QUIT,
    CS_REFUSED, /* a transaction refused locally, its report pending */
    CS_DEAD,
};

static const char *const client_state_names[] = {
    "CONNECTING",      "BANNER", "EHLO",       "HELO",
    "STARTTLS",        "TLS",    "AUTH",       "AUTH_LOGIN_USER",
    "AUTH_LOGIN_PASS", "READY",  "TXN",        "BODY",
    "BODY_END",        "RSET",   "PROBE_RSET", "QUIT",
    "REFUSED",         "DEAD",
};

enum cmd_kind { CMD_MAIL, CMD_RCPT, CMD_DATA };

struct smtp_client {
    struct event_base *base;
    struct bufferevent *bev; /* NULL during the STARTTLS handshake */
    /* that handshake, and the socket and SSL it runs on until the TLS
     * bufferevent takes them over */
    struct tls_handshake *hs;
    struct ssl_st *hs_ssl;
    evutil_socket_t hs_fd;
    const struct smtp_client_policy *p;
    struct smtp_client_callbacks cb;
    void *arg;
    enum client_state state;
    uint64_t id;
    unsigned log_seq;
    char peer[320], local[64], remote[64];
    char *tls_desc;
    bool tls_failed;         /* the handshake failed (reported to closed()) */
    bool dane;               /* the handshake carries TLSA records: tls_dane_check decides */
    bool verified;           /* the peer's certificate passed DANE or the policy's check */
    bool requiretls_offered; /* REQUIRETLS in the EHLO reply */
    bool requiretls_refused; /* reported to closed() */
    enum tls_outcome tls_outcome;

    /* EHLO capabilities */
    bool esmtp, pipelining, starttls, eightbit, smtputf8, dsn, size, auth_plain, auth_login;
    uint64_t size_max;

    /* the reply being read */
    bool in_read; /* inside client_read_cb: client_close leaves the free to it */
    bool in_reply;
    int reply_code;
    char reply[1024];
    char ehlo_lines[2048];

    /* the transaction */
    struct smtp_transaction t;
    struct smtp_result *results;
    enum cmd_kind *cmds;
    char **cmd_text;
    size_t ncmds, next_to_send, next_reply;
    size_t accepted;        /* recipients accepted by RCPT */
    size_t *accepted_index; /* results[] positions of accepted recipients */
    size_t final_replies;   /* LMTP: replies received after the content */
    int data_fd;
    bool at_line_start;
    bool txn_failed;
    struct event *deferred; /* a result decided locally, reported from the loop */
};

static uint64_t client_next_id;

static void client_read_cb(struct bufferevent *bev, void *arg);
static void txn_clear(struct smtp_client *c);
static void txn_report_dead(struct smtp_client *c);
static void client_write_cb(struct bufferevent *bev, void *arg);
static void client_event_cb(struct bufferevent *bev, short what, void *arg);

static void
client_enter_state(struct smtp_client *c, enum client_state st)
{
    log_debug("%016" PRIx64 " smtp-out state %s -> %s", c->id, client_state_names[c->state],
              client_state_names[st]);
    c->state = st;
}

static void
client_log(struct smtp_client *c, char event, const char *data, const char *context)
{
    if (c->p->plog)
        protolog_write(c->p->plog, c->p->connector ? c->p->connector : "", c->id, c->log_seq++,
                       c->local, c->remote, event, data, context);
    if (c->p->trace && c->p->trace->line)
        c->p->trace->line(c->p->trace->arg, event, data, context);
}

static void
client_step(struct smtp_client *c, enum smtp_step step, const char *detail)
{
    if (c->p->trace && c->p->trace->step)
        c->p->trace->step(c->p->trace->arg, step, detail);
}

static void client_send(struct smtp_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
client_send(struct smtp_client *c, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line) - 2)
        n = sizeof(line) - 3;
    if (strncasecmp(line, "AUTH PLAIN ", 11) == 0)
        client_log(c, '>', "AUTH PLAIN ****", NULL); /* never log credentials */
    else
        client_log(c, '>', line, NULL);
    line[n++] = '\r';
    line[n++] = '\n';
    evbuffer_add(bufferevent_get_output(c->bev), line, (size_t)n);
}

/* A credential line: sent, but logged as ****. */
static void
client_send_secret(struct smtp_client *c, const char *b64)
{
    client_log(c, '>', "****", NULL);
    evbuffer_add_printf(bufferevent_get_output(c->bev), "%s\r\n", b64);
}

static bool
isdigit_ascii(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* Ends a STARTTLS handshake that has not finished, with its socket. */
static void
client_tls_abandon(struct smtp_client *c)
{
    tls_handshake_cancel(c->hs);
    c->hs = NULL;
    tls_ssl_free(c->hs_ssl);
    c->hs_ssl = NULL;
    if (c->hs_fd >= 0)
        close(c->hs_fd);
    c->hs_fd = -1;
}

static void
client_free(struct smtp_client *c)
{
    client_tls_abandon(c);
    tls_bufferevent_free(c->bev);
    if (c->deferred)
        event_free(c->deferred);
    txn_clear(c);
    free(c->tls_desc);
    free(c);
}

/* Ends the connection and tells the manager why; frees the client. */
static void client_close(struct smtp_client *c, int code, bool temporary, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
client_close(struct smtp_client *c, int code, bool temporary, const char *fmt, ...)
{
    struct smtp_result why = {.code = code,
                              .temporary = temporary,
                              .tls_failed = c->tls_failed,
                              .requiretls_refused = c->requiretls_refused,
                              .tls_outcome = c->tls_outcome};
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why.text, sizeof(why.text), fmt, ap);
    va_end(ap);
    client_log(c, '-', NULL, why.text);
    /* LMTP: recipients the server already answered keep their answers
     * (RFC 2033 4.2); the rest share the reason the connection ended. */
    if (c->p->lmtp && c->state == CS_BODY_END && c->final_replies > 0 && c->results) {
        for (size_t i = c->final_replies; i < c->accepted; i++) {
            struct smtp_result *r = &c->results[c->accepted_index[i]];
            r->code = 0;
            r->temporary = true;
            strlcpy_p(r->text, why.text, sizeof(r->text));
        }
        client_enter_state(c, CS_DEAD);
        txn_report_dead(c);
    }
    client_enter_state(c, CS_DEAD);
    client_tls_abandon(c);
    tls_bufferevent_free(c->bev);
    c->bev = NULL;
    c->cb.closed(c, c->arg, &why);
    /* Inside the read callback the caller still holds c: it frees it. */
    if (!c->in_read)
        client_free(c);
}

/* ---- EHLO and capabilities ---- */

static void
client_parse_ehlo(struct smtp_client *c)
{
    char *save = NULL, *line;

    c->pipelining = c->starttls = c->eightbit = c->smtputf8 = c->dsn = c->size = false;
    c->auth_plain = c->auth_login = c->requiretls_offered = false;
    c->size_max = 0;
    /* the first line is the greeting; the others are keywords */
    strtok_r(c->ehlo_lines, "\n", &save);
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        if (strcasecmp(line, "PIPELINING") == 0)
            c->pipelining = true;
        else if (strcasecmp(line, "STARTTLS") == 0)
            c->starttls = true;
        else if (strcasecmp(line, "8BITMIME") == 0)
            c->eightbit = true;
        else if (strcasecmp(line, "SMTPUTF8") == 0)
            c->smtputf8 = true;
        else if (strcasecmp(line, "DSN") == 0)
            c->dsn = true;
        else if (strcasecmp(line, "REQUIRETLS") == 0)
            c->requiretls_offered = true;
        else if (strncasecmp(line, "SIZE", 4) == 0 && (line[4] == ' ' || line[4] == '\0')) {
            c->size = true;
            c->size_max = strtoull(line + 4, NULL, 10);
        } else if (strncasecmp(line, "AUTH ", 5) == 0 || strncasecmp(line, "AUTH=", 5) == 0) {
            char *mech, *s2 = NULL;
            for (mech = strtok_r(line + 5, " ", &s2); mech; mech = strtok_r(NULL, " ", &s2)) {
                if (strcasecmp(mech, "PLAIN") == 0)
                    c->auth_plain = true;
                else if (strcasecmp(mech, "LOGIN") == 0)
                    c->auth_login = true;
            }
        }
    }
}

static void
client_send_ehlo(struct smtp_client *c)
{
    c->ehlo_lines[0] = '\0';
    client_step(c, SMTP_STEP_EHLO, c->tls_desc ? "again inside TLS" : c->peer);
    if (c->p->force_helo && !c->p->lmtp) {
        client_enter_state(c, CS_HELO);
        client_send(c, "HELO %s", c->p->ehlo_name);
        return;
    }
    client_enter_state(c, CS_EHLO);
    client_send(c, "%s %s", c->p->lmtp ? "LHLO" : "EHLO", c->p->ehlo_name);
}

static void client_after_tls_decision(struct smtp_client *c);

/* Must this connection have TLS? The connector or a policy says so
 * (require_tls), or the peer's secure TLSA records do (RFC 7672 2.2).
 * Every place that could go on without TLS asks this. */
static bool
tls_mandatory(const struct smtp_client *c)
{
    return c->p->require_tls || c->p->dane_required;
}

static enum tls_outcome outcome_of(enum tls_peer_status st);

/* Who asked for TLS, to start an error with; "" for the connector. */
static const char *
required_by(const struct smtp_client *c)
{
    return c->p->tls_required_by ? c->p->tls_required_by : "";
}

/* After EHLO: STARTTLS when offered and allowed, else the TLS policy
 * decides whether clear text may go on. */
static void
client_after_ehlo(struct smtp_client *c)
{
    if (!c->tls_desc)
        client_step(c, SMTP_STEP_STARTTLS, c->peer);
    if (!c->tls_desc && c->starttls && !c->p->ignore_starttls && c->p->tls_ctx) {
        client_enter_state(c, CS_STARTTLS);
        client_send(c, "STARTTLS");
        return;
    }
    if (!c->tls_desc && !c->starttls)
        c->tls_outcome = TLSO_STARTTLS_NOT_SUPPORTED;
    if (!c->tls_desc && tls_mandatory(c)) {
        /* RFC 7672 2.2: published TLSA records make TLS mandatory, as the
         * connector or a policy may */
        client_send(c, "QUIT");
        if (c->p->dane_required)
            client_close(c, 0, true, "DANE: %s has TLSA records but %s", c->peer,
                         c->starttls ? "TLS cannot be started here (no TLS client context)"
                                     : "does not offer STARTTLS");
        else
            client_close(c, 0, true, "%s%sTLS is required but %s does not offer STARTTLS",
                         required_by(c), *required_by(c) ? ": " : "", c->peer);
        return;
    }
    client_after_tls_decision(c);
}

static void
client_auth_start(struct smtp_client *c)
{
    char plain[1024], b64[1500];
    size_t ulen = strlen(c->p->auth_user), plen = strlen(c->p->auth_password);

    if (c->auth_plain && ulen + plen + 2 < sizeof(plain)) {
        plain[0] = '\0';
        memcpy(plain + 1, c->p->auth_user, ulen);
        plain[1 + ulen] = '\0';
        memcpy(plain + 2 + ulen, c->p->auth_password, plen);
        base64_encode((unsigned char *)plain, ulen + plen + 2, b64, sizeof(b64));
        client_enter_state(c, CS_AUTH);
        client_send(c, "AUTH PLAIN %s", b64);
        explicit_bzero(plain, sizeof(plain));
        explicit_bzero(b64, sizeof(b64));
        return;
    }
    if (c->auth_login) {
        client_enter_state(c, CS_AUTH_LOGIN_USER);
        client_send(c, "AUTH LOGIN");
        return;
    }
    client_send(c, "QUIT");
    client_close(c, 0, c->p->auth_failure_temporary,
                 "%s offers neither AUTH PLAIN nor AUTH LOGIN; cannot authenticate", c->peer);
}

static void
client_after_tls_decision(struct smtp_client *c)
{
    if (c->p->requiretls && (!c->verified || !c->requiretls_offered)) {
        /* RFC 8689 4.2.1: such a message goes only over verified TLS to a
         * server that takes on the same promise */
        c->requiretls_refused = true;
        client_send(c, "QUIT");
        client_close(c, 0, true, "REQUIRETLS: %s %s", c->peer,
                     !c->verified ? "was not verified by DANE, MTA-STS or a certificate check"
                                  : "does not offer REQUIRETLS");
        return;
    }
    if (c->p->auth) {
        client_step(c, SMTP_STEP_AUTH, c->p->auth_user);
        if (c->p->auth_require_tls && !c->tls_desc) {
            /* BasicAuthRequireTLS: the credentials never leave in clear */
            client_send(c, "QUIT");
            client_close(c, 0, true,
                         "%s did not negotiate TLS; credentials not sent (BasicAuthRequireTLS)",
                         c->peer);
            return;
        }
        client_auth_start(c);
        return;
    }
    client_step(c, SMTP_STEP_READY, c->peer);
    client_enter_state(c, CS_READY);
    c->cb.ready(c, c->arg);
}

/* ---- TLS ---- */

static void client_tls_established(struct smtp_client *c);

static void
client_tls_done(void *arg, enum tls_handshake_result result, const char *reason)
{
    struct smtp_client *c = arg;
    struct timeval tv = {c->p->timeout, 0};

    c->hs = NULL;
    metric_inc(MET_TLS_HANDSHAKES,
               METRIC_L("outbound",
                        result == TLS_HANDSHAKE_OK ? tls_ssl_version(c->hs_ssl) : "none",
                        result == TLS_HANDSHAKE_OK ? "success" : "failure"));
    if (result == TLS_HANDSHAKE_TIMEOUT) {
        client_close(c, 0, true, "timeout talking to %s in state %s", c->peer,
                     client_state_names[c->state]);
        return;
    }
    if (result != TLS_HANDSHAKE_OK) {
        c->tls_failed = true;
        c->tls_outcome = TLSO_VALIDATION_FAILURE;
        client_close(c, 0, true, "%s%sTLS negotiation with %s failed: %s", required_by(c),
                     *required_by(c) ? ": " : "", c->peer, reason);
        return;
    }
    c->bev = bufferevent_openssl_socket_new(c->base, c->hs_fd, c->hs_ssl, BUFFEREVENT_SSL_OPEN,
                                            BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        client_close(c, 0, true, "cannot start TLS");
        return;
    }
    c->hs_ssl = NULL;
    c->hs_fd = -1;
    bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    bufferevent_setcb(c->bev, client_read_cb, client_write_cb, client_event_cb, c);
    bufferevent_set_timeouts(c->bev, &tv, &tv);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    client_tls_established(c);
}

/* Puts the peer's TLSA records on ssl; false when the connection ended. */
static bool
client_dane_setup(struct smtp_client *c, struct ssl_st *ssl)
{
    char why[512];
    int n;

    if (!c->p->dane_required)
        return true;
    n = tls_dane_enable(ssl, c->p->dane_names, c->p->dane_nnames, c->p->dane_tlsa, c->p->dane_ntlsa,
                        why, sizeof(why));
    if (n < 0) {
        tls_ssl_free(ssl);
        client_close(c, 0, true, "DANE: %s", why);
        return false;
    }
    c->dane = n > 0;
    if (n == 0)
        /* RFC 7672 2.2: a secure RRset with no usable record still means
         * the server does TLS; it is used without authentication */
        client_log(c, '*', "no usable TLSA record: TLS without authentication",
                   "DANE: TLS required");
    return true;
}

static void
client_start_tls(struct smtp_client *c)
{
    struct ssl_st *ssl = tls_client_ssl_new(c->p->tls_ctx, c->p->sni ? c->p->sni : c->p->peer_name);
    evutil_socket_t fd = bufferevent_getfd(c->bev);

    if (ssl == NULL) {
        client_close(c, 0, true, "cannot create a TLS session");
        return;
    }
    if (!client_dane_setup(c, ssl))
        return;
    evbuffer_drain(bufferevent_get_input(c->bev),
                   evbuffer_get_length(bufferevent_get_input(c->bev)));
    bufferevent_setfd(c->bev, -1);
    bufferevent_free(c->bev);
    c->bev = NULL;
    /* The handshake runs on its own (tls_handshake.h: a signature by the
     * keys process pauses this connection only); client_tls_done hands
     * the socket to a TLS bufferevent. */
    c->hs_ssl = ssl;
    c->hs_fd = fd;
    client_step(c, SMTP_STEP_TLS, c->peer);
    client_enter_state(c, CS_TLS);
    c->hs = tls_handshake_start(c->base, fd, ssl, (int)c->p->timeout, client_tls_done, c);
    if (c->hs == NULL)
        client_close(c, 0, true, "cannot start TLS");
}

static void
client_tls_established(struct smtp_client *c)
{
    struct ssl_st *ssl = bufferevent_openssl_get_ssl(c->bev);
    char why[512];

    c->tls_desc = xasprintf("version=%s cipher=%s group=%s", tls_ssl_version(ssl),
                            tls_ssl_cipher(ssl), tls_ssl_group(ssl));
    client_log(c, '*', c->tls_desc, "TLS negotiation succeeded");
    if (c->p->trace && c->p->trace->tls)
        c->p->trace->tls(c->p->trace->arg, ssl);
    if (c->dane) {
        enum tls_peer_status st;

        client_step(c, SMTP_STEP_CERTIFICATE, c->peer);
        st = tls_dane_check(ssl, why, sizeof(why));
        if (st != TLS_PEER_OK) {
            client_log(c, '*', why, "DANE verification failed");
            client_send(c, "QUIT");
            c->tls_outcome = outcome_of(st);
            client_close(c, 0, true, "DANE verification failed for %s (%s): %s", c->peer,
                         tls_peer_status_name(st), why);
            return;
        }
        client_log(c, '*', why, "DANE verification passed");
        c->verified = true;
    } else if (c->p->tls_auth_level == TLSAUTH_CERTIFICATE_VALIDATION ||
               c->p->tls_auth_level == TLSAUTH_DOMAIN_VALIDATION || c->p->ntls_names > 0) {
        size_t nnames =
            c->p->tls_auth_level == TLSAUTH_CERTIFICATE_VALIDATION && c->p->ntls_names == 0
                ? 0
                : c->p->ntls_names;
        enum tls_peer_status st;
        client_step(c, SMTP_STEP_CERTIFICATE, c->peer);
        st = tls_peer_check(ssl, c->p->tls_names, nnames, why, sizeof(why));
        if (st != TLS_PEER_OK) {
            client_log(c, '*', why, "TLS certificate check failed");
            client_send(c, "QUIT");
            c->tls_outcome = outcome_of(st);
            client_close(c, 0, true, "%s%sTLS certificate check failed for %s (%s): %s",
                         required_by(c), *required_by(c) ? ": " : "", c->peer,
                         tls_peer_status_name(st), why);
            return;
        }
        client_log(c, '*', why[0] ? why : "certificate accepted", "TLS certificate check passed");
        /* verified for REQUIRETLS only when a name was checked too: a
         * trusted chain alone fits any host an attacker names */
        c->verified = nnames > 0;
    } else if (c->p->nreport_names > 0) {
        enum tls_peer_status st =
            tls_peer_check(ssl, c->p->report_names, c->p->nreport_names, why, sizeof(why));

        if (st != TLS_PEER_OK) {
            /* reported (TLS reporting), not enforced */
            client_log(c, '*', why, "TLS certificate check failed (testing mode: not enforced)");
            c->tls_outcome = outcome_of(st);
            client_send_ehlo(c);
            return;
        }
    }
    c->tls_outcome = TLSO_SUCCESS;
    /* RFC 3207 4.2: start over with EHLO inside TLS */
    client_send_ehlo(c);
}

/* ---- transactions ---- */

static void
txn_clear(struct smtp_client *c)
{
    for (size_t i = 0; i < c->ncmds; i++)
        free(c->cmd_text[i]);
    free(c->cmd_text);
    free(c->cmds);
    free(c->results);
    free(c->accepted_index);
    c->cmd_text = NULL;
    c->cmds = NULL;
    c->results = NULL;
    c->accepted_index = NULL;
    c->ncmds = c->next_to_send = c->next_reply = c->accepted = c->final_replies = 0;
    c->txn_failed = false;
    if (c->data_fd >= 0) {
        close(c->data_fd);
        c->data_fd = -1;
    }
}

static void
txn_report(struct smtp_client *c)
{
    struct smtp_result *results = c->results;
    size_t n = c->t.nrcpts;

    c->results = NULL;
    txn_clear(c);
    client_enter_state(c, CS_READY);
    c->cb.done(c, c->arg, results, n);
    free(results);
}

/* txn_report for a connection that is ending: the results go up, the
 * client stays CS_DEAD so that nobody sends on it. */
static void
txn_report_dead(struct smtp_client *c)
{
    struct smtp_result *results = c->results;
    size_t n = c->t.nrcpts;

    c->results = NULL;
    c->cb.done(c, c->arg, results, n);
    free(results);
}

static void
deferred_report_cb(evutil_socket_t fd, short what, void *arg)
{
    txn_report(arg);
}

/* A transaction refused before anything was sent: same result for all. */
static void
txn_refuse_all(struct smtp_client *c, int code, bool temporary, const char *text)
{
    for (size_t i = 0; i < c->t.nrcpts; i++) {
        c->results[i].code = code;
        c->results[i].temporary = temporary;
        strlcpy_p(c->results[i].text, text, sizeof(c->results[i].text));
    }
    /* any reply the peer sends now is unexpected (client_reply's default) */
    client_enter_state(c, CS_REFUSED);
    if (c->deferred == NULL)
        c->deferred = event_new(c->base, -1, 0, deferred_report_cb, c);
    event_active(c->deferred, 0, 0);
}

/* What the transaction sends before its content. */
static uint64_t
prepend_len(const struct smtp_transaction *t)
{
    return t->prepend ? strlen(t->prepend) : 0;
}

static char *
mail_command(struct smtp_client *c)
{
    const struct envelope *env = c->t.env;
    char params[512] = "";
    size_t n = 0;

    if (c->size)
        n += (size_t)snprintf(params + n, sizeof(params) - n, " SIZE=%" PRIu64,
                              env->size + prepend_len(&c->t));
    if (env->body == SMTP_BODY_8BITMIME && c->eightbit)
        n += (size_t)snprintf(params + n, sizeof(params) - n, " BODY=8BITMIME");
    if (env->smtputf8 && c->smtputf8)
        n += (size_t)snprintf(params + n, sizeof(params) - n, " SMTPUTF8");
    if (c->dsn && env->ret != SMTP_RET_UNSPEC)
        n += (size_t)snprintf(params + n, sizeof(params) - n, " RET=%s",
                              env->ret == SMTP_RET_HDRS ? "HDRS" : "FULL");
    if (c->dsn && env->envid)
        n += (size_t)snprintf(params + n, sizeof(params) - n, " ENVID=%s", env->envid);
    if (c->p->requiretls)
        snprintf(params + n, sizeof(params) - n, " REQUIRETLS");
    return xasprintf("MAIL FROM:<%s>%s", env->from, params);
}

static char *
rcpt_command(struct smtp_client *c, const struct envelope_rcpt *r)
{
    char params[700] = "";
    size_t n = 0;

    if (c->dsn && r->notify) {
        if (r->notify & SMTP_NOTIFY_NEVER) {
            n += (size_t)snprintf(params, sizeof(params), " NOTIFY=NEVER");
        } else {
            n += (size_t)snprintf(params, sizeof(params), " NOTIFY=%s%s%s",
                                  (r->notify & SMTP_NOTIFY_SUCCESS) ? "SUCCESS," : "",
                                  (r->notify & SMTP_NOTIFY_FAILURE) ? "FAILURE," : "",
                                  (r->notify & SMTP_NOTIFY_DELAY) ? "DELAY," : "");
            params[--n] = '\0'; /* the last comma */
        }
    }
    if (c->dsn && r->orcpt)
        snprintf(params + n, sizeof(params) - n, " ORCPT=%s", r->orcpt);
    return xasprintf("RCPT TO:<%s>%s", r->address, params);
}

static void
txn_push(struct smtp_client *c, enum cmd_kind kind, char *text)
{
    c->cmds[c->ncmds] = kind;
    c->cmd_text[c->ncmds] = text;
    c->ncmds++;
}

/* Sends what may be sent now: everything with PIPELINING, else the next. */
static void
txn_send_pending(struct smtp_client *c)
{
    while (c->next_to_send < c->ncmds) {
        if (!c->pipelining && c->next_to_send > c->next_reply)
            break;
        client_send(c, "%s", c->cmd_text[c->next_to_send]);
        c->next_to_send++;
    }
}

void
smtp_client_send(struct smtp_client *c, const struct smtp_transaction *t)
{
    const struct envelope *env = t->env;

    c->t = *t;
    c->data_fd = t->data_fd; /* ours now: txn_clear closes it */
    c->results = xcalloc(t->nrcpts, sizeof(*c->results));
    c->accepted_index = xcalloc(t->nrcpts, sizeof(size_t));
    c->cmds = xcalloc(t->nrcpts + 2, sizeof(*c->cmds));
    c->cmd_text = xcalloc(t->nrcpts + 2, sizeof(char *));
    client_enter_state(c, CS_TXN);

    /* Refusals decided before talking (RFC 6152 3, RFC 6531 3.4, RFC 1870). */
    if (env->body == SMTP_BODY_8BITMIME && !c->eightbit) {
        txn_refuse_all(c, 554, false,
                       "554 5.6.3 8-bit content, and the next hop does not offer 8BITMIME");
        return;
    }
    if (env->smtputf8 && !c->smtputf8) {
        txn_refuse_all(c, 553, false,
                       "553 5.6.7 the message needs SMTPUTF8, and the next hop does not offer it");
        return;
    }
    if (c->size && c->size_max > 0 && env->size + prepend_len(t) > c->size_max) {
        char text[200];
        snprintf(text, sizeof(text),
                 "552 5.3.4 message of %" PRIu64 " bytes exceeds the next hop's limit of %" PRIu64,
                 env->size + prepend_len(t), c->size_max);
        txn_refuse_all(c, 552, false, text);
        return;
    }
    if (c->data_fd < 0) {
        txn_refuse_all(c, 451, true, "451 4.3.0 cannot read the queued message");
        return;
    }
    txn_push(c, CMD_MAIL, mail_command(c));
    for (size_t i = 0; i < t->nrcpts; i++)
        txn_push(c, CMD_RCPT, rcpt_command(c, &env->rcpts[t->rcpt_index[i]]));
    txn_push(c, CMD_DATA, xstrdup("DATA"));
    txn_send_pending(c);
}

/* Copies content into the output, dot-stuffed (RFC 5321 4.5.2), until the
 * output holds enough or the file ends. */
static void
txn_fill_body(struct smtp_client *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    char in[CLIENT_CHUNK];

    while (evbuffer_get_length(out) < 4 * CLIENT_LOW_WATER) {
        ssize_t n = read(c->data_fd, in, sizeof(in));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            client_close(c, 0, true, "cannot read the queued message: %s", strerror(errno));
            return;
        }
        if (n == 0) {
            if (!c->at_line_start)
                evbuffer_add(out, "\r\n", 2);
            evbuffer_add(out, ".\r\n", 3);
            client_log(c, '>', ".", "end of data");
            close(c->data_fd);
            c->data_fd = -1;
            client_enter_state(c, CS_BODY_END);
            return;
        }
        dot_stuff_add(out, in, (size_t)n, &c->at_line_start);
    }
}

static void
txn_result(struct smtp_result *r, int code, const char *text)
{
    r->code = code;
    r->temporary = code < 500;
    strlcpy_p(r->text, text, sizeof(r->text));
}

/* Gives every accepted recipient that has no final result this one. */
static void
txn_result_accepted(struct smtp_client *c, int code, const char *text)
{
    for (size_t i = 0; i < c->accepted; i++)
        txn_result(&c->results[c->accepted_index[i]], code, text);
}

static void
txn_reply(struct smtp_client *c)
{
    enum cmd_kind kind = c->cmds[c->next_reply];
    size_t rcpt = c->next_reply - 1;

    c->next_reply++;
    switch (kind) {
    case CMD_MAIL:
        if (c->reply_code / 100 != 2) {
            /* every recipient shares the sender's fate */
            for (size_t i = 0; i < c->t.nrcpts; i++)
                txn_result(&c->results[i], c->reply_code, c->reply);
            c->txn_failed = true;
        }
        break;
    case CMD_RCPT:
        if (c->txn_failed)
            break;
        if (c->reply_code / 100 == 2)
            c->accepted_index[c->accepted++] = rcpt;
        else
            txn_result(&c->results[rcpt], c->reply_code, c->reply);
        break;
    case CMD_DATA:
        if (!c->txn_failed && c->accepted > 0 && c->reply_code == 354) {
            c->at_line_start = true;
            if (c->t.prepend != NULL) {
                evbuffer_add(bufferevent_get_output(c->bev), c->t.prepend, strlen(c->t.prepend));
                client_log(c, '*', NULL, "a DKIM-Signature field precedes the content");
            }
            client_enter_state(c, CS_BODY);
            bufferevent_setwatermark(c->bev, EV_WRITE, CLIENT_LOW_WATER, 0);
            txn_fill_body(c);
            return;
        }
        if (c->reply_code == 354) {
            /* nothing to send after all (RFC 2920 3.1 allows this order) */
            client_send(c, ".");
        } else if (!c->txn_failed) {
            txn_result_accepted(c, c->reply_code, c->reply);
        }
        client_enter_state(c, CS_RSET);
        client_send(c, "RSET");
        return;
    }
    txn_send_pending(c);
}

static void
txn_final_reply(struct smtp_client *c)
{
    if (!c->p->lmtp) {
        txn_result_accepted(c, c->reply_code, c->reply);
        txn_report(c);
        return;
    }
    /* RFC 2033 4.2: one reply per accepted recipient, in order */
    txn_result(&c->results[c->accepted_index[c->final_replies]], c->reply_code, c->reply);
    if (++c->final_replies == c->accepted)
        txn_report(c);
}

/* ---- replies ---- */

/* RFC 3207 4: 530 means "issue STARTTLS first"; RFC 4954 538 and RFC 5248's
 * X.7.10/X.7.11 say encryption is needed. In a clear-text session these
 * describe this hop, not the message: a permanent code must not bounce it. */
static bool
reply_demands_tls(int code, const char *text)
{
    const char *status = strlen(text) > 4 ? text + 4 : ""; /* after "NNN " */

    return code == 530 || code == 538 || strncmp(status, "5.7.10", 6) == 0 ||
           strncmp(status, "5.7.11", 6) == 0;
}

static void
client_reply(struct smtp_client *c)
{
    int code = c->reply_code;

    if (c->tls_desc == NULL && c->state != CS_BANNER && c->state != CS_QUIT &&
        reply_demands_tls(code, c->reply)) {
        client_send(c, "QUIT");
        if (c->p->tls_fallback_reason)
            client_close(c, code, true, "%s requires TLS, which failed: %s; it answered: %s",
                         c->peer, c->p->tls_fallback_reason, c->reply);
        else
            client_close(c, code, true, "%s requires TLS: %s", c->peer, c->reply);
        return;
    }

    switch (c->state) {
    case CS_BANNER:
        if (code != 220) {
            client_send(c, "QUIT");
            client_close(c, code, true, "%s greeted with: %s", c->peer, c->reply);
            return;
        }
        client_send_ehlo(c);
        break;
    case CS_EHLO:
        if (code != 250) {
            if (c->p->lmtp) {
                client_close(c, code, true, "%s refused LHLO: %s", c->peer, c->reply);
                return;
            }
            client_enter_state(c, CS_HELO);
            client_send(c, "HELO %s", c->p->ehlo_name);
            return;
        }
        c->esmtp = true;
        client_parse_ehlo(c);
        client_after_ehlo(c);
        break;
    case CS_HELO:
        if (code != 250) {
            client_send(c, "QUIT");
            client_close(c, code, true, "%s refused HELO: %s", c->peer, c->reply);
            return;
        }
        c->esmtp = false;
        client_after_ehlo(c);
        break;
    case CS_STARTTLS:
        if (code != 220) {
            c->tls_outcome = TLSO_STARTTLS_NOT_SUPPORTED;
            if (tls_mandatory(c)) {
                client_send(c, "QUIT");
                client_close(c, code, true, "%s%s%sTLS is required but %s refused STARTTLS: %s",
                             c->p->dane_required ? "DANE: " : "", required_by(c),
                             *required_by(c) ? ": " : "", c->peer, c->reply);
                return;
            }
            client_after_tls_decision(c);
            return;
        }
        client_start_tls(c);
        break;
    case CS_AUTH:
        if (code != 235) {
            client_send(c, "QUIT");
            client_close(c, code, c->p->auth_failure_temporary || code < 500,
                         "%s refused authentication: %s", c->peer, c->reply);
            return;
        }
        client_log(c, '*', c->p->auth_user, "authenticated");
        client_step(c, SMTP_STEP_READY, c->peer);
        client_enter_state(c, CS_READY);
        c->cb.ready(c, c->arg);
        break;
    case CS_AUTH_LOGIN_USER:
    case CS_AUTH_LOGIN_PASS: {
        /* RFC 4954 4 via the LOGIN mechanism: 334 prompts for the user
         * name, then for the password */
        const char *secret = c->state == CS_AUTH_LOGIN_USER ? c->p->auth_user : c->p->auth_password;
        char b64[700];
        if (code != 334) {
            client_send(c, "QUIT");
            client_close(c, code, c->p->auth_failure_temporary || code < 500,
                         "%s refused AUTH LOGIN: %s", c->peer, c->reply);
            return;
        }
        if (base64_encode((const unsigned char *)secret, strlen(secret), b64, sizeof(b64)) < 0) {
            client_send(c, "QUIT");
            client_close(c, 0, false, "the credential for %s is too long to send", c->peer);
            return;
        }
        client_send_secret(c, b64);
        explicit_bzero(b64, sizeof(b64));
        client_enter_state(c, c->state == CS_AUTH_LOGIN_USER ? CS_AUTH_LOGIN_PASS : CS_AUTH);
        break;
    }
    case CS_TXN:
    case CS_BODY_END:
        /* more replies than commands: never index past the transaction */
        if (c->state == CS_TXN ? c->next_reply >= c->next_to_send
                               : c->final_replies >= c->accepted) {
            client_send(c, "QUIT");
            client_close(c, code, true, "%s sent a reply nobody asked for: %s", c->peer, c->reply);
            return;
        }
        if (c->state == CS_TXN)
            txn_reply(c);
        else
            txn_final_reply(c);
        break;
    case CS_RSET:
        txn_report(c);
        break;
    case CS_PROBE_RSET:
        smtp_client_quit(c);
        break;
    case CS_QUIT:
        client_close(c, code, false, "QUIT");
        break;
    default:
        client_send(c, "QUIT");
        client_close(c, code, true, "unexpected reply from %s in state %s: %s", c->peer,
                     client_state_names[c->state], c->reply);
        break;
    }
}

/* Reads complete replies; a multi-line reply ends at "ddd " (RFC 5321 4.2.1). */
static void
client_read_cb(struct bufferevent *bev, void *arg)
{
    struct smtp_client *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char *line;
    size_t len;

    c->in_read = true;
    while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) != NULL) {
        bool last;
        int code;

        client_log(c, '<', line, NULL);
        if (len < 3 || !isdigit_ascii(line[0]) || !isdigit_ascii(line[1]) ||
            !isdigit_ascii(line[2]) || (len > 3 && line[3] != ' ' && line[3] != '-')) {
            free(line);
            client_close(c, 0, true, "%s sent a malformed reply", c->peer);
            break;
        }
        code = atoi(line);
        last = len == 3 || line[3] == ' ';
        if (!c->in_reply) {
            /* the first line carries the code and the text kept for logs */
            c->in_reply = true;
            c->reply_code = code;
            c->ehlo_lines[0] = '\0';
            snprintf(c->reply, sizeof(c->reply), "%s", line);
        } else if (code != c->reply_code) {
            /* RFC 5321 4.2.1: every line of a reply has the same code;
             * which one would be meant is anybody's guess */
            free(line);
            client_close(c, 0, true, "%s sent a reply whose lines disagree on the code", c->peer);
            break;
        }
        if (c->state == CS_EHLO) {
            size_t used = strlen(c->ehlo_lines);
            snprintf(c->ehlo_lines + used, sizeof(c->ehlo_lines) - used, "%s%s", used ? "\n" : "",
                     len > 4 ? line + 4 : "");
        }
        free(line);
        if (!last)
            continue;
        c->in_reply = false;
        c->reply_code = code;
        client_reply(c);
        /* the bufferevent and its input are gone (closed) or replaced by
         * the TLS one (STARTTLS) */
        if (c->state == CS_DEAD || c->bev != bev)
            break;
    }
    if (c->state != CS_DEAD && c->bev == bev && evbuffer_get_length(in) > CLIENT_LINE_MAX)
        client_close(c, 0, true, "%s sent an over-long reply line", c->peer);
    c->in_read = false;
    if (c->state == CS_DEAD)
        client_free(c);
}

static void
client_write_cb(struct bufferevent *bev, void *arg)
{
    struct smtp_client *c = arg;

    if (c->state == CS_BODY)
        txn_fill_body(c);
}

static void
client_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct smtp_client *c = arg;

    if (what & BEV_EVENT_CONNECTED) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int on = 1;

        /* commands are whole lines written at once (accept_set.c says why);
         * a Unix socket (LMTP) has no Nagle and refuses the option */
        (void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
        if (getsockname(bufferevent_getfd(bev), (struct sockaddr *)&ss, &sl) == 0)
            sockaddr_format((struct sockaddr *)&ss, c->local, sizeof(c->local));
        client_log(c, '+', NULL, NULL);
        client_step(c, SMTP_STEP_GREETING, c->peer);
        client_enter_state(c, CS_BANNER);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        client_close(c, 0, true, "timeout talking to %s in state %s", c->peer,
                     client_state_names[c->state]);
        return;
    }
    if (c->state == CS_CONNECTING) {
        client_close(c, 0, true, "connection to %s failed: %s", c->peer,
                     evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        return;
    }
    if (c->state == CS_QUIT) {
        client_close(c, 221, false, "QUIT");
        return;
    }
    client_close(c, 0, true, "%s closed the connection in state %s", c->peer,
                 client_state_names[c->state]);
}

struct smtp_client *
smtp_client_new(struct event_base *base, const struct sockaddr *addr,
                const struct smtp_client_policy *policy, const struct smtp_client_callbacks *cb,
                void *arg)
{
    struct smtp_client *c = xcalloc(1, sizeof(*c));
    struct timeval tv = {policy->timeout, 0};
    socklen_t len = addr->sa_family == AF_INET6  ? sizeof(struct sockaddr_in6)
                    : addr->sa_family == AF_UNIX ? sizeof(struct sockaddr_un)
                                                 : sizeof(struct sockaddr_in);

    c->base = base;
    c->p = policy;
    c->cb = *cb;
    c->arg = arg;
    c->data_fd = -1;
    c->hs_fd = -1;
    c->id = ((uint64_t)time(NULL) << 24) | (client_next_id++ & 0xffffff);
    sockaddr_format(addr, c->remote, sizeof(c->remote));
    snprintf(c->peer, sizeof(c->peer), "%s[%s]", policy->peer_name ? policy->peer_name : "",
             c->remote);
    c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(c->bev, client_read_cb, client_write_cb, client_event_cb, c);
    bufferevent_set_timeouts(c->bev, &tv, &tv);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    client_step(c, SMTP_STEP_CONNECT, c->peer);
    client_enter_state(c, CS_CONNECTING);
    if (bufferevent_socket_connect(c->bev, addr, (int)len) < 0) {
        /* reported from the loop so the caller never sees re-entrancy */
        bufferevent_free(c->bev);
        c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
        bufferevent_setcb(c->bev, client_read_cb, client_write_cb, client_event_cb, c);
        bufferevent_trigger_event(c->bev, BEV_EVENT_ERROR, BEV_TRIG_DEFER_CALLBACKS);
    }
    return c;
}

void
smtp_client_quit(struct smtp_client *c)
{
    if (c->p->rset_before_quit && c->state == CS_READY) {
        client_enter_state(c, CS_PROBE_RSET);
        client_send(c, "RSET");
        return;
    }
    client_enter_state(c, CS_QUIT);
    client_send(c, "QUIT");
}

void
smtp_client_abort(struct smtp_client *c)
{
    client_free(c);
}

const char *
smtp_client_peer(const struct smtp_client *c)
{
    return c->peer;
}

const char *
smtp_client_tls(const struct smtp_client *c)
{
    return c->tls_desc;
}

bool
smtp_client_verified(const struct smtp_client *c)
{
    return c->verified;
}

enum tls_outcome
smtp_client_tls_outcome(const struct smtp_client *c)
{
    return c->tls_outcome;
}

const char *
tls_outcome_name(enum tls_outcome o)
{
    switch (o) {
    case TLSO_STARTTLS_NOT_SUPPORTED:
        return "starttls-not-supported";
    case TLSO_CERT_HOST_MISMATCH:
        return "certificate-host-mismatch";
    case TLSO_CERT_EXPIRED:
        return "certificate-expired";
    case TLSO_CERT_NOT_TRUSTED:
        return "certificate-not-trusted";
    case TLSO_VALIDATION_FAILURE:
        return "validation-failure";
    case TLSO_TLSA_INVALID:
        return "tlsa-invalid";
    case TLSO_NONE:
    case TLSO_SUCCESS:
        break;
    }
    return NULL;
}

/* A failed certificate check in RFC 8460's words. */
static enum tls_outcome
outcome_of(enum tls_peer_status st)
{
    switch (st) {
    case TLS_PEER_NAME_MISMATCH:
        return TLSO_CERT_HOST_MISMATCH;
    case TLS_PEER_EXPIRED:
        return TLSO_CERT_EXPIRED;
    case TLS_PEER_UNTRUSTED:
        return TLSO_CERT_NOT_TRUSTED;
    case TLS_PEER_DANE_NO_MATCH:
        return TLSO_TLSA_INVALID;
    default:
        return TLSO_VALIDATION_FAILURE;
    }
}

bool
smtp_client_usable(const struct smtp_client *c)
{
    return c->state != CS_DEAD;
}

bool
smtp_client_peer_dsn(const struct smtp_client *c)
{
    return c->dsn;
}
