/*
 * fuzz_dsn.c — libFuzzer target for delivery status notifications
 * (queue/dsn.c): what a next hop said (a reply, possibly multi-line, as
 * the diagnostic), who it was, the envelope's ENVID, ORCPT and addresses,
 * and the original message whose header section dsn.c reads (Subject,
 * Message-ID, folded or not) and attaches whole or cut.
 *
 * Input: a 32-octet binary head (kind, RET, BODY, SMTPUTF8, attach limit,
 * three times), then NUL-separated text fields: diagnostic, remote MTA,
 * status, recipient, ORCPT, ENVID, sender, HELO name, and last the
 * original message (NULs and all).
 *
 * Besides memory errors and leaks it checks what dsn.c promises: the
 * report is valid on the wire by itself (every line ends in CRLF, none is
 * longer than 998 octets), and its header stays 7-bit unless SMTPUTF8.
 * Must never: touch the file system (the original is a memfd).
 */
#include "fuzz_common.h"
#include "queue/dsn.h"
#include "queue/envelope.h"
#include "smtp/smtp_parse.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#define HEAD 32
#define NFIELDS 9

static uint64_t
u64_at(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void
check_report(const char *out, size_t len, bool smtputf8)
{
    size_t col = 0, header_end = len;
    const char *blank = NULL;

    for (size_t i = 0; i + 3 < len; i++) {
        if (memcmp(out + i, "\r\n\r\n", 4) == 0) {
            blank = out + i;
            break;
        }
    }
    FUZZ_CHECK(blank != NULL);
    header_end = (size_t)(blank - out);
    for (size_t i = 0; i < len; i++) {
        if (out[i] == '\r') {
            FUZZ_CHECK(i + 1 < len && out[i + 1] == '\n'); /* no bare CR */
            i++;
            col = 0;
            continue;
        }
        FUZZ_CHECK(out[i] != '\n'); /* no bare LF */
        col++;
        if (col > 998) {
            fprintf(stderr, "line over 998 octets at offset %zu\n", i);
            FUZZ_CHECK(col <= 998);
        }
        if (!smtputf8 && i < header_end)
            FUZZ_CHECK((unsigned char)out[i] < 0x80);
    }
    FUZZ_CHECK(len >= 4 && memcmp(out + len - 4, "--\r\n", 4) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t head[HEAD] = {0};
    char *s, *f[NFIELDS];
    size_t lens[NFIELDS], orig_len, out_len = 0;
    static const size_t attach[] = {0, 64, 4096, 10 * 1024 * 1024};
    struct envelope *env = envelope_new();
    struct dsn_rcpt r = {0};
    enum dsn_kind kind;
    char *out;
    int orig_fd;

    memcpy(head, data, size < HEAD ? size : HEAD);
    s = fuzz_cstr(data + (size < HEAD ? size : HEAD), size < HEAD ? 0 : size - HEAD);
    fuzz_split(s, size < HEAD ? 0 : size - HEAD, '\0', f, lens, NFIELDS);
    orig_len = lens[NFIELDS - 1];

    kind = (enum dsn_kind)(head[0] % 3);
    snprintf(env->id, sizeof(env->id), "0123456789ABCDEF");
    env->ret = head[1] % 3;
    env->body = head[2] % 4;
    env->smtputf8 = head[3] & 1;
    env->received = (time_t)u64_at(head + 8);
    r.diagnostic = f[0];
    r.remote_mta = f[1];
    r.status = f[2];
    r.address = *f[3] ? f[3] : "bob@example.test";
    r.orcpt = f[4];
    env->envid = *f[5] ? strdup(f[5]) : NULL;
    env->from = strdup(*f[6] ? f[6] : "alice@example.org");
    env->client_helo = *f[7] ? strdup(f[7]) : NULL;
    env->client_ip = strdup("192.0.2.1");
    r.last_attempt = (time_t)u64_at(head + 16);
    envelope_add_rcpt(env, r.address, 0, r.orcpt);

    orig_fd = open(fuzz_memfile(0, f[8], orig_len), O_RDONLY | O_CLOEXEC);
    FUZZ_CHECK(orig_fd >= 0);
    out = dsn_build(kind, "mail.example.test", "postmaster@example.test", env, &r, 1, orig_fd,
                    attach[head[4] % 4], 1764358200, (time_t)u64_at(head + 24), &out_len);
    close(orig_fd);
    FUZZ_CHECK(out != NULL);
    check_report(out, out_len, env->smtputf8);
    free(out);
    envelope_free(env);
    free(s);
    return 0;
}
