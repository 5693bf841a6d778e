/*
 * tls_certs.h — managing the certificate store from the command line: what
 * Exchange's certificate cmdlets do (New-, Import-, Get-, Enable-,
 * Remove-ExchangeCertificate, and Windows' Import-Certificate for trust
 * anchors). The cmdlets in src/admin/cmdlet_cert.c are glue around this
 * API; it is implemented in src/tls by one file per cmdlet
 * (tls_certs_new.c, _import.c, _list.c, _enable.c, _remove.c, _trust.c)
 * on the layers that tls_certs_int.h declares.
 *
 * Layout of <certdir> (DIR/certs), beyond what tls.h describes:
 *
 *   <T>.pem, <T>.key        a certificate (+ chain) and its key (0600)
 *   <T>.smtp                marker: Enable-ExchangeCertificate -Services SMTP
 *                           was run for <T> (content "SMTP\n"). Selection
 *                           (tls_select_cert) prefers marked certificates
 *                           among those that are usable for a name.
 *   requests/<R>.key        the key of a pending PKCS#10 request (0600)
 *   requests/<R>.req        that request (PEM), so Get- can show it
 *   root/<T>.pem            one trusted CA certificate per file
 *   crl/<I>.pem             the newest CRL of one issuer
 *
 * <T> is a certificate's thumbprint (upper-case hex SHA-1 of its DER). <R>,
 * a pending request's identity, is the upper-case hex SHA-1 of the
 * request's public key (DER SubjectPublicKeyInfo): the CA's answer carries
 * the same public key, so importing it finds the key by that name. <I> is
 * the upper-case hex SHA-1 of the CRL issuer's DER name, so a newer CRL of
 * the same CA replaces the older one.
 *
 * Every write goes through a temporary file in the same directory, fsync,
 * then rename; certificates and keys never replace an existing file. When
 * run as root, new files and directories are given to the owner of
 * <certdir> (the service user, which must be able to read them). Changes
 * are serialised by flock(2) on <certdir>.
 *
 * Must never: write a key with a mode other than 0600, print or log key
 * material, store a certificate whose key does not match it, or leave the
 * store changed when an operation fails.
 */
#ifndef POSTERN_TLS_CERTS_H
#define POSTERN_TLS_CERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define TLS_THUMBPRINT_SIZE 41 /* 40 hex digits and a NUL */

enum tls_key_algorithm {
    TLS_KEY_RSA,
    TLS_KEY_ECDSA, /* P-256 */
};

/* What New-ExchangeCertificate makes. */
struct tls_new_cert {
    /* "CN=mail.contoso.com, O=Contoso, C=US" (S= is accepted for ST=, E=
     * for emailAddress); NULL: CN=<first name>. Attributes are encoded in
     * the conventional order DC, C, ST, L, O, OU, CN whatever order they
     * are written in (Exchange's own examples write "c=US, o=..., cn=..."). */
    const char *subject;
    /* SAN DNS names. None: the subject CN; without a CN either, fqdn (and,
     * for a self-signed certificate, its host part, as Setup does). The
     * subject CN is added to the SANs when missing there, since clients
     * ignore the CN of a certificate that has SANs. */
    const char *const *names;
    size_t nnames;
    const char *fqdn;
    enum tls_key_algorithm algorithm;
    int key_bits; /* RSA: 2048, 3072 or 4096; ECDSA: 256 (0: the default) */
    int years;    /* self-signed validity (0: 5, as Exchange 2010) */
    bool request; /* a PKCS#10 request instead of a certificate */
    bool request_der;
    bool enable_smtp; /* self-signed: write the <T>.smtp marker */
};

/* Creates a self-signed certificate (id: its thumbprint), or a pending
 * request (id: its request identity; *request and *request_len: the request,
 * PEM text or DER, malloc'd, for the caller to print or write). 0, or -1
 * with err set and nothing written. */
int tls_certs_new(const char *certdir, const struct tls_new_cert *spec,
                  char id[TLS_THUMBPRINT_SIZE], unsigned char **request, size_t *request_len,
                  char *err, size_t errlen);

/*
 * Import-ExchangeCertificate: path holds either
 *  - PEM: certificate(s) and a private key (PKCS#8, traditional, or
 *    encrypted with password), in any order, or a PKCS#7 bundle;
 *  - PEM or DER certificate(s), or PKCS#7, answering a pending request
 *    (the key is taken from requests/, which is then removed);
 *  - PKCS#12 (.pfx/.p12, recognised by content), decrypted with password
 *    (legacy RC2/3DES files as Windows exports them are accepted too).
 * The leaf is the certificate the key matches; the chain is stored in
 * issuer order without the self-signed root (a peer has its own), and
 * certificates of the file that belong to no chain are left out with a
 * warning. Refused: no certificate, no key (or not the certificate's), an
 * expired certificate, no DNS name, an RSA key under 2048 bits (OpenSSL's
 * default security level would refuse it), a certificate already stored.
 * Warned: not yet valid, no serverAuth in its extended key usage.
 * Warnings are lines ("\n"-separated) in warn. 0 with the thumbprint, or
 * -1 with err set and the store unchanged.
 */
struct tls_import_result {
    char thumbprint[TLS_THUMBPRINT_SIZE];
    bool completed_request; /* the key came from a pending request */
};
int tls_certs_import(const char *certdir, const char *path, const char *password,
                     struct tls_import_result *res, char *warn, size_t warnlen, char *err,
                     size_t errlen);

/* Get-ExchangeCertificate's Status (Exchange's names). */
enum tls_cert_status {
    TLS_CERT_VALID,
    TLS_CERT_UNTRUSTED,    /* no chain to a trusted root, and not self-signed */
    TLS_CERT_DATE_INVALID, /* the certificate (or its chain) is expired or not yet valid */
    TLS_CERT_REVOKED,      /* a CRL of crl/ revokes it (or a CA of its chain) */
    TLS_CERT_REVOCATION_CHECK_FAILURE, /* a CRL that applies is stale or broken */
    TLS_CERT_INVALID,                  /* anything else, or a key that does not match */
    TLS_CERT_PENDING_REQUEST,          /* requests/: waiting for the CA's answer */
};
const char *tls_cert_status_name(enum tls_cert_status st);

struct tls_cert_info {
    char thumbprint[TLS_THUMBPRINT_SIZE]; /* the request identity for a request */
    char *subject;                        /* "CN=mail.a.test, O=Contoso" */
    char *issuer;                         /* NULL for a request */
    char *serial;                         /* hex; NULL for a request */
    char **domains;                       /* CertificateDomains: SAN DNS names, else subject CNs */
    size_t ndomains;
    char **match_names; /* what selection matches: CNs and SAN DNS names, lower case */
    size_t nmatch_names;
    time_t not_before, not_after; /* 0 for a request */
    const char *key_algorithm;    /* "RSA", "ECDSA", "Ed25519" ... */
    int key_bits;
    bool has_private_key; /* present and matching */
    bool self_signed;
    bool smtp_enabled;
    enum tls_cert_status status;
    char *status_detail; /* why, when not Valid (one line), or NULL */
};

/* Every certificate of the store (sorted by thumbprint), then every pending
 * request, with its Status against the trusted roots (the system's and
 * root/) and the CRLs of crl/. 0, or -1 with err set. */
int tls_certs_list(const char *certdir, struct tls_cert_info **out, size_t *n, char *err,
                   size_t errlen);
void tls_certs_list_free(struct tls_cert_info *v, size_t n);

/* Does ci name domain (its CNs or SAN DNS names, "*." wildcards per RFC
 * 6125: one whole left-most label)? As selection matches a connector's
 * FQDN. */
bool tls_cert_info_names(const struct tls_cert_info *ci, const char *domain);

/* "a1 b2 c3...", "A1B2C3..." or with invisible characters pasted from the
 * Windows certificate dialog: 0 and the 40 upper-case hex digits, or -1. */
int tls_thumbprint_parse(const char *in, char out[TLS_THUMBPRINT_SIZE]);

/* Enable-ExchangeCertificate -Services SMTP: writes the <T>.smtp marker.
 * Refused for a certificate that is not in the store, has no matching
 * private key, or has expired. 0 (also when already enabled), or -1. */
int tls_certs_enable_smtp(const char *certdir, const char *thumbprint, char *err, size_t errlen);

/* Remove-ExchangeCertificate: removes <T>.pem, <T>.key and <T>.smtp, or a
 * pending request's files. 0, or -1 with err set (not found). */
int tls_certs_remove(const char *certdir, const char *thumbprint, char *err, size_t errlen);

/*
 * Import-Certificate -CertStoreLocation Cert:\LocalMachine\Root or \CA.
 * Every certificate of the file (PEM, DER or PKCS#7) goes to
 * root/<T>.pem, every CRL (PEM or DER) to crl/<I>.pem.
 *  - Root takes CA certificates (basicConstraints CA:TRUE) and self-signed
 *    ones (a partner's self-signed server certificate, say). A CA that is
 *    not self-signed is stored with a warning: OpenSSL does not take it as
 *    a trust anchor, only as a link towards one.
 *  - CA (Windows' intermediate store) takes CA certificates that are not
 *    self-signed, into root/ as well: in an OpenSSL store they are links
 *    for building chains, never anchors, so they add no trust. A
 *    self-signed certificate is refused there: it would become an anchor.
 * A private key (or PKCS#12) in the file is refused: a trust anchor never
 * needs one. A CRL's signature is checked when its issuer is known (root/
 * or the chains of the store); a CRL older than the stored one of the same
 * issuer is refused. Nothing is written unless everything in the file is
 * acceptable.
 */
enum tls_trust_location {
    TLS_TRUST_ROOT,
    TLS_TRUST_CA,
};
struct tls_trust_item {
    char id[TLS_THUMBPRINT_SIZE]; /* thumbprint, or the CRL's issuer id */
    char *subject;                /* the certificate's subject, or the CRL's issuer */
    bool crl;
    bool existed; /* the same certificate was already trusted */
};
int tls_certs_import_trust(const char *certdir, const char *path, enum tls_trust_location where,
                           struct tls_trust_item **items, size_t *nitems, char *warn,
                           size_t warnlen, char *err, size_t errlen);
void tls_trust_items_free(struct tls_trust_item *items, size_t n);

#endif
