/*
 * dkim_key.h — DKIM keys: making one (RSA of 1024 or 2048 bits, as
 * Exchange Online offers, or Ed25519, RFC 8463), the text of the DNS TXT
 * record that publishes its public half (RFC 6376 3.6.1: "p=" holds an RSA
 * key's SubjectPublicKeyInfo, RFC 8463 4.2: an Ed25519 key's 32 octets),
 * reading a private key back from PEM, and signing the 32-byte hash that
 * smtp/dkim.h computes: rsa-sha256 is PKCS#1 v1.5 over a SHA-256
 * DigestInfo, ed25519-sha256 is PureEdDSA over the hash itself (RFC 8463
 * 3).
 *
 * The cmdlets make keys (admin/cmdlet_dkim.c); only the keys process reads
 * a private key and signs with it (keys/dkim_keyring.h).
 * Must never: write a file, log, or leave a private key's PEM in memory it
 * frees (callers wipe what they are given, mem_free_wiped).
 */
#ifndef POSTERN_DKIM_KEY_H
#define POSTERN_DKIM_KEY_H

#include <stddef.h>

#include "smtp/dkim.h"

struct evp_pkey_st;

/* The longest signature: RSA keys of up to 4096 bits (2048 is made here;
 * a key put in by hand may be longer). */
#define DKIM_SIG_MAX 512

/* Makes a key of alg (bits: 1024 or 2048 for RSA, ignored for Ed25519):
 * its private half as unencrypted PKCS#8 PEM in *pem (*pemlen octets,
 * NUL-terminated; wipe it before it is freed) and its TXT record text in
 * *txt. 0, or -1 with err set. */
int dkim_key_generate(enum dkim_alg alg, unsigned bits, char **pem, size_t *pemlen, char **txt,
                      char *err, size_t errlen);

/* The private key in pem[0..len). NULL with err set. */
struct evp_pkey_st *dkim_key_read(const char *pem, size_t len, char *err, size_t errlen);

/* What key is: 0 with *alg and *bits (256 for Ed25519) set, -1 when it is
 * neither RSA nor Ed25519. */
int dkim_key_info(struct evp_pkey_st *key, enum dkim_alg *alg, unsigned *bits);

/* "v=DKIM1; k=rsa; p=<base64>" (k=ed25519 for Ed25519) of key's public
 * half, malloc'd; NULL when it is neither. */
char *dkim_key_txt(struct evp_pkey_st *key);

/* Signs hash with key as its algorithm says (above) into sig, which has
 * room for DKIM_SIG_MAX octets; *siglen is the signature's length. 0, or
 * -1 with err set. */
int dkim_key_sign(struct evp_pkey_st *key, const unsigned char hash[DKIM_HASH_LEN],
                  unsigned char *sig, size_t *siglen, char *err, size_t errlen);

#endif
