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

int
control_request_reload(const char *instance_dir, char *err, size_t errlen)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char *path = xasprintf("%s/run/control.sock", instance_dir);
    char answer[600];
    size_t got = 0;
    struct timeval tv = {30, 0};
    int fd, rc = -1;

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
        close(fd);
        return (errno == ENOENT || errno == ECONNREFUSED) ? 0 : -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (write(fd, "reload\n", 7) != 7) {
        snprintf(err, errlen, "cannot talk to the service: %s", strerror(errno));
        goto out;
    }
    while (got < sizeof(answer) - 1) {
        ssize_t n = read(fd, answer + got, sizeof(answer) - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        if (memchr(answer, '\n', got))
            break;
    }
    answer[got] = '\0';
    answer[strcspn(answer, "\n")] = '\0';
    if (strcmp(answer, "ok") == 0) {
        rc = 1;
    } else {
        snprintf(err, errlen, "the service did not apply the change: %s",
                 got ? answer : "no answer");
    }
out:
    close(fd);
    return rc;
}
