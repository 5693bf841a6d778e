/*
 * test_remote_key.c — unit tests for private keys held by another process
 * (tls_remote_key.c, tls_key_ops.c) and the asynchronous handshake driver
 * (tls_handshake.c): real TLS 1.3 and 1.2 handshakes whose server key is
 * remote, over a socketpair, the server driven by tls_handshake on a
 * libevent loop, the client a thread with its own OpenSSL client (and the
 * other way round for a client certificate whose key is remote).
 *
 * The "keys process" is a forked child answering over another socketpair
 * with tls_key_op, as the real one will. The transport in this file can
 * hold requests back (to show the loop runs on while a handshake waits),
 * refuse to send, or be declared lost. A benchmark (handshakes per second,
 * local key against remote key) runs when REMOTE_KEY_BENCH=N is set.
 *
 * Must never: touch anything outside its temporary directories, leave the
 * signer child running, or wait without a bound.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/util.h"
#include "tls/tls.h"
#include "tls/tls_handshake.h"
#include "tls/tls_key_ops.h"
#include "tls/tls_remote_key.h"
#include "tls_testlib.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Every wait of this file is bounded by this (sanitizer builds are slow). */
#define WAIT_SECONDS 30
#define PIPELINED "EHLO pipelined.test\r\n"

/*
 * Keys and certificates, made once
 */

struct test_key {
    EVP_PKEY *key;
    X509 *cert;
    char id[41];
};
static struct test_key rsa_k, ec_k, ec384_k;

static void
make_key(struct test_key *k, EVP_PKEY *key, const char *cn)
{
    struct certspec spec = {.cn = cn, .nb = -DAY, .na = 30 * DAY};

    k->key = key;
    assert_non_null(k->key);
    k->cert = make_cert(&spec, k->key, NULL, NULL);
    thumb_of(k->cert, k->id);
}

/*
 * The signer: a forked child that holds the private keys
 */

struct req_hdr {
    uint64_t id;
    int32_t op, param;
    uint32_t idlen, inlen;
};
struct ans_hdr {
    uint64_t id;
    int32_t ok;
    uint32_t outlen;
};

struct held {
    unsigned char *frame;
    size_t len;
};

static struct {
    pid_t pid;
    int fd; /* the parent's end, blocking */
    struct event *ev;
    unsigned char buf[8192];
    size_t len;
    /* what the transport does with a request */
    bool hold, unreachable;
    struct held held[8];
    size_t nheld;
    unsigned sent, answered;
    uint64_t last_id;
} sg = {.pid = -1, .fd = -1};

static bool
full_io(int fd, void *buf, size_t len, bool writing)
{
    unsigned char *p = buf;

    while (len > 0) {
        ssize_t n = writing ? write(fd, p, len) : read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* The child: answers requests until the parent closes its end. Only
 * tls_key_op decides; no cmocka here. */
static _Noreturn void
signer_main(int fd)
{
    static const struct test_key *all[] = {&rsa_k, &ec_k, &ec384_k};

    for (;;) {
        struct req_hdr h;
        struct ans_hdr a;
        char id[65];
        unsigned char in[TLS_KEY_IN_MAX], out[TLS_KEY_OUT_MAX];
        size_t outlen = sizeof(out);
        EVP_PKEY *key = NULL;

        if (!full_io(fd, &h, sizeof(h), false))
            _exit(0);
        if (h.idlen >= sizeof(id) || h.inlen > sizeof(in) || !full_io(fd, id, h.idlen, false) ||
            !full_io(fd, in, h.inlen, false))
            _exit(2);
        id[h.idlen] = '\0';
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
            if (strcmp(all[i]->id, id) == 0)
                key = all[i]->key;
        memset(&a, 0, sizeof(a));
        a.id = h.id;
        a.ok = key != NULL &&
               tls_key_op_why(key, h.op, h.param, in, h.inlen, out, &outlen, NULL, 0) == 0;
        a.outlen = a.ok ? (uint32_t)outlen : 0;
        /* the parent may have gone (closed its end) meanwhile */
        if (!full_io(fd, &a, sizeof(a), true) || (a.ok && !full_io(fd, out, outlen, true)))
            _exit(0);
    }
}

/* Delivers every complete answer in sg.buf. */
static void
signer_dispatch(void)
{
    size_t off = 0;

    while (sg.len - off >= sizeof(struct ans_hdr)) {
        struct ans_hdr a;
        memcpy(&a, sg.buf + off, sizeof(a));
        if (sg.len - off - sizeof(a) < a.outlen)
            break;
        sg.answered++;
        tls_remote_key_answer(a.id, a.ok, sg.buf + off + sizeof(a), a.outlen);
        off += sizeof(a) + a.outlen;
    }
    memmove(sg.buf, sg.buf + off, sg.len - off);
    sg.len -= off;
}

/* Reads what the signer sent (one read: the fd is readable). -1 at EOF. */
static int
signer_read(void)
{
    ssize_t n = read(sg.fd, sg.buf + sg.len, sizeof(sg.buf) - sg.len);

    if (n <= 0)
        return -1;
    sg.len += (size_t)n;
    signer_dispatch();
    return 0;
}

static void
signer_read_cb(evutil_socket_t fd, short what, void *arg)
{
    if (signer_read() != 0) {
        event_del(sg.ev);
        tls_remote_key_fail_all();
    }
}

static int
t_send(void *arg, uint64_t id, const char *key_id, int op, int param, const unsigned char *in,
       size_t inlen)
{
    struct req_hdr h = {.id = id, .op = op, .param = param};
    size_t len;
    unsigned char *frame;

    if (sg.unreachable)
        return -1;
    h.idlen = (uint32_t)strlen(key_id);
    h.inlen = (uint32_t)inlen;
    len = sizeof(h) + h.idlen + inlen;
    frame = xcalloc(1, len);
    memcpy(frame, &h, sizeof(h));
    memcpy(frame + sizeof(h), key_id, h.idlen);
    memcpy(frame + sizeof(h) + h.idlen, in, inlen);
    sg.sent++;
    sg.last_id = id;
    if (sg.hold && sg.nheld < sizeof(sg.held) / sizeof(sg.held[0])) {
        sg.held[sg.nheld].frame = frame;
        sg.held[sg.nheld++].len = len;
        return 0;
    }
    assert_true(full_io(sg.fd, frame, len, true));
    free(frame);
    return 0;
}

/* The blocking path's pump: waits for the signer, then dispatches. */
static int
t_wait(void *arg, int timeout_ms)
{
    struct pollfd p = {.fd = sg.fd, .events = POLLIN};
    int n = poll(&p, 1, timeout_ms);

    if (n < 0)
        return errno == EINTR ? 0 : -1;
    return n == 0 ? 0 : signer_read();
}

static const struct tls_key_transport transport = {.send = t_send, .wait = t_wait};

/* Sends held request i to the signer. */
static void
release_held(size_t i)
{
    assert_true(i < sg.nheld && sg.held[i].frame != NULL);
    assert_true(full_io(sg.fd, sg.held[i].frame, sg.held[i].len, true));
    free(sg.held[i].frame);
    sg.held[i].frame = NULL;
}

static void
signer_start(struct event_base *base)
{
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    sg.pid = fork();
    assert_true(sg.pid >= 0);
    if (sg.pid == 0) {
        close(sv[0]);
        signer_main(sv[1]);
    }
    close(sv[1]);
    sg.fd = sv[0];
    sg.len = 0;
    sg.hold = sg.unreachable = false;
    sg.nheld = 0;
    sg.sent = sg.answered = 0;
    if (base != NULL) {
        sg.ev = event_new(base, sg.fd, EV_READ | EV_PERSIST, signer_read_cb, NULL);
        assert_non_null(sg.ev);
        assert_int_equal(event_add(sg.ev, NULL), 0);
    }
    tls_remote_key_set_transport(&transport);
}

static void
signer_stop(void)
{
    int status = -1;

    tls_remote_key_set_transport(NULL);
    if (sg.ev != NULL)
        event_free(sg.ev);
    sg.ev = NULL;
    for (size_t i = 0; i < sg.nheld; i++)
        free(sg.held[i].frame);
    sg.nheld = 0;
    close(sg.fd);
    sg.fd = -1;
    assert_int_equal(waitpid(sg.pid, &status, 0), sg.pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    sg.pid = -1;
    assert_int_equal(tls_remote_key_pending(), 0);
}

/*
 * The client: a thread with an OpenSSL client over memory BIOs, so that
 * its Finished and its first line leave in one write (pipelining)
 */

/* Domain security outbound: the thread is the server and the loop the
 * client, which proves itself with a remote key. */
static bool roles_swapped;

struct client {
    pthread_t thread;
    int fd;
    SSL_CTX *ctx;
    atomic_bool finished;
    bool handshake_ok;
    long verify;
    int sig_type;   /* the peer's signature: EVP_PKEY_RSA_PSS, _RSA, _EC */
    bool peer_cert; /* the peer sent a certificate */
    char reply[128];
};

static void
flush_out(SSL *ssl, int fd)
{
    BIO *w = SSL_get_wbio(ssl);
    char *data;
    long n = BIO_get_mem_data(w, &data);

    if (n > 0 && full_io(fd, data, (size_t)n, true))
        (void)BIO_reset(w);
}

/* Feeds the next bytes from the socket to ssl; false at EOF or timeout. */
static bool
feed_in(SSL *ssl, int fd)
{
    char buf[16384];
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ssize_t n;

    if (poll(&p, 1, WAIT_SECONDS * 1000) != 1)
        return false;
    n = read(fd, buf, sizeof(buf));
    return n > 0 && BIO_write(SSL_get_rbio(ssl), buf, (int)n) == (int)n;
}

static void *
client_main(void *arg)
{
    struct client *c = arg;
    SSL *ssl = SSL_new(c->ctx);
    size_t got = 0;

    SSL_set_bio(ssl, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
    if (roles_swapped)
        SSL_set_accept_state(ssl);
    else
        SSL_set_connect_state(ssl);
    for (int i = 0; i < 100; i++) {
        int r = SSL_do_handshake(ssl);
        if (r == 1) {
            c->handshake_ok = true;
            break;
        }
        flush_out(ssl, c->fd); /* an alert, say */
        if (SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ || !feed_in(ssl, c->fd))
            break;
    }
    if (c->handshake_ok) {
        c->verify = SSL_get_verify_result(ssl);
        c->peer_cert = SSL_get0_peer_certificate(ssl) != NULL;
        if (SSL_get_peer_signature_type_nid(ssl, &c->sig_type) != 1)
            c->sig_type = NID_undef;
        /* the first line rides with the Finished, in the same write */
        if (SSL_write(ssl, PIPELINED, (int)strlen(PIPELINED)) == (int)strlen(PIPELINED))
            flush_out(ssl, c->fd);
        while (got < sizeof(c->reply) - 1 && memchr(c->reply, '\n', got) == NULL) {
            int n = SSL_read(ssl, c->reply + got, (int)(sizeof(c->reply) - 1 - got));
            if (n > 0)
                got += (size_t)n;
            else if (SSL_get_error(ssl, n) != SSL_ERROR_WANT_READ || !feed_in(ssl, c->fd))
                break;
        }
        c->reply[got] = '\0';
    }
    SSL_free(ssl);
    ERR_clear_error();
    atomic_store(&c->finished, true);
    return NULL;
}

static void
client_start(struct client *c, SSL_CTX *ctx, int fd)
{
    memset(c, 0, sizeof(*c));
    c->ctx = ctx;
    c->fd = fd;
    atomic_init(&c->finished, false);
    assert_int_equal(pthread_create(&c->thread, NULL, client_main, c), 0);
}

static void
client_join(struct client *c)
{
    assert_int_equal(pthread_join(c->thread, NULL), 0);
    close(c->fd);
}

static SSL_CTX *
client_ctx(X509 *trusted, int minv, int maxv, const char *sigalgs)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    assert_non_null(ctx);
    limit_ctx(ctx, minv, maxv, NULL);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), trusted), 1);
    if (sigalgs != NULL)
        assert_int_equal(SSL_CTX_set1_sigalgs_list(ctx, sigalgs), 1);
    return ctx;
}

/* A server context with cert and key (remote or local). */
static SSL_CTX *
server_ctx(X509 *cert, EVP_PKEY *key, int minv, int maxv)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    assert_non_null(ctx);
    limit_ctx(ctx, minv, maxv, NULL);
    assert_int_equal(SSL_CTX_use_certificate(ctx, cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
    assert_int_equal(SSL_CTX_check_private_key(ctx), 1);
    return ctx;
}

/*
 * The server: tls_handshake on the loop, then bufferevent_openssl
 */

struct server {
    struct event_base *base;
    SSL *ssl;
    int fd;
    struct tls_handshake *hs;
    bool done;
    enum tls_handshake_result result;
    char reason[256];
    struct bufferevent *bev;
    char line[128];
};

static void
server_read_cb(struct bufferevent *bev, void *arg)
{
    struct server *s = arg;
    char *line = evbuffer_readln(bufferevent_get_input(bev), NULL, EVBUFFER_EOL_CRLF);

    if (line == NULL)
        return;
    strlcpy_p(s->line, line, sizeof(s->line));
    free(line);
    evbuffer_add_printf(bufferevent_get_output(bev), "250 got it\r\n");
}

static void
server_done(void *arg, enum tls_handshake_result result, const char *reason)
{
    struct server *s = arg;

    s->hs = NULL;
    s->done = true;
    s->result = result;
    strlcpy_p(s->reason, reason, sizeof(s->reason));
    if (result != TLS_HANDSHAKE_OK) {
        /* as a session does: the client sees the connection end */
        SSL_free(s->ssl);
        s->ssl = NULL;
        close(s->fd);
        s->fd = -1;
        return;
    }
    s->bev = bufferevent_openssl_socket_new(s->base, s->fd, s->ssl, BUFFEREVENT_SSL_OPEN,
                                            BEV_OPT_CLOSE_ON_FREE);
    assert_non_null(s->bev);
    s->ssl = NULL;
    s->fd = -1;
    bufferevent_setcb(s->bev, server_read_cb, NULL, NULL, s);
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

static void
server_start(struct server *s, struct event_base *base, SSL_CTX *ctx, int fd, int timeout)
{
    memset(s, 0, sizeof(*s));
    s->base = base;
    s->fd = fd;
    assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    s->ssl = SSL_new(ctx);
    assert_non_null(s->ssl);
    if (roles_swapped)
        SSL_set_connect_state(s->ssl);
    else
        SSL_set_accept_state(s->ssl);
    s->hs = tls_handshake_start(base, fd, s->ssl, timeout, server_done, s);
    assert_non_null(s->hs);
}

static void
server_free(struct server *s)
{
    tls_handshake_cancel(s->hs);
    s->hs = NULL;
    if (s->bev != NULL)
        bufferevent_free(s->bev); /* closes the socket, frees the SSL */
    SSL_free(s->ssl);
    if (s->fd >= 0)
        close(s->fd);
    memset(s, 0, sizeof(*s));
    s->fd = -1;
}

static void
heartbeat(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs base until cond(arg), at most WAIT_SECONDS; true when it held. */
static bool
run_until(struct event_base *base, bool (*cond)(void *), void *arg)
{
    struct timespec start, now;
    struct event *tick = event_new(base, -1, EV_PERSIST, heartbeat, NULL);
    struct timeval ms5 = {0, 5000};
    bool ok = false;

    /* a heartbeat, so that a condition set by another thread is seen */
    assert_non_null(tick);
    event_add(tick, &ms5);
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (cond(arg)) {
            ok = true;
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > WAIT_SECONDS)
            break;
        event_base_loop(base, EVLOOP_ONCE);
    }
    event_free(tick);
    return ok;
}

struct pair {
    struct server *s;
    struct client *c;
};

static bool
pair_finished(void *arg)
{
    struct pair *p = arg;

    return p->s->done && atomic_load(&p->c->finished) && (p->s->line[0] || !p->c->handshake_ok);
}

/* One handshake, server key key (remote or local) with cert, client ctx
 * cctx. Asserts nothing about the outcome: the caller does. */
static void
handshake_once(struct event_base *base, SSL_CTX *sctx, SSL_CTX *cctx, struct server *s,
               struct client *c)
{
    int sv[2];
    struct pair p = {s, c};

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    server_start(s, base, sctx, sv[0], WAIT_SECONDS);
    client_start(c, cctx, sv[1]);
    assert_true(run_until(base, pair_finished, &p));
    client_join(c);
}

/*
 * Handshakes with a remote key
 */

struct case_spec {
    const struct test_key *k;
    int version;
    const char *sigalgs; /* the client's, NULL: OpenSSL's defaults */
    int sig_type;        /* the signature the client must have verified */
};

static void
remote_handshake(const struct case_spec *cs)
{
    struct event_base *base = event_base_new();
    char why[256];
    EVP_PKEY *remote;
    SSL_CTX *sctx, *cctx;
    struct server s = {0};
    struct client c = {0};

    assert_non_null(base);
    signer_start(base);
    remote = tls_remote_key_new(cs->k->cert, why, sizeof(why));
    assert_non_null(remote);
    assert_true(tls_remote_key_is(remote));
    assert_false(tls_remote_key_is(cs->k->key));
    sctx = server_ctx(cs->k->cert, remote, cs->version, cs->version);
    cctx = client_ctx(cs->k->cert, cs->version, cs->version, cs->sigalgs);

    handshake_once(base, sctx, cctx, &s, &c);
    assert_int_equal(s.result, TLS_HANDSHAKE_OK);
    assert_true(c.handshake_ok);
    assert_int_equal(c.verify, X509_V_OK);
    assert_int_equal(c.sig_type, cs->sig_type);
    /* the one signature came from the signer, and nothing waits */
    assert_int_equal(sg.sent, 1);
    assert_int_equal(sg.answered, 1);
    assert_int_equal(tls_remote_key_pending(), 0);
    /* what the client sent right behind its Finished arrived, and the
     * reply went back over the same session */
    assert_string_equal(s.line, "EHLO pipelined.test");
    assert_string_equal(c.reply, "250 got it\r\n");

    server_free(&s);
    signer_stop();
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    EVP_PKEY_free(remote);
    event_base_free(base);
}

static void
test_rsa_tls13_pss(void **state)
{
    struct case_spec cs = {&rsa_k, TLS1_3_VERSION, NULL, EVP_PKEY_RSA_PSS};
    remote_handshake(&cs);
}

static void
test_ecdsa_p256_tls13(void **state)
{
    struct case_spec cs = {&ec_k, TLS1_3_VERSION, NULL, EVP_PKEY_EC};
    remote_handshake(&cs);
}

static void
test_ecdsa_p384_tls13(void **state)
{
    struct case_spec cs = {&ec384_k, TLS1_3_VERSION, NULL, EVP_PKEY_EC};
    remote_handshake(&cs);
}

static void
test_rsa_tls12_pss(void **state)
{
    struct case_spec cs = {&rsa_k, TLS1_2_VERSION, NULL, EVP_PKEY_RSA_PSS};
    remote_handshake(&cs);
}

static void
test_rsa_tls12_pkcs1(void **state)
{
    /* a client that offers only PKCS#1 v1.5 signatures (older peers) */
    struct case_spec cs = {&rsa_k, TLS1_2_VERSION, "RSA+SHA256:RSA+SHA384", EVP_PKEY_RSA};
    remote_handshake(&cs);
}

static void
test_ecdsa_p256_tls12(void **state)
{
    struct case_spec cs = {&ec_k, TLS1_2_VERSION, NULL, EVP_PKEY_EC};
    remote_handshake(&cs);
}

/* Outbound domain security: postern, the client, signs its
 * CertificateVerify with a remote key; the peer requires and checks it. */
static void
test_client_certificate_remote(void **state)
{
    struct event_base *base = event_base_new();
    char why[256];
    EVP_PKEY *remote;
    const int versions[] = {TLS1_3_VERSION, TLS1_2_VERSION};

    assert_non_null(base);
    signer_start(base);
    remote = tls_remote_key_new(ec_k.cert, why, sizeof(why));
    assert_non_null(remote);
    for (size_t i = 0; i < 2; i++) {
        SSL_CTX *mine = client_ctx(rsa_k.cert, versions[i], versions[i], NULL);
        SSL_CTX *peer = server_ctx(rsa_k.cert, rsa_k.key, versions[i], versions[i]);
        struct server s = {0};
        struct client c = {0};

        assert_int_equal(SSL_CTX_use_certificate(mine, ec_k.cert), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey(mine, remote), 1);
        SSL_CTX_set_verify(peer, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(peer), ec_k.cert), 1);
        sg.answered = 0;
        roles_swapped = true;
        handshake_once(base, mine, peer, &s, &c);
        roles_swapped = false;
        assert_int_equal(s.result, TLS_HANDSHAKE_OK);
        assert_true(c.handshake_ok);
        assert_true(c.peer_cert);
        assert_int_equal(c.verify, X509_V_OK);
        assert_int_equal(c.sig_type, EVP_PKEY_EC);
        assert_int_equal(sg.answered, 1);
        assert_string_equal(s.line, "EHLO pipelined.test");
        assert_string_equal(c.reply, "250 got it\r\n");
        server_free(&s);
        SSL_CTX_free(mine);
        SSL_CTX_free(peer);
    }
    signer_stop();
    EVP_PKEY_free(remote);
    event_base_free(base);
}

/*
 * The loop runs on while a handshake waits for its signature
 */

struct waiting {
    struct server *s[2];
    unsigned ticks_while_waiting;
    bool released;
};

/* A timer on the same loop: it must keep firing while both handshakes
 * wait, then releases the signatures, the second one first. */
static void
waiting_tick(evutil_socket_t fd, short what, void *arg)
{
    struct waiting *w = arg;

    if (w->released)
        return;
    if (tls_remote_key_pending() == 2 && !w->s[0]->done && !w->s[1]->done)
        w->ticks_while_waiting++;
    if (w->ticks_while_waiting == 3) {
        release_held(1);
        release_held(0);
        w->released = true;
    }
}

static bool
both_finished(void *arg)
{
    struct pair *p = arg;

    return pair_finished(&p[0]) && pair_finished(&p[1]);
}

static void
test_loop_runs_while_signing(void **state)
{
    struct event_base *base = event_base_new();
    char why[256];
    EVP_PKEY *remote;
    SSL_CTX *sctx, *cctx;
    struct server s[2] = {{0}};
    struct client c[2] = {{0}};
    struct pair p[2] = {{&s[0], &c[0]}, {&s[1], &c[1]}};
    struct waiting w = {{&s[0], &s[1]}, 0, false};
    struct event *tick;
    struct timeval ms20 = {0, 20000};

    assert_non_null(base);
    signer_start(base);
    sg.hold = true;
    remote = tls_remote_key_new(rsa_k.cert, why, sizeof(why));
    assert_non_null(remote);
    sctx = server_ctx(rsa_k.cert, remote, TLS1_2_VERSION, TLS1_3_VERSION);
    cctx = client_ctx(rsa_k.cert, TLS1_2_VERSION, TLS1_3_VERSION, NULL);
    tick = event_new(base, -1, EV_PERSIST, waiting_tick, &w);
    event_add(tick, &ms20);

    for (int i = 0; i < 2; i++) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        server_start(&s[i], base, sctx, sv[0], WAIT_SECONDS);
        client_start(&c[i], cctx, sv[1]);
    }
    assert_true(run_until(base, both_finished, p));
    for (int i = 0; i < 2; i++) {
        client_join(&c[i]);
        assert_int_equal(s[i].result, TLS_HANDSHAKE_OK);
        assert_true(c[i].handshake_ok);
        assert_string_equal(s[i].line, "EHLO pipelined.test");
        server_free(&s[i]);
    }
    /* both waited at once, and the timer kept running meanwhile */
    assert_true(w.released);
    assert_int_equal(w.ticks_while_waiting, 3);
    assert_int_equal(sg.answered, 2);

    event_free(tick);
    signer_stop();
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    EVP_PKEY_free(remote);
    event_base_free(base);
}

/*
 * Failures: each fails the handshake with a reason, cleanly
 */

static bool
signer_answered(void *arg)
{
    return sg.answered > 0;
}

enum failure { F_UNREACHABLE, F_LOST, F_REFUSED, F_TIMEOUT, F_CANCEL, F_NO_TRANSPORT };

struct failing {
    enum failure f;
    struct server *s;
    bool acted;
};

static void
failing_tick(evutil_socket_t fd, short what, void *arg)
{
    struct failing *x = arg;

    if (x->acted || tls_remote_key_pending() != 1)
        return;
    x->acted = true;
    if (x->f == F_LOST)
        tls_remote_key_fail_all();
    if (x->f == F_CANCEL) {
        /* the session closes while its handshake waits */
        server_free(x->s);
        x->s->done = true;
    }
}

static void
failed_handshake(enum failure f, const char *reason_part)
{
    struct event_base *base = event_base_new();
    char why[256];
    EVP_PKEY *remote;
    SSL_CTX *sctx, *cctx;
    struct server s = {0};
    struct client c = {0};
    struct failing x = {f, &s, false};
    struct pair p = {&s, &c};
    struct event *tick;
    struct timeval ms10 = {0, 10000};
    int sv[2];

    assert_non_null(base);
    signer_start(base);
    sg.unreachable = f == F_UNREACHABLE;
    sg.hold = f == F_LOST || f == F_TIMEOUT || f == F_CANCEL;
    if (f == F_NO_TRANSPORT)
        tls_remote_key_set_transport(NULL);
    remote = tls_remote_key_new(ec_k.cert, why, sizeof(why));
    assert_non_null(remote);
    /* a key the signer does not have: it refuses */
    if (f == F_REFUSED) {
        EVP_PKEY *other = ec_key();
        struct certspec spec = {.cn = "other.test", .nb = -DAY, .na = DAY};
        X509 *cert = make_cert(&spec, other, NULL, NULL);
        EVP_PKEY_free(remote);
        remote = tls_remote_key_new(cert, why, sizeof(why));
        sctx = server_ctx(cert, remote, TLS1_3_VERSION, TLS1_3_VERSION);
        cctx = client_ctx(cert, TLS1_3_VERSION, TLS1_3_VERSION, NULL);
        X509_free(cert);
        EVP_PKEY_free(other);
    } else {
        sctx = server_ctx(ec_k.cert, remote, TLS1_3_VERSION, TLS1_3_VERSION);
        cctx = client_ctx(ec_k.cert, TLS1_3_VERSION, TLS1_3_VERSION, NULL);
    }
    tick = event_new(base, -1, EV_PERSIST, failing_tick, &x);
    event_add(tick, &ms10);

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    server_start(&s, base, sctx, sv[0], f == F_TIMEOUT ? 1 : WAIT_SECONDS);
    client_start(&c, cctx, sv[1]);
    assert_true(run_until(base, pair_finished, &p));
    client_join(&c);
    assert_false(c.handshake_ok);
    if (f != F_CANCEL) {
        assert_int_equal(s.result, f == F_TIMEOUT ? TLS_HANDSHAKE_TIMEOUT : TLS_HANDSHAKE_FAILED);
        if (strstr(s.reason, reason_part) == NULL)
            fail_msg("reason \"%s\" lacks \"%s\"", s.reason, reason_part);
    }
    /* nothing waits any more: a given-up request is forgotten, and its
     * late answer is ignored */
    assert_int_equal(tls_remote_key_pending(), 0);
    if (sg.nheld > 0) {
        release_held(0);
        assert_true(run_until(base, signer_answered, NULL));
    }
    server_free(&s);
    event_free(tick);
    signer_stop();
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    EVP_PKEY_free(remote);
    event_base_free(base);
}

static void
test_fail_unreachable(void **state)
{
    failed_handshake(F_UNREACHABLE, "keys process unreachable");
}

static void
test_fail_transport_lost(void **state)
{
    failed_handshake(F_LOST, "keys process unreachable");
}

static void
test_fail_refused(void **state)
{
    failed_handshake(F_REFUSED, "refused");
}

static void
test_fail_timeout(void **state)
{
    failed_handshake(F_TIMEOUT, "timed out");
}

static void
test_fail_cancelled(void **state)
{
    failed_handshake(F_CANCEL, "");
}

static void
test_fail_no_transport(void **state)
{
    failed_handshake(F_NO_TRANSPORT, "no transport");
}

/*
 * Other transports: answered inside send, malformed, no job at all
 */

/* A transport that signs in place (the keys in this process), or answers
 * nonsense: both answer from inside send, before the job pauses. */
static bool inplace_garbage;
static unsigned inplace_calls;

static int
inplace_send(void *arg, uint64_t id, const char *key_id, int op, int param, const unsigned char *in,
             size_t inlen)
{
    unsigned char out[TLS_KEY_OUT_MAX + 16];
    size_t outlen = TLS_KEY_OUT_MAX;
    int ok;

    inplace_calls++;
    if (inplace_garbage) {
        memset(out, 0x5a, sizeof(out));
        tls_remote_key_answer(id, 1, out, sizeof(out));
        return 0;
    }
    ok = tls_key_op_why(rsa_k.key, op, param, in, inlen, out, &outlen, NULL, 0) == 0;
    tls_remote_key_answer(id, ok, out, ok ? outlen : 0);
    return 0;
}

static void
inplace_handshake(bool garbage)
{
    static const struct tls_key_transport t = {.send = inplace_send};
    struct event_base *base = event_base_new();
    char why[256];
    EVP_PKEY *remote = tls_remote_key_new(rsa_k.cert, why, sizeof(why));
    SSL_CTX *sctx = server_ctx(rsa_k.cert, remote, TLS1_3_VERSION, TLS1_3_VERSION);
    SSL_CTX *cctx = client_ctx(rsa_k.cert, TLS1_3_VERSION, TLS1_3_VERSION, NULL);
    struct server s = {0};
    struct client c = {0};

    inplace_garbage = garbage;
    inplace_calls = 0;
    tls_remote_key_set_transport(&t);
    handshake_once(base, sctx, cctx, &s, &c);
    assert_int_equal(inplace_calls, 1);
    if (garbage) {
        assert_int_equal(s.result, TLS_HANDSHAKE_FAILED);
        assert_non_null(strstr(s.reason, "malformed answer"));
        assert_false(c.handshake_ok);
    } else {
        assert_int_equal(s.result, TLS_HANDSHAKE_OK);
        assert_true(c.handshake_ok);
        assert_string_equal(c.reply, "250 got it\r\n");
    }
    assert_int_equal(tls_remote_key_pending(), 0);
    tls_remote_key_set_transport(NULL);
    server_free(&s);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    EVP_PKEY_free(remote);
    event_base_free(base);
}

static void
test_answer_inside_send(void **state)
{
    inplace_handshake(false);
}

static void
test_malformed_answer(void **state)
{
    inplace_handshake(true);
}

/* Outside an ASYNC job (no SSL_MODE_ASYNC, no loop) the operation waits
 * in place through the transport's wait(); without one it fails at once. */
static void
test_blocking_fallback(void **state)
{
    static const struct tls_key_transport no_wait = {.send = t_send};
    char why[256];
    EVP_PKEY *remote;
    SSL_CTX *sctx, *cctx;
    SSL *srv, *cli;

    signer_start(NULL);
    remote = tls_remote_key_new(ec_k.cert, why, sizeof(why));
    sctx = server_ctx(ec_k.cert, remote, TLS1_2_VERSION, TLS1_3_VERSION);
    cctx = client_ctx(ec_k.cert, TLS1_2_VERSION, TLS1_3_VERSION, NULL);

    srv = SSL_new(sctx);
    cli = SSL_new(cctx);
    SSL_set_accept_state(srv);
    SSL_set_connect_state(cli);
    assert_true(pair_handshake(cli, srv));
    assert_int_equal(SSL_get_verify_result(cli), X509_V_OK);
    assert_int_equal(sg.answered, 1);
    SSL_free(srv);
    SSL_free(cli);

    tls_remote_key_set_transport(&no_wait);
    srv = SSL_new(sctx);
    cli = SSL_new(cctx);
    SSL_set_accept_state(srv);
    SSL_set_connect_state(cli);
    assert_false(pair_handshake(cli, srv));
    /* the request was sent, and given up at once */
    assert_int_equal(sg.sent, 2);
    assert_int_equal(tls_remote_key_pending(), 0);
    SSL_free(srv);
    SSL_free(cli);

    signer_stop();
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    EVP_PKEY_free(remote);
}

static void
test_unsupported_key_type(void **state)
{
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    struct certspec spec = {.cn = "ed.test", .nb = -DAY, .na = DAY};
    X509 *x;
    char why[256];

    assert_non_null(ed);
    /* an Ed25519 key, certified by the EC test key */
    x = make_cert(&spec, ed, ec_k.cert, ec_k.key);
    assert_null(tls_remote_key_new(x, why, sizeof(why)));
    assert_non_null(strstr(why, "RSA or ECDSA only"));
    assert_null(tls_remote_key_new(NULL, why, sizeof(why)));
    X509_free(x);
    EVP_PKEY_free(ed);
}

/*
 * postern's own contexts through the driver: a key loaded as today, and a
 * store whose keys are remote (the public bundle with a key factory)
 */

static char *
make_dir(void)
{
    char tmpl[] = "/tmp/postern-test-rkey-XXXXXX";

    assert_non_null(mkdtemp(tmpl));
    return xstrdup(tmpl);
}

static int
rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return remove(path);
}

static void
remove_dir(char *dir)
{
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

static unsigned factory_calls;

static struct evp_pkey_st *
remote_factory(void *arg, struct x509_st *leaf, const char *key_id)
{
    char why[256], thumb[41];
    EVP_PKEY *k = tls_remote_key_new(leaf, why, sizeof(why));

    factory_calls++;
    thumb_of(leaf, thumb);
    assert_string_equal(key_id, thumb);
    assert_non_null(k);
    return k;
}

static bool
has_static_rsa(SSL_CTX *ctx)
{
    STACK_OF(SSL_CIPHER) *v = SSL_CTX_get_ciphers(ctx);

    for (int i = 0; i < sk_SSL_CIPHER_num(v); i++)
        if (SSL_CIPHER_get_kx_nid(sk_SSL_CIPHER_value(v, i)) == NID_kx_rsa)
            return true;
    return false;
}

static void
test_store_local_key_through_driver(void **state)
{
    struct event_base *base = event_base_new();
    char *dir = make_dir(), why[512];
    struct tls_store *store;
    SSL_CTX *sctx, *cctx;
    struct server s = {0};
    struct client c = {0};

    /* keys loaded as today: no transport is needed, nothing pauses */
    tls_remote_key_set_transport(NULL);
    store_cert(dir, rsa_k.cert, NULL, rsa_k.key, NULL);
    store = load(dir);
    sctx = tls_store_server_ctx(store, "rsa.test", why, sizeof(why));
    assert_non_null(sctx);
    cctx = client_ctx(rsa_k.cert, TLS1_2_VERSION, TLS1_3_VERSION, NULL);
    handshake_once(base, sctx, cctx, &s, &c);
    assert_int_equal(s.result, TLS_HANDSHAKE_OK);
    assert_true(c.handshake_ok);
    assert_int_equal(c.verify, X509_V_OK);
    assert_string_equal(s.line, "EHLO pipelined.test");
    server_free(&s);
    SSL_CTX_free(cctx);
    tls_store_free(store);
    remove_dir(dir);
    event_base_free(base);
}

static void
test_store_remote_keys(void **state)
{
    struct event_base *base = event_base_new();
    char *dir = make_dir(), why[512], err[512];
    struct tls_store *local, *remote;
    SSL_CTX *lctx, *sctx, *cctx, *krsa;
    struct server s = {0};
    struct client c = {0};
    char *blob;
    size_t len;

    store_cert(dir, rsa_k.cert, NULL, rsa_k.key, NULL);
    local = load(dir);
    blob = tls_bundle_export(dir, &len, err, sizeof(err));
    assert_non_null(blob);
    factory_calls = 0;
    remote = tls_store_load_bundle(blob, len, remote_factory, NULL, err, sizeof(err));
    assert_non_null(remote);
    assert_int_equal(factory_calls, 1);
    tls_store_set_profile(local, TLS_PROFILE_COMPATIBLE);
    tls_store_set_profile(remote, TLS_PROFILE_COMPATIBLE);
    lctx = tls_store_server_ctx(local, "rsa.test", why, sizeof(why));
    sctx = tls_store_server_ctx(remote, "rsa.test", why, sizeof(why));
    assert_non_null(lctx);
    if (sctx == NULL)
        fail_msg("no context for the remote store: %s", why);
    /* Compatible offers static RSA with a local key, never with a remote
     * one (it could not decrypt) */
    assert_true(has_static_rsa(lctx));
    assert_false(has_static_rsa(sctx));

    signer_start(base);
    cctx = client_ctx(rsa_k.cert, TLS1_2_VERSION, TLS1_3_VERSION, NULL);
    handshake_once(base, sctx, cctx, &s, &c);
    assert_int_equal(s.result, TLS_HANDSHAKE_OK);
    assert_true(c.handshake_ok);
    assert_int_equal(c.verify, X509_V_OK);
    assert_int_equal(sg.answered, 1);
    server_free(&s);

    /* a client that knows nothing but static RSA gets a clean refusal */
    krsa = client_ctx(rsa_k.cert, TLS1_2_VERSION, TLS1_2_VERSION, NULL);
    assert_int_equal(SSL_CTX_set_cipher_list(krsa, "AES128-GCM-SHA256"), 1);
    handshake_once(base, sctx, krsa, &s, &c);
    assert_int_equal(s.result, TLS_HANDSHAKE_FAILED);
    assert_non_null(strstr(s.reason, "no shared cipher"));
    assert_false(c.handshake_ok);
    server_free(&s);

    signer_stop();
    SSL_CTX_free(cctx);
    SSL_CTX_free(krsa);
    tls_store_free(local);
    tls_store_free(remote);
    free(blob);
    remove_dir(dir);
    event_base_free(base);
}

/*
 * tls_key_op: exactly the operations TLS needs, checked
 */

static int
key_op(EVP_PKEY *k, int op, int param, const unsigned char *in, size_t inlen, unsigned char *out,
       size_t *outlen, char *why)
{
    *outlen = TLS_KEY_OUT_MAX;
    return tls_key_op_why(k, op, param, in, inlen, out, outlen, why, 256);
}

/* A PSS encoding of a SHA-256 hash as OpenSSL makes it for TLS: the raw
 * public operation on a real PSS signature. */
static size_t
pss_encoding(EVP_PKEY *k, unsigned char *em, unsigned char *sig, size_t *siglen)
{
    unsigned char md[32];
    size_t emlen = TLS_KEY_OUT_MAX;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);

    memset(md, 0x42, sizeof(md));
    *siglen = TLS_KEY_OUT_MAX;
    assert_int_equal(EVP_PKEY_sign_init(ctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST), 1);
    assert_int_equal(EVP_PKEY_sign(ctx, sig, siglen, md, sizeof(md)), 1);
    EVP_PKEY_CTX_free(ctx);
    ctx = EVP_PKEY_CTX_new(k, NULL);
    assert_int_equal(EVP_PKEY_verify_recover_init(ctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING), 1);
    assert_int_equal(EVP_PKEY_verify_recover(ctx, em, &emlen, sig, *siglen), 1);
    EVP_PKEY_CTX_free(ctx);
    return emlen;
}

static void
check_pss(EVP_PKEY *k)
{
    unsigned char em[TLS_KEY_OUT_MAX], sig[TLS_KEY_OUT_MAX], out[TLS_KEY_OUT_MAX];
    size_t siglen, outlen, emlen = pss_encoding(k, em, sig, &siglen);
    char why[256];

    assert_int_equal(emlen, (size_t)EVP_PKEY_get_size(k));
    assert_int_equal(key_op(k, TLS_KEY_OP_RSA_SIGN, RSA_NO_PADDING, em, emlen, out, &outlen, why),
                     0);
    assert_int_equal(outlen, siglen);
    assert_memory_equal(out, sig, siglen);
    /* a bit off in the padding, and it is no PSS encoding: raw RSA is
     * refused (the salt's bits can be anything) */
    em[2] ^= 1;
    assert_int_equal(key_op(k, TLS_KEY_OP_RSA_SIGN, RSA_NO_PADDING, em, emlen, out, &outlen, why),
                     -1);
    assert_non_null(strstr(why, "not a PSS encoding"));
}

static void
test_key_op_rsa(void **state)
{
    /* DigestInfo of SHA-256 (RFC 8017 9.2 note 1), then the hash */
    static const unsigned char prefix[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                           0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                           0x01, 0x05, 0x00, 0x04, 0x20};
    unsigned char in[TLS_KEY_IN_MAX + 1], out[TLS_KEY_OUT_MAX];
    size_t outlen, n = sizeof(prefix) + 32;
    EVP_PKEY_CTX *ctx;
    EVP_PKEY *odd;
    char why[256];

    memcpy(in, prefix, sizeof(prefix));
    memset(in + sizeof(prefix), 0x17, 32);
    assert_int_equal(
        key_op(rsa_k.key, TLS_KEY_OP_RSA_SIGN, RSA_PKCS1_PADDING, in, n, out, &outlen, why), 0);
    assert_int_equal(outlen, 256);
    ctx = EVP_PKEY_CTX_new(rsa_k.key, NULL);
    assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), 1);
    assert_int_equal(EVP_PKEY_verify(ctx, out, outlen, in, n), 1);
    EVP_PKEY_CTX_free(ctx);
    /* TLS 1.0/1.1's MD5+SHA-1 */
    assert_int_equal(
        key_op(rsa_k.key, TLS_KEY_OP_RSA_SIGN, RSA_PKCS1_PADDING, in, 36, out, &outlen, why), 0);

    /* not a hash of a kind TLS signs */
    assert_int_equal(
        key_op(rsa_k.key, TLS_KEY_OP_RSA_SIGN, RSA_PKCS1_PADDING, in, n - 1, out, &outlen, why),
        -1);
    assert_non_null(strstr(why, "DigestInfo"));
    in[sizeof(prefix) - 1] = 0x21; /* a 33-byte "SHA-256" */
    assert_int_equal(
        key_op(rsa_k.key, TLS_KEY_OP_RSA_SIGN, RSA_PKCS1_PADDING, in, n + 1, out, &outlen, why),
        -1);
    /* sizes, paddings, operations */
    assert_int_equal(
        key_op(rsa_k.key, TLS_KEY_OP_RSA_SIGN, RSA_PKCS1_PADDING, in, 250, out, &outlen, why), -1);
    assert_int_equal(
        key_op(rsa_k.key, TLS_KEY_OP_RSA_SIGN, RSA_NO_PADDING, in, 255, out, &outlen, why), -1);
    assert_int_equal(
        key_op(rsa_k.key, TLS_KEY_OP_RSA_SIGN, RSA_PKCS1_OAEP_PADDING, in, 32, out, &outlen, why),
        -1);
    assert_int_equal(key_op(rsa_k.key, 99, RSA_PKCS1_PADDING, in, 36, out, &outlen, why), -1);
    assert_int_equal(
        key_op(rsa_k.key, TLS_KEY_OP_ECDSA_SIGN, NID_X9_62_prime256v1, in, 32, out, &outlen, why),
        -1);
    assert_int_equal(
        key_op(rsa_k.key, TLS_KEY_OP_RSA_SIGN, RSA_PKCS1_PADDING, in, 0, out, &outlen, why), -1);
    assert_int_equal(key_op(rsa_k.key, TLS_KEY_OP_RSA_SIGN, RSA_NO_PADDING, in, TLS_KEY_IN_MAX + 1,
                            out, &outlen, why),
                     -1);
    outlen = 255; /* no room for the signature */
    assert_int_equal(tls_key_op_why(rsa_k.key, TLS_KEY_OP_RSA_SIGN, RSA_PKCS1_PADDING, in, 36, out,
                                    &outlen, why, sizeof(why)),
                     -1);

    check_pss(rsa_k.key);
    /* a modulus of 8k+1 bits: the encoding starts with a zero byte */
    odd = EVP_RSA_gen(1025);
    assert_non_null(odd);
    check_pss(odd);
    EVP_PKEY_free(odd);
}

static void
test_key_op_ecdsa(void **state)
{
    unsigned char md[64], out[TLS_KEY_OUT_MAX];
    size_t outlen;
    EVP_PKEY_CTX *ctx;
    char why[256];

    memset(md, 0x33, sizeof(md));
    assert_int_equal(
        key_op(ec_k.key, TLS_KEY_OP_ECDSA_SIGN, NID_X9_62_prime256v1, md, 32, out, &outlen, why),
        0);
    ctx = EVP_PKEY_CTX_new(ec_k.key, NULL);
    assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
    assert_int_equal(EVP_PKEY_verify(ctx, out, outlen, md, 32), 1);
    EVP_PKEY_CTX_free(ctx);
    assert_int_equal(
        key_op(ec384_k.key, TLS_KEY_OP_ECDSA_SIGN, NID_secp384r1, md, 48, out, &outlen, why), 0);
    /* another curve than the key's, a size that is no hash's, RSA ops */
    assert_int_equal(
        key_op(ec_k.key, TLS_KEY_OP_ECDSA_SIGN, NID_secp384r1, md, 32, out, &outlen, why), -1);
    assert_non_null(strstr(why, "curve"));
    assert_int_equal(
        key_op(ec_k.key, TLS_KEY_OP_ECDSA_SIGN, NID_X9_62_prime256v1, md, 33, out, &outlen, why),
        -1);
    assert_int_equal(
        key_op(ec_k.key, TLS_KEY_OP_RSA_SIGN, RSA_PKCS1_PADDING, md, 36, out, &outlen, why), -1);
    /* the logging variant, as the keys process calls it */
    outlen = sizeof(out);
    assert_int_equal(tls_key_op(ec_k.key, 99, NID_X9_62_prime256v1, md, 32, out, &outlen), -1);
    outlen = sizeof(out);
    assert_int_equal(
        tls_key_op(ec_k.key, TLS_KEY_OP_ECDSA_SIGN, NID_X9_62_prime256v1, md, 32, out, &outlen), 0);
    assert_int_equal(tls_key_op_why(NULL, TLS_KEY_OP_ECDSA_SIGN, NID_X9_62_prime256v1, md, 32, out,
                                    &outlen, why, sizeof(why)),
                     -1);
}

/*
 * Handshakes per second, local key against remote key (REMOTE_KEY_BENCH=N)
 */

#define BENCH_INFLIGHT 4

static double
bench_rate(struct event_base *base, SSL_CTX *sctx, SSL_CTX *cctx, int n, int inflight)
{
    struct server s[BENCH_INFLIGHT];
    struct client c[BENCH_INFLIGHT];
    bool busy[BENCH_INFLIGHT] = {false};
    struct timespec t0, t1;
    int started = 0, finished = 0;
    /* the clients finish on their threads: look every millisecond */
    struct event *tick = event_new(base, -1, EV_PERSIST, heartbeat, NULL);
    struct timeval ms1 = {0, 1000};

    assert_non_null(tick);
    event_add(tick, &ms1);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (finished < n) {
        for (int i = 0; i < inflight; i++) {
            struct pair p = {&s[i], &c[i]};
            if (busy[i] && pair_finished(&p)) {
                client_join(&c[i]);
                assert_int_equal(s[i].result, TLS_HANDSHAKE_OK);
                assert_true(c[i].handshake_ok);
                server_free(&s[i]);
                busy[i] = false;
                finished++;
            }
            if (!busy[i] && started < n) {
                int sv[2];
                assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
                server_start(&s[i], base, sctx, sv[0], WAIT_SECONDS);
                client_start(&c[i], cctx, sv[1]);
                busy[i] = true;
                started++;
            }
        }
        if (finished < n)
            event_base_loop(base, EVLOOP_ONCE);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    event_free(tick);
    return n / ((double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
}

static void
test_bench(void **state)
{
    const char *env = getenv("REMOTE_KEY_BENCH");
    int n = env != NULL ? atoi(env) : 0;
    const struct test_key *ks[] = {&rsa_k, &ec_k};
    const char *names[] = {"RSA-2048", "ECDSA P-256"};

    if (n <= 0)
        skip();
    for (size_t i = 0; i < 2; i++) {
        struct event_base *base = event_base_new();
        char why[256];
        EVP_PKEY *remote = tls_remote_key_new(ks[i]->cert, why, sizeof(why));
        SSL_CTX *lctx = server_ctx(ks[i]->cert, ks[i]->key, TLS1_3_VERSION, TLS1_3_VERSION);
        SSL_CTX *rctx = server_ctx(ks[i]->cert, remote, TLS1_3_VERSION, TLS1_3_VERSION);
        SSL_CTX *cctx = client_ctx(ks[i]->cert, TLS1_3_VERSION, TLS1_3_VERSION, NULL);

        for (int inflight = 1; inflight <= BENCH_INFLIGHT; inflight *= BENCH_INFLIGHT) {
            double local, far;

            local = bench_rate(base, lctx, cctx, n, inflight);
            signer_start(base);
            far = bench_rate(base, rctx, cctx, n, inflight);
            assert_int_equal(sg.answered, n);
            signer_stop();
            printf("bench: %s TLS 1.3, %d handshakes, %d in flight: local key %.0f/s, remote "
                   "key (forked signer) %.0f/s\n",
                   names[i], n, inflight, local, far);
        }
        SSL_CTX_free(lctx);
        SSL_CTX_free(rctx);
        SSL_CTX_free(cctx);
        EVP_PKEY_free(remote);
        event_base_free(base);
    }
}

static int
setup(void **state)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    make_key(&rsa_k, EVP_RSA_gen(2048), "rsa.test");
    make_key(&ec_k, ec_key(), "ec.test");
    make_key(&ec384_k, EVP_EC_gen("P-384"), "ec384.test");
    return 0;
}

static int
teardown(void **state)
{
    const struct test_key *ks[] = {&rsa_k, &ec_k, &ec384_k};

    for (size_t i = 0; i < 3; i++) {
        EVP_PKEY_free(ks[i]->key);
        X509_free(ks[i]->cert);
    }
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rsa_tls13_pss),
        cmocka_unit_test(test_ecdsa_p256_tls13),
        cmocka_unit_test(test_ecdsa_p384_tls13),
        cmocka_unit_test(test_rsa_tls12_pss),
        cmocka_unit_test(test_rsa_tls12_pkcs1),
        cmocka_unit_test(test_ecdsa_p256_tls12),
        cmocka_unit_test(test_client_certificate_remote),
        cmocka_unit_test(test_loop_runs_while_signing),
        cmocka_unit_test(test_fail_unreachable),
        cmocka_unit_test(test_fail_transport_lost),
        cmocka_unit_test(test_fail_refused),
        cmocka_unit_test(test_fail_timeout),
        cmocka_unit_test(test_fail_cancelled),
        cmocka_unit_test(test_fail_no_transport),
        cmocka_unit_test(test_answer_inside_send),
        cmocka_unit_test(test_malformed_answer),
        cmocka_unit_test(test_blocking_fallback),
        cmocka_unit_test(test_unsupported_key_type),
        cmocka_unit_test(test_store_local_key_through_driver),
        cmocka_unit_test(test_store_remote_keys),
        cmocka_unit_test(test_key_op_rsa),
        cmocka_unit_test(test_key_op_ecdsa),
        cmocka_unit_test(test_bench),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
