/*
 * tls.c — certificate creation, the certificate store and server TLS
 * contexts (see tls.h). With tls_client.c (client contexts, trust anchors,
 * peer checks) and the files below them (tls_files.c, tls_bundle.c ... and
 * the cmdlets' side, tls_certs_*.c), the only code that talks to OpenSSL;
 * the structures they share are in tls_int.h, and so are the small helpers
 * defined at the top of this file (messages, thumbprints, DNS names).
 *
 * Must never: write a private key with a mode other than 0600 or replace an
 * existing key file, leave key bytes it copied in freed memory, prompt for a
 * passphrase (a daemon has no terminal), or log key material.
 */
#include "tls/tls.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/dns_name.h"
#include "tls/tls_int.h"
#include "tls/tls_remote_key.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Sessions resumed by ID must come from the same application. */
#define SESSION_ID_CONTEXT "postern"
/* RFC 5280 ub-common-name: a longer FQDN cannot be the subject CN. */
#define CN_MAX 64
#define YEARS_MAX 100

/* TLS 1.3: all of OpenSSL's default suites, spelled out so that a system
 * openssl.cnf cannot change what postern offers. */
#define SUITES_TLS13 "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"
/* Mozilla's "intermediate" TLS 1.2 suites: AEAD only, forward secrecy only.
 * A server offers the DHE ones only with DH parameters: build_server_ctx
 * has OpenSSL pick them (SSL_CTX_set_dh_auto). */
#define CIPHERS_INTERMEDIATE                                                                       \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                                   \
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
/* OpenSSL's defaults (CBC and static RSA included) less what no peer
 * should get. Security level 0: TLS 1.0 and 1.1 sign the handshake with
 * MD5+SHA-1, which every higher level refuses. */
#define CIPHERS_COMPATIBLE "DEFAULT:!aNULL:!eNULL:!EXPORT:!RC4:!3DES:!PSK:!SRP:@SECLEVEL=0"

/*
 * Helpers shared with tls_client.c and the tls_*.c files below (see tls_int.h)
 */

void
tls_appendmsg(char *buf, size_t len, const char *sep, const char *fmt, ...)
{
    size_t used, seplen = strlen(sep);
    va_list ap;

    if (buf == NULL || len == 0)
        return;
    used = strnlen(buf, len);
    if (used > 0 && used + seplen < len) {
        memcpy(buf + used, sep, seplen);
        used += seplen;
        buf[used] = '\0';
    }
    if (used + 1 >= len)
        return;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

size_t
tls_read_full(int fd, void *buf, size_t size)
{
    size_t got = 0;

    while (got < size) {
        ssize_t n = read(fd, (unsigned char *)buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

int
tls_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return 0;
}

void
tls_hex_upper(const unsigned char *md, size_t n, char *out)
{
    static const char hex[] = "0123456789ABCDEF";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

int
tls_thumbprint_of(const X509 *x, char out[THUMBPRINT_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (X509_digest(x, EVP_sha1(), md, &n) != 1 || n * 2 != THUMBPRINT_LEN)
        return -1;
    tls_hex_upper(md, n, out);
    return 0;
}

int
tls_asn1_time_to_time_t(const ASN1_TIME *at, time_t *out)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (at == NULL || ASN1_TIME_to_tm(at, &tm) != 1)
        return -1;
    *out = timegm(&tm);
    return 0;
}

bool
tls_name_matches(const char *pattern, const char *host)
{
    const char *dot;

    if (str_ieq(pattern, host))
        return true;
    if (pattern[0] != '*' || pattern[1] != '.' || strchr(pattern + 2, '.') == NULL)
        return false;
    dot = strchr(host, '.');
    if (dot == NULL || dot == host)
        return false;
    return str_ieq(dot, pattern + 1);
}

int
tls_pem_filter(const struct dirent *d)
{
    size_t n = strlen(d->d_name);

    return d->d_name[0] != '.' && n > 4 && strcmp(d->d_name + n - 4, ".pem") == 0;
}

/*
 * Helpers of this file
 */

static void
format_time(time_t t, char *buf, size_t len)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        strlcpy_p(buf, "an unknown date", len);
}

/*
 * Certificate creation
 */

int
tls_create_selfsigned(const char *certdir, const char *fqdn, const char *short_name, int years,
                      char *thumbprint, char *err, size_t errlen)
{
    char shortbuf[64], tp[THUMBPRINT_LEN + 1], e[256];
    const char *names[2];
    size_t nnames = 0;
    EVP_PKEY *pkey = NULL;
    X509_NAME *subject;
    X509 *x = NULL;
    int rc = -1;

    errorf(err, errlen, "%s", "");
    if (certdir == NULL || fqdn == NULL) {
        errorf(err, errlen, "no certificate directory or FQDN given");
        return -1;
    }
    if (!dns_name_valid(fqdn, true)) {
        errorf(err, errlen, "\"%s\" is not a valid DNS name", fqdn);
        return -1;
    }
    if (strlen(fqdn) > CN_MAX) {
        errorf(err, errlen, "\"%s\" is longer than the %d characters a certificate CN allows", fqdn,
               CN_MAX);
        return -1;
    }
    if (years < 1 || years > YEARS_MAX) {
        errorf(err, errlen, "validity of %d years is outside 1..%d", years, YEARS_MAX);
        return -1;
    }
    if (short_name == NULL) {
        /* The host part; skipped for a wildcard FQDN, whose host part "*"
         * is not a name. */
        size_t n = strcspn(fqdn, ".");
        if (n < sizeof(shortbuf) && !(n == 1 && fqdn[0] == '*')) {
            memcpy(shortbuf, fqdn, n);
            shortbuf[n] = '\0';
            short_name = shortbuf;
        }
    } else if (!dns_name_valid(short_name, true)) {
        errorf(err, errlen, "\"%s\" is not a valid DNS name", short_name);
        return -1;
    }
    names[nnames++] = fqdn;
    if (short_name != NULL && !str_ieq(short_name, fqdn))
        names[nnames++] = short_name;

    ERR_clear_error();
    pkey = EVP_RSA_gen(2048);
    if (pkey == NULL) {
        errorf(err, errlen, "cannot generate RSA key: %s", tls_last_error(e, sizeof(e)));
        goto out;
    }
    /* CN=<fqdn>, the subject and issuer. */
    subject = X509_NAME_new();
    if (subject != NULL && X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                                      (const unsigned char *)fqdn, -1, -1, 0) == 1)
        x = tls_build_selfsigned(pkey, subject, names, nnames, years);
    X509_NAME_free(subject);
    if (x == NULL) {
        errorf(err, errlen, "cannot build certificate: %s", tls_last_error(e, sizeof(e)));
        goto out;
    }
    if (tls_thumbprint_of(x, tp) != 0) {
        errorf(err, errlen, "cannot compute thumbprint: %s", tls_last_error(e, sizeof(e)));
        goto out;
    }
    if (tls_write_cert_pair(certdir, tp, pkey, x, NULL, NULL, err, errlen) != 0)
        goto out;
    tls_sync_dir(certdir);
    if (thumbprint != NULL)
        memcpy(thumbprint, tp, sizeof(tp));
    rc = 0;
out:
    X509_free(x);
    EVP_PKEY_free(pkey);
    return rc;
}

/*
 * The store: loaded and freed in tls_store_build.c
 */

/*
 * Selection
 */

static bool
cert_names_host(const struct tls_cert *c, const char *host)
{
    for (size_t i = 0; i < c->nnames; i++)
        if (tls_name_matches(c->names[i], host))
            return true;
    return false;
}

/* Appends why c cannot serve host to why and returns false, or returns
 * true when it can. */
static bool
cert_usable(const struct tls_cert *c, const char *host, enum tls_purpose purpose, time_t now,
            char *why, size_t whylen)
{
    bool server = purpose == TLS_PURPOSE_SERVER;
    char date[64];

    if (!(server ? c->server_auth : c->client_auth)) {
        tls_appendmsg(why, whylen, "; ",
                      "certificate %s is not usable for %s authentication (its extended key usage "
                      "lacks %sAuth)",
                      c->thumbprint, server ? "server" : "client", server ? "server" : "client");
        return false;
    }
    switch (c->key_state) {
    case KEY_NONE:
        tls_appendmsg(why, whylen, "; ", "certificate %s has no private key", c->thumbprint);
        return false;
    case KEY_UNREADABLE:
        tls_appendmsg(why, whylen, "; ", "certificate %s has an unreadable private key",
                      c->thumbprint);
        return false;
    case KEY_MISMATCH:
        tls_appendmsg(why, whylen, "; ", "certificate %s has a private key that does not match it",
                      c->thumbprint);
        return false;
    case KEY_OK:
        break;
    }
    if (now < c->not_before) {
        format_time(c->not_before, date, sizeof(date));
        tls_appendmsg(why, whylen, "; ", "certificate %s for %s is not valid until %s",
                      c->thumbprint, host, date);
        return false;
    }
    if (now > c->not_after) {
        format_time(c->not_after, date, sizeof(date));
        tls_appendmsg(why, whylen, "; ", "certificate %s for %s expired on %s", c->thumbprint, host,
                      date);
        return false;
    }
    return true;
}

/* Enabled for SMTP (Enable-ExchangeCertificate: the administrator's
 * explicit choice, as in Exchange) first, then CA-issued before
 * self-signed, then newest NotBefore; the thumbprint breaks remaining ties
 * so the choice never depends on chance. */
static bool
cert_better(const struct tls_cert *a, bool a_smtp, const struct tls_cert *b, bool b_smtp)
{
    if (b == NULL)
        return true;
    if (a_smtp != b_smtp)
        return a_smtp;
    if (a->self_signed != b->self_signed)
        return !a->self_signed;
    if (a->not_before != b->not_before)
        return a->not_before > b->not_before;
    return strcmp(a->thumbprint, b->thumbprint) < 0;
}

/* docs/exchange-model.md: a certificate our own CRLs revoke is not offered
 * (a CA without a CRL in certs/crl is not checked). */
static bool
cert_revoked(const struct tls_store *store, const struct tls_cert *c)
{
    for (int i = 0; store->crls && i < sk_X509_CRL_num(store->crls); i++) {
        X509_CRL *crl = sk_X509_CRL_value(store->crls, i);
        X509_REVOKED *entry = NULL;
        if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_issuer_name(c->leaf)) == 0 &&
            X509_CRL_get0_by_cert(crl, &entry, c->leaf) == 1)
            return true;
    }
    return false;
}

struct tls_cert *
tls_select_cert(struct tls_store *store, const char *host, enum tls_purpose purpose, char *why,
                size_t whylen)
{
    struct tls_cert *best = NULL;
    bool best_smtp = false;
    size_t named = 0;
    time_t now = time(NULL);

    for (size_t i = 0; i < store->ncerts; i++) {
        struct tls_cert *c = &store->certs[i];

        if (!cert_names_host(c, host))
            continue;
        named++;
        if (!cert_usable(c, host, purpose, now, why, whylen))
            continue;
        if (cert_revoked(store, c)) {
            tls_appendmsg(why, whylen, "; ", "certificate %s for %s is revoked (CRL)",
                          c->thumbprint, host);
            continue;
        }
        if (cert_better(c, c->smtp_enabled, best, best_smtp)) {
            best = c;
            best_smtp = c->smtp_enabled;
        }
    }
    if (best == NULL && named == 0)
        errorf(why, whylen, "no certificate names %s", host);
    return best;
}

void
tls_store_set_profile(struct tls_store *store, enum tls_profile profile)
{
    pthread_mutex_lock(&store->lock);
    store->profile = profile;
    pthread_mutex_unlock(&store->lock);
}

/* The lowest protocol and the suites of a profile; without static-RSA key
 * exchange for a server whose key can only sign (a remote key:
 * tls_remote_key.h). 0, or -1 with an OpenSSL error queued. */
static int
profile_apply(SSL_CTX *ctx, enum tls_profile profile, bool sign_only)
{
    int min = TLS1_2_VERSION;
    const char *ciphers = CIPHERS_INTERMEDIATE;
    char list[512];

    switch (profile) {
    case TLS_PROFILE_MODERN:
        min = TLS1_3_VERSION;
        break;
    case TLS_PROFILE_COMPATIBLE:
        min = TLS1_VERSION;
        ciphers = CIPHERS_COMPATIBLE;
        break;
    case TLS_PROFILE_INTERMEDIATE:
        break;
    }
    /* appended: DEFAULT is only understood at the start */
    snprintf(list, sizeof(list), "%s%s", ciphers, sign_only ? ":!kRSA" : "");
    if (SSL_CTX_set_min_proto_version(ctx, min) != 1 || SSL_CTX_set_cipher_list(ctx, list) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, SUITES_TLS13) != 1)
        return -1;
    return 0;
}

SSL_CTX *
tls_ctx_new(const struct tls_store *store, const SSL_METHOD *method, uint64_t extra_options,
            const struct tls_cert *c)
{
    SSL_CTX *ctx = SSL_CTX_new(method);

    if (ctx == NULL)
        return NULL;
    if (profile_apply(ctx, store->profile,
                      c != NULL && method == TLS_server_method() && tls_remote_key_is(c->key)) != 0)
        goto fail;
    /* Compression invites CRIME-style attacks; renegotiation is a DoS lever
     * and nothing in SMTP needs it. SMTP frames its own data ("." ends
     * DATA), so a peer that closes without close_notify truncates nothing
     * that would be accepted. */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_NO_RENEGOTIATION | extra_options);
    /* Idle SMTP connections are common: give the ~34 kB of record buffers
     * back while a connection waits. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (tls_trust_apply(store, ctx) != 0)
        goto fail;
    if (c != NULL &&
        (SSL_CTX_use_certificate(ctx, c->leaf) != 1 || SSL_CTX_use_PrivateKey(ctx, c->key) != 1 ||
         SSL_CTX_check_private_key(ctx) != 1 ||
         (sk_X509_num(c->chain) > 0 && SSL_CTX_set1_chain(ctx, c->chain) != 1)))
        goto fail;
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *
tls_ctx_fail(SSL_CTX *ctx, const struct tls_cert *c, const char *what, char *why, size_t whylen)
{
    char e[256];

    if (c != NULL)
        errorf(why, whylen, "certificate %s: cannot set up a %s: %s", c->thumbprint, what,
               tls_last_error(e, sizeof(e)));
    else
        errorf(why, whylen, "cannot set up a %s: %s", what, tls_last_error(e, sizeof(e)));
    SSL_CTX_free(ctx);
    return NULL;
}

static SSL_CTX *
build_server_ctx(const struct tls_store *store, const struct tls_cert *c, char *why, size_t whylen)
{
    SSL_CTX *ctx;

    ERR_clear_error();
    /* Our cipher order is the sane one. Domain security asks clients for
     * certificates on some sessions (tls_ssl_request_client_cert); they are
     * checked against the same trust as outbound peers. */
    ctx = tls_ctx_new(store, TLS_server_method(), SSL_OP_CIPHER_SERVER_PREFERENCE, c);
    if (ctx == NULL)
        return tls_ctx_fail(NULL, c, "TLS context", why, whylen);
    /* DH parameters for the DHE suites of TLS 1.2: OpenSSL 3.0 takes the
     * well-known RFC 3526 group as strong as the certificate's key (2048
     * bits for RSA 2048; testssl names it "RFC3526/Oakley Group 14"). A
     * published group is fine at that size: LOGJAM needs 1024 bits or less. */
    if (SSL_CTX_set_dh_auto(ctx, 1) != 1)
        return tls_ctx_fail(ctx, c, "TLS context", why, whylen);
    /* Resumption saves a full handshake for busy peers: an ID cache for
     * TLS 1.2 and (left enabled by default) tickets for 1.2 and 1.3. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    /* One TLS 1.3 ticket, not OpenSSL's two: an SMTP client resumes with
     * at most one, and each ticket costs an encryption and a record on
     * every session (Postfix sends one too). */
    if (SSL_CTX_set_num_tickets(ctx, 1) != 1)
        return tls_ctx_fail(ctx, c, "TLS context", why, whylen);
    if (SSL_CTX_set_session_id_context(ctx, (const unsigned char *)SESSION_ID_CONTEXT,
                                       sizeof(SESSION_ID_CONTEXT) - 1) != 1)
        return tls_ctx_fail(ctx, c, "TLS context", why, whylen);
    return ctx;
}

struct ssl_ctx_st *
tls_store_server_ctx(struct tls_store *store, const char *fqdn, char *why, size_t whylen)
{
    char host[DNS_NAME_MAX + 2];
    struct tls_cert *best;
    SSL_CTX *ctx;

    errorf(why, whylen, "%s", "");
    if (store == NULL || fqdn == NULL || fqdn[0] == '\0') {
        errorf(why, whylen, "no certificate store or FQDN");
        return NULL;
    }
    if (!dns_name_without_root(fqdn, host)) {
        errorf(why, whylen, "\"%s\" is too long for a DNS name", fqdn);
        return NULL;
    }

    pthread_mutex_lock(&store->lock);
    best = tls_select_cert(store, host, TLS_PURPOSE_SERVER, why, whylen);
    if (best == NULL) {
        pthread_mutex_unlock(&store->lock);
        return NULL;
    }
    if (best->ctx == NULL)
        best->ctx = build_server_ctx(store, best, why, whylen);
    ctx = best->ctx;
    pthread_mutex_unlock(&store->lock);
    if (ctx != NULL)
        errorf(why, whylen, "%s", "");
    return ctx;
}

/*
 * Connections
 */

struct ssl_st *
tls_ssl_new(struct ssl_ctx_st *ctx)
{
    SSL *ssl;

    if (ctx == NULL)
        return NULL;
    ssl = SSL_new(ctx);
    if (ssl != NULL)
        SSL_set_accept_state(ssl);
    return ssl;
}

const char *
tls_ssl_version(const struct ssl_st *ssl)
{
    return ssl != NULL ? SSL_get_version(ssl) : "none";
}

const char *
tls_ssl_cipher(const struct ssl_st *ssl)
{
    const char *name = ssl != NULL ? SSL_get_cipher_name(ssl) : NULL;

    return name != NULL ? name : "none";
}

const char *
tls_ssl_group(struct ssl_st *ssl)
{
    int nid = ssl != NULL ? SSL_get_negotiated_group(ssl) : 0;
    const char *name = nid != 0 ? SSL_group_to_name(ssl, nid) : NULL;

    return name != NULL ? name : "none";
}

const char *
tls_last_error(char *buf, size_t len)
{
    /* The first queued error is the root cause; later ones are the
     * callers that passed it up. */
    unsigned long e = ERR_get_error();

    ERR_clear_error();
    if (buf == NULL || len == 0)
        return "unknown error";
    if (e == 0)
        strlcpy_p(buf, "unknown error", len);
    else
        ERR_error_string_n(e, buf, len);
    return buf;
}

const char *
tls_error_text(unsigned long code, char *buf, size_t len)
{
    if (buf == NULL || len == 0)
        return "unknown error";
    ERR_error_string_n(code, buf, len);
    return buf;
}

void
tls_ssl_free(struct ssl_st *ssl)
{
    SSL_free(ssl);
}

void
tls_ssl_request_client_cert(struct ssl_st *ssl)
{
    /* SSL_VERIFY_PEER without FAIL_IF_NO_PEER_CERT: the handshake goes on
     * without a certificate or with a bad one; tls_peer_check decides. */
    SSL_set_verify(ssl, SSL_VERIFY_PEER, tls_verify_continue);
}

struct ssl_ctx_st *
tls_ctx_ref(struct ssl_ctx_st *ctx)
{
    if (ctx)
        SSL_CTX_up_ref(ctx);
    return ctx;
}

void
tls_ctx_unref(struct ssl_ctx_st *ctx)
{
    SSL_CTX_free(ctx);
}
