/*
 * queue.h — the durable queue (spool) and the only module that writes it.
 *
 * Layout under DIR/queue:
 *   log/<N>.seg    the queue's log (qlog.h): every committed message,
 *                  envelope and content, every later envelope, every
 *                  removal; a message is committed (acknowledged) once its
 *                  record is in the log and flushed
 *   spare/<ID>     content being received: files made in advance for a
 *                  writer in another process (queue_msg_reserve) or by
 *                  this one (queue_msg_begin); copied into the log at
 *                  commit, then emptied and kept (up to 64, under the name
 *                  of the message that first used it) for a later
 *                  queue_msg_reserve, or removed
 *
 * Commit (queue_msg_commit), envelope updates and removals run on a
 * committer thread, which appends what is ready when it wakes and flushes
 * it with one fdatasync (group commit). The callback reports success only
 * after that flush, so the caller may then send 250.
 * Recovery (queue_open) replays the log (cutting a torn tail) and removes
 * spare/: what was never acknowledged is not kept. A queue of the earlier
 * layout (data/<ID>, env/<ID>) is moved into the log first.
 *
 * Must never: report a commit as done before the flush; leave a message
 * half-visible after a crash.
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

/* Starts a message: allocates its ID and creates spare/<ID>. NULL with err
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
 * hands the descriptor to the smtp process), made in advance as
 * spare/<ID>. queue_msg_write is not used on it: queue_msg_commit takes
 * its size from the file (fstat). */
struct queue_msg *queue_msg_reserve(struct queue *q, char *err, size_t errlen);
/* The content file's descriptor; the message keeps it (dup to hand on). */
int queue_msg_fd(const struct queue_msg *m);
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

/* Records a new state of a committed message's envelope (delivery
 * state) durably. env is serialised during the call; the caller keeps it.
 * cb(arg, error) on the loop. */
void queue_update(struct queue *q, const struct envelope *env, queue_commit_cb *cb, void *arg);

/* Removes a message whose every recipient is done. cb(arg, error) on the
 * loop. */
void queue_remove(struct queue *q, const char *id, queue_commit_cb *cb, void *arg);

/* The content of a committed message as a new read-only descriptor at
 * offset 0 (the caller closes it), or -1 with errno. Any thread. */
int queue_content_fd(struct queue *q, const char *id);
/* Its header section (smtp/header_read.h), at most HEADER_SECTION_MAX
 * octets, NUL-terminated and malloc'd, *len its length; NULL with errno.
 * Any thread; reads the head of the message only. */
char *queue_header_section(struct queue *q, const char *id, size_t *len);

/* A queue being read (queue_scan, queue_load): what fn may ask for the
 * content of the message it is given. */
struct queue_reader;
int queue_reader_content(struct queue_reader *r, const char *id);
char *queue_reader_header_section(struct queue_reader *r, const char *id, size_t *len);

/* Calls fn for each committed message (envelope parsed, NULL when it
 * cannot be), in ID order. queue_scan reads a queue directory without
 * changing it (cmdlets, with the service stopped); queue_load gives the
 * open queue's messages (the scheduler at start). Returns the number of
 * messages, or -1. */
typedef void queue_scan_fn(const char *id, const struct envelope *env, struct queue_reader *r,
                           void *arg);
long queue_scan(const char *queue_dir, queue_scan_fn *fn, void *arg);
long queue_load(struct queue *q, queue_scan_fn *fn, void *arg);

#endif
