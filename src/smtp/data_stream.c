/*
 * data_stream.c — the DATA content state machine (see data_stream.h).
 *
 * The header section is everything up to the first empty line, whatever it
 * contains (RFC 5322 2.1). Readers disagree about malformed lines in it (one
 * takes the first line that is not a field as the start of the body,
 * another skips it and reads on), so a firewall that stops at such a line
 * can be walked around. postern refuses them instead: a message it accepts
 * has a header section that every reader splits the same way, and the
 * firewall and the hop count see all of it.
 * Must never: store a line of a message that has already failed; accept
 * a first line that would continue postern's own Received: field.
 */
#include "smtp/data_stream.h"

#include <string.h>
#include <strings.h>

#define REPLY_BARE_LF "554 5.6.0 Message contains a bare LF or CR; lines must end with CRLF"
#define REPLY_LONG_LINE "500 5.5.2 Line too long"
#define REPLY_MALFORMED_HEADER                                                                     \
    "554 5.6.0 Malformed header section: every line before the first empty line must be a "        \
    "header field (Name: value) or continue one"
#define REPLY_NO_HEADER                                                                            \
    "554 5.6.0 Message has no header section: it must start with header fields (Name: value) "     \
    "and an empty line before the body (RFC 5322)"
#define REPLY_LEADING_FOLD "554 5.6.0 Message starts with a folded (continuation) line"
#define REPLY_HEADER_SIZE "552 5.3.4 Header size exceeds the limit"
#define REPLY_MESSAGE_SIZE "552 5.3.4 Message size exceeds fixed maximum message size"
#define REPLY_HOP_COUNT "554 5.4.6 Hop count exceeded - possible mail loop"

void
data_stream_begin(struct data_stream *ds, const struct data_limits *limits)
{
    memset(ds, 0, sizeof(*ds));
    ds->limits = *limits;
    ds->prev_crlf = true;
    ds->in_headers = true;
    ds->first_line = true;
}

static void
fail(struct data_stream *ds, const char *reply)
{
    if (ds->error == NULL)
        ds->error = reply;
}

static bool
is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 5322 3.6.8 ftext: printable US-ASCII except the colon. */
static bool
is_ftext(unsigned char c)
{
    return c >= 33 && c <= 126 && c != ':';
}

/* Length of the field name that starts the line, or 0 when the line does
 * not start a field. Whitespace between the name and the colon is the
 * obsolete form RFC 5322 4.5 still asks readers to accept. */
static size_t
field_name_length(const char *p, size_t n)
{
    size_t name = 0, i;

    while (name < n && is_ftext((unsigned char)p[name]))
        name++;
    if (name == 0)
        return 0;
    for (i = name; i < n && is_wsp(p[i]); i++)
        ;
    return i < n && p[i] == ':' ? name : 0;
}

bool
data_header_is(const char *line, size_t len, const char *name, bool prefix)
{
    size_t n = field_name_length(line, len), want = strlen(name);

    if (prefix ? n < want : n != want)
        return false;
    return strncasecmp(line, name, want) == 0;
}

/* RFC 8689 3: the field's whole value is the word "No", with folding
 * whitespace around it but no comment; postern takes the word
 * case-insensitively. The value arrives in pieces (the rest of the field's
 * first line, then each continuation line) and is judged when the field
 * ends, so a folded "TLS-Required:\r\n No" counts too. */
static void
tls_required_value(struct data_stream *ds, const char *p, size_t n)
{
    for (size_t i = 0; i < n && !ds->tls_required.bad; i++) {
        if (is_wsp(p[i])) {
            ds->tls_required.gap = ds->tls_required.len > 0;
        } else if (ds->tls_required.gap || ds->tls_required.len == sizeof(ds->tls_required.word)) {
            ds->tls_required.bad = true;
        } else {
            ds->tls_required.word[ds->tls_required.len++] = p[i];
        }
    }
}

/* The field being read has ended (another starts, or the section ends). */
static void
tls_required_close(struct data_stream *ds)
{
    if (ds->tls_required.open && !ds->tls_required.bad && ds->tls_required.len == 2 &&
        strncasecmp(ds->tls_required.word, "No", 2) == 0)
        ds->tls_required_no = true;
    memset(&ds->tls_required, 0, sizeof(ds->tls_required));
}

/* A line that starts a field: is it TLS-Required, and what follows the colon. */
static void
tls_required_open(struct data_stream *ds, const char *p, size_t n)
{
    const char *colon;

    tls_required_close(ds);
    if (!data_header_is(p, n, "TLS-Required", false))
        return;
    colon = memchr(p, ':', n);
    ds->tls_required.open = true;
    tls_required_value(ds, colon + 1, n - (size_t)(colon + 1 - p));
}

/* One line of the header section, terminator excluded. Returns false when
 * the line is removed by the firewall. */
static bool
header_line(struct data_stream *ds, const char *p, size_t n, size_t with_terminator)
{
    bool first = ds->first_line;

    ds->first_line = false;
    if (n == 0) { /* the empty line that ends the section */
        ds->in_headers = false;
        ds->dropping_field = false;
        tls_required_close(ds);
        return true;
    }
    ds->header_bytes += with_terminator;
    if (ds->header_bytes > ds->limits.max_header_size)
        fail(ds, REPLY_HEADER_SIZE);
    if (memchr(p, '\0', n) != NULL) {
        fail(ds, REPLY_MALFORMED_HEADER);
        return false;
    }
    if (is_wsp(p[0])) {
        if (first) {
            /* it would fold into the Received: field postern writes above it */
            fail(ds, REPLY_LEADING_FOLD);
            return false;
        }
        if (ds->tls_required.open)
            tls_required_value(ds, p, n);
        return !ds->dropping_field;
    }
    ds->dropping_field = false;
    if (field_name_length(p, n) == 0) {
        fail(ds, first ? REPLY_NO_HEADER : REPLY_MALFORMED_HEADER);
        return false;
    }
    tls_required_open(ds, p, n);
    if (data_header_is(p, n, "Received", false))
        ds->received_count++;
    if (!ds->limits.may_set_own_headers && data_header_is(p, n, DATA_OWN_HEADER_PREFIX, true)) {
        ds->dropping_field = true;
        ds->fields_removed++;
        return false;
    }
    return true;
}

enum data_action
data_stream_line(struct data_stream *ds, const char *line, size_t len, enum line_end end,
                 bool too_long, const char **store, size_t *store_len)
{
    bool crlf = end == LINE_END_CRLF;
    size_t body; /* octets before the terminator */

    if (too_long) {
        fail(ds, REPLY_LONG_LINE);
        if (!crlf)
            fail(ds, REPLY_BARE_LF);
        ds->prev_crlf = crlf;
        ds->first_line = false;
        return DATA_SKIP;
    }
    if (crlf && ds->prev_crlf && len == 3 && line[0] == '.')
        return DATA_END;
    body = len - (crlf ? 2 : 1);
    if (!crlf || memchr(line, '\r', body) != NULL)
        fail(ds, REPLY_BARE_LF);
    ds->prev_crlf = crlf;
    if (line[0] == '.') { /* transparency */
        line++;
        len--;
        body--;
    }
    ds->bytes += len;
    if (ds->bytes > ds->limits.max_size)
        fail(ds, REPLY_MESSAGE_SIZE);
    if (ds->in_headers && !header_line(ds, line, body, len))
        return DATA_SKIP;
    if (ds->error != NULL)
        return DATA_SKIP;
    *store = line;
    *store_len = len;
    return DATA_STORE;
}

const char *
data_stream_finish(struct data_stream *ds)
{
    /* a message that is all header section ends inside its last field */
    if (ds->in_headers)
        tls_required_close(ds);
    if (ds->received_count > ds->limits.max_hop_count)
        fail(ds, REPLY_HOP_COUNT);
    return ds->error;
}
