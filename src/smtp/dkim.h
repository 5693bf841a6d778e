/*
 * dkim.h — DKIM signatures of outgoing mail (RFC 6376; Ed25519 from RFC
 * 8463), the pure part: the header fields of a stored message, the simple
 * and relaxed canonicalizations of header fields and body, the body hash,
 * the choice of the fields to sign, the hash the private key signs, and
 * the DKIM-Signature field itself, folded.
 *
 * The message is what the queue stores and the client sends: CRLF line
 * ends, dot-unstuffed. Who signs is decided elsewhere (receive/
 * dkim_signer.h in the smtp process; the private key never comes here:
 * the keys process signs the 32-byte hash, smtp/dkim_key.h).
 *
 * Must never: read or write a file, fail on any bytes given as a header
 * section or body (the content is the sender's), or produce a field that
 * signs something other than what the client sends (the h= list names
 * only fields present, plus From once more so that no From can be added).
 */
#ifndef POSTERN_DKIM_H
#define POSTERN_DKIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* SHA-256, the only hash of a=rsa-sha256 and a=ed25519-sha256. */
#define DKIM_HASH_LEN 32
/* A header section longer than this is not signed (MaxHeaderSize is 64 KB
 * by default; a section this long is not mail a receiver would take). */
#define DKIM_HEADER_MAX (1024 * 1024)
/* The longest line of the field made here, where a tag allows folding. */
#define DKIM_LINE_MAX 78

enum dkim_canon { DKIM_CANON_RELAXED, DKIM_CANON_SIMPLE };
enum dkim_alg { DKIM_ALG_RSA_SHA256, DKIM_ALG_ED25519_SHA256 };

/* One header field: its text from the first octet of its name through the
 * line break that ends its last line (if there is one), and the length of
 * its name without blanks before the colon. */
struct dkim_field {
    const char *text;
    size_t len;
    size_t name_len;
};

/* The fields of the header section h[0..n) (without the empty line that
 * ends it), in order; *fields is malloc'd (NULL when there is none). A
 * line that neither starts a field ("Name:") nor continues one (starts
 * with a blank) belongs to no field and is never signed. */
size_t dkim_fields_parse(const char *h, size_t n, struct dkim_field **fields);

/* Does field f have this name (case-insensitive)? */
bool dkim_field_is(const struct dkim_field *f, const char *name);

/* The author's domain (RFC 6376 names d= after it): the domain of the
 * first address of the one From field, lower-cased, malloc'd. NULL when
 * there is no From field or more than one, or its first address has no
 * domain name (a group, a domain literal, garbage). */
char *dkim_author_domain(const struct dkim_field *f, size_t n);

/* Appends the canonical form of the field text[0..len) to the buffer
 * *out of *outlen octets (realloc'd), CRLF-terminated: simple (RFC 6376
 * 3.4.1) is the field as it is, relaxed (3.4.2) lower-cases the name,
 * unfolds, reduces blanks to one space and drops them around the colon
 * and at the end. */
void dkim_canon_field(enum dkim_canon c, const char *text, size_t len, char **out, size_t *outlen);

/* The body hash (bh=), fed the body in pieces of any size: everything
 * after the empty line that ends the header section. */
struct dkim_body;
struct dkim_body *dkim_body_new(enum dkim_canon c);
void dkim_body_update(struct dkim_body *b, const void *data, size_t len);
/* Ends the body and writes its hash; b is freed. */
void dkim_body_final(struct dkim_body *b, unsigned char bh[DKIM_HASH_LEN]);
void dkim_body_free(struct dkim_body *b);

/* The names signed (h=), colon-separated, lower case: of the fields RFC
 * 6376 5.4.1 and RFC 8460 5.3 recommend, each as often as the message
 * has it, then "from" once more. malloc'd. */
char *dkim_signed_names(const struct dkim_field *f, size_t n);

struct dkim_sig_params {
    enum dkim_alg alg;
    enum dkim_canon header_canon, body_canon;
    const char *domain;   /* d= */
    const char *selector; /* s= */
    int64_t timestamp;    /* t=, seconds since the epoch */
    const char *names;    /* h=, as dkim_signed_names makes it */
    unsigned char bh[DKIM_HASH_LEN];
};

/* The DKIM-Signature field up to and including "b=" (its last tag),
 * folded at DKIM_LINE_MAX with CRLF and a space, without a line break at
 * the end: what is signed, and the start of the field sent. malloc'd. */
char *dkim_signature_prefix(const struct dkim_sig_params *p);

/* The hash the key signs (RFC 6376 3.7): the fields names[] (a colon
 * list; blanks around the colons allowed) each taken from the bottom of
 * the header up, as often as named, one name with no field left adding
 * nothing, then the signature field prefix (through "b=", 3.7 step 2),
 * all canonicalized with c, the prefix without a final CRLF. */
void dkim_header_hash(enum dkim_canon c, const struct dkim_field *f, size_t n, const char *names,
                      const char *prefix, unsigned char hash[DKIM_HASH_LEN]);

/* The whole field to send: prefix, then the base64 of sig folded at
 * DKIM_LINE_MAX, then CRLF. malloc'd. */
char *dkim_signature_field(const char *prefix, const unsigned char *sig, size_t siglen);

/* Standard base64 (RFC 4648, padded) of in, malloc'd. */
char *dkim_base64(const unsigned char *in, size_t len);

const char *dkim_canon_name(enum dkim_canon c); /* "relaxed", "simple" */
const char *dkim_alg_name(enum dkim_alg a);     /* "rsa-sha256", "ed25519-sha256" */

#endif
