/*
 * tls_shutdown.h — ending a connection that may run TLS: close_notify first.
 *
 * RFC 8446 6.1 asks each side to send close_notify before closing its
 * write side; peers that do not get one log the session as truncated
 * (Exim: "TLS connection was non-properly terminated").
 * Must never: wait for the peer's close_notify, or block: the alert is
 * written once, without waiting, and the connection is closed either way.
 */
#ifndef POSTERN_TLS_SHUTDOWN_H
#define POSTERN_TLS_SHUTDOWN_H

struct bufferevent;

/* Frees bev (closing its socket), sending close_notify first when it runs
 * an established TLS session. */
void tls_bufferevent_free(struct bufferevent *bev);

#endif
