/*
 * tls_store_src.c — reading a certificate directory (DIR/certs) into the
 * store's inputs (struct tls_src, tls_int.h): each <name>.pem with its
 * chain, the state of <name>.key, the <thumbprint>.smtp marker, and the
 * certificates of root/ and CRLs of crl/. Only the process that holds the
 * keys reads a directory; every store is then built from what this
 * gathers, through the public bundle (tls_store_build.c).
 *
 * Must never: decide whether a certificate is usable (tls_store_build.c
 * does, for every source alike), keep a key unless asked to, leave key
 * bytes in memory that is not cleansed, prompt for a passphrase, or log
 * key material.
 */
#include "lib/log.h"
#include "lib/util.h"
#include "tls/tls_int.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A PEM RSA 16384 key is ~13 kB; anything near this is not a key. */
#define KEY_FILE_MAX (1024 * 1024)

void
tls_src_free(struct tls_src *src)
{
    for (size_t i = 0; i < src->ncerts; i++) {
        struct tls_src_cert *c = &src->certs[i];
        free(c->file);
        X509_free(c->leaf);
        sk_X509_pop_free(c->chain, X509_free);
        EVP_PKEY_free(c->key);
    }
    free(src->certs);
    free(src->certdir);
    sk_X509_pop_free(src->roots, X509_free);
    sk_X509_CRL_pop_free(src->crls, X509_CRL_free);
    memset(src, 0, sizeof(*src));
}

/* Reads a key file into memory that is cleansed when freed, then parses
 * it and checks it against leaf. Returns the key state; *out is set only
 * for KEY_OK. */
static enum key_state
load_key(const char *keypath, X509 *leaf, EVP_PKEY **out)
{
    struct stat st;
    unsigned char *buf = NULL;
    size_t size = 0, got = 0;
    EVP_PKEY *key = NULL;
    BIO *bio = NULL;
    enum key_state state = KEY_UNREADABLE;
    char e[256];
    int fd;

    *out = NULL;
    fd = open(keypath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return KEY_NONE;
        log_warn("tls: cannot open %s", keypath);
        return KEY_UNREADABLE;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        st.st_size > KEY_FILE_MAX) {
        log_warnx("tls: %s is not a plausible key file", keypath);
        goto out;
    }
    if ((st.st_mode & 077) != 0)
        log_warnx("tls: %s is accessible to group or others (mode %04o); it should be 0600",
                  keypath, (unsigned)(st.st_mode & 07777));
    size = (size_t)st.st_size;
    buf = OPENSSL_secure_malloc(size);
    if (buf == NULL)
        goto out;
    got = tls_read_full(fd, buf, size);
    if (got == 0) {
        log_warnx("tls: cannot read %s", keypath);
        goto out;
    }
    ERR_clear_error();
    bio = BIO_new_mem_buf(buf, (int)got);
    if (bio == NULL ||
        (key = PEM_read_bio_PrivateKey(bio, NULL, tls_no_passphrase, NULL)) == NULL) {
        log_warnx("tls: %s: cannot parse private key (encrypted keys are not supported): %s",
                  keypath, tls_last_error(e, sizeof(e)));
        goto out;
    }
    if (X509_check_private_key(leaf, key) != 1) {
        ERR_clear_error();
        log_warnx("tls: %s does not match its certificate", keypath);
        EVP_PKEY_free(key);
        state = KEY_MISMATCH;
        goto out;
    }
    *out = key;
    state = KEY_OK;
out:
    BIO_free(bio);
    if (buf != NULL)
        OPENSSL_secure_clear_free(buf, size);
    close(fd);
    return state;
}

/* Reads one .pem (leaf, then chain) and its .key into c. -1 for a file to
 * skip, having logged why. */
static int
read_cert_file(const char *certdir, const char *name, bool keep_keys, struct tls_src_cert *c)
{
    char *path = xasprintf("%s/%s", certdir, name), *keypath;
    char ebuf[256], thumbprint[THUMBPRINT_LEN + 1];
    unsigned long e;
    BIO *bio;
    X509 *x;
    int rc = -1;

    memset(c, 0, sizeof(*c));
    ERR_clear_error();
    bio = BIO_new_file(path, "r");
    if (bio == NULL) {
        log_warnx("tls: skipping %s: %s", path, tls_last_error(ebuf, sizeof(ebuf)));
        goto out;
    }
    c->leaf = PEM_read_bio_X509(bio, NULL, tls_no_passphrase, NULL);
    if (c->leaf == NULL) {
        log_warnx("tls: skipping %s: no certificate: %s", path, tls_last_error(ebuf, sizeof(ebuf)));
        BIO_free(bio);
        goto out;
    }
    c->chain = sk_X509_new_null();
    if (c->chain == NULL)
        fatalx("tls: out of memory");
    while ((x = PEM_read_bio_X509(bio, NULL, tls_no_passphrase, NULL)) != NULL) {
        if (sk_X509_push(c->chain, x) <= 0)
            fatalx("tls: out of memory");
    }
    BIO_free(bio);
    /* The loop ends with "no start line" at a clean end of file; anything
     * else is a damaged PEM block. */
    e = ERR_peek_last_error();
    if (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
        log_warnx("tls: skipping %s: damaged chain certificate: %s", path,
                  tls_last_error(ebuf, sizeof(ebuf)));
        goto out;
    }
    ERR_clear_error();
    /* The key id names the key to the keys process, and the marker is per
     * thumbprint; a certificate without one could never be used. */
    if (tls_thumbprint_of(c->leaf, thumbprint) != 0) {
        log_warnx("tls: skipping %s: unreadable thumbprint or validity dates", path);
        goto out;
    }
    /* <name>.pem -> <name>.key (tls_pem_filter admits only names ending in .pem) */
    keypath = xasprintf("%.*s.key", (int)(strlen(path) - 4), path);
    c->key_state = load_key(keypath, c->leaf, &c->key);
    free(keypath);
    if (c->key_state == KEY_OK)
        memcpy(c->key_id, thumbprint, sizeof(thumbprint));
    if (!keep_keys) {
        EVP_PKEY_free(c->key);
        c->key = NULL;
    }
    /* Enable-ExchangeCertificate's marker; the store is reloaded whenever a
     * file in certs/ changes, markers included. */
    c->smtp_enabled = tls_certs_smtp_enabled(certdir, thumbprint);
    c->file = xstrdup(name);
    rc = 0;
out:
    if (rc != 0) {
        X509_free(c->leaf);
        sk_X509_pop_free(c->chain, X509_free);
        memset(c, 0, sizeof(*c));
    }
    free(path);
    return rc;
}

/* Reads every certificate (crls == NULL) or every CRL (roots == NULL) of
 * the *.pem files in dir. A missing directory holds nothing; a broken
 * file is skipped as a whole, with a warning. */
static void
load_pem_dir(const char *dir, STACK_OF(X509) * roots, STACK_OF(X509_CRL) * crls)
{
    struct dirent **ents = NULL;
    char ebuf[256];
    int n;

    n = scandir(dir, &ents, tls_pem_filter, alphasort);
    if (n < 0) {
        if (errno != ENOENT)
            log_warn("tls: cannot read %s", dir);
        return;
    }
    for (int i = 0; i < n; i++) {
        char *path = xasprintf("%s/%s", dir, ents[i]->d_name);
        STACK_OF(X509) *xs = sk_X509_new_null();
        STACK_OF(X509_CRL) *cs = sk_X509_CRL_new_null();
        BIO *bio;
        unsigned long e;

        if (xs == NULL || cs == NULL)
            fatalx("tls: out of memory");
        ERR_clear_error();
        bio = BIO_new_file(path, "r");
        if (bio == NULL) {
            log_warnx("tls: skipping %s: %s", path, tls_last_error(ebuf, sizeof(ebuf)));
            goto next;
        }
        for (;;) {
            if (roots != NULL) {
                X509 *x = PEM_read_bio_X509(bio, NULL, tls_no_passphrase, NULL);
                if (x == NULL)
                    break;
                if (sk_X509_push(xs, x) <= 0)
                    fatalx("tls: out of memory");
            } else {
                X509_CRL *c = PEM_read_bio_X509_CRL(bio, NULL, tls_no_passphrase, NULL);
                if (c == NULL)
                    break;
                if (sk_X509_CRL_push(cs, c) <= 0)
                    fatalx("tls: out of memory");
            }
        }
        BIO_free(bio);
        /* A clean end of file reads as "no start line"; anything else is a
         * damaged block, and half a file of anchors is not what was meant. */
        e = ERR_peek_last_error();
        if (e != 0 &&
            !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
            log_warnx("tls: skipping %s: damaged PEM: %s", path,
                      tls_last_error(ebuf, sizeof(ebuf)));
            goto next;
        }
        ERR_clear_error();
        if (sk_X509_num(xs) == 0 && sk_X509_CRL_num(cs) == 0) {
            log_warnx("tls: skipping %s: no %s in it", path, roots != NULL ? "certificate" : "CRL");
            goto next;
        }
        while (sk_X509_num(xs) > 0)
            if (sk_X509_push(roots, sk_X509_shift(xs)) <= 0)
                fatalx("tls: out of memory");
        while (sk_X509_CRL_num(cs) > 0)
            if (sk_X509_CRL_push(crls, sk_X509_CRL_shift(cs)) <= 0)
                fatalx("tls: out of memory");
        log_debug("tls: loaded %s", path);
    next:
        sk_X509_pop_free(xs, X509_free);
        sk_X509_CRL_pop_free(cs, X509_CRL_free);
        free(path);
        free(ents[i]);
    }
    free(ents);
}

int
tls_src_read_dir(struct tls_src *src, const char *certdir, bool keep_keys, char *err, size_t errlen)
{
    struct dirent **ents = NULL;
    char *dir;
    int n;

    memset(src, 0, sizeof(*src));
    errorf(err, errlen, "%s", "");
    if (certdir == NULL) {
        errorf(err, errlen, "no certificate directory given");
        return -1;
    }
    /* Sorted, so that the store (and every tie) is the same on each load. */
    n = scandir(certdir, &ents, tls_pem_filter, alphasort);
    if (n < 0) {
        errorf(err, errlen, "cannot read certificate directory %s: %s", certdir, strerror(errno));
        return -1;
    }
    src->certdir = xstrdup(certdir);
    src->certs = xcalloc(n > 0 ? (size_t)n : 1, sizeof(*src->certs));
    for (int i = 0; i < n; i++) {
        if (read_cert_file(certdir, ents[i]->d_name, keep_keys, &src->certs[src->ncerts]) == 0)
            src->ncerts++;
        free(ents[i]);
    }
    free(ents);

    src->roots = sk_X509_new_null();
    src->crls = sk_X509_CRL_new_null();
    if (src->roots == NULL || src->crls == NULL)
        fatalx("tls: out of memory");
    dir = xasprintf("%s/root", certdir);
    load_pem_dir(dir, src->roots, NULL);
    free(dir);
    dir = xasprintf("%s/crl", certdir);
    load_pem_dir(dir, NULL, src->crls);
    free(dir);
    return 0;
}
