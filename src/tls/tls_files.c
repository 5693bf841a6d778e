/*
 * tls_files.c — the file operations every change of the certificate store
 * is made of: atomic writes through a temporary file and directory fsync
 * (both lib/fsutil's, worded for the store's messages here), the store's
 * lock, giving new files to the store's owner, and reading a file
 * into memory that is cleansed when freed. tls_create_selfsigned (tls.c)
 * writes through them too.
 *
 * Must never: parse what it reads or writes (tls_pem_io.c and tls_bundle.c
 * do), create a file through a symbolic link, replace an existing file
 * unless asked to, or leave a temporary file behind when it fails.
 */
#include "tls/tls_certs_int.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

#include <openssl/crypto.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void
tls_owner_of(const char *certdir, struct tls_owner *o)
{
    struct stat st;

    memset(o, 0, sizeof(*o));
    if (geteuid() == 0 && stat(certdir, &st) == 0 &&
        (st.st_uid != geteuid() || st.st_gid != getegid())) {
        o->set = true;
        o->uid = st.st_uid;
        o->gid = st.st_gid;
    }
}

int
tls_write_file_atomic(const char *dir, const char *name, const void *data, size_t len, mode_t mode,
                      bool replace, const struct tls_owner *o, char *err, size_t errlen)
{
    struct fs_atomic w = {.mode = mode, .replace = replace};
    char *final = xasprintf("%s/%s", dir, name);
    int rc;

    if (o != NULL && o->set) {
        w.chown = true;
        w.uid = o->uid;
        w.gid = o->gid;
    }
    rc = fs_write_atomic(final, data, len, &w);
    if (rc != 0 && strcmp(w.step, "create") == 0)
        errorf(err, errlen, "cannot create %s: %s", w.tmp[0] ? w.tmp : final, strerror(errno));
    else if (rc != 0 && strcmp(w.step, "rename") != 0)
        errorf(err, errlen, "cannot write %s: %s", w.tmp, strerror(errno));
    else if (rc != 0 && errno == EEXIST)
        errorf(err, errlen, "%s already exists", final);
    else if (rc != 0)
        errorf(err, errlen, "cannot rename %s to %s: %s", w.tmp, final, strerror(errno));
    free(final);
    return rc;
}

void
tls_sync_dir(const char *dir)
{
    if (fs_fsync_dir(dir) != 0 && errno != ENOENT)
        log_warn("fsync %s", dir);
}

int
tls_ensure_dir(const char *path, const struct tls_owner *o, char *err, size_t errlen)
{
    if (mkdir(path, 0700) == 0) {
        if (o->set && chown(path, o->uid, o->gid) != 0) {
            errorf(err, errlen, "cannot chown %s: %s", path, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (errno == EEXIST)
        return 0;
    errorf(err, errlen, "cannot create %s: %s", path, strerror(errno));
    return -1;
}

int
tls_lock_store(const char *certdir, char *err, size_t errlen)
{
    int fd = open(certdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0) {
        errorf(err, errlen, "cannot open certificate directory %s: %s", certdir, strerror(errno));
        return -1;
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            errorf(err, errlen, "cannot lock %s: %s", certdir, strerror(errno));
            close(fd);
            return -1;
        }
    }
    return fd;
}

bool
tls_file_exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

int
tls_read_secure(const char *path, size_t max, unsigned char **buf, size_t *len, char *err,
                size_t errlen)
{
    struct stat st;
    size_t size, got = 0;
    unsigned char *b;
    int fd;

    *buf = NULL;
    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errorf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        errorf(err, errlen, "%s is not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_size <= 0 || (size_t)st.st_size > max) {
        errorf(err, errlen, "%s is %s", path, st.st_size <= 0 ? "empty" : "too large");
        close(fd);
        return -1;
    }
    size = (size_t)st.st_size;
    b = OPENSSL_secure_malloc(size + 1);
    if (b == NULL)
        fatalx("tls: out of memory");
    got = tls_read_full(fd, b, size);
    close(fd);
    if (got != size) {
        errorf(err, errlen, "cannot read %s", path);
        OPENSSL_secure_clear_free(b, size + 1);
        return -1;
    }
    b[size] = '\0';
    *buf = b;
    *len = size;
    return 0;
}

void
tls_unlink_in(const char *dir, const char *thumbprint, const char *suffix)
{
    char *p = xasprintf("%s/%s%s", dir, thumbprint, suffix);

    if (unlink(p) != 0 && errno != ENOENT)
        log_warn("cannot remove %s", p);
    free(p);
}
