/*
 * tls_certs.c — the OpenSSL side of the certificate cmdlets (see
 * tls_certs.h): creating self-signed certificates and PKCS#10 requests,
 * importing certificates with their keys (PEM, PKCS#7, PKCS#12) or as
 * answers to pending requests, trust anchors and CRLs, the Status of each
 * stored certificate, and the SMTP marker that selection prefers.
 *
 * It reads the store with tls_store_load (tls.c) so that Get- shows what
 * the service would load, and verifies chains with the same roots, CRLs
 * and verify callback as the client side (tls_client.c). The durable file
 * writes and the self-signed certificate builder here are also those of
 * tls_create_selfsigned (tls.c); the small helpers it shares with tls.c
 * and tls_client.c are declared in tls_int.h.
 *
 * Must never: write a key with a mode other than 0600 or replace an
 * existing key or certificate file, leave key bytes it read in freed
 * memory, prompt for a passphrase, print or log key material, or change
 * the store when an operation fails part-way (what it wrote is removed).
 */
#include "tls/tls_certs.h"
#include "lib/log.h"
#include "lib/fsutil.h"
#include "lib/runas.h"
#include "lib/util.h"
#include "tls/tls_int.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bundles with a long chain are a few tens of kB; a CA bundle maybe a few
 * hundred. Anything larger is not what the administrator meant. */
#define INPUT_MAX (4 * 1024 * 1024)
#define KEY_FILE_MAX (1024 * 1024)
#define CN_MAX 64 /* RFC 5280 ub-common-name */
#define DN_TEXT_MAX 1024
#define DEFAULT_YEARS 5 /* Exchange 2010's self-signed certificate */
#define YEARS_MAX 100
#define RSA_BITS_MIN 2048 /* OpenSSL security level 2, Debian's default */
#define SUBJECT_ATTRS_MAX 32

/* The first queued OpenSSL error, or what (a fallback for "no error"). */
static const char *
ossl_error(char *buf, size_t len)
{
    return tls_last_error(buf, len);
}

struct password {
    const char *text; /* NULL: none given */
    bool asked;
};

static int
password_cb(char *buf, int size, int rwflag, void *u)
{
    struct password *pw = u;
    size_t n;

    pw->asked = true;
    if (pw->text == NULL || size <= 0)
        return 0;
    n = strlen(pw->text);
    if (n > (size_t)size)
        return -1;
    memcpy(buf, pw->text, n);
    return (int)n;
}

/* Upper-case hex SHA-1 of der[0..len), which an i2d_ function allocated
 * (len <= 0: it failed). Frees der. */
static int
sha1_id(unsigned char *der, int len, char out[TLS_THUMBPRINT_SIZE])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int rc = -1;

    if (len > 0 && EVP_Digest(der, (size_t)len, md, &n, EVP_sha1(), NULL) == 1 &&
        n * 2 == THUMBPRINT_LEN) {
        tls_hex_upper(md, n, out);
        rc = 0;
    }
    OPENSSL_free(der);
    return rc;
}

/* A pending request's identity: SHA-1 of the public key's DER, which the
 * CA's answer carries unchanged. */
static int
pubkey_id(const EVP_PKEY *pkey, char out[TLS_THUMBPRINT_SIZE])
{
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(pkey, &der);

    return sha1_id(der, len, out);
}

/* A CRL issuer's identity: SHA-1 of its name's DER. */
static int
name_id(const X509_NAME *name, char out[TLS_THUMBPRINT_SIZE])
{
    unsigned char *der = NULL;
    int len = i2d_X509_NAME(name, &der);

    return sha1_id(der, len, out);
}

/* "CN=mail.a.test, O=Contoso": RFC 2253 order with Exchange's ", "
 * separator. Control characters are escaped so that a hostile certificate
 * cannot forge output lines; UTF-8 stays readable. */
static char *
dn_text(const X509_NAME *name)
{
    BIO *bio = BIO_new(BIO_s_mem());
    unsigned long flags = ((XN_FLAG_RFC2253 & ~XN_FLAG_SEP_MASK) | XN_FLAG_SEP_CPLUS_SPC) &
                          ~(unsigned long)ASN1_STRFLGS_ESC_MSB;
    char *data = NULL, *out;
    long n;

    if (bio == NULL)
        fatalx("tls: out of memory");
    if (X509_NAME_print_ex(bio, name, 0, flags) >= 0 && (n = BIO_get_mem_data(bio, &data)) > 0)
        out = xstrndup(data, (size_t)n < DN_TEXT_MAX ? (size_t)n : DN_TEXT_MAX);
    else
        out = xstrdup("");
    BIO_free(bio);
    ERR_clear_error();
    return out;
}

static void
iso_time(time_t t, char *buf, size_t len)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        strlcpy_p(buf, "an unknown date", len);
}

static void
asn1_iso_time(const ASN1_TIME *at, char *buf, size_t len)
{
    time_t t;

    if (tls_asn1_time_to_time_t(at, &t) != 0)
        strlcpy_p(buf, "an unknown date", len);
    else
        iso_time(t, buf, len);
}

/*
 * Names
 */

static void
names_push(char ***v, size_t *n, const char *s)
{
    *v = xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = xstrdup(s);
}

static void
names_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static bool
names_contain(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (str_ieq(v[i], s))
            return true;
    return false;
}

/* An ASN.1 string as UTF-8; NULL for one with an embedded NUL, which
 * would make "good.example\0.evil" read as "good.example". */
static char *
asn1_utf8(const ASN1_STRING *s)
{
    unsigned char *utf8 = NULL;
    int len = ASN1_STRING_to_UTF8(&utf8, s);
    char *out = NULL;

    if (len >= 0 && utf8 != NULL && strlen((char *)utf8) == (size_t)len)
        out = xstrdup((char *)utf8);
    OPENSSL_free(utf8);
    return out;
}

/* Adds s (malloc'd; NULL adds nothing), lower-cased when lower, unless
 * v already holds it. Frees s. */
static void
push_unique(char ***v, size_t *n, char *s, bool lower)
{
    if (s == NULL)
        return;
    if (lower)
        str_lower(s);
    if (!names_contain(*v, *n, s))
        names_push(v, n, s);
    free(s);
}

static void
push_cns(const X509_NAME *subject, char ***v, size_t *n, bool lower)
{
    int i = -1;

    while ((i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >= 0)
        push_unique(v, n, asn1_utf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i))),
                    lower);
}

static void
push_sans(const GENERAL_NAMES *gens, char ***v, size_t *n, bool lower)
{
    for (int j = 0; gens != NULL && j < sk_GENERAL_NAME_num(gens); j++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, j);
        if (gn->type == GEN_DNS)
            push_unique(v, n, asn1_utf8(gn->d.dNSName), lower);
    }
}

/* CertificateDomains: the SAN DNS names, else the subject CNs. */
static void
cert_domains(const X509_NAME *subject, const GENERAL_NAMES *gens, char ***v, size_t *n)
{
    push_sans(gens, v, n, false);
    if (*n == 0)
        push_cns(subject, v, n, false);
}

static GENERAL_NAMES *
req_sans(X509_REQ *req)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
    GENERAL_NAMES *gens = NULL;

    for (int i = 0; exts != NULL && i < sk_X509_EXTENSION_num(exts); i++) {
        X509_EXTENSION *ext = sk_X509_EXTENSION_value(exts, i);
        if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) == NID_subject_alt_name) {
            gens = X509V3_EXT_d2i(ext);
            break;
        }
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    ERR_clear_error();
    return gens;
}

int
tls_thumbprint_parse(const char *in, char out[TLS_THUMBPRINT_SIZE])
{
    size_t n = 0;

    if (in == NULL)
        return -1;
    for (const unsigned char *p = (const unsigned char *)in; *p != '\0'; p++) {
        /* Copied from the Windows certificate dialog, a thumbprint comes
         * with spaces and an invisible U+200E (bytes >= 0x80 here);
         * openssl prints it with colons. */
        if (*p == ' ' || *p == ':' || *p == '\t' || *p >= 0x80)
            continue;
        if (!isxdigit(*p) || n >= THUMBPRINT_LEN)
            return -1;
        out[n++] = (char)toupper(*p);
    }
    if (n != THUMBPRINT_LEN)
        return -1;
    out[n] = '\0';
    return 0;
}

/*
 * Files. tls_write_cert_pair and tls_sync_dir (see tls_int.h) also write
 * tls.c's tls_create_selfsigned certificates.
 */

/* Who new files belong to: when we run as root, the owner of certdir
 * (the service user reads them after dropping privileges). */
static void
owner_of(const char *certdir, struct tls_owner *o)
{
    struct stat st;

    memset(o, 0, sizeof(*o));
    if (geteuid() == 0 && stat(certdir, &st) == 0 &&
        (st.st_uid != geteuid() || st.st_gid != getegid())) {
        o->set = true;
        o->uid = st.st_uid;
        o->gid = st.st_gid;
    }
}

/* Without replace, never replaces an existing file (a key must not be
 * overwritten silently); rename(2) only where RENAME_NOREPLACE is not
 * supported. */
static int
rename_into(const char *from, const char *to, bool replace)
{
    if (replace)
        return rename(from, to);
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    if (access(to, F_OK) == 0) {
        errno = EEXIST;
        return -1;
    }
    return rename(from, to);
}

/*
 * dir/name through a temporary file in the same directory (a crash leaves
 * no file or a whole one; the leading '.' keeps the loaders away from it).
 * fchmod makes the mode independent of the umask; o (may be NULL) gives
 * the file away. Without replace, an existing dir/name is never replaced.
 */
static int
write_file_atomic(const char *dir, const char *name, const void *data, size_t len, mode_t mode,
                  bool replace, const struct tls_owner *o, char *err, size_t errlen)
{
    unsigned char rnd[8];
    char rhex[2 * sizeof(rnd) + 1];
    char *tmp = NULL, *final = NULL;
    int fd = -1, rc = -1;

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        errorf(err, errlen, "cannot get random bytes for a temporary file name");
        return -1;
    }
    tls_hex_upper(rnd, sizeof(rnd), rhex);
    tmp = xasprintf("%s/.%s.%ld.%s.tmp", dir, name, (long)getpid(), rhex);
    final = xasprintf("%s/%s", dir, name);

    fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        errorf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (fchmod(fd, mode) != 0 || (o != NULL && o->set && fchown(fd, o->uid, o->gid) != 0) ||
        fs_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        errorf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        errorf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename_into(tmp, final, replace) != 0) {
        if (errno == EEXIST)
            errorf(err, errlen, "%s already exists", final);
        else
            errorf(err, errlen, "cannot rename %s to %s: %s", tmp, final, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (rc != 0)
        unlink(tmp);
    free(tmp);
    free(final);
    return rc;
}

void
tls_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return;
    if (fsync(fd) != 0)
        log_warn("fsync %s", dir);
    close(fd);
}

static int
ensure_dir(const char *path, const struct tls_owner *o, char *err, size_t errlen)
{
    if (mkdir(path, 0700) == 0) {
        if (o->set && chown(path, o->uid, o->gid) != 0) {
            errorf(err, errlen, "cannot chown %s: %s", path, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (errno == EEXIST)
        return 0;
    errorf(err, errlen, "cannot create %s: %s", path, strerror(errno));
    return -1;
}

/* One change of the store at a time: two imports of the same file would
 * otherwise race between the existence check and the rename. Returns the
 * locked descriptor (close it to unlock), or -1. */
static int
lock_store(const char *certdir, char *err, size_t errlen)
{
    int fd = open(certdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0) {
        errorf(err, errlen, "cannot open certificate directory %s: %s", certdir, strerror(errno));
        return -1;
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            errorf(err, errlen, "cannot lock %s: %s", certdir, strerror(errno));
            close(fd);
            return -1;
        }
    }
    return fd;
}

static bool
file_exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

/* Reads a whole regular file into memory that is cleansed when freed
 * (OPENSSL_secure_clear_free(*buf, *len + 1)): it may hold a key. */
static int
read_secure(const char *path, size_t max, unsigned char **buf, size_t *len, char *err,
            size_t errlen)
{
    struct stat st;
    size_t size, got = 0;
    unsigned char *b;
    int fd;

    *buf = NULL;
    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errorf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        errorf(err, errlen, "%s is not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_size <= 0 || (size_t)st.st_size > max) {
        errorf(err, errlen, "%s is %s", path, st.st_size <= 0 ? "empty" : "too large");
        close(fd);
        return -1;
    }
    size = (size_t)st.st_size;
    b = OPENSSL_secure_malloc(size + 1);
    if (b == NULL)
        fatalx("tls: out of memory");
    got = tls_read_full(fd, b, size);
    close(fd);
    if (got != size) {
        errorf(err, errlen, "cannot read %s", path);
        OPENSSL_secure_clear_free(b, size + 1);
        return -1;
    }
    b[size] = '\0';
    *buf = b;
    *len = size;
    return 0;
}

static EVP_PKEY *
read_key_file(const char *path, char *err, size_t errlen)
{
    unsigned char *buf;
    size_t len;
    BIO *bio;
    EVP_PKEY *key = NULL;
    char e[256];

    if (read_secure(path, KEY_FILE_MAX, &buf, &len, err, errlen) != 0)
        return NULL;
    ERR_clear_error();
    bio = BIO_new_mem_buf(buf, (int)len);
    if (bio == NULL || (key = PEM_read_bio_PrivateKey(bio, NULL, tls_no_passphrase, NULL)) == NULL)
        errorf(err, errlen, "%s: cannot parse private key: %s", path, ossl_error(e, sizeof(e)));
    BIO_free(bio);
    OPENSSL_secure_clear_free(buf, len + 1);
    return key;
}

static int
write_key(const char *dir, const char *name, EVP_PKEY *pkey, const struct tls_owner *o, char *err,
          size_t errlen)
{
    /* A secure-memory BIO cleanses its buffer when freed, so the PEM text
     * of the key does not linger in the heap. */
    BIO *bio = BIO_new(BIO_s_secmem());
    char *data = NULL;
    long len;
    int rc = -1;
    char e[256];

    if (bio == NULL || PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
        (len = BIO_get_mem_data(bio, &data)) <= 0) {
        errorf(err, errlen, "cannot encode private key: %s", ossl_error(e, sizeof(e)));
        goto out;
    }
    rc = write_file_atomic(dir, name, data, (size_t)len, 0600, false, o, err, errlen);
out:
    BIO_free(bio);
    return rc;
}

/* leaf, then chain (may be NULL), as one PEM file. */
static int
write_certs(const char *dir, const char *name, X509 *leaf, STACK_OF(X509) * chain,
            const struct tls_owner *o, char *err, size_t errlen)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, e[256];
    long len;
    int rc = -1;

    if (bio == NULL || PEM_write_bio_X509(bio, leaf) != 1)
        goto fail;
    for (int i = 0; chain != NULL && i < sk_X509_num(chain); i++)
        if (PEM_write_bio_X509(bio, sk_X509_value(chain, i)) != 1)
            goto fail;
    if ((len = BIO_get_mem_data(bio, &data)) <= 0)
        goto fail;
    /* Certificates are public; 0644 lets monitoring read expiry dates. */
    rc = write_file_atomic(dir, name, data, (size_t)len, 0644, false, o, err, errlen);
    BIO_free(bio);
    return rc;
fail:
    errorf(err, errlen, "cannot encode certificate: %s", ossl_error(e, sizeof(e)));
    BIO_free(bio);
    return -1;
}

static void
unlink_in(const char *dir, const char *thumbprint, const char *suffix)
{
    char *p = xasprintf("%s/%s%s", dir, thumbprint, suffix);

    if (unlink(p) != 0 && errno != ENOENT)
        log_warn("cannot remove %s", p);
    free(p);
}

int
tls_write_cert_pair(const char *dir, const char *thumbprint, EVP_PKEY *key, X509 *leaf,
                    STACK_OF(X509) * chain, const struct tls_owner *o, char *err, size_t errlen)
{
    char *keyname = xasprintf("%s.key", thumbprint), *pemname = xasprintf("%s.pem", thumbprint);
    int rc = -1;

    /* Key first: a .pem without its key would be a certificate the store
     * can never use, whereas an orphaned .key is merely ignored. */
    if (write_key(dir, keyname, key, o, err, errlen) == 0) {
        if (write_certs(dir, pemname, leaf, chain, o, err, errlen) == 0)
            rc = 0;
        else
            unlink_in(dir, thumbprint, ".key");
    }
    free(keyname);
    free(pemname);
    return rc;
}

/*
 * Reading what an administrator hands us
 */

struct bundle {
    STACK_OF(X509) * certs;
    STACK_OF(X509_CRL) * crls;
    EVP_PKEY *key;
    int nkeys;
    bool key_material; /* a private key block or PKCS#12 was seen */
};

static void
bundle_init(struct bundle *b)
{
    memset(b, 0, sizeof(*b));
    b->certs = sk_X509_new_null();
    b->crls = sk_X509_CRL_new_null();
    if (b->certs == NULL || b->crls == NULL)
        fatalx("tls: out of memory");
}

static void
bundle_free(struct bundle *b)
{
    sk_X509_pop_free(b->certs, X509_free);
    sk_X509_CRL_pop_free(b->crls, X509_CRL_free);
    EVP_PKEY_free(b->key);
    memset(b, 0, sizeof(*b));
}

static void
push_cert(struct bundle *b, X509 *x)
{
    /* The same certificate twice (a chain file that repeats the leaf)
     * counts once. */
    for (int i = 0; i < sk_X509_num(b->certs); i++) {
        if (X509_cmp(sk_X509_value(b->certs, i), x) == 0) {
            X509_free(x);
            return;
        }
    }
    if (sk_X509_push(b->certs, x) <= 0)
        fatalx("tls: out of memory");
}

static void
push_crl(struct bundle *b, X509_CRL *c)
{
    if (sk_X509_CRL_push(b->crls, c) <= 0)
        fatalx("tls: out of memory");
}

static void
take_pkcs7(struct bundle *b, PKCS7 *p7)
{
    STACK_OF(X509) *certs = NULL;
    STACK_OF(X509_CRL) *crls = NULL;

    if (OBJ_obj2nid(p7->type) == NID_pkcs7_signed && p7->d.sign != NULL) {
        certs = p7->d.sign->cert;
        crls = p7->d.sign->crl;
    }
    for (int i = 0; certs != NULL && i < sk_X509_num(certs); i++) {
        X509 *x = sk_X509_value(certs, i);
        if (X509_up_ref(x) != 1)
            fatalx("tls: X509_up_ref");
        push_cert(b, x);
    }
    for (int i = 0; crls != NULL && i < sk_X509_CRL_num(crls); i++) {
        X509_CRL *c = sk_X509_CRL_value(crls, i);
        if (X509_CRL_up_ref(c) != 1)
            fatalx("tls: X509_CRL_up_ref");
        push_crl(b, c);
    }
}

/* One private key block: re-encoded alone into secure memory so that the
 * PEM reader (which knows every key format, and decryption) sees it
 * without the blocks around it. */
static int
take_pem_key(struct bundle *b, const char *name, const char *header, const unsigned char *data,
             long len, struct password *pw, const char *path, char *err, size_t errlen)
{
    BIO *bio = BIO_new(BIO_s_secmem());
    EVP_PKEY *key = NULL;
    char e[256];
    int rc = -1;

    b->key_material = true;
    if (++b->nkeys > 1) {
        errorf(err, errlen, "%s holds more than one private key", path);
        goto out;
    }
    ERR_clear_error();
    if (bio == NULL || PEM_write_bio(bio, name, header, data, len) <= 0) {
        errorf(err, errlen, "%s: cannot read the private key: %s", path, ossl_error(e, sizeof(e)));
        goto out;
    }
    pw->asked = false;
    key = PEM_read_bio_PrivateKey(bio, NULL, password_cb, pw);
    if (key == NULL) {
        if (pw->asked && pw->text == NULL)
            errorf(err, errlen, "%s: the private key is encrypted: give its -Password", path);
        else if (pw->asked)
            errorf(err, errlen, "%s: cannot decrypt the private key: wrong password?", path);
        else
            errorf(err, errlen, "%s: cannot read the private key: %s", path,
                   ossl_error(e, sizeof(e)));
        ERR_clear_error();
        goto out;
    }
    b->key = key;
    rc = 0;
out:
    BIO_free(bio);
    return rc;
}

static bool
pem_name_is(const char *name, const char *const *names)
{
    for (; *names != NULL; names++)
        if (strcmp(name, *names) == 0)
            return true;
    return false;
}

static int
parse_pem(struct bundle *b, const unsigned char *buf, size_t len, struct password *pw,
          const char *path, char *warn, size_t warnlen, char *err, size_t errlen)
{
    static const char *const cert_names[] = {PEM_STRING_X509, PEM_STRING_X509_OLD, NULL};
    static const char *const p7_names[] = {PEM_STRING_PKCS7, PEM_STRING_PKCS7_SIGNED, NULL};
    static const char *const req_names[] = {PEM_STRING_X509_REQ, PEM_STRING_X509_REQ_OLD, NULL};
    static const char *const quiet_names[] = {PEM_STRING_ECPARAMETERS, PEM_STRING_PARAMETERS,
                                              PEM_STRING_PUBLIC, NULL};
    BIO *in = BIO_new_mem_buf(buf, (int)len);
    int rc = -1, blocks = 0;
    char e[256];

    if (in == NULL)
        fatalx("tls: out of memory");
    for (;;) {
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        const unsigned char *p;
        long dlen = 0;
        bool ok = true;

        ERR_clear_error();
        if (PEM_read_bio_ex(in, &name, &header, &data, &dlen,
                            PEM_FLAG_SECURE | PEM_FLAG_EAY_COMPATIBLE) != 1) {
            unsigned long code = ERR_peek_last_error();
            if (ERR_GET_LIB(code) == ERR_LIB_PEM && ERR_GET_REASON(code) == PEM_R_NO_START_LINE) {
                ERR_clear_error();
                break;
            }
            errorf(err, errlen, "%s: damaged PEM block after %d good one(s): %s", path, blocks,
                   ossl_error(e, sizeof(e)));
            goto out;
        }
        blocks++;
        p = data;
        if (pem_name_is(name, cert_names)) {
            X509 *x = d2i_X509(NULL, &p, dlen);
            if ((ok = x != NULL))
                push_cert(b, x);
        } else if (strcmp(name, PEM_STRING_X509_TRUSTED) == 0) {
            X509 *x = d2i_X509_AUX(NULL, &p, dlen);
            if ((ok = x != NULL))
                push_cert(b, x);
        } else if (pem_name_is(name, p7_names)) {
            PKCS7 *p7 = d2i_PKCS7(NULL, &p, dlen);
            if ((ok = p7 != NULL))
                take_pkcs7(b, p7);
            PKCS7_free(p7);
        } else if (strcmp(name, PEM_STRING_X509_CRL) == 0) {
            X509_CRL *c = d2i_X509_CRL(NULL, &p, dlen);
            if ((ok = c != NULL))
                push_crl(b, c);
        } else if (strlen(name) >= 11 && strcmp(name + strlen(name) - 11, "PRIVATE KEY") == 0) {
            if (take_pem_key(b, name, header, data, dlen, pw, path, err, errlen) != 0) {
                OPENSSL_secure_free(name);
                OPENSSL_secure_free(header);
                OPENSSL_secure_clear_free(data, (size_t)dlen);
                goto out;
            }
        } else if (pem_name_is(name, req_names)) {
            errorf(err, errlen,
                   "%s holds a certificate request, not a certificate: send it to the CA and "
                   "import the certificate it issues",
                   path);
            OPENSSL_secure_free(name);
            OPENSSL_secure_free(header);
            OPENSSL_secure_clear_free(data, (size_t)dlen);
            goto out;
        } else if (!pem_name_is(name, quiet_names)) {
            tls_appendmsg(warn, warnlen, "\n", "%s: skipped a PEM block of type \"%.40s\"", path,
                          name);
        }
        if (!ok)
            errorf(err, errlen, "%s: damaged \"%.40s\" block: %s", path, name,
                   ossl_error(e, sizeof(e)));
        OPENSSL_secure_free(name);
        OPENSSL_secure_free(header);
        OPENSSL_secure_clear_free(data, (size_t)dlen);
        if (!ok)
            goto out;
    }
    rc = 0;
out:
    BIO_free(in);
    return rc;
}

/* A legacy-encrypted PKCS#12 (RC2-40 and 3DES, as Windows Server before
 * 2019 exports) needs OpenSSL 3's legacy provider. */
static int
p12_parse(PKCS12 *p12, const char *pass, EVP_PKEY **key, X509 **cert, STACK_OF(X509) * *ca)
{
    OSSL_PROVIDER *legacy;
    int ok;

    ERR_clear_error();
    if (PKCS12_parse(p12, pass, key, cert, ca) == 1)
        return 1;
    legacy = OSSL_PROVIDER_try_load(NULL, "legacy", 1);
    if (legacy == NULL)
        return 0;
    ERR_clear_error();
    ok = PKCS12_parse(p12, pass, key, cert, ca);
    OSSL_PROVIDER_unload(legacy);
    return ok;
}

static int
parse_pkcs12(struct bundle *b, PKCS12 *p12, struct password *pw, const char *path, char *err,
             size_t errlen)
{
    const char *pass = pw->text;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *ca = NULL;
    char e[256];

    b->key_material = true;
    /* The MAC tells a wrong password from a damaged file. Without a
     * password, both "no password" and "" are tried, as Windows may use
     * either for an unprotected export. */
    if (PKCS12_mac_present(p12)) {
        if (pass == NULL || pass[0] == '\0') {
            if (PKCS12_verify_mac(p12, NULL, 0) == 1)
                pass = NULL;
            else if (PKCS12_verify_mac(p12, "", 0) == 1)
                pass = "";
            else {
                ERR_clear_error();
                errorf(err, errlen, "%s is a PKCS#12 file protected by a password: give -Password",
                       path);
                return -1;
            }
        } else if (PKCS12_verify_mac(p12, pass, -1) != 1) {
            ERR_clear_error();
            errorf(err, errlen, "%s: wrong password for this PKCS#12 file", path);
            return -1;
        }
    }
    if (p12_parse(p12, pass, &key, &cert, &ca) != 1) {
        errorf(err, errlen, "%s: cannot read the PKCS#12 file: %s", path, ossl_error(e, sizeof(e)));
        return -1;
    }
    if (key != NULL) {
        b->key = key;
        b->nkeys = 1;
    }
    if (cert != NULL)
        push_cert(b, cert);
    while (ca != NULL && sk_X509_num(ca) > 0)
        push_cert(b, sk_X509_shift(ca));
    sk_X509_free(ca);
    return 0;
}

static int
parse_der(struct bundle *b, const unsigned char *buf, size_t len, struct password *pw,
          const char *path, char *err, size_t errlen)
{
    const unsigned char *p;
    PKCS12 *p12;
    PKCS7 *p7;
    X509 *x;
    X509_CRL *crl;
    int rc;

    ERR_clear_error();
    p = buf;
    if ((x = d2i_X509(NULL, &p, (long)len)) != NULL && p == buf + len) {
        push_cert(b, x);
        return 0;
    }
    X509_free(x);
    p = buf;
    if ((p12 = d2i_PKCS12(NULL, &p, (long)len)) != NULL) {
        ERR_clear_error();
        rc = parse_pkcs12(b, p12, pw, path, err, errlen);
        PKCS12_free(p12);
        return rc;
    }
    p = buf;
    if ((p7 = d2i_PKCS7(NULL, &p, (long)len)) != NULL) {
        take_pkcs7(b, p7);
        PKCS7_free(p7);
        ERR_clear_error();
        return 0;
    }
    p = buf;
    if ((crl = d2i_X509_CRL(NULL, &p, (long)len)) != NULL) {
        push_crl(b, crl);
        ERR_clear_error();
        return 0;
    }
    ERR_clear_error();
    errorf(err, errlen,
           "%s is not a certificate file (neither PEM nor DER certificates, PKCS#7, PKCS#12 "
           "or a CRL)",
           path);
    return -1;
}

/* Reads path into b. PEM when it has a "-----BEGIN " line, else DER. */
static int
read_bundle(struct bundle *b, const char *path, const char *password, char *warn, size_t warnlen,
            char *err, size_t errlen)
{
    struct password pw = {password, false};
    unsigned char *buf;
    size_t len;
    int rc;

    bundle_init(b);
    if (read_secure(path, INPUT_MAX, &buf, &len, err, errlen) != 0)
        return -1;
    if (memmem(buf, len, "-----BEGIN ", 11) != NULL)
        rc = parse_pem(b, buf, len, &pw, path, warn, warnlen, err, errlen);
    else
        rc = parse_der(b, buf, len, &pw, path, err, errlen);
    OPENSSL_secure_clear_free(buf, len + 1);
    return rc;
}

/*
 * New-ExchangeCertificate
 */

struct subject_attr {
    const char *written; /* as the administrator may write it */
    const char *sn;      /* OpenSSL's short name */
    int rank;            /* encoding order, most significant first */
};

static const struct subject_attr subject_attrs[] = {
    {"DC", "DC", 0},
    {"C", "C", 1},
    {"S", "ST", 2},
    {"ST", "ST", 2},
    {"L", "L", 3},
    {"STREET", "street", 3},
    {"PostalCode", "postalCode", 3},
    {"O", "O", 4},
    {"OU", "OU", 5},
    {"CN", "CN", 6},
    {"SERIALNUMBER", "serialNumber", 7},
    {"E", "emailAddress", 7},
    {"EMAIL", "emailAddress", 7},
    {"emailAddress", "emailAddress", 7},
};

struct rdn {
    const struct subject_attr *attr;
    char *value;
};

/* "CN=mail.contoso.com, O=\"Contoso, Ltd\", C=US": ',' or ';' separate;
 * a value may be double-quoted, or escape a character with '\'. */
static int
parse_subject(const char *text, X509_NAME **out, char **cn, char *err, size_t errlen)
{
    struct rdn rdns[SUBJECT_ATTRS_MAX];
    size_t n = 0;
    const char *p = text;
    X509_NAME *name = NULL;
    int rc = -1;

    *out = NULL;
    *cn = NULL;
    while (*p != '\0') {
        char key[32], *v;
        size_t klen = 0, vlen = 0;
        const struct subject_attr *attr = NULL;

        while (*p == ' ' || *p == '\t')
            p++;
        while (isalnum((unsigned char)*p) && klen + 1 < sizeof(key))
            key[klen++] = *p++;
        key[klen] = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        if (klen == 0 || *p != '=') {
            errorf(err, errlen, "SubjectName: expected ATTRIBUTE=value at \"%.40s\"", p);
            goto out;
        }
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        for (size_t i = 0; i < sizeof(subject_attrs) / sizeof(subject_attrs[0]); i++)
            if (str_ieq(subject_attrs[i].written, key))
                attr = &subject_attrs[i];
        if (attr == NULL) {
            errorf(err, errlen,
                   "SubjectName: unknown attribute \"%s\" (use CN, O, OU, L, S, C, DC, E, "
                   "SERIALNUMBER)",
                   key);
            goto out;
        }
        v = xmalloc(strlen(p) + 1);
        if (*p == '"') {
            for (p++; *p != '\0' && *p != '"'; p++) {
                if (*p == '\\' && p[1] != '\0')
                    p++;
                v[vlen++] = *p;
            }
            if (*p != '"') {
                free(v);
                errorf(err, errlen, "SubjectName: unterminated quote in %s=", key);
                goto out;
            }
            p++;
        } else {
            for (; *p != '\0' && *p != ',' && *p != ';'; p++) {
                if (*p == '\\' && p[1] != '\0')
                    p++;
                v[vlen++] = *p;
            }
            while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
        }
        v[vlen] = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == ',' || *p == ';')
            p++;
        else if (*p != '\0') {
            free(v);
            errorf(err, errlen, "SubjectName: expected ',' after %s=", key);
            goto out;
        }
        if (vlen == 0) {
            free(v);
            errorf(err, errlen, "SubjectName: %s= has no value", key);
            goto out;
        }
        if (strcmp(attr->sn, "C") == 0 &&
            (vlen != 2 || !isalpha((unsigned char)v[0]) || !isalpha((unsigned char)v[1]))) {
            errorf(err, errlen, "SubjectName: C=%s is not a two-letter country code", v);
            free(v);
            goto out;
        }
        if (strcmp(attr->sn, "CN") == 0 && vlen > CN_MAX) {
            errorf(err, errlen, "SubjectName: CN is longer than the %d characters X.509 allows",
                   CN_MAX);
            free(v);
            goto out;
        }
        if (n == SUBJECT_ATTRS_MAX) {
            free(v);
            errorf(err, errlen, "SubjectName: more than %d attributes", SUBJECT_ATTRS_MAX);
            goto out;
        }
        /* Stable insertion by rank: the conventional encoding order. */
        {
            size_t at = n;
            while (at > 0 && rdns[at - 1].attr->rank > attr->rank)
                at--;
            memmove(&rdns[at + 1], &rdns[at], (n - at) * sizeof(rdns[0]));
            rdns[at].attr = attr;
            rdns[at].value = v;
            n++;
        }
    }
    if (n == 0) {
        errorf(err, errlen, "SubjectName is empty");
        goto out;
    }
    name = X509_NAME_new();
    if (name == NULL)
        fatalx("tls: out of memory");
    for (size_t i = 0; i < n; i++) {
        if (X509_NAME_add_entry_by_txt(name, rdns[i].attr->sn, MBSTRING_UTF8,
                                       (const unsigned char *)rdns[i].value, -1, -1, 0) != 1) {
            char e[256];
            errorf(err, errlen, "SubjectName: %s=%s: %s", rdns[i].attr->written, rdns[i].value,
                   ossl_error(e, sizeof(e)));
            X509_NAME_free(name);
            goto out;
        }
        if (*cn == NULL && strcmp(rdns[i].attr->sn, "CN") == 0)
            *cn = xstrdup(rdns[i].value);
    }
    *out = name;
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        free(rdns[i].value);
    if (rc != 0) {
        free(*cn);
        *cn = NULL;
    }
    return rc;
}

/* The SAN DNS names and the subject of a new certificate or request, by
 * the defaults tls_certs.h describes. */
static int
resolve_names(const struct tls_new_cert *spec, X509_NAME **subject, char ***names, size_t *nnames,
              char *err, size_t errlen)
{
    char *cn = NULL;
    int rc = -1;

    *subject = NULL;
    *names = NULL;
    *nnames = 0;
    if (spec->subject != NULL && parse_subject(spec->subject, subject, &cn, err, errlen) != 0)
        return -1;

    for (size_t i = 0; i < spec->nnames; i++) {
        char *s = xstrdup(spec->names[i]);
        str_lower(s);
        if (!tls_valid_dns_name(s, true)) {
            errorf(err, errlen, "DomainName: \"%s\" is not a valid DNS name", spec->names[i]);
            free(s);
            goto out;
        }
        if (!names_contain(*names, *nnames, s))
            names_push(names, nnames, s);
        free(s);
    }
    if (cn != NULL) {
        bool dns = tls_valid_dns_name(cn, true);
        if (*nnames == 0 && !dns) {
            errorf(err, errlen,
                   "SubjectName: CN=%s is not a DNS name, so it cannot be the certificate's "
                   "domain: give -DomainName",
                   cn);
            goto out;
        }
        /* Clients ignore the CN of a certificate with SANs: the CN must
         * be among them to count. */
        if (dns && !names_contain(*names, *nnames, cn)) {
            char *s = xstrdup(cn);
            str_lower(s);
            *names = xrealloc(*names, (*nnames + 1) * sizeof(**names));
            memmove(*names + 1, *names, *nnames * sizeof(**names));
            (*names)[0] = s;
            (*nnames)++;
        }
    }
    if (*nnames == 0) {
        char host[64];
        size_t hl;

        if (spec->fqdn == NULL || !tls_valid_dns_name(spec->fqdn, true)) {
            errorf(err, errlen, "no -DomainName given and no usable server Fqdn");
            goto out;
        }
        names_push(names, nnames, spec->fqdn);
        str_lower((*names)[0]);
        /* The host part, as Setup's certificate has it (Exchange: the
         * NetBIOS name); not in a request, which a public CA would refuse
         * for a single-label name. */
        hl = strcspn(spec->fqdn, ".");
        if (!spec->request && spec->fqdn[hl] == '.' && hl < sizeof(host) &&
            !(hl == 1 && spec->fqdn[0] == '*')) {
            memcpy(host, spec->fqdn, hl);
            host[hl] = '\0';
            str_lower(host);
            names_push(names, nnames, host);
        }
    }
    if (*subject == NULL) {
        if (strlen((*names)[0]) > CN_MAX) {
            errorf(err, errlen,
                   "\"%s\" is longer than the %d characters a CN allows: give -SubjectName",
                   (*names)[0], CN_MAX);
            goto out;
        }
        *subject = X509_NAME_new();
        if (*subject == NULL ||
            X509_NAME_add_entry_by_txt(*subject, "CN", MBSTRING_UTF8,
                                       (const unsigned char *)(*names)[0], -1, -1, 0) != 1)
            fatalx("tls: cannot build a subject name");
    }
    rc = 0;
out:
    free(cn);
    if (rc != 0) {
        X509_NAME_free(*subject);
        *subject = NULL;
        names_free(*names, *nnames);
        *names = NULL;
        *nnames = 0;
    }
    return rc;
}

static X509_EXTENSION *
san_extension(const char *const *names, size_t n)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    X509_EXTENSION *ext = NULL;

    if (gens == NULL)
        return NULL;
    /* Built by hand rather than through the config-string parser so that
     * no character of a name can be read as syntax. */
    for (size_t i = 0; i < n; i++) {
        GENERAL_NAME *gn = GENERAL_NAME_new();
        ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();

        if (gn == NULL || ia5 == NULL || ASN1_STRING_set(ia5, names[i], -1) != 1) {
            GENERAL_NAME_free(gn);
            ASN1_IA5STRING_free(ia5);
            goto out;
        }
        GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
        if (sk_GENERAL_NAME_push(gens, gn) <= 0) {
            GENERAL_NAME_free(gn);
            goto out;
        }
    }
    ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
out:
    GENERAL_NAMES_free(gens);
    return ext;
}

/* The extensions of a TLS server (and client) certificate: what Exchange's
 * own self-signed certificate and a CA request carry. */
static STACK_OF(X509_EXTENSION) * tls_extensions(X509V3_CTX *v3, EVP_PKEY *pkey,
                                                 const char *const *names, size_t nnames, bool ski)
{
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    /* keyEncipherment is for RSA key transport only. */
    const char *ku = EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA
                         ? "critical,digitalSignature,keyEncipherment"
                         : "critical,digitalSignature";
    const struct {
        int nid;
        const char *value;
    } conf[] = {
        {NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, ku},
        {NID_ext_key_usage, "serverAuth,clientAuth"},
        {NID_subject_key_identifier, "hash"},
    };
    X509_EXTENSION *ext;

    if (exts == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(conf) / sizeof(conf[0]); i++) {
        if (conf[i].nid == NID_subject_key_identifier && !ski)
            continue;
        if ((ext = X509V3_EXT_conf_nid(NULL, v3, conf[i].nid, conf[i].value)) == NULL ||
            sk_X509_EXTENSION_push(exts, ext) <= 0) {
            X509_EXTENSION_free(ext);
            goto fail;
        }
    }
    if ((ext = san_extension(names, nnames)) == NULL || sk_X509_EXTENSION_push(exts, ext) <= 0) {
        X509_EXTENSION_free(ext);
        goto fail;
    }
    return exts;
fail:
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return NULL;
}

static int
set_random_serial(X509 *x)
{
    BIGNUM *bn = BN_new();
    int rc = -1;

    /* 128 random bits: unique without coordination, within RFC 5280's 20
     * octets. Zero is not a valid serial. */
    if (bn == NULL)
        return -1;
    do {
        if (BN_rand(bn, 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1)
            goto out;
    } while (BN_is_zero(bn));
    if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL)
        rc = 0;
out:
    BN_free(bn);
    return rc;
}

/* Calendar years (Feb 29 rolls to Mar 1), as a person reading "valid for
 * 5 years" expects. */
static time_t
add_years(time_t t, int years)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL)
        return (time_t)-1;
    tm.tm_year += years;
    return timegm(&tm);
}

X509 *
tls_build_selfsigned(EVP_PKEY *pkey, const X509_NAME *subject, const char *const *names,
                     size_t nnames, int years)
{
    X509 *x = X509_new();
    STACK_OF(X509_EXTENSION) *exts = NULL;
    X509V3_CTX v3;
    time_t now = time(NULL), end = add_years(now, years);

    if (x == NULL || end == (time_t)-1)
        goto fail;
    if (X509_set_version(x, X509_VERSION_3) != 1 || set_random_serial(x) != 0)
        goto fail;
    /* An hour of slack for clients whose clocks run behind. */
    if (ASN1_TIME_set(X509_getm_notBefore(x), now - 3600) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(x), end) == NULL)
        goto fail;
    if (X509_set_subject_name(x, subject) != 1 || X509_set_issuer_name(x, subject) != 1 ||
        X509_set_pubkey(x, pkey) != 1)
        goto fail;
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    if ((exts = tls_extensions(&v3, pkey, names, nnames, true)) == NULL)
        goto fail;
    for (int i = 0; i < sk_X509_EXTENSION_num(exts); i++)
        if (X509_add_ext(x, sk_X509_EXTENSION_value(exts, i), -1) != 1)
            goto fail;
    if (X509_sign(x, pkey, EVP_sha256()) <= 0)
        goto fail;
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return x;
fail:
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_free(x);
    return NULL;
}

static X509_REQ *
build_request(EVP_PKEY *pkey, const X509_NAME *subject, const char *const *names, size_t nnames)
{
    X509_REQ *req = X509_REQ_new();
    STACK_OF(X509_EXTENSION) *exts = NULL;
    X509V3_CTX v3;

    if (req == NULL)
        return NULL;
    if (X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
        X509_REQ_set_subject_name(req, subject) != 1 || X509_REQ_set_pubkey(req, pkey) != 1)
        goto fail;
    /* No subjectKeyIdentifier: the CA computes its own. */
    X509V3_set_ctx(&v3, NULL, NULL, req, NULL, 0);
    if ((exts = tls_extensions(&v3, pkey, names, nnames, false)) == NULL ||
        X509_REQ_add_extensions(req, exts) != 1)
        goto fail;
    if (X509_REQ_sign(req, pkey, EVP_sha256()) <= 0)
        goto fail;
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return req;
fail:
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    return NULL;
}

static EVP_PKEY *
generate_key(enum tls_key_algorithm alg, int bits)
{
    if (alg == TLS_KEY_ECDSA)
        return EVP_EC_gen("P-256");
    return EVP_RSA_gen((unsigned int)bits);
}

static unsigned char *
bio_copy(BIO *bio, size_t *len)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    unsigned char *out;

    if (n <= 0)
        return NULL;
    out = xmalloc((size_t)n + 1);
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    *len = (size_t)n;
    return out;
}

static int
new_request(const char *certdir, const struct tls_new_cert *spec, EVP_PKEY *pkey,
            const X509_NAME *subject, char *const *names, size_t nnames,
            char id[TLS_THUMBPRINT_SIZE], unsigned char **request, size_t *request_len,
            const struct tls_owner *o, char *err, size_t errlen)
{
    char *dir = xasprintf("%s/requests", certdir), *keyname = NULL, *reqname = NULL, e[256];
    X509_REQ *req = NULL;
    BIO *pem = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
    unsigned char *text = NULL;
    size_t textlen = 0;
    int rc = -1;

    if (pem == NULL || out == NULL)
        fatalx("tls: out of memory");
    if ((req = build_request(pkey, subject, (const char *const *)names, nnames)) == NULL ||
        pubkey_id(pkey, id) != 0) {
        errorf(err, errlen, "cannot build the certificate request: %s", ossl_error(e, sizeof(e)));
        goto out;
    }
    if (PEM_write_bio_X509_REQ(pem, req) != 1 ||
        (spec->request_der ? i2d_X509_REQ_bio(out, req) : PEM_write_bio_X509_REQ(out, req)) != 1 ||
        (text = bio_copy(pem, &textlen)) == NULL ||
        (*request = bio_copy(out, request_len)) == NULL) {
        errorf(err, errlen, "cannot encode the certificate request: %s", ossl_error(e, sizeof(e)));
        goto out;
    }
    if (ensure_dir(dir, o, err, errlen) != 0)
        goto out;
    keyname = xasprintf("%s.key", id);
    reqname = xasprintf("%s.req", id);
    if (write_key(dir, keyname, pkey, o, err, errlen) != 0)
        goto out;
    if (write_file_atomic(dir, reqname, text, textlen, 0644, false, o, err, errlen) != 0) {
        char *p = xasprintf("%s/%s", dir, keyname);
        unlink(p);
        free(p);
        goto out;
    }
    tls_sync_dir(dir);
    rc = 0;
out:
    if (rc != 0) {
        free(*request);
        *request = NULL;
        *request_len = 0;
    }
    free(text);
    free(keyname);
    free(reqname);
    free(dir);
    BIO_free(pem);
    BIO_free(out);
    X509_REQ_free(req);
    return rc;
}

static int
write_marker(const char *certdir, const char *thumbprint, const struct tls_owner *o, char *err,
             size_t errlen)
{
    char *name = xasprintf("%s.smtp", thumbprint);
    int rc = write_file_atomic(certdir, name, "SMTP\n", 5, 0644, true, o, err, errlen);

    free(name);
    return rc;
}

static int
new_selfsigned(const char *certdir, const struct tls_new_cert *spec, EVP_PKEY *pkey,
               const X509_NAME *subject, char *const *names, size_t nnames,
               char id[TLS_THUMBPRINT_SIZE], const struct tls_owner *o, char *err, size_t errlen)
{
    int years = spec->years == 0 ? DEFAULT_YEARS : spec->years;
    char e[256];
    X509 *x = NULL;
    int rc = -1;

    if (years < 1 || years > YEARS_MAX) {
        errorf(err, errlen, "validity of %d years is outside 1..%d", years, YEARS_MAX);
        return -1;
    }
    if ((x = tls_build_selfsigned(pkey, subject, (const char *const *)names, nnames, years)) ==
            NULL ||
        tls_thumbprint_of(x, id) != 0) {
        errorf(err, errlen, "cannot build the certificate: %s", ossl_error(e, sizeof(e)));
        goto out;
    }
    if (tls_write_cert_pair(certdir, id, pkey, x, NULL, o, err, errlen) != 0)
        goto out;
    if (spec->enable_smtp && write_marker(certdir, id, o, err, errlen) != 0) {
        unlink_in(certdir, id, ".pem");
        unlink_in(certdir, id, ".key");
        goto out;
    }
    tls_sync_dir(certdir);
    rc = 0;
out:
    X509_free(x);
    return rc;
}

int
tls_certs_new(const char *certdir, const struct tls_new_cert *spec, char id[TLS_THUMBPRINT_SIZE],
              unsigned char **request, size_t *request_len, char *err, size_t errlen)
{
    X509_NAME *subject = NULL;
    char **names = NULL, e[256];
    size_t nnames = 0;
    EVP_PKEY *pkey = NULL;
    struct tls_owner o;
    int bits = spec->key_bits, lockfd = -1, rc = -1;

    errorf(err, errlen, "%s", "");
    if (request != NULL)
        *request = NULL;
    if (request_len != NULL)
        *request_len = 0;
    if (spec->request && (request == NULL || request_len == NULL)) {
        errorf(err, errlen, "no place for the request");
        return -1;
    }
    if (spec->algorithm == TLS_KEY_ECDSA) {
        if (bits != 0 && bits != 256) {
            errorf(err, errlen, "KeySize: ECDSA keys are P-256 (256 bits)");
            return -1;
        }
    } else {
        if (bits == 0)
            bits = 2048;
        if (bits != 2048 && bits != 3072 && bits != 4096) {
            errorf(err, errlen, "KeySize: %d is not 2048, 3072 or 4096", bits);
            return -1;
        }
    }
    if (resolve_names(spec, &subject, &names, &nnames, err, errlen) != 0)
        return -1;
    owner_of(certdir, &o);
    if ((lockfd = lock_store(certdir, err, errlen)) < 0)
        goto out;
    ERR_clear_error();
    if ((pkey = generate_key(spec->algorithm, bits)) == NULL) {
        errorf(err, errlen, "cannot generate the key: %s", ossl_error(e, sizeof(e)));
        goto out;
    }
    if (spec->request)
        rc = new_request(certdir, spec, pkey, subject, names, nnames, id, request, request_len, &o,
                         err, errlen);
    else
        rc = new_selfsigned(certdir, spec, pkey, subject, names, nnames, id, &o, err, errlen);
out:
    if (lockfd >= 0)
        close(lockfd);
    EVP_PKEY_free(pkey);
    X509_NAME_free(subject);
    names_free(names, nnames);
    return rc;
}

/*
 * Import-ExchangeCertificate
 */

static bool
self_signed(X509 *x)
{
    bool ss = X509_self_signed(x, 1) == 1;

    ERR_clear_error();
    return ss;
}

/* chain: the issuers of leaf among pool, in order, without a self-signed
 * root. *unused: certificates of pool in neither. */
static STACK_OF(X509) * order_chain(X509 *leaf, STACK_OF(X509) * pool, int *unused)
{
    int n = sk_X509_num(pool);
    bool *taken = xcalloc((size_t)(n > 0 ? n : 1), sizeof(bool));
    STACK_OF(X509) *chain = sk_X509_new_null();
    X509 *cur = leaf;

    if (chain == NULL)
        fatalx("tls: out of memory");
    for (int i = 0; i < n; i++)
        taken[i] = X509_cmp(sk_X509_value(pool, i), leaf) == 0;
    while (!self_signed(cur)) {
        int found = -1;
        for (int i = 0; i < n && found < 0; i++) {
            X509 *cand = sk_X509_value(pool, i);
            if (!taken[i] && X509_check_issued(cand, cur) == X509_V_OK &&
                X509_verify(cur, X509_get0_pubkey(cand)) == 1)
                found = i;
        }
        ERR_clear_error();
        if (found < 0)
            break;
        taken[found] = true;
        cur = sk_X509_value(pool, found);
        if (self_signed(cur))
            break; /* the root: peers have their own copy if they trust it */
        if (X509_up_ref(cur) != 1 || sk_X509_push(chain, cur) <= 0)
            fatalx("tls: out of memory");
    }
    *unused = 0;
    for (int i = 0; i < n; i++)
        *unused += !taken[i];
    free(taken);
    return chain;
}

/* Loads requests/<id>.key for the first certificate of the bundle whose
 * public key is a pending request's; that certificate is *leaf. */
static int
find_request_key(const char *certdir, struct bundle *b, X509 **leaf, EVP_PKEY **key,
                 char req_id[TLS_THUMBPRINT_SIZE], char *err, size_t errlen)
{
    for (int i = 0; i < sk_X509_num(b->certs); i++) {
        X509 *x = sk_X509_value(b->certs, i);
        EVP_PKEY *pub = X509_get0_pubkey(x), *k;
        char *path;

        if (pub == NULL || pubkey_id(pub, req_id) != 0)
            continue;
        path = xasprintf("%s/requests/%s.key", certdir, req_id);
        if (!file_exists(path)) {
            free(path);
            continue;
        }
        k = read_key_file(path, err, errlen);
        free(path);
        if (k == NULL)
            return -1;
        if (X509_check_private_key(x, k) != 1) {
            ERR_clear_error();
            EVP_PKEY_free(k);
            continue;
        }
        *leaf = x;
        *key = k;
        return 0;
    }
    ERR_clear_error();
    return 1;
}

/* The checks every certificate must pass before it enters the store. */
static int
check_leaf(X509 *leaf, EVP_PKEY *key, STACK_OF(X509) * chain, const char *path, char *warn,
           size_t warnlen, char *err, size_t errlen)
{
    char *subject = dn_text(X509_get_subject_name(leaf)), date[64];
    GENERAL_NAMES *gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    char **domains = NULL;
    size_t ndomains = 0;
    bool named = false;
    int rc = -1;

    ERR_clear_error();
    if (X509_check_private_key(leaf, key) != 1) {
        ERR_clear_error();
        errorf(err, errlen, "%s: the private key does not match the certificate %s", path, subject);
        goto out;
    }
    if (X509_get_extension_flags(leaf) & EXFLAG_INVALID) {
        errorf(err, errlen, "%s: certificate %s has malformed extensions", path, subject);
        goto out;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0) {
        asn1_iso_time(X509_get0_notAfter(leaf), date, sizeof(date));
        errorf(err, errlen, "%s: certificate %s expired on %s: not imported", path, subject, date);
        goto out;
    }
    if (X509_cmp_current_time(X509_get0_notBefore(leaf)) >= 0) {
        asn1_iso_time(X509_get0_notBefore(leaf), date, sizeof(date));
        tls_appendmsg(warn, warnlen, "\n",
                      "certificate %s is not valid until %s: it will not be used before then",
                      subject, date);
    }
    cert_domains(X509_get_subject_name(leaf), gens, &domains, &ndomains);
    for (size_t i = 0; i < ndomains; i++)
        named = named || tls_valid_dns_name(domains[i], true);
    if (!named) {
        errorf(err, errlen,
               "%s: certificate %s names no DNS domain (no DNS SubjectAltName, no CN that is "
               "a domain name)",
               path, subject);
        goto out;
    }
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA && EVP_PKEY_get_bits(key) < RSA_BITS_MIN) {
        errorf(err, errlen,
               "%s: certificate %s has a %d-bit RSA key; TLS refuses keys under %d bits", path,
               subject, EVP_PKEY_get_bits(key), RSA_BITS_MIN);
        goto out;
    }
    if (!(X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER))
        tls_appendmsg(warn, warnlen, "\n",
                      "certificate %s is not for server authentication (its extended key usage "
                      "lacks serverAuth): STARTTLS will not use it",
                      subject);
    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *c = sk_X509_value(chain, i);
        if (X509_cmp_current_time(X509_get0_notAfter(c)) <= 0) {
            char *cs = dn_text(X509_get_subject_name(c));
            tls_appendmsg(warn, warnlen, "\n",
                          "chain certificate %s has expired: peers will refuse the chain", cs);
            free(cs);
        }
    }
    rc = 0;
out:
    ERR_clear_error();
    names_free(domains, ndomains);
    GENERAL_NAMES_free(gens);
    free(subject);
    return rc;
}

int
tls_certs_import(const char *certdir, const char *path, const char *password,
                 struct tls_import_result *res, char *warn, size_t warnlen, char *err,
                 size_t errlen)
{
    struct bundle b;
    X509 *leaf = NULL;
    EVP_PKEY *key = NULL; /* owned by b, or by us when from a request */
    bool from_request = false;
    char req_id[TLS_THUMBPRINT_SIZE], tp[TLS_THUMBPRINT_SIZE];
    STACK_OF(X509) *chain = NULL;
    char *p;
    struct tls_owner o;
    int unused = 0, lockfd = -1, rc = -1, read_rc;

    errorf(err, errlen, "%s", "");
    memset(res, 0, sizeof(*res));
    /* the administrator's own file: read with the administrator's rights */
    runas_admin_begin();
    read_rc = read_bundle(&b, path, password, warn, warnlen, err, errlen);
    runas_admin_end();
    if (read_rc != 0)
        goto out;
    if (sk_X509_num(b.certs) == 0) {
        errorf(err, errlen, "%s holds no certificate", path);
        goto out;
    }
    owner_of(certdir, &o);
    if ((lockfd = lock_store(certdir, err, errlen)) < 0)
        goto out;
    if (b.key != NULL) {
        key = b.key;
        for (int i = 0; i < sk_X509_num(b.certs) && leaf == NULL; i++)
            if (X509_check_private_key(sk_X509_value(b.certs, i), key) == 1)
                leaf = sk_X509_value(b.certs, i);
        ERR_clear_error();
        if (leaf == NULL) {
            char *s = dn_text(X509_get_subject_name(sk_X509_value(b.certs, 0)));
            errorf(err, errlen, "%s: the private key does not match %s%s", path,
                   sk_X509_num(b.certs) > 1 ? "any certificate in it, such as "
                                            : "the certificate ",
                   s);
            free(s);
            goto out;
        }
    } else {
        int r = find_request_key(certdir, &b, &leaf, &key, req_id, err, errlen);
        if (r < 0)
            goto out;
        if (r > 0) {
            errorf(err, errlen,
                   "%s holds no private key, and no certificate in it answers a pending request "
                   "(New-ExchangeCertificate -GenerateRequest); import the certificate together "
                   "with its key (PEM with the key, or PKCS#12)",
                   path);
            goto out;
        }
        from_request = true;
    }
    chain = order_chain(leaf, b.certs, &unused);
    if (unused > 0)
        tls_appendmsg(warn, warnlen, "\n",
                      "%d certificate(s) of %s belong to no chain of the imported certificate and "
                      "were not stored",
                      unused, path);
    if (check_leaf(leaf, key, chain, path, warn, warnlen, err, errlen) != 0)
        goto out;
    if (tls_thumbprint_of(leaf, tp) != 0) {
        errorf(err, errlen, "cannot compute the thumbprint");
        goto out;
    }
    p = xasprintf("%s/%s.pem", certdir, tp);
    if (file_exists(p)) {
        errorf(err, errlen, "certificate %s is already in the store", tp);
        free(p);
        goto out;
    }
    free(p);
    if (tls_write_cert_pair(certdir, tp, key, leaf, chain, &o, err, errlen) != 0)
        goto out;
    tls_sync_dir(certdir);
    if (from_request) {
        /* The key now lives as <T>.key; the request is answered. */
        char *dir = xasprintf("%s/requests", certdir);
        unlink_in(dir, req_id, ".key");
        unlink_in(dir, req_id, ".req");
        tls_sync_dir(dir);
        free(dir);
    }
    memcpy(res->thumbprint, tp, sizeof(tp));
    res->completed_request = from_request;
    rc = 0;
out:
    if (lockfd >= 0)
        close(lockfd);
    if (from_request)
        EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
    bundle_free(&b);
    return rc;
}

/*
 * Get-ExchangeCertificate
 */

const char *
tls_cert_status_name(enum tls_cert_status st)
{
    switch (st) {
    case TLS_CERT_VALID:
        return "Valid";
    case TLS_CERT_UNTRUSTED:
        return "Untrusted";
    case TLS_CERT_DATE_INVALID:
        return "DateInvalid";
    case TLS_CERT_REVOKED:
        return "Revoked";
    case TLS_CERT_REVOCATION_CHECK_FAILURE:
        return "RevocationCheckFailure";
    case TLS_CERT_INVALID:
        return "Invalid";
    case TLS_CERT_PENDING_REQUEST:
        return "PendingRequest";
    }
    return "Unknown";
}

/* The trust the service's client side uses (tls_trust_apply): the system
 * paths, root/ and crl/, and the callback that ignores CAs without a CRL
 * and keeps the first error. */
static X509_STORE *
trust_store(const struct tls_store *store)
{
    X509_STORE *xs = X509_STORE_new();

    if (xs == NULL || X509_STORE_set_default_paths(xs) != 1 || tls_trust_add(store, xs) != 0)
        goto fail;
    X509_STORE_set_verify_cb(xs, tls_verify_continue);
    return xs;
fail:
    X509_STORE_free(xs);
    return NULL;
}

static enum tls_cert_status
status_of_error(int e)
{
    switch (e) {
    case X509_V_OK:
        return TLS_CERT_VALID;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return TLS_CERT_DATE_INVALID;
    case X509_V_ERR_CERT_REVOKED:
        return TLS_CERT_REVOKED;
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
    case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
    case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
    case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
    case X509_V_ERR_DIFFERENT_CRL_SCOPE:
    case X509_V_ERR_CRL_PATH_VALIDATION_ERROR:
        return TLS_CERT_REVOCATION_CHECK_FAILURE;
    default:
        return tls_verify_untrusted(e) ? TLS_CERT_UNTRUSTED : TLS_CERT_INVALID;
    }
}

static enum tls_cert_status
cert_status(struct tls_cert *c, X509_STORE *xs, char **detail)
{
    X509_STORE_CTX *xc;
    time_t now = time(NULL);
    char date[64];
    int e;

    *detail = NULL;
    if (c->key_state == KEY_MISMATCH || c->key_state == KEY_UNREADABLE) {
        *detail = xstrdup(c->key_state == KEY_MISMATCH ? "its private key does not match it"
                                                       : "its private key cannot be read");
        return TLS_CERT_INVALID;
    }
    /* The certificate's own dates first: an expired certificate is
     * DateInvalid whatever else is wrong with it, as Exchange shows it. */
    if (now < c->not_before || now > c->not_after) {
        iso_time(now < c->not_before ? c->not_before : c->not_after, date, sizeof(date));
        *detail = xasprintf(now < c->not_before ? "not valid before %s" : "expired on %s", date);
        return TLS_CERT_DATE_INVALID;
    }
    /* Exchange shows its own self-signed certificates as Valid. */
    if (c->self_signed)
        return TLS_CERT_VALID;
    if (xs == NULL || (xc = X509_STORE_CTX_new()) == NULL) {
        *detail = xstrdup("cannot set up chain verification");
        return TLS_CERT_INVALID;
    }
    if (X509_STORE_CTX_init(xc, xs, c->leaf, c->chain) != 1 || X509_verify_cert(xc) < 0) {
        X509_STORE_CTX_free(xc);
        ERR_clear_error();
        *detail = xstrdup("chain verification failed");
        return TLS_CERT_INVALID;
    }
    e = X509_STORE_CTX_get_error(xc);
    X509_STORE_CTX_free(xc);
    ERR_clear_error();
    if (e != X509_V_OK)
        *detail = xstrdup(X509_verify_cert_error_string(e));
    return status_of_error(e);
}

static const char *
key_algorithm_name(const EVP_PKEY *pk)
{
    switch (pk != NULL ? EVP_PKEY_get_base_id(pk) : EVP_PKEY_NONE) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
        return "RSA";
    case EVP_PKEY_EC:
        return "ECDSA";
    case EVP_PKEY_ED25519:
        return "Ed25519";
    case EVP_PKEY_ED448:
        return "Ed448";
    case EVP_PKEY_DSA:
        return "DSA";
    default:
        return "Unknown";
    }
}

static char *
serial_hex(const X509 *x)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL, *out;

    out = xstrdup(hex != NULL ? hex : "");
    OPENSSL_free(hex);
    BN_free(bn);
    return out;
}

static void
info_from_cert(struct tls_cert_info *ci, struct tls_cert *c, X509_STORE *xs, const char *certdir)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(c->leaf, NID_subject_alt_name, NULL, NULL);
    EVP_PKEY *pk = X509_get0_pubkey(c->leaf);

    ERR_clear_error();
    memcpy(ci->thumbprint, c->thumbprint, sizeof(ci->thumbprint));
    ci->subject = dn_text(X509_get_subject_name(c->leaf));
    ci->issuer = dn_text(X509_get_issuer_name(c->leaf));
    ci->serial = serial_hex(c->leaf);
    cert_domains(X509_get_subject_name(c->leaf), gens, &ci->domains, &ci->ndomains);
    for (size_t i = 0; i < c->nnames; i++)
        names_push(&ci->match_names, &ci->nmatch_names, c->names[i]);
    ci->not_before = c->not_before;
    ci->not_after = c->not_after;
    ci->key_algorithm = key_algorithm_name(pk);
    ci->key_bits = pk != NULL ? EVP_PKEY_get_bits(pk) : 0;
    ci->has_private_key = c->key_state == KEY_OK;
    ci->self_signed = c->self_signed;
    ci->smtp_enabled = tls_certs_smtp_enabled(certdir, c->thumbprint);
    ci->status = cert_status(c, xs, &ci->status_detail);
    GENERAL_NAMES_free(gens);
}

static int
req_filter(const struct dirent *d)
{
    size_t n = strlen(d->d_name);

    return d->d_name[0] != '.' && n == THUMBPRINT_LEN + 4 &&
           strcmp(d->d_name + THUMBPRINT_LEN, ".req") == 0;
}

/* Pending requests, as Exchange lists them: Status PendingRequest. */
static void
list_requests(const char *certdir, struct tls_cert_info **v, size_t *n)
{
    char *dir = xasprintf("%s/requests", certdir);
    struct dirent **ents = NULL;
    int m = scandir(dir, &ents, req_filter, alphasort);

    for (int i = 0; i < m; i++) {
        char *path = xasprintf("%s/%s", dir, ents[i]->d_name);
        BIO *bio = BIO_new_file(path, "r");
        X509_REQ *req =
            bio != NULL ? PEM_read_bio_X509_REQ(bio, NULL, tls_no_passphrase, NULL) : NULL;

        ERR_clear_error();
        if (req == NULL) {
            log_warnx("tls: skipping %s: not a certificate request", path);
        } else {
            struct tls_cert_info *ci;
            GENERAL_NAMES *gens = req_sans(req);
            EVP_PKEY *pk = X509_REQ_get0_pubkey(req);

            *v = xrealloc(*v, (*n + 1) * sizeof(**v));
            ci = &(*v)[(*n)++];
            memset(ci, 0, sizeof(*ci));
            memcpy(ci->thumbprint, ents[i]->d_name, THUMBPRINT_LEN);
            ci->thumbprint[THUMBPRINT_LEN] = '\0';
            ci->subject = dn_text(X509_REQ_get_subject_name(req));
            cert_domains(X509_REQ_get_subject_name(req), gens, &ci->domains, &ci->ndomains);
            push_cns(X509_REQ_get_subject_name(req), &ci->match_names, &ci->nmatch_names, true);
            push_sans(gens, &ci->match_names, &ci->nmatch_names, true);
            ci->key_algorithm = key_algorithm_name(pk);
            ci->key_bits = pk != NULL ? EVP_PKEY_get_bits(pk) : 0;
            {
                char *kp = xasprintf("%s/%s.key", dir, ci->thumbprint);
                ci->has_private_key = file_exists(kp);
                free(kp);
            }
            ci->status = TLS_CERT_PENDING_REQUEST;
            GENERAL_NAMES_free(gens);
        }
        X509_REQ_free(req);
        BIO_free(bio);
        free(path);
        free(ents[i]);
    }
    free(ents);
    free(dir);
}

int
tls_certs_list(const char *certdir, struct tls_cert_info **out, size_t *n, char *err, size_t errlen)
{
    struct tls_store *store;
    X509_STORE *xs;

    *out = NULL;
    *n = 0;
    errorf(err, errlen, "%s", "");
    if ((store = tls_store_load(certdir, err, errlen)) == NULL)
        return -1;
    xs = trust_store(store);
    ERR_clear_error();
    if (store->ncerts > 0)
        *out = xcalloc(store->ncerts, sizeof(**out));
    for (size_t i = 0; i < store->ncerts; i++)
        info_from_cert(&(*out)[(*n)++], &store->certs[i], xs, certdir);
    X509_STORE_free(xs);
    tls_store_free(store);
    list_requests(certdir, out, n);
    return 0;
}

void
tls_certs_list_free(struct tls_cert_info *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].subject);
        free(v[i].issuer);
        free(v[i].serial);
        names_free(v[i].domains, v[i].ndomains);
        names_free(v[i].match_names, v[i].nmatch_names);
        free(v[i].status_detail);
    }
    free(v);
}

bool
tls_cert_info_names(const struct tls_cert_info *ci, const char *domain)
{
    char host[DNS_NAME_MAX + 2];
    size_t n = strlcpy_p(host, domain, sizeof(host));

    if (n >= sizeof(host) || n == 0)
        return false;
    if (n > 1 && host[n - 1] == '.')
        host[n - 1] = '\0';
    for (size_t i = 0; i < ci->nmatch_names; i++)
        if (tls_name_matches(ci->match_names[i], host))
            return true;
    return false;
}

/*
 * Enable- and Remove-ExchangeCertificate
 */

bool
tls_certs_smtp_enabled(const char *certdir, const char *thumbprint)
{
    char path[4096];
    int n;

    if (certdir == NULL || thumbprint == NULL)
        return false;
    n = snprintf(path, sizeof(path), "%s/%s.smtp", certdir, thumbprint);
    return n > 0 && (size_t)n < sizeof(path) && access(path, F_OK) == 0;
}

int
tls_certs_enable_smtp(const char *certdir, const char *thumbprint, char *err, size_t errlen)
{
    struct tls_store *store = NULL;
    struct tls_cert *c = NULL;
    struct tls_owner o;
    char date[64], *p;
    int lockfd, rc = -1;

    errorf(err, errlen, "%s", "");
    owner_of(certdir, &o);
    if ((lockfd = lock_store(certdir, err, errlen)) < 0)
        return -1;
    if ((store = tls_store_load(certdir, err, errlen)) == NULL)
        goto out;
    for (size_t i = 0; i < store->ncerts; i++)
        if (strcmp(store->certs[i].thumbprint, thumbprint) == 0)
            c = &store->certs[i];
    if (c == NULL) {
        p = xasprintf("%s/requests/%s.req", certdir, thumbprint);
        if (file_exists(p))
            errorf(err, errlen,
                   "%s is a pending request: import the CA's certificate "
                   "(Import-ExchangeCertificate) first",
                   thumbprint);
        else
            errorf(err, errlen, "no certificate with thumbprint %s in the store", thumbprint);
        free(p);
        goto out;
    }
    if (c->key_state != KEY_OK) {
        errorf(err, errlen, "certificate %s %s: it cannot serve SMTP", thumbprint,
               c->key_state == KEY_NONE       ? "has no private key"
               : c->key_state == KEY_MISMATCH ? "has a private key that does not match it"
                                              : "has an unreadable private key");
        goto out;
    }
    if (time(NULL) > c->not_after) {
        iso_time(c->not_after, date, sizeof(date));
        errorf(err, errlen, "certificate %s expired on %s", thumbprint, date);
        goto out;
    }
    if (write_marker(certdir, thumbprint, &o, err, errlen) != 0)
        goto out;
    tls_sync_dir(certdir);
    rc = 0;
out:
    tls_store_free(store);
    close(lockfd);
    return rc;
}

int
tls_certs_remove(const char *certdir, const char *thumbprint, char *err, size_t errlen)
{
    char *pem = xasprintf("%s/%s.pem", certdir, thumbprint);
    char *key = xasprintf("%s/%s.key", certdir, thumbprint);
    char *dir = xasprintf("%s/requests", certdir);
    char *rkey = xasprintf("%s/%s.key", dir, thumbprint);
    char *rreq = xasprintf("%s/%s.req", dir, thumbprint);
    int lockfd, rc = -1;

    errorf(err, errlen, "%s", "");
    if ((lockfd = lock_store(certdir, err, errlen)) < 0)
        goto out;
    if (file_exists(pem) || file_exists(key)) {
        /* The marker first and the key last: an interrupted removal
         * leaves at worst an orphaned key, which the loader ignores. */
        unlink_in(certdir, thumbprint, ".smtp");
        unlink_in(certdir, thumbprint, ".pem");
        unlink_in(certdir, thumbprint, ".key");
        tls_sync_dir(certdir);
        rc = file_exists(pem) || file_exists(key) ? -1 : 0;
    } else if (file_exists(rkey) || file_exists(rreq)) {
        unlink_in(dir, thumbprint, ".req");
        unlink_in(dir, thumbprint, ".key");
        tls_sync_dir(dir);
        rc = file_exists(rkey) || file_exists(rreq) ? -1 : 0;
    } else {
        errorf(err, errlen, "no certificate with thumbprint %s in the store", thumbprint);
        goto out;
    }
    if (rc != 0)
        errorf(err, errlen, "cannot remove the files of %s: %s", thumbprint, strerror(errno));
out:
    if (lockfd >= 0)
        close(lockfd);
    free(pem);
    free(key);
    free(dir);
    free(rkey);
    free(rreq);
    return rc;
}

/*
 * Import-Certificate
 */

void
tls_trust_items_free(struct tls_trust_item *items, size_t n)
{
    for (size_t i = 0; items != NULL && i < n; i++)
        free(items[i].subject);
    free(items);
}

static bool
is_ca(X509 *x)
{
    return (X509_get_extension_flags(x) & EXFLAG_CA) != 0;
}

/* The certificate among pools that issued crl, or NULL. */
static X509 *
crl_issuer(X509_CRL *crl, STACK_OF(X509) *const *pools, size_t npools)
{
    for (size_t p = 0; p < npools; p++)
        for (int i = 0; pools[p] != NULL && i < sk_X509_num(pools[p]); i++) {
            X509 *x = sk_X509_value(pools[p], i);
            if (X509_NAME_cmp(X509_get_subject_name(x), X509_CRL_get_issuer(crl)) == 0)
                return x;
        }
    return NULL;
}

static X509_CRL *
read_crl_file(const char *path)
{
    BIO *bio = BIO_new_file(path, "r");
    X509_CRL *crl = bio != NULL ? PEM_read_bio_X509_CRL(bio, NULL, tls_no_passphrase, NULL) : NULL;

    BIO_free(bio);
    ERR_clear_error();
    return crl;
}

static int
check_trust_cert(X509 *x, enum tls_trust_location where, const char *path, char *warn,
                 size_t warnlen, char *err, size_t errlen)
{
    char *subject = dn_text(X509_get_subject_name(x)), date[64];
    bool ss = self_signed(x), ca = is_ca(x);
    int rc = -1;

    if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
        asn1_iso_time(X509_get0_notAfter(x), date, sizeof(date));
        errorf(err, errlen, "%s: certificate %s expired on %s", path, subject, date);
        goto out;
    }
    if (where == TLS_TRUST_ROOT) {
        if (!ca && !ss) {
            errorf(err, errlen,
                   "%s: certificate %s is neither a CA (basicConstraints CA:TRUE) nor "
                   "self-signed: it cannot be a trusted root",
                   path, subject);
            goto out;
        }
        if (!ss)
            tls_appendmsg(
                warn, warnlen, "\n",
                "certificate %s is not self-signed: it is trusted only through a root that "
                "issued it (import that root too)",
                subject);
    } else {
        if (ss) {
            errorf(err, errlen,
                   "%s: certificate %s is self-signed: a root belongs in "
                   "Cert:\\LocalMachine\\Root",
                   path, subject);
            goto out;
        }
        if (!ca) {
            errorf(err, errlen,
                   "%s: certificate %s is not a CA (basicConstraints CA:TRUE): it cannot be an "
                   "intermediate",
                   path, subject);
            goto out;
        }
    }
    rc = 0;
out:
    free(subject);
    return rc;
}

/* Checks one CRL: returns 1 when the same or a newer CRL is stored (with
 * that noted), 0 to write it, -1 to refuse. */
static int
check_trust_crl(X509_CRL *crl, const char *crldir, const char *id, STACK_OF(X509) *const *pools,
                size_t npools, const char *path, char *warn, size_t warnlen, char *err,
                size_t errlen)
{
    char *issuer = dn_text(X509_CRL_get_issuer(crl)), *stored = xasprintf("%s/%s.pem", crldir, id);
    X509_CRL *old = file_exists(stored) ? read_crl_file(stored) : NULL;
    X509 *ca = crl_issuer(crl, pools, npools);
    const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
    int rc = -1;

    if (ca != NULL) {
        EVP_PKEY *pk = X509_get0_pubkey(ca);
        if (pk == NULL || X509_CRL_verify(crl, pk) != 1) {
            ERR_clear_error();
            errorf(err, errlen, "%s: the CRL's signature does not verify with the key of %s", path,
                   issuer);
            goto out;
        }
    } else {
        tls_appendmsg(warn, warnlen, "\n",
                      "no trusted certificate of %s is known yet: its CRL applies once that CA is "
                      "imported (Import-Certificate)",
                      issuer);
    }
    if (next != NULL && X509_cmp_current_time(next) <= 0)
        tls_appendmsg(
            warn, warnlen, "\n",
            "the CRL of %s is out of date (nextUpdate passed): certificates of this CA fail "
            "revocation checks until a newer CRL is imported",
            issuer);
    if (old != NULL) {
        int cmp = ASN1_TIME_compare(X509_CRL_get0_lastUpdate(old), X509_CRL_get0_lastUpdate(crl));
        if (cmp > 0) {
            errorf(err, errlen, "%s: the stored CRL of %s is newer than this one", path, issuer);
            goto out;
        }
        if (cmp == 0 && X509_CRL_cmp(old, crl) == 0) {
            rc = 1;
            goto out;
        }
    }
    rc = 0;
out:
    X509_CRL_free(old);
    free(stored);
    free(issuer);
    return rc;
}

static int
write_crl(const char *dir, const char *id, X509_CRL *crl, const struct tls_owner *o, char *err,
          size_t errlen)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *name = xasprintf("%s.pem", id), *data = NULL, e[256];
    long len;
    int rc = -1;

    if (bio == NULL || PEM_write_bio_X509_CRL(bio, crl) != 1 ||
        (len = BIO_get_mem_data(bio, &data)) <= 0)
        errorf(err, errlen, "cannot encode CRL: %s", ossl_error(e, sizeof(e)));
    else
        /* A newer CRL of the same issuer replaces the older one. */
        rc = write_file_atomic(dir, name, data, (size_t)len, 0644, true, o, err, errlen);
    BIO_free(bio);
    free(name);
    return rc;
}

int
tls_certs_import_trust(const char *certdir, const char *path, enum tls_trust_location where,
                       struct tls_trust_item **items, size_t *nitems, char *warn, size_t warnlen,
                       char *err, size_t errlen)
{
    char *rootdir = xasprintf("%s/root", certdir), *crldir = xasprintf("%s/crl", certdir);
    struct tls_store *store = NULL;
    STACK_OF(X509) *chains = sk_X509_new_null();
    struct tls_trust_item *v = NULL;
    size_t n = 0, written = 0;
    struct bundle b;
    struct tls_owner o;
    int lockfd = -1, rc = -1, read_rc;

    *items = NULL;
    *nitems = 0;
    errorf(err, errlen, "%s", "");
    if (chains == NULL)
        fatalx("tls: out of memory");
    /* No password: anything encrypted is a key, and is refused anyway;
     * the administrator's own file is read with the administrator's rights. */
    runas_admin_begin();
    read_rc = read_bundle(&b, path, NULL, warn, warnlen, err, errlen);
    runas_admin_end();
    if (read_rc != 0) {
        if (b.key_material)
            errorf(err, errlen,
                   "%s holds a private key: a trusted certificate never needs one; import only "
                   "the certificate",
                   path);
        goto out;
    }
    if (b.key_material) {
        errorf(err, errlen,
               "%s holds a private key: a trusted certificate never needs one; import only the "
               "certificate",
               path);
        goto out;
    }
    if (sk_X509_num(b.certs) == 0 && sk_X509_CRL_num(b.crls) == 0) {
        errorf(err, errlen, "%s holds no certificate and no CRL", path);
        goto out;
    }
    owner_of(certdir, &o);
    if ((lockfd = lock_store(certdir, err, errlen)) < 0)
        goto out;
    if ((store = tls_store_load(certdir, err, errlen)) == NULL)
        goto out;
    for (size_t i = 0; i < store->ncerts; i++)
        for (int j = 0; j < sk_X509_num(store->certs[i].chain); j++)
            if (sk_X509_push(chains, sk_X509_value(store->certs[i].chain, j)) <= 0)
                fatalx("tls: out of memory");

    /* Check everything first: a file is imported whole or not at all. */
    v = xcalloc((size_t)(sk_X509_num(b.certs) + sk_X509_CRL_num(b.crls)), sizeof(*v));
    for (int i = 0; i < sk_X509_num(b.certs); i++) {
        X509 *x = sk_X509_value(b.certs, i);
        struct tls_trust_item *it = &v[n++];
        char *p;

        if (check_trust_cert(x, where, path, warn, warnlen, err, errlen) != 0 ||
            tls_thumbprint_of(x, it->id) != 0)
            goto out;
        it->subject = dn_text(X509_get_subject_name(x));
        p = xasprintf("%s/%s.pem", rootdir, it->id);
        it->existed = file_exists(p);
        free(p);
    }
    for (int i = 0; i < sk_X509_CRL_num(b.crls); i++) {
        X509_CRL *crl = sk_X509_CRL_value(b.crls, i);
        STACK_OF(X509) *const pools[] = {b.certs, store->roots, chains};
        struct tls_trust_item *it = &v[n++];
        int r;

        it->crl = true;
        it->subject = dn_text(X509_CRL_get_issuer(crl));
        if (name_id(X509_CRL_get_issuer(crl), it->id) != 0) {
            errorf(err, errlen, "%s: cannot read the CRL's issuer", path);
            goto out;
        }
        for (size_t j = 0; j + 1 < n; j++) {
            if (v[j].crl && strcmp(v[j].id, it->id) == 0) {
                errorf(err, errlen, "%s holds two CRLs of %s: import the newest only", path,
                       it->subject);
                goto out;
            }
        }
        r = check_trust_crl(crl, crldir, it->id, pools, sizeof(pools) / sizeof(pools[0]), path,
                            warn, warnlen, err, errlen);
        if (r < 0)
            goto out;
        it->existed = r > 0;
    }

    if ((sk_X509_num(b.certs) > 0 && ensure_dir(rootdir, &o, err, errlen) != 0) ||
        (sk_X509_CRL_num(b.crls) > 0 && ensure_dir(crldir, &o, err, errlen) != 0))
        goto out;
    for (written = 0; written < n; written++) {
        struct tls_trust_item *it = &v[written];
        int r;

        if (it->existed)
            continue;
        if (!it->crl) {
            char *name = xasprintf("%s.pem", it->id);
            r = write_certs(rootdir, name, sk_X509_value(b.certs, (int)written), NULL, &o, err,
                            errlen);
            free(name);
        } else {
            r = write_crl(crldir, it->id,
                          sk_X509_CRL_value(b.crls, (int)written - sk_X509_num(b.certs)), &o, err,
                          errlen);
        }
        if (r != 0) {
            /* Take back the certificates this run added (a replaced CRL
             * cannot be put back, but the CRL is the last written). */
            for (size_t j = 0; j < written; j++)
                if (!v[j].existed && !v[j].crl)
                    unlink_in(rootdir, v[j].id, ".pem");
            goto out;
        }
    }
    tls_sync_dir(rootdir);
    tls_sync_dir(crldir);
    *items = v;
    *nitems = n;
    v = NULL;
    n = 0;
    rc = 0;
out:
    if (lockfd >= 0)
        close(lockfd);
    tls_trust_items_free(v, n);
    sk_X509_free(chains);
    tls_store_free(store);
    bundle_free(&b);
    free(rootdir);
    free(crldir);
    return rc;
}
