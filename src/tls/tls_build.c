/*
 * tls_build.c — what New-ExchangeCertificate and Setup create, built in
 * memory: a key, a self-signed TLS server and client certificate, a
 * PKCS#10 request, with the extensions Exchange's own certificates carry.
 * tls_create_selfsigned (tls.c) builds Setup's certificate here.
 *
 * Must never: write a file (its callers store what it builds), or read a
 * name as anything but a DNS name.
 */
#include "tls/tls_certs_int.h"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <time.h>

static X509_EXTENSION *
san_extension(const char *const *names, size_t n)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    X509_EXTENSION *ext = NULL;

    if (gens == NULL)
        return NULL;
    /* Built by hand rather than through the config-string parser so that
     * no character of a name can be read as syntax. */
    for (size_t i = 0; i < n; i++) {
        GENERAL_NAME *gn = GENERAL_NAME_new();
        ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();

        if (gn == NULL || ia5 == NULL || ASN1_STRING_set(ia5, names[i], -1) != 1) {
            GENERAL_NAME_free(gn);
            ASN1_IA5STRING_free(ia5);
            goto out;
        }
        GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
        if (sk_GENERAL_NAME_push(gens, gn) <= 0) {
            GENERAL_NAME_free(gn);
            goto out;
        }
    }
    ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
out:
    GENERAL_NAMES_free(gens);
    return ext;
}

/* The extensions of a TLS server (and client) certificate: what Exchange's
 * own self-signed certificate and a CA request carry. */
static STACK_OF(X509_EXTENSION) * tls_extensions(X509V3_CTX *v3, EVP_PKEY *pkey,
                                                 const char *const *names, size_t nnames, bool ski)
{
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    /* keyEncipherment is for RSA key transport only. */
    const char *ku = EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA
                         ? "critical,digitalSignature,keyEncipherment"
                         : "critical,digitalSignature";
    const struct {
        int nid;
        const char *value;
    } conf[] = {
        {NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, ku},
        {NID_ext_key_usage, "serverAuth,clientAuth"},
        {NID_subject_key_identifier, "hash"},
    };
    X509_EXTENSION *ext;

    if (exts == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(conf) / sizeof(conf[0]); i++) {
        if (conf[i].nid == NID_subject_key_identifier && !ski)
            continue;
        if ((ext = X509V3_EXT_conf_nid(NULL, v3, conf[i].nid, conf[i].value)) == NULL ||
            sk_X509_EXTENSION_push(exts, ext) <= 0) {
            X509_EXTENSION_free(ext);
            goto fail;
        }
    }
    if ((ext = san_extension(names, nnames)) == NULL || sk_X509_EXTENSION_push(exts, ext) <= 0) {
        X509_EXTENSION_free(ext);
        goto fail;
    }
    return exts;
fail:
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return NULL;
}

static int
set_random_serial(X509 *x)
{
    BIGNUM *bn = BN_new();
    int rc = -1;

    /* 128 random bits: unique without coordination, within RFC 5280's 20
     * octets. Zero is not a valid serial. */
    if (bn == NULL)
        return -1;
    do {
        if (BN_rand(bn, 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1)
            goto out;
    } while (BN_is_zero(bn));
    if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL)
        rc = 0;
out:
    BN_free(bn);
    return rc;
}

/* Calendar years (Feb 29 rolls to Mar 1), as a person reading "valid for
 * 5 years" expects. */
static time_t
add_years(time_t t, int years)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL)
        return (time_t)-1;
    tm.tm_year += years;
    return timegm(&tm);
}

X509 *
tls_build_selfsigned(EVP_PKEY *pkey, const X509_NAME *subject, const char *const *names,
                     size_t nnames, int years)
{
    X509 *x = X509_new();
    STACK_OF(X509_EXTENSION) *exts = NULL;
    X509V3_CTX v3;
    time_t now = time(NULL), end = add_years(now, years);

    if (x == NULL || end == (time_t)-1)
        goto fail;
    if (X509_set_version(x, X509_VERSION_3) != 1 || set_random_serial(x) != 0)
        goto fail;
    /* An hour of slack for clients whose clocks run behind. */
    if (ASN1_TIME_set(X509_getm_notBefore(x), now - 3600) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(x), end) == NULL)
        goto fail;
    if (X509_set_subject_name(x, subject) != 1 || X509_set_issuer_name(x, subject) != 1 ||
        X509_set_pubkey(x, pkey) != 1)
        goto fail;
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    if ((exts = tls_extensions(&v3, pkey, names, nnames, true)) == NULL)
        goto fail;
    for (int i = 0; i < sk_X509_EXTENSION_num(exts); i++)
        if (X509_add_ext(x, sk_X509_EXTENSION_value(exts, i), -1) != 1)
            goto fail;
    if (X509_sign(x, pkey, EVP_sha256()) <= 0)
        goto fail;
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return x;
fail:
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_free(x);
    return NULL;
}

X509_REQ *
tls_build_request(EVP_PKEY *pkey, const X509_NAME *subject, const char *const *names, size_t nnames)
{
    X509_REQ *req = X509_REQ_new();
    STACK_OF(X509_EXTENSION) *exts = NULL;
    X509V3_CTX v3;

    if (req == NULL)
        return NULL;
    if (X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
        X509_REQ_set_subject_name(req, subject) != 1 || X509_REQ_set_pubkey(req, pkey) != 1)
        goto fail;
    /* No subjectKeyIdentifier: the CA computes its own. */
    X509V3_set_ctx(&v3, NULL, NULL, req, NULL, 0);
    if ((exts = tls_extensions(&v3, pkey, names, nnames, false)) == NULL ||
        X509_REQ_add_extensions(req, exts) != 1)
        goto fail;
    if (X509_REQ_sign(req, pkey, EVP_sha256()) <= 0)
        goto fail;
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return req;
fail:
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    return NULL;
}

EVP_PKEY *
tls_generate_key(enum tls_key_algorithm alg, int bits)
{
    if (alg == TLS_KEY_ECDSA)
        return EVP_EC_gen("P-256");
    return EVP_RSA_gen((unsigned int)bits);
}
