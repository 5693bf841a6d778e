/*
 * tls_store_build.c — every certificate store (tls.h) is built here, from
 * a public bundle (tls_pubbundle.c) and a key factory: tls_store_load_bundle
 * in the smtp process, and tls_store_load, which reads the directory
 * (tls_store_src.c), exports it and loads that bundle with the keys it
 * read. So a directory and a bundle give the same store by construction:
 * the same certificates, checks, logs and reasons.
 *
 * Must never: use a certificate whose thumbprint or validity dates cannot
 * be read or whose extensions are malformed, take a private key that does
 * not match its certificate, read a file (tls_store_src.c does, for
 * tls_store_load), or log key material.
 */
#include "lib/log.h"
#include "lib/util.h"
#include "tls/tls_int.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void
cert_clear(struct tls_cert *c)
{
    SSL_CTX_free(c->ctx);
    X509_free(c->leaf);
    sk_X509_pop_free(c->chain, X509_free);
    EVP_PKEY_free(c->key);
    for (size_t i = 0; i < c->nnames; i++)
        free(c->names[i]);
    free(c->names);
    memset(c, 0, sizeof(*c));
}

static void
add_name(struct tls_cert *c, const ASN1_STRING *s)
{
    unsigned char *utf8 = NULL;
    int len = ASN1_STRING_to_UTF8(&utf8, s);

    /* An embedded NUL would make "good.example\0.evil" compare as
     * "good.example"; such a name is dropped, not truncated. */
    if (len > 0 && strlen((char *)utf8) == (size_t)len) {
        char *name = xstrdup((char *)utf8);
        str_lower(name);
        c->names = xrealloc(c->names, (c->nnames + 1) * sizeof(*c->names));
        c->names[c->nnames++] = name;
    }
    OPENSSL_free(utf8);
}

static void
collect_names(struct tls_cert *c)
{
    const X509_NAME *subject = X509_get_subject_name(c->leaf);
    GENERAL_NAMES *gens;
    int i = -1;

    while ((i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >= 0)
        add_name(c, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));

    gens = X509_get_ext_d2i(c->leaf, NID_subject_alt_name, NULL, NULL);
    for (int j = 0; gens != NULL && j < sk_GENERAL_NAME_num(gens); j++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, j);
        if (gn->type == GEN_DNS)
            add_name(c, gn->d.dNSName);
    }
    GENERAL_NAMES_free(gens);
}

/* Takes s's certificates into c and reads what selection needs from
 * them. -1 for a certificate to skip, having logged why (path names it). */
static int
take_cert(struct tls_cert *c, struct tls_src_cert *s, const char *path)
{
    memset(c, 0, sizeof(*c));
    c->leaf = s->leaf;
    c->chain = s->chain;
    s->leaf = NULL;
    s->chain = NULL;
    if (c->chain == NULL && (c->chain = sk_X509_new_null()) == NULL)
        fatalx("tls: out of memory");
    if (tls_thumbprint_of(c->leaf, c->thumbprint) != 0 ||
        tls_asn1_time_to_time_t(X509_get0_notBefore(c->leaf), &c->not_before) != 0 ||
        tls_asn1_time_to_time_t(X509_get0_notAfter(c->leaf), &c->not_after) != 0) {
        log_warnx("tls: skipping %s: unreadable thumbprint or validity dates", path);
        goto fail;
    }
    if (X509_get_extension_flags(c->leaf) & EXFLAG_INVALID) {
        log_warnx("tls: skipping %s: malformed certificate extensions", path);
        goto fail;
    }
    collect_names(c);
    c->self_signed =
        X509_NAME_cmp(X509_get_issuer_name(c->leaf), X509_get_subject_name(c->leaf)) == 0 &&
        X509_verify(c->leaf, X509_get0_pubkey(c->leaf)) == 1;
    /* X509_get_extended_key_usage() reports all bits without an EKU
     * extension, matching "no EKU, or EKU serverAuth". */
    c->server_auth = (X509_get_extended_key_usage(c->leaf) & XKU_SSL_SERVER) != 0;
    c->client_auth = (X509_get_extended_key_usage(c->leaf) & XKU_SSL_CLIENT) != 0;
    c->key_state = s->key_state;
    c->smtp_enabled = s->smtp_enabled;
    ERR_clear_error();
    return 0;
fail:
    ERR_clear_error();
    cert_clear(c);
    return -1;
}

/* c's private key from the factory, checked against the certificate as a
 * key file is. */
static void
take_key(struct tls_cert *c, const char *path, tls_key_factory *make_key, void *arg)
{
    EVP_PKEY *key;

    if (c->key_state != KEY_OK)
        return;
    key = make_key != NULL ? make_key(arg, c->leaf, c->thumbprint) : NULL;
    if (key == NULL) {
        log_warnx("tls: %s: the private key of certificate %s is not available", path,
                  c->thumbprint);
        c->key_state = KEY_UNREADABLE;
    } else if (X509_check_private_key(c->leaf, key) != 1) {
        log_warnx("tls: %s: the private key given for certificate %s does not match it", path,
                  c->thumbprint);
        EVP_PKEY_free(key);
        c->key_state = KEY_MISMATCH;
    } else {
        c->key = key;
    }
    ERR_clear_error();
}

static struct tls_store *
store_build(struct tls_src *src, tls_key_factory *make_key, void *arg)
{
    struct tls_store *store = xcalloc(1, sizeof(*store));

    if (pthread_mutex_init(&store->lock, NULL) != 0)
        fatalx("tls: pthread_mutex_init");
    store->certdir = xstrdup(src->certdir != NULL ? src->certdir : "");
    store->certs = xcalloc(src->ncerts > 0 ? src->ncerts : 1, sizeof(*store->certs));
    for (size_t i = 0; i < src->ncerts; i++) {
        char *path = xasprintf("%s/%s", store->certdir, src->certs[i].file);
        struct tls_cert *c = &store->certs[store->ncerts];
        bool dup = false;

        if (take_cert(c, &src->certs[i], path) == 0) {
            for (size_t j = 0; j < store->ncerts; j++)
                dup = dup || strcmp(store->certs[j].thumbprint, c->thumbprint) == 0;
            if (dup) {
                log_warnx("tls: skipping %s: certificate %s is already loaded", path,
                          c->thumbprint);
                cert_clear(c);
            } else {
                take_key(c, path, make_key, arg);
                log_debug("tls: loaded %s (certificate %s)", path, c->thumbprint);
                store->ncerts++;
            }
        }
        free(path);
    }
    store->roots = src->roots;
    store->crls = src->crls;
    src->roots = NULL;
    src->crls = NULL;
    if (store->roots == NULL)
        store->roots = sk_X509_new_null();
    if (store->crls == NULL)
        store->crls = sk_X509_CRL_new_null();
    if (store->roots == NULL || store->crls == NULL)
        fatalx("tls: out of memory");
    store->trust = xcalloc(1, sizeof(*store->trust));
    return store;
}

struct tls_store *
tls_store_load_bundle(const char *blob, size_t len, tls_key_factory *make_key, void *arg, char *err,
                      size_t errlen)
{
    struct tls_src src;
    struct tls_store *store = NULL;

    if (tls_src_decode(&src, blob, len, err, errlen) == 0)
        store = store_build(&src, make_key, arg);
    tls_src_free(&src);
    return store;
}

char *
tls_bundle_export(const char *certdir, size_t *len, char *err, size_t errlen)
{
    struct tls_src src;
    char *blob = NULL;

    if (tls_src_read_dir(&src, certdir, false, err, errlen) == 0)
        blob = tls_src_encode(&src, len);
    tls_src_free(&src);
    return blob;
}

/* tls_store_load's factory: the keys the directory reader kept. */
static EVP_PKEY *
local_key(void *arg, X509 *leaf, const char *key_id)
{
    const struct tls_src *src = arg;

    for (size_t i = 0; i < src->ncerts; i++) {
        const struct tls_src_cert *c = &src->certs[i];
        if (c->key != NULL && strcmp(c->key_id, key_id) == 0) {
            if (EVP_PKEY_up_ref(c->key) != 1)
                return NULL;
            return c->key;
        }
    }
    return NULL;
}

struct tls_store *
tls_store_load(const char *certdir, char *err, size_t errlen)
{
    struct tls_src src;
    struct tls_store *store = NULL;
    char *blob;
    size_t len = 0;

    if (tls_src_read_dir(&src, certdir, true, err, errlen) == 0) {
        blob = tls_src_encode(&src, &len);
        store = tls_store_load_bundle(blob, len, local_key, &src, err, errlen);
        free(blob);
    }
    tls_src_free(&src);
    return store;
}

void
tls_store_free(struct tls_store *store)
{
    if (store == NULL)
        return;
    tls_client_free(store);
    for (size_t i = 0; i < store->ncerts; i++)
        cert_clear(&store->certs[i]);
    free(store->certs);
    free(store->certdir);
    pthread_mutex_destroy(&store->lock);
    free(store);
}
