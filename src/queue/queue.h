/*
 * queue.h — the durable queue (spool) and the only module that writes it.
 *
 * Layout under DIR/queue:
 *   data/<ID>      message content, streamed in while DATA arrives
 *   env/<ID>       the envelope; its presence is what makes a message
 *                  committed (acknowledged)
 *   env/<ID>.tmp   an envelope being written
 *   spare/<ID>     content files made in advance for a writer in another
 *                  process (queue_msg_reserve); moved to data/ when used
 *
 * Commit (queue_msg_commit) runs on a committer thread and shares fsyncs
 * between the messages that are ready at the same time (group commit):
 * fsync each content file, write and fsync each envelope .tmp, fsync data/,
 * rename each .tmp into place, fsync env/. The callback reports success only
 * after all of that, so the caller may then send 250.
 * Recovery (queue_open) deletes .tmp envelopes, spare files and content
 * without an envelope: what was never acknowledged is not kept.
 *
 * Must never: report a commit as done before the directory fsync; leave a
 * message half-visible after a crash.
 */
#ifndef POSTERN_QUEUE_H
#define POSTERN_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/envelope.h"

struct event_base;
struct queue;
struct queue_msg;

/* Opens (creating the directories if needed) and recovers the queue. With
 * base NULL the queue is read-only (cmdlets): no commits. */
struct queue *queue_open(const char *queue_dir, struct event_base *base, char *err, size_t errlen);
void queue_close(struct queue *q);
/* Committed messages found at open plus those committed since. */
size_t queue_count(const struct queue *q);

/* Is there room for a message of about `size` bytes (0: unknown) with a
 * reserve left over? False on a full disk: the caller replies 452 4.3.1. */
bool queue_has_space(const struct queue *q, uint64_t size);
/* The same rule for the file system of fd (any file of the queue's); true
 * when it cannot tell (fd < 0). */
bool queue_fd_has_space(int fd, uint64_t size);

/* Starts a message: allocates its ID and creates data/<ID>. NULL with err
 * set on failure (errno kept). */
struct queue_msg *queue_msg_begin(struct queue *q, char *err, size_t errlen);
const char *queue_msg_id(const struct queue_msg *m);
/* Appends content. Errors are sticky: after the first failure further writes
 * are ignored and queue_msg_error() returns its errno (ENOSPC: full disk). */
void queue_msg_write(struct queue_msg *m, const void *data, size_t len);
int queue_msg_error(const struct queue_msg *m);
uint64_t queue_msg_size(const struct queue_msg *m);
/* Drops an unfinished message and its file. */
void queue_msg_abort(struct queue_msg *m);

/* A message whose content another process writes (queue/spool_server.c
 * hands the descriptor to the smtp process). It is created in advance as
 * spare/<ID>, which no listing of data/ shows and recovery removes, and
 * becomes data/<ID> with queue_msg_claim when a transaction starts on it.
 * queue_msg_write is not used on it: queue_msg_commit claims it if that
 * was not done yet and takes its size from the file (fstat). */
struct queue_msg *queue_msg_reserve(struct queue *q, char *err, size_t errlen);
/* The content file's descriptor; the message keeps it (dup to hand on). */
int queue_msg_fd(const struct queue_msg *m);
/* Moves spare/<ID> to data/<ID> (no-op once done). -1 with errno when it
 * cannot: the message is then only fit for queue_msg_abort. */
int queue_msg_claim(struct queue_msg *m);
/* The writer's failure to write the content: becomes the message's error
 * (its commit fails with it) and is logged as the queue's own would be. */
void queue_msg_set_error(struct queue_msg *m, int error);

/* Commits content and envelope (whose id and size are set here; ownership
 * of env passes to the queue). cb(arg, 0) once durable, cb(arg, errno) if
 * not; in both cases m is freed before cb runs. After a successful commit
 * the envelope goes to the commit hook, if one is set, else it is freed. */
typedef void queue_commit_cb(void *arg, int error);
void queue_msg_commit(struct queue_msg *m, struct envelope *env, queue_commit_cb *cb, void *arg);

/* Who hears of each committed message (the scheduler): hook(arg, env) runs
 * on the loop after the commit callback and owns env from then on. */
typedef void queue_commit_hook(void *arg, struct envelope *env);
void queue_set_commit_hook(struct queue *q, queue_commit_hook *hook, void *arg);

/* Rewrites the envelope of a committed message (delivery state) durably:
 * env/<ID>.tmp, fsync, rename over env/<ID>, fsync env/. env is serialised
 * during the call; the caller keeps it. cb(arg, error) on the loop. */
void queue_update(struct queue *q, const struct envelope *env, queue_commit_cb *cb, void *arg);

/* Removes a message whose every recipient is done: envelope, then content,
 * then fsync. cb(arg, error) on the loop. */
void queue_remove(struct queue *q, const char *id, queue_commit_cb *cb, void *arg);

/* Calls fn for each committed message (envelope parsed from disk, path of
 * its content), in ID order. Unreadable envelopes are reported through
 * fn with env NULL. Returns the number of messages, or -1. */
typedef void queue_scan_fn(const char *id, const struct envelope *env, const char *data_path,
                           void *arg);
long queue_scan(const char *queue_dir, queue_scan_fn *fn, void *arg);

#endif
