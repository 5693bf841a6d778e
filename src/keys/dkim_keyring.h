/*
 * dkim_keyring.h — the DKIM private keys of the keys process: for each
 * enabled DkimSigningConfig, the key of each selector, read from
 * DIR/dkim/<domain>/selector1.key and selector2.key (written by
 * New-/Rotate-DkimSigningConfig), and the one thing done with them: a
 * signature of the 32-byte hash the smtp process computed
 * (smtp/dkim.h), for MSG_DKIM_SIGN.
 *
 * A key is kept only when its public half is the one the configuration
 * publishes (Selector1PublicKey, Selector2PublicKey), and a request must
 * name that same public key text: so a signature is never made with a key
 * no configuration names, and a request made under the configuration
 * before a rotation finds the key it expects (in the previous ring, which
 * the caller keeps) or none, never a newer key under the same selector.
 * Must never: hand a key out of the process, sign anything but a hash of
 * DKIM_HASH_LEN octets, or log key material.
 */
#ifndef POSTERN_DKIM_KEYRING_H
#define POSTERN_DKIM_KEYRING_H

#include <stddef.h>

#include "smtp/dkim.h"

struct config;
struct dkim_keyring;

/* Reads the keys of cfg's enabled configurations from dkimdir (DIR/dkim);
 * each key that cannot be read or does not match is left out with a
 * warning in the log. Never NULL. */
struct dkim_keyring *dkim_keyring_load(const char *dkimdir, const struct config *cfg);
void dkim_keyring_free(struct dkim_keyring *ring);
/* How many keys it holds. */
size_t dkim_keyring_count(const struct dkim_keyring *ring);

/* Signs hash with the key of domain's selector ("selector1" or
 * "selector2") whose TXT record text is txt; sig has room for
 * DKIM_SIG_MAX octets. 0, or -1 with why (no such key, or OpenSSL's
 * reason). ring may be NULL (no key). */
int dkim_keyring_sign(const struct dkim_keyring *ring, const char *domain, const char *selector,
                      const char *txt, const unsigned char *hash, size_t hashlen,
                      unsigned char *sig, size_t *siglen, char *why, size_t whylen);

#endif
