/*
 * smtp_parse.c — the SMTP command grammar: verbs, MAIL/RCPT paths and their
 * ESMTP parameters, HELO names, xtext and base64 (see smtp_parse.h).
 *
 * Must never: allocate, do I/O, keep state between calls, depend on the
 * locale (all character classes are ASCII by hand), or read past the NUL of
 * its input. Every reply it hands back is a static string literal.
 */
#include "smtp/smtp_parse.h"

#include <limits.h>
#include <string.h>

#define BAD_MAIL_SYNTAX "501 5.5.4 Syntax: MAIL FROM:<address>"
#define BAD_RCPT_SYNTAX "501 5.5.4 Syntax: RCPT TO:<address>"
#define BAD_SENDER "501 5.1.7 Bad sender address syntax"
#define LONG_SENDER "501 5.1.7 Sender address too long"
#define BAD_RECIPIENT "501 5.1.3 Bad recipient address syntax"
#define LONG_RECIPIENT "501 5.1.3 Recipient address too long"
#define NEED_SMTPUTF8 "553 5.6.7 Non-ASCII address requires SMTPUTF8"
#define BAD_PARAM_SYNTAX "501 5.5.4 Syntax error in parameters"
#define UNSUPPORTED_PARAM "555 5.5.4 Unsupported parameter"
#define DUPLICATE_PARAM "501 5.5.4 Duplicate parameter"

static bool
c_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool
c_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool
c_hex(unsigned char c)
{
    return c_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

static bool
c_blank(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static unsigned char
c_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* RFC 5322 3.2.3 atext, as RFC 5321 4.1.2 uses it for Dot-string. */
static bool
c_atext(unsigned char c)
{
    return c_alpha(c) || c_digit(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Case-insensitive ASCII prefix test; stops at the NUL of s, so it never
 * reads past the end of a short string. */
static bool
ascii_iprefix(const char *s, const char *prefix)
{
    for (; *prefix != '\0'; s++, prefix++)
        if (c_lower((unsigned char)*s) != c_lower((unsigned char)*prefix))
            return false;
    return true;
}

/* s[0..n) equals word, case-insensitively (ESMTP keywords and values are
 * case-insensitive, RFC 5321 2.4). */
static bool
ascii_ieq_n(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && ascii_iprefix(s, word);
}

/* A keyword a parameter's value may be, and what it stands for. */
struct keyword {
    const char *word;
    int value;
};

/* The value of the keyword s[0..n) names, from a table that ends with a
 * NULL word; 0 when none matches (each table's values are non-zero). */
static int
keyword_value(const char *s, size_t n, const struct keyword *table)
{
    for (; table->word != NULL; table++)
        if (ascii_ieq_n(s, n, table->word))
            return table->value;
    return 0;
}

static const struct keyword body_keywords[] = {
    {"7BIT", SMTP_BODY_7BIT},
    {"8BITMIME", SMTP_BODY_8BITMIME},
    {"BINARYMIME", SMTP_BODY_BINARYMIME},
    {NULL, 0},
};
static const struct keyword ret_keywords[] = {
    {"FULL", SMTP_RET_FULL},
    {"HDRS", SMTP_RET_HDRS},
    {NULL, 0},
};
static const struct keyword notify_keywords[] = {
    {"NEVER", SMTP_NOTIFY_NEVER},
    {"SUCCESS", SMTP_NOTIFY_SUCCESS},
    {"FAILURE", SMTP_NOTIFY_FAILURE},
    {"DELAY", SMTP_NOTIFY_DELAY},
    {NULL, 0},
};

/*
 * Length of the well-formed UTF-8 sequence for one non-ASCII character at s
 * (RFC 3629 4), or 0. Overlong forms, surrogates and code points above
 * U+10FFFF are refused, and so are the C1 controls U+0080..U+009F: RFC 6531
 * widens the address grammar to UTF-8 characters, never to controls.
 */
static size_t
utf8_seq(const unsigned char *s)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;

#define CONT(x) (((x)&0xC0) == 0x80)
    if (c >= 0xC2 && c <= 0xDF) {
        if (!CONT(s[1]) || (c == 0xC2 && s[1] <= 0x9F))
            return 0;
        return 2;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
        if (s[1] < lo || s[1] > hi || !CONT(s[2]))
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
        if (s[1] < lo || s[1] > hi || !CONT(s[2]) || !CONT(s[3]))
            return 0;
        return 4;
    }
#undef CONT
    return 0;
}

/* Snum 3("." Snum), Snum = 1*3DIGIT with value 0..255 (RFC 5321 4.1.3).
 * Leading zeros are legal by that grammar and so accepted. */
static bool
ipv4_valid(const char *s, size_t n)
{
    size_t i = 0;

    for (int part = 0; part < 4; part++) {
        unsigned v = 0;
        size_t digits = 0;

        if (part > 0) {
            if (i >= n || s[i] != '.')
                return false;
            i++;
        }
        while (i < n && c_digit((unsigned char)s[i]) && digits < 3) {
            v = v * 10 + (unsigned)(s[i] - '0');
            i++;
            digits++;
        }
        if (digits == 0 || v > 255)
            return false;
    }
    return i == n;
}

/*
 * IPv6-addr of RFC 5321 4.1.3: eight 16-bit groups, or fewer with one "::",
 * optionally ending in a dotted IPv4 address worth two groups. RFC 5321 says
 * "::" stands for at least two groups; RFC 4291 2.2 lets it stand for one,
 * and we accept that too (seven groups plus "::") rather than refuse mail
 * over an encoder's choice.
 */
static bool
ipv6_valid(const char *s, size_t n)
{
    size_t i = 0;
    int groups = 0;
    bool compressed = false;

    if (n >= 2 && s[0] == ':' && s[1] == ':') {
        compressed = true;
        i = 2;
        if (i == n)
            return true;
    } else if (n == 0 || s[0] == ':') {
        return false;
    }
    for (;;) {
        size_t j = i;

        while (j < n && c_hex((unsigned char)s[j]))
            j++;
        if (j < n && s[j] == '.') {
            if (!ipv4_valid(s + i, n - i))
                return false;
            groups += 2;
            break;
        }
        if (j == i || j - i > 4)
            return false;
        groups++;
        i = j;
        if (i == n)
            break;
        if (s[i] != ':')
            return false;
        i++;
        if (i < n && s[i] == ':') {
            if (compressed)
                return false;
            compressed = true;
            i++;
            if (i == n)
                break;
        } else if (i == n) {
            return false;
        }
    }
    return compressed ? groups <= 7 : groups == 8;
}

/*
 * address-literal (RFC 5321 4.1.3) at s, which starts with '['. Returns the
 * octets consumed including both brackets, or 0. Only IPv4 and the "IPv6:"
 * tag are accepted: no other Standardized-tag is registered with IANA, so a
 * General-address-literal could never be delivered to.
 */
static size_t
literal_scan(const char *s)
{
    size_t i = 1;

    /* dcontent = %d33-90 / %d94-126 */
    for (;; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 33 && c <= 90) || (c >= 94 && c <= 126)))
            break;
    }
    if (s[i] != ']')
        return 0;
    if (ipv4_valid(s + 1, i - 1))
        return i + 1;
    if (i - 1 >= 5 && ascii_iprefix(s + 1, "IPv6:") && ipv6_valid(s + 6, i - 6))
        return i + 1;
    return 0;
}

static bool
c_label(unsigned char c)
{
    return c_alpha(c) || c_digit(c) || c == '-' || c >= 0x80;
}

/*
 * Domain name at s: sub-domain *("." sub-domain), sub-domain = Let-dig
 * [Ldh-str] (RFC 5321 4.1.2), extended by RFC 6531 3.3 with U-labels.
 * Returns the octets consumed, or 0 when what is there is not a valid name.
 * Labels are 1..63 octets (RFC 1035 2.3.4); a U-label is exempt because its
 * limit applies to the A-label, which we cannot compute without IDNA, so it is
 * bounded only by the 255-octet whole. With trailing_dot a single final dot
 * (the absolute form) is consumed but not counted in the 255.
 */
static size_t
name_scan(const char *s, bool trailing_dot, bool *utf8)
{
    size_t i = 0;

    for (;;) {
        size_t start = i;
        bool nonascii = false;

        while (c_label((unsigned char)s[i])) {
            if ((unsigned char)s[i] >= 0x80) {
                size_t k = utf8_seq((const unsigned char *)s + i);
                if (k == 0)
                    return 0;
                i += k;
                nonascii = true;
            } else {
                i++;
            }
        }
        if (i == start || s[start] == '-' || s[i - 1] == '-')
            return 0;
        if (!nonascii && i - start > 63)
            return 0;
        if (nonascii)
            *utf8 = true;
        if (s[i] != '.')
            break;
        if (trailing_dot && !c_label((unsigned char)s[i + 1])) {
            if (i > SMTP_DOMAIN_MAX)
                return 0;
            return i + 1;
        }
        i++;
    }
    return i > SMTP_DOMAIN_MAX ? 0 : i;
}

/*
 * Local-part = Dot-string / Quoted-string (RFC 5321 4.1.2), with RFC 6531
 * 3.3 adding UTF-8 to atext and qtextSMTP. Returns the octets consumed, or 0.
 */
static size_t
local_scan(const char *s, bool *utf8)
{
    size_t i = 0;

    if (s[0] == '"') {
        i = 1;
        for (;;) {
            unsigned char c = (unsigned char)s[i];

            if (c == '"')
                return i + 1;
            if (c == '\\') {
                /* quoted-pairSMTP = %d92 %d32-126 */
                unsigned char d = (unsigned char)s[i + 1];
                if (d < 32 || d > 126)
                    return 0;
                i += 2;
            } else if (c >= 32 && c <= 126) {
                i++;
            } else if (c >= 0x80) {
                size_t k = utf8_seq((const unsigned char *)s + i);
                if (k == 0)
                    return 0;
                *utf8 = true;
                i += k;
            } else {
                return 0;
            }
        }
    }
    for (;;) {
        size_t start = i;

        for (;;) {
            unsigned char c = (unsigned char)s[i];

            if (c_atext(c)) {
                i++;
            } else if (c >= 0x80) {
                size_t k = utf8_seq((const unsigned char *)s + i);
                if (k == 0)
                    return 0;
                *utf8 = true;
                i += k;
            } else {
                break;
            }
        }
        if (i == start)
            return 0;
        if (s[i] != '.')
            return i;
        i++;
    }
}

enum path_result { PATH_OK, PATH_BAD, PATH_LONG };

/*
 * Path (RFC 5321 4.1.2) at s, which starts with '<'. Fills a with the
 * mailbox, the source route dropped as 4.1.1.3/C say to ignore it. *used is
 * set to the octets through '>'; *nonascii says whether any part of the path,
 * route included, carried UTF-8 (the route travels on the wire too).
 */
static enum path_result
path_parse(const char *s, bool postmaster_ok, struct smtp_address *a, bool *nonascii, size_t *used)
{
    size_t i = 1, mbox, local_len, domain_len, end;
    bool route = false, u = false, au = false;

    if (s[1] == '>') {
        a->addr[0] = '\0';
        a->at = 0;
        a->utf8 = false;
        *nonascii = false;
        *used = 2;
        return PATH_OK;
    }
    if (s[i] == '@') {
        /* A-d-l = At-domain *( "," At-domain ); At-domain is a Domain,
         * which unlike a Mailbox's domain has no address-literal form. */
        route = true;
        for (;;) {
            size_t n = name_scan(s + i + 1, false, &u);

            if (n == 0)
                return PATH_BAD;
            i += 1 + n;
            if (s[i] == ',' && s[i + 1] == '@') {
                i++;
                continue;
            }
            if (s[i] != ':')
                return PATH_BAD;
            i++;
            break;
        }
    }
    mbox = i;
    if (postmaster_ok && !route && ascii_iprefix(s + i, "postmaster") && s[i + 10] == '>') {
        /* RFC 5321 4.1.1.3: "<Postmaster>" with no domain must be accepted. */
        memcpy(a->addr, s + i, 10);
        a->addr[10] = '\0';
        a->at = 0;
        a->utf8 = false;
        *nonascii = false;
        *used = i + 11;
        return PATH_OK;
    }
    local_len = local_scan(s + i, &au);
    if (local_len == 0 || s[i + local_len] != '@')
        return PATH_BAD;
    i += local_len + 1;
    domain_len = s[i] == '[' ? literal_scan(s + i) : name_scan(s + i, false, &au);
    if (domain_len == 0)
        return PATH_BAD;
    end = i + domain_len;
    if (s[end] != '>')
        return PATH_BAD;
    /* RFC 5321 4.5.3.1: local part 64, domain 255, whole path 256 octets
     * counting the brackets and any route. */
    if (local_len > SMTP_LOCAL_MAX || domain_len > SMTP_DOMAIN_MAX || end + 1 > SMTP_PATH_MAX)
        return PATH_LONG;
    memcpy(a->addr, s + mbox, end - mbox);
    a->addr[end - mbox] = '\0';
    a->at = local_len;
    a->utf8 = au;
    *nonascii = u || au;
    *used = end + 1;
    return PATH_OK;
}

static bool
xtext_valid_n(const char *s, size_t n)
{
    /* xtext = *( xchar / hexchar ); xchar is "!".."~" except "+" and "=",
     * hexchar is "+" and two upper-case hex digits (RFC 3461 4). */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '+') {
            if (i + 2 >= n)
                return false;
            for (int k = 1; k <= 2; k++) {
                unsigned char h = (unsigned char)s[i + k];
                if (!c_digit(h) && !(h >= 'A' && h <= 'F'))
                    return false;
            }
            i += 2;
        } else if (c < 33 || c > 126 || c == '=') {
            return false;
        }
    }
    return true;
}

bool
smtp_valid_xtext(const char *s)
{
    return s != NULL && xtext_valid_n(s, strlen(s));
}

/* One esmtp-param (RFC 5321 4.1.2) split into keyword and optional value. */
struct param {
    const char *kw;
    size_t kwlen;
    const char *val;
    size_t vallen;
    bool has_val;
};

/*
 * Steps over the text after a path: blanks, then one esmtp-param. Returns 1
 * with *p filled, 0 at the end, -1 when the keyword is malformed. Runs of
 * blanks and trailing blanks are tolerated, as smtp_command_parse leaves
 * trailing blanks in place and clients do send them.
 */
static int
param_next(const char **sp, struct param *p)
{
    const char *s = *sp, *t;

    while (c_blank((unsigned char)*s))
        s++;
    if (*s == '\0') {
        *sp = s;
        return 0;
    }
    t = s;
    while (*t != '\0' && !c_blank((unsigned char)*t))
        t++;
    *sp = t;
    p->kw = s;
    p->kwlen = 0;
    while (s + p->kwlen < t && s[p->kwlen] != '=')
        p->kwlen++;
    p->has_val = s + p->kwlen < t;
    p->val = p->has_val ? s + p->kwlen + 1 : t;
    p->vallen = (size_t)(t - p->val);
    /* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
    if (p->kwlen == 0)
        return -1;
    for (size_t i = 0; i < p->kwlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!c_alpha(c) && !c_digit(c) && !(c == '-' && i > 0))
            return -1;
    }
    return 1;
}

/* SIZE=1*20DIGIT (RFC 1870 6) that fits in 64 bits. */
static bool
size_value(const struct param *p, uint64_t *out)
{
    uint64_t v = 0;

    if (!p->has_val || p->vallen == 0 || p->vallen > 20)
        return false;
    for (size_t i = 0; i < p->vallen; i++) {
        unsigned d = (unsigned)((unsigned char)p->val[i] - '0');

        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static void
copy_n(char *dst, const char *src, size_t n)
{
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/*
 * The next esmtp-param of a MAIL or RCPT command (param_next) whose keyword
 * is one of names[0..n): its index in *k. Returns 1, 0 at the end, or -1
 * with the reply in *err for a malformed parameter, an unknown keyword or
 * one already seen (RFC 1869 4.5 / RFC 3461 4: a keyword must not repeat).
 */
static int
param_known(const char **s, struct param *p, const char *const *names, int n, bool *seen, int *k,
            const char **err)
{
    int r = param_next(s, p);

    if (r < 0)
        *err = BAD_PARAM_SYNTAX;
    if (r <= 0)
        return r;
    for (*k = 0; *k < n; (*k)++)
        if (ascii_ieq_n(p->kw, p->kwlen, names[*k]))
            break;
    if (*k == n) {
        *err = UNSUPPORTED_PARAM;
        return -1;
    }
    if (seen[*k]) {
        *err = DUPLICATE_PARAM;
        return -1;
    }
    seen[*k] = true;
    return 1;
}

enum mail_kw { MK_SIZE, MK_BODY, MK_SMTPUTF8, MK_RET, MK_ENVID, MK_AUTH, MK_REQUIRETLS, MK_COUNT };

static const char *
mail_params(const char *s, struct smtp_mail_params *mp)
{
    static const char *const names[MK_COUNT] = {"SIZE",  "BODY", "SMTPUTF8",  "RET",
                                                "ENVID", "AUTH", "REQUIRETLS"};
    bool seen[MK_COUNT] = {false};
    const char *err = NULL;
    struct param p;
    int r, k;

    while ((r = param_known(&s, &p, names, MK_COUNT, seen, &k, &err)) > 0) {
        switch (k) {
        case MK_SIZE:
            if (!size_value(&p, &mp->size))
                return "501 5.5.4 Bad SIZE value";
            mp->has_size = true;
            break;
        case MK_BODY:
            if (!p.has_val || (mp->body = keyword_value(p.val, p.vallen, body_keywords)) == 0)
                return "501 5.5.4 Bad BODY value";
            break;
        case MK_SMTPUTF8:
            /* RFC 6531 3.4: the parameter has no value. */
            if (p.has_val)
                return "501 5.5.4 SMTPUTF8 takes no value";
            mp->smtputf8 = true;
            break;
        case MK_RET:
            if (!p.has_val || (mp->ret = keyword_value(p.val, p.vallen, ret_keywords)) == 0)
                return "501 5.5.4 Bad RET value";
            break;
        case MK_ENVID:
            /* RFC 3461 4.4: xtext, at most 100 characters. */
            if (!p.has_val || p.vallen == 0 || p.vallen > SMTP_ENVID_MAX ||
                !xtext_valid_n(p.val, p.vallen))
                return "501 5.5.4 Bad ENVID value";
            copy_n(mp->envid, p.val, p.vallen);
            break;
        case MK_AUTH:
            /* RFC 4954 5: AUTH=xtext-encoded mailbox, or "<>". */
            if (!p.has_val || p.vallen == 0 || p.vallen >= sizeof(mp->auth) ||
                !(ascii_ieq_n(p.val, p.vallen, "<>") || xtext_valid_n(p.val, p.vallen)))
                return "501 5.5.4 Bad AUTH value";
            copy_n(mp->auth, p.val, p.vallen);
            break;
        case MK_REQUIRETLS:
            /* RFC 8689 2: a keyword alone, like SMTPUTF8. */
            if (p.has_val)
                return "501 5.5.4 REQUIRETLS takes no value";
            mp->requiretls = true;
            break;
        }
    }
    return r < 0 ? err : NULL;
}

/* NOTIFY="NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ) (RFC 3461 4.1).
 * A repeated list element is harmless and accepted; an empty one is not. */
static bool
notify_value(const struct param *p, unsigned *out)
{
    const char *s = p->val, *end = p->val + p->vallen;
    unsigned bits = 0;

    if (!p->has_val || p->vallen == 0)
        return false;
    for (;;) {
        const char *e = s;
        size_t n;
        int bit;

        while (e < end && *e != ',')
            e++;
        n = (size_t)(e - s);
        bit = keyword_value(s, n, notify_keywords);
        if (bit == 0)
            return false;
        bits |= (unsigned)bit;
        if (e == end)
            break;
        s = e + 1;
    }
    if ((bits & SMTP_NOTIFY_NEVER) && bits != SMTP_NOTIFY_NEVER)
        return false;
    *out = bits;
    return true;
}

/* ORCPT=addr-type ";" xtext (RFC 3461 4.2), addr-type an atom such as
 * "rfc822" or "utf-8" (RFC 6533), at most 500 characters in all. An empty
 * address after ';' names no recipient and is refused. */
static bool
orcpt_value(const struct param *p)
{
    size_t semi = 0;

    if (!p->has_val || p->vallen == 0 || p->vallen > SMTP_ORCPT_MAX)
        return false;
    while (semi < p->vallen && p->val[semi] != ';')
        semi++;
    if (semi == 0 || semi + 1 >= p->vallen)
        return false;
    for (size_t i = 0; i < semi; i++)
        if (!c_atext((unsigned char)p->val[i]))
            return false;
    return xtext_valid_n(p->val + semi + 1, p->vallen - semi - 1);
}

enum rcpt_kw { RK_NOTIFY, RK_ORCPT, RK_COUNT };

static const char *
rcpt_params(const char *s, struct smtp_rcpt_params *rp)
{
    static const char *const names[RK_COUNT] = {"NOTIFY", "ORCPT"};
    bool seen[RK_COUNT] = {false};
    const char *err = NULL;
    struct param p;
    int r, k;

    while ((r = param_known(&s, &p, names, RK_COUNT, seen, &k, &err)) > 0) {
        if (k == RK_NOTIFY) {
            if (!notify_value(&p, &rp->notify))
                return "501 5.5.4 Bad NOTIFY value";
        } else {
            if (!orcpt_value(&p))
                return "501 5.5.4 Bad ORCPT value";
            copy_n(rp->orcpt, p.val, p.vallen);
        }
    }
    return r < 0 ? err : NULL;
}

/* The replies for a MAIL or RCPT argument whose path is wrong. */
struct path_replies {
    const char *syntax, *bad, *too_long;
};

static const struct path_replies mail_replies = {BAD_MAIL_SYNTAX, BAD_SENDER, LONG_SENDER};
static const struct path_replies rcpt_replies = {BAD_RCPT_SYNTAX, BAD_RECIPIENT, LONG_RECIPIENT};

/*
 * "FROM:<path>" or "TO:<path>" (keyword) at the start of arg, up to the end
 * or the blank before the parameters (*rest then). A forward-path (RCPT)
 * has no null form (RFC 5321 4.1.1.3) and may be <Postmaster>. Returns
 * NULL, or the reply.
 */
static const char *
command_path(const char *arg, const char *keyword, bool forward, const struct path_replies *r,
             struct smtp_address *a, bool *nonascii, const char **rest)
{
    const char *s = arg;
    size_t used = 0;

    if (s == NULL || !ascii_iprefix(s, keyword))
        return r->syntax;
    s += strlen(keyword);
    /* RFC 5321 4.1.2 has no space here, but enough clients send one that
     * refusing it would only lose mail; one is tolerated, as Postfix does. */
    if (*s == ' ')
        s++;
    if (*s != '<')
        return r->syntax;
    if (forward && s[1] == '>')
        return r->bad;
    switch (path_parse(s, forward, a, nonascii, &used)) {
    case PATH_OK:
        break;
    case PATH_BAD:
        return r->bad;
    case PATH_LONG:
        return r->too_long;
    }
    s += used;
    if (*s != '\0' && !c_blank((unsigned char)*s))
        return r->bad;
    *rest = s;
    return NULL;
}

int
smtp_parse_mail(const char *arg, struct smtp_address *from, struct smtp_mail_params *params,
                const char **reply)
{
    const char *rest = NULL, *err;
    bool nonascii = false;

    memset(from, 0, sizeof(*from));
    memset(params, 0, sizeof(*params));
    err = command_path(arg, "FROM:", false, &mail_replies, from, &nonascii, &rest);
    if (err == NULL)
        err = mail_params(rest, params);
    /* RFC 6531 3.4: UTF-8 in the path only once SMTPUTF8 is declared. */
    if (err == NULL && nonascii && !params->smtputf8)
        err = NEED_SMTPUTF8;
    if (err != NULL) {
        memset(from, 0, sizeof(*from));
        memset(params, 0, sizeof(*params));
    }
    *reply = err;
    return err ? -1 : 0;
}

int
smtp_parse_rcpt(const char *arg, struct smtp_address *to, struct smtp_rcpt_params *params,
                const char **reply)
{
    const char *rest = NULL, *err;
    bool nonascii = false;

    memset(to, 0, sizeof(*to));
    memset(params, 0, sizeof(*params));
    /* UTF-8 is accepted here and flagged; whether the transaction may carry
     * it depends on the MAIL command's SMTPUTF8, which the session holds. */
    err = command_path(arg, "TO:", true, &rcpt_replies, to, &nonascii, &rest);
    if (err == NULL)
        err = rcpt_params(rest, params);
    if (err != NULL) {
        memset(to, 0, sizeof(*to));
        memset(params, 0, sizeof(*params));
    }
    *reply = err;
    return err ? -1 : 0;
}

bool
smtp_valid_helo(const char *arg)
{
    size_t n;
    bool utf8 = false;

    if (arg == NULL || arg[0] == '\0')
        return false;
    /* RFC 5321 4.1.1.1: Domain / address-literal; the absolute form with
     * one trailing dot is tolerated. */
    n = arg[0] == '[' ? literal_scan(arg) : name_scan(arg, true, &utf8);
    return n > 0 && arg[n] == '\0';
}

const char *
smtp_address_domain(const struct smtp_address *a)
{
    if (a->at < sizeof(a->addr) - 1 && a->addr[a->at] == '@')
        return a->addr + a->at + 1;
    return "";
}

void
smtp_command_parse(const char *line, struct smtp_command *cmd)
{
    static const struct {
        const char *name;
        enum smtp_verb verb;
    } verbs[] = {
        {"HELO", SMTP_VERB_HELO}, {"EHLO", SMTP_VERB_EHLO},         {"MAIL", SMTP_VERB_MAIL},
        {"RCPT", SMTP_VERB_RCPT}, {"DATA", SMTP_VERB_DATA},         {"BDAT", SMTP_VERB_BDAT},
        {"RSET", SMTP_VERB_RSET}, {"NOOP", SMTP_VERB_NOOP},         {"QUIT", SMTP_VERB_QUIT},
        {"VRFY", SMTP_VERB_VRFY}, {"EXPN", SMTP_VERB_EXPN},         {"HELP", SMTP_VERB_HELP},
        {"AUTH", SMTP_VERB_AUTH}, {"STARTTLS", SMTP_VERB_STARTTLS},
    };
    size_t n;
    const char *s;

    cmd->verb = SMTP_VERB_UNKNOWN;
    cmd->verb_text = "UNKNOWN";
    if (line == NULL) {
        cmd->arg = "";
        return;
    }
    /* The verb runs to the first SP (RFC 5321 4.1.1); the line is expected
     * to start with it, so leading blanks give UNKNOWN. */
    n = strcspn(line, " ");
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (ascii_ieq_n(line, n, verbs[i].name)) {
            cmd->verb = verbs[i].verb;
            cmd->verb_text = verbs[i].name;
            break;
        }
    }
    /* The line is const, so trailing blanks stay in arg; the MAIL/RCPT
     * parsers skip them, other callers trim a copy. */
    s = line + n;
    while (c_blank((unsigned char)*s))
        s++;
    cmd->arg = s;
}

/* RFC 4648 4 alphabet value of c, or -1. */
static int
b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/*
 * Strict RFC 4648 decoding: whole 4-character quanta, '=' only as the last
 * one or two characters, no whitespace, and pad bits zero (3.5 lets a
 * decoder refuse non-canonical input; no honest encoder produces it). The
 * lone "=" that RFC 4954 4 uses for an empty initial response is not base64
 * and is the AUTH caller's business.
 */
long
base64_decode(const char *in, size_t inlen, unsigned char *out, size_t outsize)
{
    size_t pad = 0, outlen, o = 0;

    if (inlen % 4 != 0)
        return -1;
    if (inlen > 0 && in[inlen - 1] == '=') {
        pad = 1;
        if (in[inlen - 2] == '=')
            pad = 2;
    }
    outlen = inlen / 4 * 3 - pad;
    if (outlen > LONG_MAX || outsize == 0 || outsize - 1 < outlen)
        return -1;
    for (size_t i = 0; i < inlen; i += 4) {
        int v[4];
        bool last = i + 4 == inlen;

        for (int k = 0; k < 4; k++) {
            if (last && (size_t)k >= 4 - pad) {
                v[k] = 0;
            } else {
                v[k] = b64_value((unsigned char)in[i + (size_t)k]);
                if (v[k] < 0)
                    return -1;
            }
        }
        if (last && pad == 2 && (v[1] & 0x0F) != 0)
            return -1;
        if (last && pad == 1 && (v[2] & 0x03) != 0)
            return -1;
        out[o++] = (unsigned char)((v[0] << 2) | (v[1] >> 4));
        if (!last || pad < 2)
            out[o++] = (unsigned char)(((v[1] & 0x0F) << 4) | (v[2] >> 2));
        if (!last || pad < 1)
            out[o++] = (unsigned char)(((v[2] & 0x03) << 6) | v[3]);
    }
    out[o] = '\0';
    return (long)o;
}

long
base64_encode(const unsigned char *in, size_t inlen, char *out, size_t outsize)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t quanta = inlen / 3 + (inlen % 3 != 0), o = 0;

    if (quanta > (size_t)(LONG_MAX / 4) || outsize == 0 || (outsize - 1) / 4 < quanta)
        return -1;
    for (size_t i = 0; i < inlen; i += 3) {
        unsigned b0 = in[i], b1 = i + 1 < inlen ? in[i + 1] : 0, b2 = i + 2 < inlen ? in[i + 2] : 0;

        out[o++] = alphabet[b0 >> 2];
        out[o++] = alphabet[((b0 & 0x03) << 4) | (b1 >> 4)];
        out[o++] = i + 1 < inlen ? alphabet[((b1 & 0x0F) << 2) | (b2 >> 6)] : '=';
        out[o++] = i + 2 < inlen ? alphabet[b2 & 0x3F] : '=';
    }
    out[o] = '\0';
    return (long)o;
}
