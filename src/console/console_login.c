/*
 * console_login.c — signing in: the mailbox's yescrypt hash checked on a
 * worker thread (the event loop keeps serving), the role of
 * Add-ExchangeAdministrator required, and failures slowed.
 *
 * Slowing: each failure for an account or a client address doubles a
 * wait (0.5 s, 1 s, 2 s ... up to 8 s) before the answer; until twice that
 * wait has passed, further attempts for the same account or address are
 * refused outright (429), and so are they while a check is under way:
 * parallel guessing gains nothing. A success clears
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

#define ATTEMPTS_MAX 256
#define FAIL_FORGET_SECONDS 900
#define FAIL_DELAY_MAX_MS 8000
#define PASSWORD_MAX 1024

/* What is known of the sign-ins of one account ("u:alice") or one client
 * address ("c:127.0.0.1"). */
struct attempts {
    char key[CONSOLE_USER_MAX + 8];
    unsigned failures; /* in a row */
    unsigned checking; /* checks under way */
    time_t last;
    double until; /* no new check before this (monotonic seconds) */
};

static struct attempts attempts[ATTEMPTS_MAX];

static double
mono_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool
attempts_idle(const struct attempts *a, time_t now)
{
    return a->checking == 0 && (a->failures == 0 || now - a->last > FAIL_FORGET_SECONDS);
}

/* The entry for key; with create, a new one (in a free or idle slot, else
 * the one least recently used). */
static struct attempts *
attempts_get(const char *key, bool create)
{
    struct attempts *slot = NULL;
    time_t now = time(NULL);

    for (size_t i = 0; i < ATTEMPTS_MAX; i++) {
        struct attempts *a = &attempts[i];
        if (a->key[0] != '\0' && strcmp(a->key, key) == 0) {
            if (attempts_idle(a, now)) /* forgotten after a quiet while */
                a->failures = 0;
            return a;
        }
        if (slot == NULL ||
            (!attempts_idle(slot, now) && (attempts_idle(a, now) || a->last < slot->last)))
            slot = a;
    }
    if (!create)
        return NULL;
    memset(slot, 0, sizeof(*slot));
    strlcpy_p(slot->key, key, sizeof(slot->key));
    return slot;
}

/* Seconds before key may be checked (0: now; a check under way counts). */
static double
attempts_wait(const char *key)
{
    struct attempts *a = attempts_get(key, false);
    double left;

    if (a == NULL)
        return 0;
    if (a->checking > 0)
        return 1;
    left = a->until - mono_now();
    return left > 0 ? left : 0;
}

static void
attempts_begin(const char *key)
{
    struct attempts *a = attempts_get(key, true);

    a->checking++;
    a->last = time(NULL);
}

/* A check ended. After a failure, returns the delay (ms) before its answer;
 * no new check for key until twice that has passed. */
static unsigned
attempts_end(const char *key, bool ok)
{
    struct attempts *a = attempts_get(key, true);
    unsigned ms = 500;

    if (a->checking > 0)
        a->checking--;
    a->last = time(NULL);
    if (ok) {
        a->failures = 0;
        a->until = 0;
        return 0;
    }
    a->failures++;
    for (unsigned i = 1; i < a->failures && ms < FAIL_DELAY_MAX_MS; i++)
        ms *= 2;
    if (ms > FAIL_DELAY_MAX_MS)
        ms = FAIL_DELAY_MAX_MS;
    a->until = mono_now() + 2 * ms / 1000.0;
    return ms;
}

struct login_job {
    struct console_pending pending; /* first: the list's pointer is the job's */
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
    console_pending_remove(&j->pending);
    str_free_wiped(j->password);
    str_free_wiped(j->hash);
    if (j->delay)
        event_free(j->delay);
    free(j);
}

static void
job_cancel(struct console_pending *p)
{
    job_free((struct login_job *)p);
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

    unsigned ms = attempts_end(j->ukey, j->ok), ms2 = attempts_end(j->ckey, j->ok);

    if (!j->ok) {
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
    console_pending_add(c, &j->pending, job_cancel);
    j->c = c;
    j->req = req;
    strlcpy_p(j->typed, user, sizeof(j->typed));
    strlcpy_p(j->client, console_client(req, client, sizeof(client)), sizeof(j->client));
    snprintf(j->ukey, sizeof(j->ukey), "u:%s", user);
    str_lower(j->ukey);
    snprintf(j->ckey, sizeof(j->ckey), "c:%s", j->client);
    wait = attempts_wait(j->ukey);
    if (attempts_wait(j->ckey) > wait)
        wait = attempts_wait(j->ckey);
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
    attempts_begin(j->ukey);
    attempts_begin(j->ckey);
    workq_submit(c->workq, verify, verified, j);
out:
    /* the body held the password */
    if (password != NULL)
        explicit_bzero((char *)password, strlen(password));
    json_decref(body);
}
