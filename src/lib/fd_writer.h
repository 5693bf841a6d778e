/*
 * fd_writer.h — buffered writing of a file's content to a descriptor: the
 * caller appends pieces of any size, the file gets writes of 64 KiB. The
 * first error is kept and ends the writing; what was put is counted either
 * way, so the caller can report the size it was sent.
 *
 * Used by both sides of the spool (receive/spool.c in the smtp process,
 * queue/queue.c for the queue's own messages).
 * Must never: fsync, seek or close the descriptor; its owner does.
 */
#ifndef POSTERN_FD_WRITER_H
#define POSTERN_FD_WRITER_H

#include <stddef.h>
#include <stdint.h>

struct fd_writer {
    int fd;
    int error;     /* errno of the first failed write, 0 while all went well */
    uint64_t size; /* bytes put so far */
    char *buf;     /* allocated at the first put, freed by fd_writer_finish/drop */
    size_t len;
};

/* Starts writing to fd (at its current offset). */
void fd_writer_start(struct fd_writer *w, int fd);
void fd_writer_put(struct fd_writer *w, const void *data, size_t len);
/* Writes what is buffered and frees the buffer; returns w->error. */
int fd_writer_finish(struct fd_writer *w);
/* Frees the buffer without writing it. */
void fd_writer_drop(struct fd_writer *w);

#endif
