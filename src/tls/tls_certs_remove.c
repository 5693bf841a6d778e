/*
 * tls_certs_remove.c — Remove-ExchangeCertificate (tls_certs.h): the files
 * of a stored certificate, or of a pending request.
 *
 * Must never: remove a certificate's key before the certificate (an
 * interrupted removal may leave an orphaned key, which the loader ignores,
 * never a certificate without its key).
 */
#include "tls/tls_certs_int.h"
#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
tls_certs_remove(const char *certdir, const char *thumbprint, char *err, size_t errlen)
{
    char *pem = xasprintf("%s/%s.pem", certdir, thumbprint);
    char *key = xasprintf("%s/%s.key", certdir, thumbprint);
    char *dir = xasprintf("%s/requests", certdir);
    char *rkey = xasprintf("%s/%s.key", dir, thumbprint);
    char *rreq = xasprintf("%s/%s.req", dir, thumbprint);
    int lockfd, rc = -1;

    errorf(err, errlen, "%s", "");
    if ((lockfd = tls_lock_store(certdir, err, errlen)) < 0)
        goto out;
    if (tls_file_exists(pem) || tls_file_exists(key)) {
        /* The marker first and the key last: an interrupted removal
         * leaves at worst an orphaned key, which the loader ignores. */
        tls_unlink_in(certdir, thumbprint, ".smtp");
        tls_unlink_in(certdir, thumbprint, ".pem");
        tls_unlink_in(certdir, thumbprint, ".key");
        tls_sync_dir(certdir);
        rc = tls_file_exists(pem) || tls_file_exists(key) ? -1 : 0;
    } else if (tls_file_exists(rkey) || tls_file_exists(rreq)) {
        tls_unlink_in(dir, thumbprint, ".req");
        tls_unlink_in(dir, thumbprint, ".key");
        tls_sync_dir(dir);
        rc = tls_file_exists(rkey) || tls_file_exists(rreq) ? -1 : 0;
    } else {
        errorf(err, errlen, "no certificate with thumbprint %s in the store", thumbprint);
        goto out;
    }
    if (rc != 0)
        errorf(err, errlen, "cannot remove the files of %s: %s", thumbprint, strerror(errno));
out:
    if (lockfd >= 0)
        close(lockfd);
    free(pem);
    free(key);
    free(dir);
    free(rkey);
    free(rreq);
    return rc;
}
