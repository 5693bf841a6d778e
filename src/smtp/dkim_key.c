/*
 * dkim_key.c — see dkim_key.h. OpenSSL 3's EVP interface for all of it:
 * no algorithm is written here.
 */
#include "smtp/dkim_key.h"
#include "lib/util.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

static void
ssl_error(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char text[256] = "unknown error";

    if (e != 0)
        ERR_error_string_n(e, text, sizeof(text));
    ERR_clear_error();
    errorf(err, errlen, "%s: %s", what, text);
}

int
dkim_key_info(struct evp_pkey_st *key, enum dkim_alg *alg, unsigned *bits)
{
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
        *alg = DKIM_ALG_RSA_SHA256;
        *bits = (unsigned)EVP_PKEY_get_bits(key);
        return 0;
    case EVP_PKEY_ED25519:
        *alg = DKIM_ALG_ED25519_SHA256;
        *bits = 256;
        return 0;
    default:
        return -1;
    }
}

char *
dkim_key_txt(struct evp_pkey_st *key)
{
    unsigned char raw[32], *der = NULL;
    char *b64, *txt;
    size_t rawlen = sizeof(raw);
    enum dkim_alg alg;
    unsigned bits;
    int n;

    if (dkim_key_info(key, &alg, &bits) < 0)
        return NULL;
    if (alg == DKIM_ALG_ED25519_SHA256) {
        if (EVP_PKEY_get_raw_public_key(key, raw, &rawlen) != 1 || rawlen != sizeof(raw))
            return NULL;
        b64 = dkim_base64(raw, rawlen);
        txt = xasprintf("v=DKIM1; k=ed25519; p=%s", b64);
    } else {
        /* SubjectPublicKeyInfo, as every signer publishes and every
         * verifier reads */
        if ((n = i2d_PUBKEY(key, &der)) <= 0)
            return NULL;
        b64 = dkim_base64(der, (size_t)n);
        OPENSSL_free(der);
        txt = xasprintf("v=DKIM1; k=rsa; p=%s", b64);
    }
    free(b64);
    return txt;
}

int
dkim_key_generate(enum dkim_alg alg, unsigned bits, char **pem, size_t *pemlen, char **txt,
                  char *err, size_t errlen)
{
    EVP_PKEY *key;
    BIO *bio = NULL;
    char *data;
    long len;
    int rc = -1;

    *pem = *txt = NULL;
    if (alg == DKIM_ALG_RSA_SHA256 && bits != 1024 && bits != 2048) {
        errorf(err, errlen, "an RSA key has 1024 or 2048 bits");
        return -1;
    }
    key = alg == DKIM_ALG_ED25519_SHA256 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
                                         : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
    if (key == NULL) {
        ssl_error(err, errlen, "cannot make the key");
        return -1;
    }
    /* secure memory: the buffer is wiped when the BIO goes */
    if ((bio = BIO_new(BIO_s_secmem())) == NULL ||
        PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1 ||
        (len = BIO_get_mem_data(bio, &data)) <= 0) {
        ssl_error(err, errlen, "cannot encode the key");
        goto out;
    }
    if ((*txt = dkim_key_txt(key)) == NULL) {
        ssl_error(err, errlen, "cannot encode the public key");
        goto out;
    }
    *pem = xmalloc((size_t)len + 1);
    memcpy(*pem, data, (size_t)len);
    (*pem)[len] = '\0';
    *pemlen = (size_t)len;
    rc = 0;
out:
    BIO_free(bio);
    EVP_PKEY_free(key);
    return rc;
}

struct evp_pkey_st *
dkim_key_read(const char *pem, size_t len, char *err, size_t errlen)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    enum dkim_alg alg;
    unsigned bits;

    BIO_free(bio);
    if (key == NULL) {
        ssl_error(err, errlen, "not a PEM private key");
        return NULL;
    }
    if (dkim_key_info(key, &alg, &bits) < 0) {
        errorf(err, errlen, "neither an RSA nor an Ed25519 key");
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}

int
dkim_key_sign(struct evp_pkey_st *key, const unsigned char hash[DKIM_HASH_LEN], unsigned char *sig,
              size_t *siglen, char *err, size_t errlen)
{
    enum dkim_alg alg;
    unsigned bits;
    size_t len = DKIM_SIG_MAX;
    int ok = 0;

    if (dkim_key_info(key, &alg, &bits) < 0 || (size_t)EVP_PKEY_get_size(key) > DKIM_SIG_MAX) {
        errorf(err, errlen, "not a key DKIM signs with");
        return -1;
    }
    if (alg == DKIM_ALG_ED25519_SHA256) {
        /* PureEdDSA over the hash: the hash is the message (RFC 8463 3) */
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        ok = m != NULL && EVP_DigestSignInit_ex(m, NULL, NULL, NULL, NULL, key, NULL) == 1 &&
             EVP_DigestSign(m, sig, &len, hash, DKIM_HASH_LEN) == 1;
        EVP_MD_CTX_free(m);
    } else {
        /* RSASSA-PKCS1-v1_5 of a message whose SHA-256 is hash */
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
        ok = c != NULL && EVP_PKEY_sign_init(c) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1 &&
             EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) == 1 &&
             EVP_PKEY_sign(c, sig, &len, hash, DKIM_HASH_LEN) == 1;
        EVP_PKEY_CTX_free(c);
    }
    if (!ok) {
        ssl_error(err, errlen, "signing failed");
        return -1;
    }
    *siglen = len;
    return 0;
}
