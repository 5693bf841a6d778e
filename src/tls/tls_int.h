/*
 * tls_int.h — internals shared by the files of src/tls (tls.c: creation,
 * the store, server contexts; tls_client.c: trust anchors, client
 * contexts, peer checks). Nothing outside src/tls may include it.
 *
 * Must never: be included outside src/tls (it pulls in OpenSSL headers,
 * which only src/tls may see).
 */
#ifndef POSTERN_TLS_INT_H
#define POSTERN_TLS_INT_H

#include "tls/tls.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define THUMBPRINT_LEN 40

enum key_state {
    KEY_NONE,       /* no .key file */
    KEY_UNREADABLE, /* .key exists but could not be parsed */
    KEY_MISMATCH,   /* parsed, but not the certificate's key */
    KEY_OK,
};

struct tls_cert {
    char thumbprint[THUMBPRINT_LEN + 1];
    X509 *leaf;
    STACK_OF(X509) * chain; /* intermediates sent after the leaf */
    EVP_PKEY *key;          /* NULL unless key_state == KEY_OK */
    enum key_state key_state;
    char **names; /* lower-cased subject CNs and SAN dNSNames */
    size_t nnames;
    time_t not_before;
    time_t not_after;
    bool self_signed;
    bool server_auth;
    bool client_auth;
    bool smtp_enabled; /* Enable-ExchangeCertificate -Services SMTP */
    SSL_CTX *ctx;      /* server context, built on first selection, then shared */
};

/* A client context and the name whose certificate it presents (NULL: the
 * one that presents none). */
struct tls_client_ctx {
    char *fqdn;
    SSL_CTX *ctx;
};

struct tls_store {
    /* Sessions on several threads may ask for a context at once; the lock
     * makes the lazy construction happen exactly once per certificate (and
     * per client name). */
    pthread_mutex_t lock;
    struct tls_cert *certs;
    size_t ncerts;
    char *certdir;
    /* Trust anchors from the .pem files of <certdir>/root and CRLs from
     * those of <certdir>/crl, read once at load time. */
    STACK_OF(X509) * roots;
    STACK_OF(X509_CRL) * crls;
    struct tls_client_ctx *client_ctxs;
    size_t nclient_ctxs;
};

/* What a selected certificate is for: the EKU it needs (or no EKU). */
enum tls_purpose {
    TLS_PURPOSE_SERVER,
    TLS_PURPOSE_CLIENT,
};

/* tls.c: the certificate selection tls_store_server_ctx documents, for
 * either purpose. host is lower-case or not, without a trailing dot. Call
 * with store->lock held. NULL with the reasons in why when none is usable. */
struct tls_cert *tls_select_cert(struct tls_store *store, const char *host,
                                 enum tls_purpose purpose, char *why, size_t whylen);

/* tls_client.c: reads <certdir>/root and <certdir>/crl into the store
 * (missing directories are empty; broken files are skipped with a warning)
 * and frees the client side of a store. */
void tls_trust_load(struct tls_store *store);
void tls_client_free(struct tls_store *store);

/* tls_client.c: adds the system default trust paths, the store's roots and
 * CRLs (with CRL checking when there are any) to ctx's X509_STORE. Also
 * for a server context that verifies client certificates. 0, or -1 with an
 * OpenSSL error queued. */
int tls_trust_apply(const struct tls_store *store, SSL_CTX *ctx);

/* tls_client.c: the verify callback of every context that checks peers.
 * It lets the handshake go on whatever the chain (the decision is
 * tls_peer_check's), keeps the first error as the verify result, and does
 * not count a CA that has no CRL in <certdir>/crl as an error. */
int tls_verify_continue(int ok, X509_STORE_CTX *xctx);

#endif
