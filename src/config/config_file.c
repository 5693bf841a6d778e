/*
 * config_file.c — reading and writing postern.conf, the instance's whole
 * configuration as an INI-like text under Exchange's names:
 *
 *   # comment (whole lines only)
 *   [TransportConfig]
 *   Fqdn = mail.example.test
 *
 *   [ReceiveConnector "Default mail"]
 *   Bindings = 0.0.0.0:25, [::]:25
 *   Banner = "220 mail.example.test ESMTP"
 *
 *   [SendConnector "Internet"]
 *   AddressSpaces = SMTP:*;1
 *
 * A value is bare text (trimmed) or a quoted string with \" and \\ escapes;
 * an empty value is $null or an empty list. An object's name is its section
 * header, never a body line. The writer writes every parameter, defaults
 * included, so that the file documents them; reading what it wrote gives
 * back the same config and the same text.
 *
 * The text, whole (config_load_text, config_format), is also what the
 * daemon sends its children over IPC; redacted secrets are written as
 * config.h describes.
 *
 * Must never: leave a partly written postern.conf (the new text goes to a
 * temporary file that is fsynced and renamed over it), write it readable
 * by others (it holds password hashes and smart-host credentials), or
 * leave a copy of its text in freed memory (read and written through
 * buffers that are wiped, never through stdio's).
 */
#include "config/config.h"
#include "config/config_param.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_HEADER "# postern.conf — written by postern cmdlets; hand edits are kept when valid.\n"

/* A growing text that wipes each buffer it leaves behind. */
struct text {
    char *s;
    size_t len, cap;
};

static void
text_free(struct text *t)
{
    mem_free_wiped(t->s, t->cap);
    t->s = NULL;
    t->len = t->cap = 0;
}

/* Room for n more bytes and a NUL. */
static void
text_reserve(struct text *t, size_t n)
{
    size_t cap = t->cap ? t->cap : 4096, len = t->len;

    if (t->cap - t->len > n)
        return;
    while (cap - len <= n)
        cap *= 2;
    char *ns = xmalloc(cap);
    if (len > 0)
        memcpy(ns, t->s, len);
    text_free(t);
    t->s = ns;
    t->cap = cap;
    t->len = len;
}

static void
text_put(struct text *t, const char *s, size_t n)
{
    text_reserve(t, n);
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

static void
text_puts(struct text *t, const char *s)
{
    text_put(t, s, strlen(s));
}

static void
text_putc(struct text *t, char c)
{
    text_put(t, &c, 1);
}

/* Where each object and each of its parameters was read, to put a line
 * number on faults that config_validate finds later. */
struct obj_lines {
    enum config_kind kind;
    size_t index;
    unsigned section_line;
    unsigned *param_lines; /* by parameter index; 0 = not in the file */
};

struct loader {
    const char *file; /* base name, for messages */
    struct config *cfg;
    unsigned line;
    struct obj_lines *objs;
    size_t nobjs;
    char *err;
    size_t errlen;
};

static int ld_error(struct loader *ld, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "postern.conf:12: " + message. Returns -1. */
static int
ld_error(struct loader *ld, unsigned line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(ld->err, ld->errlen, "%s:%u: %s", ld->file, line, msg);
    else
        snprintf(ld->err, ld->errlen, "%s: %s", ld->file, msg);
    return -1;
}

static struct obj_lines *
ld_current(struct loader *ld)
{
    return ld->nobjs > 0 ? &ld->objs[ld->nobjs - 1] : NULL;
}

static void *
ld_object(struct loader *ld, const struct obj_lines *o)
{
    return config_object_at(ld->cfg, o->kind, o->index);
}

static void
ld_label(struct loader *ld, const struct obj_lines *o, char *buf, size_t len)
{
    config_object_label(config_kind(o->kind), ld_object(ld, o), buf, len);
}

/* A quoted string starting at s (on the '"'): the unescaped text in *out,
 * *end just past the closing quote. */
static int
unquote(const char *s, char **out, const char **end, char *reason, size_t rlen)
{
    size_t cap = strlen(s) + 1, n = 0;
    char *buf = xmalloc(cap);

    for (s++; *s != '"'; s++) {
        if (*s == '\0') {
            snprintf(reason, rlen, "missing closing quote");
            mem_free_wiped(buf, cap);
            return -1;
        }
        if (*s == '\\') {
            if (s[1] != '"' && s[1] != '\\') {
                snprintf(reason, rlen, "unknown escape \\%c (only \\\" and \\\\)", s[1]);
                mem_free_wiped(buf, cap);
                return -1;
            }
            s++;
        }
        buf[n++] = *s;
    }
    buf[n] = '\0';
    *out = buf;
    *end = s + 1;
    return 0;
}

static const char *
skip_blanks(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static int
ld_section(struct loader *ld, const char *s)
{
    const struct config_kind_info *k;
    char kind[64], *name = NULL, reason[256], label[160];
    size_t n = 0;

    s = skip_blanks(s + 1);
    while (isalnum((unsigned char)s[n]) && n + 1 < sizeof(kind)) {
        kind[n] = s[n];
        n++;
    }
    kind[n] = '\0';
    s = skip_blanks(s + n);
    if (*s == '"' && unquote(s, &name, &s, reason, sizeof(reason)) < 0)
        return ld_error(ld, ld->line, "[%s]: %s", kind, reason);
    s = skip_blanks(s);
    if (*s != ']' || *skip_blanks(s + 1) != '\0') {
        free(name);
        return ld_error(ld, ld->line, "expected [Type] or [Type \"Name\"]");
    }
    if ((k = config_kind_by_name(kind)) == NULL) {
        free(name);
        return ld_error(ld, ld->line,
                        "[%s]: unknown section (TransportConfig, ReceiveConnector, "
                        "SendConnector, AcceptedDomain, Mailbox)",
                        kind);
    }
    if (k->singleton != (name == NULL)) {
        free(name);
        return ld_error(ld, ld->line, k->singleton ? "[%s]: takes no name" : "[%s]: needs a name",
                        k->name);
    }
    if (k->singleton) {
        for (size_t i = 0; i < ld->nobjs; i++)
            if (ld->objs[i].kind == k->kind)
                return ld_error(ld, ld->line, "[%s]: duplicate section (first at line %u)", k->name,
                                ld->objs[i].section_line);
    }

    size_t index = 0;
    void *obj = &ld->cfg->transport;
    if (!k->singleton) {
        obj = config_object_append(ld->cfg, k->kind);
        config_objects(ld->cfg, k->kind, &index);
        index--;
    }
    ld->objs = xrealloc(ld->objs, (ld->nobjs + 1) * sizeof(*ld->objs));
    ld->objs[ld->nobjs++] =
        (struct obj_lines){k->kind, index, ld->line, xcalloc(k->nparams, sizeof(unsigned))};
    if (name != NULL) {
        const struct config_param *np = config_param_name(k);
        int rc = config_param_parse(np, obj, name, CONFIG_PARSE_QUOTED, reason, sizeof(reason));
        if (rc < 0) {
            snprintf(label, sizeof(label), "%s \"%s\"", k->name, name);
            free(name);
            return ld_error(ld, ld->line, "%s: %s: %s", label, np->name, reason);
        }
        free(name);
    }
    return 0;
}

static int
ld_param(struct loader *ld, const char *s)
{
    struct obj_lines *o = ld_current(ld);
    const struct config_kind_info *k;
    const struct config_param *p;
    char pname[64], label[160], reason[512], *value;
    const char *end;
    unsigned flags = 0;
    size_t n = 0;
    int rc;

    while (isalnum((unsigned char)s[n]) && n + 1 < sizeof(pname)) {
        pname[n] = s[n];
        n++;
    }
    pname[n] = '\0';
    s = skip_blanks(s + n);
    if (n == 0 || *s != '=')
        return ld_error(ld, ld->line, "expected \"Parameter = value\"");
    s = skip_blanks(s + 1);
    if (o == NULL)
        return ld_error(ld, ld->line, "%s: parameter outside of a [section]", pname);
    k = config_kind(o->kind);
    ld_label(ld, o, label, sizeof(label));
    if ((p = config_param_find(k, pname)) == NULL)
        return ld_error(ld, ld->line, "%s: %s: unknown parameter", label, pname);
    if (p->flags & CPF_NAME)
        return ld_error(ld, ld->line, "%s: %s: the name is given by the section header", label,
                        p->name);
    size_t pi = (size_t)(p - k->params);
    if (o->param_lines[pi] != 0)
        return ld_error(ld, ld->line, "%s: %s: duplicate parameter (first at line %u)", label,
                        p->name, o->param_lines[pi]);
    o->param_lines[pi] = ld->line;
    if (*s == '"') {
        if (unquote(s, &value, &end, reason, sizeof(reason)) < 0)
            return ld_error(ld, ld->line, "%s: %s: %s", label, p->name, reason);
        if (*skip_blanks(end) != '\0') {
            str_free_wiped(value);
            return ld_error(ld, ld->line, "%s: %s: text after the closing quote", label, p->name);
        }
        flags = CONFIG_PARSE_QUOTED;
    } else {
        value = xstrdup(s);
        str_trim(value);
    }
    rc = config_param_parse(p, ld_object(ld, o), value, flags, reason, sizeof(reason));
    str_free_wiped(value); /* it may be a secret */
    if (rc < 0)
        return ld_error(ld, ld->line, "%s: %s: %s", label, p->name, reason);
    return 0;
}

static int
ld_line(struct loader *ld, char *line)
{
    const char *s;

    /* A UTF-8 byte order mark, as some editors write one. */
    if (ld->line == 1 && strncmp(line, "\xef\xbb\xbf", 3) == 0)
        line += 3;
    str_trim(line);
    s = skip_blanks(line);
    if (*s == '\0' || *s == '#')
        return 0;
    if (*s == '[')
        return ld_section(ld, s);
    return ld_param(ld, s);
}

/* A fault config_validate found, at the line of the parameter to blame,
 * else of the object's section. */
static int
ld_fault(struct loader *ld, const struct config_fault *f, const char *msg)
{
    for (size_t i = 0; i < ld->nobjs; i++) {
        const struct obj_lines *o = &ld->objs[i];
        if (o->kind != f->kind || o->index != f->index)
            continue;
        unsigned line = o->section_line;
        if (f->param != NULL) {
            size_t pi = (size_t)(f->param - config_kind(f->kind)->params);
            if (o->param_lines[pi] != 0)
                line = o->param_lines[pi];
        }
        return ld_error(ld, line, "%s", msg);
    }
    return ld_error(ld, 0, "%s", msg);
}

struct config *
config_load_message(const void *data, size_t len, char *err, size_t errlen)
{
    const char *text = data;

    if (len == 0 || text[len - 1] != '\0') {
        snprintf(err, errlen, "malformed configuration message");
        return NULL;
    }
    return config_load_text(text, len - 1, "(daemon)", err, errlen);
}

struct config *
config_load_text(const char *text, size_t len, const char *origin, char *err, size_t errlen)
{
    struct loader ld = {0};
    /* lines are cut and trimmed in place, in a copy wiped at the end */
    char *copy = xmalloc(len + 1);
    size_t start = 0;
    int rc = 0;

    if (len > 0)
        memcpy(copy, text, len);
    copy[len] = '\0';
    ld.file = origin != NULL ? origin : "postern.conf";
    ld.cfg = config_new();
    ld.err = err;
    ld.errlen = errlen;
    while (rc == 0 && start < len) {
        char *nl = memchr(copy + start, '\n', len - start);
        size_t end = nl != NULL ? (size_t)(nl - copy) : len;
        ld.line++;
        if (nl != NULL)
            *nl = '\0';
        if (memchr(copy + start, '\0', end - start) != NULL)
            rc = ld_error(&ld, ld.line, "NUL byte in the line");
        else
            rc = ld_line(&ld, copy + start);
        start = end + 1;
    }
    mem_free_wiped(copy, len + 1);
    if (rc == 0) {
        struct config_fault fault = {0};
        char msg[1024];
        if (config_validate_fault(ld.cfg, &fault, msg, sizeof(msg)) < 0)
            rc = ld_fault(&ld, &fault, msg);
    }
    for (size_t i = 0; i < ld.nobjs; i++)
        free(ld.objs[i].param_lines);
    free(ld.objs);
    if (rc < 0) {
        config_unref(ld.cfg);
        return NULL;
    }
    return ld.cfg;
}

/* The whole of fd, NUL-terminated, in *t (wiped as it grows). 0, or -1
 * with errno. */
static int
read_all(int fd, struct text *t)
{
    for (;;) {
        text_reserve(t, 16384);
        ssize_t r = read(fd, t->s + t->len, t->cap - t->len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        t->len += (size_t)r;
    }
    t->s[t->len] = '\0';
    return 0;
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    struct text t = {0};
    struct config *cfg = NULL;
    int fd, rc;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    rc = read_all(fd, &t);
    if (rc < 0)
        snprintf(err, errlen, "%s: read: %s", base, strerror(errno));
    close(fd);
    if (rc == 0 && (cfg = config_load_text(t.s, t.len, base, err, errlen)) != NULL)
        cfg->path = xstrdup(path);
    /* the daemon forks its children after this: no secret stays behind */
    text_free(&t);
    return cfg;
}

/* Bare text reads back as itself only without blanks, quotes, backslashes
 * or '#', and not as "$null". */
static bool
needs_quotes(const char *s)
{
    return s[0] == '$' || strpbrk(s, " \t\"\\#") != NULL;
}

static void
write_quoted(struct text *t, const char *s)
{
    text_putc(t, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            text_putc(t, '\\');
        text_putc(t, *s);
    }
    text_putc(t, '"');
}

static void
write_object(struct text *t, const struct config_kind_info *k, const void *obj)
{
    const char *name = config_object_name(k, obj);

    text_puts(t, "[");
    text_puts(t, k->name);
    if (!k->singleton) {
        text_putc(t, ' ');
        write_quoted(t, name ? name : "");
    }
    text_puts(t, "]\n");
    for (size_t i = 0; i < k->nparams; i++) {
        const struct config_param *p = &k->params[i];
        char *value;
        if (p->flags & CPF_NAME)
            continue;
        value = config_param_format(p, obj, CONFIG_FORMAT_FILE);
        text_puts(t, p->name);
        text_puts(t, " =");
        if (*value != '\0') {
            text_putc(t, ' ');
            if (config_string_type(p->type) && needs_quotes(value))
                write_quoted(t, value);
            else
                text_puts(t, value);
        }
        text_putc(t, '\n');
        if (config_secret_type(p->type))
            explicit_bzero(value, strlen(value));
        free(value);
    }
}

char *
config_format(const struct config *cfg, size_t *len)
{
    struct text t = {0};
    bool first = true;

    text_puts(&t, FILE_HEADER);
    for (int kind = 0; kind < CONFIG_NKINDS; kind++) {
        const struct config_kind_info *k = config_kind(kind);
        size_t n;
        const char *objs = config_objects(cfg, kind, &n);
        for (size_t i = 0; i < n; i++) {
            if (!first)
                text_putc(&t, '\n');
            first = false;
            write_object(&t, k, objs + i * k->size);
        }
    }
    if (len != NULL)
        *len = t.len;
    return t.s;
}

char *
config_format_text(const struct config *cfg)
{
    return config_format(cfg, NULL);
}

int
config_save(const struct config *cfg, const char *path, char *err, size_t errlen)
{
    struct fs_atomic w = {.mode = 0600, .replace = true, .sync_dir = true};
    struct stat st;
    size_t len;
    char *text;
    int rc;

    if (config_is_redacted(cfg)) {
        /* it would replace the instance's secrets with markers */
        snprintf(err, errlen, "%s: a configuration without its secrets is not saved", path);
        return -1;
    }
    /* Replacing the file must not take it away from its owner (the service
     * user reads it on reload after dropping privileges). */
    if (stat(path, &st) == 0 && (st.st_uid != geteuid() || st.st_gid != getegid())) {
        w.chown = true;
        w.uid = st.st_uid;
        w.gid = st.st_gid;
    }
    text = config_format(cfg, &len);
    rc = fs_write_atomic(path, text, len, &w);
    if (rc < 0)
        snprintf(err, errlen, "%s: %s: %s", path, w.step, strerror(errno));
    mem_free_wiped(text, len);
    return rc;
}
