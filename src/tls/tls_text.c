/*
 * tls_text.c — certificate fields as text for messages and listings: a
 * distinguished name as Exchange shows it, dates in ISO 8601 UTC.
 *
 * Must never: pass a control character from a certificate through (a
 * hostile certificate must not forge lines of a cmdlet's output).
 */
#include "tls/tls_certs_int.h"
#include "lib/log.h"
#include "lib/util.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include <time.h>

#define DN_TEXT_MAX 1024

/* Control characters are escaped so that a hostile certificate cannot
 * forge output lines; UTF-8 stays readable. */
char *
tls_dn_text(const X509_NAME *name)
{
    BIO *bio = BIO_new(BIO_s_mem());
    unsigned long flags = ((XN_FLAG_RFC2253 & ~XN_FLAG_SEP_MASK) | XN_FLAG_SEP_CPLUS_SPC) &
                          ~(unsigned long)ASN1_STRFLGS_ESC_MSB;
    char *data = NULL, *out;
    long n;

    if (bio == NULL)
        fatalx("tls: out of memory");
    if (X509_NAME_print_ex(bio, name, 0, flags) >= 0 && (n = BIO_get_mem_data(bio, &data)) > 0)
        out = xstrndup(data, (size_t)n < DN_TEXT_MAX ? (size_t)n : DN_TEXT_MAX);
    else
        out = xstrdup("");
    BIO_free(bio);
    ERR_clear_error();
    return out;
}

void
tls_iso_time(time_t t, char *buf, size_t len)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        strlcpy_p(buf, "an unknown date", len);
}

void
tls_asn1_iso_time(const ASN1_TIME *at, char *buf, size_t len)
{
    time_t t;

    if (tls_asn1_time_to_time_t(at, &t) != 0)
        strlcpy_p(buf, "an unknown date", len);
    else
        tls_iso_time(t, buf, len);
}
