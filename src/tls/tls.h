/*
 * tls.h — certificates and TLS contexts. src/tls is the only place that
 * includes <openssl/...>; other modules see SSL objects as opaque
 * struct ssl_st pointers (as libevent's bufferevent_ssl.h does).
 *
 * Certificate store: DIR/certs/<THUMBPRINT>.pem holds one certificate and
 * its chain (PEM), DIR/certs/<THUMBPRINT>.key its private key (mode 0600).
 * The thumbprint is the upper-case hex SHA-1 of the certificate's DER, as
 * Exchange shows it.
 *
 * Must never: write a key with a mode other than 0600, or log key material.
 */
#ifndef POSTERN_TLS_H
#define POSTERN_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct ssl_st;
struct ssl_ctx_st;
struct tls_store;

/* Creates a self-signed certificate as Exchange's Setup does: RSA 2048,
 * subject CN=fqdn, SANs fqdn and short_name (the host part of the FQDN when
 * short_name is NULL), valid for `years` years, key usage for TLS server and
 * client. Writes both files into certdir. Returns 0, or -1 with err set. On
 * success thumbprint (41 bytes) receives the thumbprint. */
int tls_create_selfsigned(const char *certdir, const char *fqdn, const char *short_name, int years,
                          char *thumbprint, char *err, size_t errlen);

/* Loads every certificate of certdir into a new store (NULL on fatal error
 * with err set; unreadable or broken files are skipped with a warning).
 * Its contexts use TLS_PROFILE_INTERMEDIATE until tls_store_set_profile. */
struct tls_store *tls_store_load(const char *certdir, char *err, size_t errlen);
void tls_store_free(struct tls_store *store);

/*
 * The store as data, for a process that reads no file (the smtp process)
 * and holds no private key. The process that may read certdir (the keys
 * process) exports its public material as one text ("public bundle": the
 * format is described in tls_pubbundle.c); the other builds the same store
 * from it, with each private key coming from a factory. tls_store_load is
 * exactly tls_bundle_export followed by tls_store_load_bundle with a factory
 * that hands out the keys it read itself.
 */

/* Everything tls_store_load reads from certdir except private keys: each
 * certificate file's name, certificates (leaf, chain), whether it has a
 * usable key and that key's id (the certificate's thumbprint), its SMTP
 * marker, the roots of certdir/root and the CRLs of certdir/crl. Files that
 * cannot be read or parsed are logged and left out as tls_store_load does;
 * what the certificates hold is checked by tls_store_load_bundle. A
 * malloc'd NUL-terminated text of *len bytes, or NULL with err set (certdir
 * unreadable). */
char *tls_bundle_export(const char *certdir, size_t *len, char *err, size_t errlen);

/* OpenSSL's EVP_PKEY and X509, without their headers. */
struct evp_pkey_st;
struct x509_st;

/* The private key of leaf, whose thumbprint is key_id: a new reference the
 * store owns (and frees), usable for the private operations of a handshake
 * (a key whose operations are forwarded to the keys process will do), or
 * NULL when there is none (the certificate is then not used, as one with an
 * unreadable key file). */
typedef struct evp_pkey_st *tls_key_factory(void *arg, struct x509_st *leaf, const char *key_id);

/* The store tls_store_load would have built from the directory the blob was
 * exported from (same certificates, selection, checks, logs and reasons),
 * asking make_key for the key of each certificate that has one. The blob is
 * not trusted: anything malformed (truncated, altered, over a limit) fails
 * the whole load: NULL with the reason in err. */
struct tls_store *tls_store_load_bundle(const char *blob, size_t len, tls_key_factory *make_key,
                                        void *arg, char *err, size_t errlen);

/* The system's trusted CA certificates (OpenSSL's default file and
 * directory: $SSL_CERT_FILE and $SSL_CERT_DIR, else the ones OpenSSL was
 * built with, /usr/lib/ssl/cert.pem and /usr/lib/ssl/certs on Debian) are
 * read into memory once, when the first context is built or at this call,
 * and every context uses that copy: no file is looked up during a
 * handshake. A process that will lose access to files (chroot) calls this
 * before; calling it again reads them anew for stores loaded afterwards.
 * Returns the number of certificates read. */
int tls_system_trust_load(void);

/* The protocols and cipher suites every context of a store offers, server
 * (receive) and client (delivery) alike: TransportConfig TlsCipherProfile.
 * For opportunistic SMTP a failed handshake means clear text (RFC 7435),
 * so a stricter profile can make mail to and from old peers less private,
 * not more; COMPATIBLE is for gateways that must talk to them. */
enum tls_profile {
    /* TLS 1.2 and 1.3; for 1.2 only AEAD suites (AES-GCM, ChaCha20-Poly1305)
     * with ECDHE, or DHE with groups of 2048 bits or more (Mozilla's
     * "intermediate") */
    TLS_PROFILE_INTERMEDIATE,
    TLS_PROFILE_MODERN, /* TLS 1.3 only */
    /* TLS 1.0 and up with OpenSSL's default suites (CBC, static RSA) at
     * security level 0, still without anonymous, null, export, RC4 or 3DES
     * suites; level 0 also lets peer certificates with short keys or SHA-1
     * signatures pass tls_peer_check */
    TLS_PROFILE_COMPATIBLE,
};

/* Sets the profile of the contexts the store builds from now on. Call it
 * right after tls_store_load, before asking for a context: contexts
 * already built keep the profile they were built with (sessions hold
 * them). A configuration reload loads a new store, which is how a changed
 * profile takes effect. */
void tls_store_set_profile(struct tls_store *store, enum tls_profile profile);

/* Picks the certificate for a connector's FQDN as Exchange does: a
 * certificate whose Subject CN or SAN DNS names match fqdn (a wildcard
 * "*.example.com" matches one label, RFC 6125), usable for server
 * authentication (no EKU, or EKU serverAuth), private key present and
 * matching, within its validity dates; one enabled for SMTP
 * (Enable-ExchangeCertificate) first, then CA-issued over self-signed, then
 * the newest NotBefore. Returns a server SSL_CTX (the store's profile, owned
 * by the store, shared by every session using that certificate), or NULL with
 * the reason why none is usable in why. */
struct ssl_ctx_st *tls_store_server_ctx(struct tls_store *store, const char *fqdn, char *why,
                                        size_t whylen);

/* A new server-side SSL for one connection, or NULL. */
struct ssl_st *tls_ssl_new(struct ssl_ctx_st *ctx);

/* Domain security, server side: asks the client for a certificate without
 * failing the handshake when it sends none or a bad one (tls_peer_check
 * decides afterwards, with a reason). */
void tls_ssl_request_client_cert(struct ssl_st *ssl);

/* Frees an SSL that was never handed to a bufferevent. */
void tls_ssl_free(struct ssl_st *ssl);

/* "TLSv1.3" (SSL_get_version) and "TLS_AES_256_GCM_SHA384" for Received:
 * headers and logs; "none" for a NULL ssl. */
const char *tls_ssl_version(const struct ssl_st *ssl);
const char *tls_ssl_cipher(const struct ssl_st *ssl);
/* The key exchange group ("x25519", "secp256r1", "ffdhe2048"), or "none". */
const char *tls_ssl_group(struct ssl_st *ssl);

/* The first queued OpenSSL error (the root cause) as text for logs, or
 * "unknown error"; clears this thread's error queue. */
const char *tls_last_error(char *buf, size_t len);

/*
 * Client side (delivery). Trusted roots are the system store plus every
 * certificate (.pem) in <certdir>/root; CRLs (.pem) in <certdir>/crl are
 * checked when present. The client context does not fail the handshake on
 * an untrusted peer: opportunistic TLS must still encrypt. The caller asks
 * tls_peer_check after the handshake and decides per TlsAuthLevel.
 */

/* A client SSL_CTX (the store's profile), owned by the store. With client_fqdn the
 * certificate the store selects for that name is presented as a client
 * certificate (domain security); NULL presents none. Returns NULL with a
 * reason when client_fqdn has no usable certificate. */
struct ssl_ctx_st *tls_store_client_ctx(struct tls_store *store, const char *client_fqdn, char *why,
                                        size_t whylen);
/* Keeps a context alive beyond a store reload (a connection that will
 * start TLS later holds one), and gives it back. */
struct ssl_ctx_st *tls_ctx_ref(struct ssl_ctx_st *ctx);
void tls_ctx_unref(struct ssl_ctx_st *ctx);

/* A new client-side SSL with SNI set to sni (skipped for IP literals). */
struct ssl_st *tls_client_ssl_new(struct ssl_ctx_st *ctx, const char *sni);
/* For a client that must send nothing to a server whose certificate does
 * not check out (HTTPS requests, tls_client_strict.c): ssl's handshake
 * fails unless the peer's chain verifies against the context's trust and
 * the certificate names host, as tls_peer_check would judge it. The
 * reason of such a failure is written to why, which must stay valid as
 * long as ssl. 0, or -1 (host is not a DNS name). */
int tls_client_ssl_verify_strict(struct ssl_st *ssl, const char *host, char *why, size_t whylen);

enum tls_peer_status {
    TLS_PEER_OK,
    TLS_PEER_NO_CERTIFICATE,
    TLS_PEER_UNTRUSTED, /* does not chain to a trusted root (or self-signed) */
    TLS_PEER_EXPIRED,
    TLS_PEER_NOT_YET_VALID,
    TLS_PEER_REVOKED,
    TLS_PEER_NAME_MISMATCH,
    TLS_PEER_INVALID,       /* anything else the chain check refused */
    TLS_PEER_DANE_NO_MATCH, /* no usable TLSA record matches the chain (tls_dane.h) */
};

/* Checks the peer certificate of a finished handshake (either side): the
 * chain against the trusted roots, then, when nnames > 0, that one of names
 * matches its SAN DNS names (or, without any, its Subject CN) by RFC 6125
 * (a "*." wildcard covers one left-most label). why gets a one-line reason
 * naming the certificate's subject. */
enum tls_peer_status tls_peer_check(struct ssl_st *ssl, const char *const *names, size_t nnames,
                                    char *why, size_t whylen);
const char *tls_peer_status_name(enum tls_peer_status st);

/* The certificates the peer sent, leaf first, on one line for a report:
 * "[0] CN=mx.b.test (issuer CN=Test CA; until 2027-12-05 10:00:00 UTC;
 * thumbprint 3F9A...) [1] ..."; "none" without any. */
void tls_peer_chain_text(struct ssl_st *ssl, char *out, size_t outlen);

/* Text for an OpenSSL error code (as bufferevent_get_openssl_error gives). */
const char *tls_error_text(unsigned long code, char *buf, size_t len);

#endif
