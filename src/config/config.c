/*
 * config.c — lifetime of a struct config (new, default, ref/unref, clone,
 * free, removal of its secrets) and lookups over its objects (see config.h,
 * config_param.h).
 *
 * A loaded config is shared by every session that started under it and is
 * freed by the last config_unref, from whichever thread that is; the count
 * is therefore atomic.
 * Must never: modify a config that may be shared (refcount > 1) — callers
 * edit a config_clone and install it instead.
 */
#include "config/config.h"
#include "config/config_param.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Every IPv4 and every IPv6 address, as Exchange's "all remote" defaults. */
#define ALL_REMOTE_RANGES "0.0.0.0-255.255.255.255, ::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"

struct config *
config_new(void)
{
    struct config *cfg = xcalloc(1, sizeof(*cfg));

    cfg->refcount = 1;
    config_object_init(config_kind(CONFIG_TRANSPORT), &cfg->transport);
    return cfg;
}

/* Sets a parameter from text the code itself supplies: failure is a bug. */
static void
object_set(enum config_kind kind, void *obj, const char *param, const char *text)
{
    const struct config_kind_info *k = config_kind(kind);
    const struct config_param *p = config_param_find(k, param);
    char err[256];

    if (p == NULL || config_param_parse(p, obj, text, 0, err, sizeof(err)) < 0)
        fatalx("%s: %s: cannot set '%s': %s", k->name, param, text, p ? err : "unknown");
}

struct config *
config_default(const char *fqdn, const struct binding *bindings, size_t nbindings)
{
    struct config *cfg = config_new();
    struct receive_connector *rc;
    char *name;

    if (fqdn != NULL && *fqdn != '\0')
        object_set(CONFIG_TRANSPORT, &cfg->transport, "Fqdn", fqdn);
    if (fqdn != NULL && *fqdn != '\0')
        name = xasprintf("Default %.*s", (int)strcspn(fqdn, "."), fqdn);
    else
        name = xstrdup("Default");

    rc = config_object_append(cfg, CONFIG_RECEIVE_CONNECTOR);
    object_set(CONFIG_RECEIVE_CONNECTOR, rc, "Name", name);
    free(name);
    if (nbindings > 0) {
        rc->bindings = xmalloc(nbindings * sizeof(*bindings));
        memcpy(rc->bindings, bindings, nbindings * sizeof(*bindings));
        rc->nbindings = nbindings;
    } else {
        object_set(CONFIG_RECEIVE_CONNECTOR, rc, "Bindings", "0.0.0.0:25, [::]:25");
    }
    object_set(CONFIG_RECEIVE_CONNECTOR, rc, "RemoteIPRanges", ALL_REMOTE_RANGES);
    /* Usage stays Custom, but the setup connector serves both the Internet
     * and the organisation's users (PermissionGroups), and lets users AUTH
     * only once TLS is up. */
    rc->permission_groups = PERM_ANONYMOUS_USERS | PERM_EXCHANGE_USERS;
    rc->auth_mechanism = AUTHM_TLS | AUTHM_BASICAUTH | AUTHM_BASICAUTH_REQUIRE_TLS;
    return cfg;
}

struct config *
config_ref(struct config *cfg)
{
    if (cfg != NULL)
        __atomic_add_fetch(&cfg->refcount, 1, __ATOMIC_RELAXED);
    return cfg;
}

static void
config_free(struct config *cfg)
{
    for (int kind = 0; kind < CONFIG_NKINDS; kind++) {
        const struct config_kind_info *k = config_kind(kind);
        size_t n;
        /* The analyzer cannot see that every kind has its own array_offset,
         * so it thinks the array freed for one kind may come back for the next. */
        // NOLINTNEXTLINE(clang-analyzer-unix.Malloc): each kind's array is freed once
        char *objs = config_objects(cfg, kind, &n);
        for (size_t i = 0; i < n; i++)
            config_object_free(k, objs + i * k->size);
        if (!k->singleton)
            free(objs);
    }
    free(cfg->path);
    free(cfg);
}

void
config_unref(struct config *cfg)
{
    /* Release/acquire so that the thread that frees sees every write the
     * other holders made before letting go. */
    if (cfg != NULL && __atomic_sub_fetch(&cfg->refcount, 1, __ATOMIC_ACQ_REL) == 0)
        config_free(cfg);
}

/* Calls fn for each secret field of cfg (config_secret_type) with the
 * parameter that describes it. */
static void
each_secret(const struct config *cfg,
            void (*fn)(const struct config_param *p, void *obj, void *arg), void *arg)
{
    for (int kind = 0; kind < CONFIG_NKINDS; kind++) {
        const struct config_kind_info *k = config_kind(kind);
        size_t n;
        char *objs = config_objects(cfg, kind, &n);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < k->nparams; j++)
                if (config_secret_type(k->params[j].type))
                    fn(&k->params[j], objs + i * k->size, arg);
    }
}

static void
redact_one(const struct config_param *p, void *obj, void *arg)
{
    char **field = (char **)((char *)obj + p->offset);
    void *companion = (char *)obj + p->count_offset;

    (void)arg;
    if (*field == NULL)
        return;
    if (p->type == CPT_PASSWORD_HASH) {
        *(bool *)companion = true;
    } else if (*(char **)companion == NULL) {
        /* set by the parser already; a credential assigned directly gets it here */
        *(char **)companion = xstrndup(*field, strcspn(*field, ":"));
    }
    str_free_wiped(*field);
    *field = NULL;
}

void
config_redact_secrets(struct config *cfg)
{
    if (__atomic_load_n(&cfg->refcount, __ATOMIC_ACQUIRE) > 1)
        fatalx("config_redact_secrets: the configuration is shared");
    each_secret(cfg, redact_one, NULL);
}

static void
find_redacted(const struct config_param *p, void *obj, void *arg)
{
    const char *field = *(char *const *)((char *)obj + p->offset);
    const void *companion = (char *)obj + p->count_offset;

    if (field == NULL && (p->type == CPT_PASSWORD_HASH ? *(const bool *)companion
                                                       : *(char *const *)companion != NULL))
        *(bool *)arg = true;
}

bool
config_is_redacted(const struct config *cfg)
{
    bool found = false;

    each_secret(cfg, find_redacted, &found);
    return found;
}

bool
mailbox_has_password(const struct mailbox *mb)
{
    return mb->password_hash != NULL || mb->password_redacted;
}

struct config *
config_clone(const struct config *cfg)
{
    struct config *c = xcalloc(1, sizeof(*c));

    c->refcount = 1;
    c->path = cfg->path ? xstrdup(cfg->path) : NULL;
    for (int kind = 0; kind < CONFIG_NKINDS; kind++) {
        const struct config_kind_info *k = config_kind(kind);
        size_t n;
        const char *from = config_objects(cfg, kind, &n);
        if (k->singleton) {
            config_object_copy(k, (char *)c + k->array_offset, from);
            continue;
        }
        char *to = n ? xmalloc(n * k->size) : NULL;
        for (size_t i = 0; i < n; i++)
            config_object_copy(k, to + i * k->size, from + i * k->size);
        *(char **)((char *)c + k->array_offset) = to;
        *(size_t *)((char *)c + k->count_offset) = n;
    }
    return c;
}

void *
config_objects(const struct config *cfg, enum config_kind kind, size_t *n)
{
    const struct config_kind_info *k = config_kind(kind);

    if (k->singleton) {
        *n = 1;
        return (char *)cfg + k->array_offset;
    }
    *n = *(const size_t *)((const char *)cfg + k->count_offset);
    return *(char *const *)((const char *)cfg + k->array_offset);
}

void *
config_object_at(const struct config *cfg, enum config_kind kind, size_t index)
{
    size_t n;
    char *objs = config_objects(cfg, kind, &n);

    return index < n ? objs + index * config_kind(kind)->size : NULL;
}

void *
config_object_append(struct config *cfg, enum config_kind kind)
{
    const struct config_kind_info *k = config_kind(kind);
    char **arr = (char **)((char *)cfg + k->array_offset);
    size_t *n = (size_t *)((char *)cfg + k->count_offset);
    char *obj;

    if (k->singleton)
        fatalx("config_object_append: %s is a singleton", k->name);
    *arr = xrealloc(*arr, (*n + 1) * k->size);
    obj = *arr + *n * k->size;
    (*n)++;
    config_object_init(k, obj);
    return obj;
}

void
config_object_remove(struct config *cfg, enum config_kind kind, size_t index)
{
    const struct config_kind_info *k = config_kind(kind);
    char *arr = *(char **)((char *)cfg + k->array_offset);
    size_t *n = (size_t *)((char *)cfg + k->count_offset);

    if (k->singleton || index >= *n)
        fatalx("config_object_remove: %s %zu", k->name, index);
    config_object_free(k, arr + index * k->size);
    memmove(arr + index * k->size, arr + (index + 1) * k->size, (*n - index - 1) * k->size);
    (*n)--;
}

const char *
config_object_name(const struct config_kind_info *k, const void *obj)
{
    const struct config_param *p = config_param_name(k);

    return p ? *(char *const *)((const char *)obj + p->offset) : NULL;
}

void
config_object_label(const struct config_kind_info *k, const void *obj, char *buf, size_t len)
{
    const char *name = config_object_name(k, obj);

    if (k->singleton)
        snprintf(buf, len, "%s", k->name);
    else
        snprintf(buf, len, "%s \"%s\"", k->name, name ? name : "");
}

bool
config_object_find(const struct config *cfg, enum config_kind kind, const char *identity,
                   size_t *index)
{
    const struct config_kind_info *k = config_kind(kind);
    size_t n;
    const char *objs = config_objects(cfg, kind, &n);

    for (size_t i = 0; i < n; i++) {
        const char *name = config_object_name(k, objs + i * k->size);
        if (name != NULL && str_ieq(name, identity)) {
            *index = i;
            return true;
        }
    }
    /* Second chance by the object's address, as Exchange's identity
     * parameters also resolve. */
    for (size_t i = 0; i < n; i++) {
        const char *alt = NULL;
        if (kind == CONFIG_MAILBOX)
            alt = ((const struct mailbox *)objs)[i].primary_smtp_address;
        else if (kind == CONFIG_ACCEPTED_DOMAIN)
            alt = ((const struct accepted_domain *)objs)[i].domain_name;
        else if (kind == CONFIG_DKIM_SIGNING)
            alt = ((const struct dkim_signing_config *)objs)[i].domain_name;
        if (alt != NULL && str_ieq(alt, identity)) {
            *index = i;
            return true;
        }
    }
    return false;
}

struct receive_connector *
config_find_receive_connector(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nreceive_connectors; i++)
        if (str_ieq(cfg->receive_connectors[i].name, name))
            return &cfg->receive_connectors[i];
    return NULL;
}

struct mailbox *
config_find_mailbox_by_address(const struct config *cfg, const char *address)
{
    for (size_t i = 0; i < cfg->nmailboxes; i++)
        if (cfg->mailboxes[i].primary_smtp_address != NULL &&
            str_ieq(cfg->mailboxes[i].primary_smtp_address, address))
            return &cfg->mailboxes[i];
    return NULL;
}

struct mailbox *
config_find_mailbox(const struct config *cfg, const char *name_or_address)
{
    for (size_t i = 0; i < cfg->nmailboxes; i++)
        if (str_ieq(cfg->mailboxes[i].name, name_or_address))
            return &cfg->mailboxes[i];
    return config_find_mailbox_by_address(cfg, name_or_address);
}

const struct accepted_domain *
config_match_accepted_domain(const struct config *cfg, const char *domain)
{
    const struct accepted_domain *best = NULL;
    size_t best_len = 0, dlen = strlen(domain);

    for (size_t i = 0; i < cfg->naccepted_domains; i++) {
        const struct accepted_domain *ad = &cfg->accepted_domains[i];
        const char *dn = ad->domain_name;
        if (dn == NULL)
            continue;
        if (dn[0] != '*') {
            if (str_ieq(dn, domain))
                return ad; /* exact beats any wildcard */
            continue;
        }
        /* "*.contoso.com": contoso.com itself and every subdomain. */
        const char *base = dn + 2;
        size_t blen = strlen(base);
        bool match = str_ieq(base, domain) || (dlen > blen && domain[dlen - blen - 1] == '.' &&
                                               strcasecmp(domain + dlen - blen, base) == 0);
        if (match && blen > best_len) {
            best = ad;
            best_len = blen;
        }
    }
    return best;
}

const char *
receive_connector_fqdn(const struct config *cfg, const struct receive_connector *rc)
{
    if (rc != NULL && rc->fqdn != NULL)
        return rc->fqdn;
    /* An instance always has one (setup writes it); a hand-made file
     * without it still needs some name to greet with. */
    return cfg->transport.fqdn != NULL ? cfg->transport.fqdn : "localhost";
}

const char *
send_connector_fqdn(const struct config *cfg, const struct send_connector *sc)
{
    if (sc != NULL && sc->fqdn != NULL)
        return sc->fqdn;
    return cfg->transport.fqdn != NULL ? cfg->transport.fqdn : "localhost";
}

struct send_connector *
config_find_send_connector(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nsend_connectors; i++)
        if (str_ieq(cfg->send_connectors[i].name, name))
            return &cfg->send_connectors[i];
    return NULL;
}

const struct dkim_signing_config *
config_find_dkim(const struct config *cfg, const char *domain)
{
    for (size_t i = 0; i < cfg->ndkim_signing_configs; i++)
        if (str_ieq(cfg->dkim_signing_configs[i].domain_name, domain))
            return &cfg->dkim_signing_configs[i];
    return NULL;
}

const char *
dkim_selector_public_key(const struct dkim_signing_config *d, enum dkim_selector s)
{
    return s == DKIM_SELECTOR2   ? d->selector2_public_key
           : s == DKIM_SELECTOR1 ? d->selector1_public_key
                                 : NULL;
}

const struct accepted_domain *
config_default_domain(const struct config *cfg)
{
    /* config_validate sees to it that there is exactly one when there are
     * accepted domains at all. */
    for (size_t i = 0; i < cfg->naccepted_domains; i++)
        if (cfg->accepted_domains[i].is_default)
            return &cfg->accepted_domains[i];
    return NULL;
}

static bool
domain_listed(char *const *list, size_t n, const char *domain)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(list[i], domain) == 0)
            return true;
    return false;
}

bool
config_receive_domain_secure(const struct config *cfg, const char *domain)
{
    return domain_listed(cfg->transport.tls_receive_domain_secure_list,
                         cfg->transport.ntls_receive_domain_secure_list, domain);
}

bool
config_send_domain_secure(const struct config *cfg, const char *domain)
{
    return domain_listed(cfg->transport.tls_send_domain_secure_list,
                         cfg->transport.ntls_send_domain_secure_list, domain);
}
