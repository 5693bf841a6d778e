/*
 * control.h — the control socket DIR/run/control.sock between cmdlets and
 * the running service.
 *
 * Requests are one line ("reload"), answers one line ("ok" or
 * "error <reason>"). Only the owner of the socket (root or the service user)
 * may connect: the socket is mode 0600 and peers are checked by SO_PEERCRED.
 * Must never: act on a request from another user.
 */
#ifndef POSTERN_CONTROL_H
#define POSTERN_CONTROL_H

#include <stddef.h>

/* Sends one request line ("get-queue\tIDENTITY", fields separated by tabs)
 * to the running service. Returns 1 with the answer's body in *output
 * (malloc'd), 0 when no service is running, -1 when the service refused
 * or failed (reason in err). */
int control_request(const char *instance_dir, const char *request, char **output, char *err,
                    size_t errlen);

/* Client side, used by cmdlets: asks a running service to reload. Returns
 * 1 when the service reloaded, 0 when no service is running, -1 when the
 * service refused (reason in err). */
int control_request_reload(const char *instance_dir, char *err, size_t errlen);

#endif
