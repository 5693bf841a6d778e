/*
 * console_login.c — signing in: the mailbox's yescrypt hash checked on a
 * worker thread (the event loop keeps serving), the role of
 * Add-ExchangeAdministrator required, and failures slowed.
 *
 * Slowing: each failure for an account or a client address doubles a
 * wait (0.5 s, 1 s, 2 s ... up to 8 s) before the answer; while that wait
 * runs, further attempts for the same account or address are refused
 * outright (429), so parallel guessing gains nothing. A success clears
 * both; a quiet quarter of an hour forgets them.
 * Must never: keep a password after the check, tell a missing account
 * from a wrong password, or check a password without the slowing.
 */
#include "console/console_int.h"
#include "lib/log.h"
#include "lib/password.h"
#include "lib/util.h"
#include "lib/workq.h"

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define FAILURES_MAX 256
#define FAIL_FORGET_SECONDS 900
#define FAIL_DELAY_MAX_MS 8000
#define PASSWORD_MAX 1024

struct failures {
    char key[CONSOLE_USER_MAX + 8]; /* "u:alice" or "c:127.0.0.1" */
    unsigned count;
    time_t last;
    struct timespec until; /* no attempt before this (monotonic) */
};

static struct failures failures[FAILURES_MAX];

static double
mono_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
ts_seconds(struct timespec ts)
{
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The entry for key; with create, a new one (reusing the oldest). */
static struct failures *
failures_get(const char *key, bool create)
{
    struct failures *oldest = &failures[0];
    time_t now = time(NULL);

    for (size_t i = 0; i < FAILURES_MAX; i++) {
        struct failures *f = &failures[i];
        if (f->count > 0 && now - f->last > FAIL_FORGET_SECONDS)
            memset(f, 0, sizeof(*f));
        if (f->count > 0 && strcmp(f->key, key) == 0)
            return f;
        if (f->count == 0 || f->last < oldest->last)
            oldest = f;
    }
    if (!create)
        return NULL;
    memset(oldest, 0, sizeof(*oldest));
    strlcpy_p(oldest->key, key, sizeof(oldest->key));
    return oldest;
}

/* Seconds until key may try again (0: now). */
static double
failures_wait(const char *key)
{
    struct failures *f = failures_get(key, false);
    double left = f ? ts_seconds(f->until) - mono_now() : 0;

    return left > 0 ? left : 0;
}

/* Records a failure; returns the delay (ms) it earns. */
static unsigned
failures_add(const char *key)
{
    struct failures *f = failures_get(key, true);
    unsigned ms = 500;
    double until;

    f->count++;
    f->last = time(NULL);
    for (unsigned i = 1; i < f->count && ms < FAIL_DELAY_MAX_MS; i++)
        ms *= 2;
    if (ms > FAIL_DELAY_MAX_MS)
        ms = FAIL_DELAY_MAX_MS;
    until = mono_now() + ms / 1000.0;
    f->until.tv_sec = (time_t)until;
    f->until.tv_nsec = (long)((until - (double)f->until.tv_sec) * 1e9);
    return ms;
}

static void
failures_clear(const char *key)
{
    struct failures *f = failures_get(key, false);

    if (f != NULL)
        memset(f, 0, sizeof(*f));
}

struct login_job {
    struct console *c;
    struct evhttp_request *req;
    char user[CONSOLE_USER_MAX]; /* the mailbox's Name */
    char typed[CONSOLE_USER_MAX];
    char client[64];
    char ukey[CONSOLE_USER_MAX + 8], ckey[80];
    char *password;
    char *hash; /* NULL: no such account (a dummy is checked instead) */
    enum admin_role role;
    bool ok;
    struct event *delay;
};

/* A hash of nothing anyone knows, checked for a missing account so that the
 * answer takes as long as for a wrong password. */
static const char *
dummy_hash(void)
{
    static char hash[PASSWORD_HASH_SIZE];

    if (hash[0] == '\0') {
        char secret[33];
        console_random_hex(secret, 16);
        if (password_hash(secret, hash, sizeof(hash)) < 0)
            hash[0] = '\0';
        explicit_bzero(secret, sizeof(secret));
    }
    return hash;
}

static void
verify(void *arg)
{
    struct login_job *j = arg;

    j->ok = password_verify(j->password, j->hash ? j->hash : dummy_hash()) && j->hash != NULL;
}

static void
job_free(struct login_job *j)
{
    str_free_wiped(j->password);
    str_free_wiped(j->hash);
    if (j->delay)
        event_free(j->delay);
    free(j);
}

static void
reply_failure(evutil_socket_t fd, short what, void *arg)
{
    struct login_job *j = arg;

    console_reply_error(j->req, 401, "The user name or password is incorrect.");
    job_free(j);
}

static void
verified(void *arg)
{
    struct login_job *j = arg;
    struct console *c = j->c;

    if (!j->ok) {
        unsigned ms = failures_add(j->ukey);
        unsigned ms2 = failures_add(j->ckey);
        struct timeval tv;
        if (ms2 > ms)
            ms = ms2;
        log_warnx("console: sign-in failed for \"%s\" from %s (next attempt in %u ms)", j->typed,
                  j->client, ms);
        tv.tv_sec = ms / 1000;
        tv.tv_usec = (ms % 1000) * 1000;
        j->delay = evtimer_new(c->base, reply_failure, j);
        evtimer_add(j->delay, &tv);
        return;
    }
    failures_clear(j->ukey);
    failures_clear(j->ckey);
    if (j->role == ADMIN_ROLE_NONE) {
        log_warnx("console: \"%s\" from %s is not an Exchange administrator", j->user, j->client);
        console_reply_error(j->req, 403,
                            "%s is not an Exchange administrator (Add-ExchangeAdministrator "
                            "-Identity %s -Role OrgAdmin grants it).",
                            j->user, j->user);
        job_free(j);
        return;
    }
    struct console_session *s = console_session_new(c, j->user, j->role, j->client);
    char *cookie = console_session_cookie(s);
    json_t *body = json_pack("{s:s, s:s, s:s, s:o}", "user", s->user, "role",
                             j->role == ADMIN_ROLE_ORG ? "OrgAdmin" : "ViewOnlyAdmin", "csrf",
                             s->csrf, "server", console_server_json(c));
    log_info("console: %s signed in from %s", s->user, s->client);
    evhttp_add_header(evhttp_request_get_output_headers(j->req), "Set-Cookie", cookie);
    free(cookie);
    console_reply_json(j->req, 200, body);
    job_free(j);
}

void
console_login(struct console *c, struct evhttp_request *req)
{
    json_t *body = console_body_json(req);
    const char *user, *password;
    char client[64], err[512];
    struct config *cfg;
    struct login_job *j;
    double wait;

    if (body == NULL)
        return;
    user = json_string_value(json_object_get(body, "user"));
    password = json_string_value(json_object_get(body, "password"));
    if (user == NULL || password == NULL || *user == '\0' || strlen(user) >= CONSOLE_USER_MAX ||
        strlen(password) > PASSWORD_MAX) {
        console_reply_error(req, 400, "Give a user name and a password.");
        goto out;
    }
    j = xcalloc(1, sizeof(*j));
    j->c = c;
    j->req = req;
    strlcpy_p(j->typed, user, sizeof(j->typed));
    strlcpy_p(j->client, console_client(req, client, sizeof(client)), sizeof(j->client));
    snprintf(j->ukey, sizeof(j->ukey), "u:%s", user);
    str_lower(j->ukey);
    snprintf(j->ckey, sizeof(j->ckey), "c:%s", j->client);
    wait = failures_wait(j->ukey);
    if (failures_wait(j->ckey) > wait)
        wait = failures_wait(j->ckey);
    if (wait > 0) {
        log_warnx("console: sign-in for \"%s\" from %s refused: too many failures", user,
                  j->client);
        console_reply_error(req, 429, "Too many failed sign-ins: try again in %.0f seconds.",
                            wait + 0.5);
        job_free(j);
        goto out;
    }
    char *path = xasprintf("%s/postern.conf", c->instance_dir);
    cfg = config_load(path, err, sizeof(err));
    free(path);
    if (cfg == NULL) {
        log_warnx("console: %s", err);
        console_reply_error(req, 500, "The configuration cannot be read: %s", err);
        job_free(j);
        goto out;
    }
    const struct mailbox *mb = config_find_mailbox(cfg, user);
    if (mb != NULL && mb->password_hash != NULL) {
        j->hash = xstrdup(mb->password_hash);
        j->role = mb->admin_role;
        strlcpy_p(j->user, mb->name, sizeof(j->user));
    }
    config_unref(cfg);
    j->password = xstrdup(password);
    workq_submit(c->workq, verify, verified, j);
out:
    /* the body held the password */
    if (password != NULL)
        explicit_bzero((char *)password, strlen(password));
    json_decref(body);
}
