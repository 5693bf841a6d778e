/*
 * config_list.c — list-valued parameters (Bindings, RemoteIPRanges, domain
 * lists, AddressSpaces, SmartHosts, SourceTransportServers,
 * ExternalDNSServers) and the comma-list syntax they share with flags:
 *
 *   a, b, c      'a','b'      {a, b}      $null      @{Add=a,b; Remove=c}
 *
 * The last form (PowerShell's multi-valued update) is taken from cmdlets
 * only (CONFIG_PARSE_CMDLET); adding an entry already there replaces it
 * (the same entry, or an address space with a new cost), removing one that
 * is not there is an error.
 * Must never: change a list when any entry of the new value is refused
 * (the new list is built aside and swapped in last).
 */
#include "config/config_param.h"
#include "lib/util.h"
#include "net/dns_name.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

static bool
is_blank(int c)
{
    return c == ' ' || c == '\t';
}

/* A trimmed copy with one pair of matching outer quotes removed: list items
 * typed as 'a','b' may reach us with their quotes when the shell kept them. */
char *
config_item_dup(const char *s, size_t n)
{
    while (n > 0 && is_blank((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && is_blank((unsigned char)s[n - 1]))
        n--;
    if (n >= 2 && (s[0] == '\'' || s[0] == '"') && s[n - 1] == s[0]) {
        s++;
        n -= 2;
    }
    return xstrndup(s, n);
}

static char *
str_trim_dup(const char *s)
{
    char *copy = xstrdup(s), *t = str_trim(copy);

    memmove(copy, t, strlen(t) + 1);
    return copy;
}

bool
config_is_null_text(const char *t, unsigned flags)
{
    return !(flags & CONFIG_PARSE_QUOTED) && str_ieq(t, "$null");
}

/* Splits a comma-separated list; "{a, b}" (Get- output pasted back) is
 * accepted too. Returns the number of items (0 for "", "{}" and $null). */
size_t
config_split_items(const char *text, unsigned flags, char ***items)
{
    /* Trimmed only: quotes belong to the items ("a","b"), not the list. */
    char *copy = str_trim_dup(text);
    char *s = copy;
    size_t n = 0, len = strlen(s);

    *items = NULL;
    if (len >= 2 && s[0] == '{' && s[len - 1] == '}') {
        s[len - 1] = '\0';
        s++;
    }
    if (*str_trim(s) == '\0' || config_is_null_text(str_trim(s), flags)) {
        free(copy);
        return 0;
    }
    for (;;) {
        char *comma = strchr(s, ',');
        size_t ilen = comma ? (size_t)(comma - s) : strlen(s);
        *items = xrealloc(*items, (n + 1) * sizeof(char *));
        (*items)[n++] = config_item_dup(s, ilen);
        if (comma == NULL)
            break;
        s = comma + 1;
    }
    free(copy);
    return n;
}

void
config_items_free(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

/* ---- list element types ---- */

struct list_ops {
    size_t size;
    int (*parse)(const char *text, void *out, char *err, size_t errlen);
    void (*format)(const void *e, char *buf, size_t len);
    bool (*equal)(const void *a, const void *b);
    void (*free)(void *e);
    void (*copy)(void *dst, const void *src);
};

static int
binding_parse_cb(const char *text, void *out, char *err, size_t errlen)
{
    return binding_parse(text, out, err, errlen);
}

static void
binding_format_cb(const void *e, char *buf, size_t len)
{
    binding_format(e, buf, len);
}

static bool
binding_equal_cb(const void *a, const void *b)
{
    return binding_equal(a, b);
}

static int
range_parse_cb(const char *text, void *out, char *err, size_t errlen)
{
    return iprange_parse(text, out, err, errlen);
}

static void
range_format_cb(const void *e, char *buf, size_t len)
{
    iprange_format(e, buf, len);
}

static bool
range_equal(const void *a, const void *b)
{
    return iprange_relate(a, b) == IPRANGE_EQUAL;
}

static void
plain_copy_bindings(void *dst, const void *src)
{
    memcpy(dst, src, sizeof(struct binding));
}

static void
plain_copy_ranges(void *dst, const void *src)
{
    memcpy(dst, src, sizeof(struct iprange));
}

static int
domain_parse_cb(const char *text, void *out, char *err, size_t errlen)
{
    char *d = xstrdup(text);

    str_lower(d);
    if (!dns_name_valid(d, false)) {
        errorf(err, errlen, "%s",
               strchr(d, '*') ? "wildcards are not allowed here" : "not a valid domain name");
        free(d);
        return -1;
    }
    *(char **)out = d;
    return 0;
}

static void
domain_format_cb(const void *e, char *buf, size_t len)
{
    strlcpy_p(buf, *(char *const *)e, len);
}

static bool
domain_equal(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b) == 0;
}

static void
domain_free(void *e)
{
    free(*(char **)e);
}

static void
domain_copy(void *dst, const void *src)
{
    *(char **)dst = xstrdup(*(char *const *)src);
}

/* AddressSpaces: one entry per domain, whatever its cost, so that
 * @{Remove="contoso.com"} finds "SMTP:contoso.com;5" and a domain listed
 * twice with two costs is refused. */
static int
space_parse_cb(const char *text, void *out, char *err, size_t errlen)
{
    return config_address_space_parse(text, out, err, errlen);
}

static void
space_format_cb(const void *e, char *buf, size_t len)
{
    config_address_space_format(e, buf, len);
}

static bool
space_equal(const void *a, const void *b)
{
    const struct address_space *x = a, *y = b;
    return strcmp(x->domain, y->domain) == 0;
}

static void
space_free(void *e)
{
    free(((struct address_space *)e)->domain);
}

static void
space_copy(void *dst, const void *src)
{
    const struct address_space *from = src;
    struct address_space *to = dst;

    to->domain = xstrdup(from->domain);
    to->cost = from->cost;
}

static int
smart_host_parse_cb(const char *text, void *out, char *err, size_t errlen)
{
    return config_smart_host_parse(text, out, err, errlen);
}

static int
server_parse_cb(const char *text, void *out, char *err, size_t errlen)
{
    return config_server_name_parse(text, out, err, errlen);
}

static int
dns_server_parse_cb(const char *text, void *out, char *err, size_t errlen)
{
    return config_dns_server_parse(text, out, err, errlen);
}

/* Server names are kept as typed but are the same name in any case. */
static bool
name_equal(const void *a, const void *b)
{
    return str_ieq(*(char *const *)a, *(char *const *)b);
}

static const struct list_ops binding_ops = {
    sizeof(struct binding), binding_parse_cb, binding_format_cb, binding_equal_cb, NULL,
    plain_copy_bindings,
};
static const struct list_ops range_ops = {
    sizeof(struct iprange), range_parse_cb, range_format_cb, range_equal, NULL, plain_copy_ranges,
};
static const struct list_ops domain_ops = {
    sizeof(char *), domain_parse_cb, domain_format_cb, domain_equal, domain_free, domain_copy,
};
static const struct list_ops space_ops = {
    sizeof(struct address_space),
    space_parse_cb,
    space_format_cb,
    space_equal,
    space_free,
    space_copy,
};
/* Smart hosts and DNS servers are stored normalised: plain comparison. */
static const struct list_ops smart_host_ops = {
    sizeof(char *), smart_host_parse_cb, domain_format_cb, domain_equal, domain_free, domain_copy,
};
static const struct list_ops server_ops = {
    sizeof(char *), server_parse_cb, domain_format_cb, name_equal, domain_free, domain_copy,
};
static const struct list_ops dns_server_ops = {
    sizeof(char *), dns_server_parse_cb, domain_format_cb, domain_equal, domain_free, domain_copy,
};

static const struct list_ops *
list_ops(enum config_param_type type)
{
    switch (type) {
    case CPT_BINDINGS:
        return &binding_ops;
    case CPT_IPRANGES:
        return &range_ops;
    case CPT_DOMAINS:
        return &domain_ops;
    case CPT_ADDRESS_SPACES:
        return &space_ops;
    case CPT_SMART_HOSTS:
        return &smart_host_ops;
    case CPT_SERVERS:
        return &server_ops;
    case CPT_DNS_SERVERS:
        return &dns_server_ops;
    default:
        return NULL;
    }
}

bool
config_list_type(enum config_param_type type)
{
    return list_ops(type) != NULL;
}

/* Room for one element of any list type, suitably aligned. */
union list_elem {
    struct binding b;
    struct iprange r;
    struct address_space a;
    char *d;
};

/* A list being built aside from the field it will replace. */
struct elist {
    char *v;
    size_t n;
};

static void
elist_free(const struct list_ops *ops, struct elist *l)
{
    if (ops->free != NULL)
        for (size_t i = 0; i < l->n; i++)
            ops->free(l->v + i * ops->size);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static ssize_t
elist_index(const struct list_ops *ops, const struct elist *l, const void *e)
{
    for (size_t i = 0; i < l->n; i++)
        if (ops->equal(l->v + i * ops->size, e))
            return (ssize_t)i;
    return -1;
}

static void
elist_push(const struct list_ops *ops, struct elist *l, const void *e)
{
    l->v = xrealloc(l->v, (l->n + 1) * ops->size);
    memcpy(l->v + l->n * ops->size, e, ops->size);
    l->n++;
}

/* Parses items; adds them (add), or removes them (!add). */
static int
elist_apply(const struct list_ops *ops, struct elist *l, const char *text, unsigned flags, bool add,
            char *err, size_t errlen)
{
    char **items, reason[256];
    union list_elem elem;
    size_t n = config_split_items(text, flags, &items);
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        if (items[i][0] == '\0') {
            errorf(err, errlen, "empty entry in the list");
            rc = -1;
        } else if (ops->parse(items[i], &elem, reason, sizeof(reason)) < 0) {
            errorf(err, errlen, "'%s': %s", items[i], reason);
            rc = -1;
        } else {
            ssize_t at = elist_index(ops, l, &elem);
            if (add && at < 0) {
                elist_push(ops, l, &elem);
                continue;
            }
            if (add && (flags & CONFIG_PARSE_CMDLET)) {
                char *slot = l->v + (size_t)at * ops->size;
                if (ops->free != NULL)
                    ops->free(slot);
                memcpy(slot, &elem, ops->size);
                continue;
            }
            if (add && !(flags & CONFIG_PARSE_CMDLET)) {
                errorf(err, errlen, "'%s' is listed twice", items[i]);
                rc = -1;
            } else if (!add && at < 0) {
                errorf(err, errlen, "'%s' is not in the list", items[i]);
                rc = -1;
            } else if (!add) {
                if (ops->free != NULL)
                    ops->free(l->v + (size_t)at * ops->size);
                memmove(l->v + (size_t)at * ops->size, l->v + ((size_t)at + 1) * ops->size,
                        (l->n - (size_t)at - 1) * ops->size);
                l->n--;
            }
            if (ops->free != NULL)
                ops->free(&elem);
        }
    }
    config_items_free(items, n);
    return rc;
}

/* strsep(s, ";") that leaves a ';' inside quotes alone: an address space
 * "contoso.com;5" is one value in @{Add="contoso.com;5"}. */
static char *
next_clause(char **s)
{
    char *start = *s, quote = 0;

    if (start == NULL)
        return NULL;
    for (char *p = start; *p; p++) {
        if (quote != 0 && *p == quote)
            quote = 0;
        else if (quote == 0 && (*p == '"' || *p == '\''))
            quote = *p;
        else if (quote == 0 && *p == ';') {
            *p = '\0';
            *s = p + 1;
            return start;
        }
    }
    *s = NULL;
    return start;
}

/* @{Add="a","b"; Remove="c"}: PowerShell's multi-valued property update. */
static int
elist_update(const struct list_ops *ops, struct elist *l, const char *text, char *err,
             size_t errlen)
{
    char *body = config_item_dup(text, strlen(text));
    size_t len = strlen(body);
    char *s, *clause;
    int rc = 0;

    if (len < 3 || body[len - 1] != '}') {
        errorf(err, errlen, "expected @{Add=...; Remove=...}");
        free(body);
        return -1;
    }
    body[len - 1] = '\0';
    s = body + 2;
    while (rc == 0 && (clause = next_clause(&s)) != NULL) {
        char *eq = strchr(clause, '=');
        char *key = clause;
        if (*str_trim(clause) == '\0')
            continue;
        if (eq == NULL) {
            errorf(err, errlen, "expected Add=... or Remove=... in @{...}");
            rc = -1;
            break;
        }
        *eq = '\0';
        key = str_trim(key);
        if (str_ieq(key, "Add"))
            rc = elist_apply(ops, l, eq + 1, CONFIG_PARSE_CMDLET, true, err, errlen);
        else if (str_ieq(key, "Remove"))
            rc = elist_apply(ops, l, eq + 1, CONFIG_PARSE_CMDLET, false, err, errlen);
        else {
            errorf(err, errlen, "'%s': expected Add or Remove in @{...}", key);
            rc = -1;
        }
    }
    free(body);
    return rc;
}

int
config_list_parse(const struct config_param *p, void *obj, const char *text, unsigned flags,
                  char *err, size_t errlen)
{
    const struct list_ops *ops = list_ops(p->type);
    void **field = (void **)((char *)obj + p->offset);
    size_t *count = (size_t *)((char *)obj + p->count_offset);
    struct elist l = {NULL, 0};
    const char *t = text;
    int rc;

    while (is_blank((unsigned char)*t))
        t++;
    if ((flags & CONFIG_PARSE_CMDLET) && t[0] == '@' && t[1] == '{') {
        for (size_t i = 0; i < *count; i++) {
            union list_elem e;
            ops->copy(&e, (char *)*field + i * ops->size);
            elist_push(ops, &l, &e);
        }
        rc = elist_update(ops, &l, t, err, errlen);
    } else {
        rc = elist_apply(ops, &l, text, flags & ~CONFIG_PARSE_CMDLET, true, err, errlen);
    }
    if (rc < 0) {
        elist_free(ops, &l);
        return -1;
    }
    struct elist old = {*field, *count};
    elist_free(ops, &old);
    *field = l.v;
    *count = l.n;
    return 0;
}

void
config_list_format(const struct config_param *p, const void *obj, enum config_format_style style,
                   FILE *f)
{
    const struct list_ops *ops = list_ops(p->type);
    const char *arr = *(char *const *)((const char *)obj + p->offset);
    size_t n = *(const size_t *)((const char *)obj + p->count_offset);
    char buf[512];

    if (style == CONFIG_FORMAT_DISPLAY)
        fputc('{', f);
    for (size_t i = 0; i < n; i++) {
        ops->format(arr + i * ops->size, buf, sizeof(buf));
        fprintf(f, "%s%s", i ? ", " : "", buf);
    }
    if (style == CONFIG_FORMAT_DISPLAY)
        fputc('}', f);
}

void
config_list_free(const struct config_param *p, void *obj)
{
    char **field = (char **)((char *)obj + p->offset);
    size_t *count = (size_t *)((char *)obj + p->count_offset);
    struct elist l = {*field, *count};

    elist_free(list_ops(p->type), &l);
    *field = NULL;
    *count = 0;
}

void
config_list_copy(const struct config_param *p, void *obj)
{
    const struct list_ops *ops = list_ops(p->type);
    char **field = (char **)((char *)obj + p->offset);
    size_t n = *(size_t *)((char *)obj + p->count_offset);
    char *to = n ? xmalloc(n * ops->size) : NULL;

    for (size_t j = 0; j < n; j++)
        ops->copy(to + j * ops->size, *field + j * ops->size);
    *field = to;
}
