/*
 * tls_int.h — internals shared by the files of src/tls (tls.c: creation,
 * the store, server contexts; tls_client.c: trust anchors, client
 * contexts, peer checks; tls_certs_*.c: the certificate cmdlets' side, on
 * the layers of tls_certs_int.h), and the helpers they would otherwise
 * each write again: messages, names, thumbprints, and the durable writes
 * of the store's files. Nothing outside src/tls may include it.
 *
 * Must never: be included outside src/tls (it pulls in OpenSSL headers,
 * which only src/tls may see).
 */
#ifndef POSTERN_TLS_INT_H
#define POSTERN_TLS_INT_H

#include "tls/tls.h"
#include "lib/log.h"
#include "net/dns_name.h" /* DNS_NAME_MAX, dns_name_valid */

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
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
    enum tls_profile profile; /* of every context built from now on */
    /* The system's CAs (tls_system_trust.c), roots and CRLs in one
     * X509_STORE shared by all the store's contexts, built with the first
     * of them (tls_trust_apply, under lock): a store that never makes a
     * context (a cmdlet's) never reads the system's CAs. */
    struct tls_shared_trust *trust;
};

struct tls_shared_trust {
    X509_STORE *xs; /* NULL until the first context */
};

/*
 * What a store is built from (tls_store_build.c): the public material of a
 * certificate directory, read from the directory (tls_store_src.c) or
 * decoded from a public bundle (tls_pubbundle.c), never trusted beyond
 * what tls_store_build.c checks.
 */

struct tls_src_cert {
    char *file; /* the .pem file's name in the directory, for messages */
    X509 *leaf;
    STACK_OF(X509) * chain;
    enum key_state key_state;        /* of its .key file */
    char key_id[THUMBPRINT_LEN + 1]; /* the thumbprint when KEY_OK, else "" */
    bool smtp_enabled;               /* its <thumbprint>.smtp marker */
    EVP_PKEY *key;                   /* read_dir with keep_keys only; never encoded */
};

struct tls_src {
    char *certdir; /* for messages */
    struct tls_src_cert *certs;
    size_t ncerts;
    STACK_OF(X509) * roots;
    STACK_OF(X509_CRL) * crls;
};

/* tls_store_src.c: reads certdir's certificate files (sorted by name),
 * their keys (kept in src only with keep_keys; checked against the
 * certificate either way), SMTP markers, root/ and crl/. Unreadable or
 * damaged files are logged and left out. 0, or -1 with err set when
 * certdir cannot be read. Free src with tls_src_free either way. */
int tls_src_read_dir(struct tls_src *src, const char *certdir, bool keep_keys, char *err,
                     size_t errlen);
void tls_src_free(struct tls_src *src);

/* tls_pubbundle.c: src as a public bundle (never a key): a malloc'd,
 * NUL-terminated text of *len bytes. */
char *tls_src_encode(const struct tls_src *src, size_t *len);
/* tls_pubbundle.c: a public bundle back into src (every key NULL). 0, or
 * -1 with the reason in err; free src with tls_src_free either way. */
int tls_src_decode(struct tls_src *src, const char *blob, size_t len, char *err, size_t errlen);

/* tls_system_trust.c: a new X509_STORE with the system's CAs and CRLs
 * (read on first use unless tls_system_trust_load did), the store's roots
 * and CRLs and its CRL flags (tls_trust_add). NULL with an OpenSSL error
 * queued. */
X509_STORE *tls_trust_store_new(const struct tls_store *store);

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

/* tls.c: a context for method with what every context of postern has:
 * the protocols and suites of the store's profile, no compression, no
 * renegotiation, no complaint about a missing close_notify, record buffers
 * released while idle, the store's trust (tls_trust_apply); and
 * extra_options (SSL_OP_*), and c's
 * certificate, key (checked) and chain when c is not NULL. NULL with an
 * OpenSSL error queued. */
SSL_CTX *tls_ctx_new(const struct tls_store *store, const SSL_METHOD *method,
                     uint64_t extra_options, const struct tls_cert *c);
/* tls.c: frees ctx (may be NULL) and says in why that it could not be set
 * up: "certificate <thumbprint>: cannot set up a <what>: <OpenSSL error>",
 * without the certificate when c is NULL. Returns NULL. */
SSL_CTX *tls_ctx_fail(SSL_CTX *ctx, const struct tls_cert *c, const char *what, char *why,
                      size_t whylen);

/* tls_client.c: frees the client side of a store (its client contexts,
 * roots, CRLs and trust store). */
void tls_client_free(struct tls_store *store);

/* tls_client.c: gives ctx the store's trust (store->trust: the system's
 * CAs, the store's roots and CRLs, with CRL checking when there are any),
 * building it for the first context. Also for a server context that
 * verifies client certificates. Call with store->lock held. 0, or -1 with
 * an OpenSSL error queued. */
int tls_trust_apply(const struct tls_store *store, SSL_CTX *ctx);

/* tls_client.c: the verify callback of every context that checks peers.
 * It lets the handshake go on whatever the chain (the decision is
 * tls_peer_check's), keeps the first error as the verify result, and does
 * not count a CA that has no CRL in <certdir>/crl as an error. */
int tls_verify_continue(int ok, X509_STORE_CTX *xctx);

/* A certificate name on one line, RFC 2253 order ("CN=mx.example,O=Example"),
 * control characters escaped (a hostile certificate cannot forge log lines). */
void tls_dn_line(const X509_NAME *name, char *out, size_t outlen);

/* tls_client.c: does verify result vr say that the chain leads to no
 * trusted root (rather than that a certificate is broken)? */
bool tls_verify_untrusted(long vr);

/* tls_client.c: adds the store's roots and CRLs (with CRL checking when
 * there are any) to xs; the system default paths are the caller's. 0, or
 * -1 with an OpenSSL error queued. */
int tls_trust_add(const struct tls_store *store, X509_STORE *xs);

/*
 * Helpers (tls.c)
 */

/* Appends to what buf already holds, after sep when it holds something
 * (reasons: "; "; warnings, which a cmdlet prints one per line: "\n"). */
void tls_appendmsg(char *buf, size_t len, const char *sep, const char *fmt, ...) PRINTF_LIKE(4, 5);

/* Reads up to size bytes of fd into buf, going on after EINTR and short
 * reads. The count read: less than size at end of file or on an error. */
size_t tls_read_full(int fd, void *buf, size_t size);

/* A pem_password_cb that never asks: the default one would read the
 * terminal, which a daemon does not have and a cmdlet may run without. */
int tls_no_passphrase(char *buf, int size, int rwflag, void *u);

/* md[0..n) as upper-case hex into out (2 * n + 1 bytes). */
void tls_hex_upper(const unsigned char *md, size_t n, char *out);

/* Exchange's thumbprint: upper-case hex SHA-1 of the certificate's DER.
 * 0, or -1. */
int tls_thumbprint_of(const X509 *x, char out[THUMBPRINT_LEN + 1]);

/* 0, or -1 for a missing or unreadable time. */
int tls_asn1_time_to_time_t(const ASN1_TIME *at, time_t *out);

/* RFC 6125 6.4: case-insensitive; "*" only as the whole left-most label,
 * standing for exactly one non-empty label, and never directly above a
 * single label ("*.com"). host has no trailing dot. */
bool tls_name_matches(const char *pattern, const char *host);

/* scandir filter: "*.pem", without dot files (the temporaries of
 * tls_write_cert_pair and the other writes of the store, editor debris). */
int tls_pem_filter(const struct dirent *d);

/*
 * Writing the store: what tls_create_selfsigned and the store's loader
 * (tls.c) use of the layers beneath the cmdlet back end (tls_files.c,
 * tls_pem_io.c, tls_build.c, tls_smtp_marker.c); the rest of those layers
 * is declared in tls_certs_int.h.
 */

/* Who new files belong to (set: chown them to uid:gid). */
struct tls_owner {
    bool set;
    uid_t uid;
    gid_t gid;
};

/* A certificate of the store: its key as dir/<thumbprint>.key (PEM, mode
 * 0600, held only in memory that is cleansed when freed), then leaf and
 * chain (may be NULL) as dir/<thumbprint>.pem (0644). Each file is written
 * to a temporary file in dir (".<name>.<pid>.<random>.tmp", skipped by the
 * loaders), fsynced, then renamed into place, never replacing an existing
 * file ("... already exists"); o (may be NULL) gives them away. Key first:
 * a .pem without its key would be a certificate the store can never use,
 * whereas an orphaned .key is merely ignored; the key is removed again when
 * the certificate cannot be written. 0, or -1 with the reason in err. The
 * renames are durable after tls_sync_dir(dir). */
int tls_write_cert_pair(const char *dir, const char *thumbprint, EVP_PKEY *key, X509 *leaf,
                        STACK_OF(X509) * chain, const struct tls_owner *o, char *err,
                        size_t errlen);
/* fsync of a directory: makes renames and unlinks in it durable. */
void tls_sync_dir(const char *dir);

/* Is <certdir>/<thumbprint>.smtp (Enable-ExchangeCertificate -Services
 * SMTP) present? Read when the store loads; the service reloads the store
 * whenever a file in certs/ changes. */
bool tls_certs_smtp_enabled(const char *certdir, const char *thumbprint);

/* A self-signed TLS server and client certificate for names (the SAN DNS
 * names) with subject as subject and issuer, valid from an hour ago for
 * years calendar years, signed with pkey (SHA-256). NULL with an OpenSSL
 * error queued. */
X509 *tls_build_selfsigned(EVP_PKEY *pkey, const X509_NAME *subject, const char *const *names,
                           size_t nnames, int years);

#endif
