/*
 * faultfs.c — an LD_PRELOAD shim for the storage-fault tests: makes chosen
 * calls of write, pwrite, writev, fsync, fdatasync, rename(at/at2),
 * link(at) and open(at) with O_CREAT fail with a chosen errno, so that a
 * test can watch a real daemon meet EIO or ENOSPC at an exact step.
 *
 * Environment (read at every intercepted call, so a test can arm and lift
 * faults while the daemon runs):
 *   FAULTFS_PREFIX   colon-separated directories; only paths under them can
 *                    fail (unset: the shim does nothing at all)
 *   FAULTFS_RULES    rules, separated by ';' or newlines
 *   FAULTFS_CONTROL  a file holding rules; when set, its contents replace
 *                    FAULTFS_RULES (a missing file: no rules). The shim
 *                    opens it once, when loaded, and reads it through that
 *                    descriptor from then on: a process that loses access
 *                    to files (the smtp process's sandbox) still sees new
 *                    rules. So the file is rewritten in place, never
 *                    replaced, as "G=<n>" line, rules, "G=<n>" line; a read
 *                    whose two markers differ (torn by a concurrent write)
 *                    is ignored. A new <n> resets the counters.
 *   FAULTFS_LOG      a file to which each injected fault appends one line
 *                    "op path ERRNO"; tests wait on it (also opened once)
 *
 * Both descriptors are opened without close-on-exec: the service closes
 * the close-on-exec descriptors it inherits into its children and keeps
 * the others, which is how they reach a sandboxed process.
 *
 * A rule is "op[:key=value]...", e.g. "fsync:path=*.tmp:nth=2:count=1:errno=EIO".
 *   op     write pwrite writev fsync fdatasync dirfsync rename link create
 *          (fsync and fdatasync on a directory are "dirfsync"; "create" is
 *          open/openat/creat with O_CREAT; rename and link match either name)
 *   path   fnmatch(3) glob on the absolute path ('*' crosses '/'), default *
 *   nth    the first matching call that fails (1-based), default 1
 *   count  how many calls fail from nth on; 0 (default): all, until lifted
 *   errno  EIO ENOSPC EDQUOT EROFS EACCES EPERM ENOENT EFBIG, or a number
 *   action fail (default); kill: SIGKILL the process right before the
 *          call, a crash at an exact step; trace: only log the call
 * A failing call does nothing (the fsync is not even attempted): like the
 * kernel after a writeback error, a later call of the same kind succeeds,
 * which is the trap (fsyncgate) the tests check the daemon does not fall in.
 *
 * Must never: touch a path outside FAULTFS_PREFIX (the daemon's logs,
 * sockets and configuration keep working), write to the daemon's stdout or
 * stderr (a test must see only what the daemon itself logs), or change what
 * a call does when no rule matches.
 */
#undef _FILE_OFFSET_BITS /* we define open and open64 both, by name */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_RULES 16
#define RULES_TEXT_MAX 4096

enum op {
    OP_WRITE,
    OP_PWRITE,
    OP_WRITEV,
    OP_FSYNC,
    OP_FDATASYNC,
    OP_DIRFSYNC,
    OP_RENAME,
    OP_LINK,
    OP_CREATE,
    OP_COUNT
};
static const char *const op_names[OP_COUNT] = {"write",    "pwrite", "writev", "fsync", "fdatasync",
                                               "dirfsync", "rename", "link",   "create"};

struct rule {
    enum op op;
    char glob[PATH_MAX];
    unsigned long nth, count, seen;
    int err;
    enum { ACT_FAIL, ACT_KILL, ACT_TRACE } action;
};

static struct {
    pthread_mutex_t lock;
    struct rule rules[MAX_RULES];
    size_t nrules;
    unsigned armed; /* bit per op that some rule names: the fast path */
    char text[RULES_TEXT_MAX];
    int control_fd, log_fd; /* opened when the shim is loaded; -1: none */
} S = {.lock = PTHREAD_MUTEX_INITIALIZER, .control_fd = -1, .log_fd = -1};

/* The real functions, found once. */
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned);
static int (*real_link)(const char *, const char *);
static int (*real_linkat)(int, const char *, int, const char *, int);
/* every open variant below ends here: open(p) is openat(AT_FDCWD, p), the
 *64 forms differ by O_LARGEFILE only, which is the default on 64 bits */
static int (*real_openat)(int, const char *, int, ...);

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void
init_real(void)
{
#define FIND(var, name) var = (__typeof__(var))dlsym(RTLD_NEXT, name)
    FIND(real_write, "write");
    FIND(real_pwrite, "pwrite");
    FIND(real_pwrite64, "pwrite64");
    FIND(real_writev, "writev");
    FIND(real_fsync, "fsync");
    FIND(real_fdatasync, "fdatasync");
    FIND(real_rename, "rename");
    FIND(real_renameat, "renameat");
    FIND(real_renameat2, "renameat2");
    FIND(real_link, "link");
    FIND(real_linkat, "linkat");
    FIND(real_openat, "openat");
#undef FIND
}

static void
init(void)
{
    pthread_once(&init_once, init_real);
}

static int
parse_errno(const char *s)
{
    static const struct {
        const char *name;
        int value;
    } names[] = {{"EIO", EIO},       {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT}, {"EROFS", EROFS},
                 {"EACCES", EACCES}, {"EPERM", EPERM},   {"ENOENT", ENOENT}, {"EFBIG", EFBIG}};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(s, names[i].name) == 0)
            return names[i].value;
    return atoi(s) > 0 ? atoi(s) : EIO;
}

static const char *
errno_name(int e)
{
    switch (e) {
    case EIO:
        return "EIO";
    case ENOSPC:
        return "ENOSPC";
    case EDQUOT:
        return "EDQUOT";
    case EROFS:
        return "EROFS";
    default:
        return NULL;
    }
}

/* Parses one rule; false (and the rule ignored) when the op is unknown. */
static bool
parse_rule(char *spec, struct rule *r)
{
    char *save = NULL, *field = strtok_r(spec, ":", &save);
    int op = -1;

    while (field && (*field == ' ' || *field == '\t'))
        field++;
    for (int i = 0; field && i < OP_COUNT; i++)
        if (strcmp(field, op_names[i]) == 0)
            op = i;
    if (op < 0)
        return false;
    memset(r, 0, sizeof(*r));
    r->op = (enum op)op;
    r->nth = 1;
    r->err = EIO;
    strcpy(r->glob, "*");
    while ((field = strtok_r(NULL, ":", &save)) != NULL) {
        char *eq = strchr(field, '=');
        if (eq == NULL)
            continue;
        *eq++ = '\0';
        if (strcmp(field, "path") == 0)
            snprintf(r->glob, sizeof(r->glob), "%s", eq);
        else if (strcmp(field, "nth") == 0)
            r->nth = strtoul(eq, NULL, 10) ? strtoul(eq, NULL, 10) : 1;
        else if (strcmp(field, "count") == 0)
            r->count = strtoul(eq, NULL, 10);
        else if (strcmp(field, "errno") == 0)
            r->err = parse_errno(eq);
        else if (strcmp(field, "action") == 0)
            r->action = strcmp(eq, "kill") == 0    ? ACT_KILL
                        : strcmp(eq, "trace") == 0 ? ACT_TRACE
                                                   : ACT_FAIL;
    }
    return true;
}

/* Replaces the rules with those in text (caller holds the lock). */
static void
set_rules(const char *text)
{
    char copy[RULES_TEXT_MAX], *save = NULL, *spec;

    snprintf(S.text, sizeof(S.text), "%s", text);
    snprintf(copy, sizeof(copy), "%s", text);
    S.nrules = 0;
    S.armed = 0;
    for (spec = strtok_r(copy, ";\n", &save); spec && S.nrules < MAX_RULES;
         spec = strtok_r(NULL, ";\n", &save)) {
        if (parse_rule(spec, &S.rules[S.nrules])) {
            S.armed |= 1u << S.rules[S.nrules].op;
            S.nrules++;
        }
    }
}

/* Opens the control file and the log while the process may still open
 * files (before any sandbox): when the shim is loaded. */
__attribute__((constructor)) static void
open_files(void)
{
    const char *control = getenv("FAULTFS_CONTROL"), *log = getenv("FAULTFS_LOG");

    init();
    if (control != NULL)
        S.control_fd = real_openat(AT_FDCWD, control, O_RDONLY);
    if (log != NULL)
        S.log_fd = real_openat(AT_FDCWD, log, O_WRONLY | O_APPEND);
}

/* Picks up changed rules (caller holds the lock). */
static void
refresh_rules(void)
{
    const char *env_rules = getenv("FAULTFS_RULES");
    char text[RULES_TEXT_MAX], marker[32], *first_end, *last;
    ssize_t n;

    if (getenv("FAULTFS_CONTROL") == NULL) {
        if (strcmp(S.text, env_rules ? env_rules : "") != 0)
            set_rules(env_rules ? env_rules : "");
        return;
    }
    if (S.control_fd < 0 || (n = pread(S.control_fd, text, sizeof(text) - 1, 0)) <= 0) {
        if (S.nrules)
            set_rules("");
        return;
    }
    text[n] = '\0'; /* the text ends at the first NUL of the padding */
    /* "G=<n>\n" rules "G=<n>\n": both markers, the same */
    if (strncmp(text, "G=", 2) != 0 || (first_end = strchr(text, '\n')) == NULL ||
        (size_t)(first_end - text) >= sizeof(marker))
        return;
    memcpy(marker, text, (size_t)(first_end - text));
    marker[first_end - text] = '\0';
    n = (ssize_t)strlen(text);
    while (n > 0 && text[n - 1] == '\n')
        text[--n] = '\0';
    if ((last = strrchr(text, '\n')) == NULL || strcmp(last + 1, marker) != 0)
        return; /* torn: a write is under way; the next call sees it whole */
    *last = '\0';
    /* the generation line stays in the text: a new one resets the counters */
    if (strcmp(text, S.text) != 0)
        set_rules(text);
}

/* One line per rule that fired: "op path ERRNO" (or KILL, TRACE). */
static void
log_fault(enum op op, const char *path, const char *what)
{
    char line[PATH_MAX + 64];
    int n;

    if (S.log_fd < 0)
        return;
    n = snprintf(line, sizeof(line), "%s %s %s\n", op_names[op], path, what);
    if (n > 0)
        (void)real_write(S.log_fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static bool
under_prefix(const char *path)
{
    const char *prefixes = getenv("FAULTFS_PREFIX");

    if (prefixes == NULL || path == NULL || path[0] != '/')
        return false;
    for (const char *p = prefixes; *p;) {
        size_t len = strcspn(p, ":");
        if (len > 0 && strncmp(path, p, len) == 0 && (path[len] == '/' || path[len] == '\0'))
            return true;
        p += len;
        if (*p == ':')
            p++;
    }
    return false;
}

/* Should this call fail? Returns the errno to fail with, or 0. path2 is the
 * second name of rename and link. */
static int
should_fail(enum op op, const char *path, const char *path2)
{
    int err = 0, action = ACT_FAIL;
    char num[16];
    const char *name;

    if (getenv("FAULTFS_PREFIX") == NULL)
        return 0;
    pthread_mutex_lock(&S.lock);
    refresh_rules();
    if (!(S.armed & (1u << op)) ||
        !(under_prefix(path) || (path2 != NULL && under_prefix(path2)))) {
        pthread_mutex_unlock(&S.lock);
        return 0;
    }
    for (size_t i = 0; i < S.nrules && err == 0; i++) {
        struct rule *r = &S.rules[i];
        if (r->op != op)
            continue;
        if (fnmatch(r->glob, path, 0) != 0 && (path2 == NULL || fnmatch(r->glob, path2, 0) != 0))
            continue;
        r->seen++;
        if (r->seen >= r->nth && (r->count == 0 || r->seen < r->nth + r->count)) {
            err = r->err;
            action = r->action;
        }
    }
    pthread_mutex_unlock(&S.lock);
    if (err == 0)
        return 0;
    if (action == ACT_TRACE) {
        log_fault(op, path, "TRACE");
        return 0;
    }
    if (action == ACT_KILL) {
        log_fault(op, path, "KILL");
        kill(getpid(), SIGKILL);
    }
    if ((name = errno_name(err)) == NULL) {
        snprintf(num, sizeof(num), "%d", err);
        name = num;
    }
    log_fault(op, path, name);
    return err;
}

/* Cheap test before any path work: is any rule for op armed at all? */
static bool
armed(enum op op)
{
    bool yes;

    if (getenv("FAULTFS_PREFIX") == NULL)
        return false;
    pthread_mutex_lock(&S.lock);
    refresh_rules();
    yes = (S.armed & (1u << op)) != 0;
    pthread_mutex_unlock(&S.lock);
    return yes;
}

static bool
fd_path(int fd, char *out, size_t outlen)
{
    char link[64];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, out, outlen - 1);
    if (n < 0)
        return false;
    out[n] = '\0';
    return true;
}

/* The absolute path of name relative to dirfd (AT_FDCWD: the cwd). */
static bool
at_path(int dirfd, const char *name, char *out, size_t outlen)
{
    char dir[PATH_MAX];

    if (name == NULL)
        return false;
    if (name[0] == '/') {
        snprintf(out, outlen, "%s", name);
        return true;
    }
    if (dirfd == AT_FDCWD ? getcwd(dir, sizeof(dir)) == NULL : !fd_path(dirfd, dir, sizeof(dir)))
        return false;
    return snprintf(out, outlen, "%s/%s", dir, name) < (int)outlen;
}

/* The fault for an fd-based call, or 0. */
static int
fd_fault(enum op op, int fd)
{
    char path[PATH_MAX];

    if (!armed(op) && !(op == OP_FSYNC && armed(OP_DIRFSYNC)) &&
        !(op == OP_FDATASYNC && armed(OP_DIRFSYNC)))
        return 0;
    if (!fd_path(fd, path, sizeof(path)))
        return 0;
    if (op == OP_FSYNC || op == OP_FDATASYNC) {
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
            op = OP_DIRFSYNC;
    }
    return should_fail(op, path, NULL);
}

static int
at_fault(enum op op, int dirfd, const char *name, int dirfd2, const char *name2)
{
    char path[PATH_MAX], path2[PATH_MAX];

    if (!armed(op) || !at_path(dirfd, name, path, sizeof(path)))
        return 0;
    if (name2 != NULL && at_path(dirfd2, name2, path2, sizeof(path2)))
        return should_fail(op, path, path2);
    return should_fail(op, path, NULL);
}

#define FAIL_WITH(e)                                                                               \
    do {                                                                                           \
        errno = (e);                                                                               \
        return -1;                                                                                 \
    } while (0)

ssize_t
write(int fd, const void *buf, size_t len)
{
    int e;

    init();
    if ((e = fd_fault(OP_WRITE, fd)) != 0)
        FAIL_WITH(e);
    return real_write(fd, buf, len);
}

ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
    int e;

    init();
    if ((e = fd_fault(OP_PWRITE, fd)) != 0)
        FAIL_WITH(e);
    return real_pwrite(fd, buf, len, off);
}

ssize_t
pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
    int e;

    init();
    if ((e = fd_fault(OP_PWRITE, fd)) != 0)
        FAIL_WITH(e);
    return real_pwrite64(fd, buf, len, off);
}

ssize_t
writev(int fd, const struct iovec *iov, int n)
{
    int e;

    init();
    if ((e = fd_fault(OP_WRITEV, fd)) != 0)
        FAIL_WITH(e);
    return real_writev(fd, iov, n);
}

int
fsync(int fd)
{
    int e;

    init();
    if ((e = fd_fault(OP_FSYNC, fd)) != 0)
        FAIL_WITH(e);
    return real_fsync(fd);
}

int
fdatasync(int fd)
{
    int e;

    init();
    if ((e = fd_fault(OP_FDATASYNC, fd)) != 0)
        FAIL_WITH(e);
    return real_fdatasync(fd);
}

int
rename(const char *from, const char *to)
{
    int e;

    init();
    if ((e = at_fault(OP_RENAME, AT_FDCWD, from, AT_FDCWD, to)) != 0)
        FAIL_WITH(e);
    return real_rename(from, to);
}

int
renameat(int fromfd, const char *from, int tofd, const char *to)
{
    int e;

    init();
    if ((e = at_fault(OP_RENAME, fromfd, from, tofd, to)) != 0)
        FAIL_WITH(e);
    return real_renameat(fromfd, from, tofd, to);
}

int
renameat2(int fromfd, const char *from, int tofd, const char *to, unsigned flags)
{
    int e;

    init();
    if ((e = at_fault(OP_RENAME, fromfd, from, tofd, to)) != 0)
        FAIL_WITH(e);
    return real_renameat2(fromfd, from, tofd, to, flags);
}

int
link(const char *from, const char *to)
{
    int e;

    init();
    if ((e = at_fault(OP_LINK, AT_FDCWD, from, AT_FDCWD, to)) != 0)
        FAIL_WITH(e);
    return real_link(from, to);
}

int
linkat(int fromfd, const char *from, int tofd, const char *to, int flags)
{
    int e;

    init();
    if ((e = at_fault(OP_LINK, fromfd, from, tofd, to)) != 0)
        FAIL_WITH(e);
    return real_linkat(fromfd, from, tofd, to, flags);
}

/* open(2) and its aliases: only creating opens can fail. */
static int
guarded_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    int e;

    init();
    if ((flags & O_CREAT) && (e = at_fault(OP_CREATE, dirfd, path, AT_FDCWD, NULL)) != 0)
        FAIL_WITH(e);
    return real_openat(dirfd, path, flags, mode);
}

/* The mode argument exists only when the flags ask for one. */
#define MODE_ARG(flags)                                                                            \
    __extension__({                                                                                \
        mode_t mode_ = 0;                                                                          \
        if ((flags) & (O_CREAT | O_TMPFILE)) {                                                     \
            va_list ap;                                                                            \
            va_start(ap, flags);                                                                   \
            mode_ = (mode_t)va_arg(ap, int);                                                       \
            va_end(ap);                                                                            \
        }                                                                                          \
        mode_;                                                                                     \
    })

int
open(const char *path, int flags, ...)
{
    return guarded_openat(AT_FDCWD, path, flags, MODE_ARG(flags));
}

int
open64(const char *path, int flags, ...)
{
    return guarded_openat(AT_FDCWD, path, flags, MODE_ARG(flags));
}

int
openat(int dirfd, const char *path, int flags, ...)
{
    return guarded_openat(dirfd, path, flags, MODE_ARG(flags));
}

int
openat64(int dirfd, const char *path, int flags, ...)
{
    return guarded_openat(dirfd, path, flags, MODE_ARG(flags));
}

int
creat(const char *path, mode_t mode)
{
    return guarded_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

/* The _FORTIFY_SOURCE entry points (no mode: they are for opens without
 * O_CREAT, but a program may still reach them). */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

int
__open_2(const char *path, int flags)
{
    return guarded_openat(AT_FDCWD, path, flags, 0);
}

int
__open64_2(const char *path, int flags)
{
    return guarded_openat(AT_FDCWD, path, flags, 0);
}

int
__openat_2(int dirfd, const char *path, int flags)
{
    return guarded_openat(dirfd, path, flags, 0);
}

int
__openat64_2(int dirfd, const char *path, int flags)
{
    return guarded_openat(dirfd, path, flags, 0);
}
