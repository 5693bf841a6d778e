/*
 * test_tls.c — unit tests for src/tls (certificate creation, store loading,
 * certificate selection, contexts) and src/lib/password.c.
 *
 * Certificates other than the self-signed ones tls.c creates are built with
 * tls_testlib.h (the OpenSSL API, EC P-256 keys). Each test works in its own
 * mkdtemp directory and removes it afterwards.
 * Must never: touch anything outside its temporary directories.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/password.h"
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

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Helpers
 */

static X509 *
read_cert(const char *dir, const char *thumb)
{
    char *p = xasprintf("%s/%s.pem", dir, thumb);
    FILE *f = fopen(p, "r");
    X509 *x;

    assert_non_null(f);
    x = PEM_read_X509(f, NULL, NULL, NULL);
    assert_non_null(x);
    fclose(f);
    free(p);
    return x;
}

/* The thumbprint of the certificate a context serves. */
static void
ctx_thumb(SSL_CTX *ctx, char out[41])
{
    X509 *x = SSL_CTX_get0_certificate(ctx);

    assert_non_null(x);
    thumb_of(x, out);
}

/*
 * Self-signed creation
 */

static void
test_create_selfsigned(void **state)
{
    char *dir = testlib_mkdtemp("tls");
    char thumb[41], err[256], cli[128], line[256];
    char *keypath, *pempath, *cmd;
    struct stat st;
    mode_t old;
    FILE *f;
    X509 *x;
    GENERAL_NAMES *gens;
    bool has_fqdn = false, has_short = false;

    /* A umask that strips the owner's write bit: fchmod must still yield
     * exactly 0600 / 0644. */
    old = umask(0277);
    assert_int_equal(
        tls_create_selfsigned(dir, "mail.example.test", NULL, 5, thumb, err, sizeof(err)), 0);
    umask(old);

    assert_int_equal(strlen(thumb), 40);
    for (int i = 0; i < 40; i++)
        assert_true(isdigit((unsigned char)thumb[i]) || (thumb[i] >= 'A' && thumb[i] <= 'F'));
    assert_int_equal(testlib_count_entries(dir), 2); /* no temporaries left behind */

    keypath = xasprintf("%s/%s.key", dir, thumb);
    pempath = xasprintf("%s/%s.pem", dir, thumb);
    assert_int_equal(stat(keypath, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(stat(pempath, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);

    /* Unencrypted PKCS#8. */
    f = fopen(keypath, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    assert_string_equal(line, "-----BEGIN PRIVATE KEY-----\n");

    /* Thumbprint as the openssl tool computes it. */
    cmd = xasprintf("openssl x509 -noout -fingerprint -sha1 -in '%s'", pempath);
    f = popen(cmd, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof(line), f));
    assert_int_equal(pclose(f), 0);
    free(cmd);
    {
        size_t n = 0;
        for (const char *p = strchr(line, '=') + 1; *p && *p != '\n'; p++)
            if (*p != ':')
                cli[n++] = *p;
        cli[n] = '\0';
    }
    assert_string_equal(thumb, cli);

    x = read_cert(dir, thumb);
    {
        char t2[41];
        thumb_of(x, t2);
        assert_string_equal(thumb, t2);
    }
    /* CN, SANs (fqdn and host part), extensions, self-signature, dates. */
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);
    assert_int_equal(X509_verify(x, X509_get0_pubkey(x)), 1);
    assert_int_equal(X509_get_version(x), X509_VERSION_3);
    assert_int_equal(EVP_PKEY_get_bits(X509_get0_pubkey(x)), 2048);
    assert_int_equal(EVP_PKEY_get_base_id(X509_get0_pubkey(x)), EVP_PKEY_RSA);
    assert_int_equal(X509_get_signature_nid(x), NID_sha256WithRSAEncryption);
    gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    assert_non_null(gens);
    assert_int_equal(sk_GENERAL_NAME_num(gens), 2);
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
        const char *s = (const char *)ASN1_STRING_get0_data(gn->d.dNSName);
        assert_int_equal(gn->type, GEN_DNS);
        has_fqdn = has_fqdn || strcmp(s, "mail.example.test") == 0;
        has_short = has_short || strcmp(s, "mail") == 0;
    }
    GENERAL_NAMES_free(gens);
    assert_true(has_fqdn && has_short);
    assert_false(X509_check_ca(x));
    assert_true(X509_get_extended_key_usage(x) & XKU_SSL_SERVER);
    assert_true(X509_get_extended_key_usage(x) & XKU_SSL_CLIENT);
    assert_true(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE);
    assert_true(X509_get_key_usage(x) & KU_KEY_ENCIPHERMENT);
    assert_non_null(X509_get0_subject_key_id(x));
    {
        int days, secs;
        /* now-1h .. now+5 years (1826 or 1827 days incl. leap days) */
        assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notBefore(x)), 1);
        assert_true(days == 0 && secs <= -3599 && secs >= -3700);
        assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)), 1);
        assert_true(days >= 1825 && days <= 1827);
    }
    X509_free(x);

    free(keypath);
    free(pempath);
    testlib_rmtree(dir);
    free(dir);
}

static void
test_create_selfsigned_duplicate_short_name(void **state)
{
    char *dir = testlib_mkdtemp("tls");
    char thumb[41], err[256];
    X509 *x;
    GENERAL_NAMES *gens;

    assert_int_equal(tls_create_selfsigned(dir, "localhost", NULL, 1, thumb, err, sizeof(err)), 0);
    x = read_cert(dir, thumb);
    gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    assert_int_equal(sk_GENERAL_NAME_num(gens), 1);
    GENERAL_NAMES_free(gens);
    X509_free(x);
    testlib_rmtree(dir);
    free(dir);
}

static void
test_create_selfsigned_bad_input(void **state)
{
    char *dir = testlib_mkdtemp("tls");
    char thumb[41], err[256];

    assert_int_equal(
        tls_create_selfsigned(dir, "bad name,DNS:evil", NULL, 1, thumb, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a valid DNS name"));
    assert_int_equal(
        tls_create_selfsigned(dir, "mail.example.test", NULL, 0, thumb, err, sizeof(err)), -1);
    assert_int_equal(tls_create_selfsigned("/nonexistent/postern", "mail.example.test", NULL, 1,
                                           thumb, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "/nonexistent/postern"));
    assert_int_equal(testlib_count_entries(dir), 0);
    testlib_rmtree(dir);
    free(dir);
}

/*
 * Store and selection
 */

/* Drives a handshake over a BIO pair: a real TLS 1.3 session with the
 * chosen context. */
static void
handshake(SSL_CTX *server_ctx)
{
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL *server = tls_ssl_new(server_ctx), *client;

    assert_non_null(cctx);
    assert_non_null(server);
    client = SSL_new(cctx);
    assert_non_null(client);
    SSL_set_connect_state(client);
    assert_true(pair_handshake(client, server));
    assert_string_equal(tls_ssl_version(server), "TLSv1.3");
    assert_string_equal(tls_ssl_cipher(server), SSL_get_cipher_name(client));
    assert_non_null(strstr(tls_ssl_cipher(server), "TLS_"));
    SSL_free(client);
    SSL_free(server);
    SSL_CTX_free(cctx);
}

static void
test_store_server_ctx(void **state)
{
    char *dir = testlib_mkdtemp("tls");
    char thumb[41], err[256], why[512], t2[41];
    struct tls_store *st;
    SSL_CTX *ctx, *ctx2;

    assert_int_equal(
        tls_create_selfsigned(dir, "mail.example.test", NULL, 5, thumb, err, sizeof(err)), 0);
    st = load(dir);

    ctx = tls_store_server_ctx(st, "mail.example.test", why, sizeof(why));
    assert_non_null(ctx);
    assert_string_equal(why, "");
    ctx_thumb(ctx, t2);
    assert_string_equal(t2, thumb);
    /* Cached: every later call shares the context. Case and a trailing dot
     * do not matter; the short name is a SAN too. */
    ctx2 = tls_store_server_ctx(st, "MAIL.Example.TEST.", why, sizeof(why));
    assert_ptr_equal(ctx, ctx2);
    assert_ptr_equal(tls_store_server_ctx(st, "mail", why, sizeof(why)), ctx);

    assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
    assert_true(SSL_CTX_get_options(ctx) & SSL_OP_NO_COMPRESSION);
    assert_true(SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION);
    assert_true(SSL_CTX_get_options(ctx) & SSL_OP_CIPHER_SERVER_PREFERENCE);
    assert_false(SSL_CTX_get_options(ctx) & SSL_OP_NO_TICKET);
    assert_true(SSL_CTX_get_mode(ctx) & SSL_MODE_RELEASE_BUFFERS);
    assert_int_equal(SSL_CTX_get_session_cache_mode(ctx), SSL_SESS_CACHE_SERVER);

    handshake(ctx);

    assert_null(tls_store_server_ctx(st, "other.example.test", why, sizeof(why)));
    assert_non_null(strstr(why, "other.example.test"));
    assert_non_null(strstr(why, "no certificate names"));

    tls_store_free(st);
    testlib_rmtree(dir);
    free(dir);
}

static void
test_store_load_errors(void **state)
{
    char *dir = testlib_mkdtemp("tls");
    char thumb[41], err[256], why[512];
    struct tls_store *st;

    assert_null(tls_store_load("/nonexistent/postern", err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/postern"));

    /* Broken files are skipped; the good one still loads. */
    testlib_write_in(dir, "garbage.pem", "this is not PEM\n");
    testlib_write_in(dir, "truncated.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n");
    testlib_write_in(dir, "notes.txt", "ignored\n");
    assert_int_equal(
        tls_create_selfsigned(dir, "mail.example.test", NULL, 1, thumb, err, sizeof(err)), 0);
    st = load(dir);
    assert_non_null(tls_store_server_ctx(st, "mail.example.test", why, sizeof(why)));
    tls_store_free(st);
    testlib_rmtree(dir);
    free(dir);

    /* An empty directory is an empty store, not an error. */
    dir = testlib_mkdtemp("tls");
    st = load(dir);
    assert_null(tls_store_server_ctx(st, "mail.example.test", why, sizeof(why)));
    assert_string_equal(why, "no certificate names mail.example.test");
    tls_store_free(st);
    testlib_rmtree(dir);
    free(dir);
}

static void
test_wildcard(void **state)
{
    char *dir = testlib_mkdtemp("tls");
    char thumb[41], err[256], why[512];
    struct tls_store *st;

    assert_int_equal(
        tls_create_selfsigned(dir, "*.example.test", "*.example.test", 1, thumb, err, sizeof(err)),
        0);
    /* A wildcard that would cover a whole TLD is never honoured. */
    {
        EVP_PKEY *k = ec_key();
        struct certspec s = {.cn = "*.test", .nb = -DAY, .na = DAY};
        X509 *x = make_cert(&s, k, NULL, NULL);
        char t[41];
        store_cert(dir, x, NULL, k, t);
        X509_free(x);
        EVP_PKEY_free(k);
    }
    st = load(dir);
    assert_non_null(tls_store_server_ctx(st, "a.example.test", why, sizeof(why)));
    assert_non_null(tls_store_server_ctx(st, "A.EXAMPLE.test", why, sizeof(why)));
    assert_null(tls_store_server_ctx(st, "a.b.example.test", why, sizeof(why)));
    assert_non_null(strstr(why, "a.b.example.test"));
    assert_null(tls_store_server_ctx(st, "example.test", why, sizeof(why)));
    assert_null(tls_store_server_ctx(st, ".example.test", why, sizeof(why)));
    assert_null(tls_store_server_ctx(st, "aexample.test", why, sizeof(why)));
    assert_null(tls_store_server_ctx(st, "foo.test", why, sizeof(why)));
    tls_store_free(st);
    testlib_rmtree(dir);
    free(dir);
}

static void
test_expired_and_not_yet_valid(void **state)
{
    char *dir = testlib_mkdtemp("tls");
    char why[512], texp[41], tfut[41], tss[41], got[41], err[256];
    EVP_PKEY *k = ec_key();
    struct certspec expired = {.cn = "mail.example.test", .nb = -400 * DAY, .na = -DAY};
    struct certspec future = {.cn = "mail.example.test", .nb = 10 * DAY, .na = 400 * DAY};
    X509 *x;
    struct tls_store *st;
    SSL_CTX *ctx;

    x = make_cert(&expired, k, NULL, NULL);
    store_cert(dir, x, NULL, k, texp);
    X509_free(x);
    x = make_cert(&future, k, NULL, NULL);
    store_cert(dir, x, NULL, k, tfut);
    X509_free(x);

    st = load(dir);
    assert_null(tls_store_server_ctx(st, "mail.example.test", why, sizeof(why)));
    assert_non_null(strstr(why, "expired on"));
    assert_non_null(strstr(why, texp));
    assert_non_null(strstr(why, "not valid until"));
    assert_non_null(strstr(why, tfut));
    assert_non_null(strstr(why, "mail.example.test"));
    tls_store_free(st);

    /* A valid self-signed certificate wins over the unusable ones. */
    assert_int_equal(
        tls_create_selfsigned(dir, "mail.example.test", NULL, 1, tss, err, sizeof(err)), 0);
    st = load(dir);
    ctx = tls_store_server_ctx(st, "mail.example.test", why, sizeof(why));
    assert_non_null(ctx);
    ctx_thumb(ctx, got);
    assert_string_equal(got, tss);
    tls_store_free(st);

    EVP_PKEY_free(k);
    testlib_rmtree(dir);
    free(dir);
}

static void
test_key_and_eku_problems(void **state)
{
    char *dir = testlib_mkdtemp("tls");
    char why[512], t1[41], t2[41], t3[41];
    EVP_PKEY *k = ec_key(), *other = ec_key();
    struct certspec nokey = {.cn = "nokey.example.test", .nb = -DAY, .na = DAY};
    struct certspec badkey = {.cn = "badkey.example.test", .nb = -DAY, .na = DAY};
    struct certspec client = {
        .cn = "client.example.test", .nb = -DAY, .na = DAY, .eku = "clientAuth"};
    struct certspec nosan = {.cn = "cn-only.example.test", .no_san = true, .nb = -DAY, .na = DAY};
    X509 *x;
    struct tls_store *st;

    x = make_cert(&nokey, k, NULL, NULL);
    store_cert(dir, x, NULL, NULL, t1);
    X509_free(x);
    x = make_cert(&badkey, k, NULL, NULL);
    store_cert(dir, x, NULL, other, t2);
    X509_free(x);
    x = make_cert(&client, k, NULL, NULL);
    store_cert(dir, x, NULL, k, t3);
    X509_free(x);
    x = make_cert(&nosan, k, NULL, NULL);
    store_cert(dir, x, NULL, k, t3);
    X509_free(x);

    st = load(dir);
    assert_null(tls_store_server_ctx(st, "nokey.example.test", why, sizeof(why)));
    assert_non_null(strstr(why, "has no private key"));
    assert_non_null(strstr(why, t1));
    assert_null(tls_store_server_ctx(st, "badkey.example.test", why, sizeof(why)));
    assert_non_null(strstr(why, "does not match"));
    assert_non_null(strstr(why, t2));
    assert_null(tls_store_server_ctx(st, "client.example.test", why, sizeof(why)));
    assert_non_null(strstr(why, "server authentication"));
    /* The subject CN counts as a name even without SANs. */
    assert_non_null(tls_store_server_ctx(st, "cn-only.example.test", why, sizeof(why)));
    tls_store_free(st);

    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
    testlib_rmtree(dir);
    free(dir);
}

static void
test_ca_issued_preferred(void **state)
{
    char *dir = testlib_mkdtemp("tls");
    char why[512], err[256], tss[41], told[41], tnew[41], tca[41], got[41];
    EVP_PKEY *cakey = ec_key(), *k1 = ec_key(), *k2 = ec_key();
    struct certspec ca = {
        .cn = "Postern Test CA", .no_san = true, .nb = -1000 * DAY, .na = 1000 * DAY, .ca = true};
    struct certspec older = {
        .cn = "mail.example.test", .nb = -30 * DAY, .na = 300 * DAY, .eku = "serverAuth"};
    struct certspec newer = {.cn = "mail.example.test",
                             .nb = -10 * DAY,
                             .na = 300 * DAY,
                             .eku = "serverAuth,clientAuth"};
    X509 *cacert, *x;
    struct tls_store *st;
    SSL_CTX *ctx;
    STACK_OF(X509) *chain = NULL;

    cacert = make_cert(&ca, cakey, NULL, NULL);
    store_cert(dir, cacert, NULL, NULL, tca); /* the CA alone: no key, names nothing */

    /* Self-signed with the newest NotBefore (now - 1h) ... */
    assert_int_equal(
        tls_create_selfsigned(dir, "mail.example.test", NULL, 5, tss, err, sizeof(err)), 0);
    /* ... against an older CA-issued certificate: CA-issued wins. */
    x = make_cert(&older, k1, cacert, cakey);
    store_cert(dir, x, cacert, k1, told);
    X509_free(x);

    st = load(dir);
    ctx = tls_store_server_ctx(st, "mail.example.test", why, sizeof(why));
    assert_non_null(ctx);
    ctx_thumb(ctx, got);
    assert_string_equal(got, told);
    /* The CA certificate from the same file is sent as the chain. */
    assert_int_equal(SSL_CTX_get0_chain_certs(ctx, &chain), 1);
    assert_non_null(chain);
    assert_int_equal(sk_X509_num(chain), 1);
    assert_int_equal(X509_cmp(sk_X509_value(chain, 0), cacert), 0);
    handshake(ctx);
    tls_store_free(st);

    /* Among CA-issued certificates, the newest NotBefore wins. */
    x = make_cert(&newer, k2, cacert, cakey);
    store_cert(dir, x, cacert, k2, tnew);
    X509_free(x);
    st = load(dir);
    ctx = tls_store_server_ctx(st, "mail.example.test", why, sizeof(why));
    assert_non_null(ctx);
    ctx_thumb(ctx, got);
    assert_string_equal(got, tnew);
    tls_store_free(st);

    X509_free(cacert);
    EVP_PKEY_free(cakey);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    testlib_rmtree(dir);
    free(dir);
}

/*
 * Profiles (TransportConfig TlsCipherProfile)
 */

/* A test client limited to protocols min..max and, when given, the TLS
 * 1.2-and-below suites ciphers (TLS 1.3 suites are not limited by it). */
static SSL_CTX *
client_ctx(int min, int max, const char *ciphers)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());

    assert_non_null(c);
    limit_ctx(c, min, max, ciphers);
    return c;
}

/* One in-memory handshake of a client from cctx with a server from sctx.
 * True when both ends finish (then version and cipher, when not NULL, get
 * what they agreed on, and dh_bits the size of a DHE key exchange's group,
 * or 0), false when either end gives up. */
static bool
try_handshake(SSL_CTX *sctx, SSL_CTX *cctx, char version[16], char cipher[64], int *dh_bits)
{
    SSL *server = tls_ssl_new(sctx), *client = SSL_new(cctx);
    bool done;

    assert_non_null(server);
    assert_non_null(client);
    SSL_set_connect_state(client);
    done = pair_handshake(client, server);
    if (done) {
        EVP_PKEY *tmp = NULL;
        if (version != NULL)
            snprintf(version, 16, "%s", SSL_get_version(client));
        if (cipher != NULL)
            snprintf(cipher, 64, "%s", SSL_get_cipher_name(client));
        if (dh_bits != NULL) {
            *dh_bits = 0;
            if (SSL_get_peer_tmp_key(client, &tmp) == 1 && EVP_PKEY_is_a(tmp, "DH"))
                *dh_bits = EVP_PKEY_get_bits(tmp);
            EVP_PKEY_free(tmp);
        }
    }
    SSL_free(client);
    SSL_free(server);
    return done;
}

/* Does a client limited to min..max and ciphers complete a handshake? */
static bool
accepts(SSL_CTX *sctx, int min, int max, const char *ciphers)
{
    SSL_CTX *c = client_ctx(min, max, ciphers);
    bool ok = try_handshake(sctx, c, NULL, NULL, NULL);

    SSL_CTX_free(c);
    return ok;
}

/* Every TLS 1.2 suite ctx enables is AEAD with an ephemeral key exchange;
 * with compatible, none is anonymous, null, RC4 or 3DES. Returns how many
 * TLS 1.2 suites there are. */
static int
check_suites(SSL_CTX *ctx, bool compatible)
{
    STACK_OF(SSL_CIPHER) *list = SSL_CTX_get_ciphers(ctx);
    int n12 = 0;

    assert_non_null(list);
    for (int i = 0; i < sk_SSL_CIPHER_num(list); i++) {
        const SSL_CIPHER *c = sk_SSL_CIPHER_value(list, i);
        int kx = SSL_CIPHER_get_kx_nid(c), enc = SSL_CIPHER_get_cipher_nid(c);

        if (kx == NID_kx_any) /* a TLS 1.3 suite: every key exchange is ephemeral */
            continue;
        n12++;
        assert_int_not_equal(SSL_CIPHER_get_auth_nid(c), NID_auth_null);
        assert_int_not_equal(enc, NID_undef);
        assert_int_not_equal(enc, NID_rc4);
        assert_int_not_equal(enc, NID_des_ede3_cbc);
        if (compatible)
            continue;
        if (!SSL_CIPHER_is_aead(c) || (kx != NID_kx_ecdhe && kx != NID_kx_dhe))
            fail_msg("%s is offered", SSL_CIPHER_get_name(c));
    }
    return n12;
}

static void
test_profiles(void **state)
{
    /* CBC suites with and without forward secrecy; static RSA with AEAD;
     * what no profile may accept. */
    static const char cbc[] =
        "ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA:AES128-SHA:AES256-SHA256";
    static const char static_rsa[] = "AES128-GCM-SHA256:AES256-GCM-SHA384";
    static const char weak[] = "aNULL:eNULL:RC4:3DES:EXPORT:@SECLEVEL=0";
    char *dir = testlib_mkdtemp("tls");
    char thumb[41], err[256], why[512], version[16], cipher[64];
    struct tls_store *st;
    SSL_CTX *ctx, *c;
    int dh_bits;

    /* tls_create_selfsigned makes RSA 2048 keys: RSA and DHE-RSA suites. */
    assert_int_equal(
        tls_create_selfsigned(dir, "mail.example.test", NULL, 5, thumb, err, sizeof(err)), 0);

    /* Without a profile set, a store is Intermediate. */
    st = load(dir);
    ctx = tls_store_server_ctx(st, "mail.example.test", why, sizeof(why));
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
    assert_int_equal(check_suites(ctx, false), 9);
    assert_true(accepts(ctx, TLS1_3_VERSION, TLS1_3_VERSION, NULL));
    c = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, NULL);
    assert_true(try_handshake(ctx, c, version, cipher, NULL));
    SSL_CTX_free(c);
    assert_string_equal(version, "TLSv1.2");
    assert_non_null(strstr(cipher, "ECDHE-RSA-"));
    /* DHE works, with a group of at least 2048 bits (SSL_CTX_set_dh_auto). */
    c = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, "DHE-RSA-AES256-GCM-SHA384");
    assert_true(try_handshake(ctx, c, version, cipher, &dh_bits));
    SSL_CTX_free(c);
    assert_string_equal(cipher, "DHE-RSA-AES256-GCM-SHA384");
    assert_true(dh_bits >= 2048);
    assert_false(accepts(ctx, TLS1_2_VERSION, TLS1_2_VERSION, cbc));
    assert_false(accepts(ctx, TLS1_2_VERSION, TLS1_2_VERSION, static_rsa));
    assert_false(accepts(ctx, TLS1_VERSION, TLS1_1_VERSION, "DEFAULT:@SECLEVEL=0"));
    assert_false(accepts(ctx, TLS1_VERSION, TLS1_2_VERSION, weak));
    tls_store_free(st);

    /* Modern: TLS 1.3 only. */
    st = load(dir);
    tls_store_set_profile(st, TLS_PROFILE_MODERN);
    ctx = tls_store_server_ctx(st, "mail.example.test", why, sizeof(why));
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
    assert_true(accepts(ctx, TLS1_3_VERSION, TLS1_3_VERSION, NULL));
    assert_false(accepts(ctx, TLS1_2_VERSION, TLS1_2_VERSION, NULL));
    assert_false(accepts(ctx, TLS1_VERSION, TLS1_2_VERSION, "DEFAULT:@SECLEVEL=0"));
    tls_store_free(st);

    /* Compatible: TLS 1.0 and up, CBC and static RSA too, still nothing
     * anonymous, null, RC4 or 3DES; TLS 1.3 stays the first choice. */
    st = load(dir);
    tls_store_set_profile(st, TLS_PROFILE_COMPATIBLE);
    ctx = tls_store_server_ctx(st, "mail.example.test", why, sizeof(why));
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_VERSION);
    assert_true(check_suites(ctx, true) > 9);
    c = client_ctx(TLS1_VERSION, TLS1_3_VERSION, NULL);
    assert_true(try_handshake(ctx, c, version, NULL, NULL));
    SSL_CTX_free(c);
    assert_string_equal(version, "TLSv1.3");
    c = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, cbc);
    assert_true(try_handshake(ctx, c, version, cipher, NULL));
    SSL_CTX_free(c);
    assert_string_equal(cipher, "ECDHE-RSA-AES128-SHA256");
    assert_true(accepts(ctx, TLS1_2_VERSION, TLS1_2_VERSION, static_rsa));
    c = client_ctx(TLS1_VERSION, TLS1_VERSION, "DEFAULT:@SECLEVEL=0");
    assert_true(try_handshake(ctx, c, version, NULL, NULL));
    SSL_CTX_free(c);
    assert_string_equal(version, "TLSv1");
    assert_true(accepts(ctx, TLS1_1_VERSION, TLS1_1_VERSION, "DEFAULT:@SECLEVEL=0"));
    assert_false(accepts(ctx, TLS1_VERSION, TLS1_2_VERSION, weak));
    tls_store_free(st);

    /* The weak client itself works: a server that allows anonymous suites
     * takes it. */
    ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_set_cipher_list(ctx, "aNULL:@SECLEVEL=0"), 1);
    assert_true(accepts(ctx, TLS1_VERSION, TLS1_2_VERSION, weak));
    SSL_CTX_free(ctx);

    testlib_rmtree(dir);

    free(dir);
}

static void
test_last_error(void **state)
{
    char buf[256];

    ERR_clear_error();
    assert_string_equal(tls_last_error(buf, sizeof(buf)), "unknown error");
    /* Provoke an error: a certificate from garbage. */
    {
        BIO *b = BIO_new_mem_buf("garbage", -1);
        assert_null(PEM_read_bio_X509(b, NULL, NULL, NULL));
        BIO_free(b);
    }
    assert_string_not_equal(tls_last_error(buf, sizeof(buf)), "unknown error");
    assert_int_equal(ERR_peek_error(), 0); /* queue cleared */
    assert_string_equal(tls_ssl_version(NULL), "none");
    assert_null(tls_ssl_new(NULL));
}

/*
 * Passwords
 */

static void
test_password(void **state)
{
    char hash[PASSWORD_HASH_SIZE], hash2[PASSWORD_HASH_SIZE], tiny[8];

    assert_int_equal(password_hash("correct horse battery staple", hash, sizeof(hash)), 0);
    assert_true(strncmp(hash, "$y$", 3) == 0);
    assert_true(password_verify("correct horse battery staple", hash));
    assert_false(password_verify("correct horse battery stapl", hash));
    assert_false(password_verify("Correct horse battery staple", hash));
    assert_false(password_verify("", hash));
    assert_false(password_verify(NULL, hash));

    /* Fresh salt each time. */
    assert_int_equal(password_hash("correct horse battery staple", hash2, sizeof(hash2)), 0);
    assert_string_not_equal(hash, hash2);

    /* Truncated or otherwise damaged hashes never match. */
    hash2[strlen(hash2) - 1] = hash2[strlen(hash2) - 1] == 'a' ? 'b' : 'a';
    assert_false(password_verify("correct horse battery staple", hash2));
    hash2[20] = '\0';
    assert_false(password_verify("correct horse battery staple", hash2));

    assert_false(password_verify("x", NULL));
    assert_false(password_verify("x", ""));
    assert_false(password_verify("x", "garbage"));
    assert_false(password_verify("x", "$"));
    assert_false(password_verify("x", "$y$"));
    assert_false(password_verify("x", "$nope$abc$def"));
    assert_false(password_verify("x", "*0"));
    assert_false(password_verify("*0", "*0"));

    /* Too small an output buffer is an error, not a truncated hash. */
    assert_int_equal(password_hash("x", tiny, sizeof(tiny)), -1);
    assert_string_equal(tiny, "");
    assert_int_equal(password_hash(NULL, hash, sizeof(hash)), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_selfsigned),
        cmocka_unit_test(test_create_selfsigned_duplicate_short_name),
        cmocka_unit_test(test_create_selfsigned_bad_input),
        cmocka_unit_test(test_store_server_ctx),
        cmocka_unit_test(test_store_load_errors),
        cmocka_unit_test(test_wildcard),
        cmocka_unit_test(test_expired_and_not_yet_valid),
        cmocka_unit_test(test_key_and_eku_problems),
        cmocka_unit_test(test_ca_issued_preferred),
        cmocka_unit_test(test_profiles),
        cmocka_unit_test(test_last_error),
        cmocka_unit_test(test_password),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
