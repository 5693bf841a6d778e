/*
 * fsutil.h — file-system helpers: directory creation, durable small-file
 * writes, ownership of a tree.
 * Must never: follow a symbolic link when changing ownership.
 */
#ifndef POSTERN_FSUTIL_H
#define POSTERN_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* mkdir that accepts an existing directory. */
int fs_mkdir(const char *path, mode_t mode);
/* Writes all of len bytes (retrying short writes and EINTR). 0, or -1 with
 * errno set. */
int fs_write_all(int fd, const void *data, size_t len);
/* Gives path and everything below it to uid:gid without following a
 * symbolic link at any step (safe against a tree whose owner changes it
 * meanwhile). Files with more than one hard link are not changed: -1 then,
 * as for any other failure, after doing everything else. */
int fs_chown_tree(const char *path, uid_t uid, gid_t gid);

#endif
