/*
 * starttls_client.c — load client for bench/starttls.sh: new STARTTLS
 * sessions per second against one SMTP server.
 *
 * Keeps C connections busy (one thread, non-blocking sockets, poll), each
 * running one whole session: greeting, EHLO, STARTTLS, a full TLS handshake,
 * EHLO, MAIL, RCPT, DATA with a message of L bytes, QUIT; then the next
 * session on a new connection, until N sessions were attempted. One command
 * at a time (no PIPELINING), like smtp-source. Prints one line of key=value
 * pairs on stdout; failures are counted and the first few described on
 * stderr. Exit status 0 only if every session completed.
 *
 * Must never resume a TLS session (the client context has its session cache
 * off and no session is ever set on a connection: every handshake is a full
 * one, as from many different clients) and never verifies certificates: it
 * measures the server's handshake work, not a PKI. It is a benchmark
 * instrument, not a mail client: meant for loopback servers of one's own.
 *
 * Build: cc -O2 -std=c11 -Wall -Wextra -Werror bench/starttls_client.c \
 *            $(pkg-config --cflags --libs openssl) -o starttls_client
 * Usage: starttls_client [-c CONNS] [-n SESSIONS] [-l BYTES]
 *                        [-s 1.3|1.2|any|none|direct] [-t SECONDS] [-f FROM]
 *                        [-r RCPT] HOST:PORT
 *   -s 1.3  TLS 1.3 only (default); 1.2: TLS 1.2 only; any: what the server
 *           picks; none: no STARTTLS at all (clear text, to compare with
 *           smtp-source); direct: no SMTP at all, a TLS 1.3 handshake right
 *           after connect, then close_notify and close (a "session" is one
 *           handshake: the handshake rate of a TLS server that does not speak
 *           SMTP, such as openssl s_server, as a ceiling)
 *   -l      size of the message (header and body, CRLF line ends) before the
 *           final "."
 *   -t      a session that takes longer fails (default 30 s)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

enum step {
    S_CONNECT,
    S_GREETING,
    S_EHLO1,
    S_STARTTLS,
    S_HANDSHAKE,
    S_EHLO2,
    S_MAIL,
    S_RCPT,
    S_DATA,
    S_BODY,
    S_QUIT,
};

static const char *const step_name[] = {"connect",       "greeting",       "EHLO", "STARTTLS",
                                        "TLS handshake", "EHLO after TLS", "MAIL", "RCPT",
                                        "DATA",          "end of data",    "QUIT"};

struct conn {
    int fd;
    SSL *ssl;
    enum step step;
    const char *out; /* pending output: a command in cmd[], or the message */
    size_t outlen, outoff;
    char cmd[512];
    char in[8192]; /* the reply being read; a reply longer than this fails */
    size_t inlen;
    bool starttls_offered;
    double t0, t_tls, deadline;
};

static struct {
    const char *from, *rcpt, *helo;
    int tls_min, tls_max; /* 0/0 with tls_none */
    bool tls_none;
    bool direct; /* -s direct: handshake at once, no SMTP */
    double timeout;
    struct addrinfo *addr;
    SSL_CTX *ctx;
    char *message; /* the message, dot-stuffed, with the final ".\r\n" */
    size_t message_len;
} opt;

static struct {
    long started, ok, failed, resumed, tickets, errors_shown;
    double *latency, *handshake; /* per completed session, ms */
    char tls_version[32], cipher[64], group[32], server_key[32];
} stats;

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
fail(struct conn *c, const char *fmt, ...)
{
    va_list ap;

    if (stats.errors_shown++ < 5) {
        fprintf(stderr, "starttls_client: session failed at %s: ", step_name[c->step]);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    stats.failed++;
}

static void
conn_close(struct conn *c)
{
    if (c->ssl != NULL)
        SSL_free(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
    c->ssl = NULL;
    c->fd = -1;
}

static void
send_cmd(struct conn *c, enum step next, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(c->cmd, sizeof(c->cmd), fmt, ap);
    va_end(ap);
    c->out = c->cmd;
    c->outlen = n > 0 && (size_t)n < sizeof(c->cmd) ? (size_t)n : 0;
    c->outoff = 0;
    c->step = next;
}

/* Maps an OpenSSL result to poll events; 0 would block, -1 failed. */
static int
ssl_wait(struct conn *c, int r, short *events, const char *what)
{
    char e[256];

    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        *events = POLLIN;
        return 0;
    case SSL_ERROR_WANT_WRITE:
        *events = POLLOUT;
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        fail(c, "%s: the server closed the TLS connection", what);
        return -1;
    default:
        ERR_error_string_n(ERR_get_error(), e, sizeof(e));
        fail(c, "%s: %s (%s)", what, e, errno ? strerror(errno) : "no errno");
        ERR_clear_error();
        return -1;
    }
}

/* 1 all written, 0 would block, -1 failed. */
static int
write_out(struct conn *c, short *events)
{
    while (c->outoff < c->outlen) {
        const char *p = c->out + c->outoff;
        size_t len = c->outlen - c->outoff;
        ssize_t n;

        if (c->ssl != NULL) {
            int r = SSL_write(c->ssl, p, len > 1 << 30 ? 1 << 30 : (int)len);
            if (r <= 0)
                return ssl_wait(c, r, events, "write");
            n = r;
        } else if ((n = send(c->fd, p, len, MSG_NOSIGNAL)) < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                *events = POLLOUT;
                return 0;
            }
            fail(c, "write: %s", strerror(errno));
            return -1;
        }
        c->outoff += (size_t)n;
    }
    return 1;
}

/* >0 bytes added to in[], 0 would block, -1 failed or closed. */
static int
read_in(struct conn *c, short *events)
{
    size_t room = sizeof(c->in) - c->inlen;
    ssize_t n;

    if (room == 0) {
        fail(c, "a reply of more than %zu bytes", sizeof(c->in));
        return -1;
    }
    errno = 0;
    if (c->ssl != NULL) {
        int r = SSL_read(c->ssl, c->in + c->inlen, (int)room);
        if (r <= 0)
            return ssl_wait(c, r, events, "read");
        n = r;
    } else if ((n = recv(c->fd, c->in + c->inlen, room, 0)) <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            *events = POLLIN;
            return 0;
        }
        fail(c, "read: %s", n == 0 ? "the server closed the connection" : strerror(errno));
        return -1;
    }
    c->inlen += (size_t)n;
    return (int)n;
}

/* The length of the complete reply at the start of in[] (0: not complete
 * yet) and its code; notes STARTTLS among EHLO keywords. */
static size_t
reply_complete(struct conn *c, int *code)
{
    size_t pos = 0;

    while (pos < c->inlen) {
        char *line = c->in + pos, *nl = memchr(line, '\n', c->inlen - pos);
        size_t len;

        if (nl == NULL)
            return 0;
        len = (size_t)(nl - line) + 1;
        pos += len;
        if (len >= 12 && strncasecmp(line + 4, "STARTTLS", 8) == 0 &&
            (line[12] == '\r' || line[12] == '\n' || line[12] == ' '))
            c->starttls_offered = true;
        if (len < 5 || line[3] != '-') {
            *code = len >= 4 ? atoi(line) : 0;
            return pos;
        }
    }
    return 0;
}

static void
note_tls(struct conn *c)
{
    X509 *peer;
    EVP_PKEY *key;
    int nid;

    if (stats.tls_version[0] != '\0')
        return;
    snprintf(stats.tls_version, sizeof(stats.tls_version), "%s", SSL_get_version(c->ssl));
    snprintf(stats.cipher, sizeof(stats.cipher), "%s", SSL_get_cipher_name(c->ssl));
    nid = SSL_get_negotiated_group(c->ssl);
    snprintf(stats.group, sizeof(stats.group), "%s",
             nid > 0 && OBJ_nid2sn(nid) != NULL ? OBJ_nid2sn(nid) : "unknown");
    peer = SSL_get0_peer_certificate(c->ssl);
    key = peer != NULL ? X509_get0_pubkey(peer) : NULL;
    if (key == NULL)
        snprintf(stats.server_key, sizeof(stats.server_key), "none");
    else
        snprintf(stats.server_key, sizeof(stats.server_key), "%s-%d",
                 EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA  ? "RSA"
                 : EVP_PKEY_get_base_id(key) == EVP_PKEY_EC ? "EC"
                                                            : OBJ_nid2sn(EVP_PKEY_get_base_id(key)),
                 EVP_PKEY_get_bits(key));
}

/* The next command after a reply; 1 session done, 0 go on, -1 failed. */
static int
on_reply(struct conn *c, int code)
{
    static const int expect[] = {
        [S_GREETING] = 220, [S_EHLO1] = 250, [S_STARTTLS] = 220, [S_EHLO2] = 250, [S_MAIL] = 250,
        [S_RCPT] = 250,     [S_DATA] = 354,  [S_BODY] = 250,     [S_QUIT] = 221};

    if (code != expect[c->step]) {
        char *nl = memchr(c->in, '\r', c->inlen);
        fail(c, "reply %.*s", (int)(nl != NULL ? nl - c->in : (long)c->inlen), c->in);
        return -1;
    }
    switch (c->step) {
    case S_GREETING:
        send_cmd(c, S_EHLO1, "EHLO %s\r\n", opt.helo);
        break;
    case S_EHLO1:
        if (opt.tls_none) {
            send_cmd(c, S_MAIL, "MAIL FROM:<%s>\r\n", opt.from);
        } else if (!c->starttls_offered) {
            fail(c, "the server does not offer STARTTLS");
            return -1;
        } else {
            send_cmd(c, S_STARTTLS, "STARTTLS\r\n");
        }
        break;
    case S_STARTTLS:
        if ((c->ssl = SSL_new(opt.ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
            fail(c, "SSL_new failed");
            return -1;
        }
        SSL_set_connect_state(c->ssl);
        c->step = S_HANDSHAKE;
        break;
    case S_EHLO2:
        send_cmd(c, S_MAIL, "MAIL FROM:<%s>\r\n", opt.from);
        break;
    case S_MAIL:
        send_cmd(c, S_RCPT, "RCPT TO:<%s>\r\n", opt.rcpt);
        break;
    case S_RCPT:
        send_cmd(c, S_DATA, "DATA\r\n");
        break;
    case S_DATA:
        c->out = opt.message;
        c->outlen = opt.message_len;
        c->outoff = 0;
        c->step = S_BODY;
        break;
    case S_BODY:
        send_cmd(c, S_QUIT, "QUIT\r\n");
        break;
    case S_QUIT:
        return 1;
    default:
        return -1;
    }
    return 0;
}

/* -s direct: the TLS handshake starts right after connect (the next drive()
 * call runs it); false when it cannot. */
static bool
start_direct(struct conn *c)
{
    if ((c->ssl = SSL_new(opt.ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        fail(c, "SSL_new failed");
        return false;
    }
    SSL_set_connect_state(c->ssl);
    c->step = S_HANDSHAKE;
    return true;
}

/* Runs the session as far as it goes without waiting. 1 done, 0 waiting
 * (events set), -1 failed. */
static int
drive(struct conn *c, short *events)
{
    for (;;) {
        int r, code;
        size_t len;

        if (c->step == S_CONNECT) {
            int err = 0;
            socklen_t el = sizeof(err);

            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
                fail(c, "%s", strerror(err ? err : errno));
                return -1;
            }
            if (opt.direct && !start_direct(c))
                return -1;
            if (!opt.direct)
                c->step = S_GREETING;
            continue;
        }
        if (c->step == S_HANDSHAKE) {
            if ((r = SSL_do_handshake(c->ssl)) != 1)
                return ssl_wait(c, r, events, "handshake");
            c->t_tls = now();
            if (SSL_session_reused(c->ssl))
                stats.resumed++;
            note_tls(c);
            if (opt.direct)
                return 1;
            send_cmd(c, S_EHLO2, "EHLO %s\r\n", opt.helo);
            continue;
        }
        if (c->outoff < c->outlen) {
            if ((r = write_out(c, events)) <= 0)
                return r;
            continue;
        }
        if ((len = reply_complete(c, &code)) > 0) {
            r = on_reply(c, code);
            memmove(c->in, c->in + len, c->inlen - len);
            c->inlen -= len;
            if (r != 0)
                return r;
            if (c->inlen > 0 && c->step == S_HANDSHAKE) {
                fail(c, "clear text after the STARTTLS reply");
                return -1;
            }
            continue;
        }
        if ((r = read_in(c, events)) <= 0)
            return r;
    }
}

/* Starts the next session on c; false when it failed at once. */
static bool
conn_start(struct conn *c, short *events)
{
    int one = 1;

    memset(c, 0, sizeof(*c));
    c->t0 = now();
    c->deadline = c->t0 + opt.timeout;
    c->step = S_CONNECT;
    stats.started++;
    c->fd = socket(opt.addr->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        fail(c, "socket: %s", strerror(errno));
        return false;
    }
    /* our own small writes must not wait for ACKs: the figures are the
     * server's */
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, opt.addr->ai_addr, opt.addr->ai_addrlen) == 0) {
        if (opt.direct && !start_direct(c)) {
            conn_close(c);
            return false;
        }
        c->step = opt.direct ? S_HANDSHAKE : S_GREETING;
        *events = opt.direct ? POLLOUT : POLLIN;
    } else if (errno == EINPROGRESS) {
        *events = POLLOUT;
    } else {
        fail(c, "%s", strerror(errno));
        conn_close(c);
        return false;
    }
    return true;
}

static void
session_done(struct conn *c)
{
    double t = now();

    stats.latency[stats.ok] = (t - c->t0) * 1000;
    stats.handshake[stats.ok] = c->ssl != NULL ? (c->t_tls - c->t0) * 1000 : 0;
    stats.ok++;
    if (c->ssl != NULL) /* close_notify, as a polite client sends; no waiting */
        SSL_shutdown(c->ssl);
    conn_close(c);
}

static void
count_tickets(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl,
              void *arg)
{
    (void)version;
    (void)ssl;
    (void)arg;
    if (!write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
        ((const unsigned char *)buf)[0] == SSL3_MT_NEWSESSION_TICKET)
        stats.tickets++;
}

static void
build_message(size_t size)
{
    char head[512];
    int hn = snprintf(head, sizeof(head),
                      "From: <%s>\r\nTo: <%s>\r\nSubject: STARTTLS benchmark\r\n\r\n", opt.from,
                      opt.rcpt);
    size_t n = (size_t)hn, cap = size + (size_t)hn + 128;
    char *m = malloc(cap);

    if (m == NULL) {
        perror("malloc");
        exit(2);
    }
    memcpy(m, head, n);
    /* body lines of 76 "x" and CRLF (no dot-stuffing needed), the last one
     * shortened so that the message is size bytes (or just the header) */
    while (n + 3 <= size) {
        size_t line = size - n - 2 < 76 ? size - n - 2 : 76;
        memset(m + n, 'x', line);
        n += line;
        memcpy(m + n, "\r\n", 2);
        n += 2;
    }
    memcpy(m + n, ".\r\n", 3);
    opt.message = m;
    opt.message_len = n + 3;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double
percentile(double *v, long n, double p)
{
    long i;

    if (n == 0)
        return 0;
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    i = (long)(p * (double)n + 0.999999) - 1; /* nearest rank */
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

/* "-" for a value never seen (no session got that far) */
static const char *
seen(const char *v)
{
    return v[0] != '\0' ? v : "-";
}

static void
usage(void)
{
    fprintf(stderr, "usage: starttls_client [-c CONNS] [-n SESSIONS] [-l BYTES] "
                    "[-s 1.3|1.2|any|none|direct] [-t SECONDS] [-f FROM] [-r RCPT] HOST:PORT\n");
    exit(2);
}

static void
parse_target(const char *target)
{
    char host[256];
    const char *colon = strrchr(target, ':');
    size_t hl;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    int e;

    if (colon == NULL || colon == target)
        usage();
    hl = (size_t)(colon - target);
    if (target[0] == '[' && hl >= 2 && target[hl - 1] == ']') {
        target++;
        hl -= 2;
    }
    if (hl >= sizeof(host))
        usage();
    memcpy(host, target, hl);
    host[hl] = '\0';
    if ((e = getaddrinfo(host, colon + 1, &hints, &opt.addr)) != 0) {
        fprintf(stderr, "starttls_client: %s: %s\n", target, gai_strerror(e));
        exit(2);
    }
}

static void
setup_tls(const char *version)
{
    if (strcmp(version, "none") == 0) {
        opt.tls_none = true;
        return;
    }
    if (strcmp(version, "direct") == 0)
        opt.direct = true;
    if (strcmp(version, "1.3") == 0 || opt.direct)
        opt.tls_min = opt.tls_max = TLS1_3_VERSION;
    else if (strcmp(version, "1.2") == 0)
        opt.tls_min = opt.tls_max = TLS1_2_VERSION;
    else if (strcmp(version, "any") == 0)
        opt.tls_min = TLS1_2_VERSION, opt.tls_max = 0;
    else
        usage();
    opt.ctx = SSL_CTX_new(TLS_client_method());
    if (opt.ctx == NULL || SSL_CTX_set_min_proto_version(opt.ctx, opt.tls_min) != 1 ||
        SSL_CTX_set_max_proto_version(opt.ctx, opt.tls_max) != 1) {
        fprintf(stderr, "starttls_client: cannot set up a TLS context\n");
        exit(2);
    }
    /* Session cache off: nothing is kept, so nothing can be resumed. The
     * server may still send tickets (counted); they are thrown away. */
    SSL_CTX_set_session_cache_mode(opt.ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_verify(opt.ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(opt.ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_msg_callback(opt.ctx, count_tickets);
}

int
main(int argc, char **argv)
{
    long conns = 20, total = 3000, size = 1024;
    const char *tls = "1.3";
    struct conn *cs;
    struct pollfd *pfd;
    struct rusage ru0, ru1;
    double t0, elapsed, cpu;
    long active = 0, i;
    int ch;

    opt.from = "a@src.test";
    opt.rcpt = "b@dst.test";
    opt.helo = "client.bench.test";
    opt.timeout = 30;
    while ((ch = getopt(argc, argv, "c:n:l:s:t:f:r:h")) != -1) {
        switch (ch) {
        case 'c':
            conns = atol(optarg);
            break;
        case 'n':
            total = atol(optarg);
            break;
        case 'l':
            size = atol(optarg);
            break;
        case 's':
            tls = optarg;
            break;
        case 't':
            opt.timeout = atof(optarg);
            break;
        case 'f':
            opt.from = optarg;
            break;
        case 'r':
            opt.rcpt = optarg;
            break;
        default:
            usage();
        }
    }
    if (optind != argc - 1 || conns < 1 || total < 1 || size < 0 || opt.timeout <= 0)
        usage();
    parse_target(argv[optind]);
    /* OpenSSL writes with write(2): a server that resets a connection must
     * count as a failed session, not end the client */
    signal(SIGPIPE, SIG_IGN);
    setup_tls(tls);
    build_message((size_t)size);
    if (conns > total)
        conns = total;
    cs = calloc((size_t)conns, sizeof(*cs));
    pfd = calloc((size_t)conns, sizeof(*pfd));
    stats.latency = calloc((size_t)total, sizeof(double));
    stats.handshake = calloc((size_t)total, sizeof(double));
    if (cs == NULL || pfd == NULL || stats.latency == NULL || stats.handshake == NULL) {
        perror("calloc");
        return 2;
    }

    getrusage(RUSAGE_SELF, &ru0);
    t0 = now();
    for (i = 0; i < conns; i++)
        pfd[i].fd = cs[i].fd = -1;
    for (;;) {
        double t;

        /* fill every free slot while sessions remain */
        for (i = 0; i < conns && stats.started < total; i++) {
            while (cs[i].fd < 0 && stats.started < total) {
                if (conn_start(&cs[i], &pfd[i].events))
                    active++;
            }
        }
        if (active == 0)
            break;
        for (i = 0; i < conns; i++)
            pfd[i].fd = cs[i].fd;
        if (poll(pfd, (nfds_t)conns, 100) < 0 && errno != EINTR) {
            perror("poll");
            return 2;
        }
        t = now();
        for (i = 0; i < conns; i++) {
            int r;

            if (cs[i].fd < 0)
                continue;
            if (pfd[i].revents != 0)
                r = drive(&cs[i], &pfd[i].events);
            else if (t > cs[i].deadline) {
                fail(&cs[i], "no progress within %.0f s", opt.timeout);
                r = -1;
            } else
                continue;
            if (r == 0)
                continue;
            if (r > 0)
                session_done(&cs[i]);
            else
                conn_close(&cs[i]);
            active--;
        }
    }
    elapsed = now() - t0;
    getrusage(RUSAGE_SELF, &ru1);
    cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec -
                   ru0.ru_stime.tv_sec) +
          (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec -
                   ru0.ru_stime.tv_usec) /
              1e6;

    printf("starttls_client conns=%ld sessions=%ld ok=%ld failed=%ld seconds=%.3f "
           "sessions_per_s=%.1f p50_ms=%.2f p99_ms=%.2f tls_p50_ms=%.2f tls_p99_ms=%.2f "
           "client_cpu_ms=%.3f tls=%s cipher=%s group=%s server_key=%s tickets_per_session=%.2f "
           "resumed=%ld bytes=%ld\n",
           conns, total, stats.ok, stats.failed, elapsed, (double)stats.ok / elapsed,
           percentile(stats.latency, stats.ok, 0.50), percentile(stats.latency, stats.ok, 0.99),
           percentile(stats.handshake, stats.ok, 0.50), percentile(stats.handshake, stats.ok, 0.99),
           stats.ok > 0 ? cpu * 1000 / (double)stats.ok : 0,
           opt.tls_none ? "none" : seen(stats.tls_version), seen(stats.cipher), seen(stats.group),
           seen(stats.server_key), stats.ok > 0 ? (double)stats.tickets / (double)stats.ok : 0,
           stats.resumed, size);
    return stats.failed == 0 && stats.resumed == 0 ? 0 : 1;
}
