/*
 * test_dns.c — tests for net/dns against a real unbound server on loopback
 * (started by the test with local zone data), a UDP socket that never
 * answers (timeouts), and IP literals (no DNS at all); and resolvers built
 * from a copy of resolv.conf in a child chroot()ed into an empty directory
 * (root only), answered by a second unbound on port 53 of an unused
 * 127.53.x.y.
 * Must never: use the host's resolvers or the network beyond 127.0.0.1, or
 * leave the unbound process behind (it is killed in teardown, and dies
 * with the test process if that crashes).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net/dns.h"
#include "testlib.h"

#define UNBOUND_PATH "/usr/sbin/unbound"
#define WAIT_MS 10000 /* longest wait for one answer from the local server */

static struct event_base *base;
static pid_t unbound_pid = -1;
static char tmpdir[64];
static char conf_path[128];
static char log_path[128];
static char server[64];    /* "127.0.0.1@port" of unbound */
static char blackhole[64]; /* "127.0.0.1@port" of a socket nobody reads */
static int blackhole_fd = -1;

/* Zone data served by unbound: "test." is static, so any name not listed
 * here is NXDOMAIN, and a listed name without the asked type is NODATA. */
static const char *const zone_lines[] = {
    "local-zone: \"test.\" static",
    "local-data: \"ready.test. A 192.0.2.99\"",
    "local-data: \"multi.test. MX 10 mx1.multi.test.\"",
    "local-data: \"multi.test. MX 10 mx2.multi.test.\"",
    "local-data: \"multi.test. MX 20 mx3.multi.test.\"",
    "local-data: \"mx1.multi.test. AAAA 2001:db8::1\"",
    "local-data: \"mx1.multi.test. A 192.0.2.1\"",
    "local-data: \"mx2.multi.test. A 192.0.2.2\"",
    "local-data: \"mx3.multi.test. AAAA 2001:db8::3\"",
    "local-data: \"implicit.test. A 192.0.2.10\"",
    "local-data: \"nullmx.test. MX 0 .\"",
    "local-data: \"broken.test. MX 10 nohost.broken.test.\"",
    "local-data: 'noaddr.test. TXT \"no mail here\"'",
    "local-data: \"mixed.test. MX 10 gone.mixed.test.\"",
    "local-data: \"mixed.test. MX 20 mx.mixed.test.\"",
    "local-data: \"mx.mixed.test. A 192.0.2.20\"",
    "local-data: \"dup.test. MX 10 mx.mixed.test.\"",
    "local-data: \"dup.test. MX 30 mx.mixed.test.\"",
    "local-data: \"dup.test. MX 20 mx1.multi.test.\"",
    "local-zone: \"refused.test.\" refuse",
    "local-data: \"lame.test. MX 10 mx.refused.test.\"",
};

/* What a callback saw, copied out (the result dies with the call). */
struct capture {
    int calls;
    enum dns_status status;
    char error[256];
    size_t nhosts;
    struct {
        char name[256];
        unsigned pref;
        enum dns_status status;
        size_t naddrs;
        struct sockaddr_storage addrs[8];
    } hosts[16];
};

static void
capture_cb(void *arg, const struct dns_result *res)
{
    struct capture *c = arg;

    c->calls++;
    c->status = res->status;
    snprintf(c->error, sizeof(c->error), "%s", res->error);
    c->nhosts = res->nhosts;
    assert_true(res->nhosts <= 16);
    for (size_t i = 0; i < res->nhosts; i++) {
        const struct dns_host *h = &res->hosts[i];

        snprintf(c->hosts[i].name, sizeof(c->hosts[i].name), "%s", h->name);
        c->hosts[i].pref = h->pref;
        c->hosts[i].status = h->status;
        c->hosts[i].naddrs = h->naddrs;
        assert_true(h->naddrs <= 8);
        if (h->naddrs > 0)
            memcpy(c->hosts[i].addrs, h->addrs, h->naddrs * sizeof(*h->addrs));
    }
}

static void
never_cb(void *arg, const struct dns_result *res)
{
    fail_msg("callback after cancel (status %d: %s)", res->status, res->error);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
    *(bool *)arg = true;
}

/* Runs the loop until *calls reaches want or ms pass; returns elapsed ms. */
static long
run_until(const int *calls, int want, long ms)
{
    bool expired = false;
    struct event *t = evtimer_new(base, on_deadline, &expired);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    struct timespec t0, t1;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    evtimer_add(t, &tv);
    while (*calls < want && !expired)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(t);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
}

static void
run_for(long ms)
{
    int never = 0;

    run_until(&never, 1, ms);
}

static struct dns *
dns_for(const char *srv)
{
    char *servers[1];
    char err[256] = "";
    struct dns *dns;

    servers[0] = (char *)srv;
    dns = dns_new(base, servers, 1, false, err, sizeof(err));
    if (dns == NULL)
        fail_msg("dns_new(%s): %s", srv, err);
    return dns;
}

static void
resolve(struct dns *dns, bool mx, const char *name, struct capture *c)
{
    memset(c, 0, sizeof(*c));
    if (mx)
        dns_resolve_mx(dns, name, capture_cb, c);
    else
        dns_resolve_host(dns, name, capture_cb, c);
    /* Never called back from inside the call. */
    assert_int_equal(c->calls, 0);
    run_until(&c->calls, 1, WAIT_MS);
    if (c->calls != 1)
        fail_msg("no answer for %s", name);
}

static void
assert_addr(const struct sockaddr_storage *ss, const char *ip)
{
    uint8_t want[16];

    if (strchr(ip, ':') != NULL) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

        assert_int_equal(ss->ss_family, AF_INET6);
        assert_int_equal(inet_pton(AF_INET6, ip, want), 1);
        assert_memory_equal(&sin6->sin6_addr, want, 16);
        assert_int_equal(sin6->sin6_port, 0);
    } else {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

        assert_int_equal(ss->ss_family, AF_INET);
        assert_int_equal(inet_pton(AF_INET, ip, want), 1);
        assert_memory_equal(&sin->sin_addr, want, 4);
        assert_int_equal(sin->sin_port, 0);
    }
}

/* --- the unbound server ------------------------------------------------ */

static int
udp_bound(uint16_t port, uint16_t *got)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    assert_true(fd >= 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons(port);
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        close(fd);
        return -1;
    }
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    *got = ntohs(sin.sin_port);
    return fd;
}

static void
write_conf(const char *path, const char *ip, uint16_t port)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fprintf(f,
            "server:\n"
            "  interface: %s\n"
            "  port: %u\n"
            "  do-daemonize: no\n"
            "  use-syslog: no\n"
            "  logfile: \"\"\n"
            "  chroot: \"\"\n"
            "  username: \"\"\n"
            "  directory: \"%s\"\n"
            "  pidfile: \"\"\n"
            "  access-control: 127.0.0.0/8 allow\n"
            "  do-ip6: no\n"
            "  num-threads: 1\n"
            "  module-config: \"iterator\"\n",
            ip, port, tmpdir);
    for (size_t i = 0; i < sizeof(zone_lines) / sizeof(zone_lines[0]); i++)
        fprintf(f, "  %s\n", zone_lines[i]);
    /* Twelve MX hosts, to check the limit of ten. */
    fprintf(f, "  local-zone: \"many.test.\" static\n");
    for (int i = 1; i <= 12; i++) {
        fprintf(f, "  local-data: \"many.test. MX %d h%d.many.test.\"\n", i, i);
        fprintf(f, "  local-data: \"h%d.many.test. A 192.0.2.%d\"\n", i, 100 + i);
    }
    assert_int_equal(fclose(f), 0);
}

/* One raw query for ready.test A (RFC 1035 4.1): true on any answer. */
static bool
unbound_answers(const char *ip, uint16_t port)
{
    static const uint8_t query[] = {0x12, 0x34, 0x01, 0x00, 0, 1,   0,   0,   0,   0, 0, 0, 5, 'r',
                                    'e',  'a',  'd',  'y',  4, 't', 'e', 's', 't', 0, 0, 1, 0, 1};
    struct sockaddr_in sin;
    uint8_t buf[512];
    struct pollfd pfd;
    bool ok = false;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    assert_true(fd >= 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
    sin.sin_port = htons(port);
    if (sendto(fd, query, sizeof(query), 0, (struct sockaddr *)&sin, sizeof(sin)) ==
        (ssize_t)sizeof(query)) {
        pfd.fd = fd;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, 200) == 1) {
            ssize_t n = recv(fd, buf, sizeof(buf), 0);

            ok = n >= 12 && buf[0] == 0x12 && buf[1] == 0x34 && (buf[3] & 0x0f) == 0;
        }
    }
    close(fd);
    return ok;
}

static void
unbound_kill(pid_t *pid)
{
    if (*pid > 0) {
        kill(*pid, SIGTERM);
        while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    *pid = -1;
}

static void
unbound_stop(void)
{
    unbound_kill(&unbound_pid);
}

/* Runs unbound with conf until it answers on ip:port: its pid, or -1. */
static pid_t
unbound_spawn(const char *conf, const char *ip, uint16_t port)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        int lfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);

        /* Dies with the test, even if the test crashes before teardown. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (lfd >= 0) {
            dup2(lfd, 1);
            dup2(lfd, 2);
        }
        execl(UNBOUND_PATH, "unbound", "-d", "-c", conf, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 50; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return -1;
        if (unbound_answers(ip, port))
            return pid;
        usleep(100 * 1000);
    }
    unbound_kill(&pid);
    return -1;
}

static bool
unbound_start(void)
{
    uint16_t port;
    int fd = udp_bound(0, &port);

    /* Free a moment ago; unbound binds it again (a race we retry on). */
    assert_true(fd >= 0);
    close(fd);
    write_conf(conf_path, "127.0.0.1", port);
    unbound_pid = unbound_spawn(conf_path, "127.0.0.1", port);
    if (unbound_pid < 0)
        return false;
    snprintf(server, sizeof(server), "127.0.0.1@%u", port);
    return true;
}

static int
group_setup(void **state)
{
    uint16_t port;
    bool up = false;

    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    assert_non_null(base);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/postern-dns-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    snprintf(conf_path, sizeof(conf_path), "%s/unbound.conf", tmpdir);
    snprintf(log_path, sizeof(log_path), "%s/unbound.log", tmpdir);
    for (int attempt = 0; attempt < 3 && !up; attempt++)
        up = unbound_start();
    if (!up) {
        FILE *f = fopen(log_path, "r");

        if (f != NULL) {
            char line[512];

            while (fgets(line, sizeof(line), f) != NULL)
                fprintf(stderr, "unbound: %s", line);
            fclose(f);
        }
        fprintf(stderr, "unbound did not start\n");
        return -1;
    }
    blackhole_fd = udp_bound(0, &port);
    assert_true(blackhole_fd >= 0);
    snprintf(blackhole, sizeof(blackhole), "127.0.0.1@%u", port);
    return 0;
}

static int
group_teardown(void **state)
{
    unbound_stop();
    if (blackhole_fd >= 0)
        close(blackhole_fd);
    unlink(conf_path);
    unlink(log_path);
    rmdir(tmpdir);
    if (base != NULL)
        event_base_free(base);
    return 0;
}

/* --- tests --------------------------------------------------------------- */

static void
test_mx_order_and_addresses(void **state)
{
    struct dns *dns = dns_for(server);
    struct capture c;

    resolve(dns, true, "multi.test", &c);
    assert_int_equal(c.status, DNS_OK);
    assert_string_equal(c.error, "");
    assert_int_equal(c.nhosts, 3);
    assert_int_equal(c.hosts[0].pref, 10);
    assert_int_equal(c.hosts[1].pref, 10);
    assert_int_equal(c.hosts[2].pref, 20);
    assert_string_equal(c.hosts[2].name, "mx3.multi.test");
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(c.hosts[i].status, DNS_OK);
        if (strcmp(c.hosts[i].name, "mx1.multi.test") == 0) {
            /* AAAA first, then A. */
            assert_int_equal(c.hosts[i].naddrs, 2);
            assert_addr(&c.hosts[i].addrs[0], "2001:db8::1");
            assert_addr(&c.hosts[i].addrs[1], "192.0.2.1");
        } else {
            assert_string_equal(c.hosts[i].name, "mx2.multi.test");
            assert_int_equal(c.hosts[i].naddrs, 1);
            assert_addr(&c.hosts[i].addrs[0], "192.0.2.2");
        }
    }
    assert_string_not_equal(c.hosts[0].name, c.hosts[1].name);
    assert_int_equal(c.hosts[2].naddrs, 1);
    assert_addr(&c.hosts[2].addrs[0], "2001:db8::3");
    dns_free(dns);
}

static void
test_mx_equal_prefs_shuffled(void **state)
{
    struct dns *dns = dns_for(server);
    struct capture c;
    int mx1_first = 0, mx2_first = 0;

    for (int i = 0; i < 50; i++) {
        resolve(dns, true, "multi.test", &c);
        assert_int_equal(c.status, DNS_OK);
        assert_int_equal(c.nhosts, 3);
        if (strcmp(c.hosts[0].name, "mx1.multi.test") == 0)
            mx1_first++;
        else if (strcmp(c.hosts[0].name, "mx2.multi.test") == 0)
            mx2_first++;
        assert_string_equal(c.hosts[2].name, "mx3.multi.test");
    }
    /* Both orders in 50 draws, unless something is not random (2^-49). */
    assert_int_equal(mx1_first + mx2_first, 50);
    assert_true(mx1_first > 0);
    assert_true(mx2_first > 0);
    dns_free(dns);
}

static void
test_mx_limit_and_duplicates(void **state)
{
    struct dns *dns = dns_for(server);
    struct capture c;
    char want[32];

    resolve(dns, true, "many.test", &c);
    assert_int_equal(c.status, DNS_OK);
    assert_int_equal(c.nhosts, 10);
    for (int i = 0; i < 10; i++) {
        snprintf(want, sizeof(want), "h%d.many.test", i + 1);
        assert_string_equal(c.hosts[i].name, want);
        assert_int_equal(c.hosts[i].pref, i + 1);
    }
    /* The same host at 10 and 30 is tried once, at 10. */
    resolve(dns, true, "dup.test", &c);
    assert_int_equal(c.status, DNS_OK);
    assert_int_equal(c.nhosts, 2);
    assert_string_equal(c.hosts[0].name, "mx.mixed.test");
    assert_int_equal(c.hosts[0].pref, 10);
    assert_string_equal(c.hosts[1].name, "mx1.multi.test");
    dns_free(dns);
}

static void
test_implicit_mx(void **state)
{
    struct dns *dns = dns_for(server);
    struct capture c;

    /* With or without the trailing dot: the same host name. */
    for (int i = 0; i < 2; i++) {
        resolve(dns, true, i == 0 ? "implicit.test" : "implicit.test.", &c);
        assert_int_equal(c.status, DNS_OK);
        assert_int_equal(c.nhosts, 1);
        assert_string_equal(c.hosts[0].name, "implicit.test");
        assert_int_equal(c.hosts[0].pref, 0);
        assert_int_equal(c.hosts[0].naddrs, 1);
        assert_addr(&c.hosts[0].addrs[0], "192.0.2.10");
    }
    dns_free(dns);
}

static void
test_null_mx(void **state)
{
    struct dns *dns = dns_for(server);
    struct capture c;

    resolve(dns, true, "nullmx.test", &c);
    assert_int_equal(c.status, DNS_NULL_MX);
    assert_int_equal(c.nhosts, 0);
    assert_string_equal(c.error, "null MX: nullmx.test accepts no mail (RFC 7505)");
    dns_free(dns);
}

static void
test_nxdomain(void **state)
{
    struct dns *dns = dns_for(server);
    struct capture c;

    resolve(dns, true, "nosuch.test", &c);
    assert_int_equal(c.status, DNS_NO_DOMAIN);
    assert_int_equal(c.nhosts, 0);
    assert_string_equal(c.error, "domain nosuch.test does not exist (NXDOMAIN)");
    dns_free(dns);
}

static void
test_no_address(void **state)
{
    struct dns *dns = dns_for(server);
    struct capture c;

    /* The only MX host does not exist. */
    resolve(dns, true, "broken.test", &c);
    assert_int_equal(c.status, DNS_NO_DOMAIN);
    assert_int_equal(c.nhosts, 0);
    assert_string_equal(c.error, "no address records for the MX hosts of broken.test");
    /* The name exists, with neither MX nor address records. */
    resolve(dns, true, "noaddr.test", &c);
    assert_int_equal(c.status, DNS_NO_DOMAIN);
    assert_string_equal(c.error, "no MX or address records for noaddr.test");
    dns_free(dns);
}

static void
test_host_without_address_dropped(void **state)
{
    struct dns *dns = dns_for(server);
    struct capture c;

    resolve(dns, true, "mixed.test", &c);
    assert_int_equal(c.status, DNS_OK);
    assert_int_equal(c.nhosts, 1);
    assert_string_equal(c.hosts[0].name, "mx.mixed.test");
    assert_int_equal(c.hosts[0].pref, 20);
    assert_addr(&c.hosts[0].addrs[0], "192.0.2.20");
    dns_free(dns);
}

static void
test_server_failure(void **state)
{
    struct dns *dns = dns_for(server);
    struct capture c;

    /* The server refuses; libunbound reports that as SERVFAIL. */
    resolve(dns, true, "refused.test", &c);
    assert_int_equal(c.status, DNS_TEMPFAIL);
    assert_int_equal(c.nhosts, 0);
    assert_string_equal(c.error, "DNS server failure for refused.test (SERVFAIL)");
    dns_free(dns);

    /* MX found, but its only host's lookups fail: temporary too. */
    dns = dns_for(server);
    resolve(dns, true, "lame.test", &c);
    assert_int_equal(c.status, DNS_TEMPFAIL);
    assert_int_equal(c.nhosts, 0);
    assert_string_equal(c.error, "DNS server failure for the MX hosts of lame.test: "
                                 "mx.refused.test (SERVFAIL)");
    dns_free(dns);
}

static void
test_timeout(void **state)
{
    struct dns *dns = dns_for(blackhole);
    struct capture c;
    long ms;

    dns_set_timeout(dns, 1000);
    memset(&c, 0, sizeof(c));
    dns_resolve_mx(dns, "example.test", capture_cb, &c);
    ms = run_until(&c.calls, 1, 5000);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.status, DNS_TEMPFAIL);
    assert_int_equal(c.nhosts, 0);
    assert_string_equal(c.error, "DNS timeout after 1 s for example.test");
    assert_true(ms >= 900 && ms < 3000);

    /* Same for a host lookup, with a sub-second deadline. */
    dns_set_timeout(dns, 300);
    memset(&c, 0, sizeof(c));
    dns_resolve_host(dns, "smarthost.test", capture_cb, &c);
    run_until(&c.calls, 1, 5000);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.status, DNS_TEMPFAIL);
    assert_string_equal(c.error, "DNS timeout after 300 ms for smarthost.test");
    dns_free(dns);
}

static void
test_resolve_host(void **state)
{
    struct dns *dns = dns_for(server);
    struct capture c;

    resolve(dns, false, "mx1.multi.test", &c);
    assert_int_equal(c.status, DNS_OK);
    assert_int_equal(c.nhosts, 1);
    assert_string_equal(c.hosts[0].name, "mx1.multi.test");
    assert_int_equal(c.hosts[0].status, DNS_OK);
    assert_int_equal(c.hosts[0].naddrs, 2);
    assert_addr(&c.hosts[0].addrs[0], "2001:db8::1");
    assert_addr(&c.hosts[0].addrs[1], "192.0.2.1");

    /* A host, not a mail domain: its MX records do not matter. */
    resolve(dns, false, "multi.test", &c);
    assert_int_equal(c.status, DNS_NO_DOMAIN);
    assert_int_equal(c.nhosts, 1);
    assert_int_equal(c.hosts[0].naddrs, 0);
    assert_string_equal(c.error, "no address records for multi.test");

    resolve(dns, false, "nosuch.test", &c);
    assert_int_equal(c.status, DNS_NO_DOMAIN);
    assert_int_equal(c.hosts[0].status, DNS_NO_DOMAIN);

    resolve(dns, false, "mx.refused.test", &c);
    assert_int_equal(c.status, DNS_TEMPFAIL);
    assert_string_equal(c.error, "DNS server failure for mx.refused.test (SERVFAIL)");
    dns_free(dns);
}

static void
test_ip_literals(void **state)
{
    /* The blackhole server: any DNS query would time out. */
    struct dns *dns = dns_for(blackhole);
    static const struct {
        const char *text, *ip;
    } cases[] = {
        {"192.0.2.1", "192.0.2.1"},
        {"[192.0.2.2]", "192.0.2.2"},
        {"2001:db8::1", "2001:db8::1"},
        {"[2001:db8::2]", "2001:db8::2"},
        {"[IPv6:2001:db8::3]", "2001:db8::3"},
    };
    struct capture c;

    dns_set_timeout(dns, 2000);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        resolve(dns, false, cases[i].text, &c);
        assert_int_equal(c.status, DNS_OK);
        assert_int_equal(c.nhosts, 1);
        assert_string_equal(c.hosts[0].name, cases[i].text);
        assert_int_equal(c.hosts[0].naddrs, 1);
        assert_addr(&c.hosts[0].addrs[0], cases[i].ip);
    }
    /* A bracketed literal as a mail domain (RFC 5321 5.1). */
    resolve(dns, true, "[192.0.2.7]", &c);
    assert_int_equal(c.status, DNS_OK);
    assert_int_equal(c.nhosts, 1);
    assert_int_equal(c.hosts[0].pref, 0);
    assert_addr(&c.hosts[0].addrs[0], "192.0.2.7");
    resolve(dns, true, "[not.an.address]", &c);
    assert_int_equal(c.status, DNS_NO_DOMAIN);
    dns_free(dns);
}

static void
test_cancel(void **state)
{
    struct dns *dns = dns_for(server);
    struct dns *hole = dns_for(blackhole);
    struct dns_query *q;
    struct capture c;

    /* In flight in libunbound. */
    q = dns_resolve_mx(dns, "multi.test", never_cb, NULL);
    dns_cancel(q);
    /* Waiting for its deferred delivery. */
    q = dns_resolve_host(dns, "192.0.2.1", never_cb, NULL);
    dns_cancel(q);
    /* Part way: MX answered, address lookups in flight. */
    q = dns_resolve_mx(dns, "multi.test", never_cb, NULL);
    dns_cancel(NULL);
    event_base_loop(base, EVLOOP_ONCE); /* until the first answer */
    dns_cancel(q);
    run_for(300);

    /* The resolver still works after cancellations. */
    resolve(dns, true, "implicit.test", &c);
    assert_int_equal(c.status, DNS_OK);

    /* dns_free cancels what is pending, without callbacks. */
    dns_set_timeout(hole, 200);
    dns_resolve_mx(hole, "example.test", never_cb, NULL);
    dns_resolve_host(hole, "example.test", never_cb, NULL);
    dns_resolve_host(hole, "192.0.2.3", never_cb, NULL);
    dns_free(hole);
    dns_resolve_mx(dns, "multi.test", never_cb, NULL);
    dns_resolve_host(dns, "[2001:db8::9]", never_cb, NULL);
    dns_free(dns);
    run_for(500);
}

/* A callback may use the API: start a query, cancel one, free the resolver. */
struct reentry {
    struct dns *dns;
    struct dns *hole;
    struct dns_query *other;
    struct capture second;
    int calls;
};

static void
reentry_free_cb(void *arg, const struct dns_result *res)
{
    struct reentry *r = arg;

    r->calls++;
    dns_free(r->dns);
    r->dns = NULL;
}

static void
reentry_chain_cb(void *arg, const struct dns_result *res)
{
    struct reentry *r = arg;

    r->calls++;
    assert_int_equal(res->status, DNS_OK);
    dns_cancel(r->other);
    dns_resolve_mx(r->dns, "implicit.test", capture_cb, &r->second);
}

static void
test_callback_reentry(void **state)
{
    struct reentry r;

    memset(&r, 0, sizeof(r));
    r.dns = dns_for(server);
    r.hole = dns_for(blackhole);
    r.other = dns_resolve_mx(r.hole, "example.test", never_cb, NULL);
    dns_resolve_mx(r.dns, "multi.test", reentry_chain_cb, &r);
    run_until(&r.second.calls, 1, WAIT_MS);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.second.calls, 1);
    assert_int_equal(r.second.status, DNS_OK);
    dns_free(r.hole);

    /* Freed from its own callback (a literal: answered on the next loop
     * turn), with DNS queries still in flight. */
    r.calls = 0;
    dns_resolve_mx(r.dns, "mixed.test", never_cb, NULL);
    dns_resolve_host(r.dns, "192.0.2.1", reentry_free_cb, &r);
    dns_resolve_mx(r.dns, "many.test", never_cb, NULL);
    run_until(&r.calls, 1, WAIT_MS);
    assert_int_equal(r.calls, 1);
    assert_null(r.dns);
    run_for(300);
}

static void
test_parallel(void **state)
{
    static const struct {
        const char *domain;
        enum dns_status want;
    } cases[] = {
        {"multi.test", DNS_OK},         {"implicit.test", DNS_OK},
        {"nullmx.test", DNS_NULL_MX},   {"nosuch.test", DNS_NO_DOMAIN},
        {"broken.test", DNS_NO_DOMAIN}, {"mixed.test", DNS_OK},
        {"many.test", DNS_OK},          {"noaddr.test", DNS_NO_DOMAIN},
        {"[192.0.2.1]", DNS_OK},        {"dup.test", DNS_OK},
    };
    enum { N = sizeof(cases) / sizeof(cases[0]) };
    struct capture *c = calloc(N, sizeof(*c));
    struct dns *dns = dns_for(server);
    int done = 0;

    assert_non_null(c);
    for (size_t i = 0; i < N; i++)
        dns_resolve_mx(dns, cases[i].domain, capture_cb, &c[i]);
    for (long waited = 0; waited < WAIT_MS && done < (int)N; waited += 50) {
        run_for(50);
        done = 0;
        for (size_t i = 0; i < N; i++)
            done += c[i].calls;
    }
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(c[i].calls, 1);
        if (c[i].status != cases[i].want)
            fail_msg("%s: status %d (%s)", cases[i].domain, c[i].status, c[i].error);
    }
    free(c);
    dns_free(dns);
}

static void
test_new_errors(void **state)
{
    char *bad[] = {"not-an-address"};
    char err[256] = "";

    assert_null(dns_new(base, bad, 1, false, err, sizeof(err)));
    assert_true(strstr(err, "not-an-address") != NULL);
    /* The system's resolvers: only creation is checked (no queries). */
    err[0] = '\0';
    if (access("/etc/resolv.conf", R_OK) == 0) {
        struct dns *dns = dns_new(base, NULL, 0, false, err, sizeof(err));

        if (dns == NULL)
            fail_msg("dns_new with resolv.conf: %s", err);
        dns_free(dns);
    }
    dns_free(NULL);
}

/* --- the system's resolvers, read once ------------------------------------ */

static void
test_system_resolvers_copy(void **state)
{
    char path[160], text[256], err[256] = "";
    struct dns *dns;

    snprintf(path, sizeof(path), "%s/resolv.conf", tmpdir);
    /* No nameserver line: the local one (resolv.conf(5)); only creation is
     * checked (nothing listens there). */
    testlib_write_text(path, "search example.test\noptions ndots:1\n");
    assert_int_equal(dns_system_load(path, err, sizeof(err)), 0);
    dns = dns_new(base, NULL, 0, false, err, sizeof(err));
    if (dns == NULL)
        fail_msg("dns_new: %s", err);
    dns_free(dns);
    /* An address libunbound refuses fails dns_new, naming the file. */
    testlib_write_text(path, "nameserver\tzz.example\n");
    assert_int_equal(dns_system_load(path, err, sizeof(err)), 0);
    assert_null(dns_new(base, NULL, 0, false, err, sizeof(err)));
    snprintf(text, sizeof(text), "DNS: cannot use \"%s\": ", path);
    assert_true(strncmp(err, text, strlen(text)) == 0);
    /* The copy stands: a good file on disk now changes nothing. */
    testlib_write_text(path, "nameserver 127.0.0.1\n");
    assert_null(dns_new(base, NULL, 0, false, err, sizeof(err)));
    /* A missing file: the load fails, and so does dns_new, with that reason. */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(dns_system_load(path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "No such file or directory"));
    err[0] = '\0';
    assert_null(dns_new(base, NULL, 0, false, err, sizeof(err)));
    assert_non_null(strstr(err, "No such file or directory"));
    /* Explicit servers never needed the file. */
    dns_free(dns_for(server));
    /* Back to the system's own for whatever runs next. */
    if (access("/etc/resolv.conf", R_OK) == 0)
        assert_int_equal(dns_system_load(NULL, err, sizeof(err)), 0);
}

/* Can ip:53 be bound, over UDP and TCP? */
static bool
port53_free(const char *ip)
{
    struct sockaddr_in sin;
    bool ok = true;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(53);
    assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
    for (int i = 0; i < 2 && ok; i++) {
        int fd = socket(AF_INET, i == 0 ? SOCK_DGRAM : SOCK_STREAM, 0);

        assert_true(fd >= 0);
        ok = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
        close(fd);
    }
    return ok;
}

/* In a child chrooted into empty (no file at all): resolvers built from
 * the copy of resolv.conf, twice (as a reconfiguration rebuilds them), and
 * from a server list, each answering. 0, or 1 with why in msg. No cmocka
 * assertion here: the child must not go on with the parent's tests. */
static int
chroot_child(const char *empty, char *msg, size_t msglen)
{
    static const uint8_t want[4] = {192, 0, 2, 99};
    char *servers[1] = {server}, err[256] = "";
    const struct sockaddr_in *sin;
    struct capture c;
    struct dns *dns;

    if (chroot(empty) != 0 || chdir("/") != 0)
        return snprintf(msg, msglen, "cannot chroot to %s: %s", empty, strerror(errno)), 1;
    /* The loop of this process: the parent's shares its epoll instance. */
    if ((base = event_base_new()) == NULL)
        return snprintf(msg, msglen, "event_base_new"), 1;
    for (int round = 0; round < 2; round++) {
        if ((dns = dns_new(base, NULL, 0, false, err, sizeof(err))) == NULL)
            return snprintf(msg, msglen, "dns_new from resolv.conf's copy: %s", err), 1;
        memset(&c, 0, sizeof(c));
        dns_resolve_mx(dns, "multi.test", capture_cb, &c);
        run_until(&c.calls, 1, WAIT_MS);
        dns_free(dns);
        if (c.calls != 1 || c.status != DNS_OK || c.nhosts != 3)
            return snprintf(msg, msglen, "round %d: MX multi.test: %d calls, status %d (%s)", round,
                            c.calls, c.status, c.error),
                   1;
    }
    if ((dns = dns_new(base, servers, 1, false, err, sizeof(err))) == NULL)
        return snprintf(msg, msglen, "dns_new(%s): %s", server, err), 1;
    memset(&c, 0, sizeof(c));
    dns_resolve_host(dns, "ready.test", capture_cb, &c);
    run_until(&c.calls, 1, WAIT_MS);
    dns_free(dns);
    sin = (const struct sockaddr_in *)&c.hosts[0].addrs[0];
    if (c.calls != 1 || c.status != DNS_OK || c.nhosts != 1 || c.hosts[0].naddrs != 1 ||
        memcmp(&sin->sin_addr, want, 4) != 0)
        return snprintf(msg, msglen, "ready.test: status %d (%s)", c.status, c.error), 1;
    /* The control: the chroot itself has no resolv.conf to read. */
    if (dns_system_load(NULL, err, sizeof(err)) == 0)
        return snprintf(msg, msglen, "/etc/resolv.conf is readable in the chroot"), 1;
    if ((dns = dns_new(base, NULL, 0, false, err, sizeof(err))) != NULL)
        return snprintf(msg, msglen, "dns_new without resolv.conf or its copy worked"), 1;
    return 0;
}

static void
test_resolvers_in_chroot(void **state)
{
    char ip[32] = "", conf53[160], resolv[160], empty[160], text[256], msg[512] = "", err[256];
    pid_t ns_pid = -1, pid;
    int fds[2], status;
    ssize_t n;

    if (geteuid() != 0) {
        skip();
        return;
    }
    /* resolv.conf has no port: a second unbound on port 53 of an address
     * of 127.0.0.0/8 that nobody uses. */
    srand((unsigned)getpid());
    snprintf(conf53, sizeof(conf53), "%s/unbound53.conf", tmpdir);
    for (int attempt = 0; attempt < 5 && ns_pid < 0; attempt++) {
        snprintf(ip, sizeof(ip), "127.53.%d.%d", 1 + rand() % 254, 1 + rand() % 254);
        if (!port53_free(ip))
            continue;
        write_conf(conf53, ip, 53);
        ns_pid = unbound_spawn(conf53, ip, 53);
    }
    if (ns_pid < 0) {
        unlink(conf53);
        print_message("no free port 53 on 127.53.0.0/16 for a name server: skipped\n");
        skip();
        return;
    }
    snprintf(resolv, sizeof(resolv), "%s/resolv.conf", tmpdir);
    snprintf(text, sizeof(text),
             "# as a system has it\nsearch example.test\nnameserver %s # the test's unbound\n"
             "options ndots:1 timeout:2\n",
             ip);
    testlib_write_text(resolv, text);
    assert_int_equal(dns_system_load(resolv, err, sizeof(err)), 0);
    snprintf(empty, sizeof(empty), "%s/empty", tmpdir);
    assert_int_equal(mkdir(empty, 0755), 0);

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int rc;

        close(fds[0]);
        rc = chroot_child(empty, msg, sizeof(msg));
        (void)!write(fds[1], msg, strlen(msg));
        _exit(rc);
    }
    close(fds[1]);
    n = read(fds[0], msg, sizeof(msg) - 1);
    msg[n > 0 ? n : 0] = '\0';
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    unbound_kill(&ns_pid);
    unlink(conf53);
    unlink(resolv);
    rmdir(empty);
    if (access("/etc/resolv.conf", R_OK) == 0)
        assert_int_equal(dns_system_load(NULL, err, sizeof(err)), 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("in the chroot: %s", msg[0] != '\0' ? msg : "the child died");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mx_order_and_addresses),
        cmocka_unit_test(test_mx_equal_prefs_shuffled),
        cmocka_unit_test(test_mx_limit_and_duplicates),
        cmocka_unit_test(test_implicit_mx),
        cmocka_unit_test(test_null_mx),
        cmocka_unit_test(test_nxdomain),
        cmocka_unit_test(test_no_address),
        cmocka_unit_test(test_host_without_address_dropped),
        cmocka_unit_test(test_server_failure),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_resolve_host),
        cmocka_unit_test(test_ip_literals),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_callback_reentry),
        cmocka_unit_test(test_parallel),
        cmocka_unit_test(test_new_errors),
        cmocka_unit_test(test_system_resolvers_copy),
        cmocka_unit_test(test_resolvers_in_chroot),
    };

    if (access(UNBOUND_PATH, X_OK) != 0) {
        printf("skipped: %s not installed\n", UNBOUND_PATH);
        return 77; /* meson: skipped */
    }
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
