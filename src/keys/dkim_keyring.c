/*
 * dkim_keyring.c — see dkim_keyring.h.
 */
#include "keys/dkim_keyring.h"
#include "config/config.h"
#include "lib/log.h"
#include "lib/util.h"
#include "smtp/dkim_key.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct dkim_entry {
    char *domain;
    char selector[16];
    char *txt; /* the public half, as the TXT record publishes it */
    EVP_PKEY *key;
};

struct dkim_keyring {
    struct dkim_entry *v;
    size_t n;
};

/* Reads one selector's key; logs why it is not kept. */
static void
load_one(struct dkim_keyring *ring, const char *dkimdir, const struct dkim_signing_config *d,
         enum dkim_selector s)
{
    const char *selector = s == DKIM_SELECTOR1 ? "selector1" : "selector2";
    const char *want = dkim_selector_public_key(d, s);
    char *path = xasprintf("%s/%s/%s.key", dkimdir, d->domain_name, selector), err[256], *txt;
    struct stat st;
    size_t len;
    char *pem;
    EVP_PKEY *key;

    if (want == NULL) {
        free(path);
        return; /* no key made for it (a configuration written by hand) */
    }
    if ((pem = file_read(path, &len)) == NULL) {
        log_warnx("DKIM %s %s: cannot read %s: %s; mail signed with it goes out unsigned",
                  d->domain_name, selector, path, strerror(errno));
        free(path);
        return;
    }
    if (stat(path, &st) == 0 && (st.st_mode & 077) != 0)
        log_warnx("DKIM %s %s: %s is accessible to group or others (mode %04o); it should be "
                  "0600",
                  d->domain_name, selector, path, (unsigned)(st.st_mode & 07777));
    key = dkim_key_read(pem, len, err, sizeof(err));
    mem_free_wiped(pem, len);
    if (key == NULL) {
        log_warnx("DKIM %s %s: %s: %s", d->domain_name, selector, path, err);
        free(path);
        return;
    }
    txt = dkim_key_txt(key);
    if (txt == NULL || strcmp(txt, want) != 0) {
        log_warnx("DKIM %s %s: %s is not the key Selector%cPublicKey publishes; not used",
                  d->domain_name, selector, path, selector[8]);
        free(txt);
        EVP_PKEY_free(key);
        free(path);
        return;
    }
    ring->v = xrealloc(ring->v, (ring->n + 1) * sizeof(*ring->v));
    ring->v[ring->n].domain = xstrdup(d->domain_name);
    strlcpy_p(ring->v[ring->n].selector, selector, sizeof(ring->v[0].selector));
    ring->v[ring->n].txt = txt;
    ring->v[ring->n].key = key;
    ring->n++;
    free(path);
}

struct dkim_keyring *
dkim_keyring_load(const char *dkimdir, const struct config *cfg)
{
    struct dkim_keyring *ring = xcalloc(1, sizeof(*ring));

    for (size_t i = 0; cfg != NULL && i < cfg->ndkim_signing_configs; i++) {
        const struct dkim_signing_config *d = &cfg->dkim_signing_configs[i];
        if (!d->enabled || d->domain_name == NULL)
            continue;
        load_one(ring, dkimdir, d, DKIM_SELECTOR1);
        load_one(ring, dkimdir, d, DKIM_SELECTOR2);
    }
    return ring;
}

size_t
dkim_keyring_count(const struct dkim_keyring *ring)
{
    return ring ? ring->n : 0;
}

int
dkim_keyring_sign(const struct dkim_keyring *ring, const char *domain, const char *selector,
                  const char *txt, const unsigned char *hash, size_t hashlen, unsigned char *sig,
                  size_t *siglen, char *why, size_t whylen)
{
    if (hashlen != DKIM_HASH_LEN) {
        errorf(why, whylen, "a hash of %zu octets", hashlen);
        return -1;
    }
    for (size_t i = 0; ring != NULL && i < ring->n; i++) {
        const struct dkim_entry *e = &ring->v[i];
        if (str_ieq(e->domain, domain) && strcmp(e->selector, selector) == 0 &&
            strcmp(e->txt, txt) == 0)
            return dkim_key_sign(e->key, hash, sig, siglen, why, whylen);
    }
    errorf(why, whylen, "no key");
    return -1;
}

void
dkim_keyring_free(struct dkim_keyring *ring)
{
    if (ring == NULL)
        return;
    for (size_t i = 0; i < ring->n; i++) {
        free(ring->v[i].domain);
        free(ring->v[i].txt);
        EVP_PKEY_free(ring->v[i].key);
    }
    free(ring->v);
    free(ring);
}
