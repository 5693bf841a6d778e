/*
 * tlsrpt_store.c — DIR/tlsrpt/<yyyymmdd>.jsonl (see tlsrpt_store.h).
 *
 * A line is {"t": time, "d": domain, "pt": policy type, "ps": [policy
 * strings], "mx": [patterns], "r": result, "mxh": host, "ip": address,
 * "rua": "uri,uri"}. Lines are appended with O_APPEND and not synced: a
 * count lost in a crash costs a report a few sessions, nothing more.
 */
#include "delivery/tlsrpt_store.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/dns_name.h"
#include "routing/tlsrpt.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EVENT_MAX 16384 /* one event's JSON */
#define LIST_MAX 64     /* policy strings or patterns in one event */

void
tlsrpt_date(time_t t, char out[9])
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(out, 9, "%Y%m%d", &tm) != 8)
        strlcpy_p(out, "19700101", 9);
}

static bool
date_ok(const char *date)
{
    return date != NULL && strlen(date) == 8 && strspn(date, "0123456789") == 8;
}

/* A list of printable strings, each at most 1 KiB. */
static bool
list_ok(const json_t *a)
{
    size_t i;
    json_t *v;

    if (!json_is_array(a) || json_array_size(a) > LIST_MAX)
        return false;
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v) || json_string_length(v) > 1024 ||
            str_has_control(json_string_value(v)))
            return false;
    }
    return true;
}

static bool
opt_string_ok(const json_t *o, const char *key, size_t max)
{
    const json_t *v = json_object_get(o, key);

    return v == NULL || (json_is_string(v) && json_string_length(v) <= max &&
                         !str_has_control(json_string_value(v)));
}

void
tlsrpt_store_add(const char *instance_dir, const char *domain, const char *json)
{
    json_t *in, *out = NULL;
    const char *pt, *r, *rua;
    char date[9], path[4096], dir[4096], check[TLSRPT_RUA_MAX], *line = NULL;
    json_error_t jerr;
    int fd;

    if (domain == NULL || !dns_name_valid(domain, false) || strlen(json) > EVENT_MAX ||
        (in = json_loads(json, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
        log_warnx("queue: a malformed TLS result for %s", domain ? domain : "?");
        return;
    }
    pt = json_string_value(json_object_get(in, "pt"));
    r = json_string_value(json_object_get(in, "r"));
    rua = json_string_value(json_object_get(in, "rua"));
    if (pt == NULL || r == NULL || !tlsrpt_result_known(r) ||
        (strcmp(pt, "tlsa") != 0 && strcmp(pt, "sts") != 0 && strcmp(pt, "no-policy-found") != 0) ||
        !list_ok(json_object_get(in, "ps")) || !list_ok(json_object_get(in, "mx")) ||
        !opt_string_ok(in, "mxh", 255) || !opt_string_ok(in, "ip", 64) ||
        !opt_string_ok(in, "rua", TLSRPT_RUA_MAX - 1)) {
        log_warnx("queue: a malformed TLS result for %s", domain);
        json_decref(in);
        return;
    }
    /* the reporting URIs pass the same test as when they came from DNS */
    if (rua != NULL) {
        char *txt = xasprintf("v=TLSRPTv1; rua=%s", rua);
        if (!tlsrpt_txt_parse(txt, check) || strcmp(check, rua) != 0)
            rua = NULL;
        free(txt);
    }
    out =
        json_pack("{s:I, s:s, s:s, s:O, s:O, s:s}", "t", (json_int_t)time(NULL), "d", domain, "pt",
                  pt, "ps", json_object_get(in, "ps"), "mx", json_object_get(in, "mx"), "r", r);
    if (out != NULL) {
        const char *keys[] = {"mxh", "ip"};
        for (size_t i = 0; i < 2; i++)
            if (json_object_get(in, keys[i]) != NULL)
                json_object_set(out, keys[i], json_object_get(in, keys[i]));
        if (rua != NULL)
            json_object_set_new(out, "rua", json_string(rua));
        line = json_dumps(out, JSON_COMPACT | JSON_ENSURE_ASCII);
    }
    json_decref(in);
    json_decref(out);
    if (line == NULL)
        return;
    tlsrpt_date(time(NULL), date);
    snprintf(dir, sizeof(dir), "%s/%s", instance_dir, TLSRPT_DIR);
    errorf(path, sizeof(path), "%s/%s.jsonl", dir, date);
    if ((mkdir(dir, 0700) < 0 && errno != EEXIST) ||
        (fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
        log_warnx("queue: cannot count a TLS result in %s: %s", path, strerror(errno));
        free(line);
        return;
    }
    /* one write per line: appends from one process stay whole */
    {
        size_t n = strlen(line);
        line[n] = '\n';
        if (write(fd, line, n + 1) != (ssize_t)(n + 1))
            log_warnx("queue: cannot count a TLS result in %s: %s", path, strerror(errno));
    }
    close(fd);
    free(line);
}

/* ---- reading a day back ---- */

static char **
list_copy(const json_t *a, size_t *n)
{
    char **v = xcalloc(json_array_size(a) + 1, sizeof(*v));
    size_t i;
    json_t *s;

    *n = 0;
    json_array_foreach(a, i, s) v[(*n)++] = xstrdup(json_string_value(s));
    return v;
}

static bool
list_equal(char **v, size_t n, const json_t *a)
{
    if (json_array_size(a) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], json_string_value(json_array_get(a, i))) != 0)
            return false;
    return true;
}

static struct tlsrpt_policy *
policy_find(struct tlsrpt_day *d, const char *domain, const char *type, const json_t *ps,
            const json_t *mx)
{
    struct tlsrpt_policy *p;

    for (size_t i = 0; i < d->npolicies; i++) {
        p = &d->policies[i];
        if (strcmp(p->domain, domain) == 0 && strcmp(p->type, type) == 0 &&
            list_equal(p->policy, p->npolicy, ps) && list_equal(p->mx, p->nmx, mx))
            return p;
    }
    d->policies = xrealloc(d->policies, (d->npolicies + 1) * sizeof(*d->policies));
    p = &d->policies[d->npolicies++];
    memset(p, 0, sizeof(*p));
    p->domain = xstrdup(domain);
    p->type = xstrdup(type);
    p->policy = list_copy(ps, &p->npolicy);
    p->mx = list_copy(mx, &p->nmx);
    return p;
}

static const char *
str_or_empty(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

static void
count_failure(struct tlsrpt_policy *p, const char *result, const char *mxh, const char *ip)
{
    for (size_t i = 0; i < p->nfailures; i++) {
        struct tlsrpt_failure *f = &p->failures[i];
        if (strcmp(f->result, result) == 0 && strcmp(f->mx_host, mxh) == 0 &&
            strcmp(f->ip, ip) == 0) {
            f->count++;
            return;
        }
    }
    p->failures = xrealloc(p->failures, (p->nfailures + 1) * sizeof(*p->failures));
    p->failures[p->nfailures++] =
        (struct tlsrpt_failure){xstrdup(result), xstrdup(mxh), xstrdup(ip), 1};
}

static void
note_rua(struct tlsrpt_day *d, const char *domain, const char *rua)
{
    for (size_t i = 0; i < d->nrua; i++)
        if (strcmp(d->rua_domains[i], domain) == 0) {
            free(d->rua[i]);
            d->rua[i] = xstrdup(rua);
            return;
        }
    d->rua_domains = xrealloc(d->rua_domains, (d->nrua + 1) * sizeof(char *));
    d->rua = xrealloc(d->rua, (d->nrua + 1) * sizeof(char *));
    d->rua_domains[d->nrua] = xstrdup(domain);
    d->rua[d->nrua++] = xstrdup(rua);
}

/* One line of a day's file into out; a torn or foreign line is skipped. */
static void
read_line(struct tlsrpt_day *out, const char *line)
{
    json_t *e = json_loads(line, 0, NULL);
    const char *domain = json_string_value(json_object_get(e, "d"));
    const char *type = json_string_value(json_object_get(e, "pt"));
    const char *result = json_string_value(json_object_get(e, "r"));
    const json_t *ps = json_object_get(e, "ps"), *mx = json_object_get(e, "mx");

    if (domain != NULL && type != NULL && result != NULL && list_ok(ps) && list_ok(mx)) {
        struct tlsrpt_policy *p = policy_find(out, domain, type, ps, mx);
        if (strcmp(result, "success") == 0)
            p->successful++;
        else {
            p->failed++;
            count_failure(p, result, str_or_empty(e, "mxh"), str_or_empty(e, "ip"));
        }
        if (json_object_get(e, "rua") != NULL)
            note_rua(out, domain, str_or_empty(e, "rua"));
    }
    json_decref(e);
}

int
tlsrpt_day_read(const char *instance_dir, const char *date, struct tlsrpt_day *out, char *err,
                size_t errlen)
{
    char path[4096], *line = NULL;
    size_t cap = 0;
    ssize_t n;
    FILE *f;

    memset(out, 0, sizeof(*out));
    if (!date_ok(date)) {
        errorf(err, errlen, "\"%s\" is not a date (yyyymmdd)", date ? date : "");
        return -1;
    }
    strlcpy_p(out->date, date, sizeof(out->date));
    snprintf(path, sizeof(path), "%s/%s/%s.jsonl", instance_dir, TLSRPT_DIR, date);
    /* line by line: a busy day is many megabytes, its counts a few */
    if ((f = fopen(path, "re")) == NULL) {
        if (errno == ENOENT)
            return 0; /* nothing counted that day */
        errorf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] == '\n')
            line[n - 1] = '\0';
        if ((size_t)n <= EVENT_MAX + 512)
            read_line(out, line);
    }
    free(line);
    if (ferror(f)) {
        errorf(err, errlen, "cannot read %s", path);
        fclose(f);
        tlsrpt_day_free(out);
        return -1;
    }
    fclose(f);
    return 0;
}

const char *
tlsrpt_day_rua(const struct tlsrpt_day *d, const char *domain)
{
    for (size_t i = 0; i < d->nrua; i++)
        if (strcmp(d->rua_domains[i], domain) == 0)
            return d->rua[i];
    return NULL;
}

static void
strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void
tlsrpt_day_free(struct tlsrpt_day *d)
{
    for (size_t i = 0; i < d->npolicies; i++) {
        struct tlsrpt_policy *p = &d->policies[i];
        free(p->domain);
        free(p->type);
        strv_free(p->policy, p->npolicy);
        strv_free(p->mx, p->nmx);
        for (size_t j = 0; j < p->nfailures; j++) {
            free(p->failures[j].result);
            free(p->failures[j].mx_host);
            free(p->failures[j].ip);
        }
        free(p->failures);
    }
    free(d->policies);
    strv_free(d->rua_domains, d->nrua);
    strv_free(d->rua, d->nrua);
    memset(d, 0, sizeof(*d));
}
