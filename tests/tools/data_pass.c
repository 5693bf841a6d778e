/*
 * data_pass.c — runs postern's DATA pass (smtp/data_stream.c) on one
 * message read from standard input, for tests that compare it with other
 * readers (tests/e2e/test_header_reference.py).
 *
 * Input: message content in SMTP wire form (dot-stuffed, ending in
 * CRLF "." CRLF), framed as the session frames it. Output: "ACCEPT" and a
 * newline, then the content postern would store; or "REFUSE <reply>"; or
 * "INCOMPLETE" when the data never ends.
 * Must never: be linked into postern; it is a test instrument.
 */
#include "line_frame.h"
#include "lib/util.h"
#include "smtp/data_stream.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_LIMIT 65536 /* the session's DATA line limit */

int
main(void)
{
    struct data_limits lim = {UINT64_MAX, 256 * 1024, 30, false};
    struct data_stream ds;
    size_t cap = 1 << 16, n = 0, pos = 0, out_len = 0;
    char *in = xmalloc(cap), *out; /* x*: an instrument out of memory just stops */
    size_t got;

    while ((got = fread(in + n, 1, cap - n, stdin)) > 0) {
        n += got;
        if (n == cap)
            in = xrealloc(in, cap *= 2);
    }
    out = xmalloc(n + 1);
    data_stream_begin(&ds, &lim);
    while (pos < n) {
        struct framed_line fl;

        if (!frame_data_line(&ds, in + pos, n - pos, LINE_LIMIT, &fl))
            break;
        switch (fl.action) {
        case DATA_END: {
            const char *reply = data_stream_finish(&ds);
            if (reply != NULL) {
                printf("REFUSE %s\n", reply);
            } else {
                fputs("ACCEPT\n", stdout);
                fwrite(out, 1, out_len, stdout);
            }
            free(in);
            free(out);
            return 0;
        }
        case DATA_STORE:
            memcpy(out + out_len, fl.store, fl.store_len);
            out_len += fl.store_len;
            break;
        case DATA_SKIP:
            break;
        }
        pos += fl.len;
    }
    puts("INCOMPLETE");
    free(in);
    free(out);
    return 0;
}
