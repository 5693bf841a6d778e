/*
 * tls_dane.c — DANE TLSA records on a client SSL, with OpenSSL's own DANE
 * verifier (see tls_dane.h).
 *
 * OpenSSL matches the records while it verifies the chain, during the
 * handshake; the client context's callback (tls_verify_continue) lets every
 * handshake finish, so the verdict is read afterwards and the connection is
 * refused with a reason the administrator can act on: which certificate came,
 * and what its DANE-EE record would have to say.
 * Must never: accept a chain whose verification failed, or count a PKIX
 * usage (RFC 7672 3.1: the SMTP client has no trusted CA list to apply).
 */
#include "tls/tls_dane.h"
#include "lib/log.h"
#include "lib/util.h"
#include "tls/tls_int.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <string.h>

/* RFC 6698 7.2-7.4 and RFC 7218 names. */
#define TLSA_USAGE_DANE_TA 2
#define TLSA_USAGE_DANE_EE 3
#define TLSA_SELECTOR_SPKI 1
#define TLSA_MTYPE_FULL 0
#define TLSA_MTYPE_SHA256 1
#define TLSA_MTYPE_SHA512 2

bool
tls_tlsa_usable(const struct dns_tlsa *t)
{
    if (t->usage != TLSA_USAGE_DANE_TA && t->usage != TLSA_USAGE_DANE_EE)
        return false;
    if (t->selector > TLSA_SELECTOR_SPKI || t->len == 0)
        return false;
    /* RFC 7671 5.1 (and 10.1): a digest of the wrong length can match
     * nothing; such a record is unusable, not an error. */
    switch (t->mtype) {
    case TLSA_MTYPE_FULL:
        return true;
    case TLSA_MTYPE_SHA256:
        return t->len == 32;
    case TLSA_MTYPE_SHA512:
        return t->len == 64;
    default:
        return false;
    }
}

int
tls_dane_enable(struct ssl_st *ssl, const char *const *names, size_t nnames,
                const struct dns_tlsa *recs, size_t nrecs, char *why, size_t whylen)
{
    size_t usable = 0;
    int added = 0;

    errorf(why, whylen, "%s", "");
    for (size_t i = 0; i < nrecs; i++)
        usable += tls_tlsa_usable(&recs[i]);
    if (usable == 0)
        return 0;
    if (nnames == 0 || SSL_dane_enable(ssl, names[0]) <= 0) {
        errorf(why, whylen, "cannot set up DANE for %s", nnames ? names[0] : "(no name)");
        ERR_clear_error();
        return -1;
    }
    /* RFC 7672 3.1.1: a DANE-EE record binds the key itself; names and
     * dates in the certificate mean nothing then. */
    SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
    for (size_t i = 1; i < nnames; i++)
        if (names[i] != NULL && names[i][0] != '\0' && SSL_add1_host(ssl, names[i]) != 1)
            ERR_clear_error();
    for (size_t i = 0; i < nrecs; i++) {
        const struct dns_tlsa *t = &recs[i];

        if (!tls_tlsa_usable(t))
            continue;
        if (SSL_dane_tlsa_add(ssl, t->usage, t->selector, t->mtype, t->data, t->len) > 0)
            added++;
        else
            log_debug("tls: %s: OpenSSL refused TLSA %u %u %u", names[0], t->usage, t->selector,
                      t->mtype);
        ERR_clear_error();
    }
    if (added == 0) {
        /* every usable record was refused (a malformed full certificate):
         * nothing can match, which is the answer the RFC wants */
        errorf(why, whylen, "no TLSA record for %s could be used", names[0]);
        return -1;
    }
    return added;
}

/* "3 1 1 <sha-256 of the key>": the record that would match leaf. */
static void
spki_record(X509 *leaf, char *out, size_t outlen)
{
    unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int len = i2d_PUBKEY(X509_get0_pubkey(leaf), &der);
    size_t o;

    strlcpy_p(out, "?", outlen);
    if (len > 0 && EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) == 1 &&
        outlen > 6 + 2 * (size_t)mdlen) {
        o = (size_t)snprintf(out, outlen, "3 1 1 ");
        for (unsigned i = 0; i < mdlen; i++)
            o += (size_t)snprintf(out + o, outlen - o, "%02x", md[i]);
    }
    OPENSSL_free(der);
    ERR_clear_error();
}

static const char *
usage_name(uint8_t usage)
{
    return usage == TLSA_USAGE_DANE_TA ? "DANE-TA(2)" : "DANE-EE(3)";
}

enum tls_peer_status
tls_dane_check(struct ssl_st *ssl, char *why, size_t whylen)
{
    X509 *leaf = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
    char subject[256], would[200];
    const unsigned char *data = NULL;
    uint8_t usage = 0, selector = 0, mtype = 0;
    size_t dlen = 0;
    long vr;

    if (leaf == NULL) {
        errorf(why, whylen, "the peer presented no certificate");
        return TLS_PEER_NO_CERTIFICATE;
    }
    tls_dn_line(X509_get_subject_name(leaf), subject, sizeof(subject));
    vr = SSL_get_verify_result(ssl);
    if (vr == X509_V_OK && SSL_get0_dane_tlsa(ssl, &usage, &selector, &mtype, &data, &dlen) >= 0) {
        errorf(why, whylen, "%s %s(%u) %s(%u) matches %s", usage_name(usage),
               selector == TLSA_SELECTOR_SPKI ? "SPKI" : "Cert", selector,
               mtype == TLSA_MTYPE_FULL     ? "Full"
               : mtype == TLSA_MTYPE_SHA256 ? "SHA2-256"
                                            : "SHA2-512",
               mtype, subject);
        return TLS_PEER_OK;
    }
    spki_record(leaf, would, sizeof(would));
    switch (vr) {
    case X509_V_OK:
    case X509_V_ERR_DANE_NO_MATCH:
        errorf(why, whylen, "no TLSA record matches certificate %s (a DANE-EE record for it: %s)",
               subject, would);
        return TLS_PEER_DANE_NO_MATCH;
    case X509_V_ERR_HOSTNAME_MISMATCH:
        errorf(why, whylen, "certificate %s matches a DANE-TA record but names neither %s", subject,
               SSL_get0_peername(ssl) ? SSL_get0_peername(ssl) : "the TLSA base domain");
        return TLS_PEER_NAME_MISMATCH;
    case X509_V_ERR_CERT_HAS_EXPIRED:
        errorf(why, whylen, "certificate %s (DANE-TA chain) has expired", subject);
        return TLS_PEER_EXPIRED;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        errorf(why, whylen, "certificate %s (DANE-TA chain) is not yet valid", subject);
        return TLS_PEER_NOT_YET_VALID;
    default:
        errorf(why, whylen,
               "certificate %s fails DANE verification: %s (a DANE-EE record for it: %s)", subject,
               X509_verify_cert_error_string(vr), would);
        return TLS_PEER_INVALID;
    }
}
