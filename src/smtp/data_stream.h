/*
 * data_stream.h — the DATA content of one message, line by line: the end
 * of data, dot-unstuffing (RFC 5321 4.5.2), the header section (RFC 5322
 * 2.2) with the header firewall, the hop count and the TLS-Required field
 * (RFC 8689 3), and the size limits.
 *
 * Pure: no I/O, no allocation. The caller frames lines (each ends at an LF,
 * or is an over-long line whose bytes were discarded) and says how each
 * ended; this module decides what to store and when the data ends.
 * Must never: end the data anywhere but at "." alone on a line when both
 * that line and the one before it ended in CRLF; let a header field named
 * X-Postern-* through from a sender who may not set it, wherever in the
 * header section it stands.
 */
#ifndef POSTERN_DATA_STREAM_H
#define POSTERN_DATA_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How a framed line ended. Every path that frames a line must say which,
 * including an over-long line whose bytes are gone: the end of data is
 * recognised only after a line that really ended in CRLF. */
enum line_end {
    LINE_END_CRLF, /* CR LF */
    LINE_END_LF,   /* LF without a CR before it */
};

/* postern's own header namespace: only trusted servers may set it. */
#define DATA_OWN_HEADER_PREFIX "X-Postern-"

struct data_limits {
    uint64_t max_size;        /* content octets after unstuffing; UINT64_MAX: none */
    uint64_t max_header_size; /* octets of the header section */
    unsigned max_hop_count;   /* Received: fields */
    bool may_set_own_headers; /* Exchange's Accept-Organization-Headers right */
};

struct data_stream {
    struct data_limits limits;
    bool prev_crlf;      /* the previous line ended in CRLF */
    bool in_headers;     /* still inside the header section */
    bool first_line;     /* no content line seen yet */
    bool dropping_field; /* inside a field the firewall removes */
    uint64_t header_bytes;
    uint64_t bytes;
    unsigned received_count;
    unsigned fields_removed; /* X-Postern-* fields taken out */
    const char *error;       /* the reply the message gets, or NULL */
    /* A TLS-Required field of the header section said "No" (RFC 8689 3),
     * known once the section has ended (final after data_stream_finish). */
    bool tls_required_no;
    struct {
        bool open;    /* the field being read is a TLS-Required field */
        bool bad;     /* its value cannot be "No" any more */
        bool gap;     /* whitespace after the first octet of its value */
        size_t len;   /* octets of its value in word[] */
        char word[2]; /* those octets (a longer value is bad) */
    } tls_required;   /* the TLS-Required field being read */
};

enum data_action {
    DATA_STORE, /* write *store_len octets at *store to the message */
    DATA_SKIP,  /* nothing to write */
    DATA_END,   /* the end of data: call data_stream_finish */
};

/* Starts a message. The DATA command line itself ended in CRLF. */
void data_stream_begin(struct data_stream *ds, const struct data_limits *limits);

/* One framed line: len octets including its terminator, or len 0 and
 * too_long for an over-long line that was discarded. */
enum data_action data_stream_line(struct data_stream *ds, const char *line, size_t len,
                                  enum line_end end, bool too_long, const char **store,
                                  size_t *store_len);

/* After DATA_END: the reply for a refused message, or NULL to commit. */
const char *data_stream_finish(struct data_stream *ds);

/* For a line inside the header section: true when it starts a field whose
 * name, compared without the whitespace allowed before the colon, equals
 * name (case-insensitive). Exposed for the tests. */
bool data_header_is(const char *line, size_t len, const char *name, bool prefix);

#endif
