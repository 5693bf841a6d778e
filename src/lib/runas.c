/*
 * runas.c — see runas.h.
 */
#include "lib/runas.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* gcc says __SANITIZE_ADDRESS__, clang __has_feature(address_sanitizer) */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RUNAS_CLANG_ASAN 1
#endif
#endif
#ifndef RUNAS_CLANG_ASAN
#define RUNAS_CLANG_ASAN 0
#endif

static uid_t owner_uid;
static gid_t owner_gid;
static int in_owner_scope;
static int registered_exit;

static void
become(uid_t uid, gid_t gid)
{
    /* gid first: after seteuid(non-root) setegid would be refused */
    if (setegid(gid) != 0 || seteuid(uid) != 0)
        fatal("cannot switch effective user to %lu:%lu", (unsigned long)uid, (unsigned long)gid);
}

static void
become_root(void)
{
    if (seteuid(0) != 0 || setegid(0) != 0)
        fatal("cannot regain root");
}

int
runas_owner_enter(const char *dir, char *err, size_t errlen)
{
    struct stat st;

    if (geteuid() != 0 || in_owner_scope)
        return 0;
    if (lstat(dir, &st) != 0)
        return 0; /* not created yet: whoever creates it owns it */
    if (!S_ISDIR(st.st_mode)) {
        errorf(err, errlen, "%s is not a directory", dir);
        return -1;
    }
    if (st.st_uid == 0)
        return 0; /* only root can have put anything in it */
    /* Supplementary groups stay root's; drop them for the scope so the
     * owner's rights are exactly what is checked. */
    if (setgroups(0, NULL) != 0) {
        errorf(err, errlen, "cannot drop supplementary groups: %s", strerror(errno));
        return -1;
    }
    owner_uid = st.st_uid;
    owner_gid = st.st_gid;
    become(owner_uid, owner_gid);
    in_owner_scope = 1;
    /* Leave the scope before the exit handlers registered earlier run:
     * LeakSanitizer's must stop our threads with ptrace, which a root
     * process in another user's effective identity may not do. */
    if (!registered_exit) {
        atexit(runas_owner_leave);
        registered_exit = 1;
    }
    return 0;
}

void
runas_owner_leave(void)
{
    if (!in_owner_scope)
        return;
    become_root();
    in_owner_scope = 0;
}

void
runas_admin_begin(void)
{
    if (in_owner_scope)
        become_root();
}

void
runas_admin_end(void)
{
    if (in_owner_scope)
        become(owner_uid, owner_gid);
}

void
runas_sanitizer_keep_traceable(void)
{
#if defined(__SANITIZE_ADDRESS__) || RUNAS_CLANG_ASAN
    /* LeakSanitizer stops the threads with ptrace at exit, which a process
     * that changed its uid may not do (the kernel clears "dumpable"). Only
     * in sanitizer builds: elsewhere a core dump could show secrets. */
    (void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
}
