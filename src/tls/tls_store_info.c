/*
 * tls_store_info.c — see tls_store_info.h.
 */
#include "tls/tls_store_info.h"
#include "tls/tls_certs_int.h"

#include <stdlib.h>

void
tls_store_each_cert(const struct tls_store *store,
                    void (*fn)(void *arg, const struct tls_store_cert *sc), void *arg)
{
    if (store == NULL)
        return;
    for (size_t i = 0; i < store->ncerts; i++) {
        const struct tls_cert *c = &store->certs[i];
        char *subject =
            tls_dn_text(X509_get_subject_name(c->leaf)); /* control characters escaped */
        struct tls_store_cert sc = {c->thumbprint, subject, c->not_after};

        fn(arg, &sc);
        free(subject);
    }
}
