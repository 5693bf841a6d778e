/*
 * dkim.c — see dkim.h. The body is canonicalized as it streams through,
 * line by line with a few octets of state (a CR whose LF may come in the
 * next piece, blanks not yet known to end a line, empty lines not yet
 * known to end the body), so a message of any size costs one pass and no
 * copy. Header fields are small and canonicalized whole.
 */
#include "smtp/dkim.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/dns_name.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool
is_wsp(int c)
{
    return c == ' ' || c == '\t';
}

/* RFC 5322 3.6.8 ftext: printable ASCII but the colon. */
static bool
is_ftext(int c)
{
    return c >= 33 && c <= 126 && c != ':';
}

size_t
dkim_fields_parse(const char *h, size_t n, struct dkim_field **fields)
{
    struct dkim_field *v = NULL;
    size_t count = 0, cap = 0, i = 0;
    bool open = false; /* a field is open: a line starting with a blank continues it */

    while (i < n) {
        const char *line = h + i;
        const char *nl = memchr(line, '\n', n - i);
        size_t len = nl ? (size_t)(nl - line) + 1 : n - i, k = 0, name_len;

        i += len;
        if (is_wsp((unsigned char)line[0])) {
            if (open)
                v[count - 1].len += len;
            continue;
        }
        while (k < len && is_ftext((unsigned char)line[k]))
            k++;
        name_len = k;
        while (k < len && is_wsp((unsigned char)line[k]))
            k++;
        open = name_len > 0 && k < len && line[k] == ':';
        if (!open)
            continue;
        if (count == cap) {
            cap = cap ? 2 * cap : 16;
            v = xrealloc(v, cap * sizeof(*v));
        }
        v[count++] = (struct dkim_field){line, len, name_len};
    }
    *fields = v;
    return count;
}

bool
dkim_field_is(const struct dkim_field *f, const char *name)
{
    return f->name_len == strlen(name) && strncasecmp(f->text, name, f->name_len) == 0;
}

/* Where the value of f starts: after the colon. */
static size_t
value_start(const struct dkim_field *f)
{
    const char *colon = memchr(f->text + f->name_len, ':', f->len - f->name_len);

    return (size_t)(colon - f->text) + 1; /* dkim_fields_parse found it */
}

/*
 * The domain of the first address of a From value (RFC 5322 3.4): comments
 * and quoted strings are stepped over (an '@', '<' or ',' in them means
 * nothing), the first mailbox ends at a comma outside angle brackets, its
 * address is inside "<...>" if it has them, and its domain follows the last
 * '@'. Only a valid DNS name counts.
 */
static char *
first_address_domain(const char *v, size_t n)
{
    char *clean = xmalloc(n + 1), *addr, *at, *end, *domain = NULL;
    size_t len = 0;
    int depth = 0;
    bool quoted = false, angle = false;

    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if ((quoted || depth > 0) && c == '\\' && i + 1 < n) {
            i++;
            clean[len++] = 'x';
        } else if (quoted) {
            quoted = c != '"';
            clean[len++] = 'x';
        } else if (depth > 0) {
            depth += c == '(' ? 1 : c == ')' ? -1 : 0;
            clean[len++] = ' ';
        } else if (c == '(') {
            depth = 1;
            clean[len++] = ' ';
        } else if (c == '"') {
            quoted = true;
            clean[len++] = 'x';
        } else if (c == ',' && !angle) {
            break; /* the next mailbox */
        } else if (c == '\r' || c == '\n') {
            clean[len++] = ' ';
        } else {
            angle = c == '<' ? true : c == '>' ? false : angle;
            clean[len++] = c;
        }
    }
    clean[len] = '\0';
    addr = strchr(clean, '<') ? strchr(clean, '<') + 1 : clean;
    if ((end = strchr(addr, '>')) != NULL)
        *end = '\0';
    if ((at = strrchr(addr, '@')) != NULL) {
        char *d = str_trim(at + 1);
        d[strcspn(d, " \t;")] = '\0';
        str_lower(d);
        if (dns_name_valid(d, false))
            domain = xstrdup(d);
    }
    free(clean);
    return domain;
}

char *
dkim_author_domain(const struct dkim_field *f, size_t n)
{
    const struct dkim_field *from = NULL;

    for (size_t i = 0; i < n; i++) {
        if (!dkim_field_is(&f[i], "From"))
            continue;
        if (from != NULL)
            return NULL; /* RFC 5322 3.6: exactly one; whose mail is this? */
        from = &f[i];
    }
    if (from == NULL)
        return NULL;
    size_t at = value_start(from);
    return first_address_domain(from->text + at, from->len - at);
}

static void
buf_add(char **out, size_t *outlen, const void *p, size_t n)
{
    *out = xrealloc(*out, *outlen + n + 1);
    memcpy(*out + *outlen, p, n);
    *outlen += n;
    (*out)[*outlen] = '\0';
}

void
dkim_canon_field(enum dkim_canon c, const char *text, size_t len, char **out, size_t *outlen)
{
    struct dkim_field f;
    char *v;
    size_t n = 0, vs;
    bool started = false, blank = false;

    if (c == DKIM_CANON_SIMPLE) {
        buf_add(out, outlen, text, len);
        /* a last line without its break goes out with the client's CRLF */
        if (len == 0 || text[len - 1] != '\n')
            buf_add(out, outlen, "\r\n", 2);
        return;
    }
    /* the name as dkim_fields_parse delimits it: up to the blanks and colon */
    f.text = text;
    f.len = len;
    f.name_len = 0;
    while (f.name_len < len && is_ftext((unsigned char)text[f.name_len]))
        f.name_len++;
    if (memchr(text + f.name_len, ':', len - f.name_len) == NULL) {
        /* not a field (callers only pass fields): keep it verbatim */
        buf_add(out, outlen, text, len);
        buf_add(out, outlen, "\r\n", 2);
        return;
    }
    vs = value_start(&f);
    v = xmalloc(f.name_len + 1 + (len - vs) + 3);
    for (size_t i = 0; i < f.name_len; i++)
        v[n++] = (char)((text[i] >= 'A' && text[i] <= 'Z') ? text[i] + 32 : text[i]);
    v[n++] = ':';
    for (size_t i = vs; i < len; i++) {
        char ch = text[i];
        /* unfolding: the line breaks go; the blanks after them stay */
        if (ch == '\n' || (ch == '\r' && i + 1 < len && text[i + 1] == '\n'))
            continue;
        if (is_wsp((unsigned char)ch)) {
            blank = started;
            continue;
        }
        if (blank)
            v[n++] = ' ';
        blank = false;
        started = true;
        v[n++] = ch;
    }
    v[n++] = '\r';
    v[n++] = '\n';
    buf_add(out, outlen, v, n);
    free(v);
}

/* ---- the body ---- */

#define BODY_BUF 8192

struct dkim_body {
    EVP_MD_CTX *md;
    enum dkim_canon c;
    size_t empty_lines; /* empty lines seen, not yet known not to end the body */
    bool line_content;  /* the current line has content out */
    bool blank;         /* relaxed: blanks seen after it, not yet out */
    bool cr;            /* the last octet was a CR whose LF may follow */
    bool any;           /* something was hashed */
    size_t n;
    unsigned char buf[BODY_BUF];
};

static void
body_flush(struct dkim_body *b)
{
    if (b->n > 0 && EVP_DigestUpdate(b->md, b->buf, b->n) != 1)
        fatalx("dkim: SHA-256 update failed");
    b->n = 0;
}

static void
body_out(struct dkim_body *b, const char *p, size_t n)
{
    b->any = true;
    if (b->n + n > BODY_BUF)
        body_flush(b);
    if (n >= BODY_BUF) {
        if (EVP_DigestUpdate(b->md, p, n) != 1)
            fatalx("dkim: SHA-256 update failed");
        return;
    }
    memcpy(b->buf + b->n, p, n);
    b->n += n;
}

/* Octets of a line that are neither line breaks nor (relaxed) blanks. */
static void
body_content_run(struct dkim_body *b, const char *p, size_t n)
{
    for (; b->empty_lines > 0; b->empty_lines--)
        body_out(b, "\r\n", 2);
    if (b->blank)
        body_out(b, " ", 1);
    b->blank = false;
    body_out(b, p, n);
    b->line_content = true;
}

static void
body_content(struct dkim_body *b, char ch)
{
    body_content_run(b, &ch, 1);
}

static void
body_line_end(struct dkim_body *b)
{
    if (b->line_content)
        body_out(b, "\r\n", 2);
    else
        b->empty_lines++; /* RFC 6376 3.4.3/3.4.4: those at the end are dropped */
    b->line_content = false;
    b->blank = false; /* relaxed: blanks at the end of a line are dropped */
}

struct dkim_body *
dkim_body_new(enum dkim_canon c)
{
    struct dkim_body *b = xcalloc(1, sizeof(*b));

    b->c = c;
    if ((b->md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1)
        fatalx("dkim: SHA-256 unavailable");
    return b;
}

/* Does ch need a look of its own (a line break, a blank relaxed reduces)? */
static bool
body_special(const struct dkim_body *b, char ch)
{
    return ch == '\r' || (b->c == DKIM_CANON_RELAXED && is_wsp((unsigned char)ch));
}

void
dkim_body_update(struct dkim_body *b, const void *data, size_t len)
{
    const char *p = data;

    for (size_t i = 0; i < len; i++) {
        char ch = p[i];
        /* the octets between those that matter go out in one run */
        if (!b->cr && !body_special(b, ch)) {
            size_t j = i + 1;
            while (j < len && !body_special(b, p[j]))
                j++;
            body_content_run(b, p + i, j - i);
            i = j - 1;
            continue;
        }
        if (b->cr) {
            b->cr = false;
            if (ch == '\n') {
                body_line_end(b);
                continue;
            }
            body_content(b, '\r'); /* a CR alone is content */
        }
        if (ch == '\r')
            b->cr = true;
        else if (b->c == DKIM_CANON_RELAXED && is_wsp((unsigned char)ch))
            b->blank = true;
        else
            body_content(b, ch);
    }
}

void
dkim_body_final(struct dkim_body *b, unsigned char bh[DKIM_HASH_LEN])
{
    unsigned int len = 0;

    if (b->cr)
        body_content(b, '\r');
    /* a last line without its CRLF gets one (the client sends it too) */
    if (b->line_content)
        body_out(b, "\r\n", 2);
    /* simple: an empty body is one CRLF (3.4.3); relaxed: nothing (3.4.4) */
    if (!b->any && b->c == DKIM_CANON_SIMPLE)
        body_out(b, "\r\n", 2);
    body_flush(b);
    if (EVP_DigestFinal_ex(b->md, bh, &len) != 1 || len != DKIM_HASH_LEN)
        fatalx("dkim: SHA-256 final failed");
    dkim_body_free(b);
}

void
dkim_body_free(struct dkim_body *b)
{
    if (b == NULL)
        return;
    EVP_MD_CTX_free(b->md);
    free(b);
}

/* ---- the fields signed ---- */

/* RFC 6376 5.4.1's list (From first: it must be signed), the MIME fields
 * that decide how the body reads, and RFC 8460 5.3's for TLS reports. */
static const char *const signed_fields[] = {
    "from",
    "sender",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "to",
    "cc",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-id",
    "content-description",
    "resent-date",
    "resent-from",
    "resent-sender",
    "resent-to",
    "resent-cc",
    "resent-message-id",
    "in-reply-to",
    "references",
    "list-id",
    "list-help",
    "list-unsubscribe",
    "list-subscribe",
    "list-post",
    "list-owner",
    "list-archive",
    "tls-report-domain",
    "tls-report-submitter",
};

char *
dkim_signed_names(const struct dkim_field *f, size_t n)
{
    char *out = NULL;
    size_t len = 0;

    for (size_t i = 0; i < sizeof(signed_fields) / sizeof(signed_fields[0]); i++)
        for (size_t j = 0; j < n; j++)
            if (dkim_field_is(&f[j], signed_fields[i])) {
                if (len > 0)
                    buf_add(&out, &len, ":", 1);
                buf_add(&out, &len, signed_fields[i], strlen(signed_fields[i]));
            }
    /* once more than there are: a From added on the way breaks the
     * signature (RFC 6376 8.15) */
    if (len > 0)
        buf_add(&out, &len, ":", 1);
    buf_add(&out, &len, "from", 4);
    return out;
}

/* ---- the DKIM-Signature field ---- */

const char *
dkim_canon_name(enum dkim_canon c)
{
    return c == DKIM_CANON_SIMPLE ? "simple" : "relaxed";
}

const char *
dkim_alg_name(enum dkim_alg a)
{
    return a == DKIM_ALG_ED25519_SHA256 ? "ed25519-sha256" : "rsa-sha256";
}

char *
dkim_base64(const unsigned char *in, size_t len)
{
    char *out = xmalloc(4 * ((len + 2) / 3) + 1);

    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return out;
}

/* A field being written, folded: pieces go on the current line while it
 * stays within DKIM_LINE_MAX, else on a new one, which starts with a
 * space (a piece longer than a line gets one of its own). */
struct folder {
    char *s;
    size_t len, col;
};

static void
fold_add(struct folder *w, const char *piece, bool space)
{
    size_t n = strlen(piece) + (space ? 1 : 0);

    if (w->col > 0 && w->col + n > DKIM_LINE_MAX) {
        buf_add(&w->s, &w->len, "\r\n ", 3);
        w->col = 1;
    } else if (space) {
        buf_add(&w->s, &w->len, " ", 1);
        w->col++;
    }
    buf_add(&w->s, &w->len, piece, strlen(piece));
    w->col += strlen(piece);
}

char *
dkim_signature_prefix(const struct dkim_sig_params *p)
{
    struct folder w = {0};
    char tag[512], *bh = dkim_base64(p->bh, DKIM_HASH_LEN);
    const char *names = p->names;

    fold_add(&w, "DKIM-Signature:", false);
    fold_add(&w, "v=1;", true);
    snprintf(tag, sizeof(tag), "a=%s;", dkim_alg_name(p->alg));
    fold_add(&w, tag, true);
    snprintf(tag, sizeof(tag), "c=%s/%s;", dkim_canon_name(p->header_canon),
             dkim_canon_name(p->body_canon));
    fold_add(&w, tag, true);
    snprintf(tag, sizeof(tag), "d=%s;", p->domain);
    fold_add(&w, tag, true);
    snprintf(tag, sizeof(tag), "s=%s;", p->selector);
    fold_add(&w, tag, true);
    snprintf(tag, sizeof(tag), "t=%lld;", (long long)p->timestamp);
    fold_add(&w, tag, true);
    /* h= folds after a colon (FWS is allowed there, RFC 6376 3.5) */
    for (bool first = true; *names; first = false) {
        size_t k = strcspn(names, ":");
        snprintf(tag, sizeof(tag), "%s%.*s%s", first ? "h=" : "", (int)k, names,
                 names[k] == ':' ? ":" : ";");
        fold_add(&w, tag, first);
        names += k + (names[k] == ':');
    }
    snprintf(tag, sizeof(tag), "bh=%s;", bh);
    fold_add(&w, tag, true);
    fold_add(&w, "b=", true);
    free(bh);
    return w.s;
}

void
dkim_header_hash(enum dkim_canon c, const struct dkim_field *f, size_t n, const char *names,
                 const char *prefix, unsigned char hash[DKIM_HASH_LEN])
{
    bool *used = xcalloc(n ? n : 1, sizeof(*used));
    char *data = NULL, name[256];
    size_t len = 0;
    unsigned int hlen = 0;

    while (*names) {
        size_t k = strcspn(names, ":"), a = 0, b = k;
        while (a < b && (is_wsp((unsigned char)names[a]) || names[a] == '\r' || names[a] == '\n'))
            a++;
        while (b > a && (is_wsp((unsigned char)names[b - 1]) || names[b - 1] == '\r' ||
                         names[b - 1] == '\n'))
            b--;
        if (b - a < sizeof(name)) {
            memcpy(name, names + a, b - a);
            name[b - a] = '\0';
            /* RFC 6376 5.4.2: the last unused instance, from the bottom up */
            for (size_t i = n; i-- > 0;)
                if (!used[i] && dkim_field_is(&f[i], name)) {
                    used[i] = true;
                    dkim_canon_field(c, f[i].text, f[i].len, &data, &len);
                    break;
                }
        }
        names += k + (names[k] == ':');
    }
    /* the signature field itself, through "b=", without a line break
     * (3.7): simple is the text as it is; relaxed loses the CRLF its
     * canonical form ends with */
    if (c == DKIM_CANON_SIMPLE) {
        buf_add(&data, &len, prefix, strlen(prefix));
    } else {
        dkim_canon_field(c, prefix, strlen(prefix), &data, &len);
        len -= 2;
    }
    if (EVP_Digest(data ? data : "", len, hash, &hlen, EVP_sha256(), NULL) != 1 ||
        hlen != DKIM_HASH_LEN)
        fatalx("dkim: SHA-256 failed");
    free(data);
    free(used);
}

char *
dkim_signature_field(const char *prefix, const unsigned char *sig, size_t siglen)
{
    struct folder w = {0};
    char *b64 = dkim_base64(sig, siglen), *nl = strrchr(prefix, '\n');
    size_t left = strlen(b64), at = 0;

    buf_add(&w.s, &w.len, prefix, strlen(prefix));
    w.col = nl ? strlen(nl + 1) : strlen(prefix);
    /* base64 in b= may be broken by FWS anywhere (RFC 6376 3.5) */
    while (left > 0) {
        size_t room = w.col < DKIM_LINE_MAX ? DKIM_LINE_MAX - w.col : 0, take;
        if (room == 0) {
            buf_add(&w.s, &w.len, "\r\n ", 3);
            w.col = 1;
            continue;
        }
        take = left < room ? left : room;
        buf_add(&w.s, &w.len, b64 + at, take);
        w.col += take;
        at += take;
        left -= take;
    }
    buf_add(&w.s, &w.len, "\r\n", 2);
    free(b64);
    return w.s;
}
