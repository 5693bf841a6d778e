/*
 * tls_keyring.c — see tls_keyring.h.
 */
#include "tls/tls_keyring.h"
#include "lib/util.h"
#include "tls/tls_int.h"

#include <stdlib.h>
#include <string.h>

struct keyring_entry {
    char key_id[THUMBPRINT_LEN + 1];
    EVP_PKEY *key;
};

struct tls_keyring {
    struct keyring_entry *entries;
    size_t n;
};

struct tls_keyring *
tls_keyring_load(const char *certdir, char *err, size_t errlen)
{
    struct tls_src src;
    struct tls_keyring *ring;

    memset(&src, 0, sizeof(src));
    if (tls_src_read_dir(&src, certdir, true, err, errlen) < 0) {
        tls_src_free(&src);
        return NULL;
    }
    ring = xcalloc(1, sizeof(*ring));
    ring->entries = xcalloc(src.ncerts ? src.ncerts : 1, sizeof(*ring->entries));
    for (size_t i = 0; i < src.ncerts; i++) {
        struct tls_src_cert *c = &src.certs[i];
        if (c->key == NULL || c->key_state != KEY_OK || c->key_id[0] == '\0')
            continue;
        strlcpy_p(ring->entries[ring->n].key_id, c->key_id, sizeof(ring->entries[0].key_id));
        ring->entries[ring->n].key = c->key;
        EVP_PKEY_up_ref(c->key);
        ring->n++;
    }
    tls_src_free(&src);
    return ring;
}

struct evp_pkey_st *
tls_keyring_get(const struct tls_keyring *ring, const char *key_id)
{
    for (size_t i = 0; ring && i < ring->n; i++)
        if (strcmp(ring->entries[i].key_id, key_id) == 0)
            return ring->entries[i].key;
    return NULL;
}

void
tls_keyring_free(struct tls_keyring *ring)
{
    if (ring == NULL)
        return;
    for (size_t i = 0; i < ring->n; i++)
        EVP_PKEY_free(ring->entries[i].key);
    free(ring->entries);
    free(ring);
}
