/*
 * fuzz_ipc_buf.c — libFuzzer target for the IPC payload reader
 * (src/lib/ipc_buf.c), which decodes what a less trusted process sent.
 *
 * Input: one octet n, then n op octets (each, mod 4: u32, u64, string,
 * bytes), then the payload, which ends where the input ends (so ASan sees
 * a read past it). The ops are read in turn; besides memory errors the
 * target checks the reader's promises: a field that is accepted lies
 * inside the payload (a string's NUL too) and advances by its own size;
 * after the first refusal every get is refused with a harmless result;
 * and writing the accepted fields again with the writer gives back exactly
 * the bytes they were read from.
 * Must never: touch the file system.
 */
#include "fuzz_common.h"
#include "lib/ipc_buf.h"

#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ipc_rbuf r;
    struct ipc_wbuf w = {0};
    size_t nops, good_end = 0;
    const uint8_t *ops, *p;
    size_t plen;

    if (size == 0)
        return 0;
    nops = data[0];
    if (nops > size - 1)
        nops = size - 1;
    ops = data + 1;
    p = data + 1 + nops;
    plen = size - 1 - nops;
    ipc_rbuf_init(&r, p, plen);

    for (size_t i = 0; i < nops; i++) {
        bool was_ok = ipc_rbuf_ok(&r);
        size_t before = r.off, n = 0;
        switch (ops[i] % 4) {
        case 0: {
            uint32_t v = ipc_get_u32(&r), want = 0;
            if (ipc_rbuf_ok(&r)) {
                FUZZ_CHECK(r.off == before + 4);
                memcpy(&want, p + before, 4);
                FUZZ_CHECK(v == want);
                ipc_put_u32(&w, v);
            } else {
                FUZZ_CHECK(v == 0);
            }
            break;
        }
        case 1: {
            uint64_t v = ipc_get_u64(&r), want = 0;
            if (ipc_rbuf_ok(&r)) {
                FUZZ_CHECK(r.off == before + 8);
                memcpy(&want, p + before, 8);
                FUZZ_CHECK(v == want);
                ipc_put_u64(&w, v);
            } else {
                FUZZ_CHECK(v == 0);
            }
            break;
        }
        case 2: {
            const char *s = ipc_get_str(&r);
            FUZZ_CHECK(s != NULL);
            if (ipc_rbuf_ok(&r)) {
                FUZZ_CHECK((const uint8_t *)s == p + before);
                FUZZ_CHECK(r.off == before + strlen(s) + 1 && r.off <= plen);
                ipc_put_str(&w, s);
            } else {
                FUZZ_CHECK(s[0] == '\0');
            }
            break;
        }
        default: {
            const void *b = ipc_get_bytes(&r, &n);
            FUZZ_CHECK(b != NULL);
            if (ipc_rbuf_ok(&r)) {
                FUZZ_CHECK((const uint8_t *)b == p + before + 4);
                FUZZ_CHECK(r.off == before + 4 + n && r.off <= plen);
                ipc_put_bytes(&w, b, n);
            } else {
                FUZZ_CHECK(n == 0);
            }
            break;
        }
        }
        FUZZ_CHECK(r.off <= plen);
        if (!was_ok)
            FUZZ_CHECK(!ipc_rbuf_ok(&r) && r.off == before);
        if (ipc_rbuf_ok(&r))
            good_end = r.off;
    }
    FUZZ_CHECK(ipc_rbuf_done(&r) == (ipc_rbuf_ok(&r) && r.off == plen));
    /* what was accepted, written again, is the bytes it was read from */
    FUZZ_CHECK(w.len == good_end);
    FUZZ_CHECK(good_end == 0 || memcmp(w.data, p, good_end) == 0);
    ipc_wbuf_free(&w);
    return 0;
}
