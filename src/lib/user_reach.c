/*
 * user_reach.c — see user_reach.h.
 */
#include "lib/user_reach.h"
#include "lib/util.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* In the child, as the user: the length of the first prefix of path it
 * cannot pass (whole: path itself needs rwx), or 0 when every one passes. */
static size_t
first_blocked(const char *path, bool whole)
{
    char prefix[PATH_MAX];
    size_t len = strlen(path);

    if (access("/", X_OK) != 0)
        return 1;
    for (size_t i = 2; i <= len; i++) {
        if (i < len && path[i] != '/')
            continue;
        memcpy(prefix, path, i);
        prefix[i] = '\0';
        if (access(prefix, i == len && whole ? R_OK | W_OK | X_OK : X_OK) != 0)
            return i;
    }
    return 0;
}

int
user_reach_check(const char *dir, const char *user, uid_t uid, gid_t gid, bool whole, char *err,
                 size_t errlen)
{
    char path[PATH_MAX], blocked[PATH_MAX];
    uid_t ruid, euid, suid;
    struct stat st;
    size_t at = 0;
    int fds[2], status;
    pid_t pid;
    ssize_t got;

    if (getresuid(&ruid, &euid, &suid) != 0 || (ruid != 0 && euid != 0 && suid != 0))
        return 0;
    /* Not there yet (setup makes it): its deepest existing parent is what
     * the user must pass. */
    snprintf(blocked, sizeof(blocked), "%s", dir);
    while (realpath(blocked, path) == NULL) {
        char *slash = strrchr(blocked, '/');
        if (errno != ENOENT)
            return 0; /* the service will say what it meets */
        if (slash == NULL)
            snprintf(blocked, sizeof(blocked), ".");
        else
            slash[slash == blocked] = '\0'; /* "/x" -> "/" */
        whole = false;
    }
    if (pipe(fds) != 0 || (pid = fork()) < 0) {
        snprintf(err, errlen, "cannot check what user %s can reach: %s", user, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        if ((euid != 0 && seteuid(0) != 0) || initgroups(user, gid) != 0 || setgid(gid) != 0 ||
            setuid(uid) != 0)
            _exit(2);
        at = first_blocked(path, whole);
        _exit(write(fds[1], &at, sizeof(at)) == sizeof(at) ? 0 : 2);
    }
    close(fds[1]);
    while ((got = read(fds[0], &at, sizeof(at))) < 0 && errno == EINTR)
        ;
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (got != sizeof(at) || at > strlen(path)) {
        snprintf(err, errlen, "cannot check what user %s can reach", user);
        return -1;
    }
    if (at == 0)
        return 0;
    memcpy(blocked, path, at);
    blocked[at] = '\0';
    if (stat(blocked, &st) != 0) {
        snprintf(err, errlen, "user %s cannot reach %s: %s", user, blocked, strerror(errno));
        return -1;
    }
    if (at < strlen(path) || !whole)
        snprintf(err, errlen,
                 "user %s cannot reach %s: %s (mode %04o, owner uid %ld) is not searchable for "
                 "it; fix: chmod o+x %s (or use a directory %s can reach)",
                 user, dir, blocked, (unsigned)(st.st_mode & 07777), (long)st.st_uid, blocked,
                 user);
    else
        snprintf(err, errlen,
                 "user %s cannot read and write %s (mode %04o, owner uid %ld); fix: chown -R %s "
                 "%s",
                 user, path, (unsigned)(st.st_mode & 07777), (long)st.st_uid, user, path);
    return -1;
}
