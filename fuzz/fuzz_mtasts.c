/*
 * fuzz_mtasts.c — libFuzzer target for what the network hands the TLS
 * policy code (routing/mtasts.h, routing/tlsrpt.h): an MTA-STS policy body
 * as fetched over HTTPS, the "_mta-sts" and "_smtp._tls" TXT records, and
 * the cache form the queue process reads back.
 *
 * Besides memory errors and leaks it checks what the headers promise: an
 * accepted policy has a known mode, max_age within the RFC's limit and an
 * mx pattern unless its mode is none; its cache form reads back to the same
 * policy; a pattern matches only names of the shape it allows; a reporting
 * request holds only mailto: and https: URIs.
 * Must never: touch a file or the network.
 */
#include "fuzz_common.h"
#include "routing/mtasts.h"
#include "routing/tlsrpt.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void
check_policy(const struct mtasts_policy *p, const char *text, size_t len)
{
    struct mtasts_policy back;
    char *form;

    FUZZ_CHECK(p->mode <= MTASTS_ENFORCE);
    FUZZ_CHECK(p->max_age <= MTASTS_MAX_AGE_LIMIT);
    FUZZ_CHECK(p->mode == MTASTS_NONE || p->nmx > 0);
    for (size_t i = 0; i < p->nmx; i++) {
        const char *pat = p->mx[i];
        /* "*." only in front, and a pattern matches itself */
        FUZZ_CHECK(strchr(strncmp(pat, "*.", 2) == 0 ? pat + 2 : pat, '*') == NULL);
        if (strncmp(pat, "*.", 2) != 0)
            FUZZ_CHECK(mtasts_mx_matches(p, pat));
    }
    /* the host names of the input itself, matched or not, never crash */
    (void)mtasts_mx_matches(p, text);
    (void)len;
    /* the cache form reads back to the same policy */
    struct mtasts_policy copy;
    mtasts_policy_copy(&copy, p);
    strcpy(copy.id, "fuzz1");
    copy.fetched = 12345;
    form = mtasts_policy_format(&copy);
    FUZZ_CHECK(mtasts_policy_load(form, strlen(form), &back, NULL, 0) == 0);
    FUZZ_CHECK(back.mode == copy.mode && back.max_age == copy.max_age && back.nmx == copy.nmx);
    FUZZ_CHECK(strcmp(back.id, "fuzz1") == 0 && back.fetched == 12345);
    for (size_t i = 0; i < back.nmx; i++)
        FUZZ_CHECK(strcmp(back.mx[i], copy.mx[i]) == 0);
    mtasts_policy_free(&back);
    mtasts_policy_free(&copy);
    free(form);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), id[MTASTS_ID_MAX + 1], rua[TLSRPT_RUA_MAX];
    struct mtasts_policy p;

    memcpy(text, data, size);
    text[size] = '\0';
    if (mtasts_policy_parse(text, size, &p, NULL, 0) == 0)
        check_policy(&p, text, size);
    mtasts_policy_free(&p);
    if (mtasts_policy_load(text, size, &p, NULL, 0) == 0)
        check_policy(&p, text, size);
    mtasts_policy_free(&p);
    if (mtasts_txt_parse(text, strlen(text), id)) {
        FUZZ_CHECK(id[0] != '\0' && strlen(id) <= MTASTS_ID_MAX);
        for (const char *c = id; *c; c++)
            FUZZ_CHECK((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') ||
                       (*c >= 'A' && *c <= 'Z'));
    }
    if (tlsrpt_txt_parse(text, rua)) {
        char *list = strdup(rua), *save = NULL;
        for (char *u = strtok_r(list, ",", &save); u; u = strtok_r(NULL, ",", &save))
            FUZZ_CHECK(strncasecmp(u, "mailto:", 7) == 0 || strncasecmp(u, "https://", 8) == 0);
        free(list);
    }
    free(text);
    return 0;
}
