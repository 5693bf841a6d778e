/*
 * tls_subject.c — New-ExchangeCertificate -SubjectName: Exchange's text
 * ("CN=mail.contoso.com, O=Contoso, C=US", in any order) into an X.509
 * name in the conventional encoding order.
 *
 * Must never: take an attribute it does not know, an empty value, a
 * country that is not two letters, or a CN longer than X.509 allows.
 */
#include "tls/tls_certs_int.h"
#include "lib/log.h"
#include "lib/util.h"

#include <openssl/asn1.h>
#include <openssl/x509.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define SUBJECT_ATTRS_MAX 32

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

int
tls_parse_subject(const char *text, X509_NAME **out, char **cn, char *err, size_t errlen)
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
                   tls_last_error(e, sizeof(e)));
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
