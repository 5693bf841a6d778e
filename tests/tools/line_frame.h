/*
 * line_frame.h — DATA input framed into lines the way the SMTP session
 * frames it (src/receive/session_data.c) and handed to smtp/data_stream.h,
 * for the test programs that feed a whole buffer at once
 * (tests/tools/data_pass.c, fuzz/fuzz_data_stream.c): a line ends at an LF;
 * one longer than the limit is discarded as it arrives and handed on empty,
 * flagged too long, with how it really ended still known.
 * Must never: be included by postern itself, or keep state between calls.
 */
#ifndef POSTERN_LINE_FRAME_H
#define POSTERN_LINE_FRAME_H

#include "smtp/data_stream.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct framed_line {
    size_t len;              /* octets of the line in the buffer, its LF included */
    enum line_end end;       /* CRLF, or an LF alone */
    bool too_long;           /* over the limit: handed on as discarded */
    enum data_action action; /* what the data stream made of it */
    const char *store;       /* with DATA_STORE: store_len octets to keep */
    size_t store_len;
};

/* Hands the line at the start of buf (n octets) to ds. False when buf holds
 * no whole line: the session would wait for more. */
static inline bool
frame_data_line(struct data_stream *ds, const char *buf, size_t n, size_t limit,
                struct framed_line *fl)
{
    const char *lf = memchr(buf, '\n', n);

    if (lf == NULL)
        return false;
    fl->len = (size_t)(lf - buf) + 1;
    fl->end = fl->len >= 2 && buf[fl->len - 2] == '\r' ? LINE_END_CRLF : LINE_END_LF;
    fl->too_long = fl->len > limit;
    fl->store = NULL;
    fl->store_len = 0;
    fl->action = data_stream_line(ds, buf, fl->too_long ? 0 : fl->len, fl->end, fl->too_long,
                                  &fl->store, &fl->store_len);
    return true;
}

#endif
