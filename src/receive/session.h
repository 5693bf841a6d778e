/*
 * session.h — one inbound SMTP session (the server side of RFC 5321).
 *
 * Created by the service for each accepted connection once a Receive
 * connector was selected; freed by session_close. Everything runs on the
 * event loop; slow steps (queue commit, password check) go to other threads
 * and come back as callbacks, during which the session reads no input.
 */
#ifndef POSTERN_SESSION_H
#define POSTERN_SESSION_H

#include <sys/socket.h>

struct server;
struct session;
struct config;
struct receive_connector;

void session_start(struct server *srv, struct config *cfg, const struct receive_connector *rc,
                   int fd, const struct sockaddr *local, const struct sockaddr *remote);

/* Sends 421 and closes once it is written (the service is stopping). */
void session_shutdown(struct session *s);

/* Drops every session at shutdown (no reply is sent; nothing acknowledged is
 * lost because acknowledged messages are already on disk). */
void session_close_all(struct server *srv);

#endif
