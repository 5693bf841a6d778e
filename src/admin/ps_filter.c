/*
 * ps_filter.c — Where-Object's conditions (see ps_filter.h): a small
 * expression parser and its evaluation against one record.
 * Must never: read a property the record does not have as anything but
 * $null.
 */
#include "admin/ps_filter.h"
#include "lib/util.h"

#include <ctype.h>
#include <fnmatch.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum op {
    OP_EQ,
    OP_NE,
    OP_GT,
    OP_GE,
    OP_LT,
    OP_LE,
    OP_LIKE,
    OP_NOTLIKE,
    OP_MATCH,
    OP_NOTMATCH,
    OP_CONTAINS,
    OP_NOTCONTAINS,
};

static const struct {
    const char *name;
    enum op op;
} op_names[] = {
    {"eq", OP_EQ},
    {"ne", OP_NE},
    {"gt", OP_GT},
    {"ge", OP_GE},
    {"lt", OP_LT},
    {"le", OP_LE},
    {"like", OP_LIKE},
    {"notlike", OP_NOTLIKE},
    {"match", OP_MATCH},
    {"notmatch", OP_NOTMATCH},
    {"contains", OP_CONTAINS},
    {"notcontains", OP_NOTCONTAINS},
};

enum operand_kind { OPD_PROP, OPD_STRING, OPD_NUMBER, OPD_BOOL, OPD_NULL };

struct operand {
    enum operand_kind kind;
    char *text; /* OPD_PROP: the property ("" for $_ itself); OPD_STRING */
    double number;
    bool truth;
};

enum node_kind { N_OR, N_AND, N_NOT, N_CMP, N_VALUE };

struct ps_filter {
    enum node_kind kind;
    struct ps_filter *a, *b;
    enum op op;
    bool case_sensitive;
    struct operand left, right;
    regex_t re; /* OP_MATCH / OP_NOTMATCH with a constant pattern */
    bool has_re;
};

/* ---- reading ---- */

struct lex {
    const char *s;
    size_t pos;
    char *err;
    size_t errlen;
    bool failed;
};

static void
lex_fail(struct lex *lx, const char *what)
{
    if (!lx->failed)
        snprintf(lx->err, lx->errlen, "Where-Object: %s (at \"%.20s\")", what, lx->s + lx->pos);
    lx->failed = true;
}

static void
lex_space(struct lex *lx)
{
    while (isspace((unsigned char)lx->s[lx->pos]))
        lx->pos++;
}

static void
operand_free(struct operand *o)
{
    free(o->text);
    o->text = NULL;
}

void
ps_filter_free(struct ps_filter *f)
{
    if (f == NULL)
        return;
    ps_filter_free(f->a);
    ps_filter_free(f->b);
    operand_free(&f->left);
    operand_free(&f->right);
    if (f->has_re)
        regfree(&f->re);
    free(f);
}

/* 10, 1.5, 10MB, 64KB: PowerShell's numeric literals with size suffixes. */
static bool
parse_number_literal(const char *s, size_t *used, double *out)
{
    char *end;
    double v;
    static const struct {
        const char *suffix;
        double factor;
    } suffixes[] = {
        {"kb", 1024.0}, {"mb", 1048576.0}, {"gb", 1073741824.0}, {"tb", 1099511627776.0}};

    if (!isdigit((unsigned char)s[0]) && !(s[0] == '-' && isdigit((unsigned char)s[1])))
        return false;
    v = strtod(s, &end);
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        if (strncasecmp(end, suffixes[i].suffix, 2) == 0) {
            v *= suffixes[i].factor;
            end += 2;
            break;
        }
    }
    if (isalnum((unsigned char)*end) || *end == '_')
        return false;
    *used = (size_t)(end - s);
    *out = v;
    return true;
}

static bool
read_operand(struct lex *lx, struct operand *o)
{
    const char *s = lx->s + lx->pos;
    size_t used;

    memset(o, 0, sizeof(*o));
    if (s[0] == '$') {
        size_t n = 1;
        while (isalnum((unsigned char)s[n]) || s[n] == '_')
            n++;
        if ((n == 2 && s[1] == '_') || (n == 7 && strncasecmp(s + 1, "PSItem", 6) == 0)) {
            size_t p = n;
            o->kind = OPD_PROP;
            if (s[n] == '.') {
                p = n + 1;
                while (isalnum((unsigned char)s[p]) || s[p] == '_')
                    p++;
                if (p == n + 1) {
                    lex_fail(lx, "a property name must follow '$_.'");
                    return false;
                }
                o->text = xstrndup(s + n + 1, p - n - 1);
                if (s[p] == '.' || s[p] == '(' || s[p] == '[') {
                    lex_fail(lx, "only $_.Property is supported (no methods, indexes or "
                                 "sub-properties)");
                    return false;
                }
            } else {
                o->text = xstrdup("");
            }
            lx->pos += p;
            return true;
        }
        if (n == 5 && strncasecmp(s, "$true", 5) == 0) {
            o->kind = OPD_BOOL;
            o->truth = true;
        } else if (n == 6 && strncasecmp(s, "$false", 6) == 0) {
            o->kind = OPD_BOOL;
        } else if (n == 5 && strncasecmp(s, "$null", 5) == 0) {
            o->kind = OPD_NULL;
        } else {
            lex_fail(lx, "only $_, $_.Property, $true, $false and $null are supported");
            return false;
        }
        lx->pos += n;
        return true;
    }
    if (s[0] == '\'' || s[0] == '"') {
        char q = s[0], *text = xmalloc(strlen(s) + 1);
        size_t i = 1, n = 0;
        for (;;) {
            if (s[i] == '\0') {
                free(text);
                lex_fail(lx, "a string has no closing quote");
                return false;
            }
            if (q == '"' && s[i] == '$') {
                free(text);
                lex_fail(lx, "variables in \"...\" are not supported");
                return false;
            }
            if (q == '"' && s[i] == '`' && s[i + 1] != '\0') {
                text[n++] = s[i + 1];
                i += 2;
                continue;
            }
            if (s[i] == q) {
                if (s[i + 1] != q)
                    break;
                i++;
            }
            text[n++] = s[i++];
        }
        text[n] = '\0';
        o->kind = OPD_STRING;
        o->text = text;
        lx->pos += i + 1;
        return true;
    }
    if (parse_number_literal(s, &used, &o->number)) {
        o->kind = OPD_NUMBER;
        o->text = xstrndup(s, used);
        lx->pos += used;
        return true;
    }
    lex_fail(lx, "a value is expected ($_.Property, a quoted string, a number, $true, $false or "
                 "$null)");
    return false;
}

/* "-word" at the cursor, lower-cased into buf; 0 if none. */
static size_t
peek_dash_word(struct lex *lx, char *buf, size_t len)
{
    const char *s = lx->s + lx->pos;
    size_t n = 0;

    if (s[0] != '-' || !isalpha((unsigned char)s[1]))
        return 0;
    while (isalpha((unsigned char)s[1 + n]) && n + 1 < len) {
        buf[n] = (char)tolower((unsigned char)s[1 + n]);
        n++;
    }
    buf[n] = '\0';
    return n + 1;
}

static bool
find_op(const char *word, enum op *op, bool *case_sensitive)
{
    *case_sensitive = false;
    if (word[0] == 'c' || word[0] == 'i') {
        for (size_t i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++) {
            if (strcmp(word + 1, op_names[i].name) == 0) {
                *op = op_names[i].op;
                *case_sensitive = word[0] == 'c';
                return true;
            }
        }
    }
    for (size_t i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++) {
        if (strcmp(word, op_names[i].name) == 0) {
            *op = op_names[i].op;
            return true;
        }
    }
    return false;
}

static struct ps_filter *parse_or(struct lex *lx);

static bool
compile_match(struct ps_filter *f, char *err, size_t errlen)
{
    if (f->op != OP_MATCH && f->op != OP_NOTMATCH)
        return true;
    if (f->right.kind != OPD_STRING && f->right.kind != OPD_NUMBER) {
        snprintf(err, errlen, "Where-Object: -match takes a quoted pattern");
        return false;
    }
    if (regcomp(&f->re, f->right.text,
                REG_EXTENDED | REG_NOSUB | (f->case_sensitive ? 0 : REG_ICASE)) != 0) {
        snprintf(err, errlen, "Where-Object: '%s' is not a valid pattern", f->right.text);
        return false;
    }
    f->has_re = true;
    return true;
}

static struct ps_filter *
parse_primary(struct lex *lx)
{
    struct ps_filter *f;
    char word[16];
    size_t n;

    lex_space(lx);
    if (lx->s[lx->pos] == '(') {
        lx->pos++;
        if ((f = parse_or(lx)) == NULL)
            return NULL;
        lex_space(lx);
        if (lx->s[lx->pos] != ')') {
            ps_filter_free(f);
            lex_fail(lx, "')' is expected");
            return NULL;
        }
        lx->pos++;
        return f;
    }
    f = xcalloc(1, sizeof(*f));
    f->kind = N_VALUE;
    if (!read_operand(lx, &f->left)) {
        ps_filter_free(f);
        return NULL;
    }
    lex_space(lx);
    if ((n = peek_dash_word(lx, word, sizeof(word))) > 0 &&
        find_op(word, &f->op, &f->case_sensitive)) {
        lx->pos += n;
        lex_space(lx);
        f->kind = N_CMP;
        if (!read_operand(lx, &f->right) || !compile_match(f, lx->err, lx->errlen)) {
            lx->failed = true;
            ps_filter_free(f);
            return NULL;
        }
    }
    return f;
}

static struct ps_filter *
parse_not(struct lex *lx)
{
    char word[16];
    size_t n = 1;

    lex_space(lx);
    if (lx->s[lx->pos] == '!' ||
        ((n = peek_dash_word(lx, word, sizeof(word))) > 0 && strcmp(word, "not") == 0)) {
        struct ps_filter *f = xcalloc(1, sizeof(*f));
        lx->pos += n;
        f->kind = N_NOT;
        if ((f->a = parse_not(lx)) == NULL) {
            ps_filter_free(f);
            return NULL;
        }
        return f;
    }
    return parse_primary(lx);
}

static struct ps_filter *
parse_binary(struct lex *lx, const char *opword, enum node_kind kind,
             struct ps_filter *(*next)(struct lex *))
{
    struct ps_filter *left = next(lx);
    char word[16];
    size_t n;

    while (left != NULL) {
        lex_space(lx);
        if ((n = peek_dash_word(lx, word, sizeof(word))) == 0 || strcmp(word, opword) != 0)
            break;
        lx->pos += n;
        struct ps_filter *f = xcalloc(1, sizeof(*f));
        f->kind = kind;
        f->a = left;
        if ((f->b = next(lx)) == NULL) {
            ps_filter_free(f);
            return NULL;
        }
        left = f;
    }
    return left;
}

static struct ps_filter *
parse_and(struct lex *lx)
{
    return parse_binary(lx, "and", N_AND, parse_not);
}

static struct ps_filter *
parse_or(struct lex *lx)
{
    return parse_binary(lx, "or", N_OR, parse_and);
}

struct ps_filter *
ps_filter_parse(const char *text, char *err, size_t errlen)
{
    struct lex lx = {.s = text, .err = err, .errlen = errlen};
    struct ps_filter *f = parse_or(&lx);

    lex_space(&lx);
    if (f != NULL && lx.s[lx.pos] != '\0') {
        lex_fail(&lx, "this part of the condition is not supported");
        ps_filter_free(f);
        return NULL;
    }
    if (f == NULL && !lx.failed)
        lex_fail(&lx, "a condition is expected");
    /* f is allocated by the parser; nothing of lx is in it (cppcheck's
     * lifetime check follows the parser's function pointer too far) */
    // cppcheck-suppress returnDanglingLifetime
    return f;
}

struct ps_filter *
ps_filter_simple(const char *prop, const char *op, const struct ps_value *value, char *err,
                 size_t errlen)
{
    struct ps_filter *f = xcalloc(1, sizeof(*f));
    char word[16];

    f->kind = N_VALUE;
    f->left.kind = OPD_PROP;
    f->left.text = xstrdup(prop);
    if (op == NULL)
        return f;
    snprintf(word, sizeof(word), "%s", op);
    str_lower(word);
    if (!find_op(word, &f->op, &f->case_sensitive) || value == NULL) {
        snprintf(err, errlen, "Where-Object: -%s: %s", op,
                 value == NULL ? "a value is required" : "not a supported operator");
        ps_filter_free(f);
        return NULL;
    }
    f->kind = N_CMP;
    switch (value->kind) {
    case PSV_BOOL:
        f->right.kind = OPD_BOOL;
        f->right.truth = value->truth;
        break;
    case PSV_NULL:
        f->right.kind = OPD_NULL;
        break;
    case PSV_STRING: {
        size_t used;
        if (!value->quoted && parse_number_literal(value->text, &used, &f->right.number) &&
            value->text[used] == '\0') {
            f->right.kind = OPD_NUMBER;
        } else {
            f->right.kind = OPD_STRING;
        }
        f->right.text = xstrdup(value->text);
        break;
    }
    default:
        snprintf(err, errlen, "Where-Object: -%s takes one value", op);
        ps_filter_free(f);
        return NULL;
    }
    if (!compile_match(f, err, errlen)) {
        ps_filter_free(f);
        return NULL;
    }
    return f;
}

/* ---- evaluating ---- */

/* A record's text as a number: "200", "unlimited" (infinite), "10 MB
 * (10,485,760 bytes)". */
static bool
text_number(const char *s, double *out)
{
    const char *open;
    char *end;

    if (str_ieq(s, "unlimited")) {
        *out = INFINITY;
        return true;
    }
    if (*s != '\0') {
        *out = strtod(s, &end);
        if (*end == '\0' && end != s)
            return true;
    }
    if ((open = strrchr(s, '(')) != NULL && strstr(open, " bytes)") != NULL) {
        double v = 0;
        bool digits = false;
        for (const char *p = open + 1; *p && *p != ' '; p++) {
            if (isdigit((unsigned char)*p)) {
                v = v * 10 + (*p - '0');
                digits = true;
            } else if (*p != ',') {
                return false;
            }
        }
        *out = v;
        return digits;
    }
    return false;
}

static bool
text_truth(const char *s)
{
    double n;

    if (s == NULL || *s == '\0' || str_ieq(s, "False") || str_ieq(s, "{}"))
        return false;
    if (text_number(s, &n))
        return n != 0;
    return true;
}

/* Compares one text with the right operand; <0, 0, >0, or 2 when they
 * cannot be ordered (a comparison that is then false). */
static int
compare(const struct ps_filter *f, const char *left, const struct operand *right)
{
    double a;

    switch (right->kind) {
    case OPD_BOOL:
        return text_truth(left) == right->truth ? 0 : 2;
    case OPD_NULL:
        return left == NULL || *left == '\0' ? 0 : 2;
    case OPD_NUMBER:
        if (left != NULL && text_number(left, &a))
            return a < right->number ? -1 : a > right->number ? 1 : 0;
        break;
    default:
        break;
    }
    if (left == NULL)
        return 2;
    return f->case_sensitive ? strcmp(left, right->text) : strcasecmp(left, right->text);
}

static bool
test_one(const struct ps_filter *f, const char *left)
{
    int c;

    switch (f->op) {
    case OP_EQ:
    case OP_CONTAINS:
        return compare(f, left, &f->right) == 0;
    case OP_NE:
    case OP_NOTCONTAINS:
        return compare(f, left, &f->right) != 0;
    case OP_GT:
        return (c = compare(f, left, &f->right)) > 0 && c != 2;
    case OP_GE:
        return (c = compare(f, left, &f->right)) >= 0 && c != 2;
    case OP_LT:
        return compare(f, left, &f->right) < 0;
    case OP_LE:
        return compare(f, left, &f->right) <= 0;
    case OP_LIKE:
    case OP_NOTLIKE: {
        bool m = left != NULL && f->right.text != NULL &&
                 fnmatch(f->right.text, left, f->case_sensitive ? 0 : FNM_CASEFOLD) == 0;
        return f->op == OP_LIKE ? m : !m;
    }
    case OP_MATCH:
    case OP_NOTMATCH: {
        bool m = left != NULL && regexec(&f->re, left, 0, NULL, 0) == 0;
        return f->op == OP_MATCH ? m : !m;
    }
    }
    return false;
}

static const char *
operand_text(const struct operand *o, const struct ps_record *r)
{
    if (o->kind != OPD_PROP)
        return o->text;
    if (*o->text == '\0')
        return ps_record_identity(r);
    return ps_record_get(r, o->text);
}

/* The negative operators hold when no item matches; the others when one
 * does. */
static bool
negative(enum op op)
{
    return op == OP_NE || op == OP_NOTLIKE || op == OP_NOTMATCH || op == OP_NOTCONTAINS;
}

static bool
eval_cmp(const struct ps_filter *f, const struct ps_record *r)
{
    const char *left = operand_text(&f->left, r);
    char **items;
    size_t n;
    bool result;

    if (left == NULL || left[0] != '{' || f->right.kind == OPD_BOOL || f->right.kind == OPD_NULL)
        return test_one(f, left);
    n = ps_list_items(left, &items);
    result = negative(f->op);
    for (size_t i = 0; i < n; i++) {
        bool t = test_one(f, items[i]);
        if (negative(f->op) && !t)
            result = false;
        if (!negative(f->op) && t)
            result = true;
    }
    ps_list_free(items, n);
    return result;
}

bool
ps_filter_match(const struct ps_filter *f, const struct ps_record *r)
{
    switch (f->kind) {
    case N_OR:
        return ps_filter_match(f->a, r) || ps_filter_match(f->b, r);
    case N_AND:
        return ps_filter_match(f->a, r) && ps_filter_match(f->b, r);
    case N_NOT:
        return !ps_filter_match(f->a, r);
    case N_CMP:
        return eval_cmp(f, r);
    case N_VALUE:
        switch (f->left.kind) {
        case OPD_BOOL:
            return f->left.truth;
        case OPD_NULL:
            return false;
        case OPD_NUMBER:
            return f->left.number != 0;
        default:
            return text_truth(operand_text(&f->left, r));
        }
    }
    return false;
}
