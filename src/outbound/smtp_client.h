/*
 * smtp_client.h — one outbound SMTP or LMTP connection (RFC 5321, 2033):
 * connect, greeting, EHLO (HELO fallback), STARTTLS as the policy says,
 * AUTH PLAIN/LOGIN when asked, then any number of transactions on the same
 * connection, then QUIT.
 *
 * The caller (outbound.c) supplies the policy and gets callbacks
 * on the loop: ready (a transaction may be sent), done (per-recipient
 * results of a transaction) and failed (the connection cannot be used:
 * a reason and whether it is temporary). Every wait has a timeout.
 * Must never: send credentials outside TLS when the policy requires TLS
 * for AUTH; send mail in clear text when TLS is required; block the loop;
 * open a file (the content arrives as a descriptor).
 */
#ifndef POSTERN_SMTP_CLIENT_H
#define POSTERN_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"
#include "net/dns.h"
#include "queue/envelope.h"

struct event_base;
struct protolog;
struct ssl_ctx_st;
struct ssl_st;
struct smtp_client;

/* The steps of a connection, in the order they come. */
enum smtp_step {
    SMTP_STEP_RESOLVE, /* the next hop's addresses (outbound.c) */
    SMTP_STEP_CONNECT,
    SMTP_STEP_GREETING,
    SMTP_STEP_EHLO,
    SMTP_STEP_STARTTLS, /* whether to start TLS, and the STARTTLS command */
    SMTP_STEP_TLS,      /* the handshake */
    SMTP_STEP_CERTIFICATE,
    SMTP_STEP_AUTH,
    SMTP_STEP_READY, /* a transaction could be sent */
};

/*
 * A watcher of a connection's progress: Test-SendConnector
 * (admin/cmdlet_probe.c) reports each step and names the one that failed.
 * Delivery has none. The callbacks must not call into the client.
 */
struct smtp_client_trace {
    /* A step begins; detail says with what (the peer, a host name). */
    void (*step)(void *arg, enum smtp_step step, const char *detail);
    /* Each line in ('<') and out ('>') and each note ('*'), as the
     * protocol log gets them: credentials already masked. */
    void (*line)(void *arg, char event, const char *data, const char *context);
    /* TLS is up, before the certificate is checked: ssl is readable. */
    void (*tls)(void *arg, struct ssl_st *ssl);
    void *arg;
};

struct smtp_client_policy {
    const char *ehlo_name; /* the connector's Fqdn */
    const char *peer_name; /* host name for SNI, logs and certificate checks */
    const char *sni;       /* another name for SNI (DANE's TLSA base domain); NULL: peer_name */
    bool lmtp;             /* LHLO, one reply per recipient after DATA */
    bool force_helo;
    bool ignore_starttls;
    const char *tls_fallback_reason; /* clear-text retry: why the handshake failed */
    bool require_tls; /* no STARTTLS, failed TLS or failed check: temporary failure */
    /* who wants TLS and the check, for the errors ("MTA-STS policy of
     * example.com"); NULL: the connector */
    const char *tls_required_by;
    /* names a certificate check is made against only to report how it went
     * (MTA-STS testing mode); the connection goes on either way */
    const char *const *report_names;
    size_t nreport_names;
    /* REQUIRETLS (RFC 8689 4.2.1): every transaction is such a message:
     * TLS verified (DANE, or a certificate check that passed) and a peer
     * that offers REQUIRETLS, else the connection ends with
     * smtp_result.requiretls_refused; MAIL carries REQUIRETLS. */
    bool requiretls;
    enum tls_auth_level tls_auth_level;
    const char *const *tls_names; /* names one of which the certificate must carry
                                     (DomainValidation, domain security) */
    size_t ntls_names;
    struct ssl_ctx_st *tls_ctx; /* client context; NULL: no STARTTLS */
    /* DANE (tls/tls_dane.h): the peer has a secure TLSA RRset, so TLS is
     * required; its usable records (if any) must match the chain, and a
     * DANE-TA certificate must carry one of dane_names (the TLSA base
     * domain first). Without usable records TLS is only encrypted. */
    bool dane_required;
    const struct dns_tlsa *dane_tlsa;
    size_t dane_ntlsa;
    const char *const *dane_names;
    size_t dane_nnames;
    bool auth;             /* AUTH with user/password */
    bool auth_require_tls; /* never AUTH outside TLS */
    const char *auth_user, *auth_password;
    bool auth_failure_temporary;           /* ErrorPolicies DowngradeAuthFailures */
    unsigned timeout;                      /* inactivity timeout, seconds */
    struct protolog *plog;                 /* SmtpSend protocol log, or NULL */
    const char *connector;                 /* for the protocol log */
    const struct smtp_client_trace *trace; /* NULL: nobody watches */
    bool rset_before_quit; /* a probe's ending: RSET shows the session still works */
};

/* How the TLS of a connection went, in RFC 8460 4.3's terms, for TLS
 * reporting: TLSO_NONE until STARTTLS is decided (a connection that failed
 * before says nothing about TLS). */
enum tls_outcome {
    TLSO_NONE,
    TLSO_SUCCESS, /* TLS up, and every check the policy asked for passed */
    TLSO_STARTTLS_NOT_SUPPORTED,
    TLSO_CERT_HOST_MISMATCH,
    TLSO_CERT_EXPIRED,
    TLSO_CERT_NOT_TRUSTED,
    TLSO_VALIDATION_FAILURE,
    TLSO_TLSA_INVALID,
};
/* "starttls-not-supported", ...; NULL for TLSO_NONE and TLSO_SUCCESS */
const char *tls_outcome_name(enum tls_outcome o);

/* The outcome of one recipient (or of the whole transaction). */
struct smtp_result {
    int code;        /* SMTP reply code; 0 when no reply (connection lost) */
    char text[512];  /* "550 5.1.1 User unknown" or a local reason */
    bool temporary;  /* retry later */
    bool tls_failed; /* the STARTTLS handshake itself failed (closed() only) */
    /* closed() only: the peer cannot take a REQUIRETLS message (no TLS,
     * not verified, or no REQUIRETLS in its EHLO reply) */
    bool requiretls_refused;
    enum tls_outcome tls_outcome; /* closed() only: how TLS went */
};

struct smtp_transaction {
    const struct envelope *env;
    const size_t *rcpt_index; /* which recipients of env */
    size_t nrcpts;
    int data_fd; /* the content, read-only; the client owns it from smtp_client_send */
    /* Sent after DATA's 354, before the content (a DKIM-Signature field):
     * CRLF-terminated lines, not dot-stuffed (none starts with "."), or
     * NULL. The caller's until done() or closed(). */
    const char *prepend;
};

struct smtp_client_callbacks {
    /* The connection is ready for a transaction (after the greeting, TLS
     * and AUTH, and after each finished transaction). */
    void (*ready)(struct smtp_client *c, void *arg);
    /* A transaction finished: results[i] is for rcpt_index[i]. */
    void (*done)(struct smtp_client *c, void *arg, const struct smtp_result *results,
                 size_t nresults);
    /* The connection failed or ended; the client is freed after this call.
     * Also called after smtp_client_quit (with code 221). */
    void (*closed)(struct smtp_client *c, void *arg, const struct smtp_result *why);
};

/* Connects to addr (port set) and runs the greeting. The policy and the
 * strings it points to must outlive the client. */
struct smtp_client *smtp_client_new(struct event_base *base, const struct sockaddr *addr,
                                    const struct smtp_client_policy *policy,
                                    const struct smtp_client_callbacks *cb, void *arg);

/* Sends one transaction; only after ready. t->data_fd is closed by the
 * client in every case. */
void smtp_client_send(struct smtp_client *c, const struct smtp_transaction *t);

/* QUIT (after RSET with rset_before_quit) and close; closed() follows. */
void smtp_client_quit(struct smtp_client *c);

/* Frees at once, without QUIT and without calling closed(). */
void smtp_client_abort(struct smtp_client *c);

/* What the peer said about itself, for logs and Received headers. */
const char *smtp_client_peer(const struct smtp_client *c); /* "mx.b.test[192.0.2.1]:25" */
const char *smtp_client_tls(const struct smtp_client *c);
/* Did DANE or a certificate check that named the peer verify it? */
bool smtp_client_verified(const struct smtp_client *c);
/* How TLS went so far (TLSO_SUCCESS once ready over TLS that passed). */
enum tls_outcome
smtp_client_tls_outcome(const struct smtp_client *c);   /* "version=... cipher=..." or NULL */
bool smtp_client_peer_dsn(const struct smtp_client *c); /* the peer offered DSN */
/* False once the connection is ending (done() may then still report the
 * results it had): send nothing more on it. */
bool smtp_client_usable(const struct smtp_client *c);

#endif
