/*
 * control_server.h — the daemon's side of DIR/run/control.sock (see
 * admin/control.h for the protocol): one request line per connection,
 * one answer ("ok" or "error <reason>", then what the cmdlet prints),
 * then close.
 *
 * The answer may come later (a queue cmdlet answered by the queue
 * process): the handler gets a reply handle and finishes it when it can;
 * a client that hangs up first is simply forgotten.
 * Must never: act on a request from a user other than root or the
 * service's own user.
 */
#ifndef POSTERN_CONTROL_SERVER_H
#define POSTERN_CONTROL_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct event_base;
struct control_server;
struct control_reply;

#define CONTROL_MAX_ARGS 5

/* argv has CONTROL_MAX_ARGS entries ("" where the request had fewer), valid
 * only during the call: a handler that answers later copies what it needs. */
typedef void control_request_fn(void *arg, char *const *argv, struct control_reply *reply);

/* Listens on path (created mode 0600); requests from root and from
 * allowed_uid are served. */
struct control_server *control_server_open(struct event_base *base, const char *path,
                                           uid_t allowed_uid, control_request_fn *fn, void *arg,
                                           char *err, size_t errlen);
void control_server_close(struct control_server *cs);

/* Answers: ok with text (the cmdlet's output, may be empty), or an error
 * line. Frees the reply. */
void control_reply_finish(struct control_reply *r, bool ok, const char *text, size_t len);

#endif
