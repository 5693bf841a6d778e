/*
 * setup.c — see setup.h.
 */
#include "admin/setup.h"
#include "config/config.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/user_reach.h"
#include "lib/util.h"
#include "tls/tls.h"
#include "tls/tls_certs.h"

#include <errno.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Exchange 2010's self-signed certificate lasts five years. */
#define SETUP_CERT_YEARS 5

void
setup_default_fqdn(char *buf, size_t len)
{
    struct addrinfo hints = {.ai_flags = AI_CANONNAME}, *ai = NULL;
    char host[256];

    if (gethostname(host, sizeof(host)) < 0)
        strlcpy_p(host, "localhost", sizeof(host));
    host[sizeof(host) - 1] = '\0';
    if (strchr(host, '.') == NULL && getaddrinfo(host, NULL, &hints, &ai) == 0 && ai &&
        ai->ai_canonname && strchr(ai->ai_canonname, '.'))
        strlcpy_p(host, ai->ai_canonname, sizeof(host));
    if (ai)
        freeaddrinfo(ai);
    str_lower(host);
    strlcpy_p(buf, host, len);
}

int
setup_instance(const char *dir, const char *fqdn, const struct binding *bindings, size_t nbindings)
{
    static const char *const subdirs[] = {"certs", "queue", "logs", "mail", "run"};
    char *conf = xasprintf("%s/postern.conf", dir), err[512], thumbprint[41];
    struct config *cfg = NULL;
    struct passwd *pw;
    struct stat st;
    int rc = -1;

    if (stat(conf, &st) == 0) {
        fprintf(stderr, "postern: %s already holds an instance (%s exists)\n", dir, conf);
        goto out;
    }
    cfg = config_default(fqdn, bindings, nbindings);
    /* Root makes it for the service user, who must be able to get in. */
    if (geteuid() == 0 && cfg->transport.service_user &&
        (pw = getpwnam(cfg->transport.service_user)) != NULL &&
        user_reach_check(dir, pw->pw_name, pw->pw_uid, pw->pw_gid, false, err, sizeof(err)) < 0) {
        fprintf(stderr, "postern: %s\n", err);
        goto out;
    }
    if (fs_mkdir(dir, 0755) < 0) {
        fprintf(stderr, "postern: cannot create %s: %s\n", dir, strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
        char *path = xasprintf("%s/%s", dir, subdirs[i]);
        int r = fs_mkdir(path, 0700);
        free(path);
        if (r < 0) {
            fprintf(stderr, "postern: cannot create %s/%s: %s\n", dir, subdirs[i], strerror(errno));
            goto out;
        }
    }
    if (config_validate(cfg, err, sizeof(err)) < 0 ||
        config_save(cfg, conf, err, sizeof(err)) < 0) {
        fprintf(stderr, "postern: %s\n", err);
        goto out;
    }
    {
        char *certdir = xasprintf("%s/certs", dir);
        int r = tls_create_selfsigned(certdir, fqdn, NULL, SETUP_CERT_YEARS, thumbprint, err,
                                      sizeof(err));
        /* As Exchange's Setup: the self-signed certificate serves SMTP. */
        if (r == 0)
            r = tls_certs_enable_smtp(certdir, thumbprint, err, sizeof(err));
        free(certdir);
        if (r < 0) {
            fprintf(stderr, "postern: self-signed certificate: %s\n", err);
            goto out;
        }
    }
    /* The service user will own the instance; give it now when we can. */
    if (geteuid() == 0 && cfg->transport.service_user &&
        (pw = getpwnam(cfg->transport.service_user)) != NULL)
        (void)fs_chown_tree(dir, pw->pw_uid, pw->pw_gid);
    printf("Instance created in %s\n", dir);
    printf("  Fqdn:        %s\n", fqdn);
    printf("  Certificate: %s (self-signed, %d years)\n", thumbprint, SETUP_CERT_YEARS);
    for (size_t i = 0; i < cfg->nreceive_connectors; i++) {
        char b[80];
        printf("  Receive connector \"%s\":", cfg->receive_connectors[i].name);
        for (size_t j = 0; j < cfg->receive_connectors[i].nbindings; j++) {
            binding_format(&cfg->receive_connectors[i].bindings[j], b, sizeof(b));
            printf(" %s", b);
        }
        printf("\n");
    }
    printf("No accepted domain yet: add one with New-AcceptedDomain -DomainName <domain>.\n");
    rc = 0;
out:
    config_unref(cfg);
    free(conf);
    return rc;
}
