/*
 * mtasts_cache.c — DIR/mta-sts/<domain> files (see mtasts_cache.h).
 *
 * A lost or torn file only costs a fetch, yet each is written atomically
 * (a temporary file renamed over it) so that a reader never sees half a
 * policy.
 */
#include "delivery/mtasts_cache.h"
#include "lib/fsutil.h"
#include "lib/util.h"
#include "net/dns_name.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* DIR/mta-sts/<domain> for a valid domain name, lower case; false else. */
static bool
cache_path(const char *instance_dir, const char *domain, char *out, size_t outlen)
{
    char name[DNS_NAME_MAX + 2];

    if (domain == NULL || !dns_name_without_root(domain, name) || !dns_name_valid(name, false))
        return false;
    str_lower(name);
    return (size_t)snprintf(out, outlen, "%s/%s/%s", instance_dir, MTASTS_CACHE_DIR, name) < outlen;
}

struct mtasts_policy *
mtasts_cache_get(const char *instance_dir, const char *domain)
{
    struct mtasts_policy *p;
    char path[4096], *text;
    size_t len = 0;

    if (!cache_path(instance_dir, domain, path, sizeof(path)) ||
        (text = file_read(path, &len)) == NULL)
        return NULL;
    p = xcalloc(1, sizeof(*p));
    if (mtasts_policy_load(text, len, p, NULL, 0) < 0) {
        free(p);
        p = NULL;
    }
    free(text);
    return p;
}

void
mtasts_cache_free(struct mtasts_policy *p)
{
    if (p != NULL) {
        mtasts_policy_free(p);
        free(p);
    }
}

int
mtasts_cache_put(const char *instance_dir, const char *domain, const char *text, char *err,
                 size_t errlen)
{
    struct mtasts_policy check;
    struct fs_atomic w = {.mode = 0600, .replace = true, .sync_dir = false};
    char path[4096], dir[4096];

    if (!cache_path(instance_dir, domain, path, sizeof(path))) {
        errorf(err, errlen, "\"%s\" is not a domain name", domain ? domain : "");
        return -1;
    }
    if (mtasts_policy_load(text, strlen(text), &check, err, errlen) < 0)
        return -1;
    mtasts_policy_free(&check);
    snprintf(dir, sizeof(dir), "%s/%s", instance_dir, MTASTS_CACHE_DIR);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        errorf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    if (fs_write_atomic(path, text, strlen(text), &w) < 0) {
        errorf(err, errlen, "cannot write %s (%s): %s", path, w.step, strerror(errno));
        return -1;
    }
    return 0;
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **
mtasts_cache_domains(const char *instance_dir)
{
    char dir[4096];
    char **out = xcalloc(1, sizeof(*out));
    size_t n = 0;
    struct dirent *e;
    DIR *d;

    snprintf(dir, sizeof(dir), "%s/%s", instance_dir, MTASTS_CACHE_DIR);
    if ((d = opendir(dir)) == NULL)
        return out;
    while ((e = readdir(d)) != NULL) {
        /* temporary files start with a dot; names are domain names */
        if (e->d_name[0] == '.' || !dns_name_valid(e->d_name, false))
            continue;
        out = xrealloc(out, (n + 2) * sizeof(*out));
        out[n++] = xstrdup(e->d_name);
        out[n] = NULL;
    }
    closedir(d);
    qsort(out, n, sizeof(*out), name_cmp);
    return out;
}

int
mtasts_cache_clear(const char *instance_dir, const char *domain, char *err, size_t errlen)
{
    char path[4096];
    int gone = 0;

    if (domain != NULL) {
        if (!cache_path(instance_dir, domain, path, sizeof(path))) {
            errorf(err, errlen, "\"%s\" is not a domain name", domain);
            return -1;
        }
        if (unlink(path) == 0)
            return 1;
        if (errno == ENOENT)
            return 0;
        errorf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
        return -1;
    }
    char **all = mtasts_cache_domains(instance_dir);
    for (size_t i = 0; all[i] != NULL; i++) {
        int r = mtasts_cache_clear(instance_dir, all[i], err, errlen);
        if (r < 0) {
            gone = -1;
            break;
        }
        gone += r;
    }
    for (size_t i = 0; all[i] != NULL; i++)
        free(all[i]);
    free(all);
    return gone;
}
