/*
 * console_main.c — the console process: reads what it needs from
 * postern.conf (the server's FQDN, ConsoleBindings, ConsoleIdleTimeout),
 * builds its HTTPS context from the certificate the FQDN would use for
 * SMTP, binds, and then, when started as root, becomes the instance's
 * owner for good: the rights every cmdlet already runs with.
 * Must never: serve plain HTTP, or keep root once listening.
 */
#include "console/console.h"
#include "console/console_int.h"
#include "lib/log.h"
#include "lib/sandbox.h"
#include "lib/util.h"
#include "lib/workq.h"
#include "tls/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BODY_MAX (1536 * 1024) /* an upload of 1 MiB in base64, and the rest */
#define HEADERS_MAX (16 * 1024)
#define REQUEST_SECONDS 60

static SSL_CTX *server_ctx;

/* Connections at once: beyond this the listeners stop accepting (clients
 * wait in the kernel's backlog), so that bodies being read (up to
 * BODY_MAX each) cannot grow without bound. Counted from the TLS object
 * each connection has, freed with it. */
#define CONNECTIONS_MAX 64
static unsigned connections;
static int conn_index = -1;
static struct evhttp_bound_socket *listeners[16];
static size_t nlisteners;

static void
listeners_enable(bool on)
{
    for (size_t i = 0; i < nlisteners; i++) {
        struct evconnlistener *l = evhttp_bound_socket_get_listener(listeners[i]);
        if (on)
            evconnlistener_enable(l);
        else
            evconnlistener_disable(l);
    }
}

/* OpenSSL's ex_data free callback: a connection's SSL is being freed. */
static void
connection_gone(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    if (ptr == NULL)
        return;
    if (connections-- == CONNECTIONS_MAX)
        listeners_enable(true);
}

static struct bufferevent *
tls_bufferevent(struct event_base *base, void *arg)
{
    SSL *ssl = tls_ssl_new(server_ctx);

    /* NULL would make evhttp fall back to clear text: never */
    if (ssl == NULL) {
        fprintf(stderr, "postern: console: no memory for a TLS session\n");
        abort();
    }
    SSL_set_ex_data(ssl, conn_index, &connections);
    if (++connections == CONNECTIONS_MAX)
        listeners_enable(false);
    return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                          BEV_OPT_CLOSE_ON_FREE);
}

static void
on_stop(evutil_socket_t sig, short what, void *arg)
{
    log_info("console: stopping (signal %d)", (int)sig);
    event_base_loopexit(arg, NULL);
}

/* Binds every ConsoleBindings address; prints the URLs. */
static int
bind_all(struct evhttp *http, const struct config *cfg)
{
    for (size_t i = 0; i < cfg->transport.nconsole_bindings; i++) {
        const struct binding *b = &cfg->transport.console_bindings[i];
        char addr[INET6_ADDRSTRLEN], text[80];
        inet_ntop(b->family, b->addr, addr, sizeof(addr));
        binding_format(b, text, sizeof(text));
        struct evhttp_bound_socket *l = evhttp_bind_socket_with_handle(http, addr, b->port);
        if (l == NULL || nlisteners == sizeof(listeners) / sizeof(listeners[0])) {
            fprintf(stderr, "postern: console: cannot listen on %s: %s\n", text,
                    l == NULL ? strerror(errno) : "too many ConsoleBindings");
            return -1;
        }
        listeners[nlisteners++] = l;
        printf("postern console: https://%s/ (sign in as an Exchange administrator)\n", text);
    }
    fflush(stdout);
    return 0;
}

/* Started as root: the instance owner's rights, for good. */
static int
drop_root(const char *dir)
{
    struct stat st;
    char err[256];

    if (geteuid() != 0)
        return 0;
    if (stat(dir, &st) < 0) {
        fprintf(stderr, "postern: console: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    if (st.st_uid == 0) {
        log_warnx("console: %s belongs to root: the console keeps root's rights (the service "
                  "gives the directory to its user when it first runs)",
                  dir);
        return 0;
    }
    if (sandbox_become(st.st_uid, st.st_gid, err, sizeof(err)) < 0) {
        fprintf(stderr, "postern: console: %s\n", err);
        return -1;
    }
    return 0;
}

/* The HTTPS context of the server's FQDN. */
static SSL_CTX *
make_ctx(const char *dir, const struct config *cfg, struct tls_store **store)
{
    char *certdir = xasprintf("%s/certs", dir), err[512];
    SSL_CTX *ctx = NULL;

    *store = tls_store_load(certdir, err, sizeof(err));
    free(certdir);
    if (*store == NULL) {
        fprintf(stderr, "postern: console: certificates: %s\n", err);
        return NULL;
    }
    tls_store_set_profile(*store, cfg->transport.tls_cipher_profile);
    if ((ctx = tls_store_server_ctx(*store, cfg->transport.fqdn, err, sizeof(err))) == NULL)
        fprintf(stderr,
                "postern: console: no certificate for %s (%s): New-ExchangeCertificate makes "
                "one\n",
                cfg->transport.fqdn, err);
    return ctx;
}

void
console_pending_add(struct console *c, struct console_pending *p,
                    void (*cancel)(struct console_pending *p))
{
    p->cancel = cancel;
    p->next = c->pending.next;
    p->prev = &c->pending;
    c->pending.next->prev = p;
    c->pending.next = p;
}

void
console_pending_remove(struct console_pending *p)
{
    p->prev->next = p->next;
    p->next->prev = p->prev;
    p->next = p->prev = p;
}

int
console_run(const char *instance_dir)
{
    static struct console c;
    char *path = xasprintf("%s/postern.conf", instance_dir), err[512];
    struct config *cfg = config_load(path, err, sizeof(err));
    struct tls_store *store = NULL;
    struct event *stop[2] = {NULL, NULL};
    struct evhttp *http = NULL;
    ssize_t n;
    int rc = 1;

    free(path);
    if (cfg == NULL) {
        fprintf(stderr, "postern: console: %s\n", err);
        return 1;
    }
    c.pending.next = c.pending.prev = &c.pending;
    c.instance_dir = instance_dir;
    c.idle_timeout = cfg->transport.console_idle_timeout;
    c.fqdn = xstrdup(cfg->transport.fqdn ? cfg->transport.fqdn : "");
    c.audit_path = xasprintf("%s/logs/ConsoleAudit.log", instance_dir);
    if ((n = readlink("/proc/self/exe", c.exe, sizeof(c.exe) - 1)) <= 0) {
        fprintf(stderr, "postern: console: cannot find its own binary: %s\n", strerror(errno));
        goto out;
    }
    c.exe[n] = '\0';
    if (cfg->transport.nconsole_bindings == 0) {
        fprintf(stderr, "postern: console: TransportConfig ConsoleBindings is empty\n");
        goto out;
    }
    if ((server_ctx = make_ctx(instance_dir, cfg, &store)) == NULL)
        goto out;
    conn_index = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL, 0, NULL, NULL, NULL, connection_gone);
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    c.base = event_base_new();
    http = evhttp_new(c.base);
    evhttp_set_bevcb(http, tls_bufferevent, NULL);
    evhttp_set_gencb(http, console_http_request, &c);
    evhttp_set_max_body_size(http, BODY_MAX);
    evhttp_set_max_headers_size(http, HEADERS_MAX);
    evhttp_set_timeout(http, REQUEST_SECONDS);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    if (bind_all(http, cfg) < 0 || drop_root(instance_dir) < 0)
        goto out;
    sandbox_private();
    char *logs = xasprintf("%s/logs", instance_dir);
    (void)mkdir(logs, 0750); /* the audit log's; the service makes it too */
    free(logs);
    c.workq = workq_new(c.base, 2);
    stop[0] = evsignal_new(c.base, SIGTERM, on_stop, c.base);
    stop[1] = evsignal_new(c.base, SIGINT, on_stop, c.base);
    event_add(stop[0], NULL);
    event_add(stop[1], NULL);
    log_info("console: serving %s as uid %ld", instance_dir, (long)geteuid());
    event_base_dispatch(c.base);
    rc = 0;
out:
    if (c.workq)
        workq_free(c.workq); /* runs the callbacks of checks under way */
    while (c.pending.next != &c.pending)
        c.pending.next->cancel(c.pending.next);
    for (int i = 0; i < 2; i++)
        if (stop[i])
            event_free(stop[i]);
    nlisteners = 0; /* connections freed now must not touch the listeners */
    if (http)
        evhttp_free(http);
    if (c.base)
        event_base_free(c.base);
    tls_store_free(store);
    config_unref(cfg);
    free(c.fqdn);
    free(c.audit_path);
    return rc;
}
