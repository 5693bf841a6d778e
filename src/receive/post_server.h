/*
 * post_server.h — the smtp process's end of the HTTPS POSTs of TLS reports
 * (RFC 8460 5.2): MSG_OUT_POST from the queue process on the outbound
 * channel runs outbound/https_post.h with this process's resolver and
 * certificate trust, and MSG_OUT_POSTED answers it (qmgr/post_proxy.c is
 * the other end). outbound_server.c owns one.
 *
 * The queue process is trusted more than the network, not blindly: the
 * request must decode exactly, its id must be new, its URI passes the
 * check of routing/tlsrpt_uri.h again, its media type is RFC 8460's and
 * its body bounded, and only so many run at once.
 * Must never: POST to anything but a checked URI, or outlive the channel
 * that asked (abort_all when it goes).
 */
#ifndef POSTERN_POST_SERVER_H
#define POSTERN_POST_SERVER_H

struct ipc_chan;
struct ipc_msg;
struct outbound_env;
struct post_server;

/* env (its base, resolver and certificate store) and *ch (the channel of
 * the moment, NULL when there is none) must outlive ps. */
struct post_server *post_server_new(const struct outbound_env *env, struct ipc_chan **ch);
/* MSG_OUT_POST and MSG_OUT_POST_CANCEL. */
void post_server_message(struct post_server *ps, const struct ipc_msg *m);
/* Stops every POST without an answer (the channel is gone, or stopping). */
void post_server_abort_all(struct post_server *ps);
void post_server_free(struct post_server *ps);

#endif
