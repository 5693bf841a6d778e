/*
 * tls_certs_trust.c — Import-Certificate (tls_certs.h): trusted roots and
 * intermediates into root/, CRLs into crl/, which the service reads as
 * its trust when the store loads (tls_store_src.c).
 *
 * Must never: take a private key, make a certificate an anchor through the
 * intermediate store, replace a CRL with an older one, or import part of a
 * file: everything in it is checked before anything is written.
 */
#include "tls/tls_certs_int.h"
#include "lib/log.h"
#include "lib/runas.h"
#include "lib/util.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
tls_trust_items_free(struct tls_trust_item *items, size_t n)
{
    for (size_t i = 0; items != NULL && i < n; i++)
        free(items[i].subject);
    free(items);
}

static bool
is_ca(X509 *x)
{
    return (X509_get_extension_flags(x) & EXFLAG_CA) != 0;
}

/* The certificate among pools that issued crl, or NULL. */
static X509 *
crl_issuer(X509_CRL *crl, STACK_OF(X509) *const *pools, size_t npools)
{
    for (size_t p = 0; p < npools; p++)
        for (int i = 0; pools[p] != NULL && i < sk_X509_num(pools[p]); i++) {
            X509 *x = sk_X509_value(pools[p], i);
            if (X509_NAME_cmp(X509_get_subject_name(x), X509_CRL_get_issuer(crl)) == 0)
                return x;
        }
    return NULL;
}

static int
check_trust_cert(X509 *x, enum tls_trust_location where, const char *path, char *warn,
                 size_t warnlen, char *err, size_t errlen)
{
    char *subject = tls_dn_text(X509_get_subject_name(x)), date[64];
    bool ss = tls_self_signed(x), ca = is_ca(x);
    int rc = -1;

    if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
        tls_asn1_iso_time(X509_get0_notAfter(x), date, sizeof(date));
        errorf(err, errlen, "%s: certificate %s expired on %s", path, subject, date);
        goto out;
    }
    if (where == TLS_TRUST_ROOT) {
        if (!ca && !ss) {
            errorf(err, errlen,
                   "%s: certificate %s is neither a CA (basicConstraints CA:TRUE) nor "
                   "self-signed: it cannot be a trusted root",
                   path, subject);
            goto out;
        }
        if (!ss)
            tls_appendmsg(
                warn, warnlen, "\n",
                "certificate %s is not self-signed: it is trusted only through a root that "
                "issued it (import that root too)",
                subject);
    } else {
        if (ss) {
            errorf(err, errlen,
                   "%s: certificate %s is self-signed: a root belongs in "
                   "Cert:\\LocalMachine\\Root",
                   path, subject);
            goto out;
        }
        if (!ca) {
            errorf(err, errlen,
                   "%s: certificate %s is not a CA (basicConstraints CA:TRUE): it cannot be an "
                   "intermediate",
                   path, subject);
            goto out;
        }
    }
    rc = 0;
out:
    free(subject);
    return rc;
}

/* Checks one CRL: returns 1 when the same or a newer CRL is stored (with
 * that noted), 0 to write it, -1 to refuse. */
static int
check_trust_crl(X509_CRL *crl, const char *crldir, const char *id, STACK_OF(X509) *const *pools,
                size_t npools, const char *path, char *warn, size_t warnlen, char *err,
                size_t errlen)
{
    char *issuer = tls_dn_text(X509_CRL_get_issuer(crl)),
         *stored = xasprintf("%s/%s.pem", crldir, id);
    X509_CRL *old = tls_file_exists(stored) ? tls_read_crl_file(stored) : NULL;
    X509 *ca = crl_issuer(crl, pools, npools);
    const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
    int rc = -1;

    if (ca != NULL) {
        EVP_PKEY *pk = X509_get0_pubkey(ca);
        if (pk == NULL || X509_CRL_verify(crl, pk) != 1) {
            ERR_clear_error();
            errorf(err, errlen, "%s: the CRL's signature does not verify with the key of %s", path,
                   issuer);
            goto out;
        }
    } else {
        tls_appendmsg(warn, warnlen, "\n",
                      "no trusted certificate of %s is known yet: its CRL applies once that CA is "
                      "imported (Import-Certificate)",
                      issuer);
    }
    if (next != NULL && X509_cmp_current_time(next) <= 0)
        tls_appendmsg(
            warn, warnlen, "\n",
            "the CRL of %s is out of date (nextUpdate passed): certificates of this CA fail "
            "revocation checks until a newer CRL is imported",
            issuer);
    if (old != NULL) {
        int cmp = ASN1_TIME_compare(X509_CRL_get0_lastUpdate(old), X509_CRL_get0_lastUpdate(crl));
        if (cmp > 0) {
            errorf(err, errlen, "%s: the stored CRL of %s is newer than this one", path, issuer);
            goto out;
        }
        if (cmp == 0 && X509_CRL_cmp(old, crl) == 0) {
            rc = 1;
            goto out;
        }
    }
    rc = 0;
out:
    X509_CRL_free(old);
    free(stored);
    free(issuer);
    return rc;
}

int
tls_certs_import_trust(const char *certdir, const char *path, enum tls_trust_location where,
                       struct tls_trust_item **items, size_t *nitems, char *warn, size_t warnlen,
                       char *err, size_t errlen)
{
    char *rootdir = xasprintf("%s/root", certdir), *crldir = xasprintf("%s/crl", certdir);
    struct tls_store *store = NULL;
    STACK_OF(X509) *chains = sk_X509_new_null();
    struct tls_trust_item *v = NULL;
    size_t n = 0, written = 0;
    struct tls_bundle b;
    struct tls_owner o;
    int lockfd = -1, rc = -1, read_rc;

    *items = NULL;
    *nitems = 0;
    errorf(err, errlen, "%s", "");
    if (chains == NULL)
        fatalx("tls: out of memory");
    /* No password: anything encrypted is a key, and is refused anyway;
     * the administrator's own file is read with the administrator's rights. */
    runas_admin_begin();
    read_rc = tls_bundle_read(&b, path, NULL, warn, warnlen, err, errlen);
    runas_admin_end();
    if (read_rc != 0) {
        if (b.key_material)
            errorf(err, errlen,
                   "%s holds a private key: a trusted certificate never needs one; import only "
                   "the certificate",
                   path);
        goto out;
    }
    if (b.key_material) {
        errorf(err, errlen,
               "%s holds a private key: a trusted certificate never needs one; import only the "
               "certificate",
               path);
        goto out;
    }
    if (sk_X509_num(b.certs) == 0 && sk_X509_CRL_num(b.crls) == 0) {
        errorf(err, errlen, "%s holds no certificate and no CRL", path);
        goto out;
    }
    tls_owner_of(certdir, &o);
    if ((lockfd = tls_lock_store(certdir, err, errlen)) < 0)
        goto out;
    if ((store = tls_store_load(certdir, err, errlen)) == NULL)
        goto out;
    for (size_t i = 0; i < store->ncerts; i++)
        for (int j = 0; j < sk_X509_num(store->certs[i].chain); j++)
            if (sk_X509_push(chains, sk_X509_value(store->certs[i].chain, j)) <= 0)
                fatalx("tls: out of memory");

    /* Check everything first: a file is imported whole or not at all. */
    v = xcalloc((size_t)(sk_X509_num(b.certs) + sk_X509_CRL_num(b.crls)), sizeof(*v));
    for (int i = 0; i < sk_X509_num(b.certs); i++) {
        X509 *x = sk_X509_value(b.certs, i);
        struct tls_trust_item *it = &v[n++];
        char *p;

        if (check_trust_cert(x, where, path, warn, warnlen, err, errlen) != 0 ||
            tls_thumbprint_of(x, it->id) != 0)
            goto out;
        it->subject = tls_dn_text(X509_get_subject_name(x));
        p = xasprintf("%s/%s.pem", rootdir, it->id);
        it->existed = tls_file_exists(p);
        free(p);
    }
    for (int i = 0; i < sk_X509_CRL_num(b.crls); i++) {
        X509_CRL *crl = sk_X509_CRL_value(b.crls, i);
        STACK_OF(X509) *const pools[] = {b.certs, store->roots, chains};
        struct tls_trust_item *it = &v[n++];
        int r;

        it->crl = true;
        it->subject = tls_dn_text(X509_CRL_get_issuer(crl));
        if (tls_name_id(X509_CRL_get_issuer(crl), it->id) != 0) {
            errorf(err, errlen, "%s: cannot read the CRL's issuer", path);
            goto out;
        }
        for (size_t j = 0; j + 1 < n; j++) {
            if (v[j].crl && strcmp(v[j].id, it->id) == 0) {
                errorf(err, errlen, "%s holds two CRLs of %s: import the newest only", path,
                       it->subject);
                goto out;
            }
        }
        r = check_trust_crl(crl, crldir, it->id, pools, sizeof(pools) / sizeof(pools[0]), path,
                            warn, warnlen, err, errlen);
        if (r < 0)
            goto out;
        it->existed = r > 0;
    }

    if ((sk_X509_num(b.certs) > 0 && tls_ensure_dir(rootdir, &o, err, errlen) != 0) ||
        (sk_X509_CRL_num(b.crls) > 0 && tls_ensure_dir(crldir, &o, err, errlen) != 0))
        goto out;
    for (written = 0; written < n; written++) {
        struct tls_trust_item *it = &v[written];
        int r;

        if (it->existed)
            continue;
        if (!it->crl) {
            char *name = xasprintf("%s.pem", it->id);
            r = tls_write_certs(rootdir, name, sk_X509_value(b.certs, (int)written), NULL, &o, err,
                                errlen);
            free(name);
        } else {
            r = tls_write_crl(crldir, it->id,
                              sk_X509_CRL_value(b.crls, (int)written - sk_X509_num(b.certs)), &o,
                              err, errlen);
        }
        if (r != 0) {
            /* Take back the certificates this run added (a replaced CRL
             * cannot be put back, but the CRL is the last written). */
            for (size_t j = 0; j < written; j++)
                if (!v[j].existed && !v[j].crl)
                    tls_unlink_in(rootdir, v[j].id, ".pem");
            goto out;
        }
    }
    tls_sync_dir(rootdir);
    tls_sync_dir(crldir);
    *items = v;
    *nitems = n;
    v = NULL;
    n = 0;
    rc = 0;
out:
    if (lockfd >= 0)
        close(lockfd);
    tls_trust_items_free(v, n);
    sk_X509_free(chains);
    tls_store_free(store);
    tls_bundle_free(&b);
    free(rootdir);
    free(crldir);
    return rc;
}
