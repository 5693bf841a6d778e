/*
 * server.h — what the SMTP sessions of one process share: the event loop,
 * the current configuration and certificate store, the spool (message
 * files of the queue process), the keys process's client, the logs, the
 * accepting sockets and the list of live sessions;
 * and admission of each new connection (connector choice, limits).
 *
 * The smtp process (receive/smtp_process.c) creates it, replaces the
 * configuration and certificates on reload and stops it; sessions only read
 * it. Sessions already running keep the configuration they started with,
 * so a reload loses no session.
 * Must never: block the loop on disk sync, DNS or password hashing.
 */
#ifndef POSTERN_SERVER_H
#define POSTERN_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"

struct event_base;
struct tls_store;
struct spool;
struct keys_client;
struct protolog;
struct accept_set;
struct session;
struct msgtrack;

struct server {
    struct event_base *base;
    struct config *cfg;             /* current configuration (sessions hold refs) */
    struct tls_store *tls;          /* current certificate store */
    struct spool *spool;            /* the queue process's message files */
    struct keys_client *keys;       /* signatures, password checks, credentials */
    bool keys_up;                   /* the keys process is there: STARTTLS can work */
    struct protolog *protolog;      /* SmtpReceive */
    struct protolog *send_protolog; /* SmtpSend */
    struct msgtrack *track;
    struct accept_set *accepts;
    struct session *sessions; /* all live sessions (doubly linked) */
    size_t nsessions;
    uint64_t next_session_id;
    bool stopping; /* no new commands; sessions end after their commit */
};

/* Sets up srv on base with cfg (srv takes the reference): session ids
 * unique across restarts, an empty set of accepting sockets. */
void server_init(struct server *srv, struct event_base *base, struct config *cfg);
/* Installs a new configuration for sessions started from now on. */
void server_set_config(struct server *srv, struct config *cfg);

/* The TLS context for a connector: NULL when its AuthMechanism lacks Tls or
 * no usable certificate names its FQDN. */
struct ssl_ctx_st *server_tls_ctx(struct server *srv, const struct receive_connector *rc);
/* Logs connectors that offer no STARTTLS and why (after each change). */
void server_check_tls(struct server *srv);
/* Installs a new certificate store unless it would take STARTTLS away from
 * a connector that has it now (a broken or expired replacement): then the
 * previous certificates stay in use and the reason is logged. Takes fresh
 * either way. Returns 0 when installed. */
int server_swap_tls(struct server *srv, struct tls_store *fresh);

/* An accepted connection (an accept_fn for the accept set). */
void server_accept(void *srv, int fd, const struct sockaddr *remote, int remote_len);

/* Sessions waiting for another thread or process (a commit, a password
 * check): a stop waits for them so their clients hear the answer. */
size_t server_sessions_waiting(const struct server *srv);
/* Stops accepting and ends every session that is not waiting. */
void server_begin_stop(struct server *srv);
/* Stops accepting and ends every session (a session waiting for a commit
 * is freed when the commit completes). The configuration, certificates,
 * queue and logs stay: their owner frees them after the queue is closed. */
void server_close(struct server *srv);

#endif
