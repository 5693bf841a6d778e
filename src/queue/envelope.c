/*
 * envelope.c — see envelope.h. The text format:
 *
 *   version: 1
 *   id: 0006A1B2C3D4E5F6
 *   received: 1764358200
 *   from: alice@example.org
 *   rcpt: ready 6 rfc822;bob@example.test bob@example.test
 *   end
 *
 * A value is escaped with \n, \r, \\ and \xHH for other control octets, so
 * one field is always one line.
 */
#include "queue/envelope.h"
#include "lib/strbuf.h"
#include "lib/util.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENVELOPE_VERSION 1

struct envelope *
envelope_new(void)
{
    return xcalloc(1, sizeof(struct envelope));
}

void
envelope_free(struct envelope *env)
{
    if (env == NULL)
        return;
    free(env->connector);
    free(env->client_ip);
    free(env->client_helo);
    free(env->auth_user);
    free(env->tls);
    free(env->domain_secured);
    free(env->from);
    free(env->envid);
    for (size_t i = 0; i < env->nrcpts; i++) {
        free(env->rcpts[i].address);
        free(env->rcpts[i].orcpt);
        free(env->rcpts[i].last_error);
    }
    free(env->rcpts);
    free(env);
}

void
envelope_add_rcpt(struct envelope *env, const char *address, unsigned notify, const char *orcpt)
{
    struct envelope_rcpt *r;

    env->rcpts = xrealloc(env->rcpts, (env->nrcpts + 1) * sizeof(*env->rcpts));
    r = &env->rcpts[env->nrcpts++];
    r->address = xstrdup(address);
    r->notify = notify;
    r->orcpt = orcpt && *orcpt ? xstrdup(orcpt) : NULL;
    r->status = RCPT_READY;
    r->last_error = NULL;
}

static void
sbuf_escaped(struct strbuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    while (*s) {
        /* the octets that need no escape go in whole runs */
        size_t n = 0;
        while (s[n] && s[n] != '\\' && s[n] != ' ' && (unsigned char)s[n] >= 0x20 &&
               (unsigned char)s[n] != 0x7f)
            n++;
        if (n > 0) {
            strbuf_add(b, s, n);
            s += n;
            continue;
        }
        unsigned char c = (unsigned char)*s++;
        if (c == '\\') {
            strbuf_add(b, "\\\\", 2);
        } else if (c == ' ') {
            /* spaces separate fields of a rcpt line */
            strbuf_add(b, "\\x20", 4);
        } else {
            char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            strbuf_add(b, esc, sizeof(esc));
        }
    }
}

static void
sbuf_field(struct strbuf *b, const char *key, const char *value)
{
    if (value == NULL)
        return;
    strbuf_puts(b, key);
    strbuf_add(b, ": ", 2);
    sbuf_escaped(b, value);
    strbuf_add(b, "\n", 1);
}

/* v in decimal into buf (at least 21 octets); returns where it starts. */
static const char *
decimal(uint64_t v, char buf[21])
{
    char *p = buf + 20;

    *p = '\0';
    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    return p;
}

static void
sbuf_number(struct strbuf *b, const char *key, uint64_t v)
{
    char num[21];

    sbuf_field(b, key, decimal(v, num));
}

static const char *const rcpt_status_names[] = {"ready", "delivered", "failed"};

char *
envelope_serialize(const struct envelope *env, size_t *len)
{
    struct strbuf b = {0};
    char num[21];

    strbuf_reserve(&b, 512); /* one allocation for the usual envelope */
    sbuf_number(&b, "version", ENVELOPE_VERSION);
    sbuf_field(&b, "id", env->id);
    sbuf_number(&b, "received", (uint64_t)env->received);
    sbuf_field(&b, "connector", env->connector);
    sbuf_field(&b, "client-ip", env->client_ip);
    sbuf_field(&b, "client-helo", env->client_helo);
    sbuf_field(&b, "auth-user", env->auth_user);
    sbuf_field(&b, "tls", env->tls);
    sbuf_field(&b, "domain-secured", env->domain_secured);
    sbuf_field(&b, "from", env->from ? env->from : "");
    sbuf_field(&b, "envid", env->envid);
    sbuf_number(&b, "ret", (uint64_t)env->ret);
    sbuf_number(&b, "body", (uint64_t)env->body);
    sbuf_number(&b, "smtputf8", env->smtputf8);
    /* Written only when set: an envelope without them reads as false, the
     * way every envelope written before they existed does. */
    if (env->requiretls)
        sbuf_number(&b, "requiretls", 1);
    if (env->tls_required_no && !env->requiretls)
        sbuf_number(&b, "tls-required-no", 1);
    sbuf_number(&b, "size", env->size);
    for (size_t i = 0; i < env->nrcpts; i++) {
        const struct envelope_rcpt *r = &env->rcpts[i];
        strbuf_puts(&b, "rcpt: ");
        strbuf_puts(&b, rcpt_status_names[r->status]);
        strbuf_putc(&b, ' ');
        strbuf_puts(&b, decimal(r->notify, num));
        strbuf_putc(&b, ' ');
        if (r->orcpt)
            sbuf_escaped(&b, r->orcpt);
        else
            strbuf_putc(&b, '-');
        strbuf_putc(&b, ' ');
        sbuf_escaped(&b, r->address);
        strbuf_putc(&b, '\n');
    }
    sbuf_number(&b, "attempts", env->attempts);
    sbuf_number(&b, "next-attempt", (uint64_t)env->next_attempt);
    sbuf_number(&b, "delay-notified", env->delay_notified);
    sbuf_number(&b, "suspended", env->suspended);
    for (size_t i = 0; i < env->nrcpts; i++) {
        if (env->rcpts[i].last_error == NULL)
            continue;
        strbuf_puts(&b, "rcpt-error: ");
        strbuf_puts(&b, decimal(i, num));
        strbuf_putc(&b, ' ');
        sbuf_escaped(&b, env->rcpts[i].last_error);
        strbuf_putc(&b, '\n');
    }
    strbuf_puts(&b, "end\n");
    *len = b.len;
    return b.s;
}

/* Undoes sbuf_escaped in place; returns -1 on a malformed escape. */
static int
unescape(char *s)
{
    char *out = s;

    while (*s) {
        if (*s != '\\') {
            *out++ = *s++;
            continue;
        }
        if (s[1] == '\\') {
            *out++ = '\\';
            s += 2;
        } else if (s[1] == 'x' && isxdigit((unsigned char)s[2]) && isxdigit((unsigned char)s[3])) {
            char hex[3] = {s[2], s[3], '\0'};
            *out++ = (char)strtol(hex, NULL, 16);
            s += 4;
        } else {
            return -1;
        }
    }
    *out = '\0';
    return 0;
}

static int
parse_u64(const char *s, uint64_t *v)
{
    char *end;

    if (!isdigit((unsigned char)*s))
        return -1;
    *v = strtoull(s, &end, 10);
    return *end == '\0' ? 0 : -1;
}

static int
parse_rcpt(struct envelope *env, char *value)
{
    char *status = value, *notify, *orcpt, *address;
    uint64_t n;
    int st = -1;

    if ((notify = strchr(status, ' ')) == NULL)
        return -1;
    *notify++ = '\0';
    if ((orcpt = strchr(notify, ' ')) == NULL)
        return -1;
    *orcpt++ = '\0';
    if ((address = strchr(orcpt, ' ')) == NULL)
        return -1;
    *address++ = '\0';
    for (int i = 0; i < 3; i++)
        if (strcmp(status, rcpt_status_names[i]) == 0)
            st = i;
    if (st < 0 || parse_u64(notify, &n) < 0 || unescape(address) < 0)
        return -1;
    if (strcmp(orcpt, "-") == 0)
        orcpt = NULL;
    else if (unescape(orcpt) < 0)
        return -1;
    envelope_add_rcpt(env, address, (unsigned)n, orcpt);
    env->rcpts[env->nrcpts - 1].status = (enum rcpt_status)st;
    return 0;
}

/* "<index> <escaped text>": the last error of an earlier rcpt line. */
static int
parse_rcpt_error(struct envelope *env, char *value)
{
    char *text = strchr(value, ' ');
    uint64_t idx;

    if (text == NULL)
        return -1;
    *text++ = '\0';
    if (parse_u64(value, &idx) < 0 || idx >= env->nrcpts || unescape(text) < 0)
        return -1;
    free(env->rcpts[idx].last_error);
    env->rcpts[idx].last_error = xstrdup(text);
    return 0;
}

/* A repeated string key replaces the earlier value. Each key returns at
 * once: no "which field" pointer is carried on to a later null test. */
static int
set_string(char **field, const char *value)
{
    free(*field);
    *field = xstrdup(value);
    return 0;
}

static int
envelope_set(struct envelope *env, const char *key, char *value)
{
    uint64_t n;

    if (strcmp(key, "rcpt") == 0)
        return parse_rcpt(env, value);
    if (strcmp(key, "rcpt-error") == 0)
        return parse_rcpt_error(env, value);
    if (unescape(value) < 0)
        return -1;
    if (strcmp(key, "id") == 0) {
        if (strlen(value) != QUEUE_ID_LEN)
            return -1;
        memcpy(env->id, value, QUEUE_ID_LEN + 1);
        return 0;
    }
    if (strcmp(key, "connector") == 0)
        return set_string(&env->connector, value);
    if (strcmp(key, "client-ip") == 0)
        return set_string(&env->client_ip, value);
    if (strcmp(key, "client-helo") == 0)
        return set_string(&env->client_helo, value);
    if (strcmp(key, "auth-user") == 0)
        return set_string(&env->auth_user, value);
    if (strcmp(key, "tls") == 0)
        return set_string(&env->tls, value);
    if (strcmp(key, "domain-secured") == 0)
        return set_string(&env->domain_secured, value);
    if (strcmp(key, "from") == 0)
        return set_string(&env->from, value);
    if (strcmp(key, "envid") == 0)
        return set_string(&env->envid, value);
    if (parse_u64(value, &n) < 0)
        return -1;
    if (strcmp(key, "received") == 0)
        env->received = (time_t)n;
    else if (strcmp(key, "ret") == 0)
        env->ret = (int)n;
    else if (strcmp(key, "body") == 0)
        env->body = (int)n;
    else if (strcmp(key, "smtputf8") == 0)
        env->smtputf8 = n != 0;
    else if (strcmp(key, "requiretls") == 0)
        env->requiretls = n != 0;
    else if (strcmp(key, "tls-required-no") == 0)
        env->tls_required_no = n != 0;
    else if (strcmp(key, "size") == 0)
        env->size = n;
    else if (strcmp(key, "attempts") == 0)
        env->attempts = (unsigned)n;
    else if (strcmp(key, "next-attempt") == 0)
        env->next_attempt = (time_t)n;
    else if (strcmp(key, "delay-notified") == 0)
        env->delay_notified = n != 0;
    else if (strcmp(key, "suspended") == 0)
        env->suspended = n != 0;
    /* Unknown numeric keys from a newer minor format are ignored. */
    return 0;
}

struct envelope *
envelope_parse(const char *text, size_t len, char *err, size_t errlen)
{
    struct envelope *env = envelope_new();
    char *copy = xstrndup(text, len), *line, *next;
    bool versioned = false, ended = false;
    int lineno = 0;

    for (line = copy; line && *line; line = next) {
        char *colon;
        lineno++;
        if ((next = strchr(line, '\n')) == NULL) {
            snprintf(err, errlen, "line %d: truncated", lineno);
            goto fail;
        }
        *next++ = '\0';
        if (ended) {
            snprintf(err, errlen, "line %d: data after end", lineno);
            goto fail;
        }
        if (strcmp(line, "end") == 0) {
            ended = true;
            continue;
        }
        if ((colon = strstr(line, ": ")) == NULL) {
            snprintf(err, errlen, "line %d: expected 'key: value'", lineno);
            goto fail;
        }
        *colon = '\0';
        if (!versioned) {
            if (strcmp(line, "version") != 0 || strcmp(colon + 2, "1") != 0) {
                snprintf(err, errlen, "unknown envelope version");
                goto fail;
            }
            versioned = true;
            continue;
        }
        if (envelope_set(env, line, colon + 2) < 0) {
            snprintf(err, errlen, "line %d: bad value for %s", lineno, line);
            goto fail;
        }
    }
    if (!ended || env->id[0] == '\0' || env->from == NULL) {
        snprintf(err, errlen, "incomplete envelope (no end marker)");
        goto fail;
    }
    /* RFC 8689: with REQUIRETLS the TLS-Required field is ignored, so a
     * text that says both (written by hand) still asks for TLS. */
    if (env->requiretls)
        env->tls_required_no = false;
    free(copy);
    return env;
fail:
    free(copy);
    envelope_free(env);
    return NULL;
}
