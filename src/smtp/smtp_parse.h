/*
 * smtp_parse.h — the SMTP command grammar (RFC 5321, with the ESMTP
 * parameters of RFC 1870 SIZE, 6152 8BITMIME, 3030 BINARYMIME, 6531
 * SMTPUTF8, 3461 DSN, 4954 AUTH, 8689 REQUIRETLS).
 *
 * Pure functions over one command line (CRLF already removed): no I/O, no
 * allocation, nothing kept between calls. Errors come back as a complete
 * SMTP reply line without CRLF ("501 5.5.4 Syntax: MAIL FROM:<address>"),
 * so the session sends exactly what the parser decided.
 */
#ifndef POSTERN_SMTP_PARSE_H
#define POSTERN_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SMTP_LOCAL_MAX 64   /* RFC 5321 4.5.3.1.1 */
#define SMTP_DOMAIN_MAX 255 /* RFC 5321 4.5.3.1.2 */
#define SMTP_PATH_MAX 256   /* RFC 5321 4.5.3.1.3, including < > */
#define SMTP_ENVID_MAX 100  /* RFC 3461 4.4 */
#define SMTP_ORCPT_MAX 500  /* RFC 3461 4.2: 500 characters including type */

enum smtp_verb {
    SMTP_VERB_UNKNOWN,
    SMTP_VERB_HELO,
    SMTP_VERB_EHLO,
    SMTP_VERB_MAIL,
    SMTP_VERB_RCPT,
    SMTP_VERB_DATA,
    SMTP_VERB_BDAT,
    SMTP_VERB_RSET,
    SMTP_VERB_NOOP,
    SMTP_VERB_QUIT,
    SMTP_VERB_VRFY,
    SMTP_VERB_EXPN,
    SMTP_VERB_HELP,
    SMTP_VERB_STARTTLS,
    SMTP_VERB_AUTH,
};

struct smtp_command {
    enum smtp_verb verb;
    const char *verb_text; /* canonical upper-case name, "UNKNOWN" for none */
    const char *arg;       /* points into the line after the verb and blanks; "" if none */
};

/* Splits a line into verb and argument. Verbs are case-insensitive; "MAIL
 * FROM:" and "RCPT TO:" are recognised by their verb alone, the argument then
 * starting at "FROM:"/"TO:". Never fails: an unknown verb gives
 * SMTP_VERB_UNKNOWN. Leading blanks before arg are skipped; trailing blanks
 * stay (arg points into the const line): smtp_parse_mail/rcpt skip them,
 * other callers (HELO, AUTH...) must trim a copy. */
void smtp_command_parse(const char *line, struct smtp_command *cmd);

/* A mailbox as parsed from a reverse- or forward-path. */
struct smtp_address {
    char addr[SMTP_PATH_MAX + 1]; /* local@domain as received (quoted local
                                     parts kept quoted), "" for the null path <> */
    size_t at;                    /* offset of '@' in addr (0 if null path) */
    bool utf8;                    /* contains non-ASCII octets */
};

enum smtp_body { SMTP_BODY_UNSPEC, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME, SMTP_BODY_BINARYMIME };
enum smtp_ret { SMTP_RET_UNSPEC, SMTP_RET_FULL, SMTP_RET_HDRS };

struct smtp_mail_params {
    uint64_t size; /* SIZE=, 0 when absent */
    bool has_size;
    enum smtp_body body;
    bool smtputf8;
    enum smtp_ret ret;
    char envid[SMTP_ENVID_MAX + 1]; /* xtext as received (still encoded), "" if absent */
    char auth[SMTP_PATH_MAX + 3];   /* AUTH=<mailbox> as received, "" if absent */
    bool requiretls;                /* REQUIRETLS (RFC 8689): the parser only reads it;
                                       whether the session offered it is the session's call */
};

#define SMTP_NOTIFY_NEVER 0x1
#define SMTP_NOTIFY_SUCCESS 0x2
#define SMTP_NOTIFY_FAILURE 0x4
#define SMTP_NOTIFY_DELAY 0x8

struct smtp_rcpt_params {
    unsigned notify;                /* SMTP_NOTIFY_* bits, 0 when absent */
    char orcpt[SMTP_ORCPT_MAX + 1]; /* "rfc822;xtext" as received, "" if absent */
};

/* Parses the argument of MAIL ("FROM:<a@b> SIZE=10 BODY=8BITMIME").
 * Accepts <> (null path) and strips an RFC 5321 source route (<@x,@y:a@b>).
 * Unknown parameters, repeated parameters and bad values are errors.
 * Returns 0 (reply set to NULL), or -1 with reply set to a static reply
 * line and both outputs zeroed. */
int smtp_parse_mail(const char *arg, struct smtp_address *from, struct smtp_mail_params *params,
                    const char **reply);

/* Parses the argument of RCPT ("TO:<a@b> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@b").
 * The null path is refused; <postmaster> (no domain) is accepted as
 * RFC 5321 4.5.1 requires, with at = 0. */
int smtp_parse_rcpt(const char *arg, struct smtp_address *to, struct smtp_rcpt_params *params,
                    const char **reply);

/* Validates an EHLO/HELO argument: a domain name or an address literal
 * ([192.0.2.1], [IPv6:2001:db8::1]). Returns true when acceptable. */
bool smtp_valid_helo(const char *arg);

/* Checks xtext (RFC 3461 4): printable ASCII except '+' and '=', with
 * "+XX" hex escapes. */
bool smtp_valid_xtext(const char *s);

/* Base64 (RFC 4648) for AUTH. decode returns the decoded length, or -1 on
 * bad input or when out is too small; out is NUL-terminated. encode returns
 * the encoded length (out NUL-terminated) or -1 when out is too small.
 * Decoding is strict (padding required, no whitespace, zero pad bits); the
 * lone "=" of RFC 4954 4 (empty initial response) is left to the caller. */
long base64_decode(const char *in, size_t inlen, unsigned char *out, size_t outsize);
long base64_encode(const unsigned char *in, size_t inlen, char *out, size_t outsize);

/* Domain part (after '@'), or "" for a path without one. */
const char *smtp_address_domain(const struct smtp_address *a);

#endif
