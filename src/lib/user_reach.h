/*
 * user_reach.h — can the service user reach the instance directory?
 *
 * A root-owned parent of mode 0700 lets root create an instance that the
 * service, once it drops to its user, cannot enter; what the user then
 * sees ("cannot create .../queue: Permission denied") hides the cause.
 * setup and run ask here first: a child process takes the user's uid,
 * gid and groups and tries every directory from / down (so ACLs and group
 * membership count exactly as the kernel counts them), and the answer names
 * the first directory it cannot pass and the command that fixes it.
 * Must never: change anything on disk, or leave the caller with other ids.
 */
#ifndef POSTERN_USER_REACH_H
#define POSTERN_USER_REACH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* 0 when user (uid, gid) can search every directory above dir and, when
 * whole is set, read, write and search dir itself; -1 with err set to the
 * directory that stops it, why, and the fix. Needs root (real or saved
 * uid 0); anyone else is answered 0 (nothing to check: the service runs as
 * its caller). */
int user_reach_check(const char *dir, const char *user, uid_t uid, gid_t gid, bool whole, char *err,
                     size_t errlen);

#endif
