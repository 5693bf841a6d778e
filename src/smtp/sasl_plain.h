/*
 * sasl_plain.h — the PLAIN mechanism's message (RFC 4616 2):
 * [authzid] NUL authcid NUL passwd, each without NUL, authcid and passwd
 * not empty.
 * Pure: no I/O, no allocation; the pointers point into the caller's buffer.
 * Must never: accept octets after the password, or an empty user or password.
 */
#ifndef POSTERN_SASL_PLAIN_H
#define POSTERN_SASL_PLAIN_H

#include <stddef.h>

/* buf holds n decoded octets and a NUL at buf[n]. 0 and the three parts
 * (authzid "" when absent), or -1 for a malformed message. */
int sasl_plain_split(const char *buf, size_t n, const char **authzid, const char **authcid,
                     const char **passwd);

#endif
