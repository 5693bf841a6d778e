/*
 * tls_key_ops.h — the keys process's half of tls_remote_key: performs
 * exactly the private-key operation a remote key forwarded, on the real
 * key, after checking the request, which comes from a less trusted
 * process.
 *
 * What is checked, beyond sizes: an RSA PKCS#1 request must be a
 * DigestInfo of SHA-1/224/256/384/512 or TLS 1.0/1.1's 36-byte MD5+SHA-1;
 * an RSA request without padding must be an EMSA-PSS encoding with
 * SHA-256/384/512, MGF1 of the same hash and a salt as long as the hash
 * (what TLS 1.2 and 1.3 send, RFC 8446 4.2.3), so that raw RSA is never a
 * decryption oracle; an ECDSA request must be a digest-sized input for the
 * key's own curve. Whoever owns the smtp process can still have anything
 * signed with the keys (a signing oracle is what TLS needs), but nothing
 * else.
 *
 * Must never: perform an operation other than the one asked for, return a
 * partial result, or log key material.
 */
#ifndef POSTERN_TLS_KEY_OPS_H
#define POSTERN_TLS_KEY_OPS_H

#include "tls/tls_remote_key.h"

#include <stddef.h>

struct evp_pkey_st;

/* Performs op (enum tls_key_op_kind) with priv on in. *outlen is the room
 * in out on entry (TLS_KEY_OUT_MAX always suffices) and the length of the
 * result on success. 0, or -1 with the reason (for a log line; never key
 * material) in why (may be NULL). */
int tls_key_op_why(struct evp_pkey_st *priv, int op, int padding_or_nid, const unsigned char *in,
                   size_t inlen, unsigned char *out, size_t *outlen, char *why, size_t whylen);

/* The same, logging the reason of a refusal (a refused request means a bug
 * or a compromised smtp process) as a warning. */
int tls_key_op(struct evp_pkey_st *priv, int op, int padding_or_nid, const unsigned char *in,
               size_t inlen, unsigned char *out, size_t *outlen);

#endif
