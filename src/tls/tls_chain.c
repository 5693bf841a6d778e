/*
 * tls_chain.c — the chain of an imported certificate: the issuers of the
 * leaf among a bundle's certificates, in issuer order, without the
 * self-signed root (a peer trusts its own copy or none).
 *
 * Must never: put a certificate in the chain whose signature over the one
 * below it does not verify.
 */
#include "tls/tls_certs_int.h"
#include "lib/log.h"
#include "lib/util.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <stdlib.h>

bool
tls_self_signed(X509 *x)
{
    bool ss = X509_self_signed(x, 1) == 1;

    ERR_clear_error();
    return ss;
}

STACK_OF(X509) * tls_order_chain(X509 *leaf, STACK_OF(X509) * pool, int *unused)
{
    int n = sk_X509_num(pool);
    bool *taken = xcalloc((size_t)(n > 0 ? n : 1), sizeof(bool));
    STACK_OF(X509) *chain = sk_X509_new_null();
    X509 *cur = leaf;

    if (chain == NULL)
        fatalx("tls: out of memory");
    for (int i = 0; i < n; i++)
        taken[i] = X509_cmp(sk_X509_value(pool, i), leaf) == 0;
    while (!tls_self_signed(cur)) {
        int found = -1;
        for (int i = 0; i < n && found < 0; i++) {
            X509 *cand = sk_X509_value(pool, i);
            if (!taken[i] && X509_check_issued(cand, cur) == X509_V_OK &&
                X509_verify(cur, X509_get0_pubkey(cand)) == 1)
                found = i;
        }
        ERR_clear_error();
        if (found < 0)
            break;
        taken[found] = true;
        cur = sk_X509_value(pool, found);
        if (tls_self_signed(cur))
            break; /* the root: peers have their own copy if they trust it */
        if (X509_up_ref(cur) != 1 || sk_X509_push(chain, cur) <= 0)
            fatalx("tls: out of memory");
    }
    *unused = 0;
    for (int i = 0; i < n; i++)
        *unused += !taken[i];
    free(taken);
    return chain;
}
