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

#include <sys/socket.h>

#include "config/config.h"

const struct receive_connector *rcvconn_select(const struct config *cfg,
                                               const struct sockaddr *local,
                                               const struct sockaddr *remote);

#endif
