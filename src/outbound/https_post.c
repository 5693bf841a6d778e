/*
 * https_post.c — a report POSTed over HTTPS (see https_post.h):
 *
 *   check the URI → A/AAAA of its host → POST to each address in turn
 *
 * Every step reports through one zero-delay event or the callbacks of the
 * resolver and of https_get, all from the loop. The DNS lookup is bounded
 * by the resolver's own deadline, the request by HTTPS_POST_TIMEOUT.
 */
#include "outbound/https_post.h"
#include "lib/util.h"
#include "net/dns.h"
#include "outbound/https_get.h"
#include "routing/tlsrpt_uri.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct https_post {
    struct event_base *base;
    struct ssl_ctx_st *ctx;
    struct tlsrpt_https_uri uri;
    char *content_type;
    void *body;
    size_t len;
    https_post_cb *cb;
    void *arg;
    struct dns_query *dq;
    struct https_get *req;
    struct event *failed; /* reports an early failure from the loop */
    char why[512];
};

static void
post_free(struct https_post *p)
{
    dns_cancel(p->dq);
    https_get_cancel(p->req);
    if (p->failed != NULL)
        event_free(p->failed);
    free(p->content_type);
    free(p->body);
    free(p);
}

static void
end(struct https_post *p, int status, const char *why)
{
    p->dq = NULL;
    p->req = NULL;
    p->cb(p->arg, status, why);
    post_free(p);
}

static void
failed_cb(evutil_socket_t fd, short what, void *arg)
{
    struct https_post *p = arg;

    (void)fd;
    (void)what;
    end(p, 0, p->why);
}

static void
on_answer(void *arg, const struct https_response *resp, const char *why)
{
    struct https_post *p = arg;

    p->req = NULL;
    end(p, resp ? resp->status : 0, resp ? "" : why);
}

static void
on_host(void *arg, const struct dns_result *res)
{
    struct https_post *p = arg;
    struct https_body body = {p->content_type, p->body, p->len};

    p->dq = NULL;
    if (res->status != DNS_OK || res->nhosts == 0 || res->hosts[0].naddrs == 0) {
        errorf(p->why, sizeof(p->why), "%s: %s", p->uri.host,
               res->error[0] ? res->error : "no address");
        end(p, 0, p->why);
        return;
    }
    p->req = https_request_start(p->base, p->ctx, res->hosts[0].addrs, res->hosts[0].naddrs,
                                 p->uri.port, p->uri.host, p->uri.path, &body,
                                 HTTPS_POST_ANSWER_MAX, HTTPS_POST_TIMEOUT, on_answer, p);
}

struct https_post *
https_post_start(struct event_base *base, struct dns *dns, struct ssl_ctx_st *ctx, const char *uri,
                 const char *content_type, const void *body, size_t len, https_post_cb *cb,
                 void *arg)
{
    struct https_post *p = xcalloc(1, sizeof(*p));
    char why[256];

    p->base = base;
    p->ctx = ctx;
    p->content_type = xstrdup(content_type);
    p->body = xmalloc(len ? len : 1);
    memcpy(p->body, body, len);
    p->len = len;
    p->cb = cb;
    p->arg = arg;
    p->failed = event_new(base, -1, 0, failed_cb, p);
    if (!tlsrpt_https_uri_parse(uri, &p->uri, why, sizeof(why)))
        errorf(p->why, sizeof(p->why), "not a usable report URI: %s", why);
    else if (strcmp(content_type, TLSRPT_TYPE_GZIP) != 0 &&
             strcmp(content_type, TLSRPT_TYPE_JSON) != 0)
        errorf(p->why, sizeof(p->why), "not a TLS report's media type");
    else if (len > HTTPS_POST_BODY_MAX)
        errorf(p->why, sizeof(p->why), "a report of %zu bytes is larger than allowed", len);
    else if (dns == NULL || ctx == NULL)
        errorf(p->why, sizeof(p->why), "%s", dns ? "no TLS client context" : "no resolver");
    else
        p->dq = dns_resolve_host(dns, p->uri.host, on_host, p);
    if (p->dq == NULL) {
        if (p->why[0] == '\0')
            errorf(p->why, sizeof(p->why), "%s: cannot start the DNS lookup", p->uri.host);
        event_active(p->failed, EV_TIMEOUT, 0);
    }
    return p;
}

void
https_post_cancel(struct https_post *p)
{
    if (p != NULL)
        post_free(p);
}
