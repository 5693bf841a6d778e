/*
 * tls_client_strict.c — a client handshake that fails on the peer's
 * certificate (see tls_client_ssl_verify_strict in tls.h), for HTTPS
 * requests: a POST writes its body as soon as the handshake is done, long
 * before tls_peer_check could look at the answer, so an untrusted server
 * must be refused inside the handshake.
 *
 * The trust is the client context's (the system's CAs, the roots imported
 * with Import-Certificate, the CRLs of <certdir>/crl, a CA without a CRL
 * being no error, as tls_verify_continue decides), and the name check is
 * tls_peer_check's (RFC 6125 through X509_check_host, no partial
 * wildcards, the CN only without DNS SANs).
 * Must never: let a handshake finish with a certificate that tls_peer_check
 * would refuse for the same name, or be used where TLS is opportunistic
 * (SMTP must still encrypt with a bad certificate: tls_client.c).
 */
#include "lib/util.h"
#include "tls/tls.h"
#include "tls/tls_int.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where a failure's reason goes: the caller's buffer and the name checked. */
struct strict {
    char *why;
    size_t whylen;
    char host[DNS_NAME_MAX + 2];
};

static pthread_once_t strict_once = PTHREAD_ONCE_INIT;
static int strict_idx = -1;

static void
strict_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    free(ptr);
}

static void
strict_init(void)
{
    strict_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, strict_free);
}

/* The reason, in tls_peer_check's words, for the leaf of xctx. */
static void
describe(const struct strict *st, X509_STORE_CTX *xctx, int err)
{
    X509 *leaf = X509_STORE_CTX_get0_cert(xctx), *at = X509_STORE_CTX_get_current_cert(xctx);
    char subject[256] = "(none)", issuer[280] = "", other[256];

    if (leaf != NULL) {
        tls_dn_line(X509_get_subject_name(leaf), subject, sizeof(subject));
        if (X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(leaf)) != 0) {
            tls_dn_line(X509_get_issuer_name(leaf), other, sizeof(other));
            snprintf(issuer, sizeof(issuer), " (issuer %s)", other);
        }
    }
    if (err == X509_V_ERR_HOSTNAME_MISMATCH) {
        errorf(st->why, st->whylen, "certificate %s%s does not name %s", subject, issuer, st->host);
    } else if (err == X509_V_ERR_CERT_REVOKED) {
        errorf(st->why, st->whylen, "certificate %s%s has been revoked", subject, issuer);
    } else if (tls_verify_untrusted(err)) {
        errorf(st->why, st->whylen, "certificate %s%s is not trusted: %s", subject, issuer,
               X509_verify_cert_error_string(err));
    } else if (at != NULL && leaf != NULL && X509_cmp(at, leaf) != 0) {
        tls_dn_line(X509_get_subject_name(at), other, sizeof(other));
        errorf(st->why, st->whylen, "certificate %s%s: chain certificate %s: %s", subject, issuer,
               other, X509_verify_cert_error_string(err));
    } else {
        errorf(st->why, st->whylen, "certificate %s%s is invalid: %s", subject, issuer,
               X509_verify_cert_error_string(err));
    }
}

/* OpenSSL's verify callback: the first error that tls_verify_continue does
 * not forgive (a CA without a CRL) ends the handshake. */
static int
verify_strict(int ok, X509_STORE_CTX *xctx)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    const struct strict *st = ssl ? SSL_get_ex_data(ssl, strict_idx) : NULL;
    int err;

    if (ok)
        return 1;
    (void)tls_verify_continue(ok, xctx);
    if ((err = X509_STORE_CTX_get_error(xctx)) == X509_V_OK)
        return 1;
    if (st != NULL)
        describe(st, xctx, err);
    return 0;
}

int
tls_client_ssl_verify_strict(struct ssl_st *ssl, const char *host, char *why, size_t whylen)
{
    struct strict *st;

    pthread_once(&strict_once, strict_init);
    if (ssl == NULL || strict_idx < 0 || why == NULL || whylen == 0)
        return -1;
    st = xcalloc(1, sizeof(*st));
    st->why = why;
    st->whylen = whylen;
    why[0] = '\0';
    if (!dns_name_without_root(host, st->host) || !dns_name_valid(st->host, false) ||
        SSL_set_ex_data(ssl, strict_idx, st) != 1) {
        free(st);
        ERR_clear_error();
        return -1;
    }
    str_lower(st->host);
    /* the name is checked by the verification itself, so a wrong one fails
     * the handshake like an untrusted chain */
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl, st->host) != 1) {
        ERR_clear_error();
        return -1; /* st goes with the SSL */
    }
    SSL_set_verify(ssl, SSL_VERIFY_PEER, verify_strict);
    return 0;
}
