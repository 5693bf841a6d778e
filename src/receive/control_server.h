/*
 * control_server.h — the service side of DIR/run/control.sock (see
 * admin/control.h for the protocol).
 * Must never: act on a request from a user other than root or the
 * service's own user.
 */
#ifndef POSTERN_CONTROL_SERVER_H
#define POSTERN_CONTROL_SERVER_H

#include <stddef.h>

struct server;
struct control_server;

struct control_server *control_server_open(struct server *srv, char *err, size_t errlen);
void control_server_close(struct control_server *cs);

#endif
