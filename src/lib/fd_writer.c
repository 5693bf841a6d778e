/*
 * fd_writer.c — buffered content writes (fd_writer.h).
 * Must never: retry a write that failed with anything but EINTR.
 */
#include "lib/fd_writer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/util.h"

/* Large enough that a message costs few system calls, small enough to
 * keep per session. */
#define FD_WRITER_CHUNK (64 * 1024)

void
fd_writer_start(struct fd_writer *w, int fd)
{
    memset(w, 0, sizeof(*w));
    w->fd = fd;
}

static void
flush(struct fd_writer *w)
{
    size_t off = 0;

    while (w->error == 0 && off < w->len) {
        ssize_t n = write(w->fd, w->buf + off, w->len - off);
        if (n < 0) {
            if (errno != EINTR)
                w->error = errno;
            continue;
        }
        off += (size_t)n;
    }
    w->len = 0;
}

void
fd_writer_put(struct fd_writer *w, const void *data, size_t len)
{
    const char *p = data;

    w->size += len;
    if (w->error)
        return;
    if (w->buf == NULL)
        w->buf = xmalloc(FD_WRITER_CHUNK);
    while (len > 0) {
        size_t n = FD_WRITER_CHUNK - w->len;
        if (n > len)
            n = len;
        memcpy(w->buf + w->len, p, n);
        w->len += n;
        p += n;
        len -= n;
        if (w->len == FD_WRITER_CHUNK)
            flush(w);
    }
}

int
fd_writer_finish(struct fd_writer *w)
{
    flush(w);
    fd_writer_drop(w);
    return w->error;
}

void
fd_writer_drop(struct fd_writer *w)
{
    free(w->buf);
    w->buf = NULL;
    w->len = 0;
}
