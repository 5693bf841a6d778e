/*
 * console_int.h — what the console's files share: the process state, the
 * sessions, the HTTP helpers, and the entry points of each request kind.
 * Must never: be included outside src/console.
 */
#ifndef POSTERN_CONSOLE_INT_H
#define POSTERN_CONSOLE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config/config.h"

struct evhttp_request;
struct event_base;
struct workq;
struct json_t;

#define CONSOLE_TOKEN_HEX 64 /* 32 random bytes, hex */
#define CONSOLE_MAX_SESSIONS 256
#define CONSOLE_USER_MAX 256

struct console_session {
    bool used;
    char id[CONSOLE_TOKEN_HEX + 1];   /* the cookie's value */
    char csrf[CONSOLE_TOKEN_HEX + 1]; /* X-CSRF-Token of every change */
    char user[CONSOLE_USER_MAX];      /* the mailbox's Name */
    enum admin_role role;
    char client[64];
    time_t last_used;
};

/* Work that outlives its request's callback (a sign-in being checked or
 * slowed, a cmdlet running): listed so that stopping the console ends it. */
struct console_pending {
    struct console_pending *next, *prev;
    void (*cancel)(struct console_pending *p); /* ends it and frees its owner */
};

struct console {
    const char *instance_dir;
    char exe[4096]; /* this binary: cmdlets run in a fresh `postern -D DIR ...` */
    char *audit_path;
    struct event_base *base;
    struct workq *workq;
    uint64_t idle_timeout; /* seconds (ConsoleIdleTimeout) */
    char *fqdn;            /* the server's */
    struct console_session sessions[CONSOLE_MAX_SESSIONS];
    struct console_pending pending; /* list head */
};

void console_pending_add(struct console *c, struct console_pending *p,
                         void (*cancel)(struct console_pending *p));
void console_pending_remove(struct console_pending *p);

/* console_http.c: every request starts here (arg: the struct console). */
void console_http_request(struct evhttp_request *req, void *arg);
/* Answers. body may be NULL (no body). */
void console_reply_json(struct evhttp_request *req, int code, struct json_t *body);
void console_reply_error(struct evhttp_request *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Text as a JSON string; bytes that are not UTF-8 become '?' rather than
 * losing the whole answer. */
struct json_t *console_json_text(const char *text);
/* The peer's address as text. */
const char *console_client(struct evhttp_request *req, char *buf, size_t len);
/* The request body parsed as a JSON object, or NULL after answering 400. */
struct json_t *console_body_json(struct evhttp_request *req);
/* {"fqdn", "name"} of the server */
struct json_t *console_server_json(const struct console *c);

/* console_session.c */
/* A new session for user (a user's ninth ends that user's oldest); NULL
 * when every slot holds another user's live session. */
struct console_session *console_session_new(struct console *c, const char *user,
                                            enum admin_role role, const char *client);
/* "OrgAdmin", "ViewOnlyAdmin", "None" */
const char *console_role_name(enum admin_role role);
/* The user's role as postern.conf says now (NONE when it cannot be read). */
enum admin_role console_current_role(const struct console *c, const char *user);
/* The request's session (cookie), refreshed; NULL when none or expired. */
struct console_session *console_session_find(struct console *c, struct evhttp_request *req);
/* Does the request's X-CSRF-Token header carry the session's token? */
bool console_session_csrf_ok(const struct console_session *s, struct evhttp_request *req);
void console_session_end(struct console_session *s);
/* Set-Cookie value for s (NULL: the cookie that clears it). */
char *console_session_cookie(const struct console_session *s);
/* Fills buf with 2*n hex digits of fresh randomness. */
void console_random_hex(char *buf, size_t n);

/* console_login.c */
void console_login(struct console *c, struct evhttp_request *req);

/* console_cmdline.c: a cmdlet request as command lines. */
struct console_cmdline {
    char *run;    /* what the child runs (secrets as "-") */
    char *shown;  /* what the administrator sees and the audit log keeps */
    char *secret; /* the line for the cmdlet's standard input, or NULL (wipe it) */
    char *upload; /* a file to write before running, its bytes; NULL when none */
    size_t upload_len;
    char *upload_param; /* the parameter whose value is the upload's path */
    bool read_only;     /* a Get- cmdlet: its objects are wanted */
};
/* Builds the lines from {"cmdlet": name, "params": {...}}; upload_path is
 * where an uploaded file will be (it goes into run). 0, or -1 with err. */
int console_cmdline_build(struct json_t *request, const char *upload_path,
                          struct console_cmdline *out, char *err, size_t errlen);
void console_cmdline_free(struct console_cmdline *cl);

/* console_run.c */
void console_run_cmdlet(struct console *c, struct evhttp_request *req, struct console_session *s);

/* console_audit.c */
void console_audit_write(const struct console *c, const char *user, const char *client, bool ok,
                         const char *command);
/* The newest entries first, at most max. */
struct json_t *console_audit_read(const struct console *c, size_t max);

#endif
