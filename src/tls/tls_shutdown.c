/*
 * tls_shutdown.c — see tls_shutdown.h.
 */
#include "tls/tls_shutdown.h"

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

void
tls_bufferevent_free(struct bufferevent *bev)
{
    SSL *ssl;

    if (bev == NULL)
        return;
    ssl = bufferevent_openssl_get_ssl(bev);
    if (ssl != NULL && SSL_is_init_finished(ssl) && !(SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN)) {
        /* The socket is non-blocking: the alert goes out now or never (a
         * peer that stopped reading has a full socket buffer), and the
         * peer's answering alert is not waited for. */
        (void)SSL_shutdown(ssl);
        ERR_clear_error();
    }
    bufferevent_free(bev);
}
