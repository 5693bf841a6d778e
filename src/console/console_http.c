/*
 * console_http.c — the console's HTTP side: which request goes where, the
 * static files built into the binary, and the headers every answer
 * carries (a strict Content-Security-Policy: no inline script, no other
 * origin; no caching of API answers; no framing).
 * Must never: answer /api (but /api/login) without a session, a POST
 * without the session's CSRF token, or serve a file that is not built in.
 */
#include "console/console_assets.h"
#include "console/console_int.h"
#include "lib/log.h"
#include "lib/util.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CSP                                                                                        \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "                    \
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

static void
common_headers(struct evhttp_request *req, const char *type, bool cacheable)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Content-Security-Policy", CSP);
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "Strict-Transport-Security", "max-age=31536000");
    evhttp_add_header(h, "Cache-Control", cacheable ? "no-cache" : "no-store");
}

void
console_reply_json(struct evhttp_request *req, int code, json_t *body)
{
    struct evbuffer *out = evbuffer_new();
    char *text;

    if (body == NULL)
        body = json_object();
    text = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII);

    common_headers(req, "application/json; charset=utf-8", false);
    evbuffer_add(out, text, strlen(text));
    evhttp_send_reply(req, code, NULL, out);
    evbuffer_free(out);
    free(text);
    json_decref(body);
}

/* Text as a JSON string; bytes that are not UTF-8 become '?' rather than
 * losing the whole answer. */
json_t *
console_json_text(const char *text)
{
    json_t *v = json_string(text);

    if (v == NULL) {
        char *copy = xstrdup(text);
        for (char *p = copy; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        v = json_string(copy);
        free(copy);
    }
    return v;
}

void
console_reply_error(struct evhttp_request *req, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* a message cut at the buffer's end may end inside a character */
    console_reply_json(req, code, json_pack("{s:o}", "error", console_json_text(msg)));
}

const char *
console_client(struct evhttp_request *req, char *buf, size_t len)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    char *host = NULL;
    ev_uint16_t port = 0;

    evhttp_connection_get_peer(conn, &host, &port);
    strlcpy_p(buf, host ? host : "?", len);
    return buf;
}

json_t *
console_body_json(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    json_error_t jerr;
    json_t *v;

    v = json_loadb((const char *)evbuffer_pullup(in, -1), len, JSON_REJECT_DUPLICATES, &jerr);
    if (v == NULL || !json_is_object(v)) {
        json_decref(v);
        console_reply_error(req, 400, "The request is not a JSON object: %s",
                            v ? "another value" : jerr.text);
        return NULL;
    }
    return v;
}

json_t *
console_server_json(const struct console *c)
{
    const char *fqdn = c->fqdn ? c->fqdn : "";
    size_t n = strcspn(fqdn, ".");

    return json_pack("{s:s, s:s%}", "fqdn", fqdn, "name", fqdn, n);
}

static void
serve_asset(struct evhttp_request *req, const char *path)
{
    const struct console_asset *a =
        console_asset_find(strcmp(path, "/") == 0 ? "/index.html" : path);
    struct evbuffer *out;

    if (a == NULL || (strcmp(path, "/") != 0 && strncmp(path, "/static/", 8) != 0)) {
        console_reply_error(req, 404, "Not found.");
        return;
    }
    out = evbuffer_new();
    common_headers(req, a->type, true);
    evbuffer_add_reference(out, a->data, a->len, NULL, NULL);
    evhttp_send_reply(req, 200, NULL, out);
    evbuffer_free(out);
}

static void
api_session(struct console *c, struct evhttp_request *req, struct console_session *s)
{
    console_reply_json(req, 200,
                       json_pack("{s:s, s:s, s:s, s:o}", "user", s->user, "role",
                                 console_role_name(s->role), "csrf", s->csrf, "server",
                                 console_server_json(c)));
}

static void
api_logout(struct evhttp_request *req, struct console_session *s)
{
    char *cookie = console_session_cookie(NULL);

    log_info("console: %s signed out", s->user);
    console_session_end(s);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Set-Cookie", cookie);
    free(cookie);
    console_reply_json(req, 200, NULL);
}

/* Everything under /api but the sign-in: a session first, then for a POST
 * its CSRF token. */
static void
api(struct console *c, struct evhttp_request *req, const char *path, bool post)
{
    struct console_session *s = console_session_find(c, req);

    if (s == NULL) {
        console_reply_error(req, 401, "Sign in first (or again: the session has ended).");
        return;
    }
    /* the role as postern.conf says now: Remove-ExchangeAdministrator ends
     * the sessions at their next request, whatever it is */
    if ((s->role = console_current_role(c, s->user)) == ADMIN_ROLE_NONE) {
        log_warnx("console: %s is no longer an Exchange administrator: signed out", s->user);
        console_session_end(s);
        console_reply_error(req, 401, "You are no longer an Exchange administrator.");
        return;
    }
    if (post && !console_session_csrf_ok(s, req)) {
        char client[64];
        log_warnx("console: %s from %s: %s without the CSRF token refused", s->user,
                  console_client(req, client, sizeof(client)), path);
        console_reply_error(req, 403, "The request lacks this session's CSRF token.");
        return;
    }
    if (!post && strcmp(path, "/api/session") == 0)
        api_session(c, req, s);
    else if (!post && strcmp(path, "/api/audit") == 0)
        console_reply_json(req, 200, console_audit_read(c, 500));
    else if (post && strcmp(path, "/api/logout") == 0)
        api_logout(req, s);
    else if (post && strcmp(path, "/api/cmdlet") == 0)
        console_run_cmdlet(c, req, s);
    else
        console_reply_error(req, 404, "No such API request.");
}

/* A browser names the page a POST comes from (Origin): it must be ours,
 * https://<the Host it asked for>. Another site's form or script, or a
 * name rebound to this address, is refused before anything else. */
static bool
same_origin(struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *origin = evhttp_find_header(h, "Origin");
    const char *host = evhttp_find_header(h, "Host");

    if (origin == NULL) /* not a browser, or one that sends no Origin: the token still counts */
        return true;
    return host != NULL && strncmp(origin, "https://", 8) == 0 && strcmp(origin + 8, host) == 0;
}

/* The name the browser asked for (Host, without its port) must be this
 * server's: an IP address, localhost, or the server's FQDN or short name.
 * A page of another site whose name was made to point here (DNS
 * rebinding) asks by that site's name, and gets nothing. */
static bool
known_host(const struct console *c, struct evhttp_request *req)
{
    const char *host = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
    char name[256];
    unsigned char addr[16];
    size_t n;

    if (host == NULL) /* HTTP/1.0 without one: not a browser */
        return true;
    if (host[0] == '[') { /* [v6]:port */
        n = strcspn(host + 1, "]");
        if (host[1 + n] != ']' || n >= sizeof(name))
            return false;
        memcpy(name, host + 1, n);
        name[n] = '\0';
        return inet_pton(AF_INET6, name, addr) == 1;
    }
    n = strcspn(host, ":");
    if (n == 0 || n >= sizeof(name))
        return false;
    memcpy(name, host, n);
    name[n] = '\0';
    if (inet_pton(AF_INET, name, addr) == 1 || str_ieq(name, "localhost") ||
        (c->fqdn[0] != '\0' && str_ieq(name, c->fqdn)))
        return true;
    size_t label = strcspn(c->fqdn, ".");
    return label > 0 && strlen(name) == label && strncasecmp(name, c->fqdn, label) == 0;
}

void
console_http_request(struct evhttp_request *req, void *arg)
{
    struct console *c = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = evhttp_uri_get_path(uri);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

    if (path == NULL || (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_POST)) {
        console_reply_error(req, 405, "Only GET and POST.");
        return;
    }
    if (!known_host(c, req)) {
        console_reply_error(req, 421,
                            "Open the console by this server's address or name, not another's.");
        return;
    }
    if (cmd == EVHTTP_REQ_POST && !same_origin(req)) {
        char client[64];
        log_warnx("console: a POST from %s with Origin %s refused",
                  console_client(req, client, sizeof(client)),
                  evhttp_find_header(evhttp_request_get_input_headers(req), "Origin"));
        console_reply_error(req, 403, "Requests from another site are refused.");
        return;
    }
    if (strncmp(path, "/api/", 5) != 0) {
        if (cmd == EVHTTP_REQ_GET)
            serve_asset(req, path);
        else
            console_reply_error(req, 405, "Only GET.");
    } else if (strcmp(path, "/api/login") == 0) {
        if (cmd == EVHTTP_REQ_POST)
            console_login(c, req);
        else
            console_reply_error(req, 405, "Sign in with POST.");
    } else {
        api(c, req, path, cmd == EVHTTP_REQ_POST);
    }
}
