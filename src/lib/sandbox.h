/*
 * sandbox.h — what a child process of the service gives up once it has
 * what it needs: root, the right to be traced or read by processes of the
 * same user, and (the smtp process) the filesystem.
 *
 * The filesystem goes with Landlock (Linux 5.13 and later, any user): a
 * ruleset that handles every filesystem right and grants none, so no path
 * can be opened, created or removed; descriptors already open keep
 * working. Where Landlock is missing and the process is root, it goes into
 * a chroot of an empty root-owned directory instead. Sanitizer builds may
 * still read /proc (LeakSanitizer lists threads there at exit).
 * Must never: report a restriction as applied when it was not; leave a
 * process running as root after sandbox_become returned 0 as root.
 */
#ifndef POSTERN_SANDBOX_H
#define POSTERN_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* As root: prepares an empty directory owned by root, mode 0555, to chroot
 * into when Landlock is missing (created if absent; refused if it is not
 * empty or not root's). Returns 0, or -1 with a reason. */
int sandbox_prepare_empty_dir(const char *path, char *err, size_t errlen);

/* As root: the chroot fallback, done before sandbox_become (chroot needs
 * root). Does nothing when Landlock is available or we are not root.
 * Returns 0, or -1 with a reason. */
int sandbox_chroot_if_needed(const char *empty_dir, char *err, size_t errlen);

/* As root: becomes uid/gid with no supplementary groups and no
 * capabilities left. Not root: nothing. Returns 0, or -1 with a reason. */
int sandbox_become(uid_t uid, gid_t gid, char *err, size_t errlen);

/* No new privileges through exec, and not dumpable (no ptrace, no
 * /proc/PID/mem for processes of the same user); sanitizer builds stay
 * dumpable (LeakSanitizer traces its own threads). */
void sandbox_private(void);

/* Removes all filesystem access (Landlock). what receives a one-line
 * description for the log ("landlock abi 7", "chroot", "none: ..."). True
 * when the process can no longer open files. */
bool sandbox_no_files(char *what, size_t len);

#endif
