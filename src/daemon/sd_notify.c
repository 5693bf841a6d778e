/*
 * sd_notify.c — see sd_notify.h.
 * Must never: block, or fail the service when systemd does not listen.
 */
#include "daemon/sd_notify.h"
#include "lib/log.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_un notify_addr;
static socklen_t notify_len; /* 0: no socket */
static bool reload_announced;

int
sd_notify_init(void)
{
    const char *env = getenv("NOTIFY_SOCKET");
    size_t len;

    notify_len = 0;
    reload_announced = false;
    if (env == NULL)
        return 0;
    len = strlen(env);
    memset(&notify_addr, 0, sizeof(notify_addr));
    notify_addr.sun_family = AF_UNIX;
    /* a path, or '@' for Linux's abstract namespace (a leading NUL byte);
     * "vsock:" and other forms of newer systemd are for VMs, not us */
    if ((env[0] != '/' && env[0] != '@') || len < 2 || len >= sizeof(notify_addr.sun_path)) {
        log_warnx("NOTIFY_SOCKET=%s is not a Unix socket address: systemd will not hear "
                  "that the service is ready",
                  env);
        unsetenv("NOTIFY_SOCKET");
        return -1;
    }
    memcpy(notify_addr.sun_path, env, len);
    if (env[0] == '@')
        notify_addr.sun_path[0] = '\0'; /* the length, not a NUL, ends an abstract name */
    notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    /* the children are forked from the daemon: they must not find it */
    unsetenv("NOTIFY_SOCKET");
    return 1;
}

int
sd_notify_send(const char *text)
{
    int fd, saved;
    ssize_t n;

    if (notify_len == 0)
        return 0;
    /* a socket per message: the daemon sends a handful in its life, and no
     * descriptor is left for a child to inherit */
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    /* the kernel attaches our pid and uid (systemd sets SO_PASSCRED), which
     * is how systemd knows the message comes from the main process */
    n = sendto(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT,
               (const struct sockaddr *)&notify_addr, notify_len);
    saved = errno;
    close(fd);
    if (n < 0) {
        log_debug("sd_notify: %s", strerror(saved));
        errno = saved;
        return -1;
    }
    return 1;
}

/* STATUS= is one line: newlines would start new assignments */
static void
notify_with_status(const char *head, const char *status)
{
    char buf[1024];
    size_t start = strlen(head) + strlen("\nSTATUS=");
    int n = snprintf(buf, sizeof(buf), "%s\nSTATUS=%s", head, status ? status : "");

    if (n < 0 || start >= sizeof(buf))
        return;
    for (char *p = buf + start; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    (void)sd_notify_send(buf);
}

void
sd_notify_ready(const char *status)
{
    char head[64];

    snprintf(head, sizeof(head), "READY=1\nMAINPID=%ld", (long)getpid());
    notify_with_status(head, status);
}

void
sd_notify_reloading(void)
{
    struct timespec ts;
    char buf[96];

    if (notify_len == 0)
        return;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
             (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
    reload_announced = true;
    (void)sd_notify_send(buf);
}

void
sd_notify_reloaded(const char *status)
{
    if (!reload_announced)
        return;
    reload_announced = false;
    notify_with_status("READY=1", status);
}

void
sd_notify_stopping(void)
{
    reload_announced = false;
    (void)sd_notify_send("STOPPING=1\nSTATUS=stopping");
}
