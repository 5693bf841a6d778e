/*
 * tls_testlib.h — what the TLS unit tests (test_tls.c, test_tls_client.c)
 * share: test certificates built with the OpenSSL API (EC P-256 keys, quick
 * to generate), written the way the certificate store reads them, and
 * in-memory handshakes over a BIO pair. Failures are cmocka assertions.
 * Must never: be linked into postern, or write outside the directory a
 * test names.
 */
#ifndef POSTERN_TLS_TESTLIB_H
#define POSTERN_TLS_TESTLIB_H

#include "tls/tls.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <stdbool.h>

#define DAY (24L * 3600L)

/* A certificate for cn, valid from now+nb to now+na seconds. SANs: san
 * ("DNS:a,DNS:b") when given, else DNS:cn unless no_san. */
struct certspec {
    const char *cn;
    const char *san;
    bool no_san;
    long nb, na;
    bool ca;
    const char *eku; /* NULL: no EKU extension */
};

EVP_PKEY *ec_key(void);

/* The certificate s describes for key, signed by issuer with issuer_key
 * (self-signed when issuer is NULL). */
X509 *make_cert(const struct certspec *s, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key);

/* A CRL signed by ca with cakey, revoking revoked (may be NULL), issued an
 * hour ago and next due at now + next seconds. */
X509_CRL *issue_crl(X509 *ca, EVP_PKEY *cakey, X509 *revoked, long next);

/* The SHA-1 thumbprint, upper-case hex, as the store names files. */
void thumb_of(X509 *x, char out[41]);

/* Writes <T>.pem (leaf, then chain if any) and <T>.key (if key) into dir;
 * thumb, when not NULL, gets <T>. */
void store_cert(const char *dir, X509 *leaf, X509 *chain, EVP_PKEY *key, char thumb[41]);

/* The store of dir, which must load. */
struct tls_store *load(const char *dir);

/* Limits ctx to protocols min..max and, when ciphers is not NULL, to those
 * TLS 1.2-and-below suites (TLS 1.3 suites are not limited by it). */
void limit_ctx(SSL_CTX *ctx, int min, int max, const char *ciphers);

/* Runs a handshake between client and server (their roles already set) over
 * a new BIO pair that both then own, in this thread. True when both ends
 * finish, false as soon as either gives up; the error queue is left empty. */
bool pair_handshake(SSL *client, SSL *server);

#endif
