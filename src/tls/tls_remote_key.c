/*
 * tls_remote_key.c — keys whose private operations are answered by the keys
 * process (see tls_remote_key.h for how and why).
 *
 * A request is a struct on the stack of whoever waits for it: the paused
 * ASYNC job (whose stack lives on while it is paused) or the blocked
 * caller. It is linked into the pending list from before it is sent until
 * it is answered, failed or given up, and only the waiter frees it (by
 * returning); tls_remote_key_answer touches it only while it is linked,
 * under the lock. Code here may run on an ASYNC job's small stack: no
 * large locals.
 *
 * Must never: hold or ask for the private key, touch a request after
 * unlinking it (its waiter may be gone), call a wake-up with the lock held
 * (it may start the next step of a handshake), or log key material.
 */
/* RSA_METHOD and EC_KEY_METHOD are deprecated in OpenSSL 3.0 but
 * supported; this file alone uses them (tls_remote_key.h says why). */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "tls/tls_remote_key.h"
#include "lib/util.h"
#include "tls/tls_int.h"

#include <openssl/async.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct request {
    struct request *next;
    uint64_t id;
    bool linked;   /* in the pending list */
    bool answered; /* failure/outlen are final */
    int failure;   /* 0: out holds the answer; else an R_* reason */
    bool paused;   /* an ASYNC job sleeps on it: wake it when answered */
    ASYNC_callback_fn wake;
    void *wake_arg;
    unsigned char *out; /* the caller's buffer */
    size_t cap, outlen;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct request *pending;
static uint64_t next_request_id;
static struct tls_key_transport transport;
static bool have_transport;

/* What goes wrong, as OpenSSL errors of a library of our own: libssl puts
 * its own errors after ours, and the handshake's reason is the first. */
enum {
    R_NO_TRANSPORT = 1,
    R_UNREACHABLE,
    R_REFUSED,
    R_GIVEN_UP,
    R_TIMEOUT,
    R_BAD_ANSWER,
    R_NO_KEY_ID,
    R_DECRYPT,
};
static ERR_STRING_DATA err_reasons[] = {
    {R_NO_TRANSPORT, "remote key: no transport to the keys process"},
    {R_UNREACHABLE, "remote key: keys process unreachable"},
    {R_REFUSED, "remote key: keys process refused the operation"},
    {R_GIVEN_UP, "remote key: operation given up"},
    {R_TIMEOUT, "remote key: keys process did not answer in time"},
    {R_BAD_ANSWER, "remote key: malformed answer from the keys process"},
    {R_NO_KEY_ID, "remote key: key has no identity"},
    {R_DECRYPT, "remote key: RSA decryption is not forwarded"},
    {0, NULL},
};
static ERR_STRING_DATA err_lib_name[] = {{0, "remote key"}, {0, NULL}};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int err_lib;
static int rsa_idx = -1, ec_idx = -1, pkey_idx = -1;
/* EVP_PKEY ex data of a remote key: tls_remote_key_is looks for it */
static char remote_marker;
static RSA_METHOD *rsa_method;
static EC_KEY_METHOD *ec_method;

static void
remote_error(int reason)
{
    ERR_raise(err_lib, reason);
}

/*
 * Requests
 */

static void
unlink_locked(struct request *r)
{
    for (struct request **p = &pending; *p != NULL; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            break;
        }
    }
    r->linked = false;
}

static struct request *
find_locked(uint64_t id)
{
    for (struct request *r = pending; r != NULL; r = r->next)
        if (r->id == id)
            return r;
    return NULL;
}

static long
elapsed_ms(const struct timespec *since)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* Outside an ASYNC job: waits for the answer in place, a bounded time. */
static void
wait_blocking(struct request *r, const struct tls_key_transport *t)
{
    struct timespec start;
    long left;
    bool done;

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        pthread_mutex_lock(&lock);
        done = r->answered;
        pthread_mutex_unlock(&lock);
        left = TLS_REMOTE_KEY_BLOCK_MS - elapsed_ms(&start);
        if (done || left <= 0 || t->wait == NULL || t->wait(t->arg, (int)left) != 0)
            break;
    }
}

/* Sends one operation and waits for its answer, pausing the ASYNC job
 * when there is one. 0 with out and its length filled, or -1 with an error
 * queued. */
static int
remote_op(const char *key_id, int op, int param, const unsigned char *in, size_t inlen,
          unsigned char *out, size_t *outlen)
{
    struct request r = {.out = out, .cap = *outlen};
    struct tls_key_transport t;
    ASYNC_JOB *job = ASYNC_get_current_job();
    ASYNC_WAIT_CTX *wctx = job != NULL ? ASYNC_get_wait_ctx(job) : NULL;
    ASYNC_callback_fn wake = NULL;
    void *wake_arg = NULL;
    int reason = 0;

    if (key_id == NULL) {
        remote_error(R_NO_KEY_ID);
        return -1;
    }
    if (wctx != NULL && ASYNC_WAIT_CTX_get_callback(wctx, &wake, &wake_arg) != 1)
        wake = NULL;

    pthread_mutex_lock(&lock);
    if (!have_transport) {
        pthread_mutex_unlock(&lock);
        remote_error(R_NO_TRANSPORT);
        return -1;
    }
    t = transport;
    /* ids stay within 32 bits, so that a transport may carry them so;
     * after a wrap an id still pending is skipped */
    do {
        next_request_id = next_request_id >= UINT32_MAX ? 1 : next_request_id + 1;
    } while (find_locked(next_request_id) != NULL);
    r.id = next_request_id;
    r.next = pending;
    r.linked = true;
    pending = &r;
    pthread_mutex_unlock(&lock);

    if (t.send(t.arg, r.id, key_id, op, param, in, inlen) != 0) {
        pthread_mutex_lock(&lock);
        if (r.linked)
            unlink_locked(&r);
        pthread_mutex_unlock(&lock);
        remote_error(R_UNREACHABLE);
        return -1;
    }

    if (wake != NULL) {
        bool sleep;

        /* The answer may already be here (send can answer at once). */
        pthread_mutex_lock(&lock);
        sleep = !r.answered;
        if (sleep) {
            r.paused = true;
            r.wake = wake;
            r.wake_arg = wake_arg;
        }
        pthread_mutex_unlock(&lock);
        if (sleep && ASYNC_pause_job() == 0)
            reason = R_GIVEN_UP;
    } else {
        wait_blocking(&r, &t);
    }

    pthread_mutex_lock(&lock);
    if (r.linked) {
        /* woken (or back from waiting) without an answer: the job is
         * being wound up (a timeout, a closed connection), or the wait
         * ran out */
        unlink_locked(&r);
        if (reason == 0)
            reason = wake != NULL ? R_GIVEN_UP : R_TIMEOUT;
    } else if (reason == 0) {
        reason = r.failure;
    }
    pthread_mutex_unlock(&lock);
    if (reason != 0) {
        remote_error(reason);
        return -1;
    }
    *outlen = r.outlen;
    return 0;
}

void
tls_remote_key_answer(uint64_t request_id, int ok, const unsigned char *out, size_t outlen)
{
    ASYNC_callback_fn wake = NULL;
    void *wake_arg = NULL;
    struct request *r;

    pthread_mutex_lock(&lock);
    r = find_locked(request_id);
    if (r == NULL) {
        pthread_mutex_unlock(&lock);
        return;
    }
    if (!ok) {
        r->failure = R_REFUSED;
    } else if (out == NULL || outlen == 0 || outlen > r->cap) {
        r->failure = R_BAD_ANSWER;
    } else {
        memcpy(r->out, out, outlen);
        r->outlen = outlen;
    }
    r->answered = true;
    if (r->paused) {
        wake = r->wake;
        wake_arg = r->wake_arg;
    }
    unlink_locked(r);
    pthread_mutex_unlock(&lock);
    if (wake != NULL)
        wake(wake_arg);
}

void
tls_remote_key_fail_all(void)
{
    struct {
        ASYNC_callback_fn fn;
        void *arg;
    } *wakes = NULL;
    size_t n = 0, cap = 0;

    pthread_mutex_lock(&lock);
    for (struct request *r = pending; r != NULL; r = r->next)
        cap++;
    if (cap > 0)
        wakes = xcalloc(cap, sizeof(*wakes));
    while (pending != NULL) {
        struct request *r = pending;
        pending = r->next;
        r->linked = false;
        r->answered = true;
        r->failure = R_UNREACHABLE;
        if (r->paused && r->wake != NULL) {
            wakes[n].fn = r->wake;
            wakes[n].arg = r->wake_arg;
            n++;
        }
    }
    pthread_mutex_unlock(&lock);
    for (size_t i = 0; i < n; i++)
        wakes[i].fn(wakes[i].arg);
    free(wakes);
}

size_t
tls_remote_key_pending(void)
{
    size_t n = 0;

    pthread_mutex_lock(&lock);
    for (struct request *r = pending; r != NULL; r = r->next)
        n++;
    pthread_mutex_unlock(&lock);
    return n;
}

void
tls_remote_key_set_transport(const struct tls_key_transport *t)
{
    pthread_mutex_lock(&lock);
    have_transport = t != NULL && t->send != NULL;
    if (have_transport)
        transport = *t;
    else
        memset(&transport, 0, sizeof(transport));
    pthread_mutex_unlock(&lock);
}

/*
 * The methods
 */

static int
rsa_priv_enc(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding)
{
    const char *id = RSA_get_ex_data(rsa, rsa_idx);
    size_t size = (size_t)RSA_size(rsa), outlen = size;

    if (flen < 0 ||
        remote_op(id, TLS_KEY_OP_RSA_SIGN, padding, from, (size_t)flen, to, &outlen) != 0)
        return -1;
    /* RSA output is always as long as the modulus */
    if (outlen != size) {
        remote_error(R_BAD_ANSWER);
        return -1;
    }
    return (int)outlen;
}

static int
rsa_priv_dec(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding)
{
    remote_error(R_DECRYPT);
    return -1;
}

static int
ec_sign(int type, const unsigned char *dgst, int dlen, unsigned char *sig, unsigned int *siglen,
        const BIGNUM *kinv, const BIGNUM *r, EC_KEY *eckey)
{
    const char *id = EC_KEY_get_ex_data(eckey, ec_idx);
    int size = ECDSA_size(eckey);
    size_t outlen = size > 0 ? (size_t)size : 0;
    const unsigned char *p = sig;
    ECDSA_SIG *parsed;

    if (dlen < 0 || size <= 0 ||
        remote_op(id, TLS_KEY_OP_ECDSA_SIGN, EC_GROUP_get_curve_name(EC_KEY_get0_group(eckey)),
                  dgst, (size_t)dlen, sig, &outlen) != 0)
        return 0;
    /* libssl sends these bytes as they are: they must be one DER
     * signature, nothing after it */
    parsed = d2i_ECDSA_SIG(NULL, &p, (long)outlen);
    ECDSA_SIG_free(parsed);
    if (parsed == NULL || p != sig + outlen) {
        remote_error(R_BAD_ANSWER);
        return 0;
    }
    *siglen = (unsigned int)outlen;
    return 1;
}

static ECDSA_SIG *
ec_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *eckey)
{
    int size = ECDSA_size(eckey);
    unsigned char *der;
    unsigned int len = 0;
    const unsigned char *p;
    ECDSA_SIG *sig = NULL;

    if (size <= 0 || (der = OPENSSL_malloc((size_t)size)) == NULL)
        return NULL;
    if (ec_sign(0, dgst, dlen, der, &len, kinv, r, eckey) == 1) {
        p = der;
        sig = d2i_ECDSA_SIG(NULL, &p, len);
    }
    OPENSSL_free(der);
    return sig;
}

static void
free_key_id(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    free(ptr);
}

static void
init(void)
{
    err_lib = ERR_get_next_error_library();
    err_lib_name[0].error = ERR_PACK(err_lib, 0, 0);
    ERR_load_strings(0, err_lib_name);
    ERR_load_strings(err_lib, err_reasons);

    rsa_idx = RSA_get_ex_new_index(0, NULL, NULL, NULL, free_key_id);
    ec_idx = EC_KEY_get_ex_new_index(0, NULL, NULL, NULL, free_key_id);
    pkey_idx = EVP_PKEY_get_ex_new_index(0, NULL, NULL, NULL, NULL);

    /* OpenSSL's own methods, less the private operations: public ones
     * (verifying, say) stay local */
    rsa_method = RSA_meth_dup(RSA_PKCS1_OpenSSL());
    if (rsa_method == NULL || RSA_meth_set1_name(rsa_method, "postern remote key") != 1 ||
        RSA_meth_set_priv_enc(rsa_method, rsa_priv_enc) != 1 ||
        RSA_meth_set_priv_dec(rsa_method, rsa_priv_dec) != 1)
        fatalx("tls: cannot set up the remote RSA method");
    ec_method = EC_KEY_METHOD_new(EC_KEY_OpenSSL());
    if (ec_method == NULL)
        fatalx("tls: cannot set up the remote EC method");
    EC_KEY_METHOD_set_sign(ec_method, ec_sign, NULL, ec_sign_sig);
}

static RSA *
remote_rsa(EVP_PKEY *pub, const char *id)
{
    RSA *src = EVP_PKEY_get1_RSA(pub), *rsa = NULL;
    const BIGNUM *n = NULL, *e = NULL;
    BIGNUM *n2 = NULL, *e2 = NULL;
    char *idcopy;

    if (src == NULL)
        return NULL;
    RSA_get0_key(src, &n, &e, NULL);
    if (n == NULL || e == NULL || (rsa = RSA_new()) == NULL)
        goto fail;
    /* the method first: EVP_PKEY_assign_RSA decides from it that the key
     * is foreign and must stay on the legacy path */
    if (RSA_set_method(rsa, rsa_method) != 1)
        goto fail;
    n2 = BN_dup(n);
    e2 = BN_dup(e);
    if (n2 == NULL || e2 == NULL || RSA_set0_key(rsa, n2, e2, NULL) != 1)
        goto fail;
    n2 = e2 = NULL;
    RSA_set_flags(rsa, RSA_FLAG_EXT_PKEY);
    idcopy = xstrdup(id);
    if (RSA_set_ex_data(rsa, rsa_idx, idcopy) != 1) {
        free(idcopy);
        goto fail;
    }
    RSA_free(src);
    return rsa;
fail:
    BN_free(n2);
    BN_free(e2);
    RSA_free(rsa);
    RSA_free(src);
    return NULL;
}

static EC_KEY *
remote_ec(EVP_PKEY *pub, const char *id)
{
    EC_KEY *src = EVP_PKEY_get1_EC_KEY(pub), *ec = NULL;
    char *idcopy;

    if (src == NULL)
        return NULL;
    if (EC_GROUP_get_curve_name(EC_KEY_get0_group(src)) == NID_undef ||
        (ec = EC_KEY_new()) == NULL || EC_KEY_set_method(ec, ec_method) != 1 ||
        EC_KEY_set_group(ec, EC_KEY_get0_group(src)) != 1 ||
        EC_KEY_set_public_key(ec, EC_KEY_get0_public_key(src)) != 1)
        goto fail;
    idcopy = xstrdup(id);
    if (EC_KEY_set_ex_data(ec, ec_idx, idcopy) != 1) {
        free(idcopy);
        goto fail;
    }
    EC_KEY_free(src);
    return ec;
fail:
    EC_KEY_free(ec);
    EC_KEY_free(src);
    return NULL;
}

struct evp_pkey_st *
tls_remote_key_new(struct x509_st *cert, char *why, size_t whylen)
{
    char id[THUMBPRINT_LEN + 1], e[256];
    EVP_PKEY *pub, *key = NULL;
    RSA *rsa = NULL;
    EC_KEY *ec = NULL;

    pthread_once(&init_once, init);
    errorf(why, whylen, "%s", "");
    ERR_clear_error();
    if (cert == NULL || (pub = X509_get0_pubkey(cert)) == NULL) {
        errorf(why, whylen, "no certificate or public key");
        return NULL;
    }
    if (tls_thumbprint_of(cert, id) != 0) {
        errorf(why, whylen, "cannot compute the thumbprint: %s", tls_last_error(e, sizeof(e)));
        return NULL;
    }
    if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA) {
        if ((rsa = remote_rsa(pub, id)) == NULL)
            goto fail;
        if ((key = EVP_PKEY_new()) == NULL || EVP_PKEY_assign_RSA(key, rsa) != 1)
            goto fail;
    } else if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC) {
        if ((ec = remote_ec(pub, id)) == NULL)
            goto fail;
        if ((key = EVP_PKEY_new()) == NULL || EVP_PKEY_assign_EC_KEY(key, ec) != 1)
            goto fail;
    } else {
        errorf(why, whylen, "certificate %s: a %s key cannot be used remotely (RSA or ECDSA only)",
               id, OBJ_nid2sn(EVP_PKEY_get_base_id(pub)));
        return NULL;
    }
    if (EVP_PKEY_set_ex_data(key, pkey_idx, &remote_marker) != 1) {
        EVP_PKEY_free(key);
        errorf(why, whylen, "certificate %s: cannot build a remote key: %s", id,
               tls_last_error(e, sizeof(e)));
        return NULL;
    }
    return key;
fail:
    errorf(why, whylen, "certificate %s: cannot build a remote key: %s", id,
           tls_last_error(e, sizeof(e)));
    EVP_PKEY_free(key);
    RSA_free(rsa);
    EC_KEY_free(ec);
    return NULL;
}

bool
tls_remote_key_is(const struct evp_pkey_st *key)
{
    pthread_once(&init_once, init);
    return key != NULL && EVP_PKEY_get_ex_data(key, pkey_idx) == &remote_marker;
}
