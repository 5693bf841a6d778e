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
 * cannot pass (every directory above path needs search, path itself the
 * access last, none when 0), or 0 when every one passes. */
static size_t
first_blocked(const char *path, int last)
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
        if (i == len && last == 0)
            break; /* DIR itself: the caller hands it to the user */
        if (access(prefix, i == len ? last : X_OK) != 0)
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
    int fds[2], status, last;
    pid_t pid;
    ssize_t got;

    if (getresuid(&ruid, &euid, &suid) != 0 || (ruid != 0 && euid != 0 && suid != 0))
        return 0;
    /* DIR as the processes will use it, links and all (access() follows
     * them as the kernel will), made absolute; where it is not there yet
     * (setup makes it), its deepest existing parent is what the user must
     * pass. */
    if (dir[0] != '/' && getcwd(blocked, sizeof(blocked)) == NULL)
        return 0; /* the service will say what it meets */
    if (snprintf(path, sizeof(path), "%s%s%s", dir[0] == '/' ? "" : blocked,
                 dir[0] == '/' || strcmp(blocked, "/") == 0 ? "" : "/", dir) >= (int)sizeof(path))
        return 0;
    while (strlen(path) > 1 && path[strlen(path) - 1] == '/')
        path[strlen(path) - 1] = '\0';
    last = whole ? R_OK | W_OK | X_OK : 0;
    while (stat(path, &st) != 0) {
        char *slash = strrchr(path, '/');
        if (errno != ENOENT)
            break;                   /* the walk below names the directory it cannot pass */
        slash[slash == path] = '\0'; /* "/x" -> "/" */
        last = X_OK;                 /* a parent: it must be passable */
    }
    if (pipe(fds) != 0) {
        snprintf(err, errlen, "cannot check what user %s can reach: %s", user, strerror(errno));
        return -1;
    }
    if ((pid = fork()) < 0) {
        snprintf(err, errlen, "cannot check what user %s can reach: %s", user, strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        if ((euid != 0 && seteuid(0) != 0) || initgroups(user, gid) != 0 || setgid(gid) != 0 ||
            setuid(uid) != 0)
            _exit(2);
        at = first_blocked(path, last);
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
    if (at < strlen(path) || last != (R_OK | W_OK | X_OK))
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
