/*
 * tls_certs_new.c — New-ExchangeCertificate (tls_certs.h): the subject and
 * DNS names by Exchange's defaults, a new key, then a self-signed
 * certificate into the store or a pending request into requests/.
 *
 * Must never: write anything before the names and the key size are
 * checked, or leave a key without its certificate or request when a later
 * step fails.
 */
#include "tls/tls_certs_int.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/dns_name.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_YEARS 5 /* Exchange 2010's self-signed certificate */
#define YEARS_MAX 100

/* The SAN DNS names and the subject of a new certificate or request, by
 * the defaults tls_certs.h describes. */
static int
resolve_names(const struct tls_new_cert *spec, X509_NAME **subject, char ***names, size_t *nnames,
              char *err, size_t errlen)
{
    char *cn = NULL;
    int rc = -1;

    *subject = NULL;
    *names = NULL;
    *nnames = 0;
    if (spec->subject != NULL && tls_parse_subject(spec->subject, subject, &cn, err, errlen) != 0)
        return -1;

    for (size_t i = 0; i < spec->nnames; i++) {
        char *s = xstrdup(spec->names[i]);
        str_lower(s);
        if (!dns_name_valid(s, true)) {
            errorf(err, errlen, "DomainName: \"%s\" is not a valid DNS name", spec->names[i]);
            free(s);
            goto out;
        }
        if (!tls_names_contain(*names, *nnames, s))
            tls_names_push(names, nnames, s);
        free(s);
    }
    if (cn != NULL) {
        bool dns = dns_name_valid(cn, true);
        if (*nnames == 0 && !dns) {
            errorf(err, errlen,
                   "SubjectName: CN=%s is not a DNS name, so it cannot be the certificate's "
                   "domain: give -DomainName",
                   cn);
            goto out;
        }
        /* Clients ignore the CN of a certificate with SANs: the CN must
         * be among them to count. */
        if (dns && !tls_names_contain(*names, *nnames, cn)) {
            char *s = xstrdup(cn);
            str_lower(s);
            *names = xrealloc(*names, (*nnames + 1) * sizeof(**names));
            memmove(*names + 1, *names, *nnames * sizeof(**names));
            (*names)[0] = s;
            (*nnames)++;
        }
    }
    if (*nnames == 0) {
        char host[64];
        size_t hl;

        if (spec->fqdn == NULL || !dns_name_valid(spec->fqdn, true)) {
            errorf(err, errlen, "no -DomainName given and no usable server Fqdn");
            goto out;
        }
        tls_names_push(names, nnames, spec->fqdn);
        str_lower((*names)[0]);
        /* The host part, as Setup's certificate has it (Exchange: the
         * NetBIOS name); not in a request, which a public CA would refuse
         * for a single-label name. */
        hl = strcspn(spec->fqdn, ".");
        if (!spec->request && spec->fqdn[hl] == '.' && hl < sizeof(host) &&
            !(hl == 1 && spec->fqdn[0] == '*')) {
            memcpy(host, spec->fqdn, hl);
            host[hl] = '\0';
            str_lower(host);
            tls_names_push(names, nnames, host);
        }
    }
    if (*subject == NULL) {
        if (strlen((*names)[0]) > CN_MAX) {
            errorf(err, errlen,
                   "\"%s\" is longer than the %d characters a CN allows: give -SubjectName",
                   (*names)[0], CN_MAX);
            goto out;
        }
        *subject = X509_NAME_new();
        if (*subject == NULL ||
            X509_NAME_add_entry_by_txt(*subject, "CN", MBSTRING_UTF8,
                                       (const unsigned char *)(*names)[0], -1, -1, 0) != 1)
            fatalx("tls: cannot build a subject name");
    }
    rc = 0;
out:
    free(cn);
    if (rc != 0) {
        X509_NAME_free(*subject);
        *subject = NULL;
        tls_names_free(*names, *nnames);
        *names = NULL;
        *nnames = 0;
    }
    return rc;
}

static unsigned char *
bio_copy(BIO *bio, size_t *len)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    unsigned char *out;

    if (n <= 0)
        return NULL;
    out = xmalloc((size_t)n + 1);
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    *len = (size_t)n;
    return out;
}

static int
new_request(const char *certdir, const struct tls_new_cert *spec, EVP_PKEY *pkey,
            const X509_NAME *subject, char *const *names, size_t nnames,
            char id[TLS_THUMBPRINT_SIZE], unsigned char **request, size_t *request_len,
            const struct tls_owner *o, char *err, size_t errlen)
{
    char *dir = xasprintf("%s/requests", certdir), *keyname = NULL, *reqname = NULL, e[256];
    X509_REQ *req = NULL;
    BIO *pem = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
    unsigned char *text = NULL;
    size_t textlen = 0;
    int rc = -1;

    if (pem == NULL || out == NULL)
        fatalx("tls: out of memory");
    if ((req = tls_build_request(pkey, subject, (const char *const *)names, nnames)) == NULL ||
        tls_pubkey_id(pkey, id) != 0) {
        errorf(err, errlen, "cannot build the certificate request: %s",
               tls_last_error(e, sizeof(e)));
        goto out;
    }
    if (PEM_write_bio_X509_REQ(pem, req) != 1 ||
        (spec->request_der ? i2d_X509_REQ_bio(out, req) : PEM_write_bio_X509_REQ(out, req)) != 1 ||
        (text = bio_copy(pem, &textlen)) == NULL ||
        (*request = bio_copy(out, request_len)) == NULL) {
        errorf(err, errlen, "cannot encode the certificate request: %s",
               tls_last_error(e, sizeof(e)));
        goto out;
    }
    if (tls_ensure_dir(dir, o, err, errlen) != 0)
        goto out;
    keyname = xasprintf("%s.key", id);
    reqname = xasprintf("%s.req", id);
    if (tls_write_key(dir, keyname, pkey, o, err, errlen) != 0)
        goto out;
    if (tls_write_file_atomic(dir, reqname, text, textlen, 0644, false, o, err, errlen) != 0) {
        char *p = xasprintf("%s/%s", dir, keyname);
        unlink(p);
        free(p);
        goto out;
    }
    tls_sync_dir(dir);
    rc = 0;
out:
    if (rc != 0) {
        free(*request);
        *request = NULL;
        *request_len = 0;
    }
    free(text);
    free(keyname);
    free(reqname);
    free(dir);
    BIO_free(pem);
    BIO_free(out);
    X509_REQ_free(req);
    return rc;
}

static int
new_selfsigned(const char *certdir, const struct tls_new_cert *spec, EVP_PKEY *pkey,
               const X509_NAME *subject, char *const *names, size_t nnames,
               char id[TLS_THUMBPRINT_SIZE], const struct tls_owner *o, char *err, size_t errlen)
{
    int years = spec->years == 0 ? DEFAULT_YEARS : spec->years;
    char e[256];
    X509 *x = NULL;
    int rc = -1;

    if (years < 1 || years > YEARS_MAX) {
        errorf(err, errlen, "validity of %d years is outside 1..%d", years, YEARS_MAX);
        return -1;
    }
    if ((x = tls_build_selfsigned(pkey, subject, (const char *const *)names, nnames, years)) ==
            NULL ||
        tls_thumbprint_of(x, id) != 0) {
        errorf(err, errlen, "cannot build the certificate: %s", tls_last_error(e, sizeof(e)));
        goto out;
    }
    if (tls_write_cert_pair(certdir, id, pkey, x, NULL, o, err, errlen) != 0)
        goto out;
    if (spec->enable_smtp && tls_write_smtp_marker(certdir, id, o, err, errlen) != 0) {
        tls_unlink_in(certdir, id, ".pem");
        tls_unlink_in(certdir, id, ".key");
        goto out;
    }
    tls_sync_dir(certdir);
    rc = 0;
out:
    X509_free(x);
    return rc;
}

int
tls_certs_new(const char *certdir, const struct tls_new_cert *spec, char id[TLS_THUMBPRINT_SIZE],
              unsigned char **request, size_t *request_len, char *err, size_t errlen)
{
    X509_NAME *subject = NULL;
    char **names = NULL, e[256];
    size_t nnames = 0;
    EVP_PKEY *pkey = NULL;
    struct tls_owner o;
    int bits = spec->key_bits, lockfd = -1, rc = -1;

    errorf(err, errlen, "%s", "");
    if (request != NULL)
        *request = NULL;
    if (request_len != NULL)
        *request_len = 0;
    if (spec->request && (request == NULL || request_len == NULL)) {
        errorf(err, errlen, "no place for the request");
        return -1;
    }
    if (spec->algorithm == TLS_KEY_ECDSA) {
        if (bits != 0 && bits != 256) {
            errorf(err, errlen, "KeySize: ECDSA keys are P-256 (256 bits)");
            return -1;
        }
    } else {
        if (bits == 0)
            bits = 2048;
        if (bits != 2048 && bits != 3072 && bits != 4096) {
            errorf(err, errlen, "KeySize: %d is not 2048, 3072 or 4096", bits);
            return -1;
        }
    }
    if (resolve_names(spec, &subject, &names, &nnames, err, errlen) != 0)
        return -1;
    tls_owner_of(certdir, &o);
    if ((lockfd = tls_lock_store(certdir, err, errlen)) < 0)
        goto out;
    ERR_clear_error();
    if ((pkey = tls_generate_key(spec->algorithm, bits)) == NULL) {
        errorf(err, errlen, "cannot generate the key: %s", tls_last_error(e, sizeof(e)));
        goto out;
    }
    if (spec->request)
        rc = new_request(certdir, spec, pkey, subject, names, nnames, id, request, request_len, &o,
                         err, errlen);
    else
        rc = new_selfsigned(certdir, spec, pkey, subject, names, nnames, id, &o, err, errlen);
out:
    if (lockfd >= 0)
        close(lockfd);
    EVP_PKEY_free(pkey);
    X509_NAME_free(subject);
    tls_names_free(names, nnames);
    return rc;
}
