/*
 * tls_pubbundle.c — the public bundle: the store's inputs (struct tls_src,
 * tls_int.h) as one text, which the keys process sends the smtp process
 * whenever certs/ changes (tls_bundle_export, tls_store_load_bundle).
 *
 * Format, version 1. Lines end with "\n" (no "\r"); header lines are
 * printable ASCII, their fields separated by one space; names are
 * percent-escaped (every byte outside '!'..'~', and '%' itself, as %XX):
 *
 *   postern-tls-public-bundle 1
 *   certdir <directory the bundle was read from, for messages>
 *   cert <file name> key=<ok|none|unreadable|mismatch> key-id=<id|-> smtp=<yes|no> certificates=<n>
 *   <n PEM "CERTIFICATE" blocks: the leaf, then its chain>
 *   ... one "cert" record per certificate file, in the directory's order
 *   roots <n>
 *   <n PEM "CERTIFICATE" blocks: the trust anchors of root/>
 *   crls <n>
 *   <n PEM "X509 CRL" blocks: the CRLs of crl/>
 *   end
 *
 * key= is the state of the file's private key (ok: present and matching
 * the leaf); key-id is then the leaf's thumbprint (40 upper-case hex
 * digits, SHA-1 of its DER), by which the keys process finds the key, and
 * "-" otherwise. smtp= is its Enable-ExchangeCertificate marker. Nothing
 * may follow "end". PEM blocks carry no headers. The text never holds a
 * private key: there is no record for one.
 *
 * The decoder trusts nothing: a wrong or missing line, a count that does
 * not match the blocks, a block that is not exactly one valid DER object,
 * a key-id that is not the leaf's thumbprint, or a text over BUNDLE_MAX
 * fails the whole bundle with the line it stopped at.
 *
 * Must never: encode a private key, read past len, allocate in proportion
 * to a count the text claims, or accept a bundle it did not check whole.
 */
#include "lib/log.h"
#include "lib/util.h"
#include "tls/tls_int.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "postern-tls-public-bundle"
#define VERSION 1
/* A few thousand certificates (a whole CA bundle in root/) are a few MB. */
#define BUNDLE_MAX (32 * 1024 * 1024)
/* A file name (NAME_MAX) and a directory (PATH_MAX), unescaped. */
#define FILE_NAME_MAX 255
#define DIR_NAME_MAX 4095
/* An escaped directory name and the words around it. */
#define LINE_MAX_HEADER (3 * DIR_NAME_MAX + 128)
/* Counts have at most this many digits: far more than BUNDLE_MAX holds. */
#define COUNT_DIGITS 7

#define LABEL_CERT "CERTIFICATE"
#define LABEL_CRL "X509 CRL"

static const char *const key_state_names[] = {
    [KEY_NONE] = "none",
    [KEY_UNREADABLE] = "unreadable",
    [KEY_MISMATCH] = "mismatch",
    [KEY_OK] = "ok",
};

/*
 * Encoding
 */

static void
put_escaped(BIO *out, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p > ' ' && *p < 0x7f && *p != '%')
            BIO_write(out, p, 1);
        else
            BIO_printf(out, "%%%02X", *p);
    }
}

char *
tls_src_encode(const struct tls_src *src, size_t *len)
{
    BIO *out = BIO_new(BIO_s_mem());
    char *data = NULL, *text;
    long n;
    bool ok = true;

    if (out == NULL)
        fatalx("tls: out of memory");
    BIO_printf(out, "%s %d\ncertdir ", MAGIC, VERSION);
    put_escaped(out, src->certdir != NULL ? src->certdir : "");
    BIO_printf(out, "\n");
    for (size_t i = 0; i < src->ncerts; i++) {
        const struct tls_src_cert *c = &src->certs[i];
        enum key_state ks = c->key_state;

        /* A key the keys process could not name is no key it can use. */
        if (ks == KEY_OK && c->key_id[0] == '\0')
            ks = KEY_UNREADABLE;
        BIO_printf(out, "cert ");
        put_escaped(out, c->file);
        BIO_printf(out, " key=%s key-id=%s smtp=%s certificates=%d\n", key_state_names[ks],
                   ks == KEY_OK ? c->key_id : "-", c->smtp_enabled ? "yes" : "no",
                   1 + sk_X509_num(c->chain));
        ok = ok && PEM_write_bio_X509(out, c->leaf) == 1;
        for (int j = 0; j < sk_X509_num(c->chain); j++)
            ok = ok && PEM_write_bio_X509(out, sk_X509_value(c->chain, j)) == 1;
    }
    BIO_printf(out, "roots %d\n", sk_X509_num(src->roots));
    for (int j = 0; j < sk_X509_num(src->roots); j++)
        ok = ok && PEM_write_bio_X509(out, sk_X509_value(src->roots, j)) == 1;
    BIO_printf(out, "crls %d\n", sk_X509_CRL_num(src->crls));
    for (int j = 0; j < sk_X509_CRL_num(src->crls); j++)
        ok = ok && PEM_write_bio_X509_CRL(out, sk_X509_CRL_value(src->crls, j)) == 1;
    BIO_printf(out, "end\n");
    /* Certificates that parsed always encode; a failure is memory. */
    n = BIO_get_mem_data(out, &data);
    if (!ok || n <= 0)
        fatalx("tls: cannot encode the public bundle");
    text = xmalloc((size_t)n + 1);
    memcpy(text, data, (size_t)n);
    text[n] = '\0';
    BIO_free(out);
    *len = (size_t)n;
    return text;
}

/*
 * Decoding
 */

struct cursor {
    const char *p, *end;
    size_t line; /* of the line last read, from 1 */
    char *err;
    size_t errlen;
};

static int fail(struct cursor *c, const char *fmt, ...) PRINTF_LIKE(2, 3);

static int
fail(struct cursor *c, const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    errorf(c->err, c->errlen, "public certificate bundle, line %zu: %s", c->line, what);
    return -1;
}

/* The next line, without its "\n" (which must be there). */
static int
next_line(struct cursor *c, const char **s, size_t *n)
{
    const char *nl;

    c->line++;
    if (c->p >= c->end)
        return fail(c, "truncated (no \"end\" line)");
    nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
    if (nl == NULL)
        return fail(c, "truncated (a line without its end)");
    *s = c->p;
    *n = (size_t)(nl - c->p);
    c->p = nl + 1;
    return 0;
}

/* A header line: printable ASCII only, at most LINE_MAX_HEADER bytes,
 * copied NUL-terminated into buf. */
static int
header_line(struct cursor *c, char *buf, size_t buflen)
{
    const char *s = "";
    size_t n = 0;

    if (next_line(c, &s, &n) != 0)
        return -1;
    if (n >= buflen)
        return fail(c, "line too long");
    for (size_t i = 0; i < n; i++)
        if (s[i] < ' ' || s[i] > '~')
            return fail(c, "unexpected byte 0x%02x", (unsigned char)s[i]);
    memcpy(buf, s, n);
    buf[n] = '\0';
    return 0;
}

static int
hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* A percent-escaped name (no space in it) into a malloc'd string of at
 * most max bytes, without NUL (or '/' when a file name). */
static int
unescape(struct cursor *c, const char *s, size_t max, bool file, char **out)
{
    size_t n = strlen(s), o = 0;
    char *buf = xmalloc(n + 1);

    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)s[i];
        if (ch == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
            int lo = hi >= 0 ? hexval(s[i + 2]) : -1;
            if (lo < 0) {
                free(buf);
                return fail(c, "bad %%-escape in a name");
            }
            ch = hi * 16 + lo;
            i += 2;
        }
        if (ch == '\0' || (file && ch == '/')) {
            free(buf);
            return fail(c, "a name holds a %s", ch == '\0' ? "NUL" : "'/'");
        }
        buf[o++] = (char)ch;
    }
    buf[o] = '\0';
    if (o > max || (file && o == 0)) {
        free(buf);
        return fail(c, "a name of %zu bytes", o);
    }
    *out = buf;
    return 0;
}

/* A decimal count of 1..COUNT_DIGITS digits, the whole of s. */
static int
parse_count(struct cursor *c, const char *s, int *out)
{
    size_t n = strlen(s);
    int v = 0;

    if (n == 0 || n > COUNT_DIGITS)
        return fail(c, "bad count \"%.16s\"", s);
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return fail(c, "bad count \"%.16s\"", s);
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* "word <rest>": rest is what follows "word " (may hold spaces). */
static const char *
after_word(const char *line, const char *word)
{
    size_t n = strlen(word);

    return strncmp(line, word, n) == 0 && line[n] == ' ' ? line + n + 1 : NULL;
}

/* One PEM block labelled label, exactly: its DER into *der (free with
 * OPENSSL_free) of *derlen bytes. */
static int
pem_block(struct cursor *c, const char *label, unsigned char **der, long *derlen)
{
    char begin[64], endl[64];
    const char *start = c->p, *s = "";
    size_t n = 0, first = c->line + 1;
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long len = 0;
    BIO *bio;
    int ok;

    snprintf(begin, sizeof(begin), "-----BEGIN %s-----", label);
    snprintf(endl, sizeof(endl), "-----END %s-----", label);
    if (next_line(c, &s, &n) != 0)
        return -1;
    if (n != strlen(begin) || memcmp(s, begin, n) != 0)
        return fail(c, "expected \"%s\"", begin);
    for (;;) {
        if (next_line(c, &s, &n) != 0)
            return -1;
        if (memchr(s, '\r', n) != NULL)
            return fail(c, "unexpected byte 0x0d");
        if (n == strlen(endl) && memcmp(s, endl, n) == 0)
            break;
    }
    /* The block alone, so that the reader sees nothing around it. */
    bio = BIO_new_mem_buf(start, (int)(c->p - start));
    if (bio == NULL)
        fatalx("tls: out of memory");
    ERR_clear_error();
    ok = PEM_read_bio_ex(bio, &name, &header, &data, &len, PEM_FLAG_ONLY_B64) == 1 &&
         strcmp(name, label) == 0 && header[0] == '\0' && len > 0 && BIO_pending(bio) == 0;
    BIO_free(bio);
    ERR_clear_error();
    OPENSSL_free(name);
    OPENSSL_free(header);
    if (!ok) {
        OPENSSL_free(data);
        c->line = first;
        return fail(c, "damaged \"%s\" block", label);
    }
    *der = data;
    *derlen = len;
    return 0;
}

/* One block holding exactly one DER certificate (*x) or CRL (*crl: give
 * x NULL). */
static int
read_object(struct cursor *c, X509 **x, X509_CRL **crl)
{
    unsigned char *der = NULL;
    const unsigned char *p;
    long len = 0;
    bool whole;

    if (pem_block(c, x != NULL ? LABEL_CERT : LABEL_CRL, &der, &len) != 0)
        return -1;
    p = der;
    if (x != NULL)
        *x = d2i_X509(NULL, &p, len);
    else
        *crl = d2i_X509_CRL(NULL, &p, len);
    whole = (x != NULL ? *x != NULL : *crl != NULL) && p == der + len;
    ERR_clear_error();
    OPENSSL_free(der);
    if (!whole) {
        if (x != NULL)
            X509_free(*x);
        else
            X509_CRL_free(*crl);
        return fail(c, "not a %s", x != NULL ? "certificate" : "CRL");
    }
    return 0;
}

static int
read_cert(struct cursor *c, X509 **out)
{
    return read_object(c, out, NULL);
}

static int
parse_key_state(struct cursor *c, const char *s, enum key_state *out)
{
    for (size_t i = 0; i < sizeof(key_state_names) / sizeof(key_state_names[0]); i++) {
        if (strcmp(s, key_state_names[i]) == 0) {
            *out = (enum key_state)i;
            return 0;
        }
    }
    return fail(c, "bad key state \"%.16s\"", s);
}

/* Splits line at single spaces into at most max fields (in place). */
static size_t
split(char *line, char **fields, size_t max)
{
    size_t n = 0;
    char *p = line;

    while (n < max) {
        fields[n++] = p;
        p = strchr(p, ' ');
        if (p == NULL)
            break;
        *p++ = '\0';
    }
    return p == NULL ? n : max + 1;
}

/* "cert ..." and its blocks, into a new entry of src. */
static int
read_cert_record(struct cursor *c, char *line, struct tls_src *src)
{
    char *f[6], thumbprint[THUMBPRINT_LEN + 1];
    struct tls_src_cert *e;
    int count = 0;

    if (split(line, f, 6) != 6 || strcmp(f[0], "cert") != 0 || strncmp(f[2], "key=", 4) != 0 ||
        strncmp(f[3], "key-id=", 7) != 0 || strncmp(f[4], "smtp=", 5) != 0 ||
        strncmp(f[5], "certificates=", 13) != 0)
        return fail(c, "expected \"cert <file> key=... key-id=... smtp=... certificates=...\"");
    src->certs = xrealloc(src->certs, (src->ncerts + 1) * sizeof(*src->certs));
    e = &src->certs[src->ncerts++];
    memset(e, 0, sizeof(*e));
    if (unescape(c, f[1], FILE_NAME_MAX, true, &e->file) != 0 ||
        parse_key_state(c, f[2] + 4, &e->key_state) != 0 || parse_count(c, f[5] + 13, &count) != 0)
        return -1;
    if (strcmp(f[4] + 5, "yes") != 0 && strcmp(f[4] + 5, "no") != 0)
        return fail(c, "bad smtp= value");
    e->smtp_enabled = strcmp(f[4] + 5, "yes") == 0;
    if (count < 1)
        return fail(c, "a certificate file without a certificate");
    if (e->key_state == KEY_OK) {
        const char *id = f[3] + 7;
        if (strlen(id) != THUMBPRINT_LEN || strspn(id, "0123456789ABCDEF") != THUMBPRINT_LEN)
            return fail(c, "bad key-id");
        memcpy(e->key_id, id, THUMBPRINT_LEN + 1);
    } else if (strcmp(f[3] + 7, "-") != 0) {
        return fail(c, "a key-id without a key");
    }
    if (read_cert(c, &e->leaf) != 0)
        return -1;
    if (e->key_state == KEY_OK &&
        (tls_thumbprint_of(e->leaf, thumbprint) != 0 || strcmp(thumbprint, e->key_id) != 0))
        return fail(c, "key-id %s is not the certificate's thumbprint", e->key_id);
    if ((e->chain = sk_X509_new_null()) == NULL)
        fatalx("tls: out of memory");
    for (int i = 1; i < count; i++) {
        X509 *x;
        if (read_cert(c, &x) != 0)
            return -1;
        if (sk_X509_push(e->chain, x) <= 0)
            fatalx("tls: out of memory");
    }
    return 0;
}

int
tls_src_decode(struct tls_src *src, const char *blob, size_t len, char *err, size_t errlen)
{
    struct cursor c = {blob, blob + len, 0, err, errlen};
    char *line = xmalloc(LINE_MAX_HEADER + 1), magic[64];
    const char *rest;
    int count = 0, rc = -1;

    memset(src, 0, sizeof(*src));
    errorf(err, errlen, "%s", "");
    if ((src->roots = sk_X509_new_null()) == NULL || (src->crls = sk_X509_CRL_new_null()) == NULL)
        fatalx("tls: out of memory");
    if (blob == NULL || len == 0) {
        fail(&c, "empty");
        goto out;
    }
    if (len > BUNDLE_MAX) {
        fail(&c, "%zu bytes, more than the %d allowed", len, BUNDLE_MAX);
        goto out;
    }
    snprintf(magic, sizeof(magic), "%s %d", MAGIC, VERSION);
    if (header_line(&c, line, LINE_MAX_HEADER + 1) != 0)
        goto out;
    if (strcmp(line, magic) != 0) {
        fail(&c, "not a version %d bundle (\"%.40s\")", VERSION, line);
        goto out;
    }
    if (header_line(&c, line, LINE_MAX_HEADER + 1) != 0)
        goto out;
    if ((rest = after_word(line, "certdir")) == NULL) {
        fail(&c, "expected \"certdir <directory>\"");
        goto out;
    }
    if (unescape(&c, rest, DIR_NAME_MAX, false, &src->certdir) != 0)
        goto out;
    for (;;) {
        if (header_line(&c, line, LINE_MAX_HEADER + 1) != 0)
            goto out;
        if (after_word(line, "cert") == NULL)
            break;
        if (read_cert_record(&c, line, src) != 0)
            goto out;
    }
    if ((rest = after_word(line, "roots")) == NULL) {
        fail(&c, "expected \"cert ...\" or \"roots <n>\"");
        goto out;
    }
    if (parse_count(&c, rest, &count) != 0)
        goto out;
    for (int i = 0; i < count; i++) {
        X509 *x;
        if (read_cert(&c, &x) != 0)
            goto out;
        if (sk_X509_push(src->roots, x) <= 0)
            fatalx("tls: out of memory");
    }
    if (header_line(&c, line, LINE_MAX_HEADER + 1) != 0)
        goto out;
    if ((rest = after_word(line, "crls")) == NULL) {
        fail(&c, "expected \"crls <n>\"");
        goto out;
    }
    if (parse_count(&c, rest, &count) != 0)
        goto out;
    for (int i = 0; i < count; i++) {
        X509_CRL *x;
        if (read_object(&c, NULL, &x) != 0)
            goto out;
        if (sk_X509_CRL_push(src->crls, x) <= 0)
            fatalx("tls: out of memory");
    }
    if (header_line(&c, line, LINE_MAX_HEADER + 1) != 0)
        goto out;
    if (strcmp(line, "end") != 0) {
        fail(&c, "expected \"end\"");
        goto out;
    }
    if (c.p != c.end) {
        fail(&c, "%zu bytes after \"end\"", (size_t)(c.end - c.p));
        goto out;
    }
    rc = 0;
out:
    free(line);
    return rc;
}
