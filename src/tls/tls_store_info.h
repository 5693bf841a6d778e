/*
 * tls_store_info.h — what the running service may say about the
 * certificates of its store without OpenSSL's types: thumbprint, subject
 * and expiry of each (for postern_certificate_expiry_timestamp_seconds,
 * docs/metrics.md).
 * Must never: hand out key material or anything that could identify a
 * private key beyond its certificate's thumbprint.
 */
#ifndef POSTERN_TLS_STORE_INFO_H
#define POSTERN_TLS_STORE_INFO_H

#include <time.h>

struct tls_store;

struct tls_store_cert {
    const char *thumbprint; /* upper-case hex SHA-1 of the certificate */
    const char *subject;    /* "CN=mail.contoso.com, O=Contoso", as Get-ExchangeCertificate */
    time_t not_after;
};

/* Calls fn once per certificate of store, in the store's order; the info
 * lasts for the call only. */
void tls_store_each_cert(const struct tls_store *store,
                         void (*fn)(void *arg, const struct tls_store_cert *sc), void *arg);

#endif
