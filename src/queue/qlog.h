/*
 * qlog.h — the queue's log: every committed message (envelope and
 * content), every later state of its envelope and its removal, as
 * checksummed records appended to segment files (DIR/<16 hex>.seg), made
 * durable many at a time by one fdatasync (qlog_sync). This is what lets a
 * batch of commits share one disk flush instead of two fsyncs a message.
 *
 * Record: a 40-byte header (magic, CRC-32 of everything after the CRC,
 * type, lengths, the 16-character message ID) and its payload (envelope
 * text, then content for QLOG_MSG). Replay at open reads every segment in
 * order. A record that is cut short or fails its checksum is skipped up
 * to the next whole record (damage: the disk lost flushed data; logged,
 * naming the message when its header is readable); with no whole record
 * after it, its segment ends there, and the newest segment is cut there
 * (a write a crash interrupted, never acknowledged).
 *
 * A segment is removed once no live message has its content in it and
 * every older segment is gone (so a removal record is never lost while the
 * message it removes could come back). Messages that outlive most of their
 * segment are copied forward (qlog_compact), so one long retry does not
 * pin a whole segment.
 *
 * Threads: one thread appends, syncs and compacts; any thread may call
 * qlog_content_fd, qlog_has and qlog_stats meanwhile. A failure is logged
 * here, naming the step and the segment ("queue: fdatasync DIR/<N>.seg
 * failed: ..."); callers get errno.
 * Must never: report a sync done before fdatasync (and, for a new segment,
 * the directory fsync) returned; make an appended change visible to
 * readers before its sync succeeded; keep using a segment whose fdatasync
 * failed (the kernel may have dropped the pages: "fsyncgate").
 */
#ifndef POSTERN_QLOG_H
#define POSTERN_QLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QLOG_ID_LEN 16
/* A segment takes records up to this size (more only for one record that
 * is bigger on its own). */
#define QLOG_SEGMENT_SIZE (64u << 20)

struct qlog;

struct qlog_options {
    bool read_only;        /* cmdlets: no truncation, no appends, no removal */
    uint64_t segment_size; /* 0: QLOG_SEGMENT_SIZE (tests use small ones) */
};

/* Opens (creating dir unless read-only) and replays the log. NULL with err
 * when the directory or a segment cannot be read. */
struct qlog *qlog_open(const char *dir, const struct qlog_options *opt, char *err, size_t errlen);
void qlog_close(struct qlog *l);

/*
 * Appending: each returns 0, or -1 with errno (ENOSPC when the disk is
 * full; the record is then cut off again). Nothing appended is visible or
 * durable until qlog_sync.
 */
/* A new message: env, then content_len bytes read from content_fd at
 * offset 0. Also moves a message forward (the same ID again). */
int qlog_append_msg(struct qlog *l, const char *id, const char *env, size_t env_len, int content_fd,
                    uint64_t content_len);
/* A new state of the envelope of a live message. */
int qlog_append_env(struct qlog *l, const char *id, const char *env, size_t env_len);
/* The message is gone. */
int qlog_append_del(struct qlog *l, const char *id);
/* Makes everything appended since the last sync durable, then visible;
 * removes the segments that became unneeded. -1 with errno when a flush
 * failed: every change since the last sync is dropped (its callers must
 * hear of the failure) and the segments it touched take no more records. */
int qlog_sync(struct qlog *l);
/* Copies forward the live messages of the oldest segment when they fill
 * less than a quarter of it, then syncs. 0 when nothing was to do or it
 * worked, -1 with errno. */
int qlog_compact(struct qlog *l);

/* A new read-only descriptor of the content of a live message (a copy in
 * an anonymous memory file, positioned at 0). -1 with errno (ENOENT: no
 * such live message). */
int qlog_content_fd(struct qlog *l, const char *id);
/* Its first max octets (fewer when it is shorter) in a NUL-terminated
 * malloc'd buffer, *len their number; NULL with errno. For headers. */
char *qlog_content_head(struct qlog *l, const char *id, size_t max, size_t *len);
bool qlog_has(struct qlog *l, const char *id);

/* Once per live message in ID order: its latest envelope (env_len bytes,
 * not NUL-terminated) and its content's length. Returns how many. Any
 * thread; the messages are those live when it was called. */
typedef void qlog_live_fn(void *arg, const char *id, const char *env, size_t env_len,
                          uint64_t content_len);
size_t qlog_each(struct qlog *l, qlog_live_fn *fn, void *arg);

struct qlog_stats {
    size_t segments;
    size_t messages;
    uint64_t bytes; /* of every segment's records */
};
void qlog_stats(struct qlog *l, struct qlog_stats *out);

#endif
