/*
 * tls_bundle.c — reading a file an administrator hands over
 * (Import-ExchangeCertificate -FileName, Import-Certificate -FilePath)
 * into one bundle: PEM with any mix of certificates, PKCS#7, CRLs and a
 * private key (plain or encrypted), or DER: a certificate, PKCS#12, PKCS#7
 * or a CRL.
 *
 * Must never: prompt for a password, leave key bytes in memory that is
 * not cleansed, take more than one private key from a file, or take a
 * certificate request for a certificate.
 */
#include "tls/tls_certs_int.h"
#include "lib/log.h"
#include "lib/util.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include <string.h>

/* Bundles with a long chain are a few tens of kB; a CA bundle maybe a few
 * hundred. Anything larger is not what the administrator meant. */
#define INPUT_MAX (4 * 1024 * 1024)

struct password {
    const char *text; /* NULL: none given */
    bool asked;
};

static int
password_cb(char *buf, int size, int rwflag, void *u)
{
    struct password *pw = u;
    size_t n;

    pw->asked = true;
    if (pw->text == NULL || size <= 0)
        return 0;
    n = strlen(pw->text);
    if (n > (size_t)size)
        return -1;
    memcpy(buf, pw->text, n);
    return (int)n;
}

static void
bundle_init(struct tls_bundle *b)
{
    memset(b, 0, sizeof(*b));
    b->certs = sk_X509_new_null();
    b->crls = sk_X509_CRL_new_null();
    if (b->certs == NULL || b->crls == NULL)
        fatalx("tls: out of memory");
}

void
tls_bundle_free(struct tls_bundle *b)
{
    sk_X509_pop_free(b->certs, X509_free);
    sk_X509_CRL_pop_free(b->crls, X509_CRL_free);
    EVP_PKEY_free(b->key);
    memset(b, 0, sizeof(*b));
}

static void
push_cert(struct tls_bundle *b, X509 *x)
{
    /* The same certificate twice (a chain file that repeats the leaf)
     * counts once. */
    for (int i = 0; i < sk_X509_num(b->certs); i++) {
        if (X509_cmp(sk_X509_value(b->certs, i), x) == 0) {
            X509_free(x);
            return;
        }
    }
    if (sk_X509_push(b->certs, x) <= 0)
        fatalx("tls: out of memory");
}

static void
push_crl(struct tls_bundle *b, X509_CRL *c)
{
    if (sk_X509_CRL_push(b->crls, c) <= 0)
        fatalx("tls: out of memory");
}

static void
take_pkcs7(struct tls_bundle *b, PKCS7 *p7)
{
    STACK_OF(X509) *certs = NULL;
    STACK_OF(X509_CRL) *crls = NULL;

    if (OBJ_obj2nid(p7->type) == NID_pkcs7_signed && p7->d.sign != NULL) {
        certs = p7->d.sign->cert;
        crls = p7->d.sign->crl;
    }
    for (int i = 0; certs != NULL && i < sk_X509_num(certs); i++) {
        X509 *x = sk_X509_value(certs, i);
        if (X509_up_ref(x) != 1)
            fatalx("tls: X509_up_ref");
        push_cert(b, x);
    }
    for (int i = 0; crls != NULL && i < sk_X509_CRL_num(crls); i++) {
        X509_CRL *c = sk_X509_CRL_value(crls, i);
        if (X509_CRL_up_ref(c) != 1)
            fatalx("tls: X509_CRL_up_ref");
        push_crl(b, c);
    }
}

/* One private key block: re-encoded alone into secure memory so that the
 * PEM reader (which knows every key format, and decryption) sees it
 * without the blocks around it. */
static int
take_pem_key(struct tls_bundle *b, const char *name, const char *header, const unsigned char *data,
             long len, struct password *pw, const char *path, char *err, size_t errlen)
{
    BIO *bio = BIO_new(BIO_s_secmem());
    EVP_PKEY *key = NULL;
    char e[256];
    int rc = -1;

    b->key_material = true;
    if (++b->nkeys > 1) {
        errorf(err, errlen, "%s holds more than one private key", path);
        goto out;
    }
    ERR_clear_error();
    if (bio == NULL || PEM_write_bio(bio, name, header, data, len) <= 0) {
        errorf(err, errlen, "%s: cannot read the private key: %s", path,
               tls_last_error(e, sizeof(e)));
        goto out;
    }
    pw->asked = false;
    key = PEM_read_bio_PrivateKey(bio, NULL, password_cb, pw);
    if (key == NULL) {
        if (pw->asked && pw->text == NULL)
            errorf(err, errlen, "%s: the private key is encrypted: give its -Password", path);
        else if (pw->asked)
            errorf(err, errlen, "%s: cannot decrypt the private key: wrong password?", path);
        else
            errorf(err, errlen, "%s: cannot read the private key: %s", path,
                   tls_last_error(e, sizeof(e)));
        ERR_clear_error();
        goto out;
    }
    b->key = key;
    rc = 0;
out:
    BIO_free(bio);
    return rc;
}

static bool
pem_name_is(const char *name, const char *const *names)
{
    for (; *names != NULL; names++)
        if (strcmp(name, *names) == 0)
            return true;
    return false;
}

static int
parse_pem(struct tls_bundle *b, const unsigned char *buf, size_t len, struct password *pw,
          const char *path, char *warn, size_t warnlen, char *err, size_t errlen)
{
    static const char *const cert_names[] = {PEM_STRING_X509, PEM_STRING_X509_OLD, NULL};
    static const char *const p7_names[] = {PEM_STRING_PKCS7, PEM_STRING_PKCS7_SIGNED, NULL};
    static const char *const req_names[] = {PEM_STRING_X509_REQ, PEM_STRING_X509_REQ_OLD, NULL};
    static const char *const quiet_names[] = {PEM_STRING_ECPARAMETERS, PEM_STRING_PARAMETERS,
                                              PEM_STRING_PUBLIC, NULL};
    BIO *in = BIO_new_mem_buf(buf, (int)len);
    int rc = -1, blocks = 0;
    char e[256];

    if (in == NULL)
        fatalx("tls: out of memory");
    for (;;) {
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        const unsigned char *p;
        long dlen = 0;
        bool ok = true;

        ERR_clear_error();
        if (PEM_read_bio_ex(in, &name, &header, &data, &dlen,
                            PEM_FLAG_SECURE | PEM_FLAG_EAY_COMPATIBLE) != 1) {
            unsigned long code = ERR_peek_last_error();
            if (ERR_GET_LIB(code) == ERR_LIB_PEM && ERR_GET_REASON(code) == PEM_R_NO_START_LINE) {
                ERR_clear_error();
                break;
            }
            errorf(err, errlen, "%s: damaged PEM block after %d good one(s): %s", path, blocks,
                   tls_last_error(e, sizeof(e)));
            goto out;
        }
        blocks++;
        p = data;
        if (pem_name_is(name, cert_names)) {
            X509 *x = d2i_X509(NULL, &p, dlen);
            if ((ok = x != NULL))
                push_cert(b, x);
        } else if (strcmp(name, PEM_STRING_X509_TRUSTED) == 0) {
            X509 *x = d2i_X509_AUX(NULL, &p, dlen);
            if ((ok = x != NULL))
                push_cert(b, x);
        } else if (pem_name_is(name, p7_names)) {
            PKCS7 *p7 = d2i_PKCS7(NULL, &p, dlen);
            if ((ok = p7 != NULL))
                take_pkcs7(b, p7);
            PKCS7_free(p7);
        } else if (strcmp(name, PEM_STRING_X509_CRL) == 0) {
            X509_CRL *c = d2i_X509_CRL(NULL, &p, dlen);
            if ((ok = c != NULL))
                push_crl(b, c);
        } else if (strlen(name) >= 11 && strcmp(name + strlen(name) - 11, "PRIVATE KEY") == 0) {
            if (take_pem_key(b, name, header, data, dlen, pw, path, err, errlen) != 0) {
                OPENSSL_secure_free(name);
                OPENSSL_secure_free(header);
                OPENSSL_secure_clear_free(data, (size_t)dlen);
                goto out;
            }
        } else if (pem_name_is(name, req_names)) {
            errorf(err, errlen,
                   "%s holds a certificate request, not a certificate: send it to the CA and "
                   "import the certificate it issues",
                   path);
            OPENSSL_secure_free(name);
            OPENSSL_secure_free(header);
            OPENSSL_secure_clear_free(data, (size_t)dlen);
            goto out;
        } else if (!pem_name_is(name, quiet_names)) {
            tls_appendmsg(warn, warnlen, "\n", "%s: skipped a PEM block of type \"%.40s\"", path,
                          name);
        }
        if (!ok)
            errorf(err, errlen, "%s: damaged \"%.40s\" block: %s", path, name,
                   tls_last_error(e, sizeof(e)));
        OPENSSL_secure_free(name);
        OPENSSL_secure_free(header);
        OPENSSL_secure_clear_free(data, (size_t)dlen);
        if (!ok)
            goto out;
    }
    rc = 0;
out:
    BIO_free(in);
    return rc;
}

/* A legacy-encrypted PKCS#12 (RC2-40 and 3DES, as Windows Server before
 * 2019 exports) needs OpenSSL 3's legacy provider. */
static int
p12_parse(PKCS12 *p12, const char *pass, EVP_PKEY **key, X509 **cert, STACK_OF(X509) * *ca)
{
    OSSL_PROVIDER *legacy;
    int ok;

    ERR_clear_error();
    if (PKCS12_parse(p12, pass, key, cert, ca) == 1)
        return 1;
    legacy = OSSL_PROVIDER_try_load(NULL, "legacy", 1);
    if (legacy == NULL)
        return 0;
    ERR_clear_error();
    ok = PKCS12_parse(p12, pass, key, cert, ca);
    OSSL_PROVIDER_unload(legacy);
    return ok;
}

static int
parse_pkcs12(struct tls_bundle *b, PKCS12 *p12, struct password *pw, const char *path, char *err,
             size_t errlen)
{
    const char *pass = pw->text;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *ca = NULL;
    char e[256];

    b->key_material = true;
    /* The MAC tells a wrong password from a damaged file. Without a
     * password, both "no password" and "" are tried, as Windows may use
     * either for an unprotected export. */
    if (PKCS12_mac_present(p12)) {
        if (pass == NULL || pass[0] == '\0') {
            if (PKCS12_verify_mac(p12, NULL, 0) == 1)
                pass = NULL;
            else if (PKCS12_verify_mac(p12, "", 0) == 1)
                pass = "";
            else {
                ERR_clear_error();
                errorf(err, errlen, "%s is a PKCS#12 file protected by a password: give -Password",
                       path);
                return -1;
            }
        } else if (PKCS12_verify_mac(p12, pass, -1) != 1) {
            ERR_clear_error();
            errorf(err, errlen, "%s: wrong password for this PKCS#12 file", path);
            return -1;
        }
    }
    if (p12_parse(p12, pass, &key, &cert, &ca) != 1) {
        errorf(err, errlen, "%s: cannot read the PKCS#12 file: %s", path,
               tls_last_error(e, sizeof(e)));
        return -1;
    }
    if (key != NULL) {
        b->key = key;
        b->nkeys = 1;
    }
    if (cert != NULL)
        push_cert(b, cert);
    while (ca != NULL && sk_X509_num(ca) > 0)
        push_cert(b, sk_X509_shift(ca));
    sk_X509_free(ca);
    return 0;
}

static int
parse_der(struct tls_bundle *b, const unsigned char *buf, size_t len, struct password *pw,
          const char *path, char *err, size_t errlen)
{
    const unsigned char *p;
    PKCS12 *p12;
    PKCS7 *p7;
    X509 *x;
    X509_CRL *crl;
    int rc;

    ERR_clear_error();
    p = buf;
    if ((x = d2i_X509(NULL, &p, (long)len)) != NULL && p == buf + len) {
        push_cert(b, x);
        return 0;
    }
    X509_free(x);
    p = buf;
    if ((p12 = d2i_PKCS12(NULL, &p, (long)len)) != NULL) {
        ERR_clear_error();
        rc = parse_pkcs12(b, p12, pw, path, err, errlen);
        PKCS12_free(p12);
        return rc;
    }
    p = buf;
    if ((p7 = d2i_PKCS7(NULL, &p, (long)len)) != NULL) {
        take_pkcs7(b, p7);
        PKCS7_free(p7);
        ERR_clear_error();
        return 0;
    }
    p = buf;
    if ((crl = d2i_X509_CRL(NULL, &p, (long)len)) != NULL) {
        push_crl(b, crl);
        ERR_clear_error();
        return 0;
    }
    ERR_clear_error();
    errorf(err, errlen,
           "%s is not a certificate file (neither PEM nor DER certificates, PKCS#7, PKCS#12 "
           "or a CRL)",
           path);
    return -1;
}

/* Reads path into b. PEM when it has a "-----BEGIN " line, else DER. */
int
tls_bundle_read(struct tls_bundle *b, const char *path, const char *password, char *warn,
                size_t warnlen, char *err, size_t errlen)
{
    struct password pw = {password, false};
    unsigned char *buf;
    size_t len;
    int rc;

    bundle_init(b);
    if (tls_read_secure(path, INPUT_MAX, &buf, &len, err, errlen) != 0)
        return -1;
    if (memmem(buf, len, "-----BEGIN ", 11) != NULL)
        rc = parse_pem(b, buf, len, &pw, path, warn, warnlen, err, errlen);
    else
        rc = parse_der(b, buf, len, &pw, path, err, errlen);
    OPENSSL_secure_clear_free(buf, len + 1);
    return rc;
}
