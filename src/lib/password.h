/*
 * password.h — password hashing for SMTP AUTH (yescrypt through libxcrypt).
 *
 * Must never: log a plaintext password, or keep one (or any copy of it)
 * in memory after the call returns.
 */
#ifndef POSTERN_PASSWORD_H
#define POSTERN_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

/* Room for any hash crypt(3) can produce (libxcrypt's CRYPT_OUTPUT_SIZE);
 * a yescrypt hash with default cost is about 73 characters. */
#define PASSWORD_HASH_SIZE 384

/* Hashes a password with yescrypt (crypt_gensalt_rn("$y$", 0, ...) + crypt_r
 * from <crypt.h>, libxcrypt). Returns 0 and writes the hash string into out,
 * or -1 (out is then empty). */
int password_hash(const char *plain, char *out, size_t outlen);

/* Constant-time comparison of crypt_r(plain, hash) with hash. Returns true on
 * match. A NULL or malformed hash never matches; nor does a hash outside the
 * "$id$..." format (traditional DES crypt), or a NULL password. */
bool password_verify(const char *plain, const char *hash);

#endif
