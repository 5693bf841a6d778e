/*
 * tls_pem_io.c — the PEM files of the certificate store: a private key, a
 * certificate with its chain, a CRL, each written through tls_files.c, and
 * a stored key or CRL read back. tls_write_cert_pair is also how
 * tls_create_selfsigned (tls.c) stores Setup's certificate.
 *
 * Must never: write a key with a mode other than 0600 or over an existing
 * file, leave key bytes in memory that is not cleansed, prompt for a
 * passphrase, or log key material.
 */
#include "tls/tls_certs_int.h"
#include "lib/util.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <stdlib.h>

/* A PEM RSA 16384 key is ~13 kB; anything near this is not a key. */
#define KEY_FILE_MAX (1024 * 1024)

EVP_PKEY *
tls_read_key_file(const char *path, char *err, size_t errlen)
{
    unsigned char *buf;
    size_t len;
    BIO *bio;
    EVP_PKEY *key = NULL;
    char e[256];

    if (tls_read_secure(path, KEY_FILE_MAX, &buf, &len, err, errlen) != 0)
        return NULL;
    ERR_clear_error();
    bio = BIO_new_mem_buf(buf, (int)len);
    if (bio == NULL || (key = PEM_read_bio_PrivateKey(bio, NULL, tls_no_passphrase, NULL)) == NULL)
        errorf(err, errlen, "%s: cannot parse private key: %s", path, tls_last_error(e, sizeof(e)));
    BIO_free(bio);
    OPENSSL_secure_clear_free(buf, len + 1);
    return key;
}

int
tls_write_key(const char *dir, const char *name, EVP_PKEY *pkey, const struct tls_owner *o,
              char *err, size_t errlen)
{
    /* A secure-memory BIO cleanses its buffer when freed, so the PEM text
     * of the key does not linger in the heap. */
    BIO *bio = BIO_new(BIO_s_secmem());
    char *data = NULL;
    long len;
    int rc = -1;
    char e[256];

    if (bio == NULL || PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
        (len = BIO_get_mem_data(bio, &data)) <= 0) {
        errorf(err, errlen, "cannot encode private key: %s", tls_last_error(e, sizeof(e)));
        goto out;
    }
    rc = tls_write_file_atomic(dir, name, data, (size_t)len, 0600, false, o, err, errlen);
out:
    BIO_free(bio);
    return rc;
}

int
tls_write_certs(const char *dir, const char *name, X509 *leaf, STACK_OF(X509) * chain,
                const struct tls_owner *o, char *err, size_t errlen)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, e[256];
    long len;
    int rc = -1;

    if (bio == NULL || PEM_write_bio_X509(bio, leaf) != 1)
        goto fail;
    for (int i = 0; chain != NULL && i < sk_X509_num(chain); i++)
        if (PEM_write_bio_X509(bio, sk_X509_value(chain, i)) != 1)
            goto fail;
    if ((len = BIO_get_mem_data(bio, &data)) <= 0)
        goto fail;
    /* Certificates are public; 0644 lets monitoring read expiry dates. */
    rc = tls_write_file_atomic(dir, name, data, (size_t)len, 0644, false, o, err, errlen);
    BIO_free(bio);
    return rc;
fail:
    errorf(err, errlen, "cannot encode certificate: %s", tls_last_error(e, sizeof(e)));
    BIO_free(bio);
    return -1;
}

int
tls_write_cert_pair(const char *dir, const char *thumbprint, EVP_PKEY *key, X509 *leaf,
                    STACK_OF(X509) * chain, const struct tls_owner *o, char *err, size_t errlen)
{
    char *keyname = xasprintf("%s.key", thumbprint), *pemname = xasprintf("%s.pem", thumbprint);
    int rc = -1;

    /* Key first: a .pem without its key would be a certificate the store
     * can never use, whereas an orphaned .key is merely ignored. */
    if (tls_write_key(dir, keyname, key, o, err, errlen) == 0) {
        if (tls_write_certs(dir, pemname, leaf, chain, o, err, errlen) == 0)
            rc = 0;
        else
            tls_unlink_in(dir, thumbprint, ".key");
    }
    free(keyname);
    free(pemname);
    return rc;
}

X509_CRL *
tls_read_crl_file(const char *path)
{
    BIO *bio = BIO_new_file(path, "r");
    X509_CRL *crl = bio != NULL ? PEM_read_bio_X509_CRL(bio, NULL, tls_no_passphrase, NULL) : NULL;

    BIO_free(bio);
    ERR_clear_error();
    return crl;
}

int
tls_write_crl(const char *dir, const char *id, X509_CRL *crl, const struct tls_owner *o, char *err,
              size_t errlen)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *name = xasprintf("%s.pem", id), *data = NULL, e[256];
    long len;
    int rc = -1;

    if (bio == NULL || PEM_write_bio_X509_CRL(bio, crl) != 1 ||
        (len = BIO_get_mem_data(bio, &data)) <= 0)
        errorf(err, errlen, "cannot encode CRL: %s", tls_last_error(e, sizeof(e)));
    else
        /* A newer CRL of the same issuer replaces the older one. */
        rc = tls_write_file_atomic(dir, name, data, (size_t)len, 0644, true, o, err, errlen);
    BIO_free(bio);
    free(name);
    return rc;
}
