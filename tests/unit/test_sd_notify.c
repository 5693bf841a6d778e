/*
 * test_sd_notify.c — unit tests for daemon/sd_notify: the datagrams systemd
 * reads from a Type=notify service, received on a real AF_UNIX datagram
 * socket (a path and an abstract name), with the sender's credentials as
 * systemd checks them; NOTIFY_SOCKET gone from the environment after
 * init; nothing sent, and nothing failing, without a socket.
 * Must never: write outside its own temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon/sd_notify.h"
#include "lib/util.h"
#include "testlib.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* A datagram socket listening as systemd's does (SO_PASSCRED), at a path
 * or, when abstract, at "\0name". */
static int
listener(const char *name, bool abstract)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    socklen_t len =
        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name) + (abstract ? 1 : 0));
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), on = 1;

    assert_true(fd >= 0);
    if (abstract)
        memcpy(a.sun_path + 1, name, strlen(name));
    else
        memcpy(a.sun_path, name, strlen(name));
    assert_int_equal(bind(fd, (struct sockaddr *)&a, len), 0);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)), 0);
    return fd;
}

/* The next datagram (malloc'd text), or NULL when none is waiting;
 * *pid: the sender's pid as the kernel vouches for it. */
static char *
receive(int fd, pid_t *pid)
{
    char buf[2048], cbuf[CMSG_SPACE(sizeof(struct ucred))];
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf) - 1};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);

    *pid = -1;
    if (n < 0) {
        assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
        return NULL;
    }
    buf[n] = '\0';
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
            struct ucred cr;
            memcpy(&cr, CMSG_DATA(c), sizeof(cr));
            *pid = cr.pid;
        }
    }
    return xstrdup(buf);
}

static void
test_without_socket_nothing_is_sent(void **state)
{
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(sd_notify_init(), 0);
    assert_int_equal(sd_notify_send("READY=1"), 0);
    sd_notify_ready("ready"); /* and nothing fails */
    sd_notify_reloading();
    sd_notify_reloaded("ready");
    sd_notify_stopping();
}

static void
test_path_socket_ready_reload_stop(void **state)
{
    char *dir = testlib_mkdtemp("sd_notify"), *path = xasprintf("%s/notify", dir), *got;
    char *want;
    int fd = listener(path, false);
    pid_t pid;
    struct timespec now;
    unsigned long long usec;

    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(sd_notify_init(), 1);
    /* gone, so that the children forked after this never talk to systemd */
    assert_null(getenv("NOTIFY_SOCKET"));

    sd_notify_ready("ready: accepting mail\non two sockets");
    got = receive(fd, &pid);
    assert_non_null(got);
    want = xasprintf("READY=1\nMAINPID=%ld\nSTATUS=ready: accepting mail on two sockets",
                     (long)getpid());
    assert_string_equal(got, want); /* a newline in STATUS would start a new variable */
    assert_int_equal(pid, getpid());
    free(got);
    free(want);

    /* a reload: RELOADING=1 with the monotonic clock, then READY=1 once */
    sd_notify_reloading();
    got = receive(fd, &pid);
    assert_non_null(got);
    assert_int_equal(strncmp(got, "RELOADING=1\nMONOTONIC_USEC=", 27), 0);
    usec = strtoull(got + 27, NULL, 10);
    assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &now), 0);
    assert_true(usec <= (unsigned long long)now.tv_sec * 1000000ULL + now.tv_nsec / 1000);
    assert_true(usec + 10000000ULL > (unsigned long long)now.tv_sec * 1000000ULL);
    free(got);
    assert_null(receive(fd, &pid));
    sd_notify_reloaded("ready: configuration reloaded");
    got = receive(fd, &pid);
    assert_non_null(got);
    assert_string_equal(got, "READY=1\nSTATUS=ready: configuration reloaded");
    free(got);
    sd_notify_reloaded("again"); /* no reload announced: nothing */
    assert_null(receive(fd, &pid));

    sd_notify_stopping();
    got = receive(fd, &pid);
    assert_non_null(got);
    assert_string_equal(got, "STOPPING=1\nSTATUS=stopping");
    free(got);

    /* systemd gone: the service goes on */
    close(fd);
    unlink(path);
    assert_int_equal(sd_notify_send("STATUS=x"), -1);
    free(path);
    testlib_rmtree(dir);
    free(dir);
}

static void
test_abstract_socket(void **state)
{
    char name[64], env[66], *got;
    int fd;
    pid_t pid;

    snprintf(name, sizeof(name), "postern-test-sd-notify-%ld", (long)getpid());
    fd = listener(name, true);
    snprintf(env, sizeof(env), "@%s", name);
    setenv("NOTIFY_SOCKET", env, 1);
    assert_int_equal(sd_notify_init(), 1);
    assert_null(getenv("NOTIFY_SOCKET"));
    assert_int_equal(sd_notify_send("STATUS=abstract"), 1);
    got = receive(fd, &pid);
    assert_non_null(got);
    assert_string_equal(got, "STATUS=abstract");
    assert_int_equal(pid, getpid());
    free(got);
    close(fd);
}

static void
test_unusable_address_is_ignored(void **state)
{
    static const char *const bad[] = {"vsock:2:1234", "relative/path", "@", ""};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("NOTIFY_SOCKET", bad[i], 1);
        assert_int_equal(sd_notify_init(), -1);
        assert_null(getenv("NOTIFY_SOCKET"));
        assert_int_equal(sd_notify_send("READY=1"), 0);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_without_socket_nothing_is_sent),
        cmocka_unit_test(test_path_socket_ready_reload_stop),
        cmocka_unit_test(test_abstract_socket),
        cmocka_unit_test(test_unusable_address_is_ignored),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
