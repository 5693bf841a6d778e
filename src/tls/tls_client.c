/*
 * tls_client.c — the client side of TLS (see tls.h, "Client side"): trust
 * anchors and CRLs of the store, client contexts (with or without a client
 * certificate), SNI, and the after-handshake peer check that both sides
 * use.
 *
 * Trust: the system's CAs (read once into memory, tls_system_trust.c),
 * every certificate in the .pem files of <certdir>/root and every CRL in
 * the .pem files of <certdir>/crl, read when the store loads
 * (tls_store_src.c).
 * With any CRL present, CRLs are checked for every certificate of a chain
 * (X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL), but only for CAs that
 * have a CRL there: a missing CRL is not an error, or a single private CA's
 * CRL would make every public server unverifiable. A CRL that is present
 * but out of date or broken does fail the check (fail closed).
 *
 * tls_trust_add and tls_verify_untrusted (tls_int.h) also serve
 * tls_certs_list.c, which shows each stored certificate's Status with the
 * same trust.
 *
 * The handshake never fails on the peer's certificate: opportunistic TLS
 * must still encrypt. tls_peer_check turns the verify result and the names
 * into a tls_peer_status afterwards, and the caller decides. (HTTPS
 * requests ask for the opposite on their own SSL: tls_client_strict.c.)
 *
 * Must never: abort a handshake because of the peer's certificate, treat a
 * certificate as trusted without a verified chain, match a name against
 * the subject CN when the certificate has DNS SANs, or log key material.
 */
#include "tls/tls.h"
#include "lib/log.h"
#include "lib/util.h"
#include "tls/tls_int.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A subject or issuer in a one-line reason; longer ones are cut. */
#define DN_TEXT_MAX 256

/* "mail.example.com." and "MAIL.example.com" are the same name as
 * "mail.example.com". False when the name does not fit. */
static bool
normalize_host(const char *in, char out[DNS_NAME_MAX + 2])
{
    if (!dns_name_without_root(in, out))
        return false;
    str_lower(out);
    return true;
}

/*
 * Trust anchors and CRLs
 */

int
tls_trust_apply(const struct tls_store *store, SSL_CTX *ctx)
{
    /* Shared by every context of the store, and built from memory: no
     * file is looked up during a handshake (tls_system_trust.c). */
    if (store->trust->xs == NULL && (store->trust->xs = tls_trust_store_new(store)) == NULL)
        return -1;
    SSL_CTX_set1_cert_store(ctx, store->trust->xs);
    return 0;
}

int
tls_trust_add(const struct tls_store *store, X509_STORE *xs)
{
    for (int i = 0; i < sk_X509_num(store->roots); i++)
        if (X509_STORE_add_cert(xs, sk_X509_value(store->roots, i)) != 1)
            return -1;
    for (int i = 0; i < sk_X509_CRL_num(store->crls); i++)
        if (X509_STORE_add_crl(xs, sk_X509_CRL_value(store->crls, i)) != 1)
            return -1;
    if (sk_X509_CRL_num(store->crls) > 0 &&
        X509_STORE_set_flags(xs, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL) != 1)
        return -1;
    return 0;
}

void
tls_client_free(struct tls_store *store)
{
    for (size_t i = 0; i < store->nclient_ctxs; i++) {
        SSL_CTX_free(store->client_ctxs[i].ctx);
        free(store->client_ctxs[i].fqdn);
    }
    free(store->client_ctxs);
    store->client_ctxs = NULL;
    store->nclient_ctxs = 0;
    sk_X509_pop_free(store->roots, X509_free);
    sk_X509_CRL_pop_free(store->crls, X509_CRL_free);
    if (store->trust != NULL)
        X509_STORE_free(store->trust->xs);
    free(store->trust);
    store->roots = NULL;
    store->crls = NULL;
    store->trust = NULL;
}

/*
 * Verification callback
 */

static pthread_once_t first_error_once = PTHREAD_ONCE_INIT;
static int first_error_idx = -1;

static void
first_error_init(void)
{
    first_error_idx = X509_STORE_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/*
 * OpenSSL keeps verifying after the callback accepts an error, and each
 * later error overwrites the result; the first one is the fundamental
 * problem (an untrusted chain matters more than the expiry found after it),
 * so it is kept in the store context's ex_data and put back each time.
 */
int
tls_verify_continue(int ok, X509_STORE_CTX *xctx)
{
    int err, first;

    if (ok)
        return 1;
    pthread_once(&first_error_once, first_error_init);
    if (first_error_idx < 0)
        return 1; /* no bookkeeping: the last error stands */
    err = X509_STORE_CTX_get_error(xctx);
    first = (int)(intptr_t)X509_STORE_CTX_get_ex_data(xctx, first_error_idx);
    if (err == X509_V_ERR_UNABLE_TO_GET_CRL) {
        /* Revocation is checked only for CAs whose CRL is installed. */
        X509_STORE_CTX_set_error(xctx, first);
        return 1;
    }
    if (first == X509_V_OK)
        X509_STORE_CTX_set_ex_data(xctx, first_error_idx, (void *)(intptr_t)err);
    else
        X509_STORE_CTX_set_error(xctx, first);
    return 1;
}

/*
 * Client contexts
 */

static SSL_CTX *
build_client_ctx(const struct tls_store *store, const struct tls_cert *c, char *why, size_t whylen)
{
    SSL_CTX *ctx;

    pthread_once(&first_error_once, first_error_init);
    ERR_clear_error();
    ctx = tls_ctx_new(store, TLS_client_method(), 0, c);
    if (ctx == NULL)
        return tls_ctx_fail(NULL, c, "TLS client context", why, whylen);
    /* VERIFY_PEER so that the chain is verified at all; the callback lets
     * every handshake finish. DANE is ready for connections that want it
     * (tls_dane.h); the others verify as before. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, tls_verify_continue);
    if (SSL_CTX_dane_enable(ctx) <= 0) {
        SSL_CTX_free(ctx);
        return tls_ctx_fail(NULL, c, "TLS client context (DANE)", why, whylen);
    }
    return ctx;
}

struct ssl_ctx_st *
tls_store_client_ctx(struct tls_store *store, const char *client_fqdn, char *why, size_t whylen)
{
    char host[DNS_NAME_MAX + 2];
    const char *key = NULL;
    struct tls_cert *c = NULL;
    SSL_CTX *ctx = NULL;

    errorf(why, whylen, "%s", "");
    if (store == NULL) {
        errorf(why, whylen, "no certificate store");
        return NULL;
    }
    /* An empty name is no name: no client certificate. */
    if (client_fqdn != NULL && client_fqdn[0] != '\0') {
        if (!normalize_host(client_fqdn, host)) {
            errorf(why, whylen, "\"%.64s...\" is too long for a DNS name", client_fqdn);
            return NULL;
        }
        key = host;
    }

    pthread_mutex_lock(&store->lock);
    for (size_t i = 0; i < store->nclient_ctxs; i++) {
        const char *f = store->client_ctxs[i].fqdn;
        if ((f == NULL && key == NULL) || (f != NULL && key != NULL && strcmp(f, key) == 0)) {
            ctx = store->client_ctxs[i].ctx;
            goto out;
        }
    }
    /* Failures are not cached: the next call gives the same reason. */
    if (key != NULL && (c = tls_select_cert(store, key, TLS_PURPOSE_CLIENT, why, whylen)) == NULL)
        goto out;
    ctx = build_client_ctx(store, c, why, whylen);
    if (ctx != NULL) {
        store->client_ctxs =
            xrealloc(store->client_ctxs, (store->nclient_ctxs + 1) * sizeof(*store->client_ctxs));
        store->client_ctxs[store->nclient_ctxs].fqdn = key != NULL ? xstrdup(key) : NULL;
        store->client_ctxs[store->nclient_ctxs].ctx = ctx;
        store->nclient_ctxs++;
    }
out:
    pthread_mutex_unlock(&store->lock);
    if (ctx != NULL)
        errorf(why, whylen, "%s", "");
    return ctx;
}

/* RFC 6066 3: "Literal IPv4 and IPv6 addresses are not permitted" in SNI.
 * "[...]" is the SMTP address-literal form. */
static bool
is_ip_literal(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return s[0] == '[' || inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

struct ssl_st *
tls_client_ssl_new(struct ssl_ctx_st *ctx, const char *sni)
{
    char host[DNS_NAME_MAX + 2];
    SSL *ssl;

    if (ctx == NULL)
        return NULL;
    ssl = SSL_new(ctx);
    if (ssl == NULL)
        return NULL;
    SSL_set_connect_state(ssl);
    if (sni != NULL && sni[0] != '\0' && !is_ip_literal(sni)) {
        /* SNI carries the name without its trailing dot (RFC 6066 3).
         * Without SNI the handshake still works, so a name OpenSSL refuses
         * is left out rather than failing the connection. */
        if (!normalize_host(sni, host) || SSL_set_tlsext_host_name(ssl, host) != 1) {
            log_debug("tls: no SNI for \"%.64s\"", sni);
            ERR_clear_error();
        }
    }
    return ssl;
}

/*
 * Peer check
 */

/* The DN as one line, RFC 2253 order ("CN=mx.example,O=Example"), with
 * control characters escaped so a hostile certificate cannot forge log
 * lines; UTF-8 stays readable. */
void
tls_dn_line(const X509_NAME *name, char *out, size_t outlen)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n;

    strlcpy_p(out, "an empty subject", outlen);
    if (bio == NULL)
        return;
    if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) > 0 &&
        (n = BIO_get_mem_data(bio, &data)) > 0) {
        size_t len = (size_t)n < outlen - 1 ? (size_t)n : outlen - 1;
        memcpy(out, data, len);
        out[len] = '\0';
    }
    BIO_free(bio);
    ERR_clear_error();
}

static void
asn1_time_text(const ASN1_TIME *t, char *out, size_t outlen)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1 ||
        strftime(out, outlen, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        strlcpy_p(out, "an unknown date", outlen);
}

bool
tls_verify_untrusted(long vr)
{
    switch (vr) {
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
        return true;
    default:
        return false;
    }
}

/* Do x's validity dates fail now (expired, or not yet valid)? */
static bool
dates_fail(X509 *x, bool expired)
{
    /* -1: the time is before now, 1: after it, 0: unreadable. */
    int cmp = X509_cmp_current_time(expired ? X509_get0_notAfter(x) : X509_get0_notBefore(x));

    return expired ? cmp < 0 : cmp > 0;
}

/* The certificate whose dates fail, leaf first, then the verified chain;
 * NULL when none does any more (the clock moved on since the handshake). */
static X509 *
find_bad_dates(SSL *ssl, X509 *leaf, bool expired)
{
    STACK_OF(X509) *chain = SSL_get0_verified_chain(ssl);

    if (dates_fail(leaf, expired))
        return leaf;
    if (chain == NULL)
        chain = SSL_get_peer_cert_chain(ssl);
    for (int i = 0; chain != NULL && i < sk_X509_num(chain); i++)
        if (dates_fail(sk_X509_value(chain, i), expired))
            return sk_X509_value(chain, i);
    return NULL;
}

enum tls_peer_status
tls_peer_check(struct ssl_st *ssl, const char *const *names, size_t nnames, char *why,
               size_t whylen)
{
    char subject[DN_TEXT_MAX], issuer[DN_TEXT_MAX + 16], other[DN_TEXT_MAX], date[64];
    enum tls_peer_status st;
    X509 *x, *bad;
    size_t shown = 0;
    long vr;

    errorf(why, whylen, "%s", "");
    if (ssl == NULL) {
        errorf(why, whylen, "no TLS session");
        return TLS_PEER_NO_CERTIFICATE;
    }
    x = SSL_get0_peer_certificate(ssl);
    if (x == NULL) {
        errorf(why, whylen, "the peer presented no certificate");
        return TLS_PEER_NO_CERTIFICATE;
    }
    tls_dn_line(X509_get_subject_name(x), subject, sizeof(subject));
    /* "(issuer ...)" only says something when the issuer is another name. */
    issuer[0] = '\0';
    if (X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(x)) != 0) {
        tls_dn_line(X509_get_issuer_name(x), other, sizeof(other));
        snprintf(issuer, sizeof(issuer), " (issuer %s)", other);
    }

    vr = SSL_get_verify_result(ssl);
    switch (vr) {
    case X509_V_OK:
        st = TLS_PEER_OK;
        break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID: {
        bool expired = vr == X509_V_ERR_CERT_HAS_EXPIRED;
        st = expired ? TLS_PEER_EXPIRED : TLS_PEER_NOT_YET_VALID;
        bad = find_bad_dates(ssl, x, expired);
        if (bad == NULL) {
            errorf(why, whylen, "certificate %s%s: a certificate of its chain %s", subject, issuer,
                   expired ? "has expired" : "is not yet valid");
            return st;
        }
        asn1_time_text(expired ? X509_get0_notAfter(bad) : X509_get0_notBefore(bad), date,
                       sizeof(date));
        if (bad == x) {
            errorf(why, whylen, "certificate %s%s %s (%s %s)", subject, issuer,
                   expired ? "has expired" : "is not yet valid", expired ? "notAfter" : "notBefore",
                   date);
        } else {
            tls_dn_line(X509_get_subject_name(bad), other, sizeof(other));
            errorf(why, whylen, "certificate %s%s: chain certificate %s %s (%s %s)", subject,
                   issuer, other, expired ? "has expired" : "is not yet valid",
                   expired ? "notAfter" : "notBefore", date);
        }
        return st;
    }
    case X509_V_ERR_CERT_REVOKED:
        errorf(why, whylen, "certificate %s%s has been revoked", subject, issuer);
        return TLS_PEER_REVOKED;
    default:
        if (tls_verify_untrusted(vr)) {
            errorf(why, whylen, "certificate %s%s is not trusted: %s", subject, issuer,
                   X509_verify_cert_error_string(vr));
            return TLS_PEER_UNTRUSTED;
        }
        errorf(why, whylen, "certificate %s%s is invalid: %s", subject, issuer,
               X509_verify_cert_error_string(vr));
        return TLS_PEER_INVALID;
    }

    if (nnames == 0 || names == NULL) {
        errorf(why, whylen, "certificate %s%s is trusted", subject, issuer);
        return st;
    }
    /* X509_check_host looks at the subject CN only when there are no DNS
     * SANs (X509_CHECK_FLAG_NEVER_CHECK_SUBJECT unset), and takes "*" only
     * as a whole left-most label. */
    for (size_t i = 0; i < nnames; i++) {
        char host[DNS_NAME_MAX + 2];

        if (names[i] == NULL || names[i][0] == '\0' || !normalize_host(names[i], host))
            continue;
        if (X509_check_host(x, host, strlen(host), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) ==
            1) {
            errorf(why, whylen, "certificate %s%s is trusted and names %s", subject, issuer, host);
            return TLS_PEER_OK;
        }
    }
    ERR_clear_error();
    errorf(why, whylen, "certificate %s%s does not name ", subject, issuer);
    for (size_t i = 0; i < nnames && why != NULL; i++) {
        size_t used = strnlen(why, whylen);
        if (names[i] == NULL || names[i][0] == '\0' || used + 1 >= whylen)
            continue;
        snprintf(why + used, whylen - used, "%s%s", shown++ > 0 ? " or " : "", names[i]);
    }
    if (shown == 0)
        errorf(why, whylen, "certificate %s%s: no usable name to check it against", subject,
               issuer);
    return TLS_PEER_NAME_MISMATCH;
}

void
tls_peer_chain_text(struct ssl_st *ssl, char *out, size_t outlen)
{
    STACK_OF(X509) *chain = ssl ? SSL_get_peer_cert_chain(ssl) : NULL;
    size_t used = 0;

    strlcpy_p(out, "none", outlen);
    for (int i = 0; chain != NULL && i < sk_X509_num(chain) && used < outlen; i++) {
        X509 *x = sk_X509_value(chain, i);
        char subject[DN_TEXT_MAX], issuer[DN_TEXT_MAX], until[64], thumb[THUMBPRINT_LEN + 1] = "?";

        tls_dn_line(X509_get_subject_name(x), subject, sizeof(subject));
        tls_dn_line(X509_get_issuer_name(x), issuer, sizeof(issuer));
        asn1_time_text(X509_get0_notAfter(x), until, sizeof(until));
        (void)tls_thumbprint_of(x, thumb);
        used += (size_t)snprintf(out + used, outlen - used,
                                 "%s[%d] %s (issuer %s; until %s; thumbprint %s)", i ? " " : "", i,
                                 subject, issuer, until, thumb);
    }
}

const char *
tls_peer_status_name(enum tls_peer_status st)
{
    switch (st) {
    case TLS_PEER_OK:
        return "Ok";
    case TLS_PEER_NO_CERTIFICATE:
        return "NoCertificate";
    case TLS_PEER_UNTRUSTED:
        return "UntrustedRoot";
    case TLS_PEER_EXPIRED:
        return "Expired";
    case TLS_PEER_NOT_YET_VALID:
        return "NotYetValid";
    case TLS_PEER_REVOKED:
        return "Revoked";
    case TLS_PEER_NAME_MISMATCH:
        return "NameMismatch";
    case TLS_PEER_INVALID:
        return "Invalid";
    case TLS_PEER_DANE_NO_MATCH:
        return "DaneNoMatch";
    }
    return "Invalid";
}
