/*
 * fuzz_dkim.c — libFuzzer target for the DKIM signer's reading of a
 * message (smtp/dkim.h): the header section split into fields, the
 * author's domain, both canonicalizations of each field and of the body,
 * the fields chosen for h=, the header hash and the folded field.
 *
 * Checks: fields lie inside the section, in order, each a name and a
 * colon; an author domain is a lower-case DNS name; a relaxed field is
 * one CRLF-terminated line with a lower-case name and no blank after its
 * colon, at its end or doubled; the body hash does not depend on how the
 * body is cut into pieces; the signature field's lines stay within
 * DKIM_LINE_MAX and end in CRLF.
 * Must never: keep state between inputs.
 */
#include "fuzz_common.h"
#include "net/dns_name.h"
#include "smtp/dkim.h"
#include "smtp/header_read.h"

#include <stdlib.h>
#include <string.h>

static void
check_relaxed(const struct dkim_field *f)
{
    char *out = NULL, *colon;
    size_t len = 0;

    dkim_canon_field(DKIM_CANON_RELAXED, f->text, f->len, &out, &len);
    FUZZ_CHECK(len >= 3 && out[len - 2] == '\r' && out[len - 1] == '\n');
    FUZZ_CHECK(memchr(out, '\n', len - 1) == NULL);
    colon = memchr(out, ':', len);
    FUZZ_CHECK(colon != NULL && (size_t)(colon - out) == f->name_len);
    for (size_t i = 0; i < f->name_len; i++)
        FUZZ_CHECK(!(out[i] >= 'A' && out[i] <= 'Z'));
    FUZZ_CHECK(colon[1] != ' ' && colon[1] != '\t');
    FUZZ_CHECK(out[len - 3] != ' ');
    for (size_t i = (size_t)(colon - out) + 1; i + 1 < len; i++)
        FUZZ_CHECK(out[i] != '\t' && !(out[i] == ' ' && out[i + 1] == ' '));
    free(out);
}

static void
body_hash(enum dkim_canon c, const uint8_t *p, size_t n, size_t cut, unsigned char *bh)
{
    struct dkim_body *b = dkim_body_new(c);

    if (cut > n)
        cut = n;
    dkim_body_update(b, p, cut);
    dkim_body_update(b, p + cut, n - cut);
    dkim_body_final(b, bh);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    size_t hl = header_section_len(s, size), n, body_at, siglen;
    struct dkim_field *f;
    char *domain, *names, *prefix, *field;
    unsigned char one[DKIM_HASH_LEN], two[DKIM_HASH_LEN], hash[DKIM_HASH_LEN], sig[256];
    struct dkim_sig_params p = {DKIM_ALG_RSA_SHA256,
                                DKIM_CANON_RELAXED,
                                DKIM_CANON_SIMPLE,
                                "fuzz.test",
                                "selector1",
                                1700000000,
                                NULL,
                                {0}};

    n = dkim_fields_parse(s, hl, &f);
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(f[i].text >= s && f[i].text + f[i].len <= s + hl);
        FUZZ_CHECK(i == 0 || f[i].text >= f[i - 1].text + f[i - 1].len);
        FUZZ_CHECK(f[i].name_len > 0 && f[i].name_len < f[i].len);
        check_relaxed(&f[i]);
    }
    if ((domain = dkim_author_domain(f, n)) != NULL) {
        FUZZ_CHECK(dns_name_valid(domain, false));
        for (const char *c = domain; *c; c++)
            FUZZ_CHECK(!(*c >= 'A' && *c <= 'Z'));
        free(domain);
    }
    names = dkim_signed_names(f, n);
    FUZZ_CHECK(strlen(names) >= 4 && strcmp(names + strlen(names) - 4, "from") == 0);

    /* the body: the same hash however it is cut */
    body_at = hl < size ? hl + (s[hl] == '\n' ? 1 : 2) : size;
    for (int c = 0; c < 2; c++) {
        size_t blen = size - body_at, cut = blen ? (size_t)data[size - 1] % (blen + 1) : 0;
        body_hash((enum dkim_canon)c, data + body_at, blen, blen, one);
        body_hash((enum dkim_canon)c, data + body_at, blen, cut, two);
        FUZZ_CHECK(memcmp(one, two, sizeof(one)) == 0);
    }
    memcpy(p.bh, one, sizeof(one));
    p.names = names;
    prefix = dkim_signature_prefix(&p);
    dkim_header_hash(DKIM_CANON_RELAXED, f, n, names, prefix, hash);
    dkim_header_hash(DKIM_CANON_SIMPLE, f, n, names, prefix, hash);
    siglen = size % sizeof(sig);
    memset(sig, 0x5a, siglen);
    field = dkim_signature_field(prefix, sig, siglen);
    for (const char *line = field; *line;) {
        const char *end = strstr(line, "\r\n");
        FUZZ_CHECK(end != NULL && end - line <= DKIM_LINE_MAX);
        line = end + 2;
    }
    free(field);
    free(prefix);
    free(names);
    free(f);
    return 0;
}
