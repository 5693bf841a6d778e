/*
 * log_retention.c — see log_retention.h.
 */
#include "logs/log_retention.h"
#include "lib/log.h"
#include "lib/util.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The UTC day in "<prefix>yyyymmdd-N.log" as the time its day ends;
 * false when name is anything else. */
static bool
day_end_of(const char *name, const char *prefix, time_t *end)
{
    size_t plen = strlen(prefix);
    const char *p = name + plen;
    struct tm tm;
    int y, m, d;

    if (strncmp(name, prefix, plen) != 0)
        return false;
    for (int i = 0; i < 8; i++)
        if (!isdigit((unsigned char)p[i]))
            return false;
    if (p[8] != '-' || !isdigit((unsigned char)p[9]))
        return false;
    for (p += 9; isdigit((unsigned char)*p); p++)
        ;
    if (strcmp(p, ".log") != 0)
        return false;
    p = name + plen;
    y = (p[0] - '0') * 1000 + (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
    m = (p[4] - '0') * 10 + (p[5] - '0');
    d = (p[6] - '0') * 10 + (p[7] - '0');
    if (m < 1 || m > 12 || d < 1 || d > 31)
        return false;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d + 1; /* the next day's midnight: the end of this one */
    *end = timegm(&tm);
    return *end != (time_t)-1;
}

size_t
log_retention_sweep(const char *logs_dir, const struct csvlog_spec *spec, uint64_t max_age,
                    time_t now)
{
    char *path;
    int dfd;
    DIR *dir;
    struct dirent *de;
    size_t removed = 0;

    if (max_age == 0)
        return 0;
    path = xasprintf("%s/%s", logs_dir, spec->subdir);
    dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0 || (dir = fdopendir(dfd)) == NULL) {
        if (dfd >= 0)
            close(dfd);
        free(path);
        return 0; /* nothing logged there yet */
    }
    while ((de = readdir(dir)) != NULL) {
        struct stat st;
        time_t end;

        if (!day_end_of(de->d_name, spec->prefix, &end) || (uint64_t)(now - end) <= max_age ||
            now < end)
            continue;
        if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (unlinkat(dfd, de->d_name, 0) == 0)
            removed++;
        else
            log_warn("%s: cannot delete %s/%s", spec->what, path, de->d_name);
    }
    closedir(dir);
    if (removed > 0)
        log_info("%s: deleted %zu file(s) older than %.1f day(s) from %s", spec->what, removed,
                 (double)max_age / 86400, path);
    free(path);
    return removed;
}
