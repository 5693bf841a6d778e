/*
 * check.c — see check.h.
 * Must never: write to the instance.
 */
#include "admin/check.h"
#include "config/config.h"
#include "config/config_warnings.h"
#include "lib/user_reach.h"
#include "lib/util.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
check_warning(void *arg, const char *text)
{
    fprintf(stderr, "postern: WARNING: %s\n", text);
}

int
check_instance(const char *dir)
{
    char *path = xasprintf("%s/postern.conf", dir), err[512];
    struct config *cfg = NULL;
    struct stat st;
    const char *user;
    int rc = 1;

    /* root reads as the instance's owner (main() took its effective uid),
     * who must be able to get in as run checks before it drops: name the
     * directory that stops it */
    if (getuid() == 0 && geteuid() != 0) {
        struct passwd *owner = getpwuid(geteuid());
        if (owner != NULL && user_reach_check(dir, owner->pw_name, owner->pw_uid, owner->pw_gid,
                                              false, err, sizeof(err)) < 0) {
            fprintf(stderr, "postern: %s\n", err);
            goto out;
        }
    }
    /* the common first-run mistake gets the fix, not just ENOENT */
    if (stat(path, &st) != 0 && errno == ENOENT) {
        fprintf(stderr,
                "postern: %s does not exist: create the instance with postern -D %s setup\n", path,
                dir);
        goto out;
    }
    if ((cfg = config_load(path, err, sizeof(err))) == NULL) {
        fprintf(stderr, "postern: %s\n", err);
        goto out;
    }
    config_warnings(cfg, check_warning, NULL);
    /* the real uid: main() already took the instance owner's effective one */
    user = cfg->transport.service_user;
    if (getuid() == 0 && (user == NULL || getpwnam(user) == NULL)) {
        fprintf(stderr,
                "postern: %s: ServiceUser \"%s\" does not exist: create it (useradd --system "
                "%s) or set it with Set-TransportConfig -ServiceUser\n",
                path, user ? user : "", user ? user : "postern");
        goto out;
    }
    printf("%s: configuration valid\n", path);
    rc = 0;
out:
    config_unref(cfg);
    free(path);
    return rc;
}
