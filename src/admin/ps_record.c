/*
 * ps_record.c — pipeline objects and their output forms (see ps_record.h).
 * Must never: print a value unescaped into JSON or CSV.
 */
#include "admin/ps_record.h"
#include "lib/util.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

static void
record_add(struct ps_record *r, const char *name, size_t nlen, const char *value, size_t vlen)
{
    r->names = xrealloc(r->names, (r->n + 1) * sizeof(*r->names));
    r->values = xrealloc(r->values, (r->n + 1) * sizeof(*r->values));
    r->names[r->n] = xstrndup(name, nlen);
    r->values[r->n] = xstrndup(value, vlen);
    r->n++;
}

static void
record_free(struct ps_record *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->names[i]);
        free(r->values[i]);
    }
    free(r->names);
    free(r->values);
    memset(r, 0, sizeof(*r));
}

static struct ps_record *
records_append(struct ps_records *out)
{
    out->v = xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
    memset(&out->v[out->n], 0, sizeof(out->v[out->n]));
    return &out->v[out->n++];
}

int
ps_records_parse(const char *text, struct ps_records *out)
{
    struct ps_record *cur = NULL;
    const char *line = text;

    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        size_t name_len = 0, colon;

        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (len == 0) {
            cur = NULL;
        } else {
            while (name_len < len && !isspace((unsigned char)line[name_len]) &&
                   line[name_len] != ':')
                name_len++;
            colon = name_len;
            while (colon < len && line[colon] == ' ')
                colon++;
            if (name_len == 0 || colon >= len || line[colon] != ':')
                return -1;
            colon++;
            if (colon < len && line[colon] == ' ')
                colon++;
            if (cur == NULL)
                cur = records_append(out);
            record_add(cur, line, name_len, line + colon, len - colon);
        }
        if (end == NULL)
            break;
        line = end + 1;
    }
    return 0;
}

void
ps_records_free(struct ps_records *r)
{
    for (size_t i = 0; i < r->n; i++)
        record_free(&r->v[i]);
    free(r->v);
    r->v = NULL;
    r->n = 0;
}

const char *
ps_record_get(const struct ps_record *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (str_ieq(r->names[i], name))
            return r->values[i];
    return NULL;
}

const char *
ps_record_identity(const struct ps_record *r)
{
    static const char *const names[] = {"Identity", "Name", "Thumbprint"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *id = ps_record_get(r, names[i]);
        if (id != NULL && *id)
            return id;
    }
    return NULL;
}

static bool
name_matches(const char *pattern, const char *name)
{
    return fnmatch(pattern, name, FNM_CASEFOLD) == 0;
}

/* The property names the patterns stand for, against the records' own
 * (in pattern order, each once); *n 0 with no patterns or a "*": all. */
static char **
resolve_props(const struct ps_records *r, char *const *props, size_t nprops, size_t *n)
{
    char **names = NULL;

    *n = 0;
    for (size_t p = 0; p < nprops; p++) {
        bool found = false;
        bool wild = strpbrk(props[p], "*?[") != NULL;
        for (size_t i = 0; i < r->n; i++) {
            for (size_t j = 0; j < r->v[i].n; j++) {
                const char *name = r->v[i].names[j];
                bool seen = false;
                if (!name_matches(props[p], name))
                    continue;
                found = true;
                for (size_t k = 0; k < *n; k++)
                    seen = seen || str_ieq(names[k], name);
                if (!seen) {
                    names = xrealloc(names, (*n + 1) * sizeof(*names));
                    names[(*n)++] = xstrdup(name);
                }
            }
        }
        if (!found && !wild) { /* asked for by name: shown empty, once */
            bool seen = false;
            for (size_t k = 0; k < *n; k++)
                seen = seen || str_ieq(names[k], props[p]);
            if (!seen) {
                names = xrealloc(names, (*n + 1) * sizeof(*names));
                names[(*n)++] = xstrdup(props[p]);
            }
        }
    }
    return names;
}

static void
names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The names to show: those asked for, else every property of the first
 * record and any the others add. */
static char **
shown_props(const struct ps_records *r, char *const *props, size_t nprops, size_t *n)
{
    static char *const all[] = {"*"};

    if (nprops == 0)
        return resolve_props(r, all, 1, n);
    return resolve_props(r, props, nprops, n);
}

void
ps_records_select(struct ps_records *r, char *const *props, size_t nprops, size_t first,
                  size_t last)
{
    if (nprops > 0) {
        size_t n;
        char **names = resolve_props(r, props, nprops, &n);
        for (size_t i = 0; i < r->n; i++) {
            struct ps_record sel = {0};
            for (size_t k = 0; k < n; k++) {
                const char *v = ps_record_get(&r->v[i], names[k]);
                record_add(&sel, names[k], strlen(names[k]), v ? v : "", v ? strlen(v) : 0);
            }
            record_free(&r->v[i]);
            r->v[i] = sel;
        }
        names_free(names, n);
    }
    if (first > 0 && first < r->n) {
        for (size_t i = first; i < r->n; i++)
            record_free(&r->v[i]);
        r->n = first;
    }
    if (last > 0 && last < r->n) {
        size_t drop = r->n - last;
        for (size_t i = 0; i < drop; i++)
            record_free(&r->v[i]);
        memmove(r->v, r->v + drop, last * sizeof(*r->v));
        r->n = last;
    }
}

void
ps_records_filter(struct ps_records *r, bool (*keep)(const struct ps_record *, void *), void *arg)
{
    size_t kept = 0;

    for (size_t i = 0; i < r->n; i++) {
        if (keep(&r->v[i], arg))
            r->v[kept++] = r->v[i];
        else
            record_free(&r->v[i]);
    }
    r->n = kept;
}

void
ps_print_list(FILE *out, const struct ps_records *r, char *const *props, size_t nprops)
{
    size_t n;
    char **names = shown_props(r, props, nprops, &n);
    int width = 0;

    for (size_t k = 0; k < n; k++)
        if ((int)strlen(names[k]) > width)
            width = (int)strlen(names[k]);
    for (size_t i = 0; i < r->n; i++) {
        if (i > 0)
            fputc('\n', out);
        for (size_t k = 0; k < n; k++) {
            const char *v = ps_record_get(&r->v[i], names[k]);
            if (v == NULL && nprops == 0)
                continue; /* another kind of object's property */
            if (v != NULL && *v)
                fprintf(out, "%-*s : %s\n", width, names[k], v);
            else
                fprintf(out, "%-*s :\n", width, names[k]);
        }
    }
    names_free(names, n);
}

void
ps_print_table(FILE *out, const struct ps_records *r, char *const *props, size_t nprops)
{
    size_t n;
    char **names = shown_props(r, props, nprops, &n);
    size_t *width;

    if (nprops == 0 && n > 4) { /* a table of everything is unreadable */
        for (size_t k = 4; k < n; k++)
            free(names[k]);
        n = 4;
    }
    width = xcalloc(n ? n : 1, sizeof(*width));
    for (size_t k = 0; k < n; k++) {
        width[k] = strlen(names[k]);
        for (size_t i = 0; i < r->n; i++) {
            const char *v = ps_record_get(&r->v[i], names[k]);
            if (v && strlen(v) > width[k])
                width[k] = strlen(v);
        }
    }
    for (int row = -2; row < (int)r->n; row++) {
        for (size_t k = 0; k < n; k++) {
            const char *v;
            if (row == -2)
                v = names[k];
            else if (row == -1)
                v = NULL;
            else
                v = ps_record_get(&r->v[row], names[k]);
            if (row == -1) {
                for (size_t c = 0; c < strlen(names[k]); c++)
                    fputc('-', out);
                if (k + 1 < n)
                    fprintf(out, "%*s", (int)(width[k] - strlen(names[k]) + 1), "");
            } else if (k + 1 < n) {
                fprintf(out, "%-*s ", (int)width[k], v ? v : "");
            } else {
                fputs(v ? v : "", out);
            }
        }
        fputc('\n', out);
    }
    free(width);
    names_free(names, n);
}

size_t
ps_list_items(const char *value, char ***items)
{
    size_t len = strlen(value), n = 0;
    const char *s, *end;

    *items = NULL;
    if (len < 2 || value[0] != '{' || value[len - 1] != '}')
        return 0;
    s = value + 1;
    end = value + len - 1;
    while (s < end && *s == ' ')
        s++;
    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *stop = comma ? comma : end;
        const char *e = stop;
        while (e > s && e[-1] == ' ')
            e--;
        *items = xrealloc(*items, (n + 1) * sizeof(**items));
        (*items)[n++] = xstrndup(s, (size_t)(e - s));
        if (comma == NULL)
            break;
        s = comma + 1;
        while (s < end && *s == ' ')
            s++;
    }
    return n;
}

void
ps_list_free(char **items, size_t n)
{
    names_free(items, n);
}

static void
json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static bool
whole_number(const char *s)
{
    size_t i = s[0] == '-' ? 1 : 0;

    if (s[i] == '\0' || strlen(s) > 15 || (s[i] == '0' && s[i + 1] != '\0'))
        return false;
    for (; s[i]; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static void
json_value(FILE *out, const char *v)
{
    char **items;
    size_t n;

    if (*v == '\0')
        fputs("null", out);
    else if (str_ieq(v, "True") || str_ieq(v, "False"))
        fputs(str_ieq(v, "True") ? "true" : "false", out);
    else if (whole_number(v))
        fputs(v, out);
    else if (v[0] == '{' && v[strlen(v) - 1] == '}') {
        n = ps_list_items(v, &items);
        fputc('[', out);
        for (size_t i = 0; i < n; i++) {
            fputs(i ? ", " : "", out);
            json_string(out, items[i]);
        }
        fputc(']', out);
        ps_list_free(items, n);
    } else {
        json_string(out, v);
    }
}

void
ps_print_json(FILE *out, const struct ps_records *r)
{
    const char *indent = r->n > 1 ? "    " : "  ";

    if (r->n > 1)
        fputs("[\n", out);
    for (size_t i = 0; i < r->n; i++) {
        fprintf(out, "%s{\n", r->n > 1 ? "  " : "");
        for (size_t k = 0; k < r->v[i].n; k++) {
            fputs(indent, out);
            json_string(out, r->v[i].names[k]);
            fputs(": ", out);
            json_value(out, r->v[i].values[k]);
            fputs(k + 1 < r->v[i].n ? ",\n" : "\n", out);
        }
        fprintf(out, "%s}%s\n", r->n > 1 ? "  " : "", i + 1 < r->n ? "," : "");
    }
    if (r->n > 1)
        fputs("]\n", out);
}

static void
csv_field(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

void
ps_print_csv(FILE *out, const struct ps_records *r)
{
    const struct ps_record *head = r->n ? &r->v[0] : NULL;

    if (head == NULL)
        return;
    for (size_t k = 0; k < head->n; k++) {
        fputs(k ? "," : "", out);
        csv_field(out, head->names[k]);
    }
    fputc('\n', out);
    for (size_t i = 0; i < r->n; i++) {
        for (size_t k = 0; k < head->n; k++) {
            const char *v = ps_record_get(&r->v[i], head->names[k]);
            fputs(k ? "," : "", out);
            csv_field(out, v ? v : "");
        }
        fputc('\n', out);
    }
}
