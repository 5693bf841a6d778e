/*
 * tls_remote_key.h — private keys that live in another process (the keys
 * process): an EVP_PKEY built from a certificate's public key whose private
 * operations are sent through a transport and answered later.
 *
 * How: a legacy RSA_METHOD / EC_KEY_METHOD replacement. These are
 * deprecated in OpenSSL 3 but supported, and they are the smallest thing
 * that works: tls_remote_key.c alone defines OPENSSL_SUPPRESS_DEPRECATED.
 * OpenSSL 3.0 keeps such a key on its legacy path (a key with a foreign
 * method is never exported to a provider, which would fail without the
 * private half): TLS 1.3 RSA-PSS and ECDSA and TLS 1.0-1.2 PKCS#1 and ECDSA
 * signatures all reach the method, as test_remote_key checks. What cannot
 * reach it is the TLS 1.2 static-RSA key exchange (kRSA, only in the
 * Compatible profile): libssl asks the legacy path for a padding mode
 * (RSA_PKCS1_WITH_TLS_PADDING) that only providers know, so a context with
 * a remote key leaves kRSA out (tls_ctx_new) and only signatures are ever
 * forwarded.
 *
 * Asynchronous: inside an OpenSSL ASYNC job (SSL_MODE_ASYNC, as
 * tls_handshake.c runs handshakes) an operation sends its request, pauses
 * the job and is woken by the job's ASYNC_WAIT_CTX callback (the one
 * SSL_set_async_callback installs) when tls_remote_key_answer delivers the
 * answer; the loop runs on meanwhile. Outside a job it waits in place, at
 * most TLS_REMOTE_KEY_BLOCK_MS, pumping the transport's wait() (no wait()
 * means it fails at once): that path blocks its thread, so the smtp process
 * should not take it.
 *
 * Must never: hold or ask for the private key, let a request outlive the
 * job or caller waiting for it, or wake a job whose request was already
 * given up.
 */
#ifndef POSTERN_TLS_REMOTE_KEY_H
#define POSTERN_TLS_REMOTE_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct x509_st;
struct evp_pkey_st;

/* The operations forwarded; tls_key_op (tls_key_ops.h) performs them. */
enum tls_key_op_kind {
    /* RSA private encryption, padding_or_nid = RSA_PKCS1_PADDING (in: a
     * DigestInfo, or the 36-byte MD5+SHA-1 of TLS 1.0/1.1) or
     * RSA_NO_PADDING (in: an EMSA-PSS encoding OpenSSL already made, as
     * long as the modulus). out: as long as the modulus. */
    TLS_KEY_OP_RSA_SIGN = 1,
    /* ECDSA over a digest (in), padding_or_nid = the curve's NID. out:
     * the DER ECDSA-Sig-Value. */
    TLS_KEY_OP_ECDSA_SIGN = 2,
};

/* The largest answer: an RSA 8192 signature (DER ECDSA signatures are far
 * shorter), and the largest request input (the same). */
#define TLS_KEY_OUT_MAX 1024
#define TLS_KEY_IN_MAX 1024

/* How long an operation outside an ASYNC job waits for its answer. */
#define TLS_REMOTE_KEY_BLOCK_MS 5000

struct tls_key_transport {
    /* Queues a request (in is copied before it returns); 0, or -1 when
     * the keys process is unreachable. It may answer at once, from
     * inside send. request_id is never 0 and fits in 32 bits (ids wrap,
     * skipping any still pending). */
    int (*send)(void *arg, uint64_t request_id, const char *key_id, int op, int padding_or_nid,
                const unsigned char *in, size_t inlen);
    /* Optional, for operations outside an ASYNC job only: waits up to
     * timeout_ms for answers, delivering each through
     * tls_remote_key_answer before it returns. 0, or -1 when the keys
     * process is gone. */
    int (*wait)(void *arg, int timeout_ms);
    void *arg;
};

/* Sets (copies) the transport of this process; NULL removes it, after
 * which every operation fails. Requests already sent stay pending. */
void tls_remote_key_set_transport(const struct tls_key_transport *t);

/* Called by the transport owner (on the loop) when an answer arrives:
 * stores it and wakes the waiting job. An id that nobody waits for (given
 * up, or never sent) is ignored; an answer longer than its operation's
 * output fails that operation. */
void tls_remote_key_answer(uint64_t request_id, int ok, const unsigned char *out, size_t outlen);

/* Transport lost: every pending request fails, and its job is woken. */
void tls_remote_key_fail_all(void);

/* How many requests wait for an answer (for tests and statistics). */
size_t tls_remote_key_pending(void);

/* A key for cert's public key (RSA, or EC on any named curve) whose
 * private operations go to the keys process under key_id: the
 * certificate's thumbprint (tls_certs.h), which names it there. NULL with
 * the reason in why (another key type, or out of memory). The caller
 * frees it with EVP_PKEY_free; it is used as a private key, e.g.
 * SSL_CTX_use_PrivateKey. */
struct evp_pkey_st *tls_remote_key_new(struct x509_st *cert, char *why, size_t whylen);

/* Is key one that tls_remote_key_new made? */
bool tls_remote_key_is(const struct evp_pkey_st *key);

#endif
