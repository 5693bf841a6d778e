/*
 * fsutil.h — file-system helpers: directory creation, durable small-file
 * writes (the one place that knows the write, fsync, rename, fsync of the
 * directory sequence), directory fsync, ownership of a tree.
 * Must never: follow a symbolic link when changing ownership, leave a
 * partly written file under its final name, or log (callers word their
 * own errors from the step and errno it reports).
 */
#ifndef POSTERN_FSUTIL_H
#define POSTERN_FSUTIL_H

#include <limits.h>
#include <stdbool.h>
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

/* fsync of a directory (what makes the entries created, renamed or removed
 * in it durable), retrying EINTR. 0, or -1 with errno set. */
int fs_fsync_dirfd(int dirfd);
/* The same for the directory path names (opened and closed here). */
int fs_fsync_dir(const char *path);
/* The same for the directory that holds path: what makes path's own entry
 * durable after it was created. */
int fs_fsync_parent(const char *path);

/* renameat that never replaces an existing file (EEXIST then):
 * renameat2(RENAME_NOREPLACE), or where the file system has not got it, a
 * check for the name and a plain renameat. */
int fs_rename_noreplace(int fromdir, const char *from, int todir, const char *to);

/* How fs_write_atomic writes, and on failure which step failed. */
struct fs_atomic {
    mode_t mode;   /* the file's permissions (exactly: umask does not apply) */
    bool replace;  /* replace an existing file; else fail with EEXIST */
    bool sync_dir; /* fsync the directory after the rename; without it the
                    * caller does, once for several files */
    bool chown;    /* give the file to uid:gid before it is written */
    uid_t uid;
    gid_t gid;
    /* Set on failure: the step ("create", "chmod", "chown", "write",
     * "fsync", "close", "rename", "fsync directory") and the temporary
     * file's path (removed again unless the rename had happened). */
    const char *step;
    char tmp[PATH_MAX];
};

/* Writes data to path durably and atomically: a temporary file
 * ".<name>.XXXXXX" beside it (created 0600, so private from its first
 * byte), fsynced, closed and renamed over path, then the directory fsynced
 * when w->sync_dir. Readers see the old file or the new one, never a part.
 * 0, or -1 with errno set and w->step naming the step. */
int fs_write_atomic(const char *path, const void *data, size_t len, struct fs_atomic *w);

#endif
