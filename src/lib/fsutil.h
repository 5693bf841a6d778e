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
/* Gives path and everything below it to uid:gid (symlinks untouched). */
int fs_chown_tree(const char *path, uid_t uid, gid_t gid);

#endif
