/*
 * session_int.h — the state shared by the session files (session.c: the
 * connection and the command dispatcher; session_data.c: DATA;
 * session_auth.c: AUTH). Not for use outside src/receive.
 */
#ifndef POSTERN_SESSION_INT_H
#define POSTERN_SESSION_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"
#include "queue/envelope.h"
#include "receive/rcvconn_select.h"
#include "smtp/data_stream.h"
#include "smtp/smtp_parse.h"

struct bufferevent;
struct event;
struct ssl_st;
struct spool_msg;
struct server;

enum session_state {
    SS_GREETING, /* connected, waiting for EHLO/HELO */
    SS_READY,    /* greeted, no transaction */
    SS_MAIL,     /* MAIL accepted */
    SS_RCPT,     /* at least one RCPT accepted */
    SS_DATA,     /* reading message content */
    SS_AUTH,     /* waiting for an AUTH continuation line */
    SS_TLS,      /* TLS handshake in progress */
    SS_QUIT,     /* closing once the output is flushed */
};

enum auth_step { AUTH_PLAIN_WAIT, AUTH_LOGIN_USER, AUTH_LOGIN_PASS };

/* One mail transaction: created by MAIL, ended by its commit, RSET, a new
 * EHLO/HELO, STARTTLS or the end of the session (session_reset_transaction). */
struct session_transaction {
    struct envelope *env;            /* NULL outside a transaction */
    struct smtp_mail_params mail;    /* MAIL FROM's parameters */
    struct spool_msg *msg;           /* the content file, from DATA on */
    char *domain_secured;            /* sender domain proved by the client certificate, or NULL */
    struct data_stream data;         /* the content being received */
    char queue_id[QUEUE_ID_LEN + 1]; /* of the message being committed */
};

struct session {
    struct session *prev, *next;
    struct server *srv;
    struct config *cfg; /* reference held for the session's life */
    const struct receive_connector *rc;
    uint64_t id;
    struct bufferevent *bev;           /* NULL during a STARTTLS handshake */
    struct session_starttls *starttls; /* that handshake (session.c) */
    struct event *lifetime_timer;      /* ConnectionTimeout */
    struct event *flush;               /* clear text: writes this turn's replies */
    struct event *recv;                /* clear text: reads (session_io.c) */
    char local[64], remote[64], remote_ip[48];
    struct sockaddr_storage remote_sa;
    enum session_state state;
    unsigned log_seq;
    bool logging;        /* ProtocolLoggingLevel Verbose */
    bool busy;           /* waiting for another thread: read nothing */
    unsigned in_process; /* session_process is on the stack: no free */
    bool read_paused;    /* the client does not read its replies: stop reading */
    bool input_full;     /* SESSION_INPUT_MAX unprocessed: stop reading */
    bool dead;           /* connection gone while busy: free when the job returns */
    bool input_closed;   /* the client shut down its sending side */
    bool skip_line;      /* discarding the rest of an over-long line */
    bool skip_last_cr;   /* the last byte discarded of it was a CR */
    size_t scanned;      /* input bytes already searched for LF (none found) */
    bool esmtp;
    bool tls;
    char *tls_desc; /* "version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384" */
    char *helo;
    char *auth_user; /* mailbox name after a successful AUTH */
    enum auth_step auth_step;
    bool auth_login; /* AUTH LOGIN (else PLAIN) */
    char *auth_login_user;
    unsigned protocol_errors;
    unsigned logon_failures;

    struct session_transaction tx; /* from MAIL to the end of DATA */
};

/* Input held per session: enough for the longest DATA line (64 KiB) with
 * room to spare; beyond it the session stops reading until it catches up. */
#define SESSION_INPUT_MAX (256 * 1024)

/* session.c */
void session_enter_state(struct session *s, enum session_state state);
/* Handles what is in the input buffer, as far as the session can go. */
void session_process(struct session *s);
/* Everything said has left: close after a final reply, or go on reading
 * from a client that caught up with its replies. */
void session_output_drained(struct session *s);
/* The connection was idle for ConnectionInactivityTimeout. */
void session_idle_timeout(struct session *s);
/* The client shut its sending side down (EOF). */
void session_input_ended(struct session *s);
enum { LINE_OK, LINE_NEED_MORE, LINE_TOO_LONG };
/* Takes one LF-terminated line of at most max octets from the input into
 * buf (NUL-terminated, line ending kept) and says how it ended. A longer
 * line is discarded and reported once, as LINE_TOO_LONG, when its LF has
 * arrived: *end then says how it ended too. */
int session_read_line(struct session *s, char *buf, size_t max, size_t *len, enum line_end *end);
void session_reply(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void session_log(struct session *s, char event, const char *data, const char *context);
void session_close(struct session *s, const char *reason);
void session_reset_transaction(struct session *s);
/* Counts a protocol error; closes the session when MaxProtocolErrors is
 * exceeded and returns false then. */
bool session_protocol_error(struct session *s);
/* Resumes reading after an asynchronous step. */
void session_resume(struct session *s);
const char *session_fqdn(const struct session *s);
uint64_t session_max_message_size(const struct session *s);
unsigned session_rights(const struct session *s);

/* session_io.c: a clear-text session's reads and writes (a TLS session's
 * go through its bufferevent; these then act on that) */
void session_io_start(struct session *s, int fd);
/* Drops the reader and writer: before the socket is closed or handed on. */
void session_io_end(struct session *s);
/* A reply was added to the output: it leaves at the end of this turn. */
void session_output_queued(struct session *s);
void session_read_start(struct session *s);
void session_read_stop(struct session *s);

/* session_data.c */
void session_data_begin(struct session *s);
/* Consumes content from in; returns false when it needs more input. */
bool session_data_input(struct session *s);

/* session_auth.c */
bool session_auth_offered(const struct session *s);
void session_auth_command(struct session *s, const char *arg);
void session_auth_line(struct session *s, const char *line);

#endif
