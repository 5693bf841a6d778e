/*
 * rcvconn_select.h — which Receive connector serves a new connection.
 *
 * Among enabled connectors with a binding that matches the local address and
 * port and a RemoteIPRanges entry that contains the client, the winner has
 * the most specific binding (a specific IP beats 0.0.0.0 / [::]), then the
 * most specific (smallest) matching remote range. Pure function.
 */
#ifndef POSTERN_RCVCONN_SELECT_H
#define POSTERN_RCVCONN_SELECT_H

#include <stdbool.h>
#include <sys/socket.h>

#include "config/config.h"

const struct receive_connector *rcvconn_select(const struct config *cfg,
                                               const struct sockaddr *local,
                                               const struct sockaddr *remote);

/* Why a connector was or was not chosen (Test-ReceiveConnector). */
enum rcvconn_verdict {
    RCV_CHOSEN,
    RCV_DISABLED,
    RCV_NO_BINDING,    /* no binding matches the local address and port */
    RCV_NO_RANGE,      /* no RemoteIPRanges entry contains the client */
    RCV_LESS_SPECIFIC, /* it matches, but another matches more specifically */
};

struct rcvconn_reason {
    const struct receive_connector *rc;
    enum rcvconn_verdict verdict;
    const struct binding *binding; /* its most specific matching binding, or NULL */
    const struct iprange *range;   /* its smallest range containing the client, or NULL */
};

/* rcvconn_select, saying why for each connector: out (may be NULL) gets
 * one reason per connector of cfg, in order. */
const struct receive_connector *rcvconn_explain(const struct config *cfg,
                                                const struct sockaddr *local,
                                                const struct sockaddr *remote,
                                                struct rcvconn_reason *out);

/* Rights a session holds (docs/exchange-model.md, "Permission groups"). */
#define RIGHT_SUBMIT 0x1
#define RIGHT_RELAY 0x2       /* Accept-Any-Recipient */
#define RIGHT_ORG_HEADERS 0x4 /* may set postern's own X-Postern-* headers */

/* The rights of a session on rc: for a client that authenticated (AUTH) or
 * not, and whose sender domain a client certificate proved (domain
 * security) or not. */
unsigned rcvconn_rights(const struct receive_connector *rc, bool authenticated,
                        bool domain_secured);

#endif
