/*
 * fuzz_sasl_plain.c — libFuzzer target for AUTH decoding: the base64 of an
 * AUTH response (smtp_parse.h base64_decode, strict) and the PLAIN message
 * split (smtp/sasl_plain.h).
 *
 * Checks: a split message has exactly two NULs, a non-empty user and
 * password, and the three parts rebuild the decoded octets exactly.
 * Must never: keep state between inputs.
 */
#include "fuzz_common.h"
#include "smtp/sasl_plain.h"
#include "smtp/smtp_parse.h"

#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *b64 = fuzz_cstr(data, size);
    unsigned char *buf = malloc(size + 2);
    const char *authzid, *authcid, *passwd;
    long n = base64_decode(b64, size, buf, size + 1);

    if (n >= 0) {
        FUZZ_CHECK((size_t)n <= size);
        buf[n] = '\0';
        if (sasl_plain_split((const char *)buf, (size_t)n, &authzid, &authcid, &passwd) == 0) {
            size_t z = strlen(authzid), c = strlen(authcid), p = strlen(passwd);
            FUZZ_CHECK(c > 0 && p > 0);
            FUZZ_CHECK(z + 1 + c + 1 + p == (size_t)n);
            FUZZ_CHECK(authcid == authzid + z + 1 && passwd == authcid + c + 1);
        }
    }
    free(buf);
    free(b64);
    return 0;
}
