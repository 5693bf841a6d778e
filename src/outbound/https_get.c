/*
 * https_get.c — an HTTPS GET or POST with evhttp over bufferevent_openssl
 * (see https_get.h).
 *
 * Each address is tried in turn until one answers with an HTTP response;
 * the handshake itself fails on a certificate that does not chain to a
 * trusted root or name the host (evhttp writes the request, a POST's body
 * too, as soon as the handshake is done), and tls_peer_check looks again
 * as soon as the response's header arrives: a bad one ends the request
 * before its body is read. The result is delivered
 * from a zero-delay event, after the evhttp connection is freed, because
 * evhttp must not be freed from inside its own request callback.
 */
#include "outbound/https_get.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/iprange.h"
#include "tls/tls.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct https_get {
    struct event_base *base;
    struct ssl_ctx_st *ctx;
    struct sockaddr_storage *addrs;
    size_t naddrs, next;
    uint16_t port;
    char *host, *path;
    char *req_type;          /* a POST's Content-Type; NULL: GET */
    unsigned char *req_body; /* a POST's body */
    size_t req_len;
    size_t max_body;
    unsigned timeout;
    https_get_cb *cb;
    void *arg;

    struct evhttp_connection *conn;
    struct evhttp_request *req;
    struct event *deliver;  /* hands the result over from the loop */
    struct event *deadline; /* the whole fetch, every address together */
    bool certificate_ok;    /* checked when the response's header came */
    bool ok;
    int status;
    char *content_type, *body;
    size_t len;
    char why[400];
    char tls_why[400]; /* why the handshake refused the certificate */
};

static void try_next(struct https_get *g);

static void
drop_connection(struct https_get *g)
{
    if (g->conn != NULL) {
        /* freeing the connection cancels a request still pending on it */
        evhttp_connection_free(g->conn);
        g->conn = NULL;
        g->req = NULL;
    }
}

static void
get_free(struct https_get *g)
{
    drop_connection(g);
    if (g->deliver != NULL)
        event_free(g->deliver);
    if (g->deadline != NULL)
        event_free(g->deadline);
    free(g->addrs);
    free(g->host);
    free(g->path);
    free(g->req_type);
    free(g->req_body);
    free(g->content_type);
    free(g->body);
    free(g);
}

static void
deliver_cb(evutil_socket_t fd, short what, void *arg)
{
    struct https_get *g = arg;

    drop_connection(g);
    if (!g->ok && g->next < g->naddrs) {
        try_next(g);
        return;
    }
    if (g->ok) {
        struct https_response resp = {g->status, g->content_type ? g->content_type : "",
                                      g->body ? g->body : "", g->len};
        g->cb(g->arg, &resp, NULL);
    } else {
        g->cb(g->arg, NULL, g->why);
    }
    get_free(g);
}

static void
finish(struct https_get *g)
{
    event_active(g->deliver, EV_TIMEOUT, 0);
}

/* evhttp's timeout is per read or write: a server that trickles a byte
 * now and then would hold the fetch for ever without this one. */
static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct https_get *g = arg;

    drop_connection(g);
    g->ok = false;
    g->next = g->naddrs;
    errorf(g->why, sizeof(g->why), "https://%s%s: no complete answer within %u s", g->host, g->path,
           g->timeout);
    finish(g);
}

static const char *
request_error_text(enum evhttp_request_error e)
{
    switch (e) {
    case EVREQ_HTTP_TIMEOUT:
        return "timed out";
    case EVREQ_HTTP_EOF:
        return "the connection closed before a response";
    case EVREQ_HTTP_INVALID_HEADER:
        return "an invalid HTTP response";
    case EVREQ_HTTP_BUFFER_ERROR:
        return "a connection or TLS error";
    case EVREQ_HTTP_DATA_TOO_LONG:
        return "a response larger than allowed";
    case EVREQ_HTTP_REQUEST_CANCEL:
        return "cancelled";
    }
    return "an HTTP error";
}

static void
on_error(enum evhttp_request_error e, void *arg)
{
    struct https_get *g = arg;
    struct bufferevent *bev = g->conn ? evhttp_connection_get_bufferevent(g->conn) : NULL;
    unsigned long ssl_err = bev ? bufferevent_get_openssl_error(bev) : 0;
    char text[200] = "", buf[160];

    g->req = NULL; /* evhttp frees it */
    if (g->why[0] != '\0')
        return; /* the header callback refused the certificate and said why */
    if (g->tls_why[0] != '\0') {
        /* the handshake refused the certificate: nothing was sent */
        errorf(g->why, sizeof(g->why), "https://%s%s: %s", g->host, g->path, g->tls_why);
        g->next = g->naddrs; /* another address of the same name is no better */
        return;
    }
    if (ssl_err != 0)
        snprintf(text, sizeof(text), " (%s)", tls_error_text(ssl_err, buf, sizeof(buf)));
    /* Before any response header, a server that does not speak TLS and one
     * that hung up look the same to evhttp (the TLS state is gone by now):
     * name both. */
    if (!g->certificate_ok && (e == EVREQ_HTTP_EOF || e == EVREQ_HTTP_BUFFER_ERROR))
        errorf(g->why, sizeof(g->why),
               "https://%s%s: no HTTPS response (the TLS handshake failed or the server closed "
               "the connection)%s",
               g->host, g->path, text);
    else
        errorf(g->why, sizeof(g->why), "https://%s%s: %s%s", g->host, g->path,
               request_error_text(e), text);
}

/* The response's header is in, the connection still up: the certificate
 * decides whether the body is read at all (evhttp may have let the TLS
 * session go by the time the whole response is in). */
static int
on_headers(struct evhttp_request *req, void *arg)
{
    struct https_get *g = arg;
    struct bufferevent *bev = g->conn ? evhttp_connection_get_bufferevent(g->conn) : NULL;
    const char *names[1] = {g->host};
    char why[512];

    if (tls_peer_check(bev ? bufferevent_openssl_get_ssl(bev) : NULL, names, 1, why, sizeof(why)) !=
        TLS_PEER_OK) {
        errorf(g->why, sizeof(g->why), "https://%s%s: %s", g->host, g->path, why);
        g->next = g->naddrs; /* another address of the same name is no better */
        return -1;           /* evhttp drops the request */
    }
    g->certificate_ok = true;
    return 0;
}

/* The response is in. */
static void
on_response(struct evhttp_request *req, void *arg)
{
    struct https_get *g = arg;
    struct evbuffer *in;
    const char *ctype;

    g->req = NULL;
    if (req == NULL || evhttp_request_get_response_code(req) == 0 || !g->certificate_ok) {
        if (g->why[0] == '\0' && g->tls_why[0] != '\0')
            errorf(g->why, sizeof(g->why), "https://%s%s: %s", g->host, g->path, g->tls_why);
        else if (g->why[0] == '\0')
            errorf(g->why, sizeof(g->why), "https://%s%s: no response", g->host, g->path);
        finish(g);
        return;
    }
    in = evhttp_request_get_input_buffer(req);
    ctype = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    g->status = evhttp_request_get_response_code(req);
    g->content_type = xstrdup(ctype ? ctype : "");
    g->len = evbuffer_get_length(in);
    g->body = xmalloc(g->len + 1);
    evbuffer_remove(in, g->body, g->len);
    g->body[g->len] = '\0';
    g->ok = true;
    finish(g);
}

static void
try_next(struct https_get *g)
{
    const struct sockaddr_storage *ss = &g->addrs[g->next++];
    struct bufferevent *bev;
    struct ssl_st *ssl;
    char ip[64];

    g->why[0] = '\0';
    g->tls_why[0] = '\0';
    g->certificate_ok = false;
    sockaddr_format_ip((const struct sockaddr *)ss, ip, sizeof(ip));
    ssl = tls_client_ssl_new(g->ctx, g->host);
    if (ssl != NULL &&
        tls_client_ssl_verify_strict(ssl, g->host, g->tls_why, sizeof(g->tls_why)) < 0) {
        tls_ssl_free(ssl);
        ssl = NULL;
    }
    bev = ssl ? bufferevent_openssl_socket_new(g->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                               BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)
              : NULL;
    if (bev == NULL) {
        tls_ssl_free(ssl);
        errorf(g->why, sizeof(g->why), "https://%s%s: cannot set up TLS", g->host, g->path);
        finish(g);
        return;
    }
    /* the address as text: evhttp connects to it without a resolver */
    g->conn = evhttp_connection_base_bufferevent_new(g->base, NULL, bev, ip, g->port);
    g->req = g->conn ? evhttp_request_new(on_response, g) : NULL;
    if (g->req == NULL) {
        errorf(g->why, sizeof(g->why), "https://%s%s: cannot make the request", g->host, g->path);
        finish(g);
        return;
    }
    evhttp_connection_set_timeout(g->conn, (int)g->timeout);
    evhttp_connection_set_max_body_size(g->conn, (ev_ssize_t)g->max_body);
    evhttp_connection_set_max_headers_size(g->conn, 16 * 1024);
    evhttp_connection_set_retries(g->conn, 0);
    evhttp_request_set_error_cb(g->req, on_error);
    evhttp_request_set_header_cb(g->req, on_headers);
    evhttp_add_header(evhttp_request_get_output_headers(g->req), "Host", g->host);
    evhttp_add_header(evhttp_request_get_output_headers(g->req), "Connection", "close");
    evhttp_add_header(evhttp_request_get_output_headers(g->req), "User-Agent", "postern");
    if (g->req_type != NULL) {
        /* evhttp adds Content-Length to a POST */
        evhttp_add_header(evhttp_request_get_output_headers(g->req), "Content-Type", g->req_type);
        evbuffer_add(evhttp_request_get_output_buffer(g->req), g->req_body, g->req_len);
    }
    if (evhttp_make_request(g->conn, g->req, g->req_type ? EVHTTP_REQ_POST : EVHTTP_REQ_GET,
                            g->path) != 0) {
        g->req = NULL; /* freed by evhttp on failure */
        errorf(g->why, sizeof(g->why), "https://%s%s: cannot send the request to %s", g->host,
               g->path, ip);
        finish(g);
    }
}

struct https_get *
https_get_start(struct event_base *base, struct ssl_ctx_st *ctx,
                const struct sockaddr_storage *addrs, size_t naddrs, uint16_t port,
                const char *host, const char *path, size_t max_body, unsigned timeout,
                https_get_cb *cb, void *arg)
{
    return https_request_start(base, ctx, addrs, naddrs, port, host, path, NULL, max_body, timeout,
                               cb, arg);
}

struct https_get *
https_request_start(struct event_base *base, struct ssl_ctx_st *ctx,
                    const struct sockaddr_storage *addrs, size_t naddrs, uint16_t port,
                    const char *host, const char *path, const struct https_body *body,
                    size_t max_body, unsigned timeout, https_get_cb *cb, void *arg)
{
    struct https_get *g = xcalloc(1, sizeof(*g));

    g->base = base;
    g->ctx = ctx;
    g->naddrs = naddrs;
    g->addrs = xcalloc(naddrs ? naddrs : 1, sizeof(*g->addrs));
    memcpy(g->addrs, addrs, naddrs * sizeof(*addrs));
    g->port = port;
    g->host = xstrdup(host);
    g->path = xstrdup(path);
    if (body != NULL) {
        g->req_type = xstrdup(body->content_type);
        g->req_body = xmalloc(body->len ? body->len : 1);
        memcpy(g->req_body, body->data, body->len);
        g->req_len = body->len;
    }
    g->max_body = max_body;
    g->timeout = timeout;
    g->cb = cb;
    g->arg = arg;
    g->deliver = event_new(base, -1, 0, deliver_cb, g);
    g->deadline = evtimer_new(base, deadline_cb, g);
    evtimer_add(g->deadline, &(struct timeval){.tv_sec = timeout});
    if (ctx == NULL || naddrs == 0) {
        errorf(g->why, sizeof(g->why), "https://%s%s: %s", host, path,
               ctx ? "no address" : "no TLS client context");
        finish(g);
        return g;
    }
    try_next(g);
    return g;
}

void
https_get_cancel(struct https_get *g)
{
    if (g != NULL)
        get_free(g);
}
