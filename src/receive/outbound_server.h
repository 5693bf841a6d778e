/*
 * outbound_server.h — the smtp process's end of the outbound channel: it
 * runs the connections the queue process's scheduler opens
 * (outbound/outbound.h) and reports their events back (MSG_OUT_*;
 * qmgr/outbound_proxy.c is the other end). The resolver lives here: DNS
 * answers are parsed in the process that parses the network.
 *
 * A transaction through a Send connector (not LMTP) whose author's domain
 * has an enabled DkimSigningConfig goes out with a DKIM-Signature field
 * first (receive/dkim_signer.h), or unsigned when that fails. The HTTPS
 * POSTs of TLS reports come on the same channel (receive/post_server.h).
 *
 * The queue process is trusted more than the network, not blindly: every
 * request is checked (a policy that decodes, an envelope that parses,
 * recipient indexes inside it, a content descriptor with each transaction,
 * events only for connections that exist).
 * Must never: keep a smart-host password beyond its connection; let a
 * connection outlive the channel that opened it.
 */
#ifndef POSTERN_OUTBOUND_SERVER_H
#define POSTERN_OUTBOUND_SERVER_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct server;
struct keys_client;
struct config;
struct outbound_server;

/* Reads what the resolver and TLS verification need from files (resolver
 * configuration, cfg's DNSSEC trust anchors, the system's CA certificates)
 * while the process still may. Returns 0, or -1 with a reason. */
int outbound_preload(const struct config *cfg, char *err, size_t errlen);

struct outbound_server *outbound_server_new(struct event_base *base, struct server *srv,
                                            struct keys_client *keys);
/* A (new) channel from the queue process; takes fd. Connections of the
 * previous one are aborted. */
void outbound_server_attach(struct outbound_server *os, int fd);
/* The configuration changed: the resolver follows ExternalDNSServers. */
void outbound_server_reconfigure(struct outbound_server *os, const struct config *cfg);
/* Stopping: every connection is aborted (their messages stay queued). */
void outbound_server_stop(struct outbound_server *os);
void outbound_server_free(struct outbound_server *os);

#endif
