/*
 * tls_testlib.c — certificates and BIO-pair handshakes for the TLS unit
 * tests (see tls_testlib.h).
 * Must never: be linked into postern, or write outside the directory a
 * test names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tls_testlib.h"

#include "lib/util.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

EVP_PKEY *
ec_key(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");

    assert_non_null(k);
    return k;
}

static void
add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);

    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

X509 *
make_cert(const struct certspec *s, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key)
{
    static long serial = 1000; /* unique within a test binary, as CRLs need */
    X509 *x = X509_new();
    X509V3_CTX v3;

    assert_non_null(x);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial++), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), s->nb));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), s->na));
    assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                                (const unsigned char *)s->cn, -1, -1, 0),
                     1);
    assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x)), 1);
    assert_int_equal(X509_set_pubkey(x, key), 1);
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    add_ext(x, &v3, NID_basic_constraints, s->ca ? "critical,CA:TRUE" : "CA:FALSE");
    if (s->ca)
        add_ext(x, &v3, NID_key_usage, "critical,keyCertSign,cRLSign");
    if (s->san != NULL) {
        add_ext(x, &v3, NID_subject_alt_name, s->san);
    } else if (!s->no_san) {
        char *san = xasprintf("DNS:%s", s->cn);
        add_ext(x, &v3, NID_subject_alt_name, san);
        free(san);
    }
    if (s->eku != NULL)
        add_ext(x, &v3, NID_ext_key_usage, s->eku);
    add_ext(x, &v3, NID_subject_key_identifier, "hash");
    if (issuer != NULL)
        add_ext(x, &v3, NID_authority_key_identifier, "keyid");
    assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
    return x;
}

X509_CRL *
issue_crl(X509 *ca, EVP_PKEY *cakey, X509 *revoked, long next)
{
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *last = X509_gmtime_adj(NULL, -3600), *due = X509_gmtime_adj(NULL, next);

    assert_non_null(crl);
    assert_int_equal(X509_CRL_set_version(crl, X509_CRL_VERSION_2), 1);
    assert_int_equal(X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)), 1);
    assert_int_equal(X509_CRL_set1_lastUpdate(crl, last), 1);
    assert_int_equal(X509_CRL_set1_nextUpdate(crl, due), 1);
    if (revoked != NULL) {
        X509_REVOKED *r = X509_REVOKED_new();
        assert_non_null(r);
        assert_int_equal(X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(revoked)), 1);
        assert_int_equal(X509_REVOKED_set_revocationDate(r, last), 1);
        assert_int_equal(X509_CRL_add0_revoked(crl, r), 1);
    }
    assert_int_equal(X509_CRL_sort(crl), 1);
    assert_true(X509_CRL_sign(crl, cakey, EVP_sha256()) > 0);
    ASN1_TIME_free(last);
    ASN1_TIME_free(due);
    return crl;
}

void
thumb_of(X509 *x, char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    assert_int_equal(X509_digest(x, EVP_sha1(), md, &n), 1);
    assert_int_equal(n, 20);
    for (unsigned int i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02X", md[i]);
}

void
store_cert(const char *dir, X509 *leaf, X509 *chain, EVP_PKEY *key, char thumb[41])
{
    char own[41], *t = thumb != NULL ? thumb : own, *p;
    FILE *f;

    thumb_of(leaf, t);
    p = xasprintf("%s/%s.pem", dir, t);
    f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, leaf), 1);
    if (chain != NULL)
        assert_int_equal(PEM_write_X509(f, chain), 1);
    assert_int_equal(fclose(f), 0);
    free(p);
    if (key == NULL)
        return;
    p = xasprintf("%s/%s.key", dir, t);
    f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(fchmod(fileno(f), 0600), 0);
    assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
    assert_int_equal(fclose(f), 0);
    free(p);
}

struct tls_store *
load(const char *dir)
{
    char err[256];
    struct tls_store *st = tls_store_load(dir, err, sizeof(err));

    assert_non_null(st);
    return st;
}

void
limit_ctx(SSL_CTX *ctx, int min, int max, const char *ciphers)
{
    assert_int_equal(SSL_CTX_set_min_proto_version(ctx, min), 1);
    assert_int_equal(SSL_CTX_set_max_proto_version(ctx, max), 1);
    if (ciphers != NULL)
        assert_int_equal(SSL_CTX_set_cipher_list(ctx, ciphers), 1);
}

bool
pair_handshake(SSL *client, SSL *server)
{
    BIO *sbio, *cbio;
    bool sdone = false, cdone = false, failed = false;

    assert_int_equal(BIO_new_bio_pair(&sbio, 0, &cbio, 0), 1);
    SSL_set_bio(server, sbio, sbio);
    SSL_set_bio(client, cbio, cbio);
    /* Each end runs until it waits for the other; a bound, not a timeout. */
    for (int i = 0; i < 100 && !failed && !(sdone && cdone); i++) {
        int r;
        if (!cdone) {
            r = SSL_do_handshake(client);
            cdone = r == 1;
            failed = !cdone && SSL_get_error(client, r) != SSL_ERROR_WANT_READ;
        }
        if (!sdone && !failed) {
            r = SSL_do_handshake(server);
            sdone = r == 1;
            failed = !sdone && SSL_get_error(server, r) != SSL_ERROR_WANT_READ;
        }
    }
    ERR_clear_error();
    return sdone && cdone;
}
