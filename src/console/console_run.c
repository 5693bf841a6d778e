/*
 * console_run.c — POST /api/cmdlet: one cmdlet, run as the shell runs it.
 *
 * The line console_cmdline.c wrote is run by a fresh `postern -D DIR
 * '<line>'` (this same binary), so the console shares the shell's parser,
 * binder, validation, transaction and reload, and a slow cmdlet (a
 * connectivity test, a reload) never stalls the console's event loop. A
 * secret reaches the child on its standard input; an uploaded file through
 * a private temporary file removed afterwards.
 * Must never: run a cmdlet for a session whose role no longer allows it
 * (console_http.c reads the role from postern.conf at each request), or
 * leave a change out of the audit log.
 */
#include "console/console_int.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUTPUT_MAX (8 * 1024 * 1024)
#define CMDLET_SECONDS 300

extern char **environ;

struct run {
    struct console_pending pending; /* first: the list's pointer is the run's */
    struct console *c;
    struct evhttp_request *req;
    char user[CONSOLE_USER_MAX];
    char client[64];
    struct console_cmdline cl;
    char upload_dir[64];
    pid_t pid;
    struct event *ev[2]; /* stdout, stderr */
    struct evbuffer *buf[2];
    int fd[2];
    int open; /* pipes not yet at their end */
    struct event *timeout;
    struct event *reap; /* looks for the child's end once its pipes closed */
};

static void
run_free(struct run *r)
{
    console_pending_remove(&r->pending);
    for (int i = 0; i < 2; i++) {
        if (r->ev[i])
            event_free(r->ev[i]);
        if (r->fd[i] >= 0)
            close(r->fd[i]);
        evbuffer_free(r->buf[i]);
    }
    if (r->timeout)
        event_free(r->timeout);
    if (r->reap)
        event_free(r->reap);
    if (r->upload_dir[0]) {
        char *f = xasprintf("%s/upload", r->upload_dir);
        unlink(f);
        free(f);
        rmdir(r->upload_dir);
    }
    console_cmdline_free(&r->cl);
    free(r);
}

/* The console stops: so does the cmdlet (its transaction leaves
 * postern.conf as it was, or committed). */
static void
run_cancel(struct console_pending *p)
{
    struct run *r = (struct run *)p;

    if (r->pid > 0) {
        kill(r->pid, SIGKILL);
        while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    run_free(r);
}

/* The child's error lines and WARNING lines, apart. */
static void
split_errors(const char *text, json_t **errors, json_t **warnings)
{
    char *copy = xstrdup(text), *save = NULL;
    char *e = xstrdup(""), *w = xstrdup("");

    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        bool warning = strncmp(line, "WARNING: ", 9) == 0;
        char **to = warning ? &w : &e;
        char *joined = xasprintf("%s%s%s", *to, **to ? "\n" : "", line + (warning ? 9 : 0));
        free(*to);
        *to = joined;
    }
    *errors = console_json_text(e);
    *warnings = console_json_text(w);
    free(copy);
    free(e);
    free(w);
}

static char *
buffer_text(struct evbuffer *b)
{
    size_t len = evbuffer_get_length(b);
    char *text = xmalloc(len + 1);

    evbuffer_remove(b, text, len);
    text[len] = '\0';
    return text;
}

/* The child has ended (status): the answer, the audit line, the end. */
static void
respond(struct run *r, int status)
{
    char *out = buffer_text(r->buf[0]), *err = buffer_text(r->buf[1]);
    json_t *objects = json_null(), *errors, *warnings;
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;

    if (!WIFEXITED(status) && *err == '\0') {
        free(err);
        err = xstrdup("The cmdlet did not finish (stopped or timed out).");
    }
    if (r->cl.read_only && ok) {
        json_error_t jerr;
        objects = *out ? json_loads(out, 0, &jerr) : json_array();
        if (objects == NULL) {
            ok = false;
            free(err);
            err = xasprintf("The cmdlet's output is not readable: %s", jerr.text);
            objects = json_array();
        } else if (!json_is_array(objects)) {
            json_t *one = objects;
            objects = json_array();
            json_array_append_new(objects, one);
        }
    }
    split_errors(err, &errors, &warnings);
    if (!r->cl.read_only) {
        console_audit_write(r->c, r->user, r->client, ok, r->cl.shown);
        log_info("console: %s ran %s: %s", r->user, ok ? "successfully" : "with an error",
                 r->cl.shown);
    }
    console_reply_json(r->req, 200,
                       json_pack("{s:b, s:s, s:o, s:o, s:o, s:o}", "ok", ok, "command", r->cl.shown,
                                 "objects", objects, "text",
                                 console_json_text(r->cl.read_only ? "" : out), "error", errors,
                                 "warnings", warnings));
    free(out);
    free(err);
    r->pid = 0;
    run_free(r);
}

/* Both pipes are at their end: the child is exiting, or closed them and
 * goes on (then it is looked at again shortly; the time limit still
 * holds). Never waits on the event loop. */
static void
reap(evutil_socket_t fd, short what, void *arg)
{
    struct run *r = arg;
    int status = 0;
    pid_t pid;

    while ((pid = waitpid(r->pid, &status, WNOHANG)) < 0 && errno == EINTR)
        ;
    if (pid == 0) {
        struct timeval soon = {0, 20 * 1000};
        if (r->reap == NULL)
            r->reap = evtimer_new(r->c->base, reap, r);
        evtimer_add(r->reap, &soon);
        return;
    }
    respond(r, status);
}

static void
on_output(evutil_socket_t fd, short what, void *arg)
{
    struct run *r = arg;
    int i = fd == r->fd[0] ? 0 : 1;
    int n = evbuffer_read(r->buf[i], fd, 65536);

    if (n > 0 && evbuffer_get_length(r->buf[i]) <= OUTPUT_MAX)
        return;
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    event_del(r->ev[i]);
    close(r->fd[i]);
    r->fd[i] = -1;
    if (n > 0) /* too much output: stop it */
        kill(r->pid, SIGKILL);
    if (--r->open == 0)
        reap(-1, 0, r);
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct run *r = arg;

    log_warnx("console: %s: still running after %d s, stopped", r->cl.shown, CMDLET_SECONDS);
    kill(r->pid, SIGKILL);
}

/* Writes the upload at path, in r's new private directory. */
static int
write_upload(struct run *r, const char *path)
{
    int fd;
    ssize_t n;

    if (mkdir(r->upload_dir, 0700) < 0) {
        r->upload_dir[0] = '\0';
        return -1;
    }
    if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
        return -1;
    n = write(fd, r->cl.upload, r->cl.upload_len);
    if (close(fd) < 0 || n != (ssize_t)r->cl.upload_len)
        return -1;
    return 0;
}

static int
spawn(struct run *r)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    char *line = r->cl.read_only ? xasprintf("%s | ConvertTo-Json", r->cl.run) : xstrdup(r->cl.run);
    char *argv[] = {r->c->exe, "-D", (char *)r->c->instance_dir, line, NULL};
    int rc = -1;

    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
        goto out;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    if ((rc = posix_spawn(&r->pid, r->c->exe, &fa, NULL, argv, environ)) != 0) {
        errno = rc; /* posix_spawn returns its error */
        rc = -1;
    }
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    in[0] = -1;
    if (rc == 0 && r->cl.secret != NULL) {
        /* one line of at most about 1 KiB into an empty pipe: written at
         * once; non-blocking all the same, and a child that exited first
         * only makes it fail (EPIPE: SIGPIPE is ignored) */
        size_t len = strlen(r->cl.secret);
        fcntl(in[1], F_SETFL, O_NONBLOCK);
        if (write(in[1], r->cl.secret, len) != (ssize_t)len)
            log_warnx("console: %s: the secret did not reach the cmdlet", r->cl.shown);
    }
    if (rc == 0) {
        r->fd[0] = out[0];
        r->fd[1] = err[0];
        out[0] = err[0] = -1;
    }
out:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (out[i] >= 0)
            close(out[i]);
        if (err[i] >= 0)
            close(err[i]);
    }
    free(line);
    return rc;
}

void
console_run_cmdlet(struct console *c, struct evhttp_request *req, struct console_session *s)
{
    json_t *body = console_body_json(req);
    char err[512], upload_path[128], hex[17];
    struct run *r;

    if (body == NULL)
        return;
    r = xcalloc(1, sizeof(*r));
    console_pending_add(c, &r->pending, run_cancel);
    r->c = c;
    r->req = req;
    r->fd[0] = r->fd[1] = -1;
    r->buf[0] = evbuffer_new();
    r->buf[1] = evbuffer_new();
    strlcpy_p(r->user, s->user, sizeof(r->user));
    strlcpy_p(r->client, s->client, sizeof(r->client));
    /* where an upload would go, named before the line is written */
    console_random_hex(hex, sizeof(hex) / 2);
    snprintf(r->upload_dir, sizeof(r->upload_dir), "/tmp/postern-console-%s", hex);
    snprintf(upload_path, sizeof(upload_path), "%s/upload", r->upload_dir);
    if (console_cmdline_build(body, upload_path, &r->cl, err, sizeof(err)) < 0) {
        console_reply_error(req, 400, "%s", err);
        goto fail;
    }
    if (s->role != ADMIN_ROLE_ORG && !r->cl.read_only) {
        log_warnx("console: %s (ViewOnlyAdmin) may not run %s", s->user, r->cl.shown);
        console_reply_error(req, 403, "%s: a ViewOnlyAdmin may run Get- cmdlets only.",
                            r->cl.shown);
        goto fail;
    }
    if (r->cl.upload != NULL && write_upload(r, upload_path) < 0) {
        console_reply_error(req, 500, "The uploaded file cannot be stored: %s", strerror(errno));
        goto fail;
    }
    if (r->cl.upload == NULL)
        r->upload_dir[0] = '\0'; /* nothing to remove afterwards */
    if (spawn(r) < 0) {
        console_reply_error(req, 500, "The cmdlet cannot be started: %s", strerror(errno));
        goto fail;
    }
    r->open = 2;
    for (int i = 0; i < 2; i++) {
        evutil_make_socket_nonblocking(r->fd[i]);
        r->ev[i] = event_new(c->base, r->fd[i], EV_READ | EV_PERSIST, on_output, r);
        event_add(r->ev[i], NULL);
    }
    r->timeout = evtimer_new(c->base, on_timeout, r);
    struct timeval limit = {CMDLET_SECONDS, 0};
    evtimer_add(r->timeout, &limit);
    json_decref(body);
    return;
fail:
    json_decref(body);
    run_free(r);
}
