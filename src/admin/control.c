/*
 * control.c — the cmdlet side of the control socket (see control.h).
 */
#include "admin/control.h"
#include "lib/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* A reload re-reads certificates and configuration: give it time. */
#define CONTROL_TIMEOUT_SECONDS 30

int
control_request(const char *instance_dir, const char *request, char **output, char *err,
                size_t errlen)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char *path = xasprintf("%s/run/control.sock", instance_dir), *answer = NULL, *nl;
    struct timeval tv = {CONTROL_TIMEOUT_SECONDS, 0};
    size_t len = 0, cap = 0;
    int fd, rc = -1;

    *output = NULL;
    if (strlen(path) >= sizeof(sun.sun_path)) {
        snprintf(err, errlen, "%s: path too long for a socket", path);
        free(path);
        return -1;
    }
    strlcpy_p(sun.sun_path, path, sizeof(sun.sun_path));
    free(path);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        /* no socket, or nobody listening: the service is not running */
        int saved = errno;
        close(fd);
        if (saved == ENOENT || saved == ECONNREFUSED)
            return 0;
        snprintf(err, errlen, "cannot reach the service: %s", strerror(saved));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (write(fd, request, strlen(request)) != (ssize_t)strlen(request) ||
        write(fd, "\n", 1) != 1) {
        snprintf(err, errlen, "cannot talk to the service: %s", strerror(errno));
        close(fd);
        return -1;
    }
    for (;;) {
        ssize_t n;
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            answer = xrealloc(answer, cap);
        }
        n = read(fd, answer + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (answer == NULL)
        answer = xstrdup("");
    answer[len] = '\0';
    nl = strchr(answer, '\n');
    if (nl)
        *nl = '\0';
    if (strcmp(answer, "ok") == 0) {
        *output = xstrdup(nl ? nl + 1 : "");
        rc = 1;
    } else {
        snprintf(err, errlen, "%s",
                 strncmp(answer, "error ", 6) == 0 ? answer + 6
                 : len                             ? answer
                                                   : "no answer from the service");
    }
    free(answer);
    return rc;
}

int
control_request_reload(const char *instance_dir, char *err, size_t errlen)
{
    char *out = NULL, msg[512];
    int r = control_request(instance_dir, "reload", &out, msg, sizeof(msg));

    free(out);
    if (r < 0)
        snprintf(err, errlen, "the service did not apply the change: %s", msg);
    return r;
}
