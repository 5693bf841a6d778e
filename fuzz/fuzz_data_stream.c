/*
 * fuzz_data_stream.c — libFuzzer target for the DATA content state machine
 * (smtp/data_stream.h), framed the way the session frames it
 * (tests/tools/line_frame.h): lines end at an LF, and a line longer than the
 * limit is discarded and reported once with how it really ended. The first
 * input octet picks the limits and whether the sender may set X-Postern-*
 * fields.
 *
 * Checks, besides memory errors, the promises that stop smuggling and the
 * header firewall bypass, against an independent reading written here:
 * - the data ends only where the input has CRLF "." CRLF after a line that
 *   ended in CRLF (or at the very start);
 * - an accepted message is canonical CRLF, its header section (up to the
 *   first empty line) holds only well-formed fields and continuations, no
 *   X-Postern-* field from an untrusted sender, and no more Received:
 *   fields than allowed;
 * - the message is marked "TLS-Required: No" exactly when a TLS-Required
 *   field of its header section, unfolded and trimmed, is the word No.
 * Must never: keep state between inputs.
 */
#include "fuzz_common.h"
#include "line_frame.h"
#include "smtp/data_stream.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FUZZ_LINE_MAX 200

static bool
is_ftext(unsigned char c)
{
    return c >= 33 && c <= 126 && c != ':';
}

/* The reference reading of one header line (RFC 5322 2.2, 3.6.8, 4.5). */
static bool
field_named(const char *p, size_t n, const char *name, bool prefix)
{
    size_t i = 0, want = strlen(name);

    while (i < n && is_ftext((unsigned char)p[i]))
        i++;
    if (prefix ? i < want : i != want)
        return false;
    return strncasecmp(p, name, want) == 0;
}

static bool
well_formed_field(const char *p, size_t n)
{
    size_t i = 0;

    if (memchr(p, '\0', n) != NULL)
        return false;
    if (n > 0 && (p[0] == ' ' || p[0] == '\t'))
        return true; /* continuation */
    while (i < n && is_ftext((unsigned char)p[i]))
        i++;
    if (i == 0)
        return false;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    return i < n && p[i] == ':';
}

/* The reference reading of RFC 8689 3: a TLS-Required field's value,
 * unfolded, with the blanks around it removed, is "No" (any case). The
 * header section of an accepted message fits in the largest limit, so the
 * value always fits here. */
struct tls_required_ref {
    bool open, said_no;
    size_t len;
    char value[4200];
};

static void
tls_required_add(struct tls_required_ref *t, const char *p, size_t n)
{
    FUZZ_CHECK(t->len + n <= sizeof(t->value));
    memcpy(t->value + t->len, p, n);
    t->len += n;
}

static void
tls_required_end(struct tls_required_ref *t)
{
    size_t a = 0, b = t->len;

    while (a < b && (t->value[a] == ' ' || t->value[a] == '\t'))
        a++;
    while (b > a && (t->value[b - 1] == ' ' || t->value[b - 1] == '\t'))
        b--;
    if (t->open && b - a == 2 && strncasecmp(t->value + a, "No", 2) == 0)
        t->said_no = true;
    t->open = false;
    t->len = 0;
}

/* One line of the header section (CR LF removed, not empty). */
static void
tls_required_line(struct tls_required_ref *t, const char *p, size_t n)
{
    const char *colon;

    if (p[0] == ' ' || p[0] == '\t') {
        if (t->open)
            tls_required_add(t, p, n);
        return;
    }
    tls_required_end(t);
    if (!field_named(p, n, "TLS-Required", false))
        return;
    colon = memchr(p, ':', n);
    t->open = true;
    tls_required_add(t, colon + 1, n - (size_t)(colon + 1 - p));
}

static void
check_accepted(const char *m, size_t n, const struct data_limits *lim, bool tls_required_no)
{
    static struct tls_required_ref tr;
    size_t pos = 0;
    unsigned received = 0;
    bool in_headers = true, first = true;

    memset(&tr, 0, sizeof(tr));

    while (pos < n) {
        const char *lf = memchr(m + pos, '\n', n - pos);
        size_t len;

        FUZZ_CHECK(lf != NULL); /* every line ends */
        len = (size_t)(lf - (m + pos));
        FUZZ_CHECK(len >= 1 && m[pos + len - 1] == '\r'); /* in CRLF */
        FUZZ_CHECK(memchr(m + pos, '\r', len - 1) == NULL);
        len--; /* without the CR */
        if (in_headers) {
            if (len == 0) {
                in_headers = false;
                tls_required_end(&tr);
            } else {
                tls_required_line(&tr, m + pos, len);
                FUZZ_CHECK(well_formed_field(m + pos, len));
                FUZZ_CHECK(!(first && (m[pos] == ' ' || m[pos] == '\t')));
                if (field_named(m + pos, len, "Received", false))
                    received++;
                if (!lim->may_set_own_headers)
                    FUZZ_CHECK(!field_named(m + pos, len, DATA_OWN_HEADER_PREFIX, true));
            }
        }
        first = false;
        pos += len + 2;
    }
    FUZZ_CHECK(received <= lim->max_hop_count);
    tls_required_end(&tr);
    FUZZ_CHECK(tr.said_no == tls_required_no);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct data_limits lim = {UINT64_MAX, 1024, 3, false};
    struct data_stream ds;
    const char *in;
    char *stored;
    size_t pos = 0, stored_len = 0, n;
    bool prev_crlf = true;

    if (size < 1)
        return 0;
    lim.may_set_own_headers = data[0] & 1;
    lim.max_header_size = (data[0] & 2) ? 64 : 4096;
    lim.max_size = (data[0] & 4) ? 256 : UINT64_MAX;
    in = (const char *)data + 1;
    n = size - 1;
    stored = malloc(n + 1);
    data_stream_begin(&ds, &lim);
    while (pos < n) {
        struct framed_line fl;

        if (!frame_data_line(&ds, in + pos, n - pos, FUZZ_LINE_MAX, &fl))
            break; /* never ended: the session would wait for more */
        switch (fl.action) {
        case DATA_END:
            /* the reference: "." CRLF after a line that ended in CRLF */
            FUZZ_CHECK(!fl.too_long && fl.len == 3 && memcmp(in + pos, ".\r\n", 3) == 0);
            FUZZ_CHECK(prev_crlf);
            if (data_stream_finish(&ds) == NULL)
                check_accepted(stored, stored_len, &lim, ds.tls_required_no);
            free(stored);
            return 0;
        case DATA_STORE:
            FUZZ_CHECK(ds.error == NULL);
            FUZZ_CHECK(stored_len + fl.store_len <= n);
            memcpy(stored + stored_len, fl.store, fl.store_len);
            stored_len += fl.store_len;
            break;
        case DATA_SKIP:
            break;
        }
        prev_crlf = fl.end == LINE_END_CRLF;
        pos += fl.len;
    }
    free(stored);
    return 0;
}
