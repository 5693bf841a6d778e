/*
 * ps_parse.c — the command language's parser (see ps_parse.h): a
 * recursive descent over the text, with PowerShell's argument-mode rules
 * for what a bare word is.
 *
 * Must never: read past the end of the text, or turn something it does not
 * understand into a value (an error says where instead).
 */
#include "admin/ps_parse.h"
#include "lib/strbuf.h"
#include "lib/util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct scan {
    const char *s;
    size_t pos;
    char *err;
    size_t errlen;
    bool failed;
    bool incomplete; /* the text stopped where more was expected */
};

/* ---- small tools ---- */

static int
peek(const struct scan *sc)
{
    return (unsigned char)sc->s[sc->pos];
}

static int
peek_at(const struct scan *sc, size_t ahead)
{
    for (size_t i = 0; i < ahead; i++)
        if (sc->s[sc->pos + i] == '\0')
            return 0;
    return (unsigned char)sc->s[sc->pos + ahead];
}

static unsigned
line_of(const struct scan *sc, size_t pos, unsigned *col)
{
    unsigned line = 1, c = 1;

    for (size_t i = 0; i < pos && sc->s[i]; i++) {
        if (sc->s[i] == '\n') {
            line++;
            c = 1;
        } else {
            c++;
        }
    }
    if (col)
        *col = c;
    return line;
}

static void fail(struct scan *sc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
fail(struct scan *sc, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    unsigned line, col;

    if (sc->failed)
        return;
    sc->failed = true;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    line = line_of(sc, sc->pos, &col);
    snprintf(sc->err, sc->errlen, "line %u, column %u: %s", line, col, what);
}

/* The text ended where more was expected: an error, and a sign to the
 * shell that another line may complete it. */
static void
fail_incomplete(struct scan *sc, const char *what)
{
    fail(sc, "%s", what);
    sc->incomplete = true;
}

/* Skips blanks, comments and backtick line continuations; newlines too
 * when newlines is set. */
static void
skip_space(struct scan *sc, bool newlines)
{
    for (;;) {
        int c = peek(sc);
        if (c == ' ' || c == '\t' || (newlines && (c == '\n' || c == '\r'))) {
            sc->pos++;
        } else if (c == '`' && (peek_at(sc, 1) == '\n' || peek_at(sc, 1) == '\r')) {
            /* a line ends at LF, CR LF or CR (as at_statement_end has it) */
            sc->pos += peek_at(sc, 1) == '\r' && peek_at(sc, 2) == '\n' ? 3 : 2;
            if (peek(sc) == '\0') {
                fail_incomplete(sc, "the line continues after '`'");
                return;
            }
        } else if (c == '`' && peek_at(sc, 1) == '\0') {
            sc->pos++;
            fail_incomplete(sc, "the line continues after '`'");
            return;
        } else if (c == '#') {
            while (peek(sc) != '\0' && peek(sc) != '\n')
                sc->pos++;
        } else {
            return;
        }
    }
}

/* Characters that end a bare word in argument mode. */
static bool
ends_word(int c)
{
    return c == '\0' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || strchr("|;,(){}", c);
}

static struct ps_value *
value_new(enum ps_value_kind kind, char *text)
{
    struct ps_value *v = xcalloc(1, sizeof(*v));

    v->kind = kind;
    v->text = text;
    return v;
}

static void
value_add(struct ps_value *v, struct ps_value *item, char *key)
{
    // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sized as such
    v->items = xrealloc(v->items, (v->nitems + 1) * sizeof(*v->items));
    if (v->kind == PSV_HASH) {
        v->keys = xrealloc(v->keys, (v->nitems + 1) * sizeof(*v->keys));
        v->keys[v->nitems] = key;
    }
    v->items[v->nitems++] = item;
}

void
ps_value_free(struct ps_value *v)
{
    if (v == NULL)
        return;
    /* values may be passwords */
    str_free_wiped(v->text);
    for (size_t i = 0; i < v->nitems; i++) {
        ps_value_free(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v);
}

/* ---- values ---- */

static struct ps_value *parse_expr(struct scan *sc);

/* 'literal': '' stands for one quote. */
/* The text of a quoted string as a value ('$null' stays a string). */
static struct ps_value *
quoted_string(struct strbuf *b)
{
    struct ps_value *v = value_new(PSV_STRING, strbuf_take(b));

    v->quoted = true;
    return v;
}

/* Reports an unterminated construct where it opened. */
static void
fail_open(struct scan *sc, size_t start, const char *what)
{
    sc->pos = start;
    fail_incomplete(sc, what);
}

/* The character a backtick escape stands for (PowerShell's about_Special_
 * Characters); any other character stands for itself. */
static int
backtick_char(int c)
{
    switch (c) {
    case '0':
        return '\0';
    case 'a':
        return '\a';
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'v':
        return '\v';
    default:
        return c;
    }
}

/* Does "$..." at the scanner start a variable PowerShell would expand? */
static bool
starts_variable(const struct scan *sc)
{
    int n = peek_at(sc, 1);

    return peek(sc) == '$' && (isalpha(n) || n == '_' || n == '{' || n == '(' || n == '?');
}

/* 'literal' ('' for one quote) or "expandable" (backtick escapes, "" for
 * one quote). Variables in "..." would be expanded by PowerShell (to
 * nothing, when unknown): refused, so that a password with a '$' is not
 * silently changed. */
static struct ps_value *
parse_quoted(struct scan *sc)
{
    struct strbuf b = {0};
    size_t start = sc->pos;
    char quote = sc->s[sc->pos];
    bool expandable = quote == '"';

    sc->pos++;
    for (;;) {
        int c = peek(sc);
        if (c == '\0') {
            str_free_wiped(b.s);
            fail_open(sc, start,
                      expandable ? "the string has no closing \"" : "the string has no closing '");
            return NULL;
        }
        if (expandable && starts_variable(sc)) {
            str_free_wiped(b.s);
            fail(sc, "variables in \"...\" are not supported; use '...' for a literal $");
            return NULL;
        }
        sc->pos++;
        if (expandable && c == '`') {
            if (peek(sc) == '\0') {
                str_free_wiped(b.s);
                fail_open(sc, start, "the string has no closing \"");
                return NULL;
            }
            c = backtick_char(peek(sc));
            sc->pos++;
            if (c == '\0') {
                str_free_wiped(b.s);
                fail(sc, "a NUL character (`0) cannot be part of a value");
                return NULL;
            }
        } else if (c == quote) {
            if (peek(sc) != quote)
                break;
            sc->pos++;
        }
        strbuf_putc(&b, (char)c);
    }
    return quoted_string(&b);
}

static bool
is_name_char(int c)
{
    return isalnum(c) || c == '_';
}

/* $true $false $null $_ $_.Property */
static struct ps_value *
parse_variable(struct scan *sc)
{
    size_t start = ++sc->pos;
    char name[64];
    size_t n;

    while (is_name_char(peek(sc)))
        sc->pos++;
    n = sc->pos - start;
    if (n == 0 || n >= sizeof(name)) {
        fail(sc, "'$' must name $true, $false, $null or $_");
        return NULL;
    }
    memcpy(name, sc->s + start, n);
    name[n] = '\0';
    if (str_ieq(name, "true") || str_ieq(name, "false")) {
        struct ps_value *v = value_new(PSV_BOOL, NULL);
        v->truth = str_ieq(name, "true");
        return v;
    }
    if (str_ieq(name, "null"))
        return value_new(PSV_NULL, NULL);
    if (strcmp(name, "_") == 0 || str_ieq(name, "PSItem")) {
        struct strbuf b = {0};
        if (peek(sc) == '.') {
            sc->pos++;
            while (is_name_char(peek(sc)))
                strbuf_putc(&b, (char)sc->s[sc->pos++]);
            if (b.len == 0) {
                fail(sc, "a property name must follow '$_.'");
                return NULL;
            }
            if (peek(sc) == '.' || peek(sc) == '(' || peek(sc) == '[') {
                free(b.s);
                fail(sc, "only $_.Property is supported (no methods, indexes or sub-properties)");
                return NULL;
            }
        }
        return value_new(PSV_CURRENT, strbuf_take(&b));
    }
    fail(sc, "$%s: variables are not supported (only $true, $false, $null and $_)", name);
    return NULL;
}

/* A bare word in argument mode; a backtick takes the next character
 * literally. */
static struct ps_value *
parse_bare_word(struct scan *sc)
{
    struct strbuf b = {0};

    while (!ends_word(peek(sc))) {
        int c = peek(sc);
        if (c == '\'' || c == '"') {
            /* 'a'b or a"b": PowerShell joins the parts; keep it simple */
            free(b.s);
            fail(sc, "a quote inside a word: quote the whole value");
            return NULL;
        }
        if (c == '`') {
            /* `<line end> continues the line: it ends the word, as a blank
             * would (skip_space takes it), and is never part of it */
            if (peek_at(sc, 1) == '\n' || peek_at(sc, 1) == '\r')
                break;
            sc->pos++;
            if (peek(sc) == '\0') {
                free(b.s);
                fail_incomplete(sc, "the line continues after '`'");
                return NULL;
            }
            c = backtick_char(peek(sc));
        }
        strbuf_putc(&b, (char)c);
        sc->pos++;
    }
    if (b.len == 0) {
        fail(sc, "unexpected '%c'", peek(sc) ? peek(sc) : ' ');
        return NULL;
    }
    return value_new(PSV_STRING, strbuf_take(&b));
}

/* { ... }: the text between the braces, quotes and nested braces
 * respected; Where-Object reads it. */
static struct ps_value *
parse_block(struct scan *sc)
{
    size_t start = ++sc->pos;
    int depth = 1;
    char quote = 0;

    for (; depth > 0; sc->pos++) {
        int c = peek(sc);
        if (c == '\0') {
            fail_open(sc, start - 1, "the script block has no closing }");
            return NULL;
        }
        if (quote) {
            if (c == '`' && quote == '"' && peek_at(sc, 1) != '\0')
                sc->pos++;
            else if (c == quote)
                quote = 0;
        } else if (c == '\'' || c == '"') {
            quote = (char)c;
        } else if (c == '{') {
            depth++;
        } else if (c == '}') {
            depth--;
        }
    }
    return value_new(PSV_BLOCK, xstrndup(sc->s + start, sc->pos - 1 - start));
}

/* @( a, b; c ): the items of a list, over several lines if need be. */
static struct ps_value *
parse_array_literal(struct scan *sc)
{
    struct ps_value *list = value_new(PSV_ARRAY, NULL);

    sc->pos += 2;
    for (;;) {
        skip_space(sc, true);
        while (peek(sc) == ';' || peek(sc) == ',') {
            sc->pos++;
            skip_space(sc, true);
        }
        if (sc->failed)
            break;
        if (peek(sc) == ')') {
            sc->pos++;
            return list;
        }
        if (peek(sc) == '\0') {
            fail_incomplete(sc, "@( has no closing )");
            break;
        }
        struct ps_value *v = parse_expr(sc);
        if (v == NULL)
            break;
        if (v->kind == PSV_ARRAY) { /* @(a, b): the commas made a list already */
            for (size_t i = 0; i < v->nitems; i++)
                value_add(list, v->items[i], NULL);
            v->nitems = 0;
            ps_value_free(v);
        } else {
            value_add(list, v, NULL);
        }
    }
    ps_value_free(list);
    return NULL;
}

/* @{ Key = value; Key2 = value2 } */
static struct ps_value *
parse_hash(struct scan *sc)
{
    struct ps_value *h = value_new(PSV_HASH, NULL);

    sc->pos += 2;
    for (;;) {
        struct strbuf key = {0};
        struct ps_value *v;

        skip_space(sc, true);
        while (peek(sc) == ';') {
            sc->pos++;
            skip_space(sc, true);
        }
        if (sc->failed)
            break;
        if (peek(sc) == '}') {
            sc->pos++;
            return h;
        }
        if (peek(sc) == '\0') {
            fail_incomplete(sc, "@{ has no closing }");
            break;
        }
        if (peek(sc) == '\'' || peek(sc) == '"') {
            struct ps_value *k = parse_quoted(sc);
            if (k == NULL)
                break;
            key.s = xstrdup(k->text);
            ps_value_free(k);
        } else {
            while (is_name_char(peek(sc)))
                strbuf_putc(&key, (char)sc->s[sc->pos++]);
        }
        if (key.s == NULL || *key.s == '\0') {
            free(key.s);
            fail(sc, "a key is expected in @{...}");
            break;
        }
        skip_space(sc, false);
        if (peek(sc) != '=') {
            fail(sc, "'=' is expected after the key %s", key.s);
            free(key.s);
            break;
        }
        sc->pos++;
        skip_space(sc, false);
        if ((v = parse_expr(sc)) == NULL) {
            free(key.s);
            break;
        }
        value_add(h, v, key.s);
        skip_space(sc, false);
        if (peek(sc) != ';' && peek(sc) != '}' && peek(sc) != '\n' && peek(sc) != '\r') {
            fail(sc, "';' or '}' is expected in @{...}");
            break;
        }
    }
    ps_value_free(h);
    return NULL;
}

/* (Get-Credential): a command whose result is a value. Only commands
 * without arguments are taken; the runner says which it can evaluate. */
static struct ps_value *
parse_subexpr(struct scan *sc)
{
    struct strbuf name = {0};

    sc->pos++;
    skip_space(sc, false);
    while (is_name_char(peek(sc)) || peek(sc) == '-')
        strbuf_putc(&name, (char)sc->s[sc->pos++]);
    skip_space(sc, false);
    if (name.len == 0 || peek(sc) != ')') {
        free(name.s);
        if (peek(sc) == '\0')
            fail_incomplete(sc, "( has no closing )");
        else
            fail(sc, "only a command without arguments, such as (Get-Credential), is "
                     "supported in parentheses");
        return NULL;
    }
    sc->pos++;
    return value_new(PSV_SUBEXPR, strbuf_take(&name));
}

static struct ps_value *
parse_primary(struct scan *sc)
{
    int c = peek(sc);

    if (c == '\'' || c == '"')
        return parse_quoted(sc);
    if (c == '$')
        return parse_variable(sc);
    if (c == '@' && peek_at(sc, 1) == '(')
        return parse_array_literal(sc);
    if (c == '@' && peek_at(sc, 1) == '{')
        return parse_hash(sc);
    if (c == '{')
        return parse_block(sc);
    if (c == '(')
        return parse_subexpr(sc);
    return parse_bare_word(sc);
}

/* A value and the values that follow it after commas (a list). A comma
 * at the end of a line continues the list on the next. */
static struct ps_value *
parse_expr(struct scan *sc)
{
    struct ps_value *first = parse_primary(sc), *list = NULL;

    if (first == NULL)
        return NULL;
    for (;;) {
        struct ps_value *next;
        skip_space(sc, false);
        if (sc->failed || peek(sc) != ',')
            break;
        sc->pos++;
        skip_space(sc, true);
        if (peek(sc) == '\0') {
            fail_incomplete(sc, "a value must follow ','");
            break;
        }
        if ((next = parse_primary(sc)) == NULL)
            break;
        if (list == NULL) {
            list = value_new(PSV_ARRAY, NULL);
            value_add(list, first, NULL);
        }
        value_add(list, next, NULL);
    }
    if (sc->failed) {
        ps_value_free(list ? list : first);
        return NULL;
    }
    return list ? list : first;
}

/* ---- commands, pipelines, statements ---- */

static void
command_free(struct ps_command *c)
{
    free(c->name);
    for (size_t i = 0; i < c->nelems; i++) {
        free(c->elems[i].name);
        ps_value_free(c->elems[i].value);
    }
    free(c->elems);
}

static void
command_add(struct ps_command *c, char *name, struct ps_value *value)
{
    c->elems = xrealloc(c->elems, (c->nelems + 1) * sizeof(*c->elems));
    c->elems[c->nelems].name = name;
    c->elems[c->nelems].value = value;
    c->nelems++;
}

static bool
at_statement_end(const struct scan *sc)
{
    int c = peek(sc);

    return c == '\0' || c == ';' || c == '\n' || c == '\r' || c == '|';
}

static int
parse_command(struct scan *sc, struct ps_command *cmd)
{
    struct strbuf name = {0};

    memset(cmd, 0, sizeof(*cmd));
    if (peek(sc) == '?' && ends_word(peek_at(sc, 1))) { /* ? is Where-Object */
        strbuf_putc(&name, '?');
        sc->pos++;
    } else {
        while (is_name_char(peek(sc)) || peek(sc) == '-')
            strbuf_putc(&name, (char)sc->s[sc->pos++]);
    }
    if (name.len == 0 || (name.s[0] != '?' && !isalpha((unsigned char)name.s[0])) ||
        !ends_word(peek(sc))) {
        free(name.s);
        if (peek(sc) == '\0')
            fail_incomplete(sc, "a command is expected");
        else
            fail(sc, "a command name is expected");
        return -1;
    }
    cmd->name = name.s;
    for (;;) {
        skip_space(sc, false);
        if (sc->failed)
            return -1;
        if (at_statement_end(sc))
            return 0;
        if (peek(sc) == ')' || peek(sc) == '}') {
            fail(sc, "unexpected '%c'", peek(sc));
            return -1;
        }
        if (peek(sc) == '-' && (isalpha(peek_at(sc, 1)) || peek_at(sc, 1) == '_')) {
            struct strbuf param = {0};
            struct ps_value *value = NULL;
            sc->pos++;
            while (is_name_char(peek(sc)) || peek(sc) == '-')
                strbuf_putc(&param, (char)sc->s[sc->pos++]);
            if (peek(sc) == ':') {
                sc->pos++;
                skip_space(sc, false);
                if (at_statement_end(sc)) {
                    fail(sc, "a value must follow -%s:", param.s ? param.s : "");
                    free(param.s);
                    return -1;
                }
                if ((value = parse_expr(sc)) == NULL) {
                    free(param.s);
                    return -1;
                }
            } else if (!ends_word(peek(sc))) {
                free(param.s);
                fail(sc, "a parameter name may hold letters, digits and '_' only");
                return -1;
            }
            command_add(cmd, param.s, value);
            continue;
        }
        struct ps_value *v = parse_expr(sc);
        if (v == NULL)
            return -1;
        command_add(cmd, NULL, v);
    }
}

static void
pipeline_free(struct ps_pipeline *p)
{
    for (size_t i = 0; i < p->ncmds; i++)
        command_free(&p->cmds[i]);
    free(p->cmds);
}

static int
parse_pipeline(struct scan *sc, struct ps_pipeline *p)
{
    memset(p, 0, sizeof(*p));
    p->line = line_of(sc, sc->pos, NULL);
    for (;;) {
        struct ps_command cmd;
        if (parse_command(sc, &cmd) < 0) {
            command_free(&cmd);
            return -1;
        }
        p->cmds = xrealloc(p->cmds, (p->ncmds + 1) * sizeof(*p->cmds));
        p->cmds[p->ncmds++] = cmd;
        if (peek(sc) != '|')
            return 0;
        sc->pos++;
        skip_space(sc, true);
        if (sc->failed)
            return -1;
        if (peek(sc) == '\0') {
            fail_incomplete(sc, "a command must follow '|'");
            return -1;
        }
    }
}

void
ps_script_free(struct ps_script *s)
{
    for (size_t i = 0; i < s->npipes; i++)
        pipeline_free(&s->pipes[i]);
    free(s->pipes);
    s->pipes = NULL;
    s->npipes = 0;
}

int
ps_parse_text(const char *text, struct ps_script *out, bool *incomplete, char *err, size_t errlen)
{
    struct scan sc = {.s = text, .err = err, .errlen = errlen};

    memset(out, 0, sizeof(*out));
    for (;;) {
        struct ps_pipeline p;
        skip_space(&sc, true);
        while (peek(&sc) == ';') {
            sc.pos++;
            skip_space(&sc, true);
        }
        if (sc.failed)
            break;
        if (peek(&sc) == '\0')
            break;
        if (parse_pipeline(&sc, &p) < 0) {
            pipeline_free(&p);
            break;
        }
        out->pipes = xrealloc(out->pipes, (out->npipes + 1) * sizeof(*out->pipes));
        out->pipes[out->npipes++] = p;
    }
    if (incomplete)
        *incomplete = sc.failed && sc.incomplete;
    if (sc.failed) {
        ps_script_free(out);
        return -1;
    }
    return 0;
}

/* ---- the POSIX command line ---- */

/* Would the word, read as language text on its own, keep its quotes
 * balanced? (An apostrophe in a word the POSIX shell unquoted, as in
 * it's, makes it a literal.) */
static bool
quotes_balanced(const char *w)
{
    char quote = 0;

    for (; *w; w++) {
        if (quote == '"' && *w == '`' && w[1] != '\0')
            w++;
        else if (quote && *w == quote)
            quote = 0;
        else if (!quote && (*w == '\'' || *w == '"'))
            quote = *w;
    }
    return quote == 0;
}

/* A word the POSIX shell handed over whole, to be taken as one string. */
static bool
literal_word(const char *w)
{
    bool blanks = strpbrk(w, " \t\r\n") != NULL;
    bool construct = w[0] == '{' || (w[0] == '@' && (w[1] == '{' || w[1] == '('));
    size_t len = strlen(w);

    if (*w == '\0' || !quotes_balanced(w))
        return true;
    /* kept whole by the POSIX shell: literal, unless it is itself language
     * text that starts and ends as one construct ('a b', {...}, @{...}) */
    if (blanks)
        return !(construct || ((w[0] == '\'' || w[0] == '"') && w[len - 1] == w[0]));
    /* a character the POSIX shell treats as special (; | ( ) & < >) was
     * quoted there: part of a value (contoso.com;5, 10.0.0.0(255.0.0.0)),
     * unless it stands alone or opens a construct: '|', ';',
     * '(Get-Credential)' */
    if (strpbrk(w, ";|()&<>") != NULL)
        return !construct && strcmp(w, ";") != 0 && strcmp(w, "|") != 0 &&
               !(w[0] == '(' && w[len - 1] == ')');
    /* '$ecret' typed in single quotes at the POSIX prompt */
    if (w[0] == '$')
        return !(str_ieq(w, "$true") || str_ieq(w, "$false") || str_ieq(w, "$null") ||
                 strncmp(w, "$_", 2) == 0);
    return false;
}

static void
put_literal(struct strbuf *b, const char *w)
{
    strbuf_putc(b, '\'');
    for (; *w; w++) {
        if (*w == '\'')
            strbuf_putc(b, '\'');
        strbuf_putc(b, *w);
    }
    strbuf_putc(b, '\'');
}

/* The length of "-Name:" at the start of w, 0 if w does not start so. */
static size_t
attached_param(const char *w)
{
    size_t n = 1;

    if (w[0] != '-' || !isalpha((unsigned char)w[1]))
        return 0;
    while (is_name_char((unsigned char)w[n]))
        n++;
    return w[n] == ':' ? n + 1 : 0;
}

int
ps_parse_argv(int argc, char **argv, struct ps_script *out, char *err, size_t errlen)
{
    struct strbuf b = {0};
    int rc;

    if (argc == 1 && !literal_word(argv[0]))
        return ps_parse_text(argv[0], out, NULL, err, errlen);
    for (int i = 0; i < argc; i++) {
        const char *w = argv[i];
        size_t param = i > 0 ? attached_param(w) : 0;
        if (i > 0)
            strbuf_putc(&b, ' ');
        /* -Name:value: the value is a word of its own */
        for (size_t k = 0; k < param; k++)
            strbuf_putc(&b, w[k]);
        w += param;
        if (i > 0 && literal_word(w)) {
            put_literal(&b, w);
        } else {
            for (; *w; w++)
                strbuf_putc(&b, *w);
        }
    }
    rc = ps_parse_text(b.s ? b.s : "", out, NULL, err, errlen);
    str_free_wiped(b.s);
    return rc;
}

/* ---- values as argument text ---- */

static void value_text(struct strbuf *b, const struct ps_value *v);

/* An item of @{Key=...} in the configuration's syntax: quoted when the
 * parser there would otherwise split it (';', '}', blanks, '='). */
static void
hash_item_text(struct strbuf *b, const struct ps_value *v)
{
    if (v->kind == PSV_ARRAY) {
        for (size_t i = 0; i < v->nitems; i++) {
            if (i > 0)
                strbuf_putc(b, ',');
            hash_item_text(b, v->items[i]);
        }
        return;
    }
    if (v->kind == PSV_STRING && strpbrk(v->text, ";}{= \t'\"") != NULL) {
        char q = strchr(v->text, '\'') ? '"' : '\'';
        strbuf_putc(b, q);
        strbuf_puts(b, v->text);
        strbuf_putc(b, q);
        return;
    }
    value_text(b, v);
}

static void
value_text(struct strbuf *b, const struct ps_value *v)
{
    switch (v->kind) {
    case PSV_STRING:
    case PSV_SUBEXPR:
        strbuf_puts(b, v->text);
        break;
    case PSV_BOOL:
        strbuf_puts(b, v->truth ? "$true" : "$false");
        break;
    case PSV_NULL:
        strbuf_puts(b, "$null");
        break;
    case PSV_ARRAY:
        for (size_t i = 0; i < v->nitems; i++) {
            if (i > 0)
                strbuf_putc(b, ',');
            value_text(b, v->items[i]);
        }
        break;
    case PSV_HASH:
        strbuf_puts(b, "@{");
        for (size_t i = 0; i < v->nitems; i++) {
            if (i > 0)
                strbuf_puts(b, "; ");
            strbuf_puts(b, v->keys[i]);
            strbuf_putc(b, '=');
            hash_item_text(b, v->items[i]);
        }
        strbuf_putc(b, '}');
        break;
    case PSV_BLOCK:
        strbuf_putc(b, '{');
        strbuf_puts(b, v->text);
        strbuf_putc(b, '}');
        break;
    case PSV_CURRENT:
        strbuf_puts(b, "$_");
        if (*v->text) {
            strbuf_putc(b, '.');
            strbuf_puts(b, v->text);
        }
        break;
    }
}

char *
ps_value_text(const struct ps_value *v)
{
    struct strbuf b = {0};

    value_text(&b, v);
    return strbuf_take(&b);
}
