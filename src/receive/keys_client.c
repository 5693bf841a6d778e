/*
 * keys_client.c — see keys_client.h.
 */
#include "receive/keys_client.h"
#include "lib/ipc.h"
#include "lib/ipc_buf.h"
#include "lib/log.h"
#include "lib/proc.h"
#include "lib/util.h"
#include "receive/receive_metrics.h"
#include "receive/server.h"
#include "tls/tls.h"
#include "tls/tls_remote_key.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A password check, credential or DKIM request waiting for its answer. */
struct keys_request {
    struct keys_request *next;
    uint32_t id;
    keys_auth_done_fn *auth_done;
    keys_credential_fn *cred_done;
    keys_dkim_fn *dkim_done;
    void *arg;
};

struct keys_client {
    struct event_base *base;
    struct server *srv;
    struct ipc_chan *ch;
    struct keys_request *pending;
    uint32_t next_id;
    bool has_certs;
    char *bundle; /* the last certificates received, for a rebuild on reload */
    size_t bundle_len;
};

/* OpenSSL's signing requests travel on the same channel. */
static struct keys_client *transport_owner;

/* result: 1 yes, 0 no, -1 the keys process did not answer; text: the
 * password of a credential, or why there is none. */
static void
keys_finish(struct keys_request *r, int result, const char *text)
{
    if (r->auth_done)
        r->auth_done(r->arg, result);
    else if (r->dkim_done)
        r->dkim_done(r->arg, NULL, 0); /* a signature comes through keys_message */
    else if (r->cred_done)
        r->cred_done(r->arg, result > 0 ? text : NULL,
                     result > 0   ? NULL
                     : result < 0 ? "the keys process did not answer"
                                  : text);
    free(r);
}

static struct keys_request *
keys_take(struct keys_client *kc, uint32_t id)
{
    for (struct keys_request **pp = &kc->pending; *pp; pp = &(*pp)->next) {
        struct keys_request *r = *pp;
        if (r->id == id) {
            *pp = r->next;
            return r;
        }
    }
    return NULL;
}

/* Fails everything in flight: the keys process is gone. */
static void
keys_lost(struct keys_client *kc)
{
    ipc_chan_free(kc->ch);
    kc->ch = NULL;
    kc->srv->keys_up = false;
    tls_remote_key_fail_all();
    while (kc->pending) {
        struct keys_request *r = kc->pending;
        kc->pending = r->next;
        keys_finish(r, -1, NULL);
    }
}

static struct evp_pkey_st *
keys_remote_key(void *arg, struct x509_st *leaf, const char *key_id)
{
    char why[256];
    struct evp_pkey_st *key = tls_remote_key_new(leaf, why, sizeof(why));

    if (key == NULL)
        log_warnx("certificate %s: %s", key_id, why);
    return key;
}

/* Builds the store from the last bundle with the current configuration's
 * cipher profile and installs it (server_swap_tls keeps the old one if the
 * new one would take STARTTLS away). */
static void
keys_build_store(struct keys_client *kc, bool announce)
{
    char err[512];
    struct tls_store *store =
        tls_store_load_bundle(kc->bundle, kc->bundle_len, keys_remote_key, kc, err, sizeof(err));

    if (store == NULL) {
        log_warnx("certificates: %s", err);
        return;
    }
    tls_store_set_profile(store, kc->srv->cfg->transport.tls_cipher_profile);
    if (server_swap_tls(kc->srv, store) == 0) {
        receive_metrics_certs(kc->srv->tls);
        if (announce)
            log_info("certificates changed on disk: reloaded");
        server_check_tls(kc->srv);
    }
}

static void
keys_install_certs(struct keys_client *kc, const struct ipc_msg *m)
{
    bool first = !kc->has_certs, same;

    same = kc->bundle && m->len == kc->bundle_len && memcmp(m->data, kc->bundle, m->len) == 0;
    kc->has_certs = true;
    if (same && !first)
        return; /* a reload or a new channel: nothing changed */
    free(kc->bundle);
    kc->bundle = xmalloc(m->len + 1);
    memcpy(kc->bundle, m->data, m->len);
    kc->bundle[m->len] = '\0';
    kc->bundle_len = m->len;
    keys_build_store(kc, !first);
}

void
keys_client_reconfigure(struct keys_client *kc)
{
    if (kc->bundle)
        keys_build_store(kc, false);
}

static void
keys_message(struct ipc_chan *ch, const struct ipc_msg *m, void *arg)
{
    struct keys_client *kc = arg;
    struct ipc_rbuf r;
    struct keys_request *req;

    if (m->fd >= 0)
        close(m->fd);
    ipc_rbuf_init(&r, m->data, m->len);
    switch (m->type) {
    case MSG_KEY_SIGNED: {
        uint32_t ok = ipc_get_u32(&r);
        size_t n;
        const void *out = ipc_get_bytes(&r, &n);
        if (!ipc_rbuf_done(&r))
            tls_remote_key_answer(m->id, 0, NULL, 0);
        else
            tls_remote_key_answer(m->id, ok != 0, out, n);
        break;
    }
    case MSG_AUTH_RESULT:
    case MSG_CREDENTIAL_RESULT: {
        uint32_t ok = ipc_get_u32(&r);
        const char *text = m->type == MSG_CREDENTIAL_RESULT ? ipc_get_str(&r) : "";
        if ((req = keys_take(kc, m->id)) != NULL)
            keys_finish(req, !ipc_rbuf_done(&r) ? -1 : ok != 0, text);
        break;
    }
    case MSG_DKIM_SIGNED: {
        uint32_t ok = ipc_get_u32(&r);
        size_t n;
        const unsigned char *sig = ipc_get_bytes(&r, &n);
        if ((req = keys_take(kc, m->id)) == NULL)
            break;
        if (ipc_rbuf_done(&r) && ok && n > 0 && req->dkim_done) {
            req->dkim_done(req->arg, sig, n);
            free(req);
        } else {
            keys_finish(req, 0, NULL);
        }
        break;
    }
    case MSG_CERTS:
        keys_install_certs(kc, m);
        break;
    default:
        log_warnx("smtp process: unexpected message %u from the keys process", m->type);
        break;
    }
}

static void
keys_closed(struct ipc_chan *ch, const char *reason, void *arg)
{
    struct keys_client *kc = arg;

    log_warnx("smtp process: lost the keys process: %s; TLS handshakes and AUTH fail until it "
              "is back",
              reason);
    keys_lost(kc);
}

static int
keys_send_sign(void *arg, uint64_t request_id, const char *key_id, int op, int padding_or_nid,
               const unsigned char *in, size_t inlen)
{
    struct keys_client *kc = transport_owner;
    struct ipc_wbuf w = {0};
    int rc;

    if (kc == NULL || kc->ch == NULL || request_id > UINT32_MAX)
        return -1;
    ipc_put_str(&w, key_id);
    ipc_put_u32(&w, (uint32_t)op);
    ipc_put_u32(&w, (uint32_t)padding_or_nid);
    ipc_put_bytes(&w, in, inlen);
    rc = ipc_send(kc->ch, MSG_KEY_SIGN, (uint32_t)request_id, -1, w.data, w.len);
    ipc_wbuf_free(&w);
    return rc;
}

struct keys_client *
keys_client_new(struct event_base *base, struct server *srv)
{
    struct keys_client *kc = xcalloc(1, sizeof(*kc));
    struct tls_key_transport t = {.send = keys_send_sign, .arg = kc};

    kc->base = base;
    kc->srv = srv;
    transport_owner = kc;
    tls_remote_key_set_transport(&t);
    return kc;
}

void
keys_client_attach(struct keys_client *kc, int fd)
{
    if (kc->ch)
        keys_lost(kc);
    kc->ch = ipc_chan_new(kc->base, fd, keys_message, keys_closed, kc);
    kc->srv->keys_up = true;
}

bool
keys_client_has_certs(const struct keys_client *kc)
{
    return kc->has_certs;
}

static void
keys_fail_later_cb(evutil_socket_t fd, short what, void *arg)
{
    keys_finish(arg, -1, NULL);
}

/* A request that could not be sent fails from the loop, not from inside
 * the caller's call. */
static void
keys_fail_later(struct keys_client *kc, struct keys_request *r)
{
    if (event_base_once(kc->base, -1, EV_TIMEOUT, keys_fail_later_cb, r, NULL) < 0)
        fatalx("event_base_once");
}

static struct keys_request *
keys_request(struct keys_client *kc, uint32_t type, struct ipc_wbuf *w, void *arg)
{
    struct keys_request *r = xcalloc(1, sizeof(*r));

    r->id = ++kc->next_id;
    r->arg = arg;
    if (kc->ch == NULL || ipc_send(kc->ch, type, r->id, -1, w->data, w->len) < 0)
        return r; /* not linked: the caller fails it */
    r->next = kc->pending;
    kc->pending = r;
    return r;
}

void
keys_client_check_password(struct keys_client *kc, const char *user, const char *password,
                           keys_auth_done_fn *done, void *arg)
{
    struct ipc_wbuf w = {0};
    struct keys_request *r;

    ipc_put_str(&w, user);
    ipc_put_str(&w, password);
    r = keys_request(kc, MSG_AUTH_CHECK, &w, arg);
    ipc_wbuf_free(&w);
    r->auth_done = done;
    if (kc->pending != r)
        keys_fail_later(kc, r);
}

struct keys_request *
keys_client_credential(struct keys_client *kc, const char *connector, const char *user,
                       keys_credential_fn *done, void *arg)
{
    struct ipc_wbuf w = {0};
    struct keys_request *r;

    ipc_put_str(&w, connector);
    ipc_put_str(&w, user);
    r = keys_request(kc, MSG_CREDENTIAL, &w, arg);
    ipc_wbuf_free(&w);
    r->cred_done = done;
    if (kc->pending != r) {
        free(r);
        return NULL;
    }
    return r;
}

struct keys_request *
keys_client_dkim_sign(struct keys_client *kc, const char *domain, const char *selector,
                      const char *txt, const unsigned char *hash, size_t hashlen,
                      keys_dkim_fn *done, void *arg)
{
    struct ipc_wbuf w = {0};
    struct keys_request *r;

    ipc_put_str(&w, domain);
    ipc_put_str(&w, selector);
    ipc_put_str(&w, txt);
    ipc_put_bytes(&w, hash, hashlen);
    r = keys_request(kc, MSG_DKIM_SIGN, &w, arg);
    ipc_wbuf_free(&w);
    r->dkim_done = done;
    if (kc->pending != r) {
        free(r);
        return NULL;
    }
    return r;
}

void
keys_client_cancel(struct keys_client *kc, struct keys_request *req)
{
    if (req != NULL && keys_take(kc, req->id) == req)
        free(req);
}

void
keys_client_free(struct keys_client *kc)
{
    if (kc == NULL)
        return;
    keys_lost(kc);
    tls_remote_key_set_transport(NULL);
    transport_owner = NULL;
    free(kc->bundle);
    free(kc);
}
