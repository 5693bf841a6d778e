/*
 * metrics.h — a small registry of counters, gauges and histograms, and
 * their rendering in Prometheus's text exposition format 0.0.4 (HELP and
 * TYPE lines, label values escaped). lib/metrics_catalog.h names postern's
 * own families and holds each process's registry; this file knows nothing
 * of mail.
 *
 * A family is declared once (struct metric_def) with up to three label
 * names; each distinct tuple of label values is one series. Label values
 * may come from the network (a partner's domain, a certificate's subject),
 * so memory is bounded whatever arrives: a value is cut to
 * METRICS_VALUE_MAX bytes, control characters and broken UTF-8 become '?',
 * and a family holds at most max_series series: every later tuple is
 * counted in one extra series whose values are all METRICS_OTHER.
 *
 * Every call takes the registry's mutex: the queue process's committer
 * thread observes commit latencies while its loop renders.
 * Must never: grow a family beyond max_series + 1 series, write a label
 * value or HELP text unescaped, or render a family twice.
 */
#ifndef POSTERN_METRICS_H
#define POSTERN_METRICS_H

#include <stddef.h>

struct strbuf;
struct metrics;

#define METRICS_MAX_LABELS 3
/* Bytes of one label value kept (longer ones are cut, at a character). */
#define METRICS_VALUE_MAX 200
/* Every label value of the series that takes a family's overflow. */
#define METRICS_OTHER "other"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metric_def {
    const char *name; /* [a-zA-Z_:][a-zA-Z0-9_:]*, units and _total as Prometheus wants */
    const char *help;
    enum metric_type type;
    const char *labels[METRICS_MAX_LABELS]; /* label names; NULL after the last */
    const double *buckets;                  /* histograms: upper bounds, ascending, no +Inf */
    size_t nbuckets;
};

/* A registry of defs[0..ndefs-1] (the array must outlive it); a family is
 * named by its index. A family without labels has its one series from the
 * start (0 until changed), so a scrape shows it. */
struct metrics *metrics_new(const struct metric_def *defs, size_t ndefs, size_t max_series);
void metrics_free(struct metrics *m);

/* values: one per label name of the family (NULL stands for ""); NULL for
 * a family without labels. A call that does not fit the family's type (a
 * negative counter increment, an observation on a gauge) does nothing. */
void metrics_add(struct metrics *m, size_t family, const char *const *values, double v);
/* Gauges. metrics_max keeps the larger of the current value and v (a new
 * series starts at v): the oldest message of several queues that share
 * a series. */
void metrics_set(struct metrics *m, size_t family, const char *const *values, double v);
void metrics_max(struct metrics *m, size_t family, const char *const *values, double v);
/* Histograms: one observation. */
void metrics_observe(struct metrics *m, size_t family, const char *const *values, double v);
/* Drops every series of a family (a gauge family about to be set anew). */
void metrics_clear(struct metrics *m, size_t family);
/* Series of a family now, the overflow series included. */
size_t metrics_count(struct metrics *m, size_t family);

/* Appends every family, in definition order, in the text format. */
void metrics_render(struct metrics *m, struct strbuf *out);

/* The text format's escaping of a label value (backslash, double quote,
 * newline) appended to out; used by metrics_render, public for its tests. */
void metrics_escape_value(struct strbuf *out, const char *v);

#endif
