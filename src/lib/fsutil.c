/*
 * fsutil.c — see fsutil.h.
 */
#include "lib/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
fs_mkdir(const char *path, mode_t mode)
{
    if (mkdir(path, mode) == 0 || errno == EEXIST)
        return 0;
    return -1;
}

/* Gives the directory open as dirfd and everything below it to uid:gid.
 * Each step opens its child relative to the parent's descriptor with
 * O_NOFOLLOW, so a directory swapped for a symbolic link while we walk
 * leads nowhere; a file with several hard links may be one the tree's owner
 * linked in from elsewhere, so it is left alone (and logged by the caller
 * through the return value). */
static int
chown_below(int dirfd, uid_t uid, gid_t gid, int depth)
{
    DIR *d;
    struct dirent *e;
    int rc = 0, dupfd;

    if (depth > 16) {
        errno = ELOOP;
        return -1;
    }
    if ((dupfd = dup(dirfd)) < 0 || (d = fdopendir(dupfd)) == NULL) {
        if (dupfd >= 0)
            close(dupfd);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        int fd;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* gone meanwhile */
        if (S_ISLNK(st.st_mode))
            continue;
        if (S_ISDIR(st.st_mode)) {
            fd = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0 || chown_below(fd, uid, gid, depth + 1) != 0 ||
                ((st.st_uid != uid || st.st_gid != gid) && fchown(fd, uid, gid) != 0))
                rc = -1;
            if (fd >= 0)
                close(fd);
            continue;
        }
        if (st.st_uid == uid && st.st_gid == gid)
            continue;
        if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
            errno = EMLINK;
            rc = -1;
            continue;
        }
        if (fchownat(dirfd, e->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
            rc = -1;
    }
    closedir(d);
    return rc;
}

int
fs_chown_tree(const char *path, uid_t uid, gid_t gid)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), rc;

    if (fd < 0)
        return -1;
    rc = chown_below(fd, uid, gid, 0);
    if (fchown(fd, uid, gid) != 0)
        rc = -1;
    close(fd);
    return rc;
}

int
fs_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}
