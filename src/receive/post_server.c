/*
 * post_server.c — see post_server.h.
 */
#include "receive/post_server.h"
#include "lib/ipc.h"
#include "lib/ipc_buf.h"
#include "lib/log.h"
#include "lib/proc.h"
#include "lib/util.h"
#include "outbound/https_post.h"
#include "outbound/outbound.h"
#include "tls/tls.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* POSTs at once: reports go out once a day per domain and URI, so more
 * than this is a queue process gone wrong. */
#define POST_SERVER_MAX 64

struct srv_post {
    struct srv_post *next;
    struct post_server *ps;
    uint32_t id;
    struct ssl_ctx_st *ctx; /* held (tls_ctx_ref) while the POST runs */
    struct https_post *post;
};

struct post_server {
    const struct outbound_env *env;
    struct ipc_chan **ch;
    struct srv_post *posts;
    size_t nposts;
};

static void
answer(struct post_server *ps, uint32_t id, int status, const char *why)
{
    struct ipc_wbuf w = {0};

    ipc_put_u32(&w, (uint32_t)status);
    ipc_put_str(&w, why);
    if (*ps->ch != NULL)
        (void)ipc_send(*ps->ch, MSG_OUT_POSTED, id, -1, w.data, w.len);
    ipc_wbuf_free(&w);
}

/* Frees p, off the list already (and its POST, unless that ended). */
static void
post_release(struct srv_post *p)
{
    p->ps->nposts--;
    https_post_cancel(p->post);
    tls_ctx_unref(p->ctx);
    free(p);
}

/* Takes p off the list and frees it. */
static void
post_free(struct srv_post *p)
{
    for (struct srv_post **pp = &p->ps->posts; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    post_release(p);
}

static void
on_posted(void *arg, int status, const char *why)
{
    struct srv_post *p = arg;

    p->post = NULL; /* over and freed */
    answer(p->ps, p->id, status, status != 0 ? "" : why && why[0] ? why : "no answer");
    post_free(p);
}

static struct srv_post *
find(struct post_server *ps, uint32_t id)
{
    for (struct srv_post *p = ps->posts; p; p = p->next)
        if (p->id == id)
            return p;
    return NULL;
}

static void
start(struct post_server *ps, const struct ipc_msg *m)
{
    struct ipc_rbuf r;
    const char *uri, *ctype;
    const void *body;
    size_t len;
    struct ssl_ctx_st *ctx;
    struct srv_post *p;
    char why[256];

    ipc_rbuf_init(&r, m->data, m->len);
    uri = ipc_get_str(&r);
    ctype = ipc_get_str(&r);
    body = ipc_get_bytes(&r, &len);
    if (!ipc_rbuf_done(&r) || m->id == 0 || find(ps, m->id) != NULL) {
        log_warnx("smtp process: malformed POST request from the queue process");
        if (m->id != 0 && find(ps, m->id) == NULL)
            answer(ps, m->id, 0, "malformed request");
        return;
    }
    if (ps->nposts >= POST_SERVER_MAX) {
        answer(ps, m->id, 0, "too many POSTs at once");
        return;
    }
    if ((ctx = tls_store_client_ctx(*ps->env->tls, NULL, why, sizeof(why))) == NULL) {
        answer(ps, m->id, 0, why[0] ? why : "no TLS client context");
        return;
    }
    p = xcalloc(1, sizeof(*p));
    p->ps = ps;
    p->id = m->id;
    p->ctx = tls_ctx_ref(ctx); /* a certificate renewal may replace the store meanwhile */
    p->next = ps->posts;
    ps->posts = p;
    ps->nposts++;
    /* https_post_start checks the URI, the media type and the size again */
    p->post =
        https_post_start(ps->env->base, *ps->env->dns, ctx, uri, ctype, body, len, on_posted, p);
}

struct post_server *
post_server_new(const struct outbound_env *env, struct ipc_chan **ch)
{
    struct post_server *ps = xcalloc(1, sizeof(*ps));

    ps->env = env;
    ps->ch = ch;
    return ps;
}

void
post_server_message(struct post_server *ps, const struct ipc_msg *m)
{
    struct srv_post *p;

    if (m->type == MSG_OUT_POST)
        start(ps, m);
    else if (m->type == MSG_OUT_POST_CANCEL && (p = find(ps, m->id)) != NULL)
        post_free(p);
}

void
post_server_abort_all(struct post_server *ps)
{
    while (ps->posts) {
        struct srv_post *p = ps->posts;
        ps->posts = p->next;
        post_release(p);
    }
}

void
post_server_free(struct post_server *ps)
{
    if (ps == NULL)
        return;
    post_server_abort_all(ps);
    free(ps);
}
