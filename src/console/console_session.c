/*
 * console_session.c — signed-in browsers: a session is a random id in a
 * cookie (Secure; HttpOnly; SameSite=Strict) and a second random token the
 * page sends in X-CSRF-Token with every change. Sessions live in memory
 * only: restarting the console signs everyone out.
 * Must never: accept an expired session, compare a token other than in
 * constant time, or let a request change something without the CSRF token.
 */
#include "console/console_int.h"
#include "lib/util.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COOKIE_NAME "postern_session"

void
console_random_hex(char *buf, size_t n)
{
    unsigned char raw[64];

    if (n > sizeof(raw) || RAND_bytes(raw, (int)n) != 1) {
        /* no randomness, no sessions: better to stop than to guess */
        fprintf(stderr, "postern: console: no random bytes\n");
        abort();
    }
    for (size_t i = 0; i < n; i++)
        snprintf(buf + 2 * i, 3, "%02x", raw[i]);
    OPENSSL_cleanse(raw, sizeof(raw));
}

static bool
expired(const struct console *c, const struct console_session *s, time_t now)
{
    return now - s->last_used > (time_t)c->idle_timeout;
}

struct console_session *
console_session_new(struct console *c, const char *user, enum admin_role role, const char *client)
{
    time_t now = time(NULL);
    struct console_session *s = NULL;

    /* a free slot, else an expired one, else the least recently used */
    for (size_t i = 0; i < CONSOLE_MAX_SESSIONS; i++) {
        struct console_session *t = &c->sessions[i];
        if (!t->used || expired(c, t, now)) {
            s = t;
            break;
        }
        if (s == NULL || t->last_used < s->last_used)
            s = t;
    }
    memset(s, 0, sizeof(*s));
    s->used = true;
    console_random_hex(s->id, CONSOLE_TOKEN_HEX / 2);
    console_random_hex(s->csrf, CONSOLE_TOKEN_HEX / 2);
    strlcpy_p(s->user, user, sizeof(s->user));
    strlcpy_p(s->client, client, sizeof(s->client));
    s->role = role;
    s->last_used = now;
    return s;
}

static bool
token_eq(const char *a, const char *b)
{
    return a != NULL && strlen(a) == CONSOLE_TOKEN_HEX &&
           CRYPTO_memcmp(a, b, CONSOLE_TOKEN_HEX) == 0;
}

/* The value of our cookie in a Cookie header, copied into out. */
static bool
cookie_value(const char *header, char *out, size_t outlen)
{
    const char *p = header;
    size_t name_len = strlen(COOKIE_NAME);

    while (p != NULL && *p) {
        p += strspn(p, " \t;");
        if (strncmp(p, COOKIE_NAME, name_len) == 0 && p[name_len] == '=') {
            const char *v = p + name_len + 1;
            size_t n = strcspn(v, ";");
            if (n >= outlen)
                return false;
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
        p = strchr(p, ';');
    }
    return false;
}

struct console_session *
console_session_find(struct console *c, struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *cookie = evhttp_find_header(h, "Cookie");
    char id[CONSOLE_TOKEN_HEX + 1];
    time_t now = time(NULL);

    if (cookie == NULL || !cookie_value(cookie, id, sizeof(id)))
        return NULL;
    for (size_t i = 0; i < CONSOLE_MAX_SESSIONS; i++) {
        struct console_session *s = &c->sessions[i];
        if (!s->used || !token_eq(id, s->id))
            continue;
        if (expired(c, s, now)) {
            console_session_end(s);
            return NULL;
        }
        s->last_used = now;
        return s;
    }
    return NULL;
}

bool
console_session_csrf_ok(const struct console_session *s, struct evhttp_request *req)
{
    return token_eq(evhttp_find_header(evhttp_request_get_input_headers(req), "X-CSRF-Token"),
                    s->csrf);
}

void
console_session_end(struct console_session *s)
{
    OPENSSL_cleanse(s, sizeof(*s));
}

char *
console_session_cookie(const struct console_session *s)
{
    if (s == NULL)
        return xasprintf("%s=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0", COOKIE_NAME);
    return xasprintf("%s=%s; Path=/; Secure; HttpOnly; SameSite=Strict", COOKIE_NAME, s->id);
}
