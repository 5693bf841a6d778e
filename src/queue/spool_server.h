/*
 * spool_server.h — the queue process's end of one spool channel to the
 * smtp process (lib/proc.h, MSG_SPOOL_*; the other end is
 * receive/spool.c). It makes content files in advance (queue_msg_reserve)
 * and hands their descriptors over, and commits (into the queue's log) or
 * removes one when asked.
 *
 * The peer parses the network and is trusted with nothing: each request is
 * checked (a message ID must be one this channel was given and has not
 * committed yet, the envelope must parse and is reset to a new message's
 * delivery state, the size must be the file's), and a bad one gets an
 * error answer. When the channel closes, every message begun on it and not
 * committed is removed; commits already handed to the queue still complete
 * (the message is durable and its client may not have heard: at least
 * once, as when a client disconnects while its message is committed).
 * Must never: open a path the peer chose, commit a message twice or one of
 * another channel, or answer a commit before the queue reports it durable.
 */
#ifndef POSTERN_SPOOL_SERVER_H
#define POSTERN_SPOOL_SERVER_H

#include <stddef.h>

struct event_base;
struct queue;
struct spool_server;

/* The channel closed (reason for the log): its messages are removed
 * already. ss must still be freed, which the callback may do. */
typedef void spool_server_closed_fn(struct spool_server *ss, const char *reason, void *arg);

/* Serves fd (a connected unix stream socket; ownership passes) with q,
 * which must outlive ss. closed may be NULL. */
struct spool_server *spool_server_new(struct event_base *base, struct queue *q, int fd,
                                      spool_server_closed_fn *closed, void *arg);
/* Closes the channel (removing what it had not committed); commits in
 * flight complete without an answer. NULL is a no-op. */
void spool_server_free(struct spool_server *ss);

/* Messages begun on the channel and neither committed nor removed. */
size_t spool_server_messages(const struct spool_server *ss);
/* Commits handed to the queue and not yet answered. */
size_t spool_server_commits(const struct spool_server *ss);

#endif
