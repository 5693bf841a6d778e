/*
 * fuzz_ps_text.c — libFuzzer target for the shell's language as text: a
 * script (statements, ';', '|', '#' comments, backtick continuations,
 * quoted strings, lists, @(...), @{Add=..;Remove=..}, { blocks }) read by
 * ps_parse_text (admin/ps_parse.c); every script block and every simplified
 * Where-Object condition read by ps_filter_parse / ps_filter_simple
 * (admin/ps_filter.c); Format-List text read by ps_records_parse, then each
 * pipeline's Where-Object / Select-Object / Format- / ConvertTo-Json /
 * Export-Csv steps played on those records (admin/ps_record.c) with their
 * output kept in memory.
 *
 * Input: the script, then optionally a NUL and the Format-List text (the
 * script parser reads C strings, so a NUL can never be part of a script);
 * without a NUL, a fixed Get-ReceiveConnector-like text is used.
 *
 * Besides memory errors, leaks and UB it checks what the headers promise:
 * a refusal says why ("line L, column C: ..." for the parser, a message for
 * the filters); a parsed script is well formed (commands named, a value
 * for each unnamed element, lines in order); passing *incomplete changes
 * nothing else, and a script never reads as incomplete when it parses once
 * a line end is added (unless it ends with a `<line end> continuation,
 * which the next line completes), and a complete script stays complete
 * with a line end added; the
 * records a filter keeps are those it matches; Select-Object keeps each
 * property once; Format-List output reads back as the same records;
 * ConvertTo-Json prints valid JSON and Export-Csv fields that read back.
 * Must never: touch an instance directory, open a file or run a cmdlet
 * (output goes to memory streams only).
 */
#include "admin/ps_filter.h"
#include "admin/ps_parse.h"
#include "admin/ps_record.h"
#include "fuzz_common.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Pipelines played per input: enough for every combination of steps. */
#define MAX_PLAYED 8

/* Records used when the input brings none: what Get- prints. */
static const char default_records[] = "Identity               : Default\n"
                                      "Name                   : Default\n"
                                      "Enabled                : True\n"
                                      "Bindings               : {0.0.0.0:25, [::]:25}\n"
                                      "RemoteIPRanges         : {0.0.0.0-255.255.255.255}\n"
                                      "MaxMessageSize         : 35 MB (36,700,160 bytes)\n"
                                      "RequireTLS             : False\n"
                                      "Comment                :\n"
                                      "\n"
                                      "Identity               : Partners\n"
                                      "Name                   : Partners\n"
                                      "Enabled                : False\n"
                                      "Bindings               : {127.0.0.1:2526}\n"
                                      "MaxMessageSize         : unlimited\n"
                                      "RequireTLS             : True\n"
                                      "Banner                 : 220 \"hi\", \\ there\n"
                                      "MaxRecipientsPerMessage: 200\n";

/* ---- output streams in memory ---- */

struct mem_out {
    FILE *f;
    char *buf;
    size_t len;
};

static void
mem_open(struct mem_out *m)
{
    m->buf = NULL;
    m->len = 0;
    if ((m->f = open_memstream(&m->buf, &m->len)) == NULL)
        abort();
}

/* Closes the stream; m->buf holds the text (NUL-terminated). */
static void
mem_close(struct mem_out *m)
{
    if (fclose(m->f) != 0)
        abort();
    m->f = NULL;
}

/* ---- the script parser ---- */

static size_t
count_lines(const char *s)
{
    size_t n = 1;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void
check_value(const struct ps_value *v, unsigned depth)
{
    char *text;

    FUZZ_CHECK(v != NULL && depth < 10000);
    FUZZ_CHECK(v->kind >= PSV_STRING && v->kind <= PSV_SUBEXPR);
    switch (v->kind) {
    case PSV_STRING:
    case PSV_BLOCK:
    case PSV_CURRENT:
    case PSV_SUBEXPR:
        FUZZ_CHECK(v->text != NULL);
        break;
    case PSV_HASH:
        for (size_t i = 0; i < v->nitems; i++)
            FUZZ_CHECK(v->keys[i] != NULL && v->keys[i][0] != '\0');
        break;
    case PSV_ARRAY:
    case PSV_BOOL:
    case PSV_NULL:
        break;
    }
    for (size_t i = 0; i < v->nitems; i++)
        check_value(v->items[i], depth + 1);
    text = ps_value_text(v);
    FUZZ_CHECK(text != NULL);
    free(text);
}

/* What ps_parse.h says a parsed script is. */
static void
check_script(const char *text, const struct ps_script *s)
{
    unsigned last = 1;
    size_t lines = count_lines(text);

    for (size_t i = 0; i < s->npipes; i++) {
        const struct ps_pipeline *p = &s->pipes[i];
        FUZZ_CHECK(p->ncmds > 0);
        FUZZ_CHECK(p->line >= last && p->line <= lines);
        last = p->line;
        for (size_t c = 0; c < p->ncmds; c++) {
            const struct ps_command *cmd = &p->cmds[c];
            FUZZ_CHECK(cmd->name != NULL && cmd->name[0] != '\0');
            for (size_t e = 0; e < cmd->nelems; e++) {
                FUZZ_CHECK(cmd->elems[e].name != NULL || cmd->elems[e].value != NULL);
                if (cmd->elems[e].value != NULL)
                    check_value(cmd->elems[e].value, 0);
            }
        }
    }
}

/* A refusal: "line L, column C: reason", L a line of the text. */
static void
check_refusal(const char *text, const char *err)
{
    unsigned l = 0, c = 0;
    int n = 0;

    FUZZ_CHECK(err[0] != '\0');
    FUZZ_CHECK(sscanf(err, "line %u, column %u: %n", &l, &c, &n) == 2 && n > 0);
    FUZZ_CHECK(err[n] != '\0');
    FUZZ_CHECK(l >= 1 && l <= count_lines(text) && c >= 1);
}

/* Does text end with a line continuation, "`\n" or "`\r\n"? */
static bool
ends_continued(const char *text, size_t len)
{
    return (len >= 2 && memcmp(text + len - 2, "`\n", 2) == 0) ||
           (len >= 3 && memcmp(text + len - 3, "`\r\n", 3) == 0);
}

/* Parses text three ways (without and with *incomplete, and with a line
 * end added); returns the first result (0 with *s filled, or -1). */
static int
parse_script(const char *text, size_t len, struct ps_script *s)
{
    char err1[512], err2[512], err3[512];
    bool incomplete = true, incomplete_nl = true;
    struct ps_script s2, s3;
    char *with_nl = xmalloc(len + 2);
    int rc1, rc2, rc3;

    err1[0] = err2[0] = err3[0] = '\0';
    rc1 = ps_parse_text(text, s, NULL, err1, sizeof(err1));
    rc2 = ps_parse_text(text, &s2, &incomplete, err2, sizeof(err2));
    memcpy(with_nl, text, len);
    memcpy(with_nl + len, "\n", 2);
    rc3 = ps_parse_text(with_nl, &s3, &incomplete_nl, err3, sizeof(err3));

    FUZZ_CHECK(rc1 == 0 || rc1 == -1);
    /* *incomplete is an extra answer, not a different parse */
    FUZZ_CHECK(rc1 == rc2 && strcmp(err1, err2) == 0);
    if (rc1 == 0) {
        FUZZ_CHECK(!incomplete);
        FUZZ_CHECK(s->npipes == s2.npipes);
        check_script(text, s);
        ps_script_free(&s2);
        /* a line end ends the last statement; the script stays the same */
        FUZZ_CHECK(rc3 == 0 && s3.npipes == s->npipes);
    } else {
        check_refusal(text, err1);
        /* "more text could complete it": not when a line end already did,
         * unless the text ends with a continuation (`<line end>): that
         * waits for the next line, which an empty one ends */
        if (rc3 == 0 && !ends_continued(text, len))
            FUZZ_CHECK(!incomplete);
    }
    if (rc3 == 0) {
        FUZZ_CHECK(!incomplete_nl);
        check_script(with_nl, &s3);
        ps_script_free(&s3);
    } else {
        check_refusal(with_nl, err3);
    }
    free(with_nl);
    return rc1;
}

/* ---- what a pipeline does with records ---- */

static const char *const where_names[] = {"Where-Object", "where", "?", NULL};
static const char *const select_names[] = {"Select-Object", "select", NULL};
static const char *const fl_names[] = {"Format-List", "fl", NULL};
static const char *const ft_names[] = {"Format-Table", "ft", NULL};

static bool
named(const struct ps_command *cmd, const char *const *names)
{
    for (; *names; names++)
        if (str_ieq(cmd->name, *names))
            return true;
    return false;
}

/* Property names: a word or a list of words (others are left out). */
static void
prop_names(const struct ps_value *v, char ***props, size_t *n)
{
    const struct ps_value *const *items = &v;
    size_t count = 1;

    if (v == NULL)
        return;
    if (v->kind == PSV_ARRAY) {
        items = (const struct ps_value *const *)v->items;
        count = v->nitems;
    }
    for (size_t i = 0; i < count && *n < 32; i++) {
        if (items[i]->kind != PSV_STRING)
            continue;
        *props = xrealloc(*props, (*n + 1) * sizeof(**props));
        (*props)[(*n)++] = xstrdup(items[i]->text);
    }
}

static void
props_free(char **props, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(props[i]);
    free(props);
}

/* The value after element *i: attached, or the next unnamed element. */
static const struct ps_value *
param_value(const struct ps_command *cmd, size_t *i)
{
    if (cmd->elems[*i].value != NULL)
        return cmd->elems[*i].value;
    if (*i + 1 < cmd->nelems && cmd->elems[*i + 1].name == NULL)
        return cmd->elems[++*i].value;
    return NULL;
}

/* A filter from a Where-Object command: its script block, or the
 * simplified Prop -op value. NULL when it has neither or it is refused. */
static struct ps_filter *
where_filter(const struct ps_command *cmd)
{
    const char *prop = NULL, *op = NULL;
    const struct ps_value *value = NULL;
    char err[512] = "";
    struct ps_filter *f;

    for (size_t i = 0; i < cmd->nelems; i++) {
        const struct ps_element *e = &cmd->elems[i];
        if (e->name == NULL && e->value->kind == PSV_BLOCK) {
            if ((f = ps_filter_parse(e->value->text, err, sizeof(err))) == NULL)
                FUZZ_CHECK(err[0] != '\0');
            return f;
        }
        if (e->name == NULL && e->value->kind == PSV_STRING && prop == NULL)
            prop = e->value->text;
        else if (e->name == NULL && op != NULL && value == NULL)
            value = e->value;
        else if (e->name != NULL && op == NULL) {
            op = e->name;
            value = e->value;
        }
    }
    if (prop == NULL)
        return NULL;
    if ((f = ps_filter_simple(prop, op, value, err, sizeof(err))) == NULL)
        FUZZ_CHECK(err[0] != '\0');
    return f;
}

/* Every block anywhere in a value, read as a condition: the filter parser
 * must refuse or accept any text. */
static void
blocks_as_filters(const struct ps_value *v, const struct ps_records *recs)
{
    char err[512] = "";
    struct ps_filter *f;

    if (v == NULL)
        return;
    if (v->kind == PSV_BLOCK) {
        if ((f = ps_filter_parse(v->text, err, sizeof(err))) == NULL) {
            FUZZ_CHECK(err[0] != '\0');
        } else {
            for (size_t i = 0; i < recs->n; i++)
                (void)ps_filter_match(f, &recs->v[i]);
            ps_filter_free(f);
        }
    }
    for (size_t i = 0; i < v->nitems; i++)
        blocks_as_filters(v->items[i], recs);
}

static bool
keep_matching(const struct ps_record *r, void *f)
{
    return ps_filter_match(f, r);
}

/* Format-List's output reads back as the same records (a value ending in
 * CR aside: the reader takes CR LF as a line end). */
static void
check_list_reads_back(const struct ps_records *recs, const char *text)
{
    struct ps_records back = {0};

    FUZZ_CHECK(ps_records_parse(text, &back) == 0);
    FUZZ_CHECK(back.n == recs->n);
    for (size_t i = 0; i < recs->n && i < back.n; i++) {
        for (size_t k = 0; k < recs->v[i].n; k++) {
            const char *name = recs->v[i].names[k];
            const char *want = ps_record_get(&recs->v[i], name);
            const char *got = ps_record_get(&back.v[i], name);
            size_t wl = strlen(want);
            if (wl > 0 && want[wl - 1] == '\r')
                continue;
            FUZZ_CHECK(got != NULL && strcmp(got, want) == 0);
        }
    }
    ps_records_free(&back);
}

/* ---- a small JSON checker (RFC 8259 syntax; octets >= 0x80 pass) ---- */

static const char *json_skip(const char *p);

static const char *
json_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static const char *
json_string_end(const char *p)
{
    if (*p++ != '"')
        return NULL;
    for (;;) {
        unsigned char c = (unsigned char)*p++;
        if (c == '"')
            return p;
        if (c < 0x20)
            return NULL; /* includes the end of the text */
        if (c == '\\') {
            c = (unsigned char)*p++;
            if (c == 'u') {
                for (int i = 0; i < 4; i++, p++)
                    if (!strchr("0123456789abcdefABCDEF", *p) || *p == '\0')
                        return NULL;
            } else if (!strchr("\"\\/bfnrt", c) || c == '\0') {
                return NULL;
            }
        }
    }
}

static const char *
json_number_end(const char *p)
{
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (*p == '.') {
        if (!(*++p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return p;
}

/* The end of the value at p, NULL when it is not one. */
static const char *
json_skip(const char *p)
{
    p = json_ws(p);
    if (*p == '"')
        return json_string_end(p);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        p = json_ws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            if (close == '}') {
                if ((p = json_string_end(json_ws(p))) == NULL)
                    return NULL;
                p = json_ws(p);
                if (*p++ != ':')
                    return NULL;
            }
            if ((p = json_skip(p)) == NULL)
                return NULL;
            p = json_ws(p);
            if (*p == close)
                return p + 1;
            if (*p++ != ',')
                return NULL;
        }
    }
    if (strncmp(p, "true", 4) == 0 || strncmp(p, "null", 4) == 0)
        return p + 4;
    if (strncmp(p, "false", 5) == 0)
        return p + 5;
    return json_number_end(p);
}

static void
check_json(const struct ps_records *recs, const char *text)
{
    const char *end;

    if (recs->n == 0) {
        FUZZ_CHECK(text[0] == '\0');
        return;
    }
    end = json_skip(text);
    FUZZ_CHECK(end != NULL && *json_ws(end) == '\0');
}

/* ---- Export-Csv's rows read back ---- */

/* One quoted field at *p into buf (malloc'd); moves *p past it. */
static char *
csv_read_field(const char **p)
{
    const char *s = *p;
    char *out, *o;

    FUZZ_CHECK(*s == '"');
    out = o = xmalloc(strlen(s) + 1);
    for (s++;; s++) {
        FUZZ_CHECK(*s != '\0');
        if (*s == '"') {
            if (s[1] != '"')
                break;
            s++;
        }
        *o++ = *s;
    }
    *o = '\0';
    *p = s + 1;
    return out;
}

static void
check_csv(const struct ps_records *recs, const char *text)
{
    const struct ps_record *head = recs->n ? &recs->v[0] : NULL;
    const char *p = text;

    if (head == NULL) {
        FUZZ_CHECK(text[0] == '\0');
        return;
    }
    for (size_t row = 0; row <= recs->n; row++) {
        for (size_t k = 0; k < head->n; k++) {
            const char *want;
            char *got;
            if (k > 0)
                FUZZ_CHECK(*p++ == ',');
            got = csv_read_field(&p);
            if (row == 0)
                want = head->names[k];
            else if ((want = ps_record_get(&recs->v[row - 1], head->names[k])) == NULL)
                want = "";
            FUZZ_CHECK(strcmp(got, want) == 0);
            free(got);
        }
        FUZZ_CHECK(*p++ == '\n');
    }
    FUZZ_CHECK(*p == '\0');
}

/* Every output form of the records, checked where the header says what it
 * is; from_text: the records are as ps_records_parse read them. */
static void
print_all(const struct ps_records *recs, char *const *props, size_t nprops, bool from_text)
{
    struct mem_out m;

    mem_open(&m);
    ps_print_list(m.f, recs, NULL, 0);
    mem_close(&m);
    /* Select-Object may add a property of any name (one with blanks, or
     * empty); the records read from text have names Format-List shows */
    if (from_text)
        check_list_reads_back(recs, m.buf);
    free(m.buf);

    mem_open(&m);
    ps_print_list(m.f, recs, props, nprops);
    ps_print_table(m.f, recs, NULL, 0);
    ps_print_table(m.f, recs, props, nprops);
    mem_close(&m);
    free(m.buf);

    mem_open(&m);
    ps_print_json(m.f, recs);
    mem_close(&m);
    check_json(recs, m.buf);
    free(m.buf);

    mem_open(&m);
    ps_print_csv(m.f, recs);
    mem_close(&m);
    check_csv(recs, m.buf);
    free(m.buf);
}

/* Select-Object with property names: each record has each resolved name
 * once. */
static void
check_selected(const struct ps_records *recs)
{
    for (size_t i = 0; i < recs->n; i++)
        for (size_t a = 0; a < recs->v[i].n; a++)
            for (size_t b = a + 1; b < recs->v[i].n; b++)
                FUZZ_CHECK(!str_ieq(recs->v[i].names[a], recs->v[i].names[b]));
}

/* A small number from -First / -Last (0 when it is not one). */
static size_t
small_count(const struct ps_value *v)
{
    if (v == NULL || v->kind != PSV_STRING || strlen(v->text) > 3)
        return 0;
    return (size_t)strtoul(v->text, NULL, 10);
}

/* One pipeline's built-in commands, played on a fresh copy of the
 * records; cmdlets are left out (nothing runs). */
static void
play_pipeline(const struct ps_pipeline *p, const char *fl_text)
{
    struct ps_records recs = {0};
    char **props = NULL;
    size_t nprops = 0;
    bool selected = false;

    if (ps_records_parse(fl_text, &recs) < 0) {
        ps_records_free(&recs);
        return;
    }
    for (size_t c = 0; c < p->ncmds; c++) {
        const struct ps_command *cmd = &p->cmds[c];
        for (size_t e = 0; e < cmd->nelems; e++)
            blocks_as_filters(cmd->elems[e].value, &recs);
        if (named(cmd, where_names)) {
            struct ps_filter *f = where_filter(cmd);
            size_t matching = 0;
            if (f == NULL)
                continue;
            for (size_t i = 0; i < recs.n; i++) {
                bool m = ps_filter_match(f, &recs.v[i]);
                FUZZ_CHECK(m == ps_filter_match(f, &recs.v[i]));
                matching += m;
            }
            ps_records_filter(&recs, keep_matching, f);
            FUZZ_CHECK(recs.n == matching);
            for (size_t i = 0; i < recs.n; i++)
                FUZZ_CHECK(ps_filter_match(f, &recs.v[i]));
            ps_filter_free(f);
        } else if (named(cmd, select_names) || named(cmd, fl_names) || named(cmd, ft_names)) {
            size_t first = 0, last = 0;
            props_free(props, nprops);
            props = NULL;
            nprops = 0;
            for (size_t e = 0; e < cmd->nelems; e++) {
                const char *name = cmd->elems[e].name;
                if (name == NULL)
                    prop_names(cmd->elems[e].value, &props, &nprops);
                else if (str_ieq(name, "First"))
                    first = small_count(param_value(cmd, &e));
                else if (str_ieq(name, "Last"))
                    last = small_count(param_value(cmd, &e));
                else if (str_ieq(name, "Property"))
                    prop_names(param_value(cmd, &e), &props, &nprops);
            }
            if (named(cmd, select_names)) {
                size_t before = recs.n;
                ps_records_select(&recs, props, nprops, first, last);
                selected = selected || nprops > 0;
                if (nprops > 0)
                    check_selected(&recs);
                FUZZ_CHECK(recs.n <= before);
                if (first > 0)
                    FUZZ_CHECK(recs.n <= first);
                if (last > 0)
                    FUZZ_CHECK(recs.n <= last);
            }
        }
    }
    print_all(&recs, props, nprops, !selected);
    props_free(props, nprops);
    ps_records_free(&recs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    size_t script_len = strlen(s);
    const char *fl_text = script_len < size ? s + script_len + 1 : default_records;
    struct ps_script script;

    if (parse_script(s, script_len, &script) == 0) {
        for (size_t i = 0; i < script.npipes && i < MAX_PLAYED; i++)
            play_pipeline(&script.pipes[i], fl_text);
        ps_script_free(&script);
    }
    /* the records alone, whatever the script was */
    {
        struct ps_records recs = {0};
        if (ps_records_parse(fl_text, &recs) == 0)
            print_all(&recs, NULL, 0, true);
        ps_records_free(&recs);
    }
    free(s);
    return 0;
}
