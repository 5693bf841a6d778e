/*
 * tls_names.c — the names and identities of certificates, requests and
 * CRLs: the subject CNs and SAN DNS names they carry (CertificateDomains,
 * and the names selection matches a connector's FQDN against), the
 * identities of pending requests and CRL issuers (SHA-1, like a
 * thumbprint), and thumbprints as administrators paste them.
 *
 * Must never: take a name with an embedded NUL ("good.example\0.evil"
 * would read as "good.example"), or a thumbprint that is not 40 hex digits.
 */
#include "tls/tls_certs_int.h"
#include "lib/util.h"

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

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

int
tls_pubkey_id(const EVP_PKEY *pkey, char out[TLS_THUMBPRINT_SIZE])
{
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(pkey, &der);

    return sha1_id(der, len, out);
}

int
tls_name_id(const X509_NAME *name, char out[TLS_THUMBPRINT_SIZE])
{
    unsigned char *der = NULL;
    int len = i2d_X509_NAME(name, &der);

    return sha1_id(der, len, out);
}

void
tls_names_push(char ***v, size_t *n, const char *s)
{
    *v = xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = xstrdup(s);
}

void
tls_names_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

bool
tls_names_contain(char *const *v, size_t n, const char *s)
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
    if (!tls_names_contain(*v, *n, s))
        tls_names_push(v, n, s);
    free(s);
}

void
tls_names_push_cns(const X509_NAME *subject, char ***v, size_t *n, bool lower)
{
    int i = -1;

    while ((i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >= 0)
        push_unique(v, n, asn1_utf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i))),
                    lower);
}

void
tls_names_push_sans(const GENERAL_NAMES *gens, char ***v, size_t *n, bool lower)
{
    for (int j = 0; gens != NULL && j < sk_GENERAL_NAME_num(gens); j++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, j);
        if (gn->type == GEN_DNS)
            push_unique(v, n, asn1_utf8(gn->d.dNSName), lower);
    }
}

void
tls_cert_domains(const X509_NAME *subject, const GENERAL_NAMES *gens, char ***v, size_t *n)
{
    tls_names_push_sans(gens, v, n, false);
    if (*n == 0)
        tls_names_push_cns(subject, v, n, false);
}

GENERAL_NAMES *
tls_req_sans(X509_REQ *req)
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

bool
tls_cert_info_names(const struct tls_cert_info *ci, const char *domain)
{
    char host[DNS_NAME_MAX + 2];

    if (domain[0] == '\0' || !dns_name_without_root(domain, host))
        return false;
    for (size_t i = 0; i < ci->nmatch_names; i++)
        if (tls_name_matches(ci->match_names[i], host))
            return true;
    return false;
}
