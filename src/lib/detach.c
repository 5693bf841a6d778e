/*
 * detach.c — see detach.h.
 */
#include "lib/detach.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int
detach_start(void)
{
    int fds[2];
    pid_t pid;
    char ok = 0;
    ssize_t got;

    if (pipe2(fds, O_CLOEXEC) != 0)
        fatal("pipe");
    if ((pid = fork()) < 0)
        fatal("fork");
    if (pid == 0) {
        close(fds[0]);
        setsid();
        return fds[1];
    }
    close(fds[1]);
    /* The child's startup errors went to our shared stderr already. */
    while ((got = read(fds[0], &ok, 1)) < 0 && errno == EINTR)
        ;
    /* end of file without the report: the child died while starting */
    _exit(got == 1 && ok == '1' ? 0 : 1);
}

int
detach_open_log(const char *instance_dir)
{
    char *path = xasprintf("%s/logs/postern.log", instance_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
    struct stat st;

    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        log_warn("cannot open %s", path);
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    free(path);
    return fd;
}

int
detach_ready(int report_fd, int log_fd)
{
    int null;

    if ((null = open("/dev/null", O_RDWR)) >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        if (null > STDERR_FILENO)
            close(null);
    }
    if (log_fd >= 0)
        dup2(log_fd, STDERR_FILENO);
    if (write(report_fd, "1", 1) != 1)
        return -1;
    close(report_fd);
    return 0;
}
