/*
 * console_login.c — signing in: the mailbox's yescrypt hash checked on a
 * worker thread (the event loop keeps serving), the role of
 * Add-ExchangeAdministrator required, and failures slowed.
 *
 * Slowing, counted three ways: for the account (its mailbox's Name, however
 * it was typed), for the client (its address; an IPv6 client by its /64),
 * and for the pair. Each failure doubles a wait (0.5 s, 1 s ... up to 8 s)
 * before its answer, the longest of the three. Until twice that wait has
 * passed, and while a check is under way, the same client, or the same
 * client for that account, is refused outright (429): guesses sent side by
 * side, or from the same place, gain nothing. Other places are not
 * refused for the account (so nobody can lock its owner out), only slowed.
 * A sign-in that opens a session clears the three; a quiet quarter of an
 * hour forgets them (and a full table, the entry unused longest).
 * Must never: keep a password after the check, tell a missing account, a
 * mailbox without the role or a wrong password apart in its answer, or
 * check a password without the slowing.
 */
#include "console/console_int.h"
#include "lib/log.h"
#include "lib/password.h"
#include "lib/util.h"
#include "lib/workq.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ATTEMPTS_MAX 4096
#define FAIL_FORGET_SECONDS 900
#define FAIL_DELAY_MAX_MS 8000
#define PASSWORD_MAX 1024
#define CHECKS_MAX 64 /* checks under way at once: one per client, from this many */

#define KEY_MAX (2 * CONSOLE_USER_MAX + 80)

/* What is known of the sign-ins of one account, client or pair. */
struct attempts {
    char key[KEY_MAX]; /* "u:alice", "c:127.0.0.1", "p:alice|127.0.0.1"; "" free */
    unsigned failures; /* in a row */
    unsigned checking; /* checks under way */
    time_t last;
    double until; /* no new check before this (monotonic seconds) */
};

static struct attempts attempts[ATTEMPTS_MAX];
static unsigned checks_under_way;

static double
mono_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Nothing left to remember: no check under way, no failure in the last
 * quarter of an hour. */
static bool
attempts_idle(const struct attempts *a, time_t now)
{
    return a->checking == 0 && (a->failures == 0 || now - a->last > FAIL_FORGET_SECONDS);
}

/* The entry for key; with create, a new one in a free or idle slot, else
 * in the one unused longest that no check holds (a flood of new names can
 * make the table forget, never refuse a sign-in). NULL when there is none
 * (without create), or when every slot is held by a check under way. */
static struct attempts *
attempts_get(const char *key, bool create)
{
    struct attempts *slot = NULL, *oldest = NULL;
    time_t now = time(NULL);

    for (size_t i = 0; i < ATTEMPTS_MAX; i++) {
        struct attempts *a = &attempts[i];
        if (a->key[0] != '\0' && strcmp(a->key, key) == 0) {
            if (attempts_idle(a, now))
                a->failures = 0;
            return a;
        }
        if (slot == NULL && (a->key[0] == '\0' || attempts_idle(a, now)))
            slot = a;
        if (a->checking == 0 && (oldest == NULL || a->last < oldest->last))
            oldest = a;
    }
    if (!create)
        return NULL;
    if (slot == NULL)
        slot = oldest;
    if (slot == NULL)
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

/* A check ended. After a failure, returns the delay (ms) before its answer;
 * no new check for key until twice that has passed. */
static unsigned
attempts_end(struct attempts *a, bool ok)
{
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

enum { K_ACCOUNT, K_CLIENT, K_PAIR, K_N };

struct login_job {
    struct console_pending pending; /* first: the list's pointer is the job's */
    struct console *c;
    struct evhttp_request *req;
    char user[CONSOLE_USER_MAX]; /* the mailbox's Name */
    char typed[CONSOLE_USER_MAX];
    char client[64];
    struct attempts *counts[K_N]; /* each with this check counted */
    char *password;
    char *hash; /* NULL: no such account (a dummy is checked instead) */
    enum admin_role role;
    bool ok;
    struct event *delay;
};

/* A hash of nothing anyone knows, checked for a missing account so that the
 * answer takes as long as for a wrong password. Made once, by whichever
 * worker needs it first (two workers run checks). */
static char dummy[PASSWORD_HASH_SIZE];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void
dummy_make(void)
{
    char secret[33];

    console_random_hex(secret, 16);
    if (password_hash(secret, dummy, sizeof(dummy)) < 0)
        dummy[0] = '\0';
    explicit_bzero(secret, sizeof(secret));
}

static const char *
dummy_hash(void)
{
    pthread_once(&dummy_once, dummy_make);
    return dummy;
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
    bool opens = j->ok && j->role != ADMIN_ROLE_NONE;
    unsigned ms = 0;

    checks_under_way--;
    for (int k = 0; k < K_N; k++) {
        unsigned d = attempts_end(j->counts[k], opens);
        if (d > ms)
            ms = d;
    }
    if (!opens) {
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        if (j->ok) /* the password was right: only the log says the rest */
            log_warnx("console: \"%s\" from %s is not an Exchange administrator "
                      "(Add-ExchangeAdministrator grants it): sign-in refused",
                      j->user, j->client);
        else
            log_warnx("console: sign-in failed for \"%s\" from %s (answered in %u ms)", j->typed,
                      j->client, ms);
        j->delay = evtimer_new(c->base, reply_failure, j);
        evtimer_add(j->delay, &tv);
        return;
    }
    struct console_session *s = console_session_new(c, j->user, j->role, j->client);
    if (s == NULL) {
        log_warnx("console: %s from %s: every session slot is in use", j->user, j->client);
        console_reply_error(j->req, 503, "Too many sessions are open: try again later.");
        job_free(j);
        return;
    }
    char *cookie = console_session_cookie(s);
    json_t *body =
        json_pack("{s:s, s:s, s:s, s:o}", "user", s->user, "role", console_role_name(s->role),
                  "csrf", s->csrf, "server", console_server_json(c));
    log_info("console: %s signed in from %s", s->user, s->client);
    evhttp_add_header(evhttp_request_get_output_headers(j->req), "Set-Cookie", cookie);
    free(cookie);
    console_reply_json(j->req, 200, body);
    job_free(j);
}

/* The client as counted: its address, an IPv6 one by its /64 (one host
 * has a whole /64 to draw addresses from). */
static void
client_key(const char *client, char *out, size_t outlen)
{
    struct in6_addr a6;

    if (inet_pton(AF_INET6, client, &a6) == 1 && !IN6_IS_ADDR_V4MAPPED(&a6)) {
        char text[INET6_ADDRSTRLEN];
        memset(a6.s6_addr + 8, 0, 8);
        inet_ntop(AF_INET6, &a6, text, sizeof(text));
        snprintf(out, outlen, "%s/64", text);
    } else {
        strlcpy_p(out, client, outlen);
    }
}

/* Refuses (answering) when the client or the pair must wait, or when too
 * much is going on; else counts the check in j->counts. */
static bool
admit(struct login_job *j, const char *account, const char *client)
{
    char keys[K_N][KEY_MAX], who[CONSOLE_USER_MAX], where[80];
    double wait = 0;

    strlcpy_p(who, account, sizeof(who));
    str_lower(who);
    client_key(client, where, sizeof(where));
    snprintf(keys[K_ACCOUNT], KEY_MAX, "u:%s", who);
    snprintf(keys[K_CLIENT], KEY_MAX, "c:%s", where);
    snprintf(keys[K_PAIR], KEY_MAX, "p:%s|%s", who, where);
    for (int k = K_CLIENT; k <= K_PAIR; k++)
        if (attempts_wait(keys[k]) > wait)
            wait = attempts_wait(keys[k]);
    if (wait > 0) {
        log_warnx("console: sign-in for \"%s\" from %s refused: too many failures", j->typed,
                  client);
        console_reply_error(j->req, 429, "Too many failed sign-ins: try again in %.0f seconds.",
                            wait + 0.5);
        return false;
    }
    /* each entry is held (checking) as soon as it is found, so that the
     * next one cannot take its slot */
    for (int k = 0; k < K_N; k++) {
        if (checks_under_way >= CHECKS_MAX ||
            (j->counts[k] = attempts_get(keys[k], true)) == NULL) {
            while (k-- > 0)
                j->counts[k]->checking--;
            log_warnx("console: sign-in for \"%s\" from %s refused: too many sign-ins at once",
                      j->typed, client);
            console_reply_error(j->req, 429, "Too many sign-ins at once: try again shortly.");
            return false;
        }
        j->counts[k]->checking++;
        j->counts[k]->last = time(NULL);
    }
    checks_under_way++;
    return true;
}

void
console_login(struct console *c, struct evhttp_request *req)
{
    json_t *body = console_body_json(req);
    const char *user, *password;
    char client[64], err[512];
    struct config *cfg;
    struct login_job *j;

    if (body == NULL)
        return;
    user = json_string_value(json_object_get(body, "user"));
    password = json_string_value(json_object_get(body, "password"));
    if (user == NULL || password == NULL || *user == '\0' || strlen(user) >= CONSOLE_USER_MAX ||
        str_has_control(user) || strlen(password) > PASSWORD_MAX) {
        console_reply_error(req, 400, "Give a user name and a password.");
        goto out;
    }
    /* a client that must wait is refused before the configuration is read */
    char where[80], key[KEY_MAX];
    client_key(console_client(req, client, sizeof(client)), where, sizeof(where));
    snprintf(key, sizeof(key), "c:%s", where);
    if (attempts_wait(key) > 0) {
        log_warnx("console: sign-in for \"%s\" from %s refused: too many failures", user, client);
        console_reply_error(req, 429, "Too many failed sign-ins: try again in %.0f seconds.",
                            attempts_wait(key) + 0.5);
        goto out;
    }
    char *path = xasprintf("%s/postern.conf", c->instance_dir);
    cfg = config_load(path, err, sizeof(err));
    free(path);
    if (cfg == NULL) {
        log_warnx("console: %s", err);
        console_reply_error(req, 500, "The configuration cannot be read.");
        goto out;
    }
    j = xcalloc(1, sizeof(*j));
    console_pending_add(c, &j->pending, job_cancel);
    j->c = c;
    j->req = req;
    strlcpy_p(j->typed, user, sizeof(j->typed));
    strlcpy_p(j->client, console_client(req, client, sizeof(client)), sizeof(j->client));
    const struct mailbox *mb = config_find_mailbox(cfg, user);
    if (mb != NULL && mb->password_hash != NULL) {
        j->hash = xstrdup(mb->password_hash);
        j->role = mb->admin_role;
        strlcpy_p(j->user, mb->name, sizeof(j->user));
    }
    /* an account is counted by its mailbox's Name, whichever way it was typed */
    bool admitted = admit(j, mb ? mb->name : user, j->client);
    config_unref(cfg);
    if (!admitted) {
        job_free(j);
        goto out;
    }
    j->password = xstrdup(password);
    workq_submit(c->workq, verify, verified, j);
out:
    /* the body held the password */
    if (password != NULL)
        explicit_bzero((char *)password, strlen(password));
    json_decref(body);
}
