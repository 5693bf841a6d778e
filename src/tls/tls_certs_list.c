/*
 * tls_certs_list.c — Get-ExchangeCertificate (tls_certs.h): every
 * certificate as the service would load it (tls_store_load), with its
 * Status against the trust of the service's client side, then the pending
 * requests.
 *
 * Must never: change the store, or show key material.
 */
#include "tls/tls_certs_int.h"
#include "lib/log.h"
#include "lib/util.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *
tls_cert_status_name(enum tls_cert_status st)
{
    switch (st) {
    case TLS_CERT_VALID:
        return "Valid";
    case TLS_CERT_UNTRUSTED:
        return "Untrusted";
    case TLS_CERT_DATE_INVALID:
        return "DateInvalid";
    case TLS_CERT_REVOKED:
        return "Revoked";
    case TLS_CERT_REVOCATION_CHECK_FAILURE:
        return "RevocationCheckFailure";
    case TLS_CERT_INVALID:
        return "Invalid";
    case TLS_CERT_PENDING_REQUEST:
        return "PendingRequest";
    }
    return "Unknown";
}

/* The trust the service's client side uses (tls_trust_apply): the
 * system's CAs, root/ and crl/, and the callback that ignores CAs without a
 * CRL and keeps the first error. */
static X509_STORE *
trust_store(const struct tls_store *store)
{
    X509_STORE *xs = tls_trust_store_new(store);

    if (xs != NULL)
        X509_STORE_set_verify_cb(xs, tls_verify_continue);
    return xs;
}

static enum tls_cert_status
status_of_error(int e)
{
    switch (e) {
    case X509_V_OK:
        return TLS_CERT_VALID;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return TLS_CERT_DATE_INVALID;
    case X509_V_ERR_CERT_REVOKED:
        return TLS_CERT_REVOKED;
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
    case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
    case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
    case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
    case X509_V_ERR_DIFFERENT_CRL_SCOPE:
    case X509_V_ERR_CRL_PATH_VALIDATION_ERROR:
        return TLS_CERT_REVOCATION_CHECK_FAILURE;
    default:
        return tls_verify_untrusted(e) ? TLS_CERT_UNTRUSTED : TLS_CERT_INVALID;
    }
}

static enum tls_cert_status
cert_status(struct tls_cert *c, X509_STORE *xs, char **detail)
{
    X509_STORE_CTX *xc;
    time_t now = time(NULL);
    char date[64];
    int e;

    *detail = NULL;
    if (c->key_state == KEY_MISMATCH || c->key_state == KEY_UNREADABLE) {
        *detail = xstrdup(c->key_state == KEY_MISMATCH ? "its private key does not match it"
                                                       : "its private key cannot be read");
        return TLS_CERT_INVALID;
    }
    /* The certificate's own dates first: an expired certificate is
     * DateInvalid whatever else is wrong with it, as Exchange shows it. */
    if (now < c->not_before || now > c->not_after) {
        tls_iso_time(now < c->not_before ? c->not_before : c->not_after, date, sizeof(date));
        *detail = xasprintf(now < c->not_before ? "not valid before %s" : "expired on %s", date);
        return TLS_CERT_DATE_INVALID;
    }
    /* Exchange shows its own self-signed certificates as Valid. */
    if (c->self_signed)
        return TLS_CERT_VALID;
    if (xs == NULL || (xc = X509_STORE_CTX_new()) == NULL) {
        *detail = xstrdup("cannot set up chain verification");
        return TLS_CERT_INVALID;
    }
    if (X509_STORE_CTX_init(xc, xs, c->leaf, c->chain) != 1 || X509_verify_cert(xc) < 0) {
        X509_STORE_CTX_free(xc);
        ERR_clear_error();
        *detail = xstrdup("chain verification failed");
        return TLS_CERT_INVALID;
    }
    e = X509_STORE_CTX_get_error(xc);
    X509_STORE_CTX_free(xc);
    ERR_clear_error();
    if (e != X509_V_OK)
        *detail = xstrdup(X509_verify_cert_error_string(e));
    return status_of_error(e);
}

static const char *
key_algorithm_name(const EVP_PKEY *pk)
{
    switch (pk != NULL ? EVP_PKEY_get_base_id(pk) : EVP_PKEY_NONE) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
        return "RSA";
    case EVP_PKEY_EC:
        return "ECDSA";
    case EVP_PKEY_ED25519:
        return "Ed25519";
    case EVP_PKEY_ED448:
        return "Ed448";
    case EVP_PKEY_DSA:
        return "DSA";
    default:
        return "Unknown";
    }
}

static char *
serial_hex(const X509 *x)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL, *out;

    out = xstrdup(hex != NULL ? hex : "");
    OPENSSL_free(hex);
    BN_free(bn);
    return out;
}

static void
info_from_cert(struct tls_cert_info *ci, struct tls_cert *c, X509_STORE *xs, const char *certdir)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(c->leaf, NID_subject_alt_name, NULL, NULL);
    EVP_PKEY *pk = X509_get0_pubkey(c->leaf);

    ERR_clear_error();
    memcpy(ci->thumbprint, c->thumbprint, sizeof(ci->thumbprint));
    ci->subject = tls_dn_text(X509_get_subject_name(c->leaf));
    ci->issuer = tls_dn_text(X509_get_issuer_name(c->leaf));
    ci->serial = serial_hex(c->leaf);
    tls_cert_domains(X509_get_subject_name(c->leaf), gens, &ci->domains, &ci->ndomains);
    for (size_t i = 0; i < c->nnames; i++)
        tls_names_push(&ci->match_names, &ci->nmatch_names, c->names[i]);
    ci->not_before = c->not_before;
    ci->not_after = c->not_after;
    ci->key_algorithm = key_algorithm_name(pk);
    ci->key_bits = pk != NULL ? EVP_PKEY_get_bits(pk) : 0;
    ci->has_private_key = c->key_state == KEY_OK;
    ci->self_signed = c->self_signed;
    ci->smtp_enabled = tls_certs_smtp_enabled(certdir, c->thumbprint);
    ci->status = cert_status(c, xs, &ci->status_detail);
    GENERAL_NAMES_free(gens);
}

static int
req_filter(const struct dirent *d)
{
    size_t n = strlen(d->d_name);

    return d->d_name[0] != '.' && n == THUMBPRINT_LEN + 4 &&
           strcmp(d->d_name + THUMBPRINT_LEN, ".req") == 0;
}

/* Pending requests, as Exchange lists them: Status PendingRequest. */
static void
list_requests(const char *certdir, struct tls_cert_info **v, size_t *n)
{
    char *dir = xasprintf("%s/requests", certdir);
    struct dirent **ents = NULL;
    int m = scandir(dir, &ents, req_filter, alphasort);

    for (int i = 0; i < m; i++) {
        char *path = xasprintf("%s/%s", dir, ents[i]->d_name);
        BIO *bio = BIO_new_file(path, "r");
        X509_REQ *req =
            bio != NULL ? PEM_read_bio_X509_REQ(bio, NULL, tls_no_passphrase, NULL) : NULL;

        ERR_clear_error();
        if (req == NULL) {
            log_warnx("tls: skipping %s: not a certificate request", path);
        } else {
            struct tls_cert_info *ci;
            GENERAL_NAMES *gens = tls_req_sans(req);
            EVP_PKEY *pk = X509_REQ_get0_pubkey(req);

            *v = xrealloc(*v, (*n + 1) * sizeof(**v));
            ci = &(*v)[(*n)++];
            memset(ci, 0, sizeof(*ci));
            memcpy(ci->thumbprint, ents[i]->d_name, THUMBPRINT_LEN);
            ci->thumbprint[THUMBPRINT_LEN] = '\0';
            ci->subject = tls_dn_text(X509_REQ_get_subject_name(req));
            tls_cert_domains(X509_REQ_get_subject_name(req), gens, &ci->domains, &ci->ndomains);
            tls_names_push_cns(X509_REQ_get_subject_name(req), &ci->match_names, &ci->nmatch_names,
                               true);
            tls_names_push_sans(gens, &ci->match_names, &ci->nmatch_names, true);
            ci->key_algorithm = key_algorithm_name(pk);
            ci->key_bits = pk != NULL ? EVP_PKEY_get_bits(pk) : 0;
            {
                char *kp = xasprintf("%s/%s.key", dir, ci->thumbprint);
                ci->has_private_key = tls_file_exists(kp);
                free(kp);
            }
            ci->status = TLS_CERT_PENDING_REQUEST;
            GENERAL_NAMES_free(gens);
        }
        X509_REQ_free(req);
        BIO_free(bio);
        free(path);
        free(ents[i]);
    }
    free(ents);
    free(dir);
}

int
tls_certs_list(const char *certdir, struct tls_cert_info **out, size_t *n, char *err, size_t errlen)
{
    struct tls_store *store;
    X509_STORE *xs;

    *out = NULL;
    *n = 0;
    errorf(err, errlen, "%s", "");
    if ((store = tls_store_load(certdir, err, errlen)) == NULL)
        return -1;
    xs = trust_store(store);
    ERR_clear_error();
    if (store->ncerts > 0)
        *out = xcalloc(store->ncerts, sizeof(**out));
    for (size_t i = 0; i < store->ncerts; i++)
        info_from_cert(&(*out)[(*n)++], &store->certs[i], xs, certdir);
    X509_STORE_free(xs);
    tls_store_free(store);
    list_requests(certdir, out, n);
    return 0;
}

void
tls_certs_list_free(struct tls_cert_info *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].subject);
        free(v[i].issuer);
        free(v[i].serial);
        tls_names_free(v[i].domains, v[i].ndomains);
        tls_names_free(v[i].match_names, v[i].nmatch_names);
        free(v[i].status_detail);
    }
    free(v);
}
