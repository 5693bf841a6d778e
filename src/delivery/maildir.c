/*
 * maildir.c — local delivery into a Maildir (see maildir.h), following
 * https://cr.yp.to/proto/maildir.html as Dovecot reads it:
 *
 *   1. <root>, <root>/tmp, new, cur are created when missing, mode 0700
 *      whatever the umask; the parent of <root> must exist. A directory
 *      just created is made durable by fsyncing its parent.
 *   2. The file name is "<unique_key>.<hostname>": the key is 1..128 of
 *      [A-Za-z0-9._-], not starting with '.' (readers skip dot files); the
 *      host name has '/', ':', ',', '\' and non-printables escaped as
 *      "\ooo" (the specification's rule for '/' and ':').
 *      If new/<name> exists, or cur/ holds <name> or "<name>:<info>" (a
 *      reader saw it and moved it), the message was delivered before a
 *      crash: return 0 and deliver nothing more.
 *   3. A leftover tmp/<name> (crash while writing) is removed; the message
 *      is written to tmp/<name> (O_EXCL, 0600) and fsynced.
 *   4. tmp/<name> is hard-linked to new/<name> (rename(2) without
 *      replacing where the file system has no hard links), new/ is fsynced,
 *      then tmp/<name> is unlinked and tmp/ fsynced.
 *
 * Content: "Return-Path: <rp>" (rp given bare or already bracketed; "<>"
 * for the null sender) and "Delivered-To: to" lines, then the queued data
 * file with every CRLF turned into LF. Maildir files are
 * conventionally stored with the local line ending: Dovecot, Postfix's
 * local(8) and procmail all write LF, and Dovecot adds the CR back when it
 * serves a message over IMAP. A lone CR is copied unchanged.
 *
 * Error classes (*temporary): a retry may succeed after an administrator
 * acts or space is freed, so almost everything is temporary — ENOSPC,
 * EDQUOT, EIO, EACCES/EPERM (permissions can be fixed), EROFS, ENOENT (a
 * missing parent directory), descriptor and memory exhaustion. Permanent
 * only where the same call can never succeed: an invalid key or header
 * value, a path component that is not a directory (ENOTDIR, or the root
 * or a subdirectory existing as a file), ELOOP, ENAMETOOLONG, and EFBIG
 * (the message exceeds the file size limit).
 *
 * Checking cur/ reads the whole directory (a reader may have appended any
 * flags after the ':'), which costs one readdir pass per delivery.
 * A message that a reader moved out of new/ and cur/ (another folder,
 * expunged) before a crash-time retry cannot be recognised and would be
 * delivered again; the window is the time between the link and the
 * caller recording success.
 *
 * Concurrency: one delivery per (root, key) at a time; the caller's queue
 * guarantees that. Different keys may be delivered concurrently from
 * several threads.
 *
 * Must never: report success before the message file and new/ are
 * fsynced, replace an existing file in new/, follow a key out of the
 * Maildir (the key alphabet excludes '/'), or run on the event loop.
 */
#include "delivery/maildir.h"
#include "lib/log.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads in chunks of this size: few syscalls, bounded memory per worker. */
#define COPY_CHUNK (64 * 1024)
/* Leaves room in NAME_MAX (255) for the ":2,<flags>" and ",S=...,W=..."
 * that readers such as Dovecot append to the name. */
#define KEY_MAX 128
#define NAME_MAX_LEN 200
#define HOST_ESCAPED_MAX 256

/* See the error classes in the file comment. */
static bool
errno_temporary(int e)
{
    switch (e) {
    case ENOTDIR: /* also what ensure_dir reports for a file in the way */
    case ELOOP:
    case ENAMETOOLONG:
    case EFBIG:
    case EINVAL:
        return false;
    default:
        return true;
    }
}

/* Records that `what` failed with errno e in the Maildir at root. Returns
 * -1. strerror_r (GNU form): workers call this concurrently. */
static int
fail_errno(int e, const char *root, const char *what, bool *temporary, char *err, size_t errlen)
{
    char buf[128];

    *temporary = errno_temporary(e);
    errorf(err, errlen, "maildir %s: %s: %s", root, what, strerror_r(e, buf, sizeof(buf)));
    return -1;
}

/* [A-Za-z0-9._-], not starting with '.': Maildir readers skip dot files,
 * and the alphabet keeps the name a single path component without the
 * ':' and ',' that separate a reader's info from the base name. */
static bool
valid_key(const char *key)
{
    size_t n = 0;

    if (key[0] == '\0' || key[0] == '.')
        return false;
    for (const char *p = key; *p != '\0'; p++, n++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n <= KEY_MAX;
}

/* A header value must stay on its line: no CR, LF or other controls. */
static bool
valid_header_value(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* The host name as the Maildir specification wants it in a file name: '/'
 * as "\057" and ':' as "\072"; ',' (Dovecot's field separator) and any
 * byte outside printable ASCII are escaped the same way. */
static void
escaped_hostname(char *out, size_t outlen)
{
    char host[256];
    size_t o = 0;

    if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
        strlcpy_p(host, "localhost", sizeof(host));
    host[sizeof(host) - 1] = '\0';
    for (const unsigned char *p = (const unsigned char *)host; *p != '\0' && o + 5 < outlen; p++) {
        if (*p == '/' || *p == ':' || *p == ',' || *p == '\\' || *p <= 0x20 || *p >= 0x7f)
            o += (size_t)snprintf(out + o, outlen - o, "\\%03o", *p);
        else
            out[o++] = (char)*p;
    }
    out[o] = '\0';
}

/* mkdirat that accepts an existing directory; *created tells whether the
 * parent needs an fsync. An existing non-directory is ENOTDIR. */
static int
ensure_dir(int parent, const char *name, bool *created)
{
    struct stat st;

    if (mkdirat(parent, name, 0700) == 0) {
        *created = true;
        return 0;
    }
    if (errno != EEXIST)
        return -1;
    if (fstatat(parent, name, &st, 0) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* Was <name> delivered before? new/<name>, cur/<name> or cur/<name>:...
 * (or Dovecot's cur/<name>,S=...). Returns 1 yes, 0 no, -1 on error. */
static int
already_delivered(int newfd, int curfd, const char *name)
{
    size_t n = strlen(name);
    struct dirent *de;
    DIR *d;
    int dupfd, found = 0;

    if (faccessat(newfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        return 1;
    if (errno != ENOENT)
        return -1;
    /* fdopendir takes ownership: hand it a copy. Reading after new/ is
     * the safe order: a reader moves new/ -> cur/, never back. */
    if ((dupfd = dup(curfd)) < 0)
        return -1;
    if ((d = fdopendir(dupfd)) == NULL) {
        close(dupfd);
        return -1;
    }
    rewinddir(d);
    errno = 0;
    while (found == 0 && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, name, n) == 0 &&
            (de->d_name[n] == '\0' || de->d_name[n] == ':' || de->d_name[n] == ','))
            found = 1;
    }
    if (found == 0 && errno != 0)
        found = -1;
    closedir(d);
    return found;
}

/*
 * Copies content_fd (from its start) to fd, CRLF -> LF. A CR at the end of a chunk is held
 * back until the next byte shows whether it starts a CRLF. Returns 0, or -1
 * with errno set and *data_side telling whether the data file (rather than
 * the Maildir file) failed.
 */
static int
copy_lf(int fd, int content_fd, bool *data_side)
{
    /* One byte more out than in at most: a CR held from the chunk before. */
    char *in = xmalloc(COPY_CHUNK), *out = xmalloc(COPY_CHUNK + 1);
    bool held_cr = false;
    int rc = -1, saved;
    off_t at = 0;

    for (;;) {
        ssize_t n = pread(content_fd, in, COPY_CHUNK, at);
        size_t o = 0;

        if (n < 0 && errno == EINTR)
            continue;
        *data_side = true;
        if (n < 0)
            goto out;
        if (n == 0)
            break;
        at += n;
        for (ssize_t i = 0; i < n; i++) {
            if (held_cr) {
                held_cr = false;
                if (in[i] != '\n')
                    out[o++] = '\r';
            }
            if (in[i] == '\r')
                held_cr = true;
            else
                out[o++] = in[i];
        }
        *data_side = false;
        if (fs_write_all(fd, out, o) < 0)
            goto out;
    }
    *data_side = false;
    if (held_cr && fs_write_all(fd, "\r", 1) < 0)
        goto out;
    rc = 0;
out:
    saved = errno;
    free(in);
    free(out);
    errno = saved;
    return rc;
}

/* Moves tmp/<name> to new/<name> without ever replacing a file there.
 * link(2) is the specification's way; file systems without hard links get
 * renameat2(RENAME_NOREPLACE), or plain rename after a check where even
 * that is missing. */
static int
move_to_new(int tmpfd, int newfd, const char *name, bool *linked)
{
    *linked = false;
    if (linkat(tmpfd, name, newfd, name, 0) == 0) {
        *linked = true;
        return 0;
    }
    if (errno != EPERM && errno != EOPNOTSUPP && errno != EXDEV && errno != EMLINK &&
        errno != ENOSYS)
        return -1;
    return fs_rename_noreplace(tmpfd, name, newfd, name);
}

/* Opens root/sub as a directory, creating it when missing. */
static int
open_subdir(int rootfd, const char *sub, bool *created)
{
    if (ensure_dir(rootfd, sub, created) != 0)
        return -1;
    return openat(rootfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int
maildir_deliver(const char *maildir_root, const char *unique_key, int content_fd,
                const char *return_path, const char *delivered_to, bool *temporary, char *err,
                size_t errlen)
{
    static const char *const subs[3] = {"tmp", "new", "cur"};
    char host[HOST_ESCAPED_MAX], name[NAME_MAX_LEN + 1], *head = NULL, *w = NULL;
    const char *what = NULL, *rp_open, *rp_close;
    bool dummy, root_created = false, sub_created = false, linked = false, data_side = false;
    int rootfd = -1, fds[3] = {-1, -1, -1}, fd = -1, rc = -1, e, seen;
    size_t rplen;

    if (temporary == NULL)
        temporary = &dummy;
    *temporary = false;
    errorf(err, errlen, "%s", "");
    if (maildir_root == NULL || maildir_root[0] == '\0' || unique_key == NULL || content_fd < 0 ||
        return_path == NULL || delivered_to == NULL) {
        errorf(err, errlen, "maildir: missing argument");
        return -1;
    }
    if (!valid_key(unique_key)) {
        errorf(err, errlen,
               "maildir %s: invalid delivery key \"%.*s\" (1..%d of [A-Za-z0-9._-], not "
               "starting with '.')",
               maildir_root, 64, unique_key, KEY_MAX);
        return -1;
    }
    if (!valid_header_value(return_path) || !valid_header_value(delivered_to)) {
        errorf(err, errlen, "maildir %s: control character in Return-Path or Delivered-To",
               maildir_root);
        return -1;
    }
    escaped_hostname(host, sizeof(host));
    if ((size_t)snprintf(name, sizeof(name), "%s.%s", unique_key, host) >= sizeof(name)) {
        errorf(err, errlen, "maildir %s: file name for key %s is too long", maildir_root,
               unique_key);
        return -1;
    }

    /* Directories. */
    if (mkdir(maildir_root, 0700) == 0)
        root_created = true;
    else if (errno != EEXIST)
        return fail_errno(errno, maildir_root, "cannot create directory", temporary, err, errlen);
    rootfd = open(maildir_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        fail_errno(errno, maildir_root, "cannot open directory", temporary, err, errlen);
        goto out;
    }
    /* The umask must not decide who may read mail (nor lock us out). */
    if (root_created && fchmod(rootfd, 0700) != 0) {
        fail_errno(errno, maildir_root, "cannot chmod directory", temporary, err, errlen);
        goto out;
    }
    if (root_created && fs_fsync_parent(maildir_root) != 0) {
        fail_errno(errno, maildir_root, "cannot fsync parent directory", temporary, err, errlen);
        goto out;
    }
    for (int i = 0; i < 3; i++) {
        bool created = false;

        fds[i] = open_subdir(rootfd, subs[i], &created);
        if (fds[i] < 0 || (created && fchmod(fds[i], 0700) != 0)) {
            w = xasprintf("cannot create or open %s/", subs[i]);
            fail_errno(errno, maildir_root, w, temporary, err, errlen);
            goto out;
        }
        sub_created = sub_created || created;
    }
    if (sub_created && fs_fsync_dirfd(rootfd) != 0) {
        fail_errno(errno, maildir_root, "cannot fsync directory", temporary, err, errlen);
        goto out;
    }

    /* Delivered before a crash? Then only the leftover tmp file (if the
     * crash came between link and unlink) needs removing. */
    seen = already_delivered(fds[1], fds[2], name);
    if (seen < 0) {
        fail_errno(errno, maildir_root, "cannot look for an earlier delivery", temporary, err,
                   errlen);
        goto out;
    }
    if (seen == 1) {
        /* The earlier attempt may have died between the link and the
         * fsync of new/: the entry is in the page cache, maybe not on
         * disk, and success here lets the queue forget the message. */
        if (fs_fsync_dirfd(fds[1]) != 0) {
            fail_errno(errno, maildir_root, "cannot fsync new/", temporary, err, errlen);
            goto out;
        }
        if (unlinkat(fds[0], name, 0) == 0)
            (void)fs_fsync_dirfd(fds[0]);
        log_debug("maildir %s: %s was already delivered", maildir_root, name);
        rc = 0;
        goto out;
    }

    /* A stale tmp file is an interrupted write: start it over. */
    if (unlinkat(fds[0], name, 0) != 0 && errno != ENOENT) {
        fail_errno(errno, maildir_root, "cannot remove stale tmp file", temporary, err, errlen);
        goto out;
    }
    fd = openat(fds[0], name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0 && fchmod(fd, 0600) != 0) {
        e = errno;
        close(fd);
        fd = -1;
        unlinkat(fds[0], name, 0);
        errno = e;
    }
    if (fd < 0) {
        fail_errno(errno, maildir_root, "cannot create tmp file", temporary, err, errlen);
        goto out;
    }

    /* A caller may hand the reverse-path with or without its brackets;
     * the header always has exactly one pair ("<>" for the null sender). */
    rplen = strlen(return_path);
    rp_open = "<";
    rp_close = ">";
    if (rplen >= 2 && return_path[0] == '<' && return_path[rplen - 1] == '>')
        rp_open = rp_close = "";
    head = xasprintf("Return-Path: %s%s%s\nDelivered-To: %s\n", rp_open, return_path, rp_close,
                     delivered_to);
    what = "cannot write";
    if (fs_write_all(fd, head, strlen(head)) != 0)
        goto fail_tmp;
    if (copy_lf(fd, content_fd, &data_side) != 0) {
        if (data_side)
            what = "cannot read the queued message for";
        goto fail_tmp;
    }
    what = "cannot fsync";
    if (fsync(fd) != 0)
        goto fail_tmp;
    what = "cannot close";
    e = close(fd);
    fd = -1;
    /* Some file systems (NFS) report write errors only at close; EINTR
     * still closes the descriptor on Linux, and the data is fsynced. */
    if (e != 0 && errno != EINTR)
        goto fail_tmp;

    what = "cannot move to new/";
    if (move_to_new(fds[0], fds[1], name, &linked) != 0) {
        if (errno == EEXIST) {
            /* Checked above, so another worker delivered the same key at
             * the same moment: that copy stands. */
            unlinkat(fds[0], name, 0);
            rc = 0;
            goto out;
        }
        goto fail_tmp;
    }
    if (fs_fsync_dirfd(fds[1]) != 0) {
        /* The entry may not be durable, yet a retry would find it and
         * report success: take it back so the retry writes it again. */
        fail_errno(errno, maildir_root, "cannot fsync new/", temporary, err, errlen);
        unlinkat(fds[1], name, 0);
        if (linked)
            unlinkat(fds[0], name, 0);
        goto out;
    }
    /* Delivered. A tmp file left by a failure here is harmless: a retry
     * never happens (success was reported) and readers clean old files out
     * of tmp/ (Dovecot after 36 hours). */
    if (linked && unlinkat(fds[0], name, 0) != 0)
        log_warn("maildir %s: cannot remove tmp/%s", maildir_root, name);
    if (fs_fsync_dirfd(fds[0]) != 0)
        log_warn("maildir %s: cannot fsync tmp/", maildir_root);
    rc = 0;
    goto out;

fail_tmp:
    e = errno;
    if (w == NULL)
        w = xasprintf("%s tmp/%s", what, name);
    fail_errno(e, maildir_root, w, temporary, err, errlen);
    if (fd >= 0)
        close(fd);
    fd = -1;
    unlinkat(fds[0], name, 0);
out:
    free(w);
    free(head);
    if (fd >= 0)
        close(fd);
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (rootfd >= 0)
        close(rootfd);
    return rc;
}
