/*
 * route_policy_codec.c — a route_policy as bytes and back (route_policy.h),
 * on lib/ipc_buf's writer and checked reader.
 *
 * Layout: u32 magic, then every field in struct order; enums and flags as
 * u32, a string that may be absent as u32 presence then the string, a list
 * as u32 count then its strings. The decoder trusts nothing: a policy it
 * returns satisfies every invariant outbound relies on.
 * Must never: read past the buffer, allocate by a count the buffer cannot
 * hold, or return a half-filled policy.
 */
#include "lib/ipc_buf.h"
#include "lib/util.h"
#include "routing/route_policy.h"

#include <stdlib.h>
#include <string.h>

#define POLICY_MAGIC 0x52504c31u /* "RPL1" */

enum {
    PF_LMTP = 0x01,
    PF_FORCE_HELO = 0x02,
    PF_IGNORE_STARTTLS = 0x04,
    PF_REQUIRE_TLS = 0x08,
    PF_PROTOCOL_LOG = 0x10,
    PF_DOWNGRADE_AUTH = 0x20,
    PF_DOWNGRADE_DNS = 0x40,
    PF_DANE = 0x80,
    PF_STS = 0x100,
    PF_REQUIRETLS = 0x200,
    PF_TLSRPT = 0x400,
    PF_ALL = 0x7ff,
};

static void
put_opt(struct ipc_wbuf *w, const char *s)
{
    ipc_put_u32(w, s != NULL);
    if (s)
        ipc_put_str(w, s);
}

static void
put_list(struct ipc_wbuf *w, char *const *v, size_t n)
{
    ipc_put_u32(w, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        ipc_put_str(w, v[i]);
}

unsigned char *
route_policy_encode(const struct route_policy *p, size_t *len)
{
    struct ipc_wbuf w = {0};
    uint32_t flags =
        (p->lmtp ? PF_LMTP : 0) | (p->force_helo ? PF_FORCE_HELO : 0) |
        (p->ignore_starttls ? PF_IGNORE_STARTTLS : 0) | (p->require_tls ? PF_REQUIRE_TLS : 0) |
        (p->protocol_log ? PF_PROTOCOL_LOG : 0) |
        (p->downgrade_auth_failures ? PF_DOWNGRADE_AUTH : 0) |
        (p->downgrade_dns_failures ? PF_DOWNGRADE_DNS : 0) | (p->dane ? PF_DANE : 0) |
        (p->sts ? PF_STS : 0) | (p->requiretls ? PF_REQUIRETLS : 0) | (p->tlsrpt ? PF_TLSRPT : 0);
    char *sts = p->sts_cached ? mtasts_policy_format(p->sts_cached) : NULL;

    ipc_put_u32(&w, POLICY_MAGIC);
    ipc_put_u32(&w, (uint32_t)p->status);
    put_opt(&w, p->error);
    ipc_put_u32(&w, (uint32_t)p->kind);
    put_opt(&w, p->next_hop);
    put_opt(&w, p->connector);
    ipc_put_u32(&w, (uint32_t)p->dest);
    put_list(&w, p->hosts, p->nhosts);
    put_opt(&w, p->peer_name);
    ipc_put_u32(&w, p->port);
    put_opt(&w, p->ehlo_name);
    ipc_put_u32(&w, flags);
    ipc_put_u32(&w, (uint32_t)p->tls_auth_level);
    put_list(&w, p->tls_names, p->ntls_names);
    put_opt(&w, p->client_cert_fqdn);
    ipc_put_u32(&w, (uint32_t)p->auth);
    put_opt(&w, p->auth_user);
    ipc_put_u32(&w, p->timeout);
    put_opt(&w, sts);
    free(sts);
    *len = w.len;
    return w.data;
}

/* A u32 that must be at most max: the reader goes into error otherwise. */
static uint32_t
get_enum(struct ipc_rbuf *r, uint32_t max)
{
    uint32_t v = ipc_get_u32(r);

    if (v > max)
        r->err = true;
    return ipc_rbuf_ok(r) ? v : 0;
}

static char *
get_opt(struct ipc_rbuf *r)
{
    uint32_t present = get_enum(r, 1);
    const char *s;

    if (!present)
        return NULL;
    s = ipc_get_str(r);
    return ipc_rbuf_ok(r) ? xstrdup(s) : NULL;
}

static char **
get_list(struct ipc_rbuf *r, size_t *n)
{
    uint32_t count = ipc_get_u32(r);
    char **v;

    *n = 0;
    /* each string takes at least its NUL: a count the rest cannot hold
     * is garbage, and must not size an allocation */
    if (!ipc_rbuf_ok(r) || count > r->len - r->off) {
        r->err = true;
        return NULL;
    }
    v = count ? xcalloc(count, sizeof(char *)) : NULL;
    for (uint32_t i = 0; i < count; i++) {
        const char *s = ipc_get_str(r);
        if (!ipc_rbuf_ok(r))
            break;
        v[(*n)++] = xstrdup(s);
    }
    return v;
}

/* What outbound relies on without checking again. */
static bool
policy_valid(const struct route_policy *p)
{
    if (p->status != ROUTE_POLICY_OK)
        return p->error != NULL;
    if (p->kind != ROUTE_DNS && p->kind != ROUTE_SMART_HOST && p->kind != ROUTE_LMTP)
        return false;
    if (p->next_hop == NULL || p->ehlo_name == NULL || p->nhosts == 0)
        return false;
    if (p->dest != ROUTE_DEST_HOSTS && p->nhosts != 1)
        return false;
    if (p->dest != ROUTE_DEST_UNIX && p->port == 0)
        return false;
    if ((p->dest == ROUTE_DEST_ADDRESS || p->dest == ROUTE_DEST_UNIX) && p->peer_name == NULL)
        return false;
    return p->auth == ROUTE_AUTH_NONE || p->auth_user != NULL;
}

int
route_policy_decode(const unsigned char *buf, size_t len, struct route_policy *out)
{
    struct ipc_rbuf r;
    uint32_t flags;
    char *sts;

    memset(out, 0, sizeof(*out));
    ipc_rbuf_init(&r, buf, len);
    if (ipc_get_u32(&r) != POLICY_MAGIC)
        return -1;
    out->status = (enum route_policy_status)get_enum(&r, ROUTE_POLICY_NOT_REMOTE);
    out->error = get_opt(&r);
    out->kind = (enum route_kind)get_enum(&r, ROUTE_NO_MAILBOX);
    out->next_hop = get_opt(&r);
    out->connector = get_opt(&r);
    out->dest = (enum route_dest)get_enum(&r, ROUTE_DEST_UNIX);
    out->hosts = get_list(&r, &out->nhosts);
    out->peer_name = get_opt(&r);
    out->port = (uint16_t)get_enum(&r, UINT16_MAX);
    out->ehlo_name = get_opt(&r);
    flags = get_enum(&r, PF_ALL);
    out->lmtp = flags & PF_LMTP;
    out->force_helo = flags & PF_FORCE_HELO;
    out->ignore_starttls = flags & PF_IGNORE_STARTTLS;
    out->require_tls = flags & PF_REQUIRE_TLS;
    out->protocol_log = flags & PF_PROTOCOL_LOG;
    out->downgrade_auth_failures = flags & PF_DOWNGRADE_AUTH;
    out->downgrade_dns_failures = flags & PF_DOWNGRADE_DNS;
    out->dane = flags & PF_DANE;
    out->sts = flags & PF_STS;
    out->requiretls = flags & PF_REQUIRETLS;
    out->tlsrpt = flags & PF_TLSRPT;
    out->tls_auth_level = (enum tls_auth_level)get_enum(&r, TLSAUTH_DOMAIN_VALIDATION);
    out->tls_names = get_list(&r, &out->ntls_names);
    out->client_cert_fqdn = get_opt(&r);
    out->auth = (enum route_auth)get_enum(&r, ROUTE_AUTH_BASIC_REQUIRE_TLS);
    out->auth_user = get_opt(&r);
    out->timeout = ipc_get_u32(&r);
    if ((sts = get_opt(&r)) != NULL) {
        out->sts_cached = xcalloc(1, sizeof(*out->sts_cached));
        if (mtasts_policy_load(sts, strlen(sts), out->sts_cached, NULL, 0) < 0)
            r.err = true;
        free(sts);
    }
    if (!ipc_rbuf_done(&r) || (flags & ~(uint32_t)PF_ALL) != 0 || !policy_valid(out)) {
        route_policy_free(out);
        return -1;
    }
    return 0;
}
