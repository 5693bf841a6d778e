/*
 * tls_certs_import.c — Import-ExchangeCertificate (tls_certs.h): a
 * certificate with its private key, or the CA's answer to a pending
 * request, into the store, after the checks every stored certificate must
 * pass.
 *
 * Must never: store a certificate whose key does not match it, that has
 * expired or that names no DNS domain; read the administrator's file with
 * any rights but the administrator's; change the store when it refuses.
 */
#include "tls/tls_certs_int.h"
#include "lib/runas.h"
#include "lib/util.h"
#include "net/dns_name.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RSA_BITS_MIN 2048 /* OpenSSL security level 2, Debian's default */

/* Loads requests/<id>.key for the first certificate of the bundle whose
 * public key is a pending request's; that certificate is *leaf. */
static int
find_request_key(const char *certdir, struct tls_bundle *b, X509 **leaf, EVP_PKEY **key,
                 char req_id[TLS_THUMBPRINT_SIZE], char *err, size_t errlen)
{
    for (int i = 0; i < sk_X509_num(b->certs); i++) {
        X509 *x = sk_X509_value(b->certs, i);
        EVP_PKEY *pub = X509_get0_pubkey(x), *k;
        char *path;

        if (pub == NULL || tls_pubkey_id(pub, req_id) != 0)
            continue;
        path = xasprintf("%s/requests/%s.key", certdir, req_id);
        if (!tls_file_exists(path)) {
            free(path);
            continue;
        }
        k = tls_read_key_file(path, err, errlen);
        free(path);
        if (k == NULL)
            return -1;
        if (X509_check_private_key(x, k) != 1) {
            ERR_clear_error();
            EVP_PKEY_free(k);
            continue;
        }
        *leaf = x;
        *key = k;
        return 0;
    }
    ERR_clear_error();
    return 1;
}

/* The checks every certificate must pass before it enters the store. */
static int
check_leaf(X509 *leaf, EVP_PKEY *key, STACK_OF(X509) * chain, const char *path, char *warn,
           size_t warnlen, char *err, size_t errlen)
{
    char *subject = tls_dn_text(X509_get_subject_name(leaf)), date[64];
    GENERAL_NAMES *gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    char **domains = NULL;
    size_t ndomains = 0;
    bool named = false;
    int rc = -1;

    ERR_clear_error();
    if (X509_check_private_key(leaf, key) != 1) {
        ERR_clear_error();
        errorf(err, errlen, "%s: the private key does not match the certificate %s", path, subject);
        goto out;
    }
    if (X509_get_extension_flags(leaf) & EXFLAG_INVALID) {
        errorf(err, errlen, "%s: certificate %s has malformed extensions", path, subject);
        goto out;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0) {
        tls_asn1_iso_time(X509_get0_notAfter(leaf), date, sizeof(date));
        errorf(err, errlen, "%s: certificate %s expired on %s: not imported", path, subject, date);
        goto out;
    }
    if (X509_cmp_current_time(X509_get0_notBefore(leaf)) >= 0) {
        tls_asn1_iso_time(X509_get0_notBefore(leaf), date, sizeof(date));
        tls_appendmsg(warn, warnlen, "\n",
                      "certificate %s is not valid until %s: it will not be used before then",
                      subject, date);
    }
    tls_cert_domains(X509_get_subject_name(leaf), gens, &domains, &ndomains);
    for (size_t i = 0; i < ndomains; i++)
        named = named || dns_name_valid(domains[i], true);
    if (!named) {
        errorf(err, errlen,
               "%s: certificate %s names no DNS domain (no DNS SubjectAltName, no CN that is "
               "a domain name)",
               path, subject);
        goto out;
    }
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA && EVP_PKEY_get_bits(key) < RSA_BITS_MIN) {
        errorf(err, errlen,
               "%s: certificate %s has a %d-bit RSA key; TLS refuses keys under %d bits", path,
               subject, EVP_PKEY_get_bits(key), RSA_BITS_MIN);
        goto out;
    }
    if (!(X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER))
        tls_appendmsg(warn, warnlen, "\n",
                      "certificate %s is not for server authentication (its extended key usage "
                      "lacks serverAuth): STARTTLS will not use it",
                      subject);
    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *c = sk_X509_value(chain, i);
        if (X509_cmp_current_time(X509_get0_notAfter(c)) <= 0) {
            char *cs = tls_dn_text(X509_get_subject_name(c));
            tls_appendmsg(warn, warnlen, "\n",
                          "chain certificate %s has expired: peers will refuse the chain", cs);
            free(cs);
        }
    }
    rc = 0;
out:
    ERR_clear_error();
    tls_names_free(domains, ndomains);
    GENERAL_NAMES_free(gens);
    free(subject);
    return rc;
}

int
tls_certs_import(const char *certdir, const char *path, const char *password,
                 struct tls_import_result *res, char *warn, size_t warnlen, char *err,
                 size_t errlen)
{
    struct tls_bundle b;
    X509 *leaf = NULL;
    EVP_PKEY *key = NULL; /* owned by b, or by us when from a request */
    bool from_request = false;
    char req_id[TLS_THUMBPRINT_SIZE], tp[TLS_THUMBPRINT_SIZE];
    STACK_OF(X509) *chain = NULL;
    char *p;
    struct tls_owner o;
    int unused = 0, lockfd = -1, rc = -1, read_rc;

    errorf(err, errlen, "%s", "");
    memset(res, 0, sizeof(*res));
    /* the administrator's own file: read with the administrator's rights */
    runas_admin_begin();
    read_rc = tls_bundle_read(&b, path, password, warn, warnlen, err, errlen);
    runas_admin_end();
    if (read_rc != 0)
        goto out;
    if (sk_X509_num(b.certs) == 0) {
        errorf(err, errlen, "%s holds no certificate", path);
        goto out;
    }
    tls_owner_of(certdir, &o);
    if ((lockfd = tls_lock_store(certdir, err, errlen)) < 0)
        goto out;
    if (b.key != NULL) {
        key = b.key;
        for (int i = 0; i < sk_X509_num(b.certs) && leaf == NULL; i++)
            if (X509_check_private_key(sk_X509_value(b.certs, i), key) == 1)
                leaf = sk_X509_value(b.certs, i);
        ERR_clear_error();
        if (leaf == NULL) {
            char *s = tls_dn_text(X509_get_subject_name(sk_X509_value(b.certs, 0)));
            errorf(err, errlen, "%s: the private key does not match %s%s", path,
                   sk_X509_num(b.certs) > 1 ? "any certificate in it, such as "
                                            : "the certificate ",
                   s);
            free(s);
            goto out;
        }
    } else {
        int r = find_request_key(certdir, &b, &leaf, &key, req_id, err, errlen);
        if (r < 0)
            goto out;
        if (r > 0) {
            errorf(err, errlen,
                   "%s holds no private key, and no certificate in it answers a pending request "
                   "(New-ExchangeCertificate -GenerateRequest); import the certificate together "
                   "with its key (PEM with the key, or PKCS#12)",
                   path);
            goto out;
        }
        from_request = true;
    }
    chain = tls_order_chain(leaf, b.certs, &unused);
    if (unused > 0)
        tls_appendmsg(warn, warnlen, "\n",
                      "%d certificate(s) of %s belong to no chain of the imported certificate and "
                      "were not stored",
                      unused, path);
    if (check_leaf(leaf, key, chain, path, warn, warnlen, err, errlen) != 0)
        goto out;
    if (tls_thumbprint_of(leaf, tp) != 0) {
        errorf(err, errlen, "cannot compute the thumbprint");
        goto out;
    }
    p = xasprintf("%s/%s.pem", certdir, tp);
    if (tls_file_exists(p)) {
        errorf(err, errlen, "certificate %s is already in the store", tp);
        free(p);
        goto out;
    }
    free(p);
    if (tls_write_cert_pair(certdir, tp, key, leaf, chain, &o, err, errlen) != 0)
        goto out;
    tls_sync_dir(certdir);
    if (from_request) {
        /* The key now lives as <T>.key; the request is answered. */
        char *dir = xasprintf("%s/requests", certdir);
        tls_unlink_in(dir, req_id, ".key");
        tls_unlink_in(dir, req_id, ".req");
        tls_sync_dir(dir);
        free(dir);
    }
    memcpy(res->thumbprint, tp, sizeof(tp));
    res->completed_request = from_request;
    rc = 0;
out:
    if (lockfd >= 0)
        close(lockfd);
    if (from_request)
        EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
    tls_bundle_free(&b);
    return rc;
}
