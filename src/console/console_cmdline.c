/*
 * console_cmdline.c — a console request as the command line the shell
 * would run: {"cmdlet": "New-SendConnector", "params": {"Name": "x", ...}}
 * becomes New-SendConnector -Name 'x' ... (docs/console.md lists the value
 * forms).
 *
 * The browser never sends command text: it names one cmdlet of the table
 * and gives values, and every value becomes a single-quoted PowerShell
 * literal (a quote inside doubled), so no value can become a parameter, a
 * pipeline, a statement or a variable. Parameter names are written in full
 * (aliases and prefixes resolved as the binder resolves them), so the
 * checks here see what the cmdlet will. Secrets go to the cmdlet's standard
 * input ("-" as the value), never into a line; file names only as uploads.
 * Must never: put a secret into run or shown, or accept a value with a
 * control character (a line end would end the statement).
 */
#include "admin/cmdlet.h"
#include "admin/cmdlet_help.h"
#include "admin/ps_run.h"
#include "console/console_int.h"
#include "lib/strbuf.h"
#include "lib/util.h"

#include <ctype.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define CONSOLE_UPLOAD_MAX (1024 * 1024)
#define CONSOLE_SECRET_MAX 1024

/* Parameters that name a file on the server: from the console, only a file
 * the browser uploaded (a path typed into a form would let a web session
 * read any file the console's user can). RequestFile writes one: refused,
 * the request is offered as a download instead. */
static const char *const upload_params[] = {"FileName", "Path", "FilePath", NULL};
static const char *const refused_params[] = {"RequestFile", NULL};

static bool
in_list(const char *const *list, const char *name)
{
    for (; *list; list++)
        if (str_ieq(*list, name))
            return true;
    return false;
}
/* Parameters whose value is a secret, and what the shown line says instead:
 * the shell's interactive ways of giving them. */
static const struct {
    const char *param;
    const char *shown;
} secrets[] = {
    {"Password", "-"},
    {"AuthenticationCredential", "(Get-Credential)"},
};

static const char *
secret_shown(const char *param)
{
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        if (str_ieq(param, secrets[i].param))
            return secrets[i].shown;
    return NULL;
}

/* A JSON string's text; NULL for anything else, and for a string with a
 * NUL in it (the text would end there, unseen). */
static const char *
text_of(json_t *v)
{
    const char *s = json_string_value(v);

    return s != NULL && strlen(s) == json_string_length(v) ? s : NULL;
}

static bool
param_name_ok(const char *name)
{
    if (!isalpha((unsigned char)*name) || strlen(name) > 64)
        return false;
    for (; *name; name++)
        if (!isalnum((unsigned char)*name))
            return false;
    return true;
}

/* 'text' with quotes doubled, onto run and (unless NULL) shown. */
static int
put_literal(struct strbuf *run, struct strbuf *shown, const char *param, const char *text,
            char *err, size_t errlen)
{
    if (str_has_control(text)) {
        errorf(err, errlen, "%s: a value may not hold control characters", param);
        return -1;
    }
    struct strbuf *both[2] = {run, shown};
    for (int i = 0; i < 2 && both[i] != NULL; i++) {
        strbuf_putc(both[i], '\'');
        for (const char *p = text; *p; p++) {
            if (*p == '\'')
                strbuf_putc(both[i], '\'');
            strbuf_putc(both[i], *p);
        }
        strbuf_putc(both[i], '\'');
    }
    return 0;
}

/* Standard base64 (RFC 4648, padded, no line breaks) decoded, malloc'd;
 * NULL when it is not that. */
static unsigned char *
base64_decode(const char *text, size_t len, size_t *outlen)
{
    unsigned char *out;
    int n;

    if (len % 4 != 0 || len > INT_MAX)
        return NULL;
    out = xmalloc(len / 4 * 3 + 1);
    if ((n = EVP_DecodeBlock(out, (const unsigned char *)text, (int)len)) < 0) {
        free(out);
        return NULL;
    }
    /* EVP_DecodeBlock counts the padding as data */
    for (size_t i = len; i > 0 && text[i - 1] == '='; i--)
        n--;
    *outlen = (size_t)n;
    return out;
}

static void
put_both(struct strbuf *run, struct strbuf *shown, const char *text)
{
    strbuf_puts(run, text);
    strbuf_puts(shown, text);
}

/* {"upload": base64, "name": file name}: the bytes into out, the path into
 * the run line, the name into the shown one. */
static int
put_upload(struct console_cmdline *out, struct strbuf *run, struct strbuf *shown, const char *param,
           json_t *v, const char *upload_path, char *err, size_t errlen)
{
    const char *data = text_of(json_object_get(v, "upload"));
    const char *name = text_of(json_object_get(v, "name"));
    size_t len;

    if (data == NULL || out->upload != NULL) {
        errorf(err, errlen, "%s: one uploaded file, given as {\"upload\": base64, \"name\"}",
               param);
        return -1;
    }
    if ((out->upload = (char *)base64_decode(data, strlen(data), &len)) == NULL ||
        len > CONSOLE_UPLOAD_MAX || len == 0) {
        errorf(err, errlen, "%s: the file is empty, not base64, or over 1 MiB", param);
        return -1;
    }
    out->upload_len = len;
    out->upload_param = xstrdup(param);
    return put_literal(run, NULL, param, upload_path, err, errlen) < 0 ||
                   put_literal(shown, NULL, param, name ? name : "upload", err, errlen) < 0
               ? -1
               : 0;
}

/* The full name of param as the cmdlet's binder would read it (an alias or
 * a unique prefix resolved), or NULL with err set when it is none of the
 * cmdlet's parameters. */
static const char *
canonical_param(const struct cmdlet_help *h, const char *cmdlet, const char *param, char *err,
                size_t errlen)
{
    const char *full = h ? cmdlet_help_resolve(h, param, err, errlen) : NULL;
    struct help_param_view *views;
    const char *known = NULL;
    size_t n;

    if (full == NULL) {
        if (h == NULL)
            errorf(err, errlen, "%s: %s takes no parameters here", param, cmdlet);
        return NULL;
    }
    views = cmdlet_help_params(h, &n);
    for (size_t i = 0; i < n && known == NULL; i++)
        if (str_ieq(views[i].name, full))
            known = views[i].name; /* static: the tables' */
    free(views);
    if (known == NULL)
        errorf(err, errlen, "%s: not a parameter of %s", param, cmdlet);
    return known;
}

static int
put_value(struct console_cmdline *out, const struct cmdlet *c, const struct cmdlet_help *h,
          struct strbuf *run, struct strbuf *shown, const char *param, json_t *v,
          const char *upload_path, char *err, size_t errlen)
{
    const char *shown_secret = secret_shown(param);

    if (in_list(refused_params, param)) {
        errorf(err, errlen, "%s: not from the console (it writes a file on the server)", param);
        return -1;
    }
    if (in_list(upload_params, param) && !json_is_object(v)) {
        errorf(err, errlen, "%s: from the console, only a file uploaded with the request", param);
        return -1;
    }
    if (shown_secret != NULL) {
        if (text_of(v) == NULL || out->secret != NULL || strlen(text_of(v)) > CONSOLE_SECRET_MAX) {
            errorf(err, errlen, "%s: one secret, as a string of at most %d octets", param,
                   CONSOLE_SECRET_MAX);
            return -1;
        }
        out->secret = xasprintf("%s\n", text_of(v));
        if (strpbrk(text_of(v), "\r\n") != NULL) {
            errorf(err, errlen, "%s: a line end is not allowed", param);
            return -1;
        }
        strbuf_printf(run, " -%s -", param);
        strbuf_printf(shown, " -%s %s", param, shown_secret);
        return 0;
    }
    if (json_is_boolean(v) && ps_is_switch(c, h, param)) {
        strbuf_printf(run, " -%s%s", param, json_is_true(v) ? "" : ":$false");
        strbuf_printf(shown, " -%s%s", param, json_is_true(v) ? "" : ":$false");
        return 0;
    }
    strbuf_printf(run, " -%s ", param);
    strbuf_printf(shown, " -%s ", param);
    if (json_is_boolean(v)) {
        put_both(run, shown, json_is_true(v) ? "$true" : "$false");
    } else if (json_is_null(v) || (json_is_array(v) && json_array_size(v) == 0)) {
        put_both(run, shown, "$null");
    } else if (json_is_string(v)) {
        if (text_of(v) == NULL) {
            errorf(err, errlen, "%s: a value may not hold control characters", param);
            return -1;
        }
        return put_literal(run, shown, param, text_of(v), err, errlen);
    } else if (json_is_integer(v)) {
        strbuf_printf(run, "%lld", (long long)json_integer_value(v));
        strbuf_printf(shown, "%lld", (long long)json_integer_value(v));
    } else if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            if (text_of(item) == NULL) {
                errorf(err, errlen, "%s: a list holds strings only, without NUL", param);
                return -1;
            }
            if (i > 0)
                put_both(run, shown, ",");
            if (put_literal(run, shown, param, text_of(item), err, errlen) < 0)
                return -1;
        }
    } else if (json_is_object(v)) {
        return put_upload(out, run, shown, param, v, upload_path, err, errlen);
    } else {
        errorf(err, errlen, "%s: a string, a boolean, a number, a list or null", param);
        return -1;
    }
    return 0;
}

int
console_cmdline_build(json_t *request, const char *upload_path, struct console_cmdline *out,
                      char *err, size_t errlen)
{
    const char *name = text_of(json_object_get(request, "cmdlet"));
    json_t *params = json_object_get(request, "params");
    const struct cmdlet *c;
    const struct cmdlet_help *h;
    struct strbuf run = {0}, shown = {0};
    const char *param;
    json_t *v;

    memset(out, 0, sizeof(*out));
    if (name == NULL || (c = cmdlet_find(name)) == NULL) {
        errorf(err, errlen, "\"cmdlet\": not a cmdlet of postern");
        return -1;
    }
    if (params != NULL && !json_is_object(params)) {
        errorf(err, errlen, "\"params\": an object of parameter names and values");
        return -1;
    }
    out->read_only = strncmp(c->name, "Get-", 4) == 0;
    put_both(&run, &shown, c->name);
    h = cmdlet_help_find(c->name);
    json_object_foreach(params, param, v)
    {
        const char *full;
        if (!param_name_ok(param)) {
            errorf(err, errlen, "\"%.64s\": not a parameter name", param);
            goto fail;
        }
        /* by its full name, so that what is checked here is what binds */
        if ((full = canonical_param(h, c->name, param, err, errlen)) == NULL ||
            put_value(out, c, h, &run, &shown, full, v, upload_path, err, errlen) < 0)
            goto fail;
    }
    out->run = strbuf_take(&run);
    out->shown = strbuf_take(&shown);
    return 0;
fail:
    free(strbuf_take(&run));
    free(strbuf_take(&shown));
    console_cmdline_free(out);
    return -1;
}

void
console_cmdline_free(struct console_cmdline *cl)
{
    free(cl->run);
    free(cl->shown);
    str_free_wiped(cl->secret);
    free(cl->upload);
    free(cl->upload_param);
    memset(cl, 0, sizeof(*cl));
}
