/*
 * sandbox.c — see sandbox.h.
 */
#include "lib/sandbox.h"
#include "lib/log.h"
#include "lib/runas.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <grp.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Newer than Debian 12's headers: the rights and fields added since. */
#define LL_FS_TRUNCATE (1ULL << 14)        /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15)       /* ABI 5 */
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)        /* ABI 6 */

/* The ruleset attribute as of ABI 6; older kernels get a prefix of it. */
struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER_BUILD 1
#endif
#endif

static bool chrooted;

static int
landlock_abi(void)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

    return abi < 0 ? 0 : (int)abi;
}

int
sandbox_prepare_empty_dir(const char *path, char *err, size_t errlen)
{
    struct stat st;
    DIR *d;
    struct dirent *de;

    if (geteuid() != 0 || landlock_abi() > 0)
        return 0;
    if (mkdir(path, 0555) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
        (st.st_mode & 0222) != 0) {
        snprintf(err, errlen, "%s must be a directory owned by root that nobody can write", path);
        return -1;
    }
    if ((d = opendir(path)) == NULL) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            closedir(d);
            snprintf(err, errlen, "%s must be empty", path);
            return -1;
        }
    }
    closedir(d);
    return 0;
}

int
sandbox_chroot_if_needed(const char *empty_dir, char *err, size_t errlen)
{
    if (geteuid() != 0 || landlock_abi() > 0)
        return 0;
#ifdef SANITIZER_BUILD
    /* LeakSanitizer needs /proc at exit; a chroot would make it fail. */
    return 0;
#else
    if (chroot(empty_dir) < 0 || chdir("/") < 0) {
        snprintf(err, errlen, "cannot chroot to %s: %s", empty_dir, strerror(errno));
        return -1;
    }
    chrooted = true;
    return 0;
#endif
}

int
sandbox_become(uid_t uid, gid_t gid, char *err, size_t errlen)
{
    if (geteuid() != 0)
        return 0;
    if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) {
        snprintf(err, errlen, "cannot become uid %ld: %s", (long)uid, strerror(errno));
        return -1;
    }
    if (uid != 0 && setuid(0) == 0) {
        snprintf(err, errlen, "privileges were not dropped");
        return -1;
    }
    return 0;
}

void
sandbox_private(void)
{
    (void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
#ifdef SANITIZER_BUILD
    runas_sanitizer_keep_traceable();
#else
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
}

bool
sandbox_no_files(char *what, size_t len)
{
    int abi = landlock_abi();
    struct ll_ruleset_attr attr = {0};
    size_t attr_size = sizeof(attr.handled_access_fs);
    int fd;

    if (abi <= 0) {
        (void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        if (chrooted) {
            snprintf(what, len, "chroot (this kernel has no Landlock)");
            return true;
        }
        snprintf(what, len,
                 "none: this kernel has no Landlock and the service was not started "
                 "as root");
        return false;
    }
    attr.handled_access_fs =
        LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
        LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR |
        LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
        LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |
        LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
    if (abi >= 2)
        attr.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        attr.handled_access_fs |= LL_FS_TRUNCATE;
    if (abi >= 5)
        attr.handled_access_fs |= LL_FS_IOCTL_DEV;
    if (abi >= 6) {
        /* nor signal other processes or reach abstract sockets outside */
        attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
        attr_size = sizeof(attr);
    }
    fd = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
    if (fd < 0) {
        snprintf(what, len, "none: landlock_create_ruleset: %s", strerror(errno));
        return false;
    }
#ifdef SANITIZER_BUILD
    {
        struct landlock_path_beneath_attr proc = {
            .allowed_access = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR,
            .parent_fd = open("/proc", O_PATH | O_CLOEXEC),
        };
        if (proc.parent_fd >= 0) {
            (void)syscall(SYS_landlock_add_rule, fd, LANDLOCK_RULE_PATH_BENEATH, &proc, 0);
            close(proc.parent_fd);
        }
    }
#endif
    (void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (syscall(SYS_landlock_restrict_self, fd, 0) < 0) {
        snprintf(what, len, "none: landlock_restrict_self: %s", strerror(errno));
        close(fd);
        return false;
    }
    close(fd);
    snprintf(what, len, "landlock abi %d", abi);
    return true;
}
