/*
 * test_tls_client.c — unit tests for the client side of src/tls
 * (tls_client.c): client contexts, SNI, client certificates and
 * tls_peer_check on both ends of real in-memory handshakes (BIO pairs).
 *
 * A test CA, leaf certificates (tls_testlib.h) and CRLs are built with the
 * OpenSSL API (EC P-256 keys, quick to generate). Each test works in its
 * own mkdtemp certificate directory (with root/ and crl/ below it) and
 * removes it afterwards.
 * Must never: touch anything outside its temporary directories, or depend
 * on the system trust store's contents.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/util.h"
#include "tls/tls.h"
#include "tls_testlib.h"
#include "testlib.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WHY 1024

/*
 * Helpers
 */

/* Puts a trust anchor into <dir>/root/<name>.pem. */
static void
store_root(const char *dir, const char *name, X509 *ca)
{
    char *sub = xasprintf("%s/root", dir), *p = xasprintf("%s/%s.pem", sub, name);
    FILE *f;

    (void)mkdir(sub, 0755);
    f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, ca), 1);
    assert_int_equal(fclose(f), 0);
    free(p);
    free(sub);
}

/* Puts a CRL by ca, revoking `revoked` (may be NULL) and next due at
 * now + next seconds, into <dir>/crl/<name>.pem. */
static void
store_crl(const char *dir, const char *name, X509 *ca, EVP_PKEY *cakey, X509 *revoked, long next)
{
    char *sub = xasprintf("%s/crl", dir), *p = xasprintf("%s/%s.pem", sub, name);
    X509_CRL *crl = issue_crl(ca, cakey, revoked, next);
    FILE *f;

    (void)mkdir(sub, 0755);
    f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509_CRL(f, crl), 1);
    assert_int_equal(fclose(f), 0);
    X509_CRL_free(crl);
    free(p);
    free(sub);
}

/* A server context for any certificate, even one the store would never
 * select (expired, not yet valid). */
static SSL_CTX *
raw_server_ctx(X509 *leaf, EVP_PKEY *key, X509 *chain)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_use_certificate(ctx, leaf), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
    if (chain != NULL)
        assert_int_equal(SSL_CTX_add1_chain_cert(ctx, chain), 1);
    return ctx;
}

static int
accept_any(int ok, X509_STORE_CTX *xctx)
{
    return 1;
}

struct conn {
    SSL *client, *server;
};

/* A full handshake over a BIO pair between a client from cctx (SNI sni)
 * and a server from sctx, which requests a client certificate when
 * want_client_cert. Both ends must finish: the client never aborts on the
 * server's certificate. */
static struct conn
connect_pair(SSL_CTX *cctx, SSL_CTX *sctx, const char *sni, bool want_client_cert)
{
    struct conn c;

    c.client = tls_client_ssl_new(cctx, sni);
    c.server = tls_ssl_new(sctx);
    assert_non_null(c.client);
    assert_non_null(c.server);
    if (want_client_cert)
        SSL_set_verify(c.server, SSL_VERIFY_PEER, accept_any);
    assert_true(pair_handshake(c.client, c.server));
    return c;
}

static void
conn_free(struct conn *c)
{
    tls_ssl_free(c->client);
    tls_ssl_free(c->server);
}

/* tls_peer_check on the client end against one name. */
static enum tls_peer_status
check_server(SSL_CTX *cctx, SSL_CTX *sctx, const char *name, char *why)
{
    struct conn c = connect_pair(cctx, sctx, name, false);
    const char *names[1] = {name};
    enum tls_peer_status st = tls_peer_check(c.client, names, name ? 1 : 0, why, WHY);

    conn_free(&c);
    return st;
}

/* A test PKI: a CA (trusted via root/ unless untrusted) and keys. */
struct pki {
    char *dir;
    EVP_PKEY *cakey, *key;
    X509 *ca;
};

static void
pki_init(struct pki *p, const char *ca_cn, bool trusted)
{
    struct certspec ca = {
        .cn = ca_cn, .no_san = true, .nb = -1000 * DAY, .na = 1000 * DAY, .ca = true};

    p->dir = testlib_mkdtemp("tlsc");
    p->cakey = ec_key();
    p->key = ec_key();
    p->ca = make_cert(&ca, p->cakey, NULL, NULL);
    if (trusted)
        store_root(p->dir, "ca", p->ca);
}

static void
pki_free(struct pki *p)
{
    X509_free(p->ca);
    EVP_PKEY_free(p->cakey);
    EVP_PKEY_free(p->key);
    testlib_rmtree(p->dir);
    free(p->dir);
}

static X509 *
pki_issue(struct pki *p, const struct certspec *s)
{
    return make_cert(s, p->key, p->ca, p->cakey);
}

/*
 * Tests
 */

static void
test_client_ctx(void **state)
{
    struct pki p;
    struct tls_store *st;
    char why[WHY];
    SSL_CTX *ctx;

    pki_init(&p, "Test CA", true);
    st = load(p.dir);
    ctx = tls_store_client_ctx(st, NULL, why, sizeof(why));
    assert_non_null(ctx);
    assert_string_equal(why, "");
    /* Cached, and an empty name is no name. */
    assert_ptr_equal(tls_store_client_ctx(st, NULL, why, sizeof(why)), ctx);
    assert_ptr_equal(tls_store_client_ctx(st, "", why, sizeof(why)), ctx);
    assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
    assert_int_equal(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_PEER);
    assert_true(SSL_CTX_get_options(ctx) & SSL_OP_NO_COMPRESSION);
    assert_null(SSL_CTX_get0_certificate(ctx));
    /* The CA from root/ is in the trust store. */
    {
        STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));
        bool found = false;
        for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
            X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
            found = found || (x != NULL && X509_cmp(x, p.ca) == 0);
        }
        assert_true(found);
    }
    /* No certificate for the name: NULL and why. */
    assert_null(tls_store_client_ctx(st, "nobody.a.test", why, sizeof(why)));
    assert_non_null(strstr(why, "no certificate names nobody.a.test"));
    assert_null(tls_store_client_ctx(NULL, NULL, why, sizeof(why)));
    assert_null(tls_client_ssl_new(NULL, "x"));
    tls_store_free(st);
    pki_free(&p);
}

static void
test_trusted_and_names(void **state)
{
    struct pki p;
    struct certspec mx = {
        .cn = "mx.b.test", .san = "DNS:mx.b.test,DNS:*.mx2.b.test", .nb = -DAY, .na = 300 * DAY};
    struct certspec cnonly = {.cn = "cn.b.test", .no_san = true, .nb = -DAY, .na = 300 * DAY};
    struct certspec sandiff = {
        .cn = "cn.b.test", .san = "DNS:san.b.test", .nb = -DAY, .na = 300 * DAY};
    struct tls_store *st;
    char why[WHY];
    SSL_CTX *cctx, *sctx;
    X509 *leaf;

    pki_init(&p, "Test CA", true);
    leaf = pki_issue(&p, &mx);
    store_cert(p.dir, leaf, p.ca, p.key, NULL);
    X509_free(leaf);
    st = load(p.dir);
    cctx = tls_store_client_ctx(st, NULL, why, sizeof(why));
    sctx = tls_store_server_ctx(st, "mx.b.test", why, sizeof(why));
    assert_non_null(cctx);
    assert_non_null(sctx);

    /* Trusted and the right name (case and a trailing dot do not matter). */
    assert_int_equal(check_server(cctx, sctx, "mx.b.test", why), TLS_PEER_OK);
    assert_non_null(strstr(why, "CN=mx.b.test"));
    assert_int_equal(check_server(cctx, sctx, "MX.B.test.", why), TLS_PEER_OK);
    /* A wildcard SAN covers exactly one label. */
    assert_int_equal(check_server(cctx, sctx, "a.mx2.b.test", why), TLS_PEER_OK);
    assert_int_equal(check_server(cctx, sctx, "a.b.mx2.b.test", why), TLS_PEER_NAME_MISMATCH);
    assert_int_equal(check_server(cctx, sctx, "mx2.b.test", why), TLS_PEER_NAME_MISMATCH);
    /* Chain only, no names asked. */
    assert_int_equal(check_server(cctx, sctx, NULL, why), TLS_PEER_OK);

    /* Wrong name. */
    assert_int_equal(check_server(cctx, sctx, "b.test", why), TLS_PEER_NAME_MISMATCH);
    assert_string_equal(why, "certificate CN=mx.b.test (issuer CN=Test CA) does not name b.test");

    /* Several names: any one matching is enough; the reason lists all. */
    {
        struct conn c = connect_pair(cctx, sctx, "mx.b.test", false);
        const char *good[] = {"b.test", "mx.b.test"}, *bad[] = {"b.test", "mail.b.test"};
        assert_int_equal(tls_peer_check(c.client, good, 2, why, sizeof(why)), TLS_PEER_OK);
        assert_int_equal(tls_peer_check(c.client, bad, 2, why, sizeof(why)),
                         TLS_PEER_NAME_MISMATCH);
        assert_non_null(strstr(why, "does not name b.test or mail.b.test"));
        /* The server saw no client certificate. */
        assert_int_equal(tls_peer_check(c.server, NULL, 0, why, sizeof(why)),
                         TLS_PEER_NO_CERTIFICATE);
        conn_free(&c);
    }
    tls_store_free(st);

    /* The subject CN counts only without DNS SANs. */
    leaf = pki_issue(&p, &cnonly);
    sctx = raw_server_ctx(leaf, p.key, NULL);
    X509_free(leaf);
    st = load(p.dir);
    cctx = tls_store_client_ctx(st, NULL, why, sizeof(why));
    assert_int_equal(check_server(cctx, sctx, "cn.b.test", why), TLS_PEER_OK);
    SSL_CTX_free(sctx);
    leaf = pki_issue(&p, &sandiff);
    sctx = raw_server_ctx(leaf, p.key, NULL);
    X509_free(leaf);
    assert_int_equal(check_server(cctx, sctx, "cn.b.test", why), TLS_PEER_NAME_MISMATCH);
    assert_int_equal(check_server(cctx, sctx, "san.b.test", why), TLS_PEER_OK);
    SSL_CTX_free(sctx);
    tls_store_free(st);
    pki_free(&p);
}

static void
test_sni(void **state)
{
    struct pki p;
    struct certspec mx = {.cn = "mx.b.test", .nb = -DAY, .na = 300 * DAY};
    static const char *const literals[] = {"192.0.2.1", "[192.0.2.1]", "2001:db8::1",
                                           "[IPv6:2001:db8::1]"};
    struct tls_store *st;
    char why[WHY];
    SSL_CTX *cctx, *sctx;
    X509 *leaf;
    struct conn c;

    pki_init(&p, "Test CA", true);
    leaf = pki_issue(&p, &mx);
    store_cert(p.dir, leaf, p.ca, p.key, NULL);
    X509_free(leaf);
    st = load(p.dir);
    cctx = tls_store_client_ctx(st, NULL, why, sizeof(why));
    sctx = tls_store_server_ctx(st, "mx.b.test", why, sizeof(why));

    c = connect_pair(cctx, sctx, "mx.b.test.", false);
    assert_string_equal(SSL_get_servername(c.server, TLSEXT_NAMETYPE_host_name), "mx.b.test");
    conn_free(&c);
    for (size_t i = 0; i < sizeof(literals) / sizeof(literals[0]); i++) {
        c = connect_pair(cctx, sctx, literals[i], false);
        assert_null(SSL_get_servername(c.server, TLSEXT_NAMETYPE_host_name));
        conn_free(&c);
    }
    c = connect_pair(cctx, sctx, NULL, false);
    assert_null(SSL_get_servername(c.server, TLSEXT_NAMETYPE_host_name));
    conn_free(&c);
    tls_store_free(st);
    pki_free(&p);
}

static void
test_untrusted(void **state)
{
    struct pki p, other;
    struct certspec mx = {.cn = "mx.b.test", .nb = -DAY, .na = 300 * DAY};
    struct certspec old = {.cn = "old.b.test", .nb = -400 * DAY, .na = -DAY};
    struct tls_store *st;
    char why[WHY], thumb[41], err[256];
    SSL_CTX *cctx, *sctx;
    X509 *leaf;

    pki_init(&p, "Test CA", true);
    tls_create_selfsigned(p.dir, "self.b.test", NULL, 1, thumb, err, sizeof(err));
    st = load(p.dir);
    cctx = tls_store_client_ctx(st, NULL, why, sizeof(why));

    /* Self-signed, as setup creates them. */
    sctx = tls_store_server_ctx(st, "self.b.test", why, sizeof(why));
    assert_non_null(sctx);
    assert_int_equal(check_server(cctx, sctx, "self.b.test", why), TLS_PEER_UNTRUSTED);
    assert_string_equal(why, "certificate CN=self.b.test is not trusted: self-signed certificate");

    /* Issued by a CA that is not in root/. */
    pki_init(&other, "Other CA", false);
    leaf = pki_issue(&other, &mx);
    sctx = raw_server_ctx(leaf, other.key, other.ca);
    X509_free(leaf);
    assert_int_equal(check_server(cctx, sctx, "mx.b.test", why), TLS_PEER_UNTRUSTED);
    assert_non_null(strstr(why, "CN=mx.b.test (issuer CN=Other CA) is not trusted"));
    SSL_CTX_free(sctx);

    /* Self-signed and expired: the first problem found (trust) is the one
     * reported. */
    {
        X509 *x = make_cert(&old, p.key, NULL, NULL);
        sctx = raw_server_ctx(x, p.key, NULL);
        X509_free(x);
        assert_int_equal(check_server(cctx, sctx, "old.b.test", why), TLS_PEER_UNTRUSTED);
        SSL_CTX_free(sctx);
    }
    tls_store_free(st);
    pki_free(&other);
    pki_free(&p);
}

static void
test_expired_and_not_yet_valid(void **state)
{
    struct pki p;
    struct certspec old = {.cn = "old.b.test", .nb = -400 * DAY, .na = -DAY};
    struct certspec future = {.cn = "new.b.test", .nb = 10 * DAY, .na = 400 * DAY};
    struct tls_store *st;
    char why[WHY], date[64];
    SSL_CTX *cctx, *sctx;
    X509 *leaf;
    struct tm tm;

    pki_init(&p, "Test CA", true);
    st = load(p.dir);
    cctx = tls_store_client_ctx(st, NULL, why, sizeof(why));

    leaf = pki_issue(&p, &old);
    assert_int_equal(ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm), 1);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", &tm);
    sctx = raw_server_ctx(leaf, p.key, NULL);
    X509_free(leaf);
    assert_int_equal(check_server(cctx, sctx, "old.b.test", why), TLS_PEER_EXPIRED);
    {
        char *want = xasprintf(
            "certificate CN=old.b.test (issuer CN=Test CA) has expired (notAfter %s)", date);
        assert_string_equal(why, want);
        free(want);
    }
    SSL_CTX_free(sctx);

    leaf = pki_issue(&p, &future);
    sctx = raw_server_ctx(leaf, p.key, NULL);
    X509_free(leaf);
    assert_int_equal(check_server(cctx, sctx, "new.b.test", why), TLS_PEER_NOT_YET_VALID);
    assert_non_null(strstr(why, "is not yet valid (notBefore "));
    SSL_CTX_free(sctx);

    tls_store_free(st);
    pki_free(&p);
}

static void
test_revoked(void **state)
{
    struct pki p, other, stale;
    struct certspec bad = {.cn = "bad.b.test", .nb = -DAY, .na = 300 * DAY};
    struct certspec good = {.cn = "good.b.test", .nb = -DAY, .na = 300 * DAY};
    struct certspec mx = {.cn = "mx.c.test", .nb = -DAY, .na = 300 * DAY};
    struct tls_store *st;
    char why[WHY];
    SSL_CTX *cctx, *sbad, *sgood, *sother, *sstale;
    X509 *lbad, *lgood, *x;

    pki_init(&p, "Test CA", true);
    lbad = pki_issue(&p, &bad);
    lgood = pki_issue(&p, &good);
    store_crl(p.dir, "test-ca", p.ca, p.cakey, lbad, 30 * DAY);
    sbad = raw_server_ctx(lbad, p.key, NULL);
    sgood = raw_server_ctx(lgood, p.key, NULL);

    /* A second trusted CA without any CRL: not revocation-checked. */
    pki_init(&other, "Other CA", false);
    store_root(p.dir, "other", other.ca);
    x = pki_issue(&other, &mx);
    sother = raw_server_ctx(x, other.key, NULL);
    X509_free(x);

    /* A third whose CRL is past its nextUpdate: fail closed. */
    pki_init(&stale, "Stale CA", false);
    store_root(p.dir, "stale", stale.ca);
    store_crl(p.dir, "stale", stale.ca, stale.cakey, NULL, -60);
    x = pki_issue(&stale, &mx);
    sstale = raw_server_ctx(x, stale.key, NULL);
    X509_free(x);

    st = load(p.dir);
    cctx = tls_store_client_ctx(st, NULL, why, sizeof(why));
    assert_non_null(cctx);
    assert_int_equal(check_server(cctx, sbad, "bad.b.test", why), TLS_PEER_REVOKED);
    assert_string_equal(why, "certificate CN=bad.b.test (issuer CN=Test CA) has been revoked");
    assert_int_equal(check_server(cctx, sgood, "good.b.test", why), TLS_PEER_OK);
    assert_int_equal(check_server(cctx, sother, "mx.c.test", why), TLS_PEER_OK);
    assert_int_equal(check_server(cctx, sstale, "mx.c.test", why), TLS_PEER_INVALID);
    assert_non_null(strstr(why, "CRL has expired"));
    tls_store_free(st);

    /* Without the CRL the same certificate is fine. */
    {
        char *crl = xasprintf("%s/crl/test-ca.pem", p.dir);
        char *crl2 = xasprintf("%s/crl/stale.pem", p.dir);
        assert_int_equal(unlink(crl), 0);
        assert_int_equal(unlink(crl2), 0);
        free(crl);
        free(crl2);
    }
    st = load(p.dir);
    cctx = tls_store_client_ctx(st, NULL, why, sizeof(why));
    assert_int_equal(check_server(cctx, sbad, "bad.b.test", why), TLS_PEER_OK);
    tls_store_free(st);

    SSL_CTX_free(sbad);
    SSL_CTX_free(sgood);
    SSL_CTX_free(sother);
    SSL_CTX_free(sstale);
    X509_free(lbad);
    X509_free(lgood);
    pki_free(&stale);
    pki_free(&other);
    pki_free(&p);
}

static void
test_client_certificate(void **state)
{
    struct pki p;
    struct certspec mx = {.cn = "mx.b.test", .nb = -DAY, .na = 300 * DAY, .eku = "serverAuth"};
    struct certspec cli = {
        .cn = "out.a.test", .nb = -DAY, .na = 300 * DAY, .eku = "serverAuth,clientAuth"};
    struct certspec srvonly = {
        .cn = "srv.a.test", .nb = -DAY, .na = 300 * DAY, .eku = "serverAuth"};
    const char *names[] = {"out.a.test"}, *wrong[] = {"other.a.test"};
    struct tls_store *st;
    char why[WHY], thumb[41], got[41], err[256];
    SSL_CTX *cctx, *none, *sctx, *selfctx;
    X509 *x, *lcli;
    struct conn c;

    pki_init(&p, "Test CA", true);
    x = pki_issue(&p, &mx);
    store_cert(p.dir, x, p.ca, p.key, NULL);
    X509_free(x);
    lcli = pki_issue(&p, &cli);
    store_cert(p.dir, lcli, p.ca, p.key, NULL);
    x = pki_issue(&p, &srvonly);
    store_cert(p.dir, x, p.ca, p.key, NULL);
    X509_free(x);
    assert_int_equal(tls_create_selfsigned(p.dir, "self.a.test", NULL, 1, thumb, err, sizeof(err)),
                     0);
    st = load(p.dir);

    none = tls_store_client_ctx(st, NULL, why, sizeof(why));
    cctx = tls_store_client_ctx(st, "OUT.a.test.", why, sizeof(why));
    assert_non_null(cctx);
    assert_ptr_not_equal(cctx, none);
    assert_ptr_equal(tls_store_client_ctx(st, "out.a.test", why, sizeof(why)), cctx);
    thumb_of(SSL_CTX_get0_certificate(cctx), got);
    {
        char want[41];
        thumb_of(lcli, want);
        assert_string_equal(got, want);
    }
    /* serverAuth only: not a client certificate. */
    assert_null(tls_store_client_ctx(st, "srv.a.test", why, sizeof(why)));
    assert_non_null(strstr(why, "client authentication"));

    /* The server (asking for a certificate, trusting the CA) sees it. */
    sctx = tls_store_server_ctx(st, "mx.b.test", why, sizeof(why));
    assert_non_null(sctx);
    assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(sctx), p.ca), 1);
    c = connect_pair(cctx, sctx, "mx.b.test", true);
    assert_int_equal(tls_peer_check(c.server, names, 1, why, sizeof(why)), TLS_PEER_OK);
    assert_non_null(strstr(why, "CN=out.a.test"));
    assert_int_equal(tls_peer_check(c.server, wrong, 1, why, sizeof(why)), TLS_PEER_NAME_MISMATCH);
    assert_int_equal(tls_peer_check(c.client, (const char *[]){"mx.b.test"}, 1, why, sizeof(why)),
                     TLS_PEER_OK);
    conn_free(&c);

    /* Without client_fqdn nothing is presented. */
    c = connect_pair(none, sctx, "mx.b.test", true);
    assert_int_equal(tls_peer_check(c.server, names, 1, why, sizeof(why)), TLS_PEER_NO_CERTIFICATE);
    conn_free(&c);

    /* Setup's self-signed certificate works as a client certificate; the
     * server does not trust it. */
    selfctx = tls_store_client_ctx(st, "self.a.test", why, sizeof(why));
    assert_non_null(selfctx);
    c = connect_pair(selfctx, sctx, "mx.b.test", true);
    assert_int_equal(tls_peer_check(c.server, (const char *[]){"self.a.test"}, 1, why, sizeof(why)),
                     TLS_PEER_UNTRUSTED);
    conn_free(&c);

    X509_free(lcli);
    tls_store_free(st);
    pki_free(&p);
}

static void
test_status_names(void **state)
{
    char why[WHY];

    assert_string_equal(tls_peer_status_name(TLS_PEER_OK), "Ok");
    assert_string_equal(tls_peer_status_name(TLS_PEER_NO_CERTIFICATE), "NoCertificate");
    assert_string_equal(tls_peer_status_name(TLS_PEER_UNTRUSTED), "UntrustedRoot");
    assert_string_equal(tls_peer_status_name(TLS_PEER_EXPIRED), "Expired");
    assert_string_equal(tls_peer_status_name(TLS_PEER_NOT_YET_VALID), "NotYetValid");
    assert_string_equal(tls_peer_status_name(TLS_PEER_REVOKED), "Revoked");
    assert_string_equal(tls_peer_status_name(TLS_PEER_NAME_MISMATCH), "NameMismatch");
    assert_string_equal(tls_peer_status_name(TLS_PEER_INVALID), "Invalid");
    assert_int_equal(tls_peer_check(NULL, NULL, 0, why, sizeof(why)), TLS_PEER_NO_CERTIFICATE);
}

static void
test_broken_trust_files(void **state)
{
    struct pki p;
    struct certspec mx = {.cn = "mx.b.test", .nb = -DAY, .na = 300 * DAY};
    struct tls_store *st;
    char why[WHY], *root, *crl;
    SSL_CTX *cctx, *sctx;
    X509 *leaf;

    /* Garbage in root/ and crl/ is skipped: the good anchor still works,
     * and a broken CRL file does not switch on CRL checking. */
    pki_init(&p, "Test CA", true);
    root = xasprintf("%s/root", p.dir);
    crl = xasprintf("%s/crl", p.dir);
    (void)mkdir(root, 0755);
    (void)mkdir(crl, 0755);
    testlib_write_in(root, "garbage.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n");
    testlib_write_in(root, "empty.pem", "");
    testlib_write_in(root, "notes.txt", "ignored\n");
    testlib_write_in(crl, "garbage.pem", "this is not PEM\n");
    leaf = pki_issue(&p, &mx);
    sctx = raw_server_ctx(leaf, p.key, NULL);
    X509_free(leaf);
    st = load(p.dir);
    cctx = tls_store_client_ctx(st, NULL, why, sizeof(why));
    assert_non_null(cctx);
    assert_int_equal(
        X509_VERIFY_PARAM_get_flags(X509_STORE_get0_param(SSL_CTX_get_cert_store(cctx))) &
            X509_V_FLAG_CRL_CHECK,
        0);
    assert_int_equal(check_server(cctx, sctx, "mx.b.test", why), TLS_PEER_OK);
    SSL_CTX_free(sctx);
    tls_store_free(st);
    free(root);
    free(crl);
    pki_free(&p);
}

/*
 * Profiles: what delivery offers old and new servers
 */

/* A peer server limited to protocols min..max and, when given, TLS 1.2-and-below suites. */
static SSL_CTX *
peer_server(X509 *leaf, EVP_PKEY *key, int min, int max, const char *ciphers)
{
    SSL_CTX *ctx = raw_server_ctx(leaf, key, NULL);

    limit_ctx(ctx, min, max, ciphers);
    return ctx;
}

/* One in-memory handshake of a client from cctx with a server from sctx:
 * true when both ends finish (version then gets the protocol), false when
 * either gives up. */
static bool
try_connect(SSL_CTX *cctx, SSL_CTX *sctx, char version[16])
{
    SSL *client = tls_client_ssl_new(cctx, "mx.b.test"), *server = tls_ssl_new(sctx);
    bool done;

    assert_non_null(client);
    assert_non_null(server);
    done = pair_handshake(client, server);
    if (done && version != NULL)
        snprintf(version, 16, "%s", SSL_get_version(client));
    tls_ssl_free(client);
    tls_ssl_free(server);
    return done;
}

/* The client context of a fresh store of dir with profile. */
static SSL_CTX *
profile_client(const char *dir, enum tls_profile profile, struct tls_store **st)
{
    char why[WHY];
    SSL_CTX *cctx;

    *st = load(dir);
    tls_store_set_profile(*st, profile);
    cctx = tls_store_client_ctx(*st, NULL, why, sizeof(why));
    assert_non_null(cctx);
    return cctx;
}

static void
test_profiles(void **state)
{
    struct pki p;
    struct certspec mx = {.cn = "mx.b.test", .nb = -DAY, .na = 300 * DAY};
    struct tls_store *st;
    SSL_CTX *cctx, *current, *cbc12, *old10;
    STACK_OF(SSL_CIPHER) * offered;
    char version[16], why[WHY];
    X509 *leaf;
    SSL *ssl;

    pki_init(&p, "Test CA", true);
    leaf = pki_issue(&p, &mx);
    /* Peers: a current server, a TLS 1.2 server with CBC suites only, and
     * a TLS 1.0 one. */
    current = peer_server(leaf, p.key, TLS1_2_VERSION, TLS1_3_VERSION, NULL);
    cbc12 = peer_server(leaf, p.key, TLS1_2_VERSION, TLS1_2_VERSION,
                        "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384");
    old10 = peer_server(leaf, p.key, TLS1_VERSION, TLS1_VERSION, "DEFAULT:@SECLEVEL=0");
    X509_free(leaf);

    /* Intermediate (a store's default): what the client offers for TLS 1.2
     * is AEAD with (EC)DHE; the old servers get no handshake (delivery
     * then goes on in clear text unless TLS is required). */
    st = load(p.dir);
    cctx = tls_store_client_ctx(st, NULL, why, sizeof(why));
    assert_non_null(cctx);
    assert_int_equal(SSL_CTX_get_min_proto_version(cctx), TLS1_2_VERSION);
    ssl = tls_client_ssl_new(cctx, NULL);
    offered = SSL_get1_supported_ciphers(ssl);
    assert_non_null(offered);
    assert_true(sk_SSL_CIPHER_num(offered) > 3);
    for (int i = 0; i < sk_SSL_CIPHER_num(offered); i++) {
        const SSL_CIPHER *c = sk_SSL_CIPHER_value(offered, i);
        int kx = SSL_CIPHER_get_kx_nid(c);
        if (kx != NID_kx_any &&
            (!SSL_CIPHER_is_aead(c) || (kx != NID_kx_ecdhe && kx != NID_kx_dhe)))
            fail_msg("the client offers %s", SSL_CIPHER_get_name(c));
    }
    sk_SSL_CIPHER_free(offered);
    tls_ssl_free(ssl);
    assert_true(try_connect(cctx, current, version));
    assert_string_equal(version, "TLSv1.3");
    assert_false(try_connect(cctx, cbc12, NULL));
    assert_false(try_connect(cctx, old10, NULL));
    tls_store_free(st);

    /* Modern: TLS 1.3 servers only. */
    cctx = profile_client(p.dir, TLS_PROFILE_MODERN, &st);
    assert_int_equal(SSL_CTX_get_min_proto_version(cctx), TLS1_3_VERSION);
    assert_true(try_connect(cctx, current, version));
    assert_string_equal(version, "TLSv1.3");
    SSL_CTX_set_max_proto_version(current, TLS1_2_VERSION);
    assert_false(try_connect(cctx, current, NULL));
    SSL_CTX_set_max_proto_version(current, TLS1_3_VERSION);
    tls_store_free(st);

    /* Compatible: every one of them, the best protocol each offers. */
    cctx = profile_client(p.dir, TLS_PROFILE_COMPATIBLE, &st);
    assert_true(try_connect(cctx, current, version));
    assert_string_equal(version, "TLSv1.3");
    assert_true(try_connect(cctx, cbc12, version));
    assert_string_equal(version, "TLSv1.2");
    assert_true(try_connect(cctx, old10, version));
    assert_string_equal(version, "TLSv1");
    tls_store_free(st);

    SSL_CTX_free(current);
    SSL_CTX_free(cbc12);
    SSL_CTX_free(old10);
    pki_free(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_ctx),
        cmocka_unit_test(test_trusted_and_names),
        cmocka_unit_test(test_sni),
        cmocka_unit_test(test_untrusted),
        cmocka_unit_test(test_expired_and_not_yet_valid),
        cmocka_unit_test(test_revoked),
        cmocka_unit_test(test_client_certificate),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_broken_trust_files),
        cmocka_unit_test(test_profiles),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
