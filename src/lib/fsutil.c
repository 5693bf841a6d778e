/*
 * fsutil.c — see fsutil.h.
 */
#define _XOPEN_SOURCE 700
#include "lib/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

int
fs_mkdir(const char *path, mode_t mode)
{
    if (mkdir(path, mode) == 0 || errno == EEXIST)
        return 0;
    return -1;
}

static uid_t chown_uid;
static gid_t chown_gid;

static int
chown_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    if (type == FTW_SL)
        return 0;
    if (st->st_uid == chown_uid && st->st_gid == chown_gid)
        return 0;
    return lchown(path, chown_uid, chown_gid) < 0 ? -1 : 0;
}

int
fs_chown_tree(const char *path, uid_t uid, gid_t gid)
{
    chown_uid = uid;
    chown_gid = gid;
    return nftw(path, chown_one, 16, FTW_PHYS);
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
