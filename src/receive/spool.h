/*
 * spool.h — the smtp process's way into the queue, which another process
 * owns (lib/proc.h, MSG_SPOOL_*; the other end is queue/spool_server.c).
 * The SMTP session writes a message's content straight into a file the
 * queue process made for it, then asks for the commit.
 *
 * The queue process makes a few files in advance (a pool), so that DATA
 * usually starts at once; when the pool is empty the session waits for the
 * next file. Content is buffered and written with plain write()s; the
 * commit's answer comes once the queue reports the message durable.
 *
 * When the channel dies (the queue process stopped or restarted), every
 * request pending on it fails with ENOTCONN, a temporary error, and so do
 * the commits of messages begun on it; spool_attach starts again on a new
 * channel.
 * Must never: call a callback from inside the call that started its
 * request, report a commit as done before the queue process answered it,
 * or leave a descriptor of a message behind.
 */
#ifndef POSTERN_SPOOL_H
#define POSTERN_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct envelope;
struct event_base;
struct spool;
struct spool_msg;

/* m, or NULL with error (ENOTCONN: no channel; ENOSPC: the disk is full;
 * another errno: the queue process could not make the file). */
typedef void spool_begin_cb(void *arg, struct spool_msg *m, int error);
/* 0 once done, else an errno. */
typedef void spool_done_cb(void *arg, int error);

struct spool *spool_new(struct event_base *base);
/* Fails what is pending (ENOTCONN: callbacks run now), closes the channel.
 * Messages still held may then only be aborted. NULL is a no-op. */
void spool_free(struct spool *sp);
/* Serves from fd (a connected unix stream socket to the queue process;
 * ownership passes). A previous channel is dropped first, failing what
 * was pending on it. */
void spool_attach(struct spool *sp, int fd);

/* Is there room for a message of about size bytes (0: unknown), as
 * queue_has_space says, on the queue's file system? True when it cannot
 * tell (no file at hand). */
bool spool_has_space(const struct spool *sp, uint64_t size);
/* Files ready for spool_msg_begin to return at once. */
size_t spool_pooled(const struct spool *sp);

/* A message file: returned at once when one is pooled (cb is not called),
 * else NULL, and cb runs later from the loop. */
struct spool_msg *spool_msg_begin(struct spool *sp, spool_begin_cb *cb, void *arg);
const char *spool_msg_id(const struct spool_msg *m);
/* Appends content. Errors are sticky: after the first failure further
 * writes are ignored and spool_msg_error() returns its errno (ENOSPC: full
 * disk; ENOTCONN: the channel died meanwhile). */
void spool_msg_write(struct spool_msg *m, const void *data, size_t len);
int spool_msg_error(const struct spool_msg *m);
uint64_t spool_msg_size(const struct spool_msg *m);
/* Drops the message; its file is removed soon after. */
void spool_msg_abort(struct spool_msg *m);
/* Drops the message; cb(arg, its write error) once its file is removed
 * (or the channel is gone, which removes it). */
void spool_msg_discard(struct spool_msg *m, spool_done_cb *cb, void *arg);
/* Commits content and envelope (whose ownership passes; its id and size
 * are the message's). cb(arg, 0) once durable, cb(arg, errno) if not. m is
 * freed by this call. */
void spool_msg_commit(struct spool_msg *m, struct envelope *env, spool_done_cb *cb, void *arg);

#endif
