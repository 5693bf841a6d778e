/*
 * password.c — see password.h. Hashing and checking of SMTP AUTH passwords
 * with libxcrypt.
 *
 * Must never: log or keep a plaintext password, leave crypt(3)'s working
 * state (which holds the password) in freed memory, or compare hashes in
 * time that depends on where they differ.
 */
#include "lib/password.h"
#include "lib/util.h"

#include <crypt.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(PASSWORD_HASH_SIZE >= CRYPT_OUTPUT_SIZE, "PASSWORD_HASH_SIZE too small");

/* crypt_r reports failure either as NULL or as a string starting with '*'
 * ("*0"/"*1"), which can never be a valid hash. */
static bool
crypt_failed(const char *h)
{
    return h == NULL || h[0] == '*' || h[0] == '\0';
}

int
password_hash(const char *plain, char *out, size_t outlen)
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    /* About 32 kB: on the heap rather than a worker thread's stack. */
    struct crypt_data *cd;
    const char *h;
    int rc = -1;

    if (out != NULL && outlen > 0)
        out[0] = '\0';
    if (plain == NULL || out == NULL || outlen == 0)
        return -1;
    /* count 0 = libxcrypt's default cost; NULL rbytes = it reads the OS
     * random source itself. */
    if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) == NULL)
        return -1;
    cd = xcalloc(1, sizeof(*cd));
    h = crypt_r(plain, salt, cd);
    if (!crypt_failed(h) && strlcpy_p(out, h, outlen) < outlen)
        rc = 0;
    else
        explicit_bzero(out, outlen);
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    explicit_bzero(salt, sizeof(salt));
    return rc;
}

/* Examines every byte of both strings up to the longer length, so timing
 * reveals at most the lengths, which the hash format fixes anyway. */
static bool
ct_streq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), n = la > lb ? la : lb;
    volatile unsigned char diff = (unsigned char)(la != lb);

    for (size_t i = 0; i < n; i++) {
        unsigned char ca = i < la ? (unsigned char)a[i] : 0;
        unsigned char cb = i < lb ? (unsigned char)b[i] : 0;
        diff |= (unsigned char)(ca ^ cb);
    }
    return diff == 0;
}

bool
password_verify(const char *plain, const char *hash)
{
    struct crypt_data *cd;
    const char *h;
    bool ok = false;
    int check;

    if (plain == NULL || hash == NULL || hash[0] != '$')
        return false;
    if (strlen(hash) >= CRYPT_OUTPUT_SIZE)
        return false;
    /* Rejects unknown or garbled settings before spending a hash on them;
     * legacy but supported methods still verify, so old accounts work. */
    check = crypt_checksalt(hash);
    if (check == CRYPT_SALT_INVALID || check == CRYPT_SALT_METHOD_DISABLED)
        return false;
    cd = xcalloc(1, sizeof(*cd));
    h = crypt_r(plain, hash, cd);
    if (!crypt_failed(h))
        ok = ct_streq(h, hash);
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return ok;
}
