/*
 * cmdlet_dkim.c — New-, Set-, Get-, Rotate- and Remove-DkimSigningConfig,
 * Exchange Online's cmdlets for DKIM signing (RFC 6376) of the mail of an
 * accepted domain. Where Exchange Online has CNAMEs to keys it publishes
 * itself (Selector1CNAME), postern shows the TXT records to publish
 * (Selector1PublicKey, and Get-'s Selector1TxtRecord in zone-file form).
 *
 * Keys: DIR/dkim/<domain>/selector1.key and selector2.key, unencrypted
 * PKCS#8 PEM, mode 0600, written atomically (lib/fsutil.h) with the
 * instance owner's rights (lib/runas.h) before the configuration that
 * publishes them is saved; only the keys process reads them
 * (keys/dkim_keyring.h). Their public halves are in postern.conf, so Get-
 * never opens a private key.
 *
 * As Exchange Online: New- makes both selectors' keys at once, so that the
 * second can be published long before it signs; Rotate- makes the other
 * selector the one that signs (at once: Exchange Online waits four days)
 * and a new key for the selector it retires.
 * Must never: write or remove a key under -WhatIf; leave postern.conf
 * naming a key file whose key it does not publish (a save that fails puts
 * the replaced key back); print or log a private key.
 */
#include "admin/cmdlet_object.h"
#include "lib/fsutil.h"
#include "lib/util.h"
#include "smtp/dkim_key.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MSG_MAX 1024
/* A TXT record's character-strings hold 255 octets each (RFC 1035 3.3). */
#define TXT_STRING_MAX 255

static const char *
selector_name(enum dkim_selector s)
{
    return s == DKIM_SELECTOR2 ? "selector2" : "selector1";
}

static enum dkim_selector
other_selector(enum dkim_selector s)
{
    return s == DKIM_SELECTOR1 ? DKIM_SELECTOR2 : DKIM_SELECTOR1;
}

static void
utc_now(char buf[32])
{
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static char *
key_path(const struct cmdlet_ctx *ctx, const char *domain, enum dkim_selector s)
{
    return xasprintf("%s/dkim/%s/%s.key", ctx->instance_dir, domain, selector_name(s));
}

/* -KeySize as given (*text NULL when it was not): not a configuration
 * parameter, so it is taken before the others are checked. */
static int
key_size_take(struct cmdlet_ctx *ctx, struct cmdlet_args *a, const char **text)
{
    char msg[MSG_MAX];

    *text = NULL;
    if (cmdlet_args_string(a, "KeySize", text, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    return CMDLET_OK;
}

/* -KeySize: 1024 or 2048, for RSA only; *bits keeps its default when it
 * was not given. */
static int
key_size_check(struct cmdlet_ctx *ctx, const char *text, enum dkim_alg alg, unsigned *bits)
{
    if (text == NULL)
        return CMDLET_OK;
    if (alg == DKIM_ALG_ED25519_SHA256) {
        cmdlet_error(ctx, "KeySize: an Ed25519 key has no size to choose");
        return CMDLET_USAGE;
    }
    if (strcmp(text, "1024") != 0 && strcmp(text, "2048") != 0) {
        cmdlet_error(ctx, "KeySize: '%s' is not 1024 or 2048", text);
        return CMDLET_USAGE;
    }
    *bits = (unsigned)atoi(text);
    return CMDLET_OK;
}

/* A new key for selector s of d: the public half into d, the private half
 * (PEM, to be written and wiped) into *pem. */
static int
make_key(struct cmdlet_ctx *ctx, struct dkim_signing_config *d, enum dkim_selector s, unsigned bits,
         char **pem, size_t *pemlen)
{
    char err[512], *txt, now[32];
    enum dkim_alg alg = d->key_algorithm;

    if (dkim_key_generate(alg, bits, pem, pemlen, &txt, err, sizeof(err)) < 0) {
        cmdlet_error(ctx, "DkimSigningConfig \"%s\": %s: %s", d->name, selector_name(s), err);
        return CMDLET_ERROR;
    }
    utc_now(now);
    if (s == DKIM_SELECTOR1) {
        free(d->selector1_public_key);
        d->selector1_public_key = txt;
        d->selector1_key_size = alg == DKIM_ALG_ED25519_SHA256 ? 256 : bits;
    } else {
        free(d->selector2_public_key);
        d->selector2_public_key = txt;
        d->selector2_key_size = alg == DKIM_ALG_ED25519_SHA256 ? 256 : bits;
    }
    free(d->key_creation_time);
    d->key_creation_time = xstrdup(now);
    return CMDLET_OK;
}

/* Writes selector s's private key (DIR/dkim/<domain>/ made 0700 first). */
static int
write_key(struct cmdlet_ctx *ctx, const char *domain, enum dkim_selector s, const char *pem,
          size_t len)
{
    char *dir = xasprintf("%s/dkim", ctx->instance_dir);
    char *sub = xasprintf("%s/%s", dir, domain), *path = key_path(ctx, domain, s);
    struct fs_atomic w = {.mode = 0600, .replace = true, .sync_dir = true};
    int rc = CMDLET_OK;

    if (fs_mkdir(dir, 0700) < 0 || fs_mkdir(sub, 0700) < 0) {
        cmdlet_error(ctx, "%s: %s", errno == EEXIST ? sub : dir, strerror(errno));
        rc = CMDLET_ERROR;
    } else if (fs_write_atomic(path, pem, len, &w) < 0) {
        cmdlet_error(ctx, "%s: %s: %s", path, w.step, strerror(errno));
        rc = CMDLET_ERROR;
    }
    free(dir);
    free(sub);
    free(path);
    return rc;
}

/* Puts back what a key file held before (NULL: it did not exist). */
static void
restore_key(struct cmdlet_ctx *ctx, const char *domain, enum dkim_selector s, const char *old,
            size_t oldlen)
{
    char *path = key_path(ctx, domain, s);

    if (old != NULL)
        (void)write_key(ctx, domain, s, old, oldlen);
    else if (unlink(path) < 0 && errno != ENOENT)
        cmdlet_warning(ctx, "%s: %s", path, strerror(errno));
    free(path);
}

/* "Valid" when both selectors have a key published here and on disk. */
static const char *
status_of(const struct cmdlet_ctx *ctx, const struct dkim_signing_config *d)
{
    for (enum dkim_selector s = DKIM_SELECTOR1; s <= DKIM_SELECTOR2; s++) {
        char *path = key_path(ctx, d->domain_name, s);
        struct stat st;
        bool ok = dkim_selector_public_key(d, s) != NULL && stat(path, &st) == 0;
        free(path);
        if (!ok)
            return "KeyMissing";
    }
    return "Valid";
}

/* The zone-file line that publishes selector s: the text cut into
 * character-strings of TXT_STRING_MAX octets. */
static char *
txt_record(const struct dkim_signing_config *d, enum dkim_selector s)
{
    const char *txt = dkim_selector_public_key(d, s);
    size_t len;
    char *out, *o;

    if (txt == NULL)
        return xstrdup("");
    len = strlen(txt);
    out = xasprintf("%s._domainkey.%s. IN TXT ", selector_name(s), d->domain_name);
    o = out;
    for (size_t at = 0; at < len; at += TXT_STRING_MAX) {
        size_t n = len - at < TXT_STRING_MAX ? len - at : TXT_STRING_MAX;
        out = xasprintf("%s%s\"%.*s\"", o, at ? " " : "", (int)n, txt + at);
        free(o);
        o = out;
    }
    return out;
}

static void
print_dkim(struct cmdlet_ctx *ctx, const struct dkim_signing_config *d)
{
    static const char *const names[] = {"Status", "Selector1TxtRecord", "Selector2TxtRecord"};
    char *r1 = txt_record(d, DKIM_SELECTOR1), *r2 = txt_record(d, DKIM_SELECTOR2);
    const char *values[] = {status_of(ctx, d), r1, r2};

    cmdlet_print_object_extra(ctx->out, config_kind(CONFIG_DKIM_SIGNING), d, names, values, 3);
    free(r1);
    free(r2);
}

int
cmdlet_new_dkim_signing_config(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    const struct config_kind_info *k = config_kind(CONFIG_DKIM_SIGNING);
    const char *domain = NULL, *keysize;
    char msg[MSG_MAX], *pem[2] = {NULL, NULL};
    size_t pemlen[2] = {0, 0}, index;
    struct dkim_signing_config *d;
    struct cmdlet_txn t;
    unsigned bits = 2048;
    bool written = false;
    int status, rc;

    if ((rc = cmdlet_args_string(a, "DomainName", &domain, msg, sizeof(msg))) <= 0) {
        cmdlet_error(ctx, "%s", rc < 0 ? msg : "DomainName: a value is required");
        return CMDLET_USAGE;
    }
    if ((status = key_size_take(ctx, a, &keysize)) != CMDLET_OK ||
        (status = cmdlet_params_check(ctx, k, a, true)) != CMDLET_OK)
        return status;
    if ((status = cmdlet_txn_begin(ctx, &t)) != CMDLET_OK)
        goto out;
    if (config_object_find(t.cfg, CONFIG_DKIM_SIGNING, domain, &index)) {
        cmdlet_error(ctx, "DkimSigningConfig \"%s\": DomainName: the domain has one already",
                     domain);
        status = CMDLET_ERROR;
        goto out;
    }
    d = config_object_append(t.cfg, CONFIG_DKIM_SIGNING);
    /* the name given names the object in the messages about its DomainName */
    if ((status = cmdlet_param_set(ctx, k, d, "Name", domain)) != CMDLET_OK ||
        (status = cmdlet_param_set(ctx, k, d, "DomainName", domain)) != CMDLET_OK ||
        (status = cmdlet_param_set(ctx, k, d, "Name", d->domain_name)) != CMDLET_OK)
        goto out;
    /* Exchange Online signs only for the organisation's own domains */
    if (config_match_accepted_domain(t.cfg, d->domain_name) == NULL) {
        cmdlet_error(ctx,
                     "DkimSigningConfig \"%s\": DomainName: %s is not an accepted domain "
                     "(New-AcceptedDomain first)",
                     d->name, d->domain_name);
        status = CMDLET_ERROR;
        goto out;
    }
    if ((status = cmdlet_params_apply(ctx, k, d, a, true)) != CMDLET_OK ||
        (status = key_size_check(ctx, keysize, d->key_algorithm, &bits)) != CMDLET_OK)
        goto out;
    if ((status = make_key(ctx, d, DKIM_SELECTOR1, bits, &pem[0], &pemlen[0])) != CMDLET_OK ||
        (status = make_key(ctx, d, DKIM_SELECTOR2, bits, &pem[1], &pemlen[1])) != CMDLET_OK)
        goto out;
    /* refused before any key is written */
    if (config_validate(t.cfg, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        status = CMDLET_ERROR;
        goto out;
    }
    if (!ctx->whatif) {
        written = true;
        if ((status = write_key(ctx, d->domain_name, DKIM_SELECTOR1, pem[0], pemlen[0])) !=
                CMDLET_OK ||
            (status = write_key(ctx, d->domain_name, DKIM_SELECTOR2, pem[1], pemlen[1])) !=
                CMDLET_OK)
            goto out;
    }
    if ((status = cmdlet_txn_commit(ctx, &t)) != CMDLET_OK)
        goto out;
    written = false; /* they stay: the configuration publishes them now */
    if (!ctx->whatif) {
        print_dkim(ctx, d);
        if (!d->enabled)
            cmdlet_warning(ctx,
                           "signing is off until Set-DkimSigningConfig -Identity %s -Enabled "
                           "$true: publish both TXT records (Get-DkimSigningConfig) first",
                           d->domain_name);
    }
out:
    if (written) {
        restore_key(ctx, domain, DKIM_SELECTOR1, NULL, 0);
        restore_key(ctx, domain, DKIM_SELECTOR2, NULL, 0);
    }
    for (int i = 0; i < 2; i++)
        if (pem[i])
            mem_free_wiped(pem[i], pemlen[i]);
    cmdlet_txn_end(&t);
    return status;
}

int
cmdlet_set_dkim_signing_config(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    return cmdlet_set_object(ctx, a, CONFIG_DKIM_SIGNING, NULL, NULL);
}

int
cmdlet_get_dkim_signing_config(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    const char *id = NULL;
    char msg[MSG_MAX];
    struct config *cfg;
    size_t index;

    if (cmdlet_args_identity(a, &id, msg, sizeof(msg)) < 0 ||
        cmdlet_args_check_unused(a, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    if ((cfg = cmdlet_config_read(ctx)) == NULL)
        return CMDLET_ERROR;
    if (id != NULL && !config_object_find(cfg, CONFIG_DKIM_SIGNING, id, &index)) {
        cmdlet_error(ctx, "DkimSigningConfig \"%s\": Identity: not found", id);
        config_unref(cfg);
        return CMDLET_ERROR;
    }
    for (size_t i = 0, shown = 0; i < cfg->ndkim_signing_configs; i++) {
        if (id != NULL && i != index)
            continue;
        if (shown++ > 0)
            fputc('\n', ctx->out);
        print_dkim(ctx, &cfg->dkim_signing_configs[i]);
    }
    config_unref(cfg);
    return CMDLET_OK;
}

/* Reads the key file of selector s, to put it back if the save fails;
 * NULL when there is none. */
static char *
read_old_key(struct cmdlet_ctx *ctx, const char *domain, enum dkim_selector s, size_t *len)
{
    char *path = key_path(ctx, domain, s), *data = file_read(path, len);

    free(path);
    return data;
}

int
cmdlet_rotate_dkim_signing_config(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    const char *id, *keysize;
    char msg[MSG_MAX], *pem = NULL, *old = NULL, *domain = NULL;
    size_t pemlen = 0, oldlen = 0, index;
    struct dkim_signing_config *d;
    enum dkim_selector retired, next;
    struct cmdlet_txn t = {.dirfd = -1};
    bool written = false;
    unsigned bits;
    int rc;

    if ((rc = cmdlet_args_identity(a, &id, msg, sizeof(msg))) <= 0) {
        cmdlet_error(ctx, "%s", rc < 0 ? msg : "Identity: a value is required");
        return CMDLET_USAGE;
    }
    if ((rc = key_size_take(ctx, a, &keysize)) != CMDLET_OK)
        return rc;
    if (cmdlet_args_check_unused(a, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    if ((rc = cmdlet_txn_begin(ctx, &t)) != CMDLET_OK ||
        (rc = cmdlet_txn_find(ctx, &t, CONFIG_DKIM_SIGNING, id, &index)) != CMDLET_OK)
        goto out;
    d = &t.cfg->dkim_signing_configs[index];
    retired = d->selector_after_rotate_on_date;
    next = other_selector(retired);
    if (dkim_selector_public_key(d, next) == NULL) {
        cmdlet_error(ctx, "DkimSigningConfig \"%s\": %s has no key to sign with", d->name,
                     selector_name(next));
        rc = CMDLET_ERROR;
        goto out;
    }
    /* the new key is as large as the one it replaces, unless told */
    bits = (retired == DKIM_SELECTOR1 ? d->selector1_key_size : d->selector2_key_size) == 1024
               ? 1024
               : 2048;
    if ((rc = key_size_check(ctx, keysize, d->key_algorithm, &bits)) != CMDLET_OK ||
        (rc = make_key(ctx, d, retired, bits, &pem, &pemlen)) != CMDLET_OK)
        goto out;
    {
        char now[32];
        utc_now(now);
        free(d->rotate_on_date);
        d->rotate_on_date = xstrdup(now);
    }
    d->selector_before_rotate_on_date = retired;
    d->selector_after_rotate_on_date = next;
    domain = xstrdup(d->domain_name);
    if (config_validate(t.cfg, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        rc = CMDLET_ERROR;
        goto out;
    }
    if (!ctx->whatif) {
        old = read_old_key(ctx, domain, retired, &oldlen);
        written = true;
        if ((rc = write_key(ctx, domain, retired, pem, pemlen)) != CMDLET_OK)
            goto out;
    }
    if ((rc = cmdlet_txn_commit(ctx, &t)) != CMDLET_OK)
        goto out;
    written = false;
    if (!ctx->whatif) {
        print_dkim(ctx, &t.cfg->dkim_signing_configs[index]);
        cmdlet_warning(ctx,
                       "%s signs from now on; publish the new TXT record of %s "
                       "(Selector%cTxtRecord) before the next rotation",
                       selector_name(next), selector_name(retired), selector_name(retired)[8]);
    }
out:
    if (written)
        restore_key(ctx, domain, retired, old, oldlen);
    if (pem)
        mem_free_wiped(pem, pemlen);
    if (old)
        mem_free_wiped(old, oldlen);
    free(domain);
    cmdlet_txn_end(&t);
    return rc;
}

int
cmdlet_remove_dkim_signing_config(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    const char *id;
    char msg[MSG_MAX], *domain = NULL;
    struct cmdlet_txn t = {.dirfd = -1};
    size_t index;
    int rc;

    if ((rc = cmdlet_args_identity(a, &id, msg, sizeof(msg))) <= 0 ||
        cmdlet_args_check_unused(a, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", rc == 0 ? "Identity: a value is required" : msg);
        return CMDLET_USAGE;
    }
    if ((rc = cmdlet_txn_begin(ctx, &t)) != CMDLET_OK ||
        (rc = cmdlet_txn_find(ctx, &t, CONFIG_DKIM_SIGNING, id, &index)) != CMDLET_OK)
        goto out;
    domain = xstrdup(t.cfg->dkim_signing_configs[index].domain_name);
    config_object_remove(t.cfg, CONFIG_DKIM_SIGNING, index);
    if ((rc = cmdlet_txn_commit(ctx, &t)) != CMDLET_OK || ctx->whatif)
        goto out;
    /* the keys go once nothing publishes them any more */
    for (enum dkim_selector s = DKIM_SELECTOR1; s <= DKIM_SELECTOR2; s++) {
        char *path = key_path(ctx, domain, s);
        if (unlink(path) < 0 && errno != ENOENT)
            cmdlet_warning(ctx, "%s: %s", path, strerror(errno));
        free(path);
    }
    {
        char *sub = xasprintf("%s/dkim/%s", ctx->instance_dir, domain);
        if (rmdir(sub) < 0 && errno != ENOENT)
            cmdlet_warning(ctx, "%s: %s", sub, strerror(errno));
        free(sub);
    }
out:
    free(domain);
    cmdlet_txn_end(&t);
    return rc;
}
