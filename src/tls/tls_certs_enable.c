/*
 * tls_certs_enable.c — Enable-ExchangeCertificate -Services SMTP
 * (tls_certs.h): marks a stored certificate that can serve SMTP, which
 * selection then prefers.
 *
 * Must never: mark a pending request, a certificate without its matching
 * private key, or an expired one.
 */
#include "tls/tls_certs_int.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int
tls_certs_enable_smtp(const char *certdir, const char *thumbprint, char *err, size_t errlen)
{
    struct tls_store *store = NULL;
    struct tls_cert *c = NULL;
    struct tls_owner o;
    char date[64], *p;
    int lockfd, rc = -1;

    errorf(err, errlen, "%s", "");
    tls_owner_of(certdir, &o);
    if ((lockfd = tls_lock_store(certdir, err, errlen)) < 0)
        return -1;
    if ((store = tls_store_load(certdir, err, errlen)) == NULL)
        goto out;
    for (size_t i = 0; i < store->ncerts; i++)
        if (strcmp(store->certs[i].thumbprint, thumbprint) == 0)
            c = &store->certs[i];
    if (c == NULL) {
        p = xasprintf("%s/requests/%s.req", certdir, thumbprint);
        if (tls_file_exists(p))
            errorf(err, errlen,
                   "%s is a pending request: import the CA's certificate "
                   "(Import-ExchangeCertificate) first",
                   thumbprint);
        else
            errorf(err, errlen, "no certificate with thumbprint %s in the store", thumbprint);
        free(p);
        goto out;
    }
    if (c->key_state != KEY_OK) {
        errorf(err, errlen, "certificate %s %s: it cannot serve SMTP", thumbprint,
               c->key_state == KEY_NONE       ? "has no private key"
               : c->key_state == KEY_MISMATCH ? "has a private key that does not match it"
                                              : "has an unreadable private key");
        goto out;
    }
    if (time(NULL) > c->not_after) {
        tls_iso_time(c->not_after, date, sizeof(date));
        errorf(err, errlen, "certificate %s expired on %s", thumbprint, date);
        goto out;
    }
    if (tls_write_smtp_marker(certdir, thumbprint, &o, err, errlen) != 0)
        goto out;
    tls_sync_dir(certdir);
    rc = 0;
out:
    tls_store_free(store);
    close(lockfd);
    return rc;
}
