/*
 * test_tls_bundle.c — unit tests for the store as data (src/tls/
 * tls_pubbundle.c, tls_store_build.c, tls_system_trust.c): a directory
 * exported as a public bundle and loaded again with a key factory gives
 * the store the directory gives (same choices, same reasons, working
 * handshakes); the bundle holds no key; a truncated or altered bundle
 * fails with a reason and never crashes; and the system's CAs verify a
 * peer from a process that has chroot()ed into an empty directory.
 *
 * Certificates are built with tls_testlib.h. Each test works in its own
 * mkdtemp directory and removes it afterwards; the chroot test runs in a
 * forked child (root only, skipped otherwise).
 * Must never: touch anything outside its temporary directories, or leave a
 * child process behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/util.h"
#include "tls/tls.h"
#include "testlib.h"
#include "tls_testlib.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define WHY 1024

/*
 * Helpers
 */

/* PEM of x and crl (either may be NULL) as <dir>/<sub>/<name> (sub
 * created). */
static void
store_pem(const char *dir, const char *sub, const char *name, X509 *x, X509_CRL *crl)
{
    char *d = xasprintf("%s/%s", dir, sub), *p = xasprintf("%s/%s", d, name);
    FILE *f;

    (void)mkdir(d, 0755);
    f = fopen(p, "w");
    assert_non_null(f);
    if (x != NULL)
        assert_int_equal(PEM_write_X509(f, x), 1);
    if (crl != NULL)
        assert_int_equal(PEM_write_X509_CRL(f, crl), 1);
    assert_int_equal(fclose(f), 0);
    free(p);
    free(d);
}

/* The key factory of these tests: the real key, read from the test's
 * certificate directory by its id, as the keys process would find it.
 * Counts its calls. */
struct keys {
    const char *dir;
    int calls;
    bool refuse;     /* hand out no key at all */
    EVP_PKEY *wrong; /* hand out this one instead (not the certificate's) */
};

static EVP_PKEY *
dir_key(void *arg, X509 *leaf, const char *key_id)
{
    struct keys *k = arg;
    char tp[41], *p;
    EVP_PKEY *key;
    FILE *f;

    k->calls++;
    thumb_of(leaf, tp);
    assert_string_equal(key_id, tp);
    if (k->refuse)
        return NULL;
    if (k->wrong != NULL) {
        EVP_PKEY_up_ref(k->wrong);
        return k->wrong;
    }
    p = xasprintf("%s/%s.key", k->dir, key_id);
    f = fopen(p, "r");
    free(p);
    if (f == NULL)
        return NULL;
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return key;
}

static char *export(const char *dir, size_t *len)
{
    char err[256] = "";
    char *blob = tls_bundle_export(dir, len, err, sizeof(err));

    if (blob == NULL)
        fail_msg("export %s: %s", dir, err);
    assert_int_equal(strlen(blob), *len);
    return blob;
}

static struct tls_store *
load_blob(const char *blob, size_t len, struct keys *k)
{
    char err[256] = "";
    struct tls_store *st = tls_store_load_bundle(blob, len, dir_key, k, err, sizeof(err));

    if (st == NULL)
        fail_msg("load_bundle: %s", err);
    return st;
}

/* What a store answers for fqdn: the chosen certificate's thumbprint, or
 * "none: <why>". */
static void
choice(struct tls_store *st, const char *fqdn, bool client, char *out, size_t outlen)
{
    char why[WHY];
    SSL_CTX *ctx = client ? tls_store_client_ctx(st, fqdn, why, sizeof(why))
                          : tls_store_server_ctx(st, fqdn, why, sizeof(why));
    X509 *x = ctx != NULL ? SSL_CTX_get0_certificate(ctx) : NULL;
    char tp[41];

    if (ctx == NULL) {
        snprintf(out, outlen, "none: %s", why);
        return;
    }
    assert_non_null(x);
    thumb_of(x, tp);
    snprintf(out, outlen, "%s", tp);
}

/* The directory store and the bundle store answer fqdn alike (server and
 * client side); returns the server side's answer. */
static void
same_choice(struct tls_store *a, struct tls_store *b, const char *fqdn, char *out)
{
    char ca[WHY + 64], cb[WHY + 64];

    for (int client = 1; client >= 0; client--) {
        choice(a, fqdn, client, ca, sizeof(ca));
        choice(b, fqdn, client, cb, sizeof(cb));
        if (strcmp(ca, cb) != 0)
            fail_msg("%s (%s): directory store \"%s\", bundle store \"%s\"", fqdn,
                     client ? "client" : "server", ca, cb);
    }
    strcpy(out, ca);
}

/* A directory with a bit of everything the store reads. */
struct fixture {
    char *dir;
    EVP_PKEY *cakey, *key, *other;
    X509 *ca;
    char ca_issued[41], self_old[41], self_new[41], nokey[41], mismatch[41], expired[41],
        future[41], revoked[41], marked[41];
};

static void
fixture_init(struct fixture *f)
{
    struct certspec ca = {
        .cn = "Bundle CA", .no_san = true, .nb = -1000 * DAY, .na = 1000 * DAY, .ca = true};
    struct certspec s;
    X509 *x, *rev;
    X509_CRL *crl;

    memset(f, 0, sizeof(*f));
    f->dir = testlib_mkdtemp("bundle");
    f->cakey = ec_key();
    f->key = ec_key();
    f->other = ec_key();
    f->ca = make_cert(&ca, f->cakey, NULL, NULL);
    store_pem(f->dir, "root", "ca.pem", f->ca, NULL);

    /* mx.b.test: a CA-issued one (with chain) beats newer self-signed ones. */
    s = (struct certspec){.cn = "mx.b.test", .nb = -10 * DAY, .na = 300 * DAY};
    x = make_cert(&s, f->key, f->ca, f->cakey);
    store_cert(f->dir, x, f->ca, f->key, f->ca_issued);
    X509_free(x);
    s.nb = -5 * DAY;
    x = make_cert(&s, f->key, NULL, NULL);
    store_cert(f->dir, x, NULL, f->key, f->self_old);
    X509_free(x);
    /* smtp.b.test: the SMTP marker beats a newer certificate. */
    s = (struct certspec){.cn = "smtp.b.test", .nb = -9 * DAY, .na = 300 * DAY};
    x = make_cert(&s, f->key, NULL, NULL);
    store_cert(f->dir, x, NULL, f->key, f->marked);
    X509_free(x);
    s.nb = -DAY;
    x = make_cert(&s, f->key, NULL, NULL);
    store_cert(f->dir, x, NULL, f->key, f->self_new);
    X509_free(x);
    {
        char *m = xasprintf("%s.smtp", f->marked);
        testlib_write_in(f->dir, m, "SMTP\n");
        free(m);
    }
    /* Unusable ones, each with its reason. */
    s = (struct certspec){.cn = "nokey.b.test", .nb = -DAY, .na = 300 * DAY};
    x = make_cert(&s, f->key, NULL, NULL);
    store_cert(f->dir, x, NULL, NULL, f->nokey);
    X509_free(x);
    s = (struct certspec){.cn = "mismatch.b.test", .nb = -DAY, .na = 300 * DAY};
    x = make_cert(&s, f->key, NULL, NULL);
    store_cert(f->dir, x, NULL, f->other, f->mismatch);
    X509_free(x);
    s = (struct certspec){.cn = "expired.b.test", .nb = -300 * DAY, .na = -DAY};
    x = make_cert(&s, f->key, NULL, NULL);
    store_cert(f->dir, x, NULL, f->key, f->expired);
    X509_free(x);
    s = (struct certspec){.cn = "future.b.test", .nb = DAY, .na = 300 * DAY};
    x = make_cert(&s, f->key, NULL, NULL);
    store_cert(f->dir, x, NULL, f->key, f->future);
    X509_free(x);
    s = (struct certspec){.cn = "revoked.b.test", .nb = -DAY, .na = 300 * DAY};
    rev = make_cert(&s, f->key, f->ca, f->cakey);
    store_cert(f->dir, rev, f->ca, f->key, f->revoked);
    crl = issue_crl(f->ca, f->cakey, rev, 7 * DAY);
    store_pem(f->dir, "crl", "ca.pem", NULL, crl);
    X509_CRL_free(crl);
    X509_free(rev);
    /* Files the store skips: the bundle leaves them out too. */
    testlib_write_in(f->dir, "garbage.pem", "this is not PEM\n");
    testlib_write_in(f->dir, "truncated.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n");
}

static void
fixture_free(struct fixture *f)
{
    EVP_PKEY_free(f->cakey);
    EVP_PKEY_free(f->key);
    EVP_PKEY_free(f->other);
    X509_free(f->ca);
    testlib_rmtree(f->dir);
    free(f->dir);
}

/* A small directory for the tests that load a bundle thousands of times:
 * a CA-issued certificate with its chain, key and SMTP marker, one without
 * a key, the CA in root/ and its CRL. */
static char *
small_dir(void)
{
    struct certspec ca = {
        .cn = "Small CA", .no_san = true, .nb = -1000 * DAY, .na = 1000 * DAY, .ca = true};
    struct certspec s = {.cn = "mx.s.test", .nb = -DAY, .na = 300 * DAY};
    char *dir = testlib_mkdtemp("bundle"), tp[41], *m;
    EVP_PKEY *cakey = ec_key(), *key = ec_key();
    X509 *cax = make_cert(&ca, cakey, NULL, NULL), *x;
    X509_CRL *crl = issue_crl(cax, cakey, NULL, 7 * DAY);

    x = make_cert(&s, key, cax, cakey);
    store_cert(dir, x, cax, key, tp);
    X509_free(x);
    m = xasprintf("%s.smtp", tp);
    testlib_write_in(dir, m, "SMTP\n");
    free(m);
    s.cn = "nokey.s.test";
    x = make_cert(&s, key, NULL, NULL);
    store_cert(dir, x, NULL, NULL, NULL);
    X509_free(x);
    store_pem(dir, "root", "ca.pem", cax, NULL);
    store_pem(dir, "crl", "ca.pem", NULL, crl);
    X509_CRL_free(crl);
    X509_free(cax);
    EVP_PKEY_free(cakey);
    EVP_PKEY_free(key);
    return dir;
}

static int
count_lines_starting(const char *blob, const char *prefix)
{
    int n = 0;
    size_t pl = strlen(prefix);

    for (const char *p = blob; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
        n += strncmp(p, prefix, pl) == 0;
    return n;
}

/*
 * Tests
 */

static void
test_export_holds_no_key(void **state)
{
    struct fixture f;
    size_t len;
    char *blob, *line;

    fixture_init(&f);
    blob = export(f.dir, &len);
    assert_true(strncmp(blob, "postern-tls-public-bundle 1\ncertdir ", 36) == 0);
    assert_true(len > 4 && strcmp(blob + len - 4, "end\n") == 0);
    assert_null(strstr(blob, "PRIVATE KEY"));
    /* Nine certificate files: the two broken ones are left out. */
    assert_int_equal(count_lines_starting(blob, "cert "), 9);
    assert_null(strstr(blob, "garbage.pem"));
    line = xasprintf("cert %s.pem key=ok key-id=%s smtp=no certificates=2\n", f.ca_issued,
                     f.ca_issued);
    assert_non_null(strstr(blob, line));
    free(line);
    line = xasprintf("cert %s.pem key=ok key-id=%s smtp=yes certificates=1\n", f.marked, f.marked);
    assert_non_null(strstr(blob, line));
    free(line);
    line = xasprintf("cert %s.pem key=none key-id=- smtp=no certificates=1\n", f.nokey);
    assert_non_null(strstr(blob, line));
    free(line);
    line = xasprintf("cert %s.pem key=mismatch key-id=- smtp=no certificates=1\n", f.mismatch);
    assert_non_null(strstr(blob, line));
    free(line);
    assert_non_null(strstr(blob, "\nroots 1\n-----BEGIN CERTIFICATE-----\n"));
    assert_non_null(strstr(blob, "\ncrls 1\n-----BEGIN X509 CRL-----\n"));
    free(blob);

    /* An unreadable directory is an error, as for tls_store_load. */
    {
        char err[256];
        assert_null(tls_bundle_export("/nonexistent/postern", &len, err, sizeof(err)));
        assert_non_null(strstr(err, "/nonexistent/postern"));
    }
    fixture_free(&f);
}

static void
test_bundle_store_chooses_as_directory(void **state)
{
    static const char *const names[] = {
        "mx.b.test",      "MX.B.test.",    "smtp.b.test",    "nokey.b.test",  "mismatch.b.test",
        "expired.b.test", "future.b.test", "revoked.b.test", "nobody.b.test",
    };
    struct fixture f;
    struct keys k = {0};
    struct tls_store *dst, *bst;
    char got[WHY + 64];
    size_t len;
    char *blob;

    fixture_init(&f);
    k.dir = f.dir;
    blob = export(f.dir, &len);
    dst = load(f.dir);
    bst = load_blob(blob, len, &k);
    /* Asked once for each certificate with a usable key: mx (two), smtp
     * (two), expired, future, revoked. */
    assert_int_equal(k.calls, 7);

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        same_choice(dst, bst, names[i], got);
    same_choice(dst, bst, "mx.b.test", got);
    assert_string_equal(got, f.ca_issued);
    same_choice(dst, bst, "smtp.b.test", got);
    assert_string_equal(got, f.marked);
    same_choice(dst, bst, "nokey.b.test", got);
    assert_non_null(strstr(got, "has no private key"));
    same_choice(dst, bst, "mismatch.b.test", got);
    assert_non_null(strstr(got, "does not match"));
    same_choice(dst, bst, "expired.b.test", got);
    assert_non_null(strstr(got, "expired on"));
    same_choice(dst, bst, "future.b.test", got);
    assert_non_null(strstr(got, "is not valid until"));
    same_choice(dst, bst, "revoked.b.test", got);
    assert_non_null(strstr(got, "is revoked (CRL)"));

    /* Real handshakes between the bundle store's contexts: the server
     * presents the CA-issued certificate with its chain, the client trusts
     * the CA of root/ and checks the name, with and without presenting its
     * own certificate (domain security). */
    {
        char why[WHY];
        SSL_CTX *sctx = tls_store_server_ctx(bst, "mx.b.test", why, sizeof(why));
        const char *want[] = {"mx.b.test"};

        for (int mutual = 0; mutual < 2; mutual++) {
            SSL_CTX *cctx =
                tls_store_client_ctx(bst, mutual ? "mx.b.test" : NULL, why, sizeof(why));
            SSL *client = tls_client_ssl_new(cctx, "mx.b.test"), *server = tls_ssl_new(sctx);

            assert_non_null(client);
            assert_non_null(server);
            if (mutual)
                tls_ssl_request_client_cert(server);
            assert_true(pair_handshake(client, server));
            assert_int_equal(tls_peer_check(client, want, 1, why, sizeof(why)), TLS_PEER_OK);
            if (mutual)
                assert_int_equal(tls_peer_check(server, want, 1, why, sizeof(why)), TLS_PEER_OK);
            tls_ssl_free(client);
            tls_ssl_free(server);
        }
    }
    tls_store_free(dst);
    tls_store_free(bst);
    free(blob);
    fixture_free(&f);
}

static void
test_factory_without_key(void **state)
{
    struct fixture f;
    struct keys k = {0};
    struct tls_store *st;
    char got[WHY + 64];
    size_t len;
    char *blob;

    fixture_init(&f);
    blob = export(f.dir, &len);
    /* No key from the keys process: the certificate is not used. */
    k.dir = f.dir;
    k.refuse = true;
    st = load_blob(blob, len, &k);
    choice(st, "mx.b.test", false, got, sizeof(got));
    assert_non_null(strstr(got, "has an unreadable private key"));
    tls_store_free(st);
    /* A key that is not the certificate's: refused as a mismatch. */
    k.refuse = false;
    k.wrong = f.other;
    st = load_blob(blob, len, &k);
    choice(st, "mx.b.test", false, got, sizeof(got));
    assert_non_null(strstr(got, "does not match"));
    tls_store_free(st);
    /* No factory at all: the same. */
    {
        char err[256];
        st = tls_store_load_bundle(blob, len, NULL, NULL, err, sizeof(err));
        assert_non_null(st);
        choice(st, "mx.b.test", false, got, sizeof(got));
        assert_non_null(strstr(got, "has an unreadable private key"));
        tls_store_free(st);
    }
    free(blob);
    fixture_free(&f);
}

/* Is cut a place where a bundle may break differently: next to a line's
 * end, or one in every few bytes elsewhere? */
static bool
cut_point(const char *blob, size_t len, size_t cut)
{
    for (size_t i = cut > 0 ? cut - 1 : 0; i <= cut + 1 && i < len; i++)
        if (blob[i] == '\n')
            return true;
    return cut % 7 == 0;
}

static void
test_truncated_bundle_fails(void **state)
{
    char *dir = small_dir();
    struct keys k = {0};
    char err[256];
    size_t len, tried = 0;
    char *blob;

    k.dir = dir;
    blob = export(dir, &len);
    /* Proper prefixes fail with a reason; the factory is never asked
     * (nothing is built from part of a bundle). A copy of exactly that
     * many bytes, so that reading one more is a sanitizer error. Every cut
     * around a line's end, and every seventh byte within lines: base64
     * cut anywhere else reads the same. */
    for (size_t cut = 0; cut < len; cut++) {
        char *part;

        if (!cut_point(blob, len, cut))
            continue;
        part = xmalloc(cut > 0 ? cut : 1);
        memcpy(part, blob, cut);
        err[0] = '\0';
        if (tls_store_load_bundle(part, cut, dir_key, &k, err, sizeof(err)) != NULL)
            fail_msg("a bundle cut to %zu of %zu bytes loaded", cut, len);
        assert_true(strncmp(err, "public certificate bundle", 25) == 0);
        free(part);
        tried++;
    }
    assert_true(tried > len / 7);
    assert_int_equal(k.calls, 0);
    /* The whole of it loads. */
    tls_store_free(load_blob(blob, len, &k));
    assert_int_equal(k.calls, 1);
    free(blob);
    testlib_rmtree(dir);
    free(dir);
}

/* blob with the first occurrence of from replaced by to: NULL and why. */
static void
assert_altered_fails(const char *blob, const char *from, const char *to, const char *why_part)
{
    const char *at = strstr(blob, from);
    char err[256] = "", *alt;
    size_t n;

    assert_non_null(at);
    alt = xasprintf("%.*s%s%s", (int)(at - blob), blob, to, at + strlen(from));
    n = strlen(alt);
    if (tls_store_load_bundle(alt, n, NULL, NULL, err, sizeof(err)) != NULL)
        fail_msg("\"%s\" -> \"%s\" loaded", from, to);
    if (strstr(err, why_part) == NULL)
        fail_msg("\"%s\" -> \"%s\": %s", from, to, err);
    free(alt);
}

static void
test_altered_bundle_fails(void **state)
{
    struct fixture f;
    char err[256], *line, *other;
    size_t len;
    char *blob;

    fixture_init(&f);
    blob = export(f.dir, &len);
    assert_altered_fails(blob, "bundle 1\n", "bundle 2\n", "not a version 1 bundle");
    assert_altered_fails(blob, "certdir ", "certdir\t", "unexpected byte 0x09");
    assert_altered_fails(blob, "certificates=2", "certificates=3", "expected \"-----BEGIN");
    assert_altered_fails(blob, "certificates=2", "certificates=1", "expected \"cert ...\"");
    assert_altered_fails(blob, "certificates=2", "certificates=0", "without a certificate");
    assert_altered_fails(blob, "certificates=2", "certificates=99999999", "bad count");
    assert_altered_fails(blob, "certificates=2", "certificates=-2", "bad count");
    assert_altered_fails(blob, "roots 1\n", "roots 2\n", "expected \"-----BEGIN CERTIFICATE");
    assert_altered_fails(blob, "crls 1\n", "crls 0\n", "expected \"end\"");
    assert_altered_fails(blob, "key=none", "key=maybe", "bad key state");
    assert_altered_fails(blob, "key=none key-id=-", "key=ok key-id=-", "bad key-id");
    assert_altered_fails(blob, "smtp=no", "smtp=perhaps", "bad smtp=");
    assert_altered_fails(blob, "key=none key-id=-",
                         "key=none key-id=0000000000000000000000000000000000000000",
                         "a key-id without a key");
    assert_altered_fails(blob, ".pem key=", "%2F.pem key=", "'/'");
    assert_altered_fails(blob, ".pem key=", "%00.pem key=", "NUL");
    assert_altered_fails(blob, ".pem key=", "%G0.pem key=", "bad %-escape");
    assert_altered_fails(blob, "\nend\n", "\nend\nmore\n", "bytes after \"end\"");
    assert_altered_fails(blob, "-----END CERTIFICATE-----\n", "-----END CERTIFICATE-----\r\n",
                         "expected");
    assert_altered_fails(blob, "\n-----BEGIN CERTIFICATE-----\nMII",
                         "\n-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n\nMII", "damaged");
    assert_altered_fails(blob, "\n-----BEGIN CERTIFICATE-----\nMII",
                         "\n-----BEGIN CERTIFICATE-----\n!!!", "not a certificate");
    assert_altered_fails(blob, "-----BEGIN X509 CRL-----", "-----BEGIN CERTIFICATE-----",
                         "expected \"-----BEGIN X509 CRL");
    /* A key id that is another certificate's thumbprint. */
    line = xasprintf("key=ok key-id=%s", f.ca_issued);
    other = xasprintf("key=ok key-id=%s", f.self_old);
    assert_altered_fails(blob, line, other, "is not the certificate's thumbprint");
    free(line);
    free(other);
    /* A NUL anywhere ends no line early: the length rules. */
    {
        char *alt = xstrdup(blob);
        alt[10] = '\0';
        assert_null(tls_store_load_bundle(alt, len, NULL, NULL, err, sizeof(err)));
        assert_non_null(strstr(err, "unexpected byte 0x00"));
        free(alt);
    }
    assert_null(tls_store_load_bundle(NULL, 0, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "empty"));
    free(blob);
    fixture_free(&f);
}

/* Any byte changed anywhere: a store or a reason, never a crash (the
 * sanitizer build checks the memory side). */
static void
test_flipped_bytes(void **state)
{
    char *dir = small_dir();
    struct keys k = {0};
    size_t len, loaded = 0, failed = 0;
    char *blob, err[256];

    k.dir = dir;
    blob = export(dir, &len);
    for (size_t i = 0; i < len; i += 5) {
        char *alt = xmalloc(len);
        struct tls_store *st;

        memcpy(alt, blob, len);
        alt[i] ^= (char)(1u << (i % 8));
        err[0] = '\0';
        st = tls_store_load_bundle(alt, len, dir_key, &k, err, sizeof(err));
        if (st != NULL) {
            loaded++;
            tls_store_free(st);
        } else {
            assert_true(err[0] != '\0');
            failed++;
        }
        free(alt);
    }
    /* Most changes break something the decoder checks. */
    assert_true(failed > loaded);
    free(blob);
    testlib_rmtree(dir);
    free(dir);
}

/*
 * The system's CAs, from a chroot
 */

/* In the child: a store from blob, a handshake with a server presenting
 * leaf (issued by a CA only the system trusts), and the peer check.
 * Returns the status, or -1 with why set. */
static int
child_verify(const char *blob, size_t len, X509 *leaf, EVP_PKEY *key, char *why, size_t whylen)
{
    struct tls_store *st = tls_store_load_bundle(blob, len, NULL, NULL, why, whylen);
    const char *want[] = {"peer.c.test"};
    SSL_CTX *cctx, *sctx;
    SSL *client, *server;
    int rc = -1;

    if (st == NULL)
        return -1;
    cctx = tls_store_client_ctx(st, NULL, why, whylen);
    sctx = SSL_CTX_new(TLS_server_method());
    if (cctx == NULL || sctx == NULL || SSL_CTX_use_certificate(sctx, leaf) != 1 ||
        SSL_CTX_use_PrivateKey(sctx, key) != 1)
        goto out;
    client = tls_client_ssl_new(cctx, "peer.c.test");
    server = SSL_new(sctx);
    SSL_set_accept_state(server);
    if (pair_handshake(client, server))
        rc = (int)tls_peer_check(client, want, 1, why, whylen);
    else
        snprintf(why, whylen, "handshake failed");
    SSL_free(client);
    SSL_free(server);
out:
    SSL_CTX_free(sctx);
    tls_store_free(st);
    return rc;
}

/* Forks a child that chroots into empty, optionally re-reads the system's
 * CAs there (which finds none), loads blob1 then blob2 and verifies the
 * peer with the store of blob2. Returns its tls_peer_status; why gets the
 * child's reason. */
static int
verify_in_chroot(const char *empty, bool reread, const char *blob1, size_t len1, const char *blob2,
                 size_t len2, X509 *leaf, EVP_PKEY *key, char *why, size_t whylen)
{
    int fds[2], status;
    ssize_t n;
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char msg[512] = "";
        int rc = -1;
        struct tls_store *first;

        close(fds[0]);
        if (chroot(empty) != 0 || chdir("/") != 0) {
            snprintf(msg, sizeof(msg), "cannot chroot to %s", empty);
        } else {
            if (reread)
                (void)tls_system_trust_load();
            /* A store as the smtp process has it before certificates
             * change, then the one rebuilt from the next bundle. */
            first = tls_store_load_bundle(blob1, len1, NULL, NULL, msg, sizeof(msg));
            if (first != NULL) {
                tls_store_free(first);
                rc = child_verify(blob2, len2, leaf, key, msg, sizeof(msg));
            }
            /* No file of the system's store is reachable from here. */
            if (access("/etc/ssl/certs/ca-certificates.crt", F_OK) == 0)
                snprintf(msg, sizeof(msg), "the chroot sees the system's CA file"), rc = -1;
        }
        (void)!write(fds[1], msg, strlen(msg));
        _exit(rc < 0 ? 100 : rc);
    }
    close(fds[1]);
    n = read(fds[0], why, whylen - 1);
    why[n > 0 ? n : 0] = '\0';
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 100)
        fail_msg("child: %s", why);
    return WEXITSTATUS(status);
}

static void
test_system_trust_in_chroot(void **state)
{
    struct certspec ca = {
        .cn = "System CA", .no_san = true, .nb = -1000 * DAY, .na = 1000 * DAY, .ca = true};
    struct certspec peer = {.cn = "peer.c.test", .nb = -DAY, .na = 300 * DAY};
    struct certspec own = {.cn = "own.c.test", .nb = -DAY, .na = 300 * DAY};
    char *work, *empty, *certdir, *sysdir, *cafile, why[WHY];
    EVP_PKEY *cakey, *key;
    X509 *cax, *leaf, *x;
    char *blob1, *blob2;
    size_t len1, len2;
    FILE *fp;
    int st;

    if (geteuid() != 0) {
        skip();
        return;
    }
    work = testlib_mkdtemp("bundle");
    empty = xasprintf("%s/empty", work);
    certdir = xasprintf("%s/certs", work);
    sysdir = xasprintf("%s/syscerts", work);
    cafile = xasprintf("%s/system-ca.pem", work);
    assert_int_equal(mkdir(empty, 0755), 0);
    assert_int_equal(mkdir(certdir, 0700), 0);
    assert_int_equal(mkdir(sysdir, 0755), 0);
    cakey = ec_key();
    key = ec_key();
    cax = make_cert(&ca, cakey, NULL, NULL);
    leaf = make_cert(&peer, key, cax, cakey);
    fp = fopen(cafile, "w");
    assert_non_null(fp);
    assert_int_equal(PEM_write_X509(fp, cax), 1);
    assert_int_equal(fclose(fp), 0);

    /* The CA is the system's (OpenSSL's default file, as the environment
     * names it), not in certs/root. The default directory repeats it and
     * adds another under its hash name, as c_rehash leaves them; a file
     * not named so is not what a hash lookup would find. */
    {
        struct certspec other = {
            .cn = "Other System CA", .no_san = true, .nb = -DAY, .na = 1000 * DAY, .ca = true};
        X509 *ox = make_cert(&other, cakey, NULL, NULL), *third;
        char name[32];

        snprintf(name, sizeof(name), "%08lx.0", X509_subject_name_hash(cax));
        store_pem(work, "syscerts", name, cax, NULL);
        snprintf(name, sizeof(name), "%08lx.0", X509_subject_name_hash(ox));
        store_pem(work, "syscerts", name, ox, NULL);
        other.cn = "Not Looked Up";
        third = make_cert(&other, cakey, NULL, NULL);
        store_pem(work, "syscerts", "notes.pem", third, NULL);
        X509_free(ox);
        X509_free(third);
    }
    assert_int_equal(setenv("SSL_CERT_FILE", cafile, 1), 0);
    assert_int_equal(setenv("SSL_CERT_DIR", sysdir, 1), 0);
    assert_int_equal(tls_system_trust_load(), 2);
    blob1 = export(certdir, &len1);
    /* The certificates change: the keys process sends a new bundle. */
    x = make_cert(&own, key, NULL, NULL);
    store_cert(certdir, x, NULL, key, NULL);
    X509_free(x);
    blob2 = export(certdir, &len2);
    assert_true(len2 > len1);

    st = verify_in_chroot(empty, false, blob1, len1, blob2, len2, leaf, key, why, sizeof(why));
    if (st != TLS_PEER_OK)
        fail_msg("in the chroot: %s: %s", tls_peer_status_name(st), why);
    assert_non_null(strstr(why, "is trusted and names peer.c.test"));
    /* The control: what the chroot itself can read of the system's CAs is
     * nothing, and then the same peer is not trusted. */
    st = verify_in_chroot(empty, true, blob1, len1, blob2, len2, leaf, key, why, sizeof(why));
    assert_int_equal(st, TLS_PEER_UNTRUSTED);

    /* Back to the real system's CAs for the tests that follow. */
    unsetenv("SSL_CERT_FILE");
    unsetenv("SSL_CERT_DIR");
    assert_true(tls_system_trust_load() > 0);
    free(blob1);
    free(blob2);
    X509_free(cax);
    X509_free(leaf);
    EVP_PKEY_free(cakey);
    EVP_PKEY_free(key);
    free(empty);
    free(certdir);
    free(sysdir);
    free(cafile);
    testlib_rmtree(work);
    free(work);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_holds_no_key),
        cmocka_unit_test(test_bundle_store_chooses_as_directory),
        cmocka_unit_test(test_factory_without_key),
        cmocka_unit_test(test_truncated_bundle_fails),
        cmocka_unit_test(test_altered_bundle_fails),
        cmocka_unit_test(test_flipped_bytes),
        cmocka_unit_test(test_system_trust_in_chroot),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
