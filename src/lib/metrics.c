/*
 * metrics.c — see metrics.h.
 */
#include "lib/metrics.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "lib/util.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct series {
    char *values[METRICS_MAX_LABELS]; /* as rendered (cleaned), NULL past the last label */
    uint32_t hash;
    double value;      /* counters and gauges */
    double sum;        /* histograms */
    uint64_t count;    /* histograms */
    uint64_t *buckets; /* histograms: observations per bucket, not cumulative */
};

struct family {
    const struct metric_def *def;
    size_t nlabels;
    struct series *series;
    size_t n, cap;
    size_t regular; /* series other than the overflow one */
    /* open addressing: series index + 1, 0 empty; tabsize a power of two
     * at least twice the most series the family can hold */
    uint32_t *index;
    size_t tabsize;
    bool warned; /* the cap was logged */
};

struct metrics {
    pthread_mutex_t lock;
    struct family *fams;
    size_t n;
    size_t max_series;
};

/* Length of the UTF-8 sequence at s (at most left bytes), 0 when broken. */
static size_t
utf8_len(const unsigned char *s, size_t left)
{
    size_t n;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4;
    else
        return 0;
    if (n > left)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    /* overlong forms and surrogates */
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
        return 0;
    return n;
}

/* What a label value becomes: at most METRICS_VALUE_MAX bytes, cut at a
 * character, valid UTF-8, no control character but the newline (which
 * the escaping writes as \n). out has METRICS_VALUE_MAX + 1 bytes. */
static void
clean_value(const char *v, char *out)
{
    const unsigned char *s = (const unsigned char *)(v ? v : "");
    size_t left = strlen((const char *)s), o = 0;

    while (left > 0) {
        size_t n = utf8_len(s, left);
        if (n == 0 || (n == 1 && ((s[0] < 0x20 && s[0] != '\n') || s[0] == 0x7f))) {
            if (o + 1 > METRICS_VALUE_MAX)
                break;
            out[o++] = '?';
            n = n ? n : 1;
        } else {
            if (o + n > METRICS_VALUE_MAX)
                break;
            memcpy(out + o, s, n);
            o += n;
        }
        s += n;
        left -= n;
    }
    out[o] = '\0';
}

static uint32_t
hash_values(char clean[][METRICS_VALUE_MAX + 1], size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)clean[i]; *p; p++)
            h = (h ^ *p) * 16777619u;
        h = (h ^ 0xff) * 16777619u; /* 0xff never occurs in UTF-8 */
    }
    return h;
}

static void
series_init(struct family *f, struct series *s, char clean[][METRICS_VALUE_MAX + 1], uint32_t hash)
{
    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < f->nlabels; i++)
        s->values[i] = xstrdup(clean[i]);
    s->hash = hash;
    if (f->def->type == METRIC_HISTOGRAM)
        s->buckets = xcalloc(f->def->nbuckets ? f->def->nbuckets : 1, sizeof(*s->buckets));
}

static void
series_release(struct family *f, struct series *s)
{
    for (size_t i = 0; i < f->nlabels; i++)
        free(s->values[i]);
    free(s->buckets);
}

/* Adds a series (the table has room: it is sized for the cap). */
static struct series *
family_insert(struct family *f, char clean[][METRICS_VALUE_MAX + 1], uint32_t hash)
{
    size_t mask = f->tabsize - 1, slot = hash & mask;

    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->series = xrealloc(f->series, f->cap * sizeof(*f->series));
    }
    series_init(f, &f->series[f->n], clean, hash);
    while (f->index[slot] != 0)
        slot = (slot + 1) & mask;
    f->index[slot] = (uint32_t)(f->n + 1);
    return &f->series[f->n++];
}

static struct series *
family_find(struct family *f, char clean[][METRICS_VALUE_MAX + 1], uint32_t hash)
{
    size_t mask = f->tabsize - 1;

    for (size_t slot = hash & mask; f->index[slot] != 0; slot = (slot + 1) & mask) {
        struct series *s = &f->series[f->index[slot] - 1];
        size_t i;
        if (s->hash != hash)
            continue;
        for (i = 0; i < f->nlabels; i++)
            if (strcmp(s->values[i], clean[i]) != 0)
                break;
        if (i == f->nlabels)
            return s;
    }
    return NULL;
}

/* The series of values, made when new; the overflow series once the
 * family is full. */
static struct series *
series_get(struct metrics *m, struct family *f, const char *const *values)
{
    char clean[METRICS_MAX_LABELS][METRICS_VALUE_MAX + 1] = {{0}}; /* clang-analyzer */
    struct series *s;
    uint32_t hash;

    for (size_t i = 0; i < f->nlabels; i++)
        clean_value(values ? values[i] : NULL, clean[i]);
    hash = hash_values(clean, f->nlabels);
    if ((s = family_find(f, clean, hash)) != NULL)
        return s;
    if (f->regular < m->max_series) {
        f->regular++;
        return family_insert(f, clean, hash);
    }
    if (!f->warned) {
        f->warned = true;
        log_warnx("metrics: %s reached %zu series; further label values are counted under "
                  "\"%s\"",
                  f->def->name, m->max_series, METRICS_OTHER);
    }
    for (size_t i = 0; i < f->nlabels; i++)
        strlcpy_p(clean[i], METRICS_OTHER, sizeof(clean[i]));
    hash = hash_values(clean, f->nlabels);
    if ((s = family_find(f, clean, hash)) != NULL)
        return s;
    return family_insert(f, clean, hash);
}

struct metrics *
metrics_new(const struct metric_def *defs, size_t ndefs, size_t max_series)
{
    struct metrics *m = xcalloc(1, sizeof(*m));
    size_t tab = 16;

    pthread_mutex_init(&m->lock, NULL);
    m->max_series = max_series ? max_series : 1;
    while (tab < 2 * (m->max_series + 1))
        tab *= 2;
    m->fams = xcalloc(ndefs ? ndefs : 1, sizeof(*m->fams));
    m->n = ndefs;
    for (size_t i = 0; i < ndefs; i++) {
        struct family *f = &m->fams[i];
        f->def = &defs[i];
        while (f->nlabels < METRICS_MAX_LABELS && defs[i].labels[f->nlabels] != NULL)
            f->nlabels++;
        f->tabsize = f->nlabels ? tab : 2;
        f->index = xcalloc(f->tabsize, sizeof(*f->index));
        if (f->nlabels == 0) /* shown from the start */
            (void)series_get(m, f, NULL);
    }
    return m;
}

static void
family_clear(struct family *f)
{
    for (size_t i = 0; i < f->n; i++)
        series_release(f, &f->series[i]);
    f->n = 0;
    f->regular = 0;
    memset(f->index, 0, f->tabsize * sizeof(*f->index));
}

void
metrics_free(struct metrics *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++) {
        family_clear(&m->fams[i]);
        free(m->fams[i].series);
        free(m->fams[i].index);
    }
    free(m->fams);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

enum op { OP_ADD, OP_SET, OP_MAX, OP_OBSERVE };

static void
update(struct metrics *m, size_t family, const char *const *values, double v, enum op op)
{
    struct family *f;
    struct series *s;
    enum metric_type t;

    if (m == NULL || family >= m->n || isnan(v))
        return;
    f = &m->fams[family];
    t = f->def->type;
    if ((op == OP_OBSERVE) != (t == METRIC_HISTOGRAM) ||
        (op == OP_ADD && t == METRIC_COUNTER && v < 0) ||
        ((op == OP_SET || op == OP_MAX) && t != METRIC_GAUGE))
        return;
    pthread_mutex_lock(&m->lock);
    s = series_get(m, f, values);
    switch (op) {
    case OP_ADD:
        s->value += v;
        break;
    case OP_SET:
        s->value = v;
        s->count = 1; /* set: a later metrics_max compares with it */
        break;
    case OP_MAX:
        /* a gauge's count says whether it was set: a new series (0)
         * takes v whatever it is */
        if (s->count++ == 0 || v > s->value)
            s->value = v;
        break;
    case OP_OBSERVE: {
        size_t b = 0;
        while (b < f->def->nbuckets && v > f->def->buckets[b])
            b++;
        if (b < f->def->nbuckets)
            s->buckets[b]++;
        s->count++;
        s->sum += v;
        break;
    }
    }
    pthread_mutex_unlock(&m->lock);
}

void
metrics_add(struct metrics *m, size_t family, const char *const *values, double v)
{
    update(m, family, values, v, OP_ADD);
}

void
metrics_set(struct metrics *m, size_t family, const char *const *values, double v)
{
    update(m, family, values, v, OP_SET);
}

void
metrics_max(struct metrics *m, size_t family, const char *const *values, double v)
{
    update(m, family, values, v, OP_MAX);
}

void
metrics_observe(struct metrics *m, size_t family, const char *const *values, double v)
{
    update(m, family, values, v, OP_OBSERVE);
}

void
metrics_clear(struct metrics *m, size_t family)
{
    if (m == NULL || family >= m->n)
        return;
    pthread_mutex_lock(&m->lock);
    family_clear(&m->fams[family]);
    pthread_mutex_unlock(&m->lock);
}

size_t
metrics_count(struct metrics *m, size_t family)
{
    size_t n;

    if (m == NULL || family >= m->n)
        return 0;
    pthread_mutex_lock(&m->lock);
    n = m->fams[family].n;
    pthread_mutex_unlock(&m->lock);
    return n;
}

/* ---- the text format ---- */

/* Backslash and newline escaped, and the double quote too in a label value
 * (the format's rules; HELP text keeps its quotes). */
static void
escape(struct strbuf *out, const char *v, bool quote)
{
    for (; *v; v++) {
        if (*v == '\\')
            strbuf_puts(out, "\\\\");
        else if (*v == '"' && quote)
            strbuf_puts(out, "\\\"");
        else if (*v == '\n')
            strbuf_puts(out, "\\n");
        else
            strbuf_putc(out, *v);
    }
}

void
metrics_escape_value(struct strbuf *out, const char *v)
{
    escape(out, v, true);
}

/* HELP text: backslash and newline only. */
static void
escape_help(struct strbuf *out, const char *v)
{
    escape(out, v, false);
}

/* The shortest of %.15g and %.17g that reads back as v; Go's and Python's
 * spellings of the infinities and NaN. */
static void
put_number(struct strbuf *out, double v)
{
    char text[40];

    if (isnan(v)) {
        strbuf_puts(out, "NaN");
        return;
    }
    if (isinf(v)) {
        strbuf_puts(out, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    snprintf(text, sizeof(text), "%.15g", v);
    if (strtod(text, NULL) != v)
        snprintf(text, sizeof(text), "%.17g", v);
    strbuf_puts(out, text);
}

/* {a="x",b="y"} with le last for a bucket (le NULL: none); nothing at all
 * for a series without labels and no le. */
static void
put_labels(struct strbuf *out, const struct family *f, const struct series *s, const double *le)
{
    bool any = false;

    for (size_t i = 0; i < f->nlabels; i++) {
        strbuf_puts(out, any ? "," : "{");
        strbuf_printf(out, "%s=\"", f->def->labels[i]);
        metrics_escape_value(out, s->values[i]);
        strbuf_putc(out, '"');
        any = true;
    }
    if (le != NULL) {
        strbuf_puts(out, any ? ",le=\"" : "{le=\"");
        put_number(out, *le);
        strbuf_putc(out, '"');
        any = true;
    }
    if (any)
        strbuf_putc(out, '}');
}

static void
render_series(struct strbuf *out, const struct family *f, const struct series *s)
{
    const char *name = f->def->name;
    uint64_t cumulative = 0;
    double inf = INFINITY;

    if (f->def->type != METRIC_HISTOGRAM) {
        strbuf_puts(out, name);
        put_labels(out, f, s, NULL);
        strbuf_putc(out, ' ');
        put_number(out, s->value);
        strbuf_putc(out, '\n');
        return;
    }
    for (size_t b = 0; b < f->def->nbuckets; b++) {
        cumulative += s->buckets[b];
        strbuf_printf(out, "%s_bucket", name);
        put_labels(out, f, s, &f->def->buckets[b]);
        strbuf_printf(out, " %llu\n", (unsigned long long)cumulative);
    }
    strbuf_printf(out, "%s_bucket", name);
    put_labels(out, f, s, &inf);
    strbuf_printf(out, " %llu\n", (unsigned long long)s->count);
    strbuf_printf(out, "%s_sum", name);
    put_labels(out, f, s, NULL);
    strbuf_putc(out, ' ');
    put_number(out, s->sum);
    strbuf_printf(out, "\n%s_count", name);
    put_labels(out, f, s, NULL);
    strbuf_printf(out, " %llu\n", (unsigned long long)s->count);
}

void
metrics_render(struct metrics *m, struct strbuf *out)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};

    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n; i++) {
        const struct family *f = &m->fams[i];
        strbuf_printf(out, "# HELP %s ", f->def->name);
        escape_help(out, f->def->help);
        strbuf_printf(out, "\n# TYPE %s %s\n", f->def->name, type_names[f->def->type]);
        for (size_t j = 0; j < f->n; j++)
            render_series(out, f, &f->series[j]);
    }
    pthread_mutex_unlock(&m->lock);
}
