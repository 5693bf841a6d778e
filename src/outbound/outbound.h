/*
 * outbound.h — one outbound connection to a next hop, driven by a
 * route_policy (routing/route_policy.h): resolve (MX with null MX and
 * NXDOMAIN, smart hosts, LMTP), try each address in order, retry a peer
 * whose TLS handshake failed in clear text where TLS is not required
 * (RFC 7435), authenticate, then carry the transactions the scheduler
 * hands over, one after another, until it says quit.
 *
 * Everything here touches the network and nothing else: the scheduler
 * (src/delivery) decides what to send and records what happened, and
 * reaches this module only through struct outbound_ops, so that the
 * connection can run in another process (the smtp process) behind the
 * same table. Events run on the loop, never inside outbound_open.
 * Must never: read the configuration or open a file (content arrives as
 * a descriptor, the password through a callback); send mail or
 * credentials in clear text where the policy requires TLS; block.
 */
#ifndef POSTERN_OUTBOUND_H
#define POSTERN_OUTBOUND_H

#include <stdbool.h>
#include <stddef.h>

#include "outbound/smtp_client.h"
#include "queue/envelope.h"
#include "routing/route_policy.h"

struct event_base;
struct dns;
struct tls_store;
struct protolog;
struct outbound;

/* How a connection ended (outbound_events.finished). */
struct outbound_end {
    bool ever_ready; /* a transaction could be sent at some point */
    /* The next hop refused for good before any transaction (null MX, no
     * such domain, refused credentials): error fails its mail now. */
    bool permanent;
    char error[600]; /* why it ended; the last error when every address failed */
    char relay[400]; /* the last peer, "host[addr]"; "" when none was tried */
};

struct outbound_events {
    /* Send a transaction (outbound_send) or quit (outbound_quit). */
    void (*ready)(void *arg);
    /* The transaction sent last finished: r[i] is for its rcpt_index[i]. */
    void (*done)(void *arg, const struct smtp_result *r, size_t n);
    /* The connection is over and freed; nothing more comes. A transaction
     * that got no done() was lost with the connection (end->error). */
    void (*finished)(void *arg, const struct outbound_end *end);
    /* A new MTA-STS policy of the recipient domain was fetched, in its
     * cache form (routing/mtasts.h), for the queue to keep. May be NULL. */
    void (*sts_policy)(void *arg, const char *policy);
    /* One attempt's TLS result for TLS reporting (RFC 8460), as a JSON
     * object (outbound.c tls_result_json). May be NULL. */
    void (*tls_result)(void *arg, const char *json);
};

/* Answer to a credential request: password NULL when there is none (why). */
typedef void outbound_credential_cb(void *done_arg, const char *password, const char *why);

struct outbound_env {
    struct event_base *base;
    struct dns **dns;       /* the current resolver (replaced when the DNS servers change) */
    struct tls_store **tls; /* the current certificate store (replaced on renewal) */
    struct protolog *plog;  /* SmtpSend protocol log */
    /* The password of connector's credential for user, asked for at
     * connect time: calls done(done_arg, ...) once, at once or later from
     * the loop, unless credential_cancel(credential_arg, done_arg) came
     * first (NULL when credential always answers at once). */
    void (*credential)(void *credential_arg, const char *connector, const char *user,
                       outbound_credential_cb *done, void *done_arg);
    void (*credential_cancel)(void *credential_arg, void *done_arg);
    void *credential_arg;
    /* A probe (Test-SendConnector) watching each step, which also ends
     * with RSET before QUIT; NULL for delivery. */
    const struct smtp_client_trace *trace;
};

/* Starts a connection; p is copied. env must outlive the connection. */
struct outbound *outbound_open(const struct outbound_env *env, const struct route_policy *p,
                               const struct outbound_events *ev, void *arg);
/* One transaction, after ready: recipients rcpt_index[0..n) of env (which
 * must stay valid until done or finished). content_fd is read-only and
 * belongs to o from here. */
void outbound_send(struct outbound *o, const struct envelope *env, const size_t *rcpt_index,
                   size_t n, int content_fd);
/* The same with header text sent before the content (a DKIM-Signature
 * field: CRLF-terminated lines), which must stay valid until done or
 * finished; NULL is outbound_send. */
void outbound_send_prepend(struct outbound *o, const struct envelope *env, const size_t *rcpt_index,
                           size_t n, int content_fd, const char *prepend);
/* QUIT, after ready; finished follows. */
void outbound_quit(struct outbound *o);
/* Stops now and frees o, without any event. Not from inside o's events. */
void outbound_abort(struct outbound *o);
/* The current peer, "host[addr]" ("" before the first attempt). */
const char *outbound_relay(const struct outbound *o);
/* How the ready connection is protected, for the message tracking log:
 * "TLS=TLSv1.3;TlsPolicy=DANE;TlsVerified=True" ("" before ready). The
 * policy is DANE, MTA-STS, DomainSecurity, Connector (its TlsAuthLevel),
 * Opportunistic or None. */
const char *outbound_tls(const struct outbound *o);

/*
 * The scheduler's way to its connections (struct deliver_env): the queue
 * process's proxy (qmgr/outbound_proxy.h) forwards each call to the smtp
 * process, which runs the functions above. A table, because the scheduler
 * sits below the queue process in the module order. conn is what open
 * returned.
 */
/* How a POST ended: the answer's HTTP status (any, 2xx is the caller's
 * success), or 0 and why when there was none. */
typedef void outbound_post_cb(void *arg, int status, const char *why);

struct outbound_ops {
    void *(*open)(void *ops_arg, const struct route_policy *p, const struct outbound_events *ev,
                  void *arg);
    void (*send)(void *conn, const struct envelope *env, const size_t *rcpt_index, size_t n,
                 int content_fd);
    void (*quit)(void *conn);
    void (*abort)(void *conn);
    const char *(*relay)(const void *conn);
    const char *(*tls)(const void *conn); /* outbound_tls */
    /* A TLS report POSTed to an https: reporting URI (outbound/https_post.h,
     * run by the smtp process). cb runs once, from the loop, unless
     * post_cancel came first. Both may be NULL: no way to POST. */
    void *(*post)(void *ops_arg, const char *uri, const char *content_type, const void *body,
                  size_t len, outbound_post_cb *cb, void *arg);
    void (*post_cancel)(void *ops_arg, void *post);
};

#endif
