/*
 * fuzz_envelope.c — libFuzzer target for the envelope reader
 * (queue/envelope.c): the text of an envelope file in the queue, as a
 * crash, a full disk or a hand edit may have left it.
 *
 * Besides memory errors and leaks it checks what envelope.h promises: an
 * accepted envelope ended in its end marker, and what the writer makes of
 * it reads back into an envelope the writer writes identically.
 * Must never: touch the queue directory.
 */
#include "fuzz_common.h"
#include "queue/dsn.h"
#include "queue/envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256] = "";
    struct envelope *env, *again;
    char *text, *text2;
    size_t len, len2, used = strnlen((const char *)data, size);

    env = envelope_parse((const char *)data, size, err, sizeof(err));
    if (env == NULL) {
        FUZZ_CHECK(err[0] != '\0');
        return 0;
    }
    /* the reader stops at a NUL: what it read must end in the marker */
    FUZZ_CHECK(used >= 5 && memcmp(data + used - 5, "\nend\n", 5) == 0);
    FUZZ_CHECK(strlen(env->id) == QUEUE_ID_LEN && env->from != NULL);
    /* RFC 8689: REQUIRETLS makes a TLS-Required field irrelevant */
    FUZZ_CHECK(!(env->requiretls && env->tls_required_no));
    for (size_t i = 0; i < env->nrcpts; i++) {
        FUZZ_CHECK(env->rcpts[i].address != NULL);
        FUZZ_CHECK(env->rcpts[i].status <= RCPT_FAILED);
        (void)dsn_wanted(env, &env->rcpts[i], DSN_FAILURE);
        (void)dsn_wanted(env, &env->rcpts[i], DSN_DELAY);
        (void)dsn_wanted(env, &env->rcpts[i], DSN_SUCCESS);
    }

    text = envelope_serialize(env, &len);
    FUZZ_CHECK(text != NULL && strlen(text) == len);
    again = envelope_parse(text, len, err, sizeof(err));
    if (again == NULL) {
        fprintf(stderr, "written envelope does not read back: %s\n%s", err, text);
        FUZZ_CHECK(again != NULL);
    }
    text2 = envelope_serialize(again, &len2);
    FUZZ_CHECK(len2 == len && memcmp(text, text2, len) == 0);
    FUZZ_CHECK(again->nrcpts == env->nrcpts);
    FUZZ_CHECK(again->requiretls == env->requiretls &&
               again->tls_required_no == env->tls_required_no);

    free(text);
    free(text2);
    envelope_free(again);
    envelope_free(env);
    return 0;
}
