/*
 * tls_certs_int.h — internals shared by the files that manage the
 * certificate store: the cmdlet back end (tls_certs_*.c, the API of
 * tls_certs.h) and the layers beneath it. The arrows point down: the cmdlet
 * back end calls the layers and the runtime store (tls_store_load, tls.c);
 * the runtime store calls the layers only (what it uses of them is declared
 * in tls_int.h); a layer calls only the layers listed before it here.
 *
 * Must never: be included outside src/tls (it pulls in OpenSSL headers), or
 * declare anything of the cmdlet back end: that is tls_certs.h.
 */
#ifndef POSTERN_TLS_CERTS_INT_H
#define POSTERN_TLS_CERTS_INT_H

#include "tls/tls_certs.h"
#include "tls/tls_int.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* RFC 5280 ub-common-name: a longer name cannot be a subject CN. */
#define CN_MAX 64

/*
 * tls_files.c: the file operations of every change (tls_sync_dir and
 * struct tls_owner are in tls_int.h)
 */

/* Who new files belong to: when we run as root, the owner of certdir
 * (the service user reads them after dropping privileges). */
void tls_owner_of(const char *certdir, struct tls_owner *o);

/* dir/name through a temporary file in the same directory (a crash leaves
 * no file or a whole one; the leading '.' keeps the loaders away from it),
 * fsynced, with mode whatever the umask; o (may be NULL) gives the file
 * away. Without replace, an existing dir/name is never replaced ("... already
 * exists"). 0, or -1 with the reason in err. */
int tls_write_file_atomic(const char *dir, const char *name, const void *data, size_t len,
                          mode_t mode, bool replace, const struct tls_owner *o, char *err,
                          size_t errlen);

/* mkdir path 0700, given to o when it is new; an existing one is fine. */
int tls_ensure_dir(const char *path, const struct tls_owner *o, char *err, size_t errlen);

/* One change of the store at a time: two imports of the same file would
 * otherwise race between the existence check and the rename. Returns the
 * locked descriptor (close it to unlock), or -1. */
int tls_lock_store(const char *certdir, char *err, size_t errlen);

/* Is there anything at path (a symbolic link counts)? */
bool tls_file_exists(const char *path);

/* Reads a whole regular file of at most max bytes into memory that is
 * cleansed when freed (OPENSSL_secure_clear_free(*buf, *len + 1)): it may
 * hold a key. NUL-terminated. 0, or -1 with err set. */
int tls_read_secure(const char *path, size_t max, unsigned char **buf, size_t *len, char *err,
                    size_t errlen);

/* Removes dir/<thumbprint><suffix>; a missing file is not an error, any
 * other failure is logged. */
void tls_unlink_in(const char *dir, const char *thumbprint, const char *suffix);

/*
 * tls_pem_io.c: the store's PEM files (tls_write_cert_pair is in tls_int.h)
 */

/* A stored private key (never encrypted: no passphrase is asked). NULL
 * with err set. */
EVP_PKEY *tls_read_key_file(const char *path, char *err, size_t errlen);

/* pkey as dir/name, PEM, mode 0600, never replacing a file. */
int tls_write_key(const char *dir, const char *name, EVP_PKEY *pkey, const struct tls_owner *o,
                  char *err, size_t errlen);

/* leaf, then chain (may be NULL), as one PEM file dir/name (0644), never
 * replacing a file. */
int tls_write_certs(const char *dir, const char *name, X509 *leaf, STACK_OF(X509) * chain,
                    const struct tls_owner *o, char *err, size_t errlen);

/* A stored CRL, or NULL (missing or unreadable). */
X509_CRL *tls_read_crl_file(const char *path);

/* crl as dir/<id>.pem (0644), replacing the older CRL of the same issuer. */
int tls_write_crl(const char *dir, const char *id, X509_CRL *crl, const struct tls_owner *o,
                  char *err, size_t errlen);

/*
 * tls_smtp_marker.c (the reader, tls_certs_smtp_enabled, is in tls_int.h)
 */

/* Writes <certdir>/<thumbprint>.smtp, replacing one already there. */
int tls_write_smtp_marker(const char *certdir, const char *thumbprint, const struct tls_owner *o,
                          char *err, size_t errlen);

/*
 * tls_text.c: certificate fields as text
 */

/* "CN=mail.a.test, O=Contoso": RFC 2253 order with Exchange's ", "
 * separator, control characters escaped. Malloc'd; "" when it cannot be
 * printed. */
char *tls_dn_text(const X509_NAME *name);

/* "2031-01-02T03:04:05Z", or "an unknown date". */
void tls_iso_time(time_t t, char *buf, size_t len);
void tls_asn1_iso_time(const ASN1_TIME *at, char *buf, size_t len);

/*
 * tls_names.c: names and identities
 */

/* A pending request's identity: SHA-1 of the public key's DER, which the
 * CA's answer carries unchanged. 0, or -1. */
int tls_pubkey_id(const EVP_PKEY *pkey, char out[TLS_THUMBPRINT_SIZE]);
/* A CRL issuer's identity: SHA-1 of its name's DER. 0, or -1. */
int tls_name_id(const X509_NAME *name, char out[TLS_THUMBPRINT_SIZE]);

/* Lists of malloc'd names: append a copy, free, look up (ignoring case). */
void tls_names_push(char ***v, size_t *n, const char *s);
void tls_names_free(char **v, size_t n);
bool tls_names_contain(char *const *v, size_t n, const char *s);

/* Append the subject's CNs, or the DNS names of gens (may be NULL), that v
 * does not hold yet, lower-cased when lower. A name with an embedded NUL
 * is left out. */
void tls_names_push_cns(const X509_NAME *subject, char ***v, size_t *n, bool lower);
void tls_names_push_sans(const GENERAL_NAMES *gens, char ***v, size_t *n, bool lower);

/* CertificateDomains: the SAN DNS names, else the subject CNs. */
void tls_cert_domains(const X509_NAME *subject, const GENERAL_NAMES *gens, char ***v, size_t *n);

/* The subjectAltName extension a request asks for, or NULL. */
GENERAL_NAMES *tls_req_sans(X509_REQ *req);

/*
 * tls_bundle.c: a file an administrator hands over
 */

struct tls_bundle {
    STACK_OF(X509) * certs; /* each certificate once, in file order */
    STACK_OF(X509_CRL) * crls;
    EVP_PKEY *key;
    int nkeys;
    bool key_material; /* a private key block or PKCS#12 was seen */
};

/* Reads path into b: PEM when it has a "-----BEGIN " line (certificates,
 * PKCS#7, CRLs, a private key, decrypted with password), else DER
 * (certificate, PKCS#12 decrypted with password, PKCS#7 or CRL). Blocks
 * of other types are skipped with a warning in warn. 0, or -1 with err
 * set; free b with tls_bundle_free either way. */
int tls_bundle_read(struct tls_bundle *b, const char *path, const char *password, char *warn,
                    size_t warnlen, char *err, size_t errlen);
void tls_bundle_free(struct tls_bundle *b);

/*
 * tls_chain.c: a bundle's certificates in order
 */

bool tls_self_signed(X509 *x);

/* chain: the issuers of leaf among pool, in order, without a self-signed
 * root. *unused: certificates of pool in neither. */
STACK_OF(X509) * tls_order_chain(X509 *leaf, STACK_OF(X509) * pool, int *unused);

/*
 * tls_subject.c: -SubjectName
 */

/* "CN=mail.contoso.com, O=\"Contoso, Ltd\", C=US": ',' or ';' separate; a
 * value may be double-quoted, or escape a character with '\'. *out gets
 * the name in the conventional encoding order (DC, C, ST, L, O, OU, CN),
 * *cn its first CN (malloc'd, or NULL). 0, or -1 with err set. */
int tls_parse_subject(const char *text, X509_NAME **out, char **cn, char *err, size_t errlen);

/*
 * tls_build.c: keys, certificates and requests in memory
 * (tls_build_selfsigned is in tls_int.h)
 */

/* A PKCS#10 request for names with subject, signed with pkey (SHA-256),
 * asking for the extensions of tls_build_selfsigned's certificates. NULL
 * with an OpenSSL error queued. */
X509_REQ *tls_build_request(EVP_PKEY *pkey, const X509_NAME *subject, const char *const *names,
                            size_t nnames);

/* A new RSA key of bits bits, or an ECDSA P-256 key. NULL with an OpenSSL
 * error queued. */
EVP_PKEY *tls_generate_key(enum tls_key_algorithm alg, int bits);

#endif
