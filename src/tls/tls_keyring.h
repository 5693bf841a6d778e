/*
 * tls_keyring.h — the private keys of a certificate directory, by key id
 * (the certificate's thumbprint): what the keys process signs with when
 * the smtp process asks (tls_remote_key.h, tls_key_ops.h).
 *
 * Only keys that belong to a readable certificate of the directory and
 * match it are kept, so a key id names exactly the key a handshake with
 * that certificate needs.
 * Must never: hand a key out of the process (callers only sign with it).
 */
#ifndef POSTERN_TLS_KEYRING_H
#define POSTERN_TLS_KEYRING_H

#include <stddef.h>

struct evp_pkey_st;
struct tls_keyring;

/* Reads certdir as the certificate store does. NULL with err set when the
 * directory cannot be read. */
struct tls_keyring *tls_keyring_load(const char *certdir, char *err, size_t errlen);
/* The key of the certificate whose thumbprint is key_id, or NULL. It stays
 * the ring's. */
struct evp_pkey_st *tls_keyring_get(const struct tls_keyring *ring, const char *key_id);
void tls_keyring_free(struct tls_keyring *ring);

#endif
