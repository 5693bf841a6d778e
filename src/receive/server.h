/*
 * server.h — the transport service: one event loop that owns the current
 * configuration, the certificate store, the listeners, the queue, the
 * worker pool and every SMTP session.
 *
 * A reload (SIGHUP or the control socket) loads and validates the new
 * configuration, re-opens listeners whose bindings changed and swaps the
 * configuration pointer; sessions already running keep the configuration
 * they started with, so a reload loses no session and no queued message.
 * Must never: block the loop on disk sync, DNS or password hashing.
 */
#ifndef POSTERN_SERVER_H
#define POSTERN_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config/config.h"

struct event_base;
struct tls_store;
struct queue;
struct workq;
struct protolog;
struct listener_set;
struct session;
struct deliver;
struct msgtrack;

struct server {
    char *instance_dir;
    char *config_path;
    struct event_base *base;
    struct config *cfg;    /* current configuration (sessions hold refs) */
    struct tls_store *tls; /* current certificate store */
    struct queue *queue;
    struct workq *workers;
    struct protolog *protolog;      /* SmtpReceive */
    struct protolog *send_protolog; /* SmtpSend */
    struct msgtrack *track;
    struct deliver *deliver;
    struct listener_set *listeners;
    struct session *sessions; /* all live sessions (doubly linked) */
    size_t nsessions;
    uint64_t next_session_id;
    uint64_t certs_stamp; /* signature of DIR/certs, to notice renewals */
    bool stopping;        /* SIGTERM: finishing commits in flight, then exit */
    time_t stop_deadline;
    bool stop_now; /* a second signal, or the grace period is over */
    struct event *drain;
};

/* Runs the service in the foreground until SIGTERM/SIGINT. Returns the exit
 * status. */
/* Runs the service until SIGTERM. detach_fd >= 0: started by `run
 * --daemon`; readiness is reported on it (lib/detach.h). */
int server_run(const char *instance_dir, int detach_fd);

/* Loads the configuration again and applies it. Returns 0, or -1 with a
 * reason in err (the old configuration then stays in force). */
int server_reload(struct server *srv, char *err, size_t errlen);

/* The TLS context for a connector: NULL when its AuthMechanism lacks Tls or
 * no usable certificate names its FQDN. */
struct ssl_ctx_st *server_tls_ctx(struct server *srv, const struct receive_connector *rc);

/* Called by the listeners for each accepted connection. */
void server_accept(struct server *srv, int fd, const struct sockaddr *remote, int remote_len);

#endif
