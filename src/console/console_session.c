/*
 * console_session.c — signed-in browsers: a session is a random id in a
 * cookie (Secure; HttpOnly; SameSite=Strict) and a second random token the
 * page sends in X-CSRF-Token with every change. Sessions live in memory
 * only: restarting the console signs everyone out.
 * Must never: accept an expired session, compare a token other than in
 * constant time, or let a request change something without the CSRF token.
 */
#include "console/console_int.h"
#include "lib/log.h"
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

/* A user may keep this many sessions (browsers, tabs signed in anew); one
 * more ends that user's least recently used, never someone else's. */
#define SESSIONS_PER_USER 8

struct console_session *
console_session_new(struct console *c, const char *user, enum admin_role role, const char *client)
{
    time_t now = time(NULL);
    struct console_session *s = NULL, *oldest_own = NULL;
    unsigned own = 0;

    for (size_t i = 0; i < CONSOLE_MAX_SESSIONS; i++) {
        struct console_session *t = &c->sessions[i];
        if (t->used && expired(c, t, now))
            console_session_end(t);
        if (!t->used) {
            if (s == NULL)
                s = t;
            continue;
        }
        if (strcmp(t->user, user) == 0) {
            own++;
            if (oldest_own == NULL || t->last_used < oldest_own->last_used)
                oldest_own = t;
        }
    }
    if (own >= SESSIONS_PER_USER || (s == NULL && oldest_own != NULL))
        s = oldest_own;
    if (s == NULL)
        return NULL; /* every slot is another user's live session */
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

const char *
console_role_name(enum admin_role role)
{
    return role == ADMIN_ROLE_ORG         ? "OrgAdmin"
           : role == ADMIN_ROLE_VIEW_ONLY ? "ViewOnlyAdmin"
                                          : "None";
}

enum admin_role
console_current_role(const struct console *c, const char *user)
{
    char *path = xasprintf("%s/postern.conf", c->instance_dir), err[512];
    struct config *cfg = config_load(path, err, sizeof(err));
    enum admin_role role = ADMIN_ROLE_NONE;

    free(path);
    if (cfg == NULL) {
        log_warnx("console: %s", err);
        return ADMIN_ROLE_NONE;
    }
    const struct mailbox *mb = config_find_mailbox(cfg, user);
    if (mb != NULL && mb->password_hash != NULL)
        role = mb->admin_role;
    config_unref(cfg);
    return role;
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
