/*
 * fsutil.c — see fsutil.h.
 */
#include "lib/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
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

int
fs_fsync_dirfd(int dirfd)
{
    int rc;

    do
        rc = fsync(dirfd);
    while (rc < 0 && errno == EINTR);
    return rc;
}

int
fs_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc, saved;

    if (fd < 0)
        return -1;
    rc = fs_fsync_dirfd(fd);
    saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* The directory part of path into buf: "." without a slash, "/" for a
 * name in the root; "/a/b/" style trailing slashes belong to the last
 * component. -1 (ENAMETOOLONG) when it does not fit. */
static int
parent_of(const char *path, char *buf, size_t len)
{
    const char *slash = strrchr(path, '/');
    size_t n;

    if (slash != NULL && slash[1] == '\0') {
        while (slash > path && *slash == '/')
            slash--;
        while (slash > path && *slash != '/')
            slash--;
        if (*slash != '/')
            slash = NULL;
    }
    if (slash == NULL) {
        path = ".";
        n = 1;
    } else {
        n = slash == path ? 1 : (size_t)(slash - path);
    }
    if (n >= len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n);
    buf[n] = '\0';
    return 0;
}

int
fs_fsync_parent(const char *path)
{
    char dir[PATH_MAX];

    if (parent_of(path, dir, sizeof(dir)) != 0)
        return -1;
    return fs_fsync_dir(dir);
}

int
fs_rename_noreplace(int fromdir, const char *from, int todir, const char *to)
{
    if (renameat2(fromdir, from, todir, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    if (faccessat(todir, to, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
        errno = EEXIST;
        return -1;
    }
    return renameat(fromdir, from, todir, to);
}

int
fs_write_atomic(const char *path, const void *data, size_t len, struct fs_atomic *w)
{
    const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
    char dir[PATH_MAX];
    int fd = -1, n, saved;

    w->step = "create";
    w->tmp[0] = '\0';
    if (parent_of(path, dir, sizeof(dir)) != 0)
        return -1;
    n = snprintf(w->tmp, sizeof(w->tmp), "%s/.%s.XXXXXX", dir, name);
    if (n < 0 || (size_t)n >= sizeof(w->tmp)) {
        w->tmp[0] = '\0';
        errno = ENAMETOOLONG;
        return -1;
    }
    /* mkostemp creates the file 0600 and O_EXCL: nobody else's, and never
     * through a symbolic link planted under its name. */
    if ((fd = mkostemp(w->tmp, O_CLOEXEC)) < 0)
        return -1;
    w->step = "chmod";
    if (fchmod(fd, w->mode) != 0)
        goto fail;
    w->step = "chown";
    if (w->chown && fchown(fd, w->uid, w->gid) != 0)
        goto fail;
    w->step = "write";
    if (fs_write_all(fd, data, len) != 0)
        goto fail;
    w->step = "fsync";
    if (fsync(fd) != 0)
        goto fail;
    w->step = "close";
    n = close(fd);
    fd = -1;
    if (n != 0)
        goto fail;
    w->step = "rename";
    if ((w->replace ? rename(w->tmp, path)
                    : fs_rename_noreplace(AT_FDCWD, w->tmp, AT_FDCWD, path)) != 0)
        goto fail;
    /* The rename is durable only once the directory entry is. */
    w->step = "fsync directory";
    if (w->sync_dir && fs_fsync_dir(dir) != 0)
        return -1;
    return 0;
fail:
    saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(w->tmp);
    errno = saved;
    return -1;
}
