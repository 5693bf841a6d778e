/*
 * test_dkim.c — unit tests for smtp/dkim.c and smtp/dkim_key.c: the RFC
 * 8463 appendix A signature reproduced octet for octet (Ed25519 is
 * deterministic, so the same key, message and field give the same b=), a
 * simple/simple Ed25519 signature from python3-dkim's test data, the
 * body and header canonicalizations case by case and in pieces of every
 * size, the author's domain, the fields chosen for h=, the folding of the
 * field, and keys made here signing what OpenSSL then verifies; and the
 * keys process's keyring (keys/dkim_keyring.c), which signs only with a
 * key the configuration publishes. The e2e test (tests/e2e/test_dkim.py)
 * verifies real mail with python3-dkim.
 * Must never: write outside its own temporary directory, or use the
 * network.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "config/config.h"
#include "keys/dkim_keyring.h"
#include "lib/util.h"
#include "smtp/dkim.h"
#include "smtp/dkim_key.h"
#include "testlib.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* RFC 8463 appendix A (and RFC 6376 appendix A's message). */
#define RFC_MESSAGE                                                                                \
    "From: Joe SixPack <joe@football.example.com>\r\n"                                             \
    "To: Suzie Q <suzie@shopping.example.net>\r\n"                                                 \
    "Subject: Is dinner ready?\r\n"                                                                \
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"                                              \
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"                             \
    "\r\n"                                                                                         \
    "Hi.\r\n"                                                                                      \
    "\r\n"                                                                                         \
    "We lost the game.  Are you hungry yet?\r\n"                                                   \
    "\r\n"                                                                                         \
    "Joe.\r\n"
/* RFC 8032 7.1 test 1: the key RFC 8463 signs with. */
static const char ed25519_seed_b64[] = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
static const char ed25519_pub_b64[] = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

/* The RFC's field through "b=", as it is folded there. */
#define RFC8463_PREFIX                                                                             \
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"                                \
    " d=football.example.com; i=@football.example.com;\r\n"                                        \
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"                                      \
    " subject : date : message-id : from : subject : date;\r\n"                                    \
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"                                        \
    " b="
#define RFC8463_B                                                                                  \
    "/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11BusFa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw=="

/* python3-dkim's tests/data/rfc6376.signed.msg: simple/simple, with a
 * blank before each line break, which simple signs as it is. */
#define PYDKIM_PREFIX                                                                              \
    "DKIM-Signature: v=1; a=ed25519-sha256; c=simple/simple; \r\n"                                 \
    " d=football.example.com; i=@football.example.com; \r\n"                                       \
    " q=dns/txt; s=brisbane; t=1518460054; h=from : to : \r\n"                                     \
    " subject : date : message-id : from : subject : date; \r\n"                                   \
    " bh=4bLNXImK9drULnmePzZNEBleUanJCX5PIsDIFoH4KTQ=; \r\n"                                       \
    " b="
#define PYDKIM_B                                                                                   \
    "9/dsDChY0YMTtD5Eyw3wx7x22BlSJP7M5ECbJ7GWrR45nXlTCGb8l0YBo0wBLR++X5LqmsxXaOYLLJe46l10AQ=="

#define RFC_NAMES "from : to : subject : date : message-id : from : subject : date"

static size_t
unbase64(const char *b64, unsigned char *out)
{
    int n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)strlen(b64));
    size_t pad = 0;

    assert_true(n >= 0);
    for (const char *p = b64 + strlen(b64); p > b64 && p[-1] == '='; p--)
        pad++;
    return (size_t)n - pad;
}

static EVP_PKEY *
rfc_key(void)
{
    unsigned char seed[64];
    EVP_PKEY *key;

    assert_int_equal(unbase64(ed25519_seed_b64, seed), 32);
    key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    assert_non_null(key);
    return key;
}

/* Where the body of a message starts (after the empty line). */
static size_t
body_at(const char *msg)
{
    const char *p = strstr(msg, "\r\n\r\n");

    assert_non_null(p);
    return (size_t)(p - msg) + 4;
}

static char *
bh_of(const char *body, size_t len, enum dkim_canon c)
{
    struct dkim_body *b = dkim_body_new(c);
    unsigned char bh[DKIM_HASH_LEN];

    dkim_body_update(b, body, len);
    dkim_body_final(b, bh);
    return dkim_base64(bh, sizeof(bh));
}

/* Signs (prefix, message) with key; returns the base64 of b=. */
static char *
sign_b64(EVP_PKEY *key, enum dkim_canon c, const char *msg, const char *names, const char *prefix)
{
    struct dkim_field *f;
    size_t n = dkim_fields_parse(msg, body_at(msg) - 2, &f);
    unsigned char hash[DKIM_HASH_LEN], sig[DKIM_SIG_MAX];
    size_t siglen;
    char err[256];

    dkim_header_hash(c, f, n, names, prefix, hash);
    assert_int_equal(dkim_key_sign(key, hash, sig, &siglen, err, sizeof(err)), 0);
    free(f);
    return dkim_base64(sig, siglen);
}

static void
test_rfc8463_vector(void **state)
{
    const char *msg = RFC_MESSAGE;
    EVP_PKEY *key = rfc_key();
    char *bh = bh_of(msg + body_at(msg), strlen(msg) - body_at(msg), DKIM_CANON_RELAXED);
    char *b = sign_b64(key, DKIM_CANON_RELAXED, msg, RFC_NAMES, RFC8463_PREFIX);
    char *txt = dkim_key_txt(key);
    char expect_txt[128];

    assert_string_equal(bh, "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=");
    assert_string_equal(b, RFC8463_B);
    snprintf(expect_txt, sizeof(expect_txt), "v=DKIM1; k=ed25519; p=%s", ed25519_pub_b64);
    assert_string_equal(txt, expect_txt);
    free(bh);
    free(b);
    free(txt);
    EVP_PKEY_free(key);
}

static void
test_simple_vector(void **state)
{
    const char *msg = RFC_MESSAGE;
    EVP_PKEY *key = rfc_key();
    char *bh = bh_of(msg + body_at(msg), strlen(msg) - body_at(msg), DKIM_CANON_SIMPLE);
    char *b = sign_b64(key, DKIM_CANON_SIMPLE, msg, RFC_NAMES, PYDKIM_PREFIX);

    assert_string_equal(bh, "4bLNXImK9drULnmePzZNEBleUanJCX5PIsDIFoH4KTQ=");
    assert_string_equal(b, PYDKIM_B);
    free(bh);
    free(b);
    EVP_PKEY_free(key);
}

/* The canonical body, hashed in one piece and in pieces of every size,
 * against the SHA-256 of what RFC 6376 3.4.3/3.4.4 make of it. */
static void
check_body(enum dkim_canon c, const char *in, const char *canonical)
{
    unsigned char want[DKIM_HASH_LEN], got[DKIM_HASH_LEN];
    unsigned int wlen;
    size_t len = strlen(in);

    assert_int_equal(EVP_Digest(canonical, strlen(canonical), want, &wlen, EVP_sha256(), NULL), 1);
    for (size_t piece = 1; piece <= len + 1; piece++) {
        struct dkim_body *b = dkim_body_new(c);
        for (size_t at = 0; at < len; at += piece)
            dkim_body_update(b, in + at, len - at < piece ? len - at : piece);
        dkim_body_final(b, got);
        if (memcmp(want, got, sizeof(want)) != 0)
            fail_msg("%s body \"%s\" in pieces of %zu: not \"%s\"", dkim_canon_name(c), in, piece,
                     canonical);
    }
}

static void
test_body_canon(void **state)
{
    /* simple: only empty lines at the end go; an empty body is one CRLF */
    check_body(DKIM_CANON_SIMPLE, "", "\r\n");
    check_body(DKIM_CANON_SIMPLE, "\r\n\r\n\r\n", "\r\n");
    check_body(DKIM_CANON_SIMPLE, "a  b \r\n\r\n", "a  b \r\n");
    check_body(DKIM_CANON_SIMPLE, "a\r\n\r\nb\r\n\r\n", "a\r\n\r\nb\r\n");
    check_body(DKIM_CANON_SIMPLE, "no end", "no end\r\n");
    check_body(DKIM_CANON_SIMPLE, " \r\n", " \r\n");
    check_body(DKIM_CANON_SIMPLE, "a\rb\nc\r", "a\rb\nc\r\r\n");
    /* relaxed: blanks shrink to one space, go at line ends; an empty body
     * is nothing */
    check_body(DKIM_CANON_RELAXED, "", "");
    check_body(DKIM_CANON_RELAXED, "\r\n\r\n", "");
    check_body(DKIM_CANON_RELAXED, " \t \r\n\t\r\n", "");
    check_body(DKIM_CANON_RELAXED, "a \t b\t\r\n", "a b\r\n");
    check_body(DKIM_CANON_RELAXED, "  lead\r\n", " lead\r\n");
    check_body(DKIM_CANON_RELAXED, "a\r\n \r\nb \r\n \r\n", "a\r\n\r\nb\r\n");
    check_body(DKIM_CANON_RELAXED, "a \rb\r\n", "a \rb\r\n");
    check_body(DKIM_CANON_RELAXED, "tail  ", "tail\r\n");
    check_body(DKIM_CANON_RELAXED, "x\r", "x\r\r\n");
    check_body(DKIM_CANON_RELAXED,
               "Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n",
               "Hi.\r\n\r\nWe lost the game. Are you hungry yet?\r\n\r\nJoe.\r\n");
}

static void
check_field(enum dkim_canon c, const char *in, const char *canonical)
{
    char *out = NULL;
    size_t len = 0;

    dkim_canon_field(c, in, strlen(in), &out, &len);
    assert_int_equal(len, strlen(canonical));
    assert_memory_equal(out, canonical, len);
    free(out);
}

static void
test_field_canon(void **state)
{
    check_field(DKIM_CANON_RELAXED, "SubJect : A  b\r\n \tc \r\n", "subject:A b c\r\n");
    check_field(DKIM_CANON_RELAXED, "X:\r\n", "x:\r\n");
    check_field(DKIM_CANON_RELAXED, "To:   \t\r\n  x\r\n", "to:x\r\n");
    check_field(DKIM_CANON_RELAXED, "A: b:c\r\n", "a:b:c\r\n");
    check_field(DKIM_CANON_SIMPLE, "SubJect : A  b\r\n \tc \r\n", "SubJect : A  b\r\n \tc \r\n");
    check_field(DKIM_CANON_SIMPLE, "A: no break", "A: no break\r\n");
}

static void
test_fields_parse(void **state)
{
    const char h[] = "A: 1\r\n b\r\nnot a field\r\n continued nothing\r\nB : 2\r\n"
                     ": no name\r\nC:3";
    struct dkim_field *f;
    size_t n = dkim_fields_parse(h, sizeof(h) - 1, &f);

    assert_int_equal(n, 3);
    assert_true(dkim_field_is(&f[0], "a"));
    assert_int_equal(f[0].len, strlen("A: 1\r\n b\r\n"));
    assert_true(dkim_field_is(&f[1], "B"));
    assert_int_equal(f[1].name_len, 1);
    assert_true(dkim_field_is(&f[2], "c"));
    assert_int_equal(f[2].len, 3);
    free(f);
    assert_int_equal(dkim_fields_parse("", 0, &f), 0);
    free(f);
}

static void
check_author(const char *header, const char *domain)
{
    struct dkim_field *f;
    size_t n = dkim_fields_parse(header, strlen(header), &f);
    char *d = dkim_author_domain(f, n);

    if (domain == NULL && d != NULL)
        fail_msg("\"%s\": author domain %s, expected none", header, d);
    if (domain != NULL && (d == NULL || strcmp(d, domain) != 0))
        fail_msg("\"%s\": author domain %s, expected %s", header, d ? d : "(none)", domain);
    free(d);
    free(f);
}

static void
test_author_domain(void **state)
{
    check_author("From: joe@A.Test\r\n", "a.test");
    check_author("From: Joe <joe@a.test>\r\n", "a.test");
    check_author("From: \"x@evil.test <y@evil.test>\" <joe@a.test>\r\n", "a.test");
    check_author("From: (comment @evil.test) joe@a.test (more)\r\n", "a.test");
    check_author("From: Joe\r\n <joe@\r\n a.test>\r\n", "a.test");
    check_author("from : joe@a.test, ann@b.test\r\n", "a.test");
    check_author("From: \"a,b\" <joe@a.test>\r\n", "a.test");
    check_author("From: <@route.test:joe@a.test>\r\n", "a.test");
    check_author("To: joe@a.test\r\n", NULL);
    check_author("From: joe@a.test\r\nFrom: eve@b.test\r\n", NULL);
    check_author("From: undisclosed:;\r\n", NULL);
    check_author("From: joe@[192.0.2.1]\r\n", NULL);
    check_author("From: joe\r\n", NULL);
    check_author("From: joe@-bad.test\r\n", NULL);
    check_author("From: \"unterminated <joe@a.test>\r\n", NULL);
}

static void
test_signed_names(void **state)
{
    const char h[] = "Received: x\r\nFrom: a@a.test\r\nTo: b@b.test\r\nto: c@c.test\r\n"
                     "Subject: s\r\nX-Other: o\r\nTLS-Report-Domain: a.test\r\n"
                     "TLS-Report-Submitter: a.test\r\n";
    struct dkim_field *f;
    size_t n = dkim_fields_parse(h, sizeof(h) - 1, &f);
    char *names = dkim_signed_names(f, n);

    assert_string_equal(names, "from:subject:to:to:tls-report-domain:tls-report-submitter:from");
    free(names);
    free(f);
}

/* Every line of a field within DKIM_LINE_MAX, CRLF line ends, each
 * continuation starting with a space. */
static void
check_folded(const char *field)
{
    const char *line = field;

    while (*line) {
        const char *end = strstr(line, "\r\n");
        assert_non_null(end);
        assert_true(end - line <= DKIM_LINE_MAX);
        assert_true(line == field || *line == ' ');
        line = end + 2;
    }
}

/* A key made here signs a message end to end; OpenSSL verifies the
 * signature with the public key read back from the TXT record text. */
static void
roundtrip(enum dkim_alg alg, unsigned bits, enum dkim_canon c)
{
    const char *msg = RFC_MESSAGE;
    char *pem, *txt, err[256], *field, *prefix;
    size_t pemlen, n, siglen, keylen;
    unsigned char hash[DKIM_HASH_LEN], sig[DKIM_SIG_MAX], der[1024];
    struct dkim_field *f;
    struct dkim_sig_params p = {alg,         c,          c,    "football.example.com",
                                "selector1", 1700000000, NULL, {0}};
    EVP_PKEY *key, *pub;
    struct dkim_body *b = dkim_body_new(c);

    assert_int_equal(dkim_key_generate(alg, bits, &pem, &pemlen, &txt, err, sizeof(err)), 0);
    key = dkim_key_read(pem, pemlen, err, sizeof(err));
    assert_non_null(key);
    {
        char *again = dkim_key_txt(key);
        assert_string_equal(again, txt);
        free(again);
    }
    n = dkim_fields_parse(msg, body_at(msg) - 2, &f);
    p.names = dkim_signed_names(f, n);
    assert_string_equal(p.names, "from:subject:date:message-id:to:from");
    dkim_body_update(b, msg + body_at(msg), strlen(msg) - body_at(msg));
    dkim_body_final(b, p.bh);
    prefix = dkim_signature_prefix(&p);
    dkim_header_hash(c, f, n, p.names, prefix, hash);
    assert_int_equal(dkim_key_sign(key, hash, sig, &siglen, err, sizeof(err)), 0);
    field = dkim_signature_field(prefix, sig, siglen);
    check_folded(field);
    assert_non_null(strstr(field, " s=selector1;"));

    /* verify with the public half of the TXT record */
    keylen = unbase64(strstr(txt, "p=") + 2, der);
    if (alg == DKIM_ALG_ED25519_SHA256) {
        pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, keylen);
        assert_non_null(pub);
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestVerifyInit_ex(m, NULL, NULL, NULL, NULL, pub, NULL), 1);
        assert_int_equal(EVP_DigestVerify(m, sig, siglen, hash, sizeof(hash)), 1);
        EVP_MD_CTX_free(m);
    } else {
        const unsigned char *d = der;
        pub = d2i_PUBKEY(NULL, &d, (long)keylen);
        assert_non_null(pub);
        assert_int_equal(EVP_PKEY_get_bits(pub), (int)bits);
        EVP_PKEY_CTX *v = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
        assert_int_equal(EVP_PKEY_verify_init(v), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(v, RSA_PKCS1_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_signature_md(v, EVP_sha256()), 1);
        assert_int_equal(EVP_PKEY_verify(v, sig, siglen, hash, sizeof(hash)), 1);
        /* a changed hash does not verify */
        hash[0] ^= 1;
        assert_int_not_equal(EVP_PKEY_verify(v, sig, siglen, hash, sizeof(hash)), 1);
        EVP_PKEY_CTX_free(v);
    }
    EVP_PKEY_free(pub);
    EVP_PKEY_free(key);
    mem_free_wiped(pem, pemlen);
    free(txt);
    free(field);
    free(prefix);
    free((char *)p.names);
    free(f);
}

static void
test_roundtrip(void **state)
{
    roundtrip(DKIM_ALG_ED25519_SHA256, 0, DKIM_CANON_RELAXED);
    roundtrip(DKIM_ALG_ED25519_SHA256, 0, DKIM_CANON_SIMPLE);
    roundtrip(DKIM_ALG_RSA_SHA256, 1024, DKIM_CANON_SIMPLE);
    roundtrip(DKIM_ALG_RSA_SHA256, 2048, DKIM_CANON_RELAXED);
}

static void
test_prefix_folding(void **state)
{
    char names[1024] = "from";
    struct dkim_sig_params p = {DKIM_ALG_RSA_SHA256,
                                DKIM_CANON_RELAXED,
                                DKIM_CANON_SIMPLE,
                                "a-rather-long-subdomain.of-a-long-domain-name.example.test",
                                "selector2",
                                1700000000,
                                names,
                                {0}};
    unsigned char sig[256];
    char *prefix, *field;

    for (int i = 0; i < 20; i++)
        strcat(names, ":content-transfer-encoding");
    prefix = dkim_signature_prefix(&p);
    /* the tags in order, b= last and empty */
    assert_non_null(strstr(prefix, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple;"));
    assert_int_equal(strcmp(prefix + strlen(prefix) - 3, " b="), 0);
    memset(sig, 0xa5, sizeof(sig));
    field = dkim_signature_field(prefix, sig, sizeof(sig));
    check_folded(field);
    assert_int_equal(strncmp(field, prefix, strlen(prefix)), 0);
    free(prefix);
    free(field);
}

static void
test_key_errors(void **state)
{
    char *pem, *txt, err[256];
    size_t len;

    assert_int_equal(
        dkim_key_generate(DKIM_ALG_RSA_SHA256, 4096, &pem, &len, &txt, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "1024 or 2048"));
    assert_null(dkim_key_read("not a key", 9, err, sizeof(err)));
    /* an EC key is no DKIM key */
    {
        EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        unsigned char hash[DKIM_HASH_LEN] = {0}, sig[DKIM_SIG_MAX];
        size_t siglen;
        assert_non_null(ec);
        assert_null(dkim_key_txt(ec));
        assert_int_equal(dkim_key_sign(ec, hash, sig, &siglen, err, sizeof(err)), -1);
        EVP_PKEY_free(ec);
    }
}

/* The keyring loads the keys an enabled configuration publishes, and
 * signs only under the same domain, selector and public key text. */
static void
test_keyring(void **state)
{
    char *dir = testlib_mkdtemp("dkim"), *sub = xasprintf("%s/a.test", dir), *path;
    char *pem[2], *txt[2], *other_pem, *other_txt, err[256], *conf;
    size_t pemlen[2], other_len, siglen;
    unsigned char hash[DKIM_HASH_LEN] = {1, 2, 3}, sig[DKIM_SIG_MAX];
    struct dkim_keyring *ring;
    struct config *cfg;

    assert_int_equal(mkdir(sub, 0700), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(dkim_key_generate(DKIM_ALG_ED25519_SHA256, 0, &pem[i], &pemlen[i], &txt[i],
                                           err, sizeof(err)),
                         0);
    assert_int_equal(dkim_key_generate(DKIM_ALG_ED25519_SHA256, 0, &other_pem, &other_len,
                                       &other_txt, err, sizeof(err)),
                     0);
    /* selector1 holds the published key; selector2's file holds another */
    path = xasprintf("%s/selector1.key", sub);
    testlib_write_file(path, pem[0], pemlen[0]);
    free(path);
    path = xasprintf("%s/selector2.key", sub);
    testlib_write_file(path, other_pem, other_len);
    free(path);
    conf = xasprintf("[DkimSigningConfig \"a.test\"]\nDomainName = a.test\nEnabled = %s\n"
                     "Selector1PublicKey = \"%s\"\nSelector2PublicKey = \"%s\"\n",
                     "True", txt[0], txt[1]);
    cfg = testlib_config(conf);
    ring = dkim_keyring_load(dir, cfg);
    assert_int_equal(dkim_keyring_count(ring), 1);
    assert_int_equal(dkim_keyring_sign(ring, "A.TEST", "selector1", txt[0], hash, sizeof(hash), sig,
                                       &siglen, err, sizeof(err)),
                     0);
    assert_int_equal(siglen, 64);
    /* not the published key, not its selector, not a hash */
    assert_int_equal(dkim_keyring_sign(ring, "a.test", "selector2", txt[1], hash, sizeof(hash), sig,
                                       &siglen, err, sizeof(err)),
                     -1);
    assert_int_equal(dkim_keyring_sign(ring, "a.test", "selector2", txt[0], hash, sizeof(hash), sig,
                                       &siglen, err, sizeof(err)),
                     -1);
    assert_int_equal(dkim_keyring_sign(ring, "a.test", "selector1", other_txt, hash, sizeof(hash),
                                       sig, &siglen, err, sizeof(err)),
                     -1);
    assert_int_equal(dkim_keyring_sign(ring, "b.test", "selector1", txt[0], hash, sizeof(hash), sig,
                                       &siglen, err, sizeof(err)),
                     -1);
    assert_int_equal(dkim_keyring_sign(ring, "a.test", "selector1", txt[0], hash, 20, sig, &siglen,
                                       err, sizeof(err)),
                     -1);
    assert_int_equal(dkim_keyring_sign(NULL, "a.test", "selector1", txt[0], hash, sizeof(hash), sig,
                                       &siglen, err, sizeof(err)),
                     -1);
    dkim_keyring_free(ring);
    config_unref(cfg);
    free(conf);
    /* a disabled configuration's keys are not loaded */
    conf = xasprintf("[DkimSigningConfig \"a.test\"]\nDomainName = a.test\nEnabled = %s\n"
                     "Selector1PublicKey = \"%s\"\n",
                     "False", txt[0]);
    cfg = testlib_config(conf);
    ring = dkim_keyring_load(dir, cfg);
    assert_int_equal(dkim_keyring_count(ring), 0);
    dkim_keyring_free(ring);
    config_unref(cfg);
    free(conf);
    for (int i = 0; i < 2; i++) {
        mem_free_wiped(pem[i], pemlen[i]);
        free(txt[i]);
    }
    mem_free_wiped(other_pem, other_len);
    free(other_txt);
    testlib_rmtree(dir);
    free(dir);
    free(sub);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8463_vector), cmocka_unit_test(test_simple_vector),
        cmocka_unit_test(test_body_canon),     cmocka_unit_test(test_field_canon),
        cmocka_unit_test(test_fields_parse),   cmocka_unit_test(test_author_domain),
        cmocka_unit_test(test_signed_names),   cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_prefix_folding), cmocka_unit_test(test_key_errors),
        cmocka_unit_test(test_keyring),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
