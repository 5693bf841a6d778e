/*
 * tls_smtp_marker.c — the <T>.smtp marker that Enable-ExchangeCertificate
 * -Services SMTP leaves (and New-ExchangeCertificate, for a certificate it
 * enables at once). The runtime store reads it at each load
 * (tls_store_load), Get-ExchangeCertificate to show it; it lives below
 * both so that the store the service runs never calls the cmdlet back end.
 *
 * Must never: decide whether a certificate may serve SMTP: the marker only
 * records the administrator's choice; the cmdlet checks it, selection
 * checks the certificate.
 */
#include "tls/tls_certs_int.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int
tls_write_smtp_marker(const char *certdir, const char *thumbprint, const struct tls_owner *o,
                      char *err, size_t errlen)
{
    char *name = xasprintf("%s.smtp", thumbprint);
    int rc = tls_write_file_atomic(certdir, name, "SMTP\n", 5, 0644, true, o, err, errlen);

    free(name);
    return rc;
}

bool
tls_certs_smtp_enabled(const char *certdir, const char *thumbprint)
{
    char path[4096];
    int n;

    if (certdir == NULL || thumbprint == NULL)
        return false;
    n = snprintf(path, sizeof(path), "%s/%s.smtp", certdir, thumbprint);
    return n > 0 && (size_t)n < sizeof(path) && access(path, F_OK) == 0;
}
