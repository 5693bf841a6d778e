/*
 * receive_metrics.c — see receive_metrics.h.
 */
#include "receive/receive_metrics.h"
#include "lib/metrics_catalog.h"
#include "tls/tls_store_info.h"

#include <stddef.h>
#include <string.h>

/* session_close's reasons (session.c, session_io.c), by their start, and
 * the result each is counted as; the rest is "other". */
static const struct {
    const char *prefix, *result;
} session_results[] = {
    {"QUIT", "quit"},
    {"client closed the connection", "disconnected"},
    {"connection error", "connection_error"},
    {"inactivity timeout", "timeout"},
    {"connection timeout", "timeout"},
    {"too many protocol errors", "protocol_errors"},
    {"too many failed logons", "logon_failures"},
    {"TLS negotiation failed", "tls_failed"},
    {"service stopping", "shutdown"},
    {"cannot start TLS", "error"},
    {"cannot send the STARTTLS reply", "error"},
    {"out of memory", "error"},
};

void
receive_metrics_session_end(const char *connector, const char *reason)
{
    const char *result = "other";

    for (size_t i = 0; i < sizeof(session_results) / sizeof(session_results[0]); i++)
        if (strncmp(reason, session_results[i].prefix, strlen(session_results[i].prefix)) == 0) {
            result = session_results[i].result;
            break;
        }
    metric_inc(MET_SMTP_SESSIONS, METRIC_L(connector, result));
}

static void
cert_expiry(void *arg, const struct tls_store_cert *sc)
{
    metric_set(MET_CERT_EXPIRY, METRIC_L(sc->thumbprint, sc->subject), (double)sc->not_after);
}

void
receive_metrics_certs(const struct tls_store *store)
{
    metric_clear(MET_CERT_EXPIRY);
    tls_store_each_cert(store, cert_expiry, NULL);
}
