/*
 * test_certs.c — unit tests for the certificate cmdlets (src/admin/
 * cmdlet_cert.c) and the store management under them (src/tls/
 * tls_certs_*.c), driven through cmdlet_run on a temporary instance.
 *
 * CA answers, bundles, PKCS#12 files and the test CA are made with the
 * openssl command, as an administrator would; certificates with dates the
 * command cannot set (expired, not yet valid) and CRLs are built here with
 * the OpenSSL API. Each test works in its own mkdtemp directory and
 * removes it afterwards.
 * Must never: touch anything outside its temporary directories.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "admin/cmdlet.h"
#include "config/config.h"
#include "lib/util.h"
#include "tls/tls.h"
#include "tls_testlib.h"
#include "testlib.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAY (24L * 3600L)
#define FQDN "mail.a.test"

/*
 * Helpers
 */

struct inst {
    char *dir;     /* the instance */
    char *certdir; /* dir/certs */
    char *work;    /* files an administrator would have lying around */
};

static struct inst *
inst_new(void)
{
    struct inst *in = xcalloc(1, sizeof(*in));

    in->dir = testlib_instance("certs", FQDN);
    in->certdir = xasprintf("%s/certs", in->dir);
    in->work = xasprintf("%s/work", in->dir);
    assert_int_equal(mkdir(in->certdir, 0700), 0);
    assert_int_equal(mkdir(in->work, 0700), 0);
    return in;
}

static void
inst_free(struct inst *in)
{
    testlib_rmtree(in->dir);
    free(in->dir);
    free(in->certdir);
    free(in->work);
    free(in);
}

/* Runs a cmdlet on the instance, with text (may be NULL) as its standard
 * input. */
#define run(in, ...) testlib_cmdlet((in)->dir, NULL, __VA_ARGS__, (const char *)NULL)
#define run_stdin(in, text, ...) testlib_cmdlet((in)->dir, text, __VA_ARGS__, (const char *)NULL)

/* The value of "Name   : value" in Format-List output (the first one after
 * the start of text), malloc'd; NULL when absent. */
static char *
field(const char *text, const char *name)
{
    size_t n = strlen(name);

    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *eol = strchr(line, '\n');
        size_t len = eol != NULL ? (size_t)(eol - line) : strlen(line);
        if (len > n && strncmp(line, name, n) == 0 && line[n] == ' ') {
            const char *colon = memchr(line, ':', len);
            if (colon != NULL) {
                const char *v = colon + 1;
                while (*v == ' ' && v < line + len)
                    v++;
                return xstrndup(v, (size_t)(line + len - v));
            }
        }
        line = eol != NULL ? eol + 1 : NULL;
    }
    return NULL;
}

static void
assert_field(const char *text, const char *name, const char *want)
{
    char *v = field(text, name);

    if (v == NULL || strcmp(v, want) != 0)
        fail_msg("%s: got \"%s\", want \"%s\" in:\n%s", name, v != NULL ? v : "(absent)", want,
                 text);
    free(v);
}

static void
assert_contains(const char *text, const char *needle)
{
    if (text == NULL || strstr(text, needle) == NULL)
        fail_msg("\"%s\" not in:\n%s", needle, text != NULL ? text : "(null)");
}

static mode_t
mode_of(const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0)
        fail_msg("%s: missing", path);
    return st.st_mode & 07777;
}

static bool
exists_in(const char *dir, const char *name, const char *suffix)
{
    char *p = xasprintf("%s/%s%s", dir, name, suffix);
    bool e = testlib_exists(p);

    free(p);
    return e;
}

/* A recursive listing of dir (names, sizes, modes), to show a failed
 * cmdlet changed nothing. */
static void
listing_add(const char *dir, const char *rel, char **acc)
{
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, NULL, alphasort);

    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
            char *p = xasprintf("%s/%s", dir, name), *r = xasprintf("%s/%s", rel, name), *next;
            struct stat st;
            assert_int_equal(lstat(p, &st), 0);
            next = xasprintf("%s%s %ld %o\n", *acc, r, (long)st.st_size, (unsigned)st.st_mode);
            free(*acc);
            *acc = next;
            if (S_ISDIR(st.st_mode))
                listing_add(p, r, acc);
            free(p);
            free(r);
        }
        free(ents[i]);
    }
    free(ents);
}

static char *
listing(const char *dir)
{
    char *acc = xstrdup("");

    listing_add(dir, "", &acc);
    return acc;
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs a shell command (openssl), which must succeed. */
static void
sh(const char *fmt, ...)
{
    va_list ap;
    char *cmd;
    int len, rc;

    va_start(ap, fmt);
    len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    cmd = xmalloc((size_t)len + 1);
    va_start(ap, fmt);
    vsnprintf(cmd, (size_t)len + 1, fmt, ap);
    va_end(ap);
    rc = system(cmd);
    if (rc != 0)
        fail_msg("command failed (%d): %s", rc, cmd);
    free(cmd);
}

/* The test CA (EC P-256), its config, in in->work: ca.pem, ca.key. */
static void
make_ca(struct inst *in)
{
    char *cnf = xasprintf("%s/ca.cnf", in->work);

    testlib_write_text(cnf, "[req]\n"
                            "distinguished_name = dn\n"
                            "prompt = no\n"
                            "[dn]\n"
                            "CN = Postern Test CA\n"
                            "[v3_ca]\n"
                            "basicConstraints = critical,CA:TRUE\n"
                            "keyUsage = critical,keyCertSign,cRLSign\n"
                            "subjectKeyIdentifier = hash\n"
                            "[v3_leaf]\n"
                            "basicConstraints = CA:FALSE\n"
                            "keyUsage = critical,digitalSignature,keyEncipherment\n"
                            "extendedKeyUsage = serverAuth,clientAuth\n"
                            "subjectAltName = DNS:" FQDN "\n"
                            "authorityKeyIdentifier = keyid\n");
    sh("cd '%s' && openssl req -x509 -config ca.cnf -extensions v3_ca -newkey ec "
       "-pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 30 "
       "2>openssl.log",
       in->work);
    free(cnf);
}

/* A certificate signed by <issuer>.pem/.key: <name>.key (EC) and
 * <name>.pem, with the extensions of section ext of ca.cnf. */
static void
make_signed(struct inst *in, const char *name, const char *cn, int serial, const char *issuer,
            const char *ext)
{
    sh("cd '%s' && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
       "-keyout %s.key -subj '/CN=%s' -out %s.csr 2>openssl.log && "
       "openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key -set_serial %d -days 30 "
       "-extfile ca.cnf -extensions %s -out %s.pem 2>openssl.log",
       in->work, name, cn, name, name, issuer, issuer, serial, ext, name);
}

/* A leaf for FQDN signed by the test CA. */
static void
make_leaf(struct inst *in, const char *name, int serial)
{
    make_signed(in, name, FQDN, serial, "ca", "v3_leaf");
}

static char *
work_path(struct inst *in, const char *name)
{
    return xasprintf("%s/%s", in->work, name);
}

static X509 *
read_cert_file(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *x;

    if (f == NULL)
        fail_msg("%s: missing", path);
    x = PEM_read_X509(f, NULL, NULL, NULL);
    assert_non_null(x);
    fclose(f);
    return x;
}

static EVP_PKEY *
read_key_file(const char *path)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *k;

    assert_non_null(f);
    k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    assert_non_null(k);
    fclose(f);
    return k;
}

static void
write_cert_file(const char *path, X509 *x)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, x), 1);
    assert_int_equal(fclose(f), 0);
}

static void
write_key_file(const char *path, EVP_PKEY *k)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, 0600), 0);
}

/* A server certificate for FQDN valid from now+nb to now+na seconds,
 * self-signed (issuer NULL) or signed by issuer/issuer_key. */
static X509 *
build_cert(EVP_PKEY *key, long nb, long na, X509 *issuer, EVP_PKEY *issuer_key, long serial)
{
    X509 *x = X509_new();
    X509V3_CTX v3;
    const char *exts[][2] = {
        {"basicConstraints", "CA:FALSE"},
        {"extendedKeyUsage", "serverAuth,clientAuth"},
        {"subjectAltName", "DNS:" FQDN},
    };

    assert_non_null(x);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), nb));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), na));
    assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                                (const unsigned char *)FQDN, -1, -1, 0),
                     1);
    assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(issuer != NULL ? issuer : x)),
                     1);
    assert_int_equal(X509_set_pubkey(x, key), 1);
    X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        X509_EXTENSION *ext = X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
        assert_non_null(ext);
        assert_int_equal(X509_add_ext(x, ext, -1), 1);
        X509_EXTENSION_free(ext);
    }
    assert_true(X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()) > 0);
    return x;
}

/* Puts a certificate and key straight into the store (what an import
 * would refuse, such as an expired certificate). */
static void
place_in_store(struct inst *in, X509 *x, EVP_PKEY *k, char tp[41])
{
    char *p;

    thumb_of(x, tp);
    p = xasprintf("%s/%s.pem", in->certdir, tp);
    write_cert_file(p, x);
    free(p);
    p = xasprintf("%s/%s.key", in->certdir, tp);
    write_key_file(p, k);
    free(p);
}

/* A CRL of the test CA revoking serial (or none when serial < 0). */
static void
make_crl(struct inst *in, const char *name, long serial)
{
    char *cap = work_path(in, "ca.pem"), *kp = work_path(in, "ca.key"), *out = work_path(in, name);
    X509 *ca = read_cert_file(cap);
    EVP_PKEY *key = read_key_file(kp);
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *t = ASN1_TIME_new();
    FILE *f;

    assert_non_null(crl);
    assert_non_null(t);
    assert_int_equal(X509_CRL_set_version(crl, X509_CRL_VERSION_2), 1);
    assert_int_equal(X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)), 1);
    assert_non_null(X509_gmtime_adj(t, -60));
    assert_int_equal(X509_CRL_set1_lastUpdate(crl, t), 1);
    assert_non_null(X509_gmtime_adj(t, 7 * DAY));
    assert_int_equal(X509_CRL_set1_nextUpdate(crl, t), 1);
    if (serial >= 0) {
        X509_REVOKED *rev = X509_REVOKED_new();
        ASN1_INTEGER *sn = ASN1_INTEGER_new();
        assert_non_null(rev);
        assert_int_equal(ASN1_INTEGER_set(sn, serial), 1);
        assert_int_equal(X509_REVOKED_set_serialNumber(rev, sn), 1);
        assert_non_null(X509_gmtime_adj(t, -60));
        assert_int_equal(X509_REVOKED_set_revocationDate(rev, t), 1);
        assert_int_equal(X509_CRL_add0_revoked(crl, rev), 1);
        ASN1_INTEGER_free(sn);
    }
    assert_int_equal(X509_CRL_sort(crl), 1);
    assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
    f = fopen(out, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509_CRL(f, crl), 1);
    assert_int_equal(fclose(f), 0);
    ASN1_TIME_free(t);
    X509_CRL_free(crl);
    EVP_PKEY_free(key);
    X509_free(ca);
    free(cap);
    free(kp);
    free(out);
}

/* The thumbprint of the certificate the store picks for name, or "". */
static void
selected(struct inst *in, const char *name, char out[41])
{
    char err[512], why[512];
    struct tls_store *st = tls_store_load(in->certdir, err, sizeof(err));
    struct ssl_ctx_st *ctx;

    assert_non_null(st);
    out[0] = '\0';
    ctx = tls_store_server_ctx(st, name, why, sizeof(why));
    if (ctx != NULL)
        thumb_of(SSL_CTX_get0_certificate(ctx), out);
    tls_store_free(st);
}

static char *
thumbprint_from(const char *text)
{
    char *tp = field(text, "Thumbprint");

    if (tp == NULL || strlen(tp) != 40)
        fail_msg("no thumbprint in:\n%s", text);
    return tp;
}

/*
 * New-ExchangeCertificate
 */

static void
test_new_selfsigned_rsa(void **state)
{
    struct inst *in = inst_new();
    struct testlib_run r = run(in, "New-ExchangeCertificate");
    char *tp, *p;

    assert_int_equal(r.rc, 0);
    tp = thumbprint_from(r.out);
    for (const char *c = tp; *c; c++)
        assert_true((*c >= '0' && *c <= '9') || (*c >= 'A' && *c <= 'F'));
    /* Neither -SubjectName nor -DomainName: the server Fqdn and its host
     * part, as Setup's certificate. */
    assert_field(r.out, "Subject", "CN=" FQDN);
    assert_field(r.out, "CertificateDomains", "{" FQDN ", mail}");
    assert_field(r.out, "Issuer", "CN=" FQDN);
    assert_field(r.out, "HasPrivateKey", "True");
    assert_field(r.out, "IsSelfSigned", "True");
    assert_field(r.out, "KeyAlgorithm", "RSA");
    assert_field(r.out, "PublicKeySize", "2048");
    assert_field(r.out, "Services", "SMTP");
    assert_field(r.out, "Status", "Valid");
    {
        char *nb = field(r.out, "NotBefore"), *na = field(r.out, "NotAfter");
        /* ISO 8601 UTC, five years apart */
        assert_int_equal(strlen(nb), 20);
        assert_int_equal(nb[19], 'Z');
        assert_int_equal(atoi(na) - atoi(nb), 5);
        free(nb);
        free(na);
    }
    p = xasprintf("%s/%s.key", in->certdir, tp);
    assert_int_equal(mode_of(p), 0600);
    free(p);
    p = xasprintf("%s/%s.pem", in->certdir, tp);
    assert_int_equal(mode_of(p), 0644);
    free(p);
    assert_true(exists_in(in->certdir, tp, ".smtp"));
    /* Keys are never printed. */
    assert_null(strstr(r.out, "PRIVATE KEY"));
    assert_null(strstr(r.err, "PRIVATE KEY"));
    testlib_run_free(&r);

    /* Get- shows the same certificate. */
    r = run(in, "Get-ExchangeCertificate", "-Thumbprint", tp);
    assert_int_equal(r.rc, 0);
    assert_field(r.out, "Thumbprint", tp);
    assert_field(r.out, "Status", "Valid");
    testlib_run_free(&r);
    /* Lower case and spaces, as copied from Windows, are accepted. */
    {
        char spaced[64];
        snprintf(spaced, sizeof(spaced), "%.2s %.2s%s", tp, tp + 2, tp + 4);
        for (char *c = spaced; *c; c++)
            *c = (char)(*c >= 'A' && *c <= 'F' ? *c - 'A' + 'a' : *c);
        r = run(in, "Get-ExchangeCertificate", spaced);
        assert_int_equal(r.rc, 0);
        assert_field(r.out, "Thumbprint", tp);
        testlib_run_free(&r);
    }
    free(tp);
    inst_free(in);
}

static void
test_new_selfsigned_ecdsa(void **state)
{
    struct inst *in = inst_new();
    struct testlib_run r =
        run(in, "New-ExchangeCertificate", "-SubjectName", "C=US, O=Contoso, CN=smtp.b.test",
            "-DomainName", "smtp.b.test,mx.b.test", "-KeyAlgorithm", "ECDSA", "-Services", "None",
            "-FriendlyName", "x");
    char *tp;

    assert_int_equal(r.rc, 0);
    tp = thumbprint_from(r.out);
    /* Encoded C, O, CN; shown most specific first. */
    assert_field(r.out, "Subject", "CN=smtp.b.test, O=Contoso, C=US");
    assert_field(r.out, "CertificateDomains", "{smtp.b.test, mx.b.test}");
    assert_field(r.out, "KeyAlgorithm", "ECDSA");
    assert_field(r.out, "PublicKeySize", "256");
    assert_field(r.out, "Services", "None");
    assert_false(exists_in(in->certdir, tp, ".smtp"));
    testlib_run_free(&r);

    /* -DomainName filters, wildcards aside. */
    r = run(in, "Get-ExchangeCertificate", "-DomainName", "mx.b.test");
    assert_int_equal(r.rc, 0);
    assert_field(r.out, "Thumbprint", tp);
    testlib_run_free(&r);
    r = run(in, "Get-ExchangeCertificate", "-DomainName", "other.test");
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "");
    testlib_run_free(&r);

    /* A wildcard certificate names one label below it. */
    r = run(in, "New-ExchangeCertificate", "-DomainName", "*.c.test", "-KeyAlgorithm", "ECDSA");
    assert_int_equal(r.rc, 0);
    testlib_run_free(&r);
    r = run(in, "Get-ExchangeCertificate", "-DomainName", "mx.c.test");
    assert_int_equal(r.rc, 0);
    assert_field(r.out, "CertificateDomains", "{*.c.test}");
    testlib_run_free(&r);
    r = run(in, "Get-ExchangeCertificate", "-DomainName", "a.mx.c.test");
    assert_string_equal(r.out, "");
    testlib_run_free(&r);

    /* Bad parameters change nothing. */
    {
        char *before = listing(in->certdir);
        r = run(in, "New-ExchangeCertificate", "-KeySize", "1024");
        assert_int_equal(r.rc, 1);
        assert_contains(r.err, "KeySize");
        testlib_run_free(&r);
        r = run(in, "New-ExchangeCertificate", "-KeyAlgorithm", "DSA");
        assert_int_equal(r.rc, 2);
        testlib_run_free(&r);
        r = run(in, "New-ExchangeCertificate", "-DomainName", "bad_name.test");
        assert_int_equal(r.rc, 1);
        assert_contains(r.err, "not a valid DNS name");
        testlib_run_free(&r);
        r = run(in, "New-ExchangeCertificate", "-SubjectName", "CN=Contoso Mail");
        assert_int_equal(r.rc, 1);
        assert_contains(r.err, "-DomainName");
        testlib_run_free(&r);
        r = run(in, "New-ExchangeCertificate", "-Bogus", "1");
        assert_int_equal(r.rc, 2);
        testlib_run_free(&r);
        char *after = listing(in->certdir);
        assert_string_equal(before, after);
        free(before);
        free(after);
    }
    free(tp);
    inst_free(in);
}

/*
 * Requests, CA answers, trust and revocation
 */

static void
test_request_answer_trust_crl(void **state)
{
    struct inst *in = inst_new();
    char *reqfile = work_path(in, "req.pem"), *rdir = xasprintf("%s/requests", in->certdir);
    char *rid, *tp, *p;
    struct testlib_run r;

    make_ca(in);
    /* Printed to standard output without -RequestFile. */
    r = run(in, "New-ExchangeCertificate", "-GenerateRequest", "-KeyAlgorithm", "ECDSA",
            "-DomainName", "other.a.test");
    assert_int_equal(r.rc, 0);
    assert_contains(r.out, "-----BEGIN CERTIFICATE REQUEST-----");
    assert_null(strstr(r.out, "PRIVATE KEY"));
    testlib_run_free(&r);

    r = run(in, "New-ExchangeCertificate", "-GenerateRequest", "-SubjectName", "CN=" FQDN ", O=A",
            "-KeyAlgorithm", "ECDSA", "-RequestFile", reqfile);
    assert_int_equal(r.rc, 0);
    assert_field(r.out, "Status", "PendingRequest");
    assert_field(r.out, "Subject", "CN=" FQDN ", O=A");
    assert_field(r.out, "CertificateDomains", "{" FQDN "}");
    rid = thumbprint_from(r.out);
    testlib_run_free(&r);
    p = xasprintf("%s/%s.key", rdir, rid);
    assert_int_equal(mode_of(p), 0600);
    free(p);
    assert_true(testlib_exists(reqfile));
    /* The request file is never replaced. */
    r = run(in, "New-ExchangeCertificate", "-GenerateRequest", "-RequestFile", reqfile);
    assert_int_equal(r.rc, 1);
    testlib_run_free(&r);

    /* The CA signs it. */
    sh("cd '%s' && openssl x509 -req -in req.pem -CA ca.pem -CAkey ca.key -set_serial 4097 "
       "-days 30 -copy_extensions copy -out answer.pem 2>openssl.log",
       in->work);
    p = work_path(in, "answer.pem");
    r = run(in, "Import-ExchangeCertificate", "-FileName", p);
    free(p);
    assert_int_equal(r.rc, 0);
    tp = thumbprint_from(r.out);
    assert_field(r.out, "HasPrivateKey", "True");
    assert_field(r.out, "IsSelfSigned", "False");
    assert_field(r.out, "Issuer", "CN=Postern Test CA");
    /* The CA is not trusted yet. */
    assert_field(r.out, "Status", "Untrusted");
    testlib_run_free(&r);
    assert_false(exists_in(rdir, rid, ".key"));
    assert_false(exists_in(rdir, rid, ".req"));
    p = xasprintf("%s/%s.key", in->certdir, tp);
    assert_int_equal(mode_of(p), 0600);
    free(p);

    /* Trusting the CA makes it Valid. */
    p = work_path(in, "ca.pem");
    r = run(in, "Import-Certificate", "-FilePath", p, "-CertStoreLocation",
            "Cert:\\LocalMachine\\Root");
    assert_int_equal(r.rc, 0);
    assert_contains(r.out, "CN=Postern Test CA");
    testlib_run_free(&r);
    {
        X509 *ca = read_cert_file(p);
        char catp[41], *rp;
        thumb_of(ca, catp);
        rp = xasprintf("%s/root/%s.pem", in->certdir, catp);
        assert_true(testlib_exists(rp));
        free(rp);
        X509_free(ca);
    }
    /* Again: nothing new, no error. */
    r = run(in, "Import-Certificate", "-FilePath", p, "-CertStoreLocation",
            "cert:/localmachine/root");
    assert_int_equal(r.rc, 0);
    assert_contains(r.out, "already trusted");
    testlib_run_free(&r);
    free(p);
    r = run(in, "Get-ExchangeCertificate", "-Thumbprint", tp);
    assert_field(r.out, "Status", "Valid");
    testlib_run_free(&r);

    /* A CRL that revokes another serial leaves it Valid; one that revokes
     * it makes it Revoked. */
    make_crl(in, "empty.crl", 7);
    p = work_path(in, "empty.crl");
    r = run(in, "Import-Certificate", "-FilePath", p, "-CertStoreLocation",
            "Cert:\\LocalMachine\\Root");
    assert_int_equal(r.rc, 0);
    assert_contains(r.out, "CRL of CN=Postern Test CA");
    testlib_run_free(&r);
    free(p);
    r = run(in, "Get-ExchangeCertificate", "-Thumbprint", tp);
    assert_field(r.out, "Status", "Valid");
    testlib_run_free(&r);
    sleep(1); /* a later lastUpdate than the first CRL */
    make_crl(in, "revoked.crl", 4097);
    p = work_path(in, "revoked.crl");
    r = run(in, "Import-Certificate", "-FilePath", p, "-CertStoreLocation",
            "Cert:\\LocalMachine\\Root");
    assert_int_equal(r.rc, 0);
    testlib_run_free(&r);
    free(p);
    r = run(in, "Get-ExchangeCertificate", "-Thumbprint", tp);
    assert_field(r.out, "Status", "Revoked");
    testlib_run_free(&r);
    {
        /* One CRL per issuer: the newer replaced the older. */
        char *cdir = xasprintf("%s/crl", in->certdir);
        DIR *d = opendir(cdir);
        struct dirent *de;
        int n = 0;
        assert_non_null(d);
        while ((de = readdir(d)) != NULL)
            n += de->d_name[0] != '.';
        closedir(d);
        assert_int_equal(n, 1);
        free(cdir);
    }
    /* The older CRL cannot come back. */
    p = work_path(in, "empty.crl");
    r = run(in, "Import-Certificate", "-FilePath", p, "-CertStoreLocation",
            "Cert:\\LocalMachine\\Root");
    assert_int_equal(r.rc, 1);
    assert_contains(r.err, "newer");
    testlib_run_free(&r);
    free(p);

    free(tp);
    free(rid);
    free(rdir);
    free(reqfile);
    inst_free(in);
}

/*
 * Imports with a key
 */

static void
test_import_pem_bundle(void **state)
{
    struct inst *in = inst_new();
    char *bundle = work_path(in, "bundle.pem"), *tp;
    struct testlib_run r;

    make_ca(in);
    make_signed(in, "int", "Postern Test Intermediate", 300, "ca", "v3_ca");
    make_signed(in, "leaf", FQDN, 8193, "int", "v3_leaf");
    make_leaf(in, "stray", 8200);
    /* Key first, then an unrelated certificate, the root, the leaf and the
     * intermediate: any order will do. */
    sh("cd '%s' && cat leaf.key stray.pem ca.pem leaf.pem int.pem > bundle.pem", in->work);
    r = run(in, "Import-ExchangeCertificate", "-FileName", bundle);
    assert_int_equal(r.rc, 0);
    tp = thumbprint_from(r.out);
    assert_field(r.out, "Subject", "CN=" FQDN);
    assert_field(r.out, "Issuer", "CN=Postern Test Intermediate");
    assert_field(r.out, "HasPrivateKey", "True");
    assert_field(r.out, "Status", "Untrusted");
    assert_field(r.out, "Services", "None");
    assert_contains(r.err, "WARNING: 1 certificate(s)");
    testlib_run_free(&r);
    {
        /* The stored .pem holds the leaf, then the intermediate; the
         * self-signed root is not sent to peers. */
        char *p = xasprintf("%s/%s.pem", in->certdir, tp), *text = file_read(p, NULL);
        X509 *leaf = NULL, *second = NULL, *third = NULL;
        char *ip = work_path(in, "int.pem");
        X509 *want = read_cert_file(ip);
        FILE *f = fopen(p, "r");
        assert_non_null(f);
        leaf = PEM_read_X509(f, NULL, NULL, NULL);
        second = PEM_read_X509(f, NULL, NULL, NULL);
        third = PEM_read_X509(f, NULL, NULL, NULL);
        ERR_clear_error();
        fclose(f);
        assert_non_null(leaf);
        assert_non_null(second);
        assert_null(third);
        assert_int_equal(X509_cmp(second, want), 0);
        X509_free(leaf);
        X509_free(second);
        X509_free(want);
        free(ip);
        free(text);
        free(p);
        p = xasprintf("%s/%s.key", in->certdir, tp);
        assert_int_equal(mode_of(p), 0600);
        free(p);
    }
    /* Trusting the root is enough: the chain comes from the store. */
    {
        char *p = work_path(in, "ca.pem");
        r = run(in, "Import-Certificate", "-FilePath", p, "-CertStoreLocation",
                "Cert:\\LocalMachine\\Root");
        assert_int_equal(r.rc, 0);
        testlib_run_free(&r);
        free(p);
        r = run(in, "Get-ExchangeCertificate", "-Thumbprint", tp);
        assert_field(r.out, "Status", "Valid");
        testlib_run_free(&r);
        /* The intermediate is welcome in the CA store (a link, no trust). */
        p = work_path(in, "int.pem");
        r = run(in, "Import-Certificate", "-FilePath", p, "-CertStoreLocation",
                "Cert:\\LocalMachine\\CA");
        assert_int_equal(r.rc, 0);
        assert_contains(r.out, "CN=Postern Test Intermediate");
        testlib_run_free(&r);
        free(p);
    }
    /* Twice is refused and changes nothing. */
    {
        char *before = listing(in->certdir), *after;
        r = run(in, "Import-ExchangeCertificate", "-FileName", bundle);
        assert_int_equal(r.rc, 1);
        assert_contains(r.err, "already in the store");
        testlib_run_free(&r);
        after = listing(in->certdir);
        assert_string_equal(before, after);
        free(before);
        free(after);
    }
    free(tp);
    free(bundle);
    inst_free(in);
}

static void
test_import_pkcs12(void **state)
{
    struct inst *in = inst_new();
    char *pfx = work_path(in, "leaf.pfx"), *legacy = work_path(in, "legacy.pfx"), *before;
    struct testlib_run r;

    make_ca(in);
    make_leaf(in, "leaf", 8194);
    make_leaf(in, "leaf2", 8195);
    sh("cd '%s' && openssl pkcs12 -export -in leaf.pem -inkey leaf.key -certfile ca.pem "
       "-out leaf.pfx -passout pass:s3cret 2>openssl.log",
       in->work);
    before = listing(in->certdir);
    r = run(in, "Import-ExchangeCertificate", "-FileName", pfx);
    assert_int_equal(r.rc, 1);
    assert_contains(r.err, "-Password");
    testlib_run_free(&r);
    r = run(in, "Import-ExchangeCertificate", "-FileName", pfx, "-Password", "wrong");
    assert_int_equal(r.rc, 1);
    assert_contains(r.err, "wrong password");
    testlib_run_free(&r);
    {
        char *after = listing(in->certdir);
        assert_string_equal(before, after);
        free(after);
    }
    r = run(in, "Import-ExchangeCertificate", "-FileName", pfx, "-Password", "s3cret");
    assert_int_equal(r.rc, 0);
    assert_field(r.out, "HasPrivateKey", "True");
    assert_field(r.out, "Subject", "CN=" FQDN);
    assert_null(strstr(r.out, "s3cret"));
    assert_null(strstr(r.err, "s3cret"));
    testlib_run_free(&r);

    /* -Password - reads standard input; a Windows-style legacy file
     * (3DES, RC2) needs OpenSSL's legacy provider. */
    sh("cd '%s' && openssl pkcs12 -export -legacy -in leaf2.pem -inkey leaf2.key "
       "-out legacy.pfx -passout pass:other 2>openssl.log",
       in->work);
    r = run_stdin(in, "other\n", "Import-ExchangeCertificate", "-FileName", legacy, "-Password",
                  "-");
    assert_int_equal(r.rc, 0);
    assert_field(r.out, "HasPrivateKey", "True");
    testlib_run_free(&r);

    /* A PEM bundle whose key is encrypted. */
    make_leaf(in, "leaf3", 8201);
    sh("cd '%s' && openssl pkey -in leaf3.key -aes256 -passout pass:pw3 -out leaf3.enc && "
       "cat leaf3.pem leaf3.enc > enc.pem",
       in->work);
    {
        char *p = work_path(in, "enc.pem");
        r = run(in, "Import-ExchangeCertificate", "-FileName", p);
        assert_int_equal(r.rc, 1);
        assert_contains(r.err, "encrypted");
        testlib_run_free(&r);
        r = run(in, "Import-ExchangeCertificate", "-FileName", p, "-Password", "nope");
        assert_int_equal(r.rc, 1);
        testlib_run_free(&r);
        r = run(in, "Import-ExchangeCertificate", "-FileName", p, "-Password", "pw3");
        assert_int_equal(r.rc, 0);
        assert_field(r.out, "HasPrivateKey", "True");
        testlib_run_free(&r);
        free(p);
    }

    free(before);
    free(pfx);
    free(legacy);
    inst_free(in);
}

static void
test_import_refusals(void **state)
{
    struct inst *in = inst_new();
    char *before, *after, *p;
    struct testlib_run r;

    make_ca(in);
    make_leaf(in, "leaf", 8196);
    make_leaf(in, "other", 8197);
    before = listing(in->certdir);

    /* The key of another certificate. */
    sh("cd '%s' && cat leaf.pem other.key > wrongkey.pem", in->work);
    p = work_path(in, "wrongkey.pem");
    r = run(in, "Import-ExchangeCertificate", "-FileName", p);
    assert_int_equal(r.rc, 1);
    assert_contains(r.err, "does not match");
    testlib_run_free(&r);
    free(p);

    /* A certificate alone, answering no request. */
    p = work_path(in, "leaf.pem");
    r = run(in, "Import-ExchangeCertificate", "-FileName", p);
    assert_int_equal(r.rc, 1);
    assert_contains(r.err, "no private key");
    testlib_run_free(&r);
    free(p);

    /* Garbage, an empty file, a missing file, a request. */
    p = work_path(in, "garbage.bin");
    testlib_write_text(p, "this is not a certificate\n\x01\x02\x03");
    r = run(in, "Import-ExchangeCertificate", "-FileName", p);
    assert_int_equal(r.rc, 1);
    assert_contains(r.err, "not a certificate file");
    testlib_run_free(&r);
    free(p);
    p = work_path(in, "empty.pem");
    testlib_write_text(p, "");
    r = run(in, "Import-ExchangeCertificate", "-FileName", p);
    assert_int_equal(r.rc, 1);
    testlib_run_free(&r);
    free(p);
    p = work_path(in, "missing.pem");
    r = run(in, "Import-ExchangeCertificate", "-FileName", p);
    assert_int_equal(r.rc, 1);
    testlib_run_free(&r);
    free(p);
    p = work_path(in, "leaf.csr");
    r = run(in, "Import-ExchangeCertificate", "-FileName", p);
    assert_int_equal(r.rc, 1);
    assert_contains(r.err, "certificate request");
    testlib_run_free(&r);
    free(p);
    /* A damaged PEM block. */
    sh("cd '%s' && head -c 300 leaf.pem > cut.pem && cat leaf.key >> cut.pem", in->work);
    p = work_path(in, "cut.pem");
    r = run(in, "Import-ExchangeCertificate", "-FileName", p);
    assert_int_equal(r.rc, 1);
    testlib_run_free(&r);
    free(p);

    /* Expired, with its key: refused with a clear reason. */
    {
        EVP_PKEY *k = EVP_EC_gen("P-256");
        X509 *x = build_cert(k, -30 * DAY, -DAY, NULL, NULL, 11);
        char *cp = work_path(in, "expired.pem"), *kp = work_path(in, "expired.key");
        write_cert_file(cp, x);
        write_key_file(kp, k);
        sh("cd '%s' && cat expired.pem expired.key > expired-bundle.pem", in->work);
        free(cp);
        free(kp);
        p = work_path(in, "expired-bundle.pem");
        r = run(in, "Import-ExchangeCertificate", "-FileName", p);
        assert_int_equal(r.rc, 1);
        assert_contains(r.err, "expired on");
        testlib_run_free(&r);
        free(p);
        X509_free(x);
        EVP_PKEY_free(k);
    }
    /* No -FileName. */
    r = run(in, "Import-ExchangeCertificate");
    assert_int_equal(r.rc, 2);
    testlib_run_free(&r);

    after = listing(in->certdir);
    assert_string_equal(before, after);
    free(before);
    free(after);
    inst_free(in);
}

/*
 * Status: DateInvalid
 */

static void
test_status_date_invalid(void **state)
{
    struct inst *in = inst_new();
    EVP_PKEY *k = EVP_EC_gen("P-256"), *k2 = EVP_EC_gen("P-256");
    X509 *future = build_cert(k, DAY, 30 * DAY, NULL, NULL, 21);
    X509 *expired = build_cert(k2, -30 * DAY, -DAY, NULL, NULL, 22);
    char *cp = work_path(in, "future.pem"), *kp = work_path(in, "future.key"), *p, tp[41];
    struct testlib_run r;

    /* Not yet valid: imported, with a warning. */
    write_cert_file(cp, future);
    write_key_file(kp, k);
    sh("cd '%s' && cat future.pem future.key > future-bundle.pem", in->work);
    p = work_path(in, "future-bundle.pem");
    r = run(in, "Import-ExchangeCertificate", "-FileName", p);
    assert_int_equal(r.rc, 0);
    assert_contains(r.err, "WARNING: certificate CN=" FQDN " is not valid until");
    assert_field(r.out, "Status", "DateInvalid");
    testlib_run_free(&r);
    free(p);

    /* Expired (put there before it expired, say). */
    place_in_store(in, expired, k2, tp);
    r = run(in, "Get-ExchangeCertificate", "-Thumbprint", tp);
    assert_int_equal(r.rc, 0);
    assert_field(r.out, "Status", "DateInvalid");
    testlib_run_free(&r);
    /* Enabling it is refused. */
    r = run(in, "Enable-ExchangeCertificate", "-Thumbprint", tp, "-Services", "SMTP");
    assert_int_equal(r.rc, 1);
    assert_contains(r.err, "expired");
    testlib_run_free(&r);
    assert_false(exists_in(in->certdir, tp, ".smtp"));

    X509_free(future);
    X509_free(expired);
    EVP_PKEY_free(k);
    EVP_PKEY_free(k2);
    free(cp);
    free(kp);
    inst_free(in);
}

/*
 * Enable-ExchangeCertificate and selection
 */

static void
test_enable_changes_selection(void **state)
{
    struct inst *in = inst_new();
    char *a, *b, picked[41], *other, *p;
    struct testlib_run r;

    r = run(in, "New-ExchangeCertificate", "-KeyAlgorithm", "ECDSA", "-Services", "None");
    assert_int_equal(r.rc, 0);
    a = thumbprint_from(r.out);
    testlib_run_free(&r);
    r = run(in, "New-ExchangeCertificate", "-KeyAlgorithm", "ECDSA", "-Services", "None");
    assert_int_equal(r.rc, 0);
    b = thumbprint_from(r.out);
    testlib_run_free(&r);

    selected(in, FQDN, picked);
    assert_true(strcmp(picked, a) == 0 || strcmp(picked, b) == 0);
    other = strcmp(picked, a) == 0 ? b : a;

    /* The one selection did not pick wins once enabled. */
    r = run(in, "Enable-ExchangeCertificate", "-Thumbprint", other, "-Services", "IIS,SMTP");
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.err, "");
    testlib_run_free(&r);
    assert_true(exists_in(in->certdir, other, ".smtp"));
    selected(in, FQDN, picked);
    assert_string_equal(picked, other);
    r = run(in, "Get-ExchangeCertificate", "-Thumbprint", other);
    assert_field(r.out, "Services", "SMTP");
    testlib_run_free(&r);

    /* Even over a CA-issued certificate, which is preferred otherwise. */
    make_ca(in);
    make_leaf(in, "leaf", 8198);
    sh("cd '%s' && cat leaf.pem leaf.key > bundle.pem", in->work);
    p = work_path(in, "bundle.pem");
    r = run(in, "Import-ExchangeCertificate", "-FileName", p);
    assert_int_equal(r.rc, 0);
    testlib_run_free(&r);
    free(p);
    selected(in, FQDN, picked);
    assert_string_equal(picked, other);

    /* Refused: no key, unknown, no -Services, no SMTP in it. */
    {
        /* the one that is not enabled, without its key */
        const char *nokey = strcmp(a, other) != 0 ? a : b;
        p = xasprintf("%s/%s.key", in->certdir, nokey);
        assert_int_equal(unlink(p), 0);
        free(p);
        r = run(in, "Enable-ExchangeCertificate", "-Thumbprint", nokey, "-Services", "SMTP");
        assert_int_equal(r.rc, 1);
        assert_contains(r.err, "no private key");
        testlib_run_free(&r);
        assert_false(exists_in(in->certdir, nokey, ".smtp"));
    }
    r = run(in, "Enable-ExchangeCertificate", "-Thumbprint",
            "0000000000000000000000000000000000000000", "-Services", "SMTP");
    assert_int_equal(r.rc, 1);
    assert_contains(r.err, "no certificate");
    testlib_run_free(&r);
    r = run(in, "Enable-ExchangeCertificate", "-Thumbprint", other);
    assert_int_equal(r.rc, 2);
    testlib_run_free(&r);
    r = run(in, "Enable-ExchangeCertificate", "-Thumbprint", "xyz", "-Services", "SMTP");
    assert_int_equal(r.rc, 2);
    testlib_run_free(&r);
    r = run(in, "Enable-ExchangeCertificate", "-Thumbprint", other, "-Services", "IMAP");
    assert_int_equal(r.rc, 0);
    assert_contains(r.err, "WARNING");
    testlib_run_free(&r);

    free(a);
    free(b);
    inst_free(in);
}

/*
 * Remove-ExchangeCertificate
 */

static void
test_remove(void **state)
{
    struct inst *in = inst_new();
    char *tp, *rid;
    struct testlib_run r;

    r = run(in, "New-ExchangeCertificate", "-KeyAlgorithm", "ECDSA");
    assert_int_equal(r.rc, 0);
    tp = thumbprint_from(r.out);
    testlib_run_free(&r);

    r = run(in, "Remove-ExchangeCertificate");
    assert_int_equal(r.rc, 2);
    testlib_run_free(&r);
    assert_true(exists_in(in->certdir, tp, ".pem"));

    /* The only certificate for the server's name: removed, with a warning. */
    r = run(in, "Remove-ExchangeCertificate", "-Thumbprint", tp);
    assert_int_equal(r.rc, 0);
    assert_contains(r.err, "WARNING");
    assert_contains(r.err, "only one for " FQDN);
    testlib_run_free(&r);
    assert_false(exists_in(in->certdir, tp, ".pem"));
    assert_false(exists_in(in->certdir, tp, ".key"));
    assert_false(exists_in(in->certdir, tp, ".smtp"));

    r = run(in, "Remove-ExchangeCertificate", "-Thumbprint", tp);
    assert_int_equal(r.rc, 1);
    assert_contains(r.err, "no certificate");
    testlib_run_free(&r);

    /* A pending request goes the same way. */
    r = run(in, "New-ExchangeCertificate", "-GenerateRequest", "-KeyAlgorithm", "ECDSA",
            "-RequestFile", "/dev/null/x");
    assert_int_equal(r.rc, 1); /* cannot write there: no pending request left */
    testlib_run_free(&r);
    {
        char *req = work_path(in, "r.pem");
        r = run(in, "New-ExchangeCertificate", "-GenerateRequest", "-KeyAlgorithm", "ECDSA",
                "-RequestFile", req);
        assert_int_equal(r.rc, 0);
        rid = thumbprint_from(r.out);
        testlib_run_free(&r);
        free(req);
    }
    r = run(in, "Get-ExchangeCertificate");
    assert_field(r.out, "Status", "PendingRequest");
    testlib_run_free(&r);
    r = run(in, "Remove-ExchangeCertificate", "-Identity", rid);
    assert_int_equal(r.rc, 0);
    testlib_run_free(&r);
    r = run(in, "Get-ExchangeCertificate");
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "");
    testlib_run_free(&r);

    free(rid);
    free(tp);
    inst_free(in);
}

/*
 * Import-Certificate refusals
 */

static void
test_import_certificate_refusals(void **state)
{
    struct inst *in = inst_new();
    char *before, *after, *p;
    struct testlib_run r;

    make_ca(in);
    make_leaf(in, "leaf", 8199);
    before = listing(in->certdir);

    p = work_path(in, "leaf.pem");
    r = run(in, "Import-Certificate", "-FilePath", p, "-CertStoreLocation",
            "Cert:\\LocalMachine\\Root");
    assert_int_equal(r.rc, 1);
    assert_contains(r.err, "neither a CA");
    testlib_run_free(&r);
    free(p);

    sh("cd '%s' && cat ca.pem ca.key > ca-with-key.pem", in->work);
    p = work_path(in, "ca-with-key.pem");
    r = run(in, "Import-Certificate", "-FilePath", p, "-CertStoreLocation",
            "Cert:\\LocalMachine\\Root");
    assert_int_equal(r.rc, 1);
    assert_contains(r.err, "private key");
    testlib_run_free(&r);
    free(p);

    p = work_path(in, "ca.pem");
    r = run(in, "Import-Certificate", "-FilePath", p, "-CertStoreLocation",
            "Cert:\\LocalMachine\\CA");
    assert_int_equal(r.rc, 1);
    assert_contains(r.err, "self-signed");
    testlib_run_free(&r);
    r = run(in, "Import-Certificate", "-FilePath", p, "-CertStoreLocation",
            "Cert:\\LocalMachine\\My");
    assert_int_equal(r.rc, 2);
    assert_contains(r.err, "Import-ExchangeCertificate");
    testlib_run_free(&r);
    r = run(in, "Import-Certificate", "-FilePath", p);
    assert_int_equal(r.rc, 2);
    testlib_run_free(&r);
    free(p);

    after = listing(in->certdir);
    assert_string_equal(before, after);

    /* DER is fine too. */
    sh("cd '%s' && openssl x509 -in ca.pem -outform DER -out ca.cer", in->work);
    p = work_path(in, "ca.cer");
    r = run(in, "Import-Certificate", "-FilePath", p, "-CertStoreLocation",
            "Cert:\\LocalMachine\\Root");
    assert_int_equal(r.rc, 0);
    assert_contains(r.out, "CN=Postern Test CA");
    testlib_run_free(&r);
    free(p);

    free(before);
    free(after);
    inst_free(in);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_selfsigned_rsa),
        cmocka_unit_test(test_new_selfsigned_ecdsa),
        cmocka_unit_test(test_request_answer_trust_crl),
        cmocka_unit_test(test_import_pem_bundle),
        cmocka_unit_test(test_import_pkcs12),
        cmocka_unit_test(test_import_refusals),
        cmocka_unit_test(test_status_date_invalid),
        cmocka_unit_test(test_enable_changes_selection),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_import_certificate_refusals),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
