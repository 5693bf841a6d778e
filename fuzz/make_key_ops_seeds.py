#!/usr/bin/python3
"""make_key_ops_seeds.py — writes the seeds of the key_ops fuzz target
(fuzz/corpus/key_ops/), in the input layout fuzz_key_ops.c's header
describes: requests as the smtp process's remote key makes them (PKCS#1
DigestInfos, EMSA-PSS encodings made by a real signature and recovered with
the public key, ECDSA digests) and a few it must refuse.

Needs python3-cryptography (Debian: apt-get install python3-cryptography).
The PSS encodings come from throwaway keys of the same sizes as the
target's: an encoding depends only on the modulus's bit length, so it is
well formed for the target's own keys too (random salts: each run writes
different files). Run from anywhere: /usr/bin/python3 fuzz/make_key_ops_seeds.py
Must never: write outside fuzz/corpus/key_ops/ or keep the keys it makes.
"""
import hashlib
import os
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "key_ops")

# octet 0: key (bits 0-1), operation (2-3), room (4-5)
RSA2048, EC256, RSA1537, EC384 = 0, 1, 2, 3
OP_RSA, OP_ECDSA, OP_ZERO, OP_THREE = 0, 1, 2, 3
ROOM_MAX, ROOM_KEY, ROOM_SHORT, ROOM_ONE = 0, 1, 2, 3
# octet 1: padding_or_nid from the table (0-7), or 0x80 and 4 octets
PKCS1, NOPAD, NID_P256, NID_P384, PSSPAD, OAEP, ZERO, NID_P521 = range(8)

DIGESTINFO = {  # DER up to the digest, NULL parameters (RFC 8017 9.2)
    "sha1": bytes.fromhex("3021300906052b0e03021a05000414"),
    "sha224": bytes.fromhex("302d300d06096086480165030402040500041c"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
SHA256_NOPARAMS = bytes.fromhex("302f300b06096086480165030402010420")
MD5_DIGESTINFO = bytes.fromhex("3020300c06082a864886f70d020505000410")


def head(key, op, room, pad):
    return bytes([key | op << 2 | room << 4, pad])


def head_raw(key, op, room, value):
    return bytes([key | op << 2 | room << 4, 0x80]) + struct.pack("<i", value)


def digest(name, text=b"postern fuzz seed"):
    return hashlib.new(name, text).digest()


def pss_encoding(priv, hash_alg, salt_length):
    """An EMSA-PSS encoding as OpenSSL makes it for TLS: sign a digest,
    then open the signature with the public key (no padding)."""
    d = digest(hash_alg.name)
    sig = priv.sign(
        d,
        padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=salt_length),
        utils.Prehashed(hash_alg),
    )
    pub = priv.public_key().public_numbers()
    k = (priv.key_size + 7) // 8
    return pow(int.from_bytes(sig, "big"), pub.e, pub.n).to_bytes(k, "big")


def main():
    os.makedirs(OUT, exist_ok=True)
    k2048 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    k1537 = rsa.generate_private_key(public_exponent=65537, key_size=1537)
    seeds = {}

    # accepted: PKCS#1 DigestInfos, TLS 1.0/1.1's MD5+SHA-1
    for name, prefix in DIGESTINFO.items():
        seeds["rsa_pkcs1_" + name] = head(RSA2048, OP_RSA, ROOM_MAX, PKCS1) + prefix + digest(name)
    seeds["rsa_pkcs1_sha256_noparams"] = (
        head(RSA2048, OP_RSA, ROOM_KEY, PKCS1) + SHA256_NOPARAMS + digest("sha256")
    )
    seeds["rsa_pkcs1_md5sha1"] = (
        head(RSA2048, OP_RSA, ROOM_MAX, PKCS1) + digest("md5") + digest("sha1")
    )
    seeds["rsa1537_pkcs1_sha384"] = (
        head(RSA1537, OP_RSA, ROOM_MAX, PKCS1) + DIGESTINFO["sha384"] + digest("sha384")
    )
    seeds["rsa_pkcs1_raw_value"] = (
        head_raw(RSA2048, OP_RSA, ROOM_MAX, 1) + DIGESTINFO["sha256"] + digest("sha256")
    )
    # accepted, although not DER (OpenSSL's decoder takes BER): a long-form
    # length, an indefinite-length SEQUENCE
    seeds["rsa_pkcs1_ber_long_length"] = (
        head(RSA2048, OP_RSA, ROOM_MAX, PKCS1)
        + bytes.fromhex("3032300d06096086480165030402010500048120")
        + digest("sha256")
    )
    seeds["rsa_pkcs1_ber_indefinite"] = (
        head(RSA2048, OP_RSA, ROOM_MAX, PKCS1)
        + bytes.fromhex("3080300d060960864801650304020105000420")
        + digest("sha256")
        + b"\0\0"
    )
    # accepted: PSS encodings (TLS 1.2/1.3), salt as long as the hash
    for h in (hashes.SHA256(), hashes.SHA384(), hashes.SHA512()):
        seeds["rsa_pss_" + h.name] = head(RSA2048, OP_RSA, ROOM_MAX, NOPAD) + pss_encoding(
            k2048, h, h.digest_size
        )
    seeds["rsa1537_pss_sha256"] = head(RSA1537, OP_RSA, ROOM_KEY, NOPAD) + pss_encoding(
        k1537, hashes.SHA256(), 32
    )
    # accepted: ECDSA over digests of the key's curve
    for n in ("sha1", "sha256", "sha512"):
        seeds["ec256_" + n] = head(EC256, OP_ECDSA, ROOM_MAX, NID_P256) + digest(n)
    seeds["ec384_sha384"] = head(EC384, OP_ECDSA, ROOM_KEY, NID_P384) + digest("sha384")
    seeds["ec384_sha224"] = head(EC384, OP_ECDSA, ROOM_MAX, NID_P384) + digest("sha224")

    # refused
    seeds["bad_pkcs1_md5_digestinfo"] = (
        head(RSA2048, OP_RSA, ROOM_MAX, PKCS1) + MD5_DIGESTINFO + digest("md5")
    )
    seeds["bad_pkcs1_trailing"] = (
        head(RSA2048, OP_RSA, ROOM_MAX, PKCS1) + DIGESTINFO["sha256"] + digest("sha256") + b"\0"
    )
    seeds["bad_pkcs1_short_digest"] = (
        head(RSA2048, OP_RSA, ROOM_MAX, PKCS1) + DIGESTINFO["sha256"][:-1] + b"\x1f" + digest("sha256")[:31]
    )
    seeds["bad_raw_not_pss"] = head(RSA2048, OP_RSA, ROOM_MAX, NOPAD) + bytes(255) + b"\xbc"
    seeds["bad_raw_ciphertext"] = head(RSA2048, OP_RSA, ROOM_MAX, NOPAD) + bytes(
        range(1, 256)
    ) + b"\x07"
    seeds["bad_pss_salt20"] = head(RSA2048, OP_RSA, ROOM_MAX, NOPAD) + pss_encoding(
        k2048, hashes.SHA256(), 20
    )
    seeds["bad_pss_sha1"] = head(RSA2048, OP_RSA, ROOM_MAX, NOPAD) + pss_encoding(
        k2048, hashes.SHA1(), 20
    )
    seeds["bad_room_short"] = (
        head(RSA2048, OP_RSA, ROOM_SHORT, PKCS1) + DIGESTINFO["sha256"] + digest("sha256")
    )
    seeds["bad_oaep_padding"] = head(RSA2048, OP_RSA, ROOM_MAX, OAEP) + digest("sha256")
    seeds["bad_pss_padding_mode"] = head(RSA2048, OP_RSA, ROOM_MAX, PSSPAD) + digest("sha256")
    seeds["bad_rsa_op_on_ec"] = (
        head(EC256, OP_RSA, ROOM_MAX, PKCS1) + DIGESTINFO["sha256"] + digest("sha256")
    )
    seeds["bad_ecdsa_op_on_rsa"] = head(RSA2048, OP_ECDSA, ROOM_MAX, NID_P256) + digest("sha256")
    seeds["bad_ec_other_curve"] = head(EC256, OP_ECDSA, ROOM_MAX, NID_P384) + digest("sha256")
    seeds["bad_ec_no_nid"] = head(EC384, OP_ECDSA, ROOM_MAX, ZERO) + digest("sha384")
    seeds["bad_ec_33_octets"] = head(EC256, OP_ECDSA, ROOM_MAX, NID_P256) + digest("sha256") + b"!"
    seeds["bad_ec_room_one"] = head(EC256, OP_ECDSA, ROOM_ONE, NID_P256) + digest("sha256")
    seeds["bad_unknown_op"] = head(RSA2048, OP_THREE, ROOM_MAX, PKCS1) + digest("sha256")
    seeds["bad_op_zero"] = head(EC256, OP_ZERO, ROOM_MAX, NID_P256) + digest("sha256")
    seeds["bad_empty_input"] = head(RSA2048, OP_RSA, ROOM_MAX, PKCS1)
    seeds["bad_raw_p521_value"] = head_raw(EC256, OP_ECDSA, ROOM_MAX, 716) + digest("sha256")

    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(seeds), OUT))


if __name__ == "__main__":
    main()
