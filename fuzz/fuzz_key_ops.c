/*
 * fuzz_key_ops.c — libFuzzer target for the keys process's check-then-sign
 * of a request from the smtp process (tls/tls_key_ops.c, what keys_sign in
 * keys/keys_process.c calls with the decoded MSG_KEY_SIGN): the smtp
 * process parses the network and may be someone else's.
 *
 * Input: octet 0 chooses the key (bits 0-1: RSA-2048, EC P-256,
 * RSA-1537, EC P-384), the operation (bits 2-3: RSA sign, ECDSA sign, 0,
 * 3) and the room given for the answer (bits 4-5: TLS_KEY_OUT_MAX, the
 * key's size, one less, 1 octet). RSA-1537 has a modulus of 8k+1 bits,
 * whose PSS encoding is an octet shorter than the modulus (OpenSSL makes
 * 2049-bit keys 2048 bits long). Octet 1 chooses padding_or_nid: with bit
 * 7 set, the next 4 octets are the value (little-endian); else (value mod
 * 8) one of RSA_PKCS1_PADDING, RSA_NO_PADDING, the NIDs of P-256 and
 * P-384, RSA_PKCS1_PSS_PADDING, RSA_PKCS1_OAEP_PADDING, 0, the NID of
 * P-521. The rest is the request's input. The keys are made once, at the
 * first input. Seeds: make_key_ops_seeds.py.
 *
 * Besides memory errors, leaks and UB it checks what tls_key_ops.h
 * promises, with its own decoding (not the code under test's):
 * - a refusal says why (a non-empty reason);
 * - an accepted request names the key's kind and a padding TLS uses, and
 *   its answer fits the room given (the buffer is exactly that big, so
 *   ASan sees a write past it);
 * - RSA with PKCS#1 padding: the input was a DigestInfo of SHA-1/224/256/
 *   384/512 in DER (with or without NULL parameters; BER is refused) or 36
 *   octets, and the answer, opened with the public key, gives back exactly
 *   the input;
 * - RSA without padding (never a decryption oracle): the input was as long
 *   as the modulus and is an EMSA-PSS encoding with SHA-256/384/512, MGF1
 *   of the same hash and a salt of the hash's length, and the answer raised
 *   to the public exponent gives back exactly the input;
 * - ECDSA: the input was digest-sized, the NID the key's curve, and the
 *   answer verifies over the input with the public key;
 * and the converse: a well-formed request of those kinds, with room
 * enough, is signed (TLS needs it).
 * Must never: touch the file system or print key material.
 */
#include "fuzz_common.h"
#include "tls/tls_key_ops.h"

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NKEYS 4

struct fuzz_key {
    EVP_PKEY *priv; /* the keys process's key */
    EVP_PKEY *pub;  /* its public half only, to check answers with */
    bool rsa;
    int nid; /* EC: the curve */
};

static struct fuzz_key keys[NKEYS];

static EVP_PKEY *
rsa_gen(unsigned bits)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *k = NULL;

    if (c == NULL || EVP_PKEY_keygen_init(c) != 1 ||
        EVP_PKEY_CTX_set_rsa_keygen_bits(c, bits) != 1 || EVP_PKEY_keygen(c, &k) != 1)
        abort();
    EVP_PKEY_CTX_free(c);
    return k;
}

/* The public half alone: what the smtp process holds. */
static EVP_PKEY *
public_of(EVP_PKEY *priv)
{
    unsigned char *der = NULL;
    const unsigned char *p;
    int len = i2d_PUBKEY(priv, &der);
    EVP_PKEY *pub;

    if (len <= 0)
        abort();
    p = der;
    pub = d2i_PUBKEY(NULL, &p, len);
    OPENSSL_free(der);
    if (pub == NULL)
        abort();
    return pub;
}

static void
setup_once(void)
{
    if (keys[0].priv != NULL)
        return;
    keys[0].priv = rsa_gen(2048);
    keys[0].rsa = true;
    keys[1].priv = EVP_EC_gen("P-256");
    keys[1].nid = NID_X9_62_prime256v1;
    keys[2].priv = rsa_gen(1537);
    keys[2].rsa = true;
    if (keys[2].priv == NULL || EVP_PKEY_get_bits(keys[2].priv) != 1537)
        abort(); /* the odd modulus is the point of this key */
    keys[3].priv = EVP_EC_gen("P-384");
    keys[3].nid = NID_secp384r1;
    for (int i = 0; i < NKEYS; i++) {
        if (keys[i].priv == NULL)
            abort();
        keys[i].pub = public_of(keys[i].priv);
    }
}

/* ---- the harness's own view of a well-formed request ---- */

/* RFC 8017 9.2 note 1: DER of DigestInfo up to the digest, with NULL
 * parameters, and the same without parameters (also seen in the wild). */
struct di_prefix {
    const char *hex;
    size_t hlen;
};

static const struct di_prefix di_prefixes[] = {
    {"3021300906052b0e03021a05000414", 20},         {"301f300706052b0e03021a0414", 20},
    {"302d300d06096086480165030402040500041c", 28}, {"302b300b0609608648016503040204041c", 28},
    {"3031300d060960864801650304020105000420", 32}, {"302f300b06096086480165030402010420", 32},
    {"3041300d060960864801650304020205000430", 48}, {"303f300b06096086480165030402020430", 48},
    {"3051300d060960864801650304020305000440", 64}, {"304f300b06096086480165030402030440", 64},
};

static bool
hex_prefix_is(const unsigned char *in, size_t inlen, const char *hex, size_t hlen)
{
    size_t n = strlen(hex) / 2;

    if (inlen != n + hlen)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        char two[3] = {hex[2 * i], hex[2 * i + 1], '\0'};
        v = (unsigned)strtoul(two, NULL, 16);
        if (in[i] != v)
            return false;
    }
    return true;
}

/* A DigestInfo of one of the five hashes in its canonical (DER) form. */
static bool
is_canonical_digest_info(const unsigned char *in, size_t inlen)
{
    for (size_t i = 0; i < sizeof(di_prefixes) / sizeof(di_prefixes[0]); i++)
        if (hex_prefix_is(in, inlen, di_prefixes[i].hex, di_prefixes[i].hlen))
            return true;
    return false;
}

/* EMSA-PSS-VERIFY (RFC 8017 9.1.2) steps 3-12 without mHash: does em (k
 * octets, k the modulus's size) decode with md, MGF1 of md and a salt of
 * md's length? */
static bool
pss_decodes(const unsigned char *em_full, size_t k, int modbits, const EVP_MD *md)
{
    size_t embits = (size_t)modbits - 1, emlen = (embits + 7) / 8;
    size_t hlen = (size_t)EVP_MD_get_size(md), dblen, i;
    unsigned extra = (unsigned)(8 * emlen - embits);
    unsigned char db[TLS_KEY_IN_MAX], t[EVP_MAX_MD_SIZE], ctr[4];
    const unsigned char *em = em_full, *h;

    if (k == emlen + 1) {
        if (em_full[0] != 0)
            return false;
        em++;
    } else if (k != emlen) {
        return false;
    }
    if (emlen < 2 * hlen + 2 || em[emlen - 1] != 0xbc)
        return false;
    if (extra > 0 && (em[0] >> (8 - extra)) != 0)
        return false;
    dblen = emlen - hlen - 1;
    h = em + dblen;
    memcpy(db, em, dblen);
    for (uint32_t c = 0; (size_t)c * hlen < dblen; c++) {
        unsigned int tlen = 0;
        ctr[0] = (unsigned char)(c >> 24);
        ctr[1] = (unsigned char)(c >> 16);
        ctr[2] = (unsigned char)(c >> 8);
        ctr[3] = (unsigned char)c;
        EVP_MD_CTX *x = EVP_MD_CTX_new();
        if (x == NULL || EVP_DigestInit_ex(x, md, NULL) != 1 || EVP_DigestUpdate(x, h, hlen) != 1 ||
            EVP_DigestUpdate(x, ctr, 4) != 1 || EVP_DigestFinal_ex(x, t, &tlen) != 1)
            abort();
        EVP_MD_CTX_free(x);
        for (i = 0; i < tlen && (size_t)c * hlen + i < dblen; i++)
            db[(size_t)c * hlen + i] ^= t[i];
    }
    if (extra > 0)
        db[0] &= (unsigned char)(0xff >> extra);
    for (i = 0; i < dblen - hlen - 1; i++)
        if (db[i] != 0)
            return false;
    return db[dblen - hlen - 1] == 0x01;
}

static bool
pss_decodes_any(const unsigned char *em, size_t k, int modbits)
{
    return pss_decodes(em, k, modbits, EVP_sha256()) || pss_decodes(em, k, modbits, EVP_sha384()) ||
           pss_decodes(em, k, modbits, EVP_sha512());
}

/* The answer opened with the public key and padding: exactly in? */
static bool
rsa_recovers(EVP_PKEY *pub, int padding, const unsigned char *sig, size_t siglen,
             const unsigned char *in, size_t inlen)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
    unsigned char got[TLS_KEY_OUT_MAX];
    size_t gotlen = sizeof(got);
    bool ok;

    ok = c != NULL && EVP_PKEY_verify_recover_init(c) == 1 &&
         EVP_PKEY_CTX_set_rsa_padding(c, padding) == 1 &&
         EVP_PKEY_verify_recover(c, got, &gotlen, sig, siglen) == 1 && gotlen == inlen &&
         memcmp(got, in, inlen) == 0;
    EVP_PKEY_CTX_free(c);
    return ok;
}

static bool
ecdsa_verifies(EVP_PKEY *pub, const unsigned char *sig, size_t siglen, const unsigned char *in,
               size_t inlen)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
    bool ok;

    ok = c != NULL && EVP_PKEY_verify_init(c) == 1 &&
         EVP_PKEY_verify(c, sig, siglen, in, inlen) == 1;
    EVP_PKEY_CTX_free(c);
    return ok;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int ops[] = {TLS_KEY_OP_RSA_SIGN, TLS_KEY_OP_ECDSA_SIGN, 0, 3};
    const int pads[] = {RSA_PKCS1_PADDING,
                        RSA_NO_PADDING,
                        NID_X9_62_prime256v1,
                        NID_secp384r1,
                        RSA_PKCS1_PSS_PADDING,
                        RSA_PKCS1_OAEP_PADDING,
                        0,
                        NID_secp521r1};
    const struct fuzz_key *key;
    const unsigned char *in;
    unsigned char *out;
    size_t inlen, keysize, room, outlen;
    char why[256];
    int op, pad, rc;
    bool well_formed = false;

    setup_once();
    if (size < 2)
        return 0;
    key = &keys[data[0] & 3];
    op = ops[(data[0] >> 2) & 3];
    keysize = (size_t)EVP_PKEY_get_size(key->priv);
    switch ((data[0] >> 4) & 3) {
    case 0:
        room = TLS_KEY_OUT_MAX;
        break;
    case 1:
        room = keysize;
        break;
    case 2:
        room = keysize - 1;
        break;
    default:
        room = 1;
        break;
    }
    if (data[1] & 0x80) {
        uint32_t v;
        if (size < 6)
            return 0;
        v = (uint32_t)data[2] | (uint32_t)data[3] << 8 | (uint32_t)data[4] << 16 |
            (uint32_t)data[5] << 24;
        pad = (int)v;
        in = data + 6;
        inlen = size - 6;
    } else {
        pad = pads[data[1] % 8];
        in = data + 2;
        inlen = size - 2;
    }

    /* what the harness, on its own, takes for a request TLS makes */
    if (op == TLS_KEY_OP_RSA_SIGN && key->rsa && pad == RSA_PKCS1_PADDING)
        well_formed = inlen == 36 || is_canonical_digest_info(in, inlen);
    else if (op == TLS_KEY_OP_RSA_SIGN && key->rsa && pad == RSA_NO_PADDING)
        well_formed = inlen == keysize && pss_decodes_any(in, inlen, EVP_PKEY_get_bits(key->priv));
    else if (op == TLS_KEY_OP_ECDSA_SIGN && !key->rsa && pad == key->nid)
        well_formed = inlen == 20 || inlen == 28 || inlen == 32 || inlen == 48 || inlen == 64;

    out = malloc(room); /* exactly the room: a write past it is ASan's */
    if (out == NULL)
        abort();
    outlen = room;
    memset(why, 'x', sizeof(why));
    why[sizeof(why) - 1] = '\0';
    rc = tls_key_op_why(key->priv, op, pad, in, inlen, out, &outlen, why, sizeof(why));
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc != 0) {
        FUZZ_CHECK(why[0] != '\0' && strlen(why) < sizeof(why) - 1);
        /* a request TLS makes is signed when there is room for the answer */
        FUZZ_CHECK(!(well_formed && room >= keysize));
        free(out);
        return 0;
    }

    FUZZ_CHECK(outlen > 0 && outlen <= room);
    FUZZ_CHECK(inlen > 0 && inlen <= TLS_KEY_IN_MAX);
    if (op == TLS_KEY_OP_RSA_SIGN) {
        FUZZ_CHECK(key->rsa);
        FUZZ_CHECK(pad == RSA_PKCS1_PADDING || pad == RSA_NO_PADDING);
        FUZZ_CHECK(outlen == keysize); /* as long as the modulus */
        if (pad == RSA_PKCS1_PADDING) {
            FUZZ_CHECK(inlen == 36 || is_canonical_digest_info(in, inlen));
        } else {
            FUZZ_CHECK(inlen == keysize && in[inlen - 1] == 0xbc);
            FUZZ_CHECK(pss_decodes_any(in, inlen, EVP_PKEY_get_bits(key->priv)));
        }
        FUZZ_CHECK(rsa_recovers(key->pub, pad, out, outlen, in, inlen));
    } else {
        FUZZ_CHECK(op == TLS_KEY_OP_ECDSA_SIGN);
        FUZZ_CHECK(!key->rsa && pad == key->nid);
        FUZZ_CHECK(inlen == 20 || inlen == 28 || inlen == 32 || inlen == 48 || inlen == 64);
        FUZZ_CHECK(ecdsa_verifies(key->pub, out, outlen, in, inlen));
    }
    free(out);
    return 0;
}
