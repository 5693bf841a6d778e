/*
 * tls_key_ops.c — the private-key operations of the keys process (see
 * tls_key_ops.h): request checks, then one EVP_PKEY_sign without a digest
 * (the request carries what is to be signed, already hashed and, for PSS,
 * already encoded).
 *
 * Must never: sign what is not a hash (or a PSS encoding of one) of the
 * kinds TLS uses, decrypt, write beyond *outlen, or log key material.
 */
#include "tls/tls_key_ops.h"
#include "lib/util.h"
#include "tls/tls_int.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <stdbool.h>
#include <string.h>

/* A DigestInfo of SHA-1/224/256/384/512, and nothing after it. */
/* Does sig encode (DER) to exactly in? */
static bool
is_same_der(const X509_SIG *sig, const unsigned char *in, size_t inlen)
{
    unsigned char *der = NULL;
    int n = i2d_X509_SIG(sig, &der);
    bool same = n >= 0 && (size_t)n == inlen && memcmp(der, in, inlen) == 0;

    OPENSSL_free(der);
    return same;
}

static bool
is_digest_info(const unsigned char *in, size_t inlen)
{
    static const int nids[] = {NID_sha1, NID_sha224, NID_sha256, NID_sha384, NID_sha512};
    const unsigned char *p = in;
    X509_SIG *sig = d2i_X509_SIG(NULL, &p, (long)inlen);
    const X509_ALGOR *alg = NULL;
    const ASN1_OCTET_STRING *digest = NULL;
    const ASN1_OBJECT *obj = NULL;
    const void *params = NULL;
    int ptype = V_ASN1_UNDEF;
    bool ok = false;

    if (sig == NULL)
        return false;
    X509_SIG_get0(sig, &alg, &digest);
    X509_ALGOR_get0(&obj, &ptype, &params, alg);
    /* only the DER a TLS stack produces: the decoder also takes BER forms
     * (long lengths, indefinite length) that nothing honest sends */
    if (p == in + inlen && is_same_der(sig, in, inlen) &&
        (ptype == V_ASN1_NULL || ptype == V_ASN1_UNDEF)) {
        int nid = OBJ_obj2nid(obj);
        for (size_t i = 0; i < sizeof(nids) / sizeof(nids[0]); i++) {
            const EVP_MD *md = EVP_get_digestbynid(nids[i]);
            if (nid == nids[i] && md != NULL && ASN1_STRING_length(digest) == EVP_MD_get_size(md))
                ok = true;
        }
    }
    X509_SIG_free(sig);
    return ok;
}

/* MGF1 (RFC 8017 B.2.1) of seed with md, xored into buf. */
static bool
mgf1_xor(unsigned char *buf, size_t len, const unsigned char *seed, size_t seedlen,
         const EVP_MD *md)
{
    unsigned char t[EVP_MAX_MD_SIZE], ctr[4];
    unsigned int tlen;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    bool ok = c != NULL;

    for (uint32_t i = 0; ok && (size_t)i * (size_t)EVP_MD_get_size(md) < len; i++) {
        size_t off = (size_t)i * (size_t)EVP_MD_get_size(md);
        ctr[0] = (unsigned char)(i >> 24);
        ctr[1] = (unsigned char)(i >> 16);
        ctr[2] = (unsigned char)(i >> 8);
        ctr[3] = (unsigned char)i;
        ok = EVP_DigestInit_ex(c, md, NULL) == 1 && EVP_DigestUpdate(c, seed, seedlen) == 1 &&
             EVP_DigestUpdate(c, ctr, 4) == 1 && EVP_DigestFinal_ex(c, t, &tlen) == 1;
        for (size_t j = 0; ok && j < tlen && off + j < len; j++)
            buf[off + j] ^= t[j];
    }
    EVP_MD_CTX_free(c);
    return ok;
}

/* EMSA-PSS-VERIFY (RFC 8017 9.1.2) without the message hash, which the
 * keys process never sees: em (as long as the modulus) must decode with
 * md, MGF1 of md and a salt of md's length. */
static bool
is_pss_encoding(const unsigned char *em, size_t emlen_full, int modbits, const EVP_MD *md)
{
    size_t embits = (size_t)modbits - 1, emlen = (embits + 7) / 8;
    size_t hlen = (size_t)EVP_MD_get_size(md), slen = hlen, dblen, zeros;
    unsigned char topmask = (unsigned char)(0xff >> (8 * emlen - embits));
    unsigned char db[TLS_KEY_IN_MAX];
    bool ok = true;

    /* a modulus of 8k+1 bits: the encoding is a byte shorter */
    if (emlen < emlen_full) {
        if (emlen_full - emlen != 1 || em[0] != 0)
            return false;
        em++;
    }
    if (emlen < hlen + slen + 2 || em[emlen - 1] != 0xbc || (em[0] & ~topmask) != 0)
        return false;
    dblen = emlen - hlen - 1;
    if (dblen > sizeof(db))
        return false;
    memcpy(db, em, dblen);
    if (!mgf1_xor(db, dblen, em + dblen, hlen, md))
        return false;
    db[0] &= topmask;
    zeros = dblen - slen - 1;
    for (size_t i = 0; i < zeros; i++)
        ok = ok && db[i] == 0;
    ok = ok && db[zeros] == 0x01;
    explicit_bzero(db, sizeof(db));
    return ok;
}

static bool
is_pss_any(const unsigned char *in, size_t inlen, int modbits)
{
    const EVP_MD *mds[] = {EVP_sha256(), EVP_sha384(), EVP_sha512()};

    for (size_t i = 0; i < sizeof(mds) / sizeof(mds[0]); i++)
        if (is_pss_encoding(in, inlen, modbits, mds[i]))
            return true;
    return false;
}

/* Checks an RSA request; NULL when it may be signed, else why not. */
static const char *
rsa_refusal(EVP_PKEY *priv, int padding, const unsigned char *in, size_t inlen)
{
    size_t size = (size_t)EVP_PKEY_get_size(priv);

    if (EVP_PKEY_get_base_id(priv) != EVP_PKEY_RSA)
        return "an RSA operation for a key that is not RSA";
    switch (padding) {
    case RSA_PKCS1_PADDING:
        /* PKCS#1 v1.5 type 1 needs 11 bytes of the block (RFC 8017 9.2) */
        if (inlen + 11 > size)
            return "input too long for PKCS#1 padding";
        if (inlen != 36 && !is_digest_info(in, inlen))
            return "input is neither a DigestInfo nor an MD5+SHA-1 hash";
        return NULL;
    case RSA_NO_PADDING:
        if (inlen != size)
            return "input is not as long as the modulus";
        if (!is_pss_any(in, inlen, EVP_PKEY_get_bits(priv)))
            return "input is not a PSS encoding";
        return NULL;
    default:
        return "unsupported RSA padding";
    }
}

/* Checks an ECDSA request; NULL when it may be signed, else why not. */
static const char *
ecdsa_refusal(EVP_PKEY *priv, int nid, size_t inlen)
{
    char group[80];
    size_t glen = 0;

    if (EVP_PKEY_get_base_id(priv) != EVP_PKEY_EC)
        return "an ECDSA operation for a key that is not EC";
    if (EVP_PKEY_get_utf8_string_param(priv, "group", group, sizeof(group), &glen) != 1 ||
        nid == NID_undef || OBJ_txt2nid(group) != nid)
        return "the request names another curve than the key's";
    /* SHA-1 (TLS 1.0/1.1), SHA-224/256/384/512 */
    if (inlen != 20 && inlen != 28 && inlen != 32 && inlen != 48 && inlen != 64)
        return "input is not the size of a hash";
    return NULL;
}

int
tls_key_op_why(struct evp_pkey_st *priv, int op, int padding_or_nid, const unsigned char *in,
               size_t inlen, unsigned char *out, size_t *outlen, char *why, size_t whylen)
{
    const char *refusal;
    EVP_PKEY_CTX *ctx = NULL;
    size_t room;
    char e[256];
    int rc = -1;

    errorf(why, whylen, "%s", "");
    if (priv == NULL || in == NULL || out == NULL || outlen == NULL) {
        errorf(why, whylen, "no key, input or output");
        return -1;
    }
    if (inlen == 0 || inlen > TLS_KEY_IN_MAX) {
        errorf(why, whylen, "input of %zu bytes", inlen);
        return -1;
    }
    switch (op) {
    case TLS_KEY_OP_RSA_SIGN:
        refusal = rsa_refusal(priv, padding_or_nid, in, inlen);
        break;
    case TLS_KEY_OP_ECDSA_SIGN:
        refusal = ecdsa_refusal(priv, padding_or_nid, inlen);
        break;
    default:
        refusal = "unknown operation";
        break;
    }
    if (refusal != NULL) {
        errorf(why, whylen, "refused: %s", refusal);
        return -1;
    }
    room = (size_t)EVP_PKEY_get_size(priv);
    if (*outlen < room) {
        errorf(why, whylen, "output room of %zu bytes is short of %zu", *outlen, room);
        return -1;
    }
    ERR_clear_error();
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
    if (ctx == NULL || EVP_PKEY_sign_init(ctx) != 1 ||
        (op == TLS_KEY_OP_RSA_SIGN && EVP_PKEY_CTX_set_rsa_padding(ctx, padding_or_nid) != 1) ||
        EVP_PKEY_sign(ctx, out, &room, in, inlen) != 1) {
        errorf(why, whylen, "signing failed: %s", tls_last_error(e, sizeof(e)));
        goto out;
    }
    *outlen = room;
    rc = 0;
out:
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

int
tls_key_op(struct evp_pkey_st *priv, int op, int padding_or_nid, const unsigned char *in,
           size_t inlen, unsigned char *out, size_t *outlen)
{
    char why[256];

    if (tls_key_op_why(priv, op, padding_or_nid, in, inlen, out, outlen, why, sizeof(why)) == 0)
        return 0;
    log_warnx("keys: private-key operation not performed: %s", why);
    return -1;
}
