/*
 * fuzz_smtp_client.c — libFuzzer target for what a next hop says to the
 * outbound client (outbound/smtp_client.c): greeting, EHLO keywords
 * (SIZE, PIPELINING, AUTH ...), multi-line replies, AUTH prompts, the
 * replies to MAIL/RCPT/DATA matched to the commands in order, LMTP's one
 * reply per recipient, and whatever comes after. The reply parser lives in
 * the client's read callback, so the input is played by a peer on an
 * abstract Unix socket (no file, no network) through the real event loop.
 *
 * Input: one octet of options (LMTP, AUTH, HELO only, 8-bit/SMTPUTF8
 * content, message size), then the peer's whole side of the conversation,
 * sent at once and followed by end-of-file.
 *
 * Besides memory errors, leaks and hangs it checks that the client always
 * ends (closed() once), and that every recipient result it reports carries
 * a reason.
 * Must never: use the network, or block: the peer's side is written before
 * the loop runs and the loop is bounded.
 */
#include "outbound/smtp_client.h"
#include "fuzz_common.h"
#include "queue/envelope.h"
#include "smtp/smtp_parse.h"

#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_TXNS 2
#define MAX_LOOPS 10000

struct run {
    struct smtp_transaction t;
    const char *content; /* the message, reopened for each transaction (the client closes it) */
    int txns;
    int closed;
};

static struct event_base *base;
static struct sockaddr_un addr;
static int listener = -1;

static void
setup_once(void)
{
    if (base != NULL)
        return;
    signal(SIGPIPE, SIG_IGN); /* as the service does: a write to a gone peer is an error */
    base = event_base_new();
    listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    addr.sun_family = AF_UNIX;
    /* abstract name (leading NUL): nothing on disk; the client connects
     * with the whole sockaddr_un, so bind with it too */
    snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "postern-fuzz-client-%d", getpid());
    if (base == NULL || listener < 0 ||
        bind(listener, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(listener, 4) < 0) {
        perror("fuzz_smtp_client setup");
        abort();
    }
}

static void
send_or_quit(struct smtp_client *c, struct run *r)
{
    if (r->txns++ < MAX_TXNS) {
        r->t.data_fd = open(r->content, O_RDONLY | O_CLOEXEC);
        smtp_client_send(c, &r->t);
    } else
        smtp_client_quit(c);
}

static void
on_ready(struct smtp_client *c, void *arg)
{
    send_or_quit(c, arg);
}

static void
on_done(struct smtp_client *c, void *arg, const struct smtp_result *res, size_t n)
{
    struct run *r = arg;

    FUZZ_CHECK(n == r->t.nrcpts);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(res[i].text[0] != '\0' && strlen(res[i].text) < sizeof(res[i].text));
    if (smtp_client_usable(c))
        send_or_quit(c, r);
}

static void
on_closed(struct smtp_client *c, void *arg, const struct smtp_result *why)
{
    struct run *r = arg;

    FUZZ_CHECK(r->closed == 0);
    r->closed = 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char body[] = "Subject: x\r\n\r\n.a line that needs dot-stuffing\r\nbye\r\n";
    static const size_t rcpt_index[] = {0, 1, 2};
    uint8_t opt = size > 0 ? data[0] : 0;
    struct smtp_client_policy policy = {0};
    struct smtp_client_callbacks cb = {on_ready, on_done, on_closed};
    struct envelope *env = envelope_new();
    struct run r = {0};
    struct smtp_client *c;
    struct pollfd pfd;
    int peer = -1, loops = 0;

    setup_once();
    memcpy(env->id, "0123456789ABCDEF", QUEUE_ID_LEN + 1);
    env->from = strdup("alice@example.org");
    env->envid = strdup("QQ+2B1");
    env->ret = SMTP_RET_HDRS;
    env->body = opt & 0x10 ? SMTP_BODY_8BITMIME : SMTP_BODY_7BIT;
    env->smtputf8 = (opt & 0x20) != 0;
    env->size = opt & 0x40 ? 100000000 : sizeof(body) - 1;
    envelope_add_rcpt(env, "bob@example.test", SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE,
                      "rfc822;bob@example.test");
    envelope_add_rcpt(env, "carol@example.test", SMTP_NOTIFY_NEVER, NULL);
    envelope_add_rcpt(env, "dave@example.test", 0, NULL);
    r.t.env = env;
    r.t.rcpt_index = rcpt_index;
    r.t.nrcpts = 1 + (size_t)(opt >> 6) % 3;
    r.content = fuzz_memfile(0, body, sizeof(body) - 1);

    policy.ehlo_name = "mail.example.test";
    policy.peer_name = "mx.example.net";
    policy.lmtp = opt & 0x01;
    policy.auth = (opt & 0x02) != 0;
    policy.auth_user = "user";
    policy.auth_password = "secret";
    policy.auth_failure_temporary = (opt & 0x04) != 0;
    policy.force_helo = (opt & 0x08) != 0;
    policy.timeout = 5;
    policy.connector = "Fuzz";

    c = smtp_client_new(base, (struct sockaddr *)&addr, &policy, &cb, &r);
    pfd = (struct pollfd){.fd = listener, .events = POLLIN};
    if (poll(&pfd, 1, 1000) == 1)
        peer = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    if (peer >= 0) {
        /* the whole peer side at once; a Unix socket buffer holds max_len */
        if (size > 1 && write(peer, data + 1, size - 1) != (ssize_t)(size - 1))
            abort();
        shutdown(peer, SHUT_WR);
    }
    while (!r.closed && loops++ < MAX_LOOPS)
        event_base_loop(base, EVLOOP_ONCE);
    if (!r.closed)
        smtp_client_abort(c);
    FUZZ_CHECK(r.closed);
    if (peer >= 0)
        close(peer);
    /* events the client left behind (deferred reports) must not outlive it */
    event_base_loop(base, EVLOOP_NONBLOCK);
    envelope_free(env);
    return 0;
}
