/*
 * tls_system_trust.c — the system's trusted CAs, read into memory once, and
 * the X509_STORE each certificate store shares among its contexts (the
 * system's CAs, the store's root/ and crl/).
 *
 * SSL_CTX_set_default_verify_paths would read OpenSSL's default CA file
 * whenever a context is built and look certificates up in its default
 * directory during each verification; a chrooted process can do neither.
 * Here the same file and the same directory (every file named as a hash
 * lookup would find it: <8 hex digits>.<n>, CRLs .r<n>) are read once
 * (tls_system_trust_load, or for the first context), and every store
 * copies that snapshot into the X509_STORE of its contexts.
 *
 * Must never: look a file up after the snapshot is taken, or take any
 * certificate as trusted that is not in the system's CA file or directory,
 * the store's root/ or crl/.
 */
#include "lib/log.h"
#include "lib/util.h"
#include "tls/tls_int.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <dirent.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t sys_lock = PTHREAD_MUTEX_INITIALIZER;
static bool sys_loaded;
static STACK_OF(X509) * sys_certs;
static STACK_OF(X509_CRL) * sys_crls;

/* OpenSSL's own choice: the environment variable unless set-id, else the
 * built-in default. */
static const char *
default_location(const char *env_name, const char *builtin)
{
    const char *v = secure_getenv(env_name);

    return v != NULL && v[0] != '\0' ? v : builtin;
}

/* What a hash directory lookup would find: "<8 hex>.<digits>" or
 * "<8 hex>.r<digits>". */
static int
hash_name_filter(const struct dirent *d)
{
    const char *s = d->d_name;

    if (strspn(s, "0123456789abcdef") != 8 || s[8] != '.')
        return 0;
    s += 9;
    if (*s == 'r')
        s++;
    return *s != '\0' && strspn(s, "0123456789") == strlen(s);
}

/* Every certificate and CRL of a PEM file, as OpenSSL's file lookup
 * (X509_load_cert_crl_file) takes them: all of it, or nothing when a
 * block is damaged. */
static void
load_file(const char *path, STACK_OF(X509) * certs, STACK_OF(X509_CRL) * crls)
{
    BIO *in = BIO_new_file(path, "r");
    STACK_OF(X509_INFO) *infos = in != NULL ? PEM_X509_INFO_read_bio(in, NULL, NULL, "") : NULL;

    for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
        X509_INFO *xi = sk_X509_INFO_value(infos, i);

        if (xi->x509 != NULL && (X509_up_ref(xi->x509) != 1 || sk_X509_push(certs, xi->x509) <= 0))
            fatalx("tls: out of memory");
        if (xi->crl != NULL &&
            (X509_CRL_up_ref(xi->crl) != 1 || sk_X509_CRL_push(crls, xi->crl) <= 0))
            fatalx("tls: out of memory");
    }
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    BIO_free(in);
    ERR_clear_error();
}

/* What the directory usually repeats: the certificates read so far, by
 * the SHA-256 of their DER, sorted. */
struct known {
    unsigned char (*md)[SHA256_DIGEST_LENGTH];
    size_t n;
};

static int
md_order(const void *a, const void *b)
{
    return memcmp(a, b, SHA256_DIGEST_LENGTH);
}

static void
known_init(struct known *k, STACK_OF(X509) * certs)
{
    k->n = 0;
    k->md = xcalloc((size_t)sk_X509_num(certs) + 1, sizeof(*k->md));
    for (int i = 0; i < sk_X509_num(certs); i++) {
        unsigned int len = 0;
        if (X509_digest(sk_X509_value(certs, i), EVP_sha256(), k->md[k->n], &len) == 1 &&
            len == SHA256_DIGEST_LENGTH)
            k->n++;
    }
    qsort(k->md, k->n, sizeof(*k->md), md_order);
}

/* Does path hold nothing but certificates already known? Decoding the
 * base64 is cheap; parsing a certificate again is not (Debian's directory
 * holds the CA file's certificates once more, one per file). */
static bool
all_known(const struct known *k, const char *path)
{
    BIO *in = BIO_new_file(path, "r");
    bool known = in != NULL, any = false;

    while (known) {
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL, md[SHA256_DIGEST_LENGTH];
        long len = 0;

        if (PEM_read_bio_ex(in, &name, &header, &data, &len, 0) != 1)
            break;
        any = true;
        known = strcmp(name, PEM_STRING_X509) == 0 && len > 0 &&
                EVP_Digest(data, (size_t)len, md, NULL, EVP_sha256(), NULL) == 1 &&
                bsearch(md, k->md, k->n, sizeof(*k->md), md_order) != NULL;
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
    }
    BIO_free(in);
    ERR_clear_error();
    return known && any;
}

static void
load_dir(const char *dir, const struct known *k, STACK_OF(X509) * certs, STACK_OF(X509_CRL) * crls)
{
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, hash_name_filter, alphasort);

    for (int i = 0; i < n; i++) {
        char *path = xasprintf("%s/%s", dir, ents[i]->d_name);
        if (!all_known(k, path))
            load_file(path, certs, crls);
        free(path);
        free(ents[i]);
    }
    free(ents);
}

int
tls_system_trust_load(void)
{
    const char *file =
        default_location(X509_get_default_cert_file_env(), X509_get_default_cert_file());
    const char *dirlist =
        default_location(X509_get_default_cert_dir_env(), X509_get_default_cert_dir());
    char *dirs = xstrdup(dirlist), *save = NULL;
    STACK_OF(X509) *certs = sk_X509_new_null(), *old_certs;
    STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null(), *old_crls;
    struct known known;
    int ncerts;

    if (certs == NULL || crls == NULL)
        fatalx("tls: out of memory");
    load_file(file, certs, crls);
    known_init(&known, certs);
    for (char *d = strtok_r(dirs, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save))
        load_dir(d, &known, certs, crls);
    free(known.md);
    free(dirs);
    ncerts = sk_X509_num(certs);
    if (ncerts == 0)
        log_warnx("tls: no system CA certificates in %s or %s: peers are verified against "
                  "certs/root only",
                  file, dirlist);
    else
        log_debug("tls: %d system CA certificates from %s and %s", ncerts, file, dirlist);

    pthread_mutex_lock(&sys_lock);
    old_certs = sys_certs;
    old_crls = sys_crls;
    sys_certs = certs;
    sys_crls = crls;
    sys_loaded = true;
    pthread_mutex_unlock(&sys_lock);
    sk_X509_pop_free(old_certs, X509_free);
    sk_X509_CRL_pop_free(old_crls, X509_CRL_free);
    return ncerts;
}

X509_STORE *
tls_trust_store_new(const struct tls_store *store)
{
    X509_STORE *xs;
    bool loaded;
    int ok = 1;

    pthread_mutex_lock(&sys_lock);
    loaded = sys_loaded;
    pthread_mutex_unlock(&sys_lock);
    if (!loaded)
        (void)tls_system_trust_load();
    if ((xs = X509_STORE_new()) == NULL)
        return NULL;
    pthread_mutex_lock(&sys_lock);
    for (int i = 0; ok && i < sk_X509_num(sys_certs); i++)
        ok = X509_STORE_add_cert(xs, sk_X509_value(sys_certs, i));
    for (int i = 0; ok && i < sk_X509_CRL_num(sys_crls); i++)
        ok = X509_STORE_add_crl(xs, sk_X509_CRL_value(sys_crls, i));
    pthread_mutex_unlock(&sys_lock);
    if (ok != 1 || tls_trust_add(store, xs) != 0) {
        X509_STORE_free(xs);
        return NULL;
    }
    return xs;
}
