/*
 * dns.c — asynchronous MX and address resolution for delivery (see dns.h).
 *
 * libunbound runs in its threaded async mode (ub_ctx_async(ctx, 1)): a
 * resolver thread private to libunbound does the network work and writes
 * each answer to a pipe; the loop watches that pipe (ub_fd) with a
 * persistent EV_READ event and calls ub_process(), which runs our lookup
 * callbacks on the loop thread. The other mode forks a resolver process
 * instead; that would copy a multi-threaded MTA (workq threads) and keep
 * its listening sockets, queue files and key material open in a child, so
 * it is not used. No postern code ever runs on libunbound's thread.
 *
 * User callbacks are never called from inside ub_process() nor from inside
 * a dns_* call: a finished query arms its own zero-delay timer and the
 * callback runs from that timer, so a callback may call any dns_* function
 * (even dns_free) without re-entering libunbound.
 *
 * Must never: block the loop, call a callback after dns_cancel/dns_free or
 * synchronously from dns_resolve_*, or trust record contents (names and
 * lengths in answers are checked before use).
 */
#include "net/dns.h"
#include "lib/log.h"
#include "lib/metrics_catalog.h"
#include "lib/util.h"
#include "net/dns_metrics.h"
#include "net/dns_name.h"
#include "net/iprange.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unbound.h>
#include <unistd.h>

/* RFC 1035 3.2.2 / RFC 3596: the types and class we ask for. */
#define DNS_TYPE_A 1
#define DNS_TYPE_TXT 16
#define DNS_TYPE_MX 15
#define DNS_TYPE_AAAA 28
#define DNS_TYPE_TLSA 52 /* RFC 6698 7.1 */
#define DNS_TYPE_DNSKEY 48
#define DNS_CLASS_IN 1

/* RFC 1035 4.1.1 response codes we name in errors. */
#define DNS_RCODE_FORMERR 1
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3
#define DNS_RCODE_NOTIMP 4
#define DNS_RCODE_REFUSED 5

/* The most MX hosts tried for one domain: more only delay the queue
 * when a domain lists many dead hosts. */
#define DNS_MX_MAX 10

/* RFC 1035 2.3.4: a name is at most 255 octets on the wire, which is at
 * most 253 characters of text plus the terminator. */
#define DNS_NAME_TEXT_MAX 256

enum dns_phase {
    PHASE_MX,    /* waiting for the MX answer */
    PHASE_ADDR,  /* waiting for AAAA and A answers of the hosts */
    PHASE_RRSET, /* waiting for a TLSA or TXT answer */
    PHASE_READY, /* q->res is final; q->ev delivers it */
};

/* The largest TLSA association data kept: a whole certificate (matching
 * type 0) is a few kilobytes; anything bigger is not one. */
#define DNS_TLSA_DATA_MAX 8192

/* One ub_resolve_async in flight. Stable in memory while pending, because
 * libunbound holds its address as the callback argument. */
struct dns_lookup {
    struct dns_query *q; /* NULL: the resolver's own validation check */
    size_t host;         /* index in q->hosts (address lookups only) */
    int rrtype;
    int async_id;
    bool pending;
    bool bogus;  /* its answer failed DNSSEC validation */
    bool failed; /* no usable answer: bogus, a server failure, a timeout */
    /* when it was asked, for its latency (dns_metrics.h) */
    struct timespec asked;
};

struct dns_query {
    struct dns *dns;
    struct dns_query *prev, *next; /* in dns->queries */
    bool is_mx;                    /* dns_resolve_mx, else dns_resolve_host or _tlsa */
    bool implicit;                 /* no MX records: the domain is its own host */
    bool delivering;               /* inside the user callback */
    enum dns_phase phase;
    char *name; /* the domain or host asked for */
    dns_cb *cb;
    void *arg;
    struct event *ev; /* the deadline, then the deferred delivery */
    size_t npending;
    struct dns_lookup mx;
    struct dns_lookup tlsa; /* the one lookup of a TLSA or TXT query */
    char *tlsa_bases[2];    /* TLSA base names in the order to try (canon, host) */
    size_t tlsa_next;       /* tlsa_bases[tlsa_next - 1] is being asked */
    unsigned tlsa_port;
    struct dns_lookup *addr; /* two per host: [2i] AAAA, [2i+1] A */
    struct dns_host *hosts;
    size_t nhosts;
    char tempfail[DNS_NAME_TEXT_MAX + 64]; /* first temporary failure: "name (why)" */
    struct dns_result res;
};

/* Whether the trust anchor's zone validates through the servers, asked
 * once, at the first lookup (see dns_check_start). */
enum dns_check {
    CHECK_NONE,    /* not validating, or asked already */
    CHECK_PENDING, /* validating; to be asked at the first lookup */
    CHECK_RUNNING, /* the question is out */
};

struct dns {
    struct event_base *base;
    struct ub_ctx *ctx;
    struct event *ev; /* ub_fd readable → ub_process */
    char **servers;   /* as given to dns_new */
    size_t nservers;
    unsigned timeout_ms;
    bool broken;                         /* the resolver thread is gone: every query fails */
    bool validating;                     /* DNSSEC: answers are validated from trust anchors */
    char anchor_zone[DNS_NAME_TEXT_MAX]; /* the first trust anchor's owner */
    char no_validation[400];             /* asked to validate but cannot: why */
    enum dns_check check;
    struct dns_lookup check_lookup;
    struct event *check_deadline;
    char check_problem[400]; /* the anchor's zone did not validate: why */
    struct dns_query *queries;
};

static void dns_on_answer(void *arg, int err, struct ub_result *result);
static void dns_query_step(struct dns_query *q);

static void
dns_query_link(struct dns_query *q)
{
    struct dns *dns = q->dns;

    q->prev = NULL;
    q->next = dns->queries;
    if (dns->queries != NULL)
        dns->queries->prev = q;
    dns->queries = q;
}

static void
dns_query_unlink(struct dns_query *q)
{
    if (q->prev != NULL)
        q->prev->next = q->next;
    else if (q->dns->queries == q)
        q->dns->queries = q->next;
    if (q->next != NULL)
        q->next->prev = q->prev;
    q->prev = q->next = NULL;
}

/* ub_cancel on a pending lookup. In threaded mode a query found by
 * ub_cancel is only marked cancelled, and ub_process drops its answer
 * without calling back; one not found has already been answered (and its
 * callback run, which cleared pending). Either way no callback follows, so
 * the lookup's memory may be freed afterwards. */
static void
dns_lookup_cancel(struct dns_query *q, struct dns_lookup *l, bool timed_out)
{
    if (!l->pending)
        return;
    if (timed_out) /* no answer will come: the metrics hear it now */
        dns_metrics_timeout(l->rrtype, &l->asked);
    (void)ub_cancel(q->dns->ctx, l->async_id);
    l->pending = false;
    q->npending--;
}

static void
dns_query_cancel_lookups(struct dns_query *q, bool timed_out)
{
    dns_lookup_cancel(q, &q->mx, timed_out);
    dns_lookup_cancel(q, &q->tlsa, timed_out);
    for (size_t i = 0; q->addr != NULL && i < 2 * q->nhosts; i++)
        dns_lookup_cancel(q, &q->addr[i], timed_out);
}

static void
dns_hosts_free(struct dns_host *hosts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(hosts[i].name);
        free(hosts[i].canon);
        free(hosts[i].addrs);
    }
    free(hosts);
}

static void
dns_txt_free(struct dns_result *res)
{
    for (size_t i = 0; i < res->ntxt; i++)
        free(res->txt[i]);
    free(res->txt);
    res->txt = NULL;
    res->ntxt = 0;
}

static void
dns_tlsa_free(struct dns_result *res)
{
    for (size_t i = 0; i < res->ntlsa; i++)
        free(res->tlsa[i].data);
    free(res->tlsa);
    res->tlsa = NULL;
    res->ntlsa = 0;
}

static void
dns_query_free(struct dns_query *q)
{
    dns_query_cancel_lookups(q, false);
    dns_hosts_free(q->hosts, q->nhosts);
    dns_tlsa_free(&q->res);
    dns_txt_free(&q->res);
    free(q->tlsa_bases[0]);
    free(q->tlsa_bases[1]);
    free(q->addr);
    if (q->ev != NULL)
        event_free(q->ev);
    free(q->name);
    free(q);
}

static void dns_query_errorf(struct dns_query *q, enum dns_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Ends the query with a failure: no hosts, a reason. */
static void
dns_query_errorf(struct dns_query *q, enum dns_status status, const char *fmt, ...)
{
    va_list ap;

    dns_hosts_free(q->hosts, q->nhosts);
    q->hosts = NULL;
    q->nhosts = 0;
    dns_tlsa_free(&q->res);
    dns_txt_free(&q->res);
    q->res.secure = false;
    q->res.status = status;
    va_start(ap, fmt);
    vsnprintf(q->res.error, sizeof(q->res.error), fmt, ap);
    va_end(ap);
}

/* Result complete: deliver it from the loop on its next iteration, never
 * from the current call stack (which may be a dns_* call or ub_process). */
static void
dns_query_ready(struct dns_query *q)
{
    static const struct timeval now = {0, 0};

    dns_query_cancel_lookups(q, false);
    q->phase = PHASE_READY;
    q->res.hosts = q->hosts;
    q->res.nhosts = q->nhosts;
    event_del(q->ev);
    evtimer_add(q->ev, &now);
}

static void
dns_timeout_text(unsigned ms, char *buf, size_t len)
{
    if (ms % 1000 == 0)
        snprintf(buf, len, "%u s", ms / 1000);
    else
        snprintf(buf, len, "%u ms", ms);
}

/* q->ev: either the per-query deadline expired, or the result is ready. */
static void
dns_on_query_event(evutil_socket_t fd, short what, void *arg)
{
    struct dns_query *q = arg;

    if (q->phase != PHASE_READY) {
        char after[32];

        /* libunbound retries by itself, for longer than a delivery attempt
         * should wait; past the deadline the answer is a temporary failure
         * and the queue retries the whole message later (RFC 5321 4.5.4.1). */
        dns_query_cancel_lookups(q, true);
        dns_timeout_text(q->dns->timeout_ms, after, sizeof(after));
        dns_query_errorf(q, DNS_TEMPFAIL, "DNS timeout after %s for %s", after, q->name);
        q->res.hosts = NULL;
        q->res.nhosts = 0;
        q->phase = PHASE_READY;
    }
    /* Unlinked first, so that a dns_free() inside the callback leaves this
     * query alone; it holds no pending lookup, so it no longer needs dns. */
    dns_query_unlink(q);
    q->delivering = true;
    q->cb(q->arg, &q->res);
    dns_query_free(q);
}

static const char *
dns_rcode_name(int rcode)
{
    switch (rcode) {
    case DNS_RCODE_FORMERR:
        return "FORMERR";
    case DNS_RCODE_SERVFAIL:
        return "SERVFAIL";
    case DNS_RCODE_NXDOMAIN:
        return "NXDOMAIN";
    case DNS_RCODE_NOTIMP:
        return "NOTIMP";
    case DNS_RCODE_REFUSED:
        return "REFUSED";
    default:
        return "unexpected response code";
    }
}

/* Remembers the first temporary failure, for the error text. */
static void
dns_query_note_tempfail(struct dns_query *q, const char *name, int err,
                        const struct ub_result *result)
{
    if (q->tempfail[0] != '\0')
        return;
    if (err == 0 && result->bogus)
        snprintf(q->tempfail, sizeof(q->tempfail), "%s (DNSSEC validation failed: %s)", name,
                 result->why_bogus ? result->why_bogus : "bogus");
    else if (err != 0)
        snprintf(q->tempfail, sizeof(q->tempfail), "%s (%s)", name, ub_strerror(err));
    else
        snprintf(q->tempfail, sizeof(q->tempfail), "%s (%s)", name, dns_rcode_name(result->rcode));
}

/*
 * Converts a wire-format name (RFC 1035 3.1; libunbound hands rdata names
 * uncompressed) to text without the trailing dot, "." for the root. Only
 * letters, digits, '-' and '_' are accepted in labels: a mail host name is
 * LDH (RFC 5321 2.3.5), and anything else could not be passed back to
 * ub_resolve_async as text without escaping. Returns false if malformed.
 */
static bool
dns_name_from_wire(const uint8_t *p, size_t len, char *out, size_t outlen)
{
    size_t pos = 0, o = 0;

    for (;;) {
        size_t lab;

        if (pos >= len)
            return false;
        lab = p[pos++];
        if (lab == 0)
            break;
        if (lab > 63 || pos + lab > len || o + lab + 2 > outlen)
            return false;
        if (o > 0)
            out[o++] = '.';
        for (size_t i = 0; i < lab; i++) {
            uint8_t c = p[pos + i];

            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_'))
                return false;
            out[o++] = (char)c;
        }
        pos += lab;
    }
    if (o == 0) {
        if (outlen < 2)
            return false;
        out[o++] = '.';
    }
    out[o] = '\0';
    return true;
}

struct dns_mx_rec {
    unsigned pref;
    uint32_t shuffle; /* random tie-break among equal preferences */
    char name[DNS_NAME_TEXT_MAX];
};

static int
dns_mx_cmp(const void *a, const void *b)
{
    const struct dns_mx_rec *x = a, *y = b;

    if (x->pref != y->pref)
        return x->pref < y->pref ? -1 : 1;
    if (x->shuffle != y->shuffle)
        return x->shuffle < y->shuffle ? -1 : 1;
    return 0;
}

static void
dns_query_add_host(struct dns_query *q, const char *name, unsigned pref)
{
    struct dns_host *h;

    q->hosts = xrealloc(q->hosts, (q->nhosts + 1) * sizeof(*q->hosts));
    h = &q->hosts[q->nhosts++];
    memset(h, 0, sizeof(*h));
    h->name = xstrdup(name);
    h->pref = pref;
    /* Until an answer says otherwise, the host has no address; and it is
     * secure until an insecure answer comes. */
    h->status = DNS_NO_DOMAIN;
    h->secure = true;
}

static bool
dns_query_has_host(const struct dns_query *q, const char *name)
{
    for (size_t i = 0; i < q->nhosts; i++)
        if (str_ieq(q->hosts[i].name, name))
            return true;
    return false;
}

/* The MX answer (RFC 5321 5.1, RFC 7505). Leaves q->hosts filled, or the
 * query ready with a failure. */
static void
dns_query_on_mx(struct dns_query *q, int err, const struct ub_result *r)
{
    struct dns_mx_rec *recs;
    size_t n = 0, nrdata = 0;

    if (err == UB_SYNTAX) {
        dns_query_errorf(q, DNS_NO_DOMAIN, "invalid domain name: %s", q->name);
        return;
    }
    if (err != 0) {
        dns_query_errorf(q, DNS_TEMPFAIL, "DNS lookup failed for %s (%s)", q->name,
                         ub_strerror(err));
        return;
    }
    if (r->bogus) {
        /* a forged or broken signature: never taken for "no MX" or for
         * an unsigned answer, which would let an attacker route around
         * DANE (RFC 7672 2.1.1) */
        dns_query_errorf(q, DNS_TEMPFAIL, "DNSSEC validation failed for the MX records of %s: %s",
                         q->name, r->why_bogus ? r->why_bogus : "bogus answer");
        return;
    }
    if (r->rcode == DNS_RCODE_NXDOMAIN || r->nxdomain) {
        dns_query_errorf(q, DNS_NO_DOMAIN, "domain %s does not exist (NXDOMAIN)", q->name);
        return;
    }
    if (r->rcode != 0) {
        /* SERVFAIL (libunbound's answer when no server gave a usable
         * reply), REFUSED...: the next attempt may succeed. */
        dns_query_errorf(q, DNS_TEMPFAIL, "DNS server failure for %s (%s)", q->name,
                         dns_rcode_name(r->rcode));
        return;
    }
    /* RFC 7672 2.2.1: the MX hosts (or the domain as its own host) are
     * trustworthy TLSA base names only when this answer is secure. */
    q->res.secure = r->secure != 0;
    if (!r->havedata) {
        /* RFC 5321 5.1: no MX records, the domain is an implicit MX of
         * preference 0 (its own A/AAAA records are looked up next). */
        q->implicit = true;
        dns_query_add_host(q, q->name, 0);
        return;
    }

    while (r->data[nrdata] != NULL)
        nrdata++;
    recs = xcalloc(nrdata, sizeof(*recs));
    for (size_t i = 0; i < nrdata; i++) {
        const uint8_t *d = (const uint8_t *)r->data[i];
        size_t len = r->len[i] > 0 ? (size_t)r->len[i] : 0;
        struct dns_mx_rec *m = &recs[n];

        /* RFC 1035 3.3.9: 16-bit preference, then the exchange name. */
        if (len < 3 || !dns_name_from_wire(d + 2, len - 2, m->name, sizeof(m->name))) {
            log_debug("dns: %s: ignoring a malformed or non-LDH MX record", q->name);
            continue;
        }
        m->pref = (unsigned)d[0] << 8 | d[1];
        m->shuffle = arc4random();
        n++;
    }

    /* RFC 7505 3: a single MX record with the root as exchange says the
     * domain accepts no mail; do not fall back to its addresses. */
    if (nrdata == 1 && n == 1 && strcmp(recs[0].name, ".") == 0) {
        free(recs);
        dns_query_errorf(q, DNS_NULL_MX, "null MX: %s accepts no mail (RFC 7505)", q->name);
        return;
    }

    /* RFC 5321 5.1: lowest preference first, and the sender SHOULD pick at
     * random among equal preferences to spread the load: sorting on
     * (preference, random key) does both at once. */
    qsort(recs, n, sizeof(*recs), dns_mx_cmp);
    for (size_t i = 0; i < n && q->nhosts < DNS_MX_MAX; i++) {
        /* A "." beside other records is a misconfiguration (RFC 7505 3
         * forbids the mix): it names no host, skip it. A name listed
         * twice is tried once, at its best preference. */
        if (strcmp(recs[i].name, ".") == 0 || dns_query_has_host(q, recs[i].name))
            continue;
        dns_query_add_host(q, recs[i].name, recs[i].pref);
    }
    free(recs);
    if (q->nhosts == 0)
        dns_query_errorf(q, DNS_NO_DOMAIN, "no usable MX records for %s", q->name);
}

/* The name an address answer was found at after CNAMEs, kept when it is
 * another name (RFC 7672 2.2.2: TLSA records are looked up there first).
 * libunbound writes it in text with a final dot; anything that is not a
 * plain host name is ignored. */
static void
dns_host_note_canon(struct dns_host *h, const char *canonname)
{
    char name[DNS_NAME_TEXT_MAX];
    size_t len;

    if (canonname == NULL || h->canon != NULL)
        return;
    len = strlen(canonname);
    if (len > 1 && canonname[len - 1] == '.')
        len--;
    if (len == 0 || len >= sizeof(name))
        return;
    memcpy(name, canonname, len);
    name[len] = '\0';
    if (!str_ieq(name, h->name) && dns_name_valid(name, false))
        h->canon = xstrdup(name);
}

/* One AAAA or A answer for q->hosts[l->host]. */
static void
dns_query_on_addr(struct dns_query *q, struct dns_lookup *l, int err, const struct ub_result *r)
{
    struct dns_host *h = &q->hosts[l->host];
    bool v6 = l->rrtype == DNS_TYPE_AAAA;
    size_t rlen = v6 ? 16 : 4, nrdata = 0, n = 0;
    struct sockaddr_storage *fresh;

    if (err == UB_SYNTAX) {
        h->secure = false;
        return; /* an unusable name has no address: permanent */
    }
    if (err != 0 || r->bogus || (r->rcode != 0 && r->rcode != DNS_RCODE_NXDOMAIN)) {
        /* h->secure stays as the answers that came make it:
         * dns_host_tainted decides what the failure means */
        dns_query_note_tempfail(q, h->name, err, r);
        l->bogus = err == 0 && r->bogus;
        l->failed = true;
        h->status = DNS_TEMPFAIL;
        return;
    }
    /* Both families must be secure, denials included (RFC 7672 2.2.2). */
    if (!r->secure)
        h->secure = false;
    if (!r->havedata)
        return; /* NXDOMAIN or NODATA: no address of this family */
    dns_host_note_canon(h, r->canonname);

    while (r->data[nrdata] != NULL)
        nrdata++;
    fresh = xcalloc(nrdata, sizeof(*fresh));
    for (size_t i = 0; i < nrdata; i++) {
        if (r->len[i] != (int)rlen)
            continue; /* malformed record */
        if (v6) {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&fresh[n];

            sin6->sin6_family = AF_INET6;
            memcpy(&sin6->sin6_addr, r->data[i], 16);
        } else {
            struct sockaddr_in *sin = (struct sockaddr_in *)&fresh[n];

            sin->sin_family = AF_INET;
            memcpy(&sin->sin_addr, r->data[i], 4);
        }
        n++;
    }
    if (n > 0) {
        /* dns.h promises AAAA then A, whichever answer came first. */
        h->addrs = xrealloc(h->addrs, (h->naddrs + n) * sizeof(*h->addrs));
        if (v6) {
            memmove(h->addrs + n, h->addrs, h->naddrs * sizeof(*h->addrs));
            memcpy(h->addrs, fresh, n * sizeof(*fresh));
        } else {
            memcpy(h->addrs + h->naddrs, fresh, n * sizeof(*fresh));
        }
        h->naddrs += n;
    }
    free(fresh);
}

static void dns_query_on_tlsa(struct dns_query *q, int err, const struct ub_result *r);
static void dns_query_on_txt(struct dns_query *q, int err, const struct ub_result *r);
static void dns_check_start(struct dns *dns);

/* Starts one lookup; on an immediate libunbound error, records it as that
 * lookup's answer (the caller then calls dns_query_step). */
static void
dns_lookup_start(struct dns_query *q, struct dns_lookup *l, const char *name, int rrtype)
{
    struct dns *dns = q->dns;
    int r;

    l->q = q;
    l->rrtype = rrtype;
    l->pending = false;
    if (dns->check == CHECK_PENDING)
        dns_check_start(dns);
    metric_clock(&l->asked);
    r = ub_resolve_async(dns->ctx, name, rrtype, DNS_CLASS_IN, l, dns_on_answer, &l->async_id);
    if (r == 0) {
        l->pending = true;
        q->npending++;
        return;
    }
    if (rrtype == DNS_TYPE_MX)
        dns_query_on_mx(q, r, NULL);
    else if (rrtype == DNS_TYPE_TLSA)
        dns_query_on_tlsa(q, r, NULL);
    else if (rrtype == DNS_TYPE_TXT)
        dns_query_on_txt(q, r, NULL);
    else
        dns_query_on_addr(q, l, r, NULL);
}

/* A TXT answer: each record's character-strings (RFC 1035 3.3.14, a length
 * octet each) joined into one text. */
static void
dns_query_on_txt(struct dns_query *q, int err, const struct ub_result *r)
{
    size_t nrdata = 0;

    if (err != 0 || r == NULL || r->bogus || (r->rcode != 0 && r->rcode != DNS_RCODE_NXDOMAIN)) {
        dns_query_errorf(q, DNS_TEMPFAIL, "TXT lookup for %s failed (%s)", q->name,
                         err != 0    ? ub_strerror(err)
                         : r == NULL ? "no answer"
                         : r->bogus  ? "DNSSEC validation failed"
                                     : dns_rcode_name(r->rcode));
        return;
    }
    q->res.secure = r->secure != 0;
    if (!r->havedata) {
        dns_query_errorf(q, DNS_NO_DOMAIN, "no TXT records for %s", q->name);
        return;
    }
    while (r->data[nrdata] != NULL)
        nrdata++;
    q->res.txt = xcalloc(nrdata, sizeof(*q->res.txt));
    for (size_t i = 0; i < nrdata; i++) {
        const uint8_t *d = (const uint8_t *)r->data[i];
        size_t len = r->len[i] > 0 ? (size_t)r->len[i] : 0, pos = 0, o = 0;
        char *text = xmalloc(len + 1);
        bool ok = true;

        while (ok && pos < len) {
            size_t n = d[pos++];
            if (pos + n > len || memchr(d + pos, '\0', n) != NULL)
                ok = false;
            else
                memcpy(text + o, d + pos, n);
            o += ok ? n : 0;
            pos += n;
        }
        text[o] = '\0';
        if (ok)
            q->res.txt[q->res.ntxt++] = text;
        else
            free(text);
    }
    q->res.status = DNS_OK;
}

/* Asks for the TLSA records at the next base name. */
static void
dns_tlsa_next(struct dns_query *q)
{
    char owner[DNS_NAME_TEXT_MAX + 16];

    snprintf(owner, sizeof(owner), "_%u._tcp.%s", q->tlsa_port, q->tlsa_bases[q->tlsa_next++]);
    dns_lookup_start(q, &q->tlsa, owner, DNS_TYPE_TLSA);
}

/* The records of a secure TLSA answer (RFC 6698 2.1: usage, selector,
 * matching type, association data). A record too short to hold them, or
 * with more data than a certificate, is left out: it could match nothing. */
static void
dns_tlsa_parse(struct dns_query *q, const struct ub_result *r)
{
    size_t nrdata = 0;

    while (r->data[nrdata] != NULL)
        nrdata++;
    q->res.tlsa = xcalloc(nrdata, sizeof(*q->res.tlsa));
    for (size_t i = 0; i < nrdata; i++) {
        const uint8_t *d = (const uint8_t *)r->data[i];
        size_t len = r->len[i] > 0 ? (size_t)r->len[i] : 0;
        struct dns_tlsa *t = &q->res.tlsa[q->res.ntlsa];

        if (len < 4 || len - 3 > DNS_TLSA_DATA_MAX) {
            log_debug("dns: %s: ignoring a malformed TLSA record", q->name);
            continue;
        }
        t->usage = d[0];
        t->selector = d[1];
        t->mtype = d[2];
        t->len = len - 3;
        t->data = xmalloc(t->len);
        memcpy(t->data, d + 3, t->len);
        q->res.ntlsa++;
    }
}

/* A TLSA answer for tlsa_bases[tlsa_next - 1] (RFC 7672 2.2). */
static void
dns_query_on_tlsa(struct dns_query *q, int err, const struct ub_result *r)
{
    const char *base = q->tlsa_bases[q->tlsa_next - 1];

    if (err != 0 || r == NULL) {
        dns_query_errorf(q, DNS_TEMPFAIL, "TLSA lookup for %s failed (%s)", base,
                         ub_strerror(err != 0 ? err : UB_NOMEM));
        return;
    }
    if (r->bogus) {
        dns_query_errorf(q, DNS_TEMPFAIL, "DNSSEC validation failed for the TLSA records of %s: %s",
                         base, r->why_bogus ? r->why_bogus : "bogus answer");
        return;
    }
    if (r->rcode != 0 && r->rcode != DNS_RCODE_NXDOMAIN) {
        /* RFC 7672 2.2: a host whose TLSA records cannot be looked up is
         * not tried, as if unreachable; the queue retries later. */
        dns_query_errorf(q, DNS_TEMPFAIL, "DNS server failure for the TLSA records of %s (%s)",
                         base, dns_rcode_name(r->rcode));
        return;
    }
    q->res.secure = r->secure != 0;
    if ((!r->secure || !r->havedata) && q->tlsa_next < 2 && q->tlsa_bases[1] != NULL) {
        /* none (or none trustworthy) at the CNAME-expanded name: the
         * original name's turn (RFC 7672 2.2.2) */
        dns_tlsa_next(q);
        return;
    }
    q->res.tlsa_base = base;
    if (!r->havedata) {
        dns_query_errorf(q, DNS_NO_DOMAIN, "no TLSA records for %s", base);
        q->res.secure = r->secure != 0;
        return;
    }
    q->res.status = DNS_OK;
    if (r->secure)
        dns_tlsa_parse(q, r);
}

static void dns_check_answer(struct dns_lookup *l, int err, const struct ub_result *r);

static void
dns_on_answer(void *arg, int err, struct ub_result *result)
{
    struct dns_lookup *l = arg;
    struct dns_query *q = l->q;

    if (q == NULL) {
        dns_check_answer(l, err, result);
        ub_resolve_free(result);
        return;
    }
    l->pending = false;
    q->npending--;
    if (result == NULL && err == 0)
        err = UB_NOMEM;
    dns_metrics_answer(l->rrtype, &l->asked, err, result);
    if (l->rrtype == DNS_TYPE_MX)
        dns_query_on_mx(q, err, result);
    else if (l->rrtype == DNS_TYPE_TLSA)
        dns_query_on_tlsa(q, err, result);
    else if (l->rrtype == DNS_TYPE_TXT)
        dns_query_on_txt(q, err, result);
    else
        dns_query_on_addr(q, l, err, result);
    ub_resolve_free(result);
    dns_query_step(q);
}

static void
dns_query_start_addrs(struct dns_query *q)
{
    q->phase = PHASE_ADDR;
    q->addr = xcalloc(2 * q->nhosts, sizeof(*q->addr));
    /* All hosts at once: the usual case is one or two MX hosts, and the
     * whole list is needed to order delivery attempts anyway. */
    for (size_t i = 0; i < q->nhosts; i++) {
        q->addr[2 * i].host = q->addr[2 * i + 1].host = i;
        dns_lookup_start(q, &q->addr[2 * i], q->hosts[i].name, DNS_TYPE_AAAA);
        dns_lookup_start(q, &q->addr[2 * i + 1], q->hosts[i].name, DNS_TYPE_A);
    }
}

/* Must host i be left out although it may have addresses? When one family
 * is bogus, or (validating, in a signed context) failed outright: RFC 7672
 * 2.1.1 treats an indeterminate answer as a failure, since dropping one
 * family's answer would otherwise make the host look unsigned and turn
 * DANE off. Otherwise a failed family only makes the host insecure. */
static bool
dns_host_tainted(struct dns_query *q, size_t i)
{
    const struct dns_lookup *l = &q->addr[2 * i];
    struct dns_host *h = &q->hosts[i];
    bool failed = l[0].failed || l[1].failed;

    if (l[0].bogus || l[1].bogus)
        return true;
    if (failed && q->dns->validating && h->secure && (!q->is_mx || q->res.secure))
        return true;
    if (failed)
        h->secure = false;
    return false;
}

/* All address answers are in: keep the hosts that have addresses. */
static void
dns_query_finish_addrs(struct dns_query *q)
{
    size_t kept = 0;
    bool tempfail = false;

    if (!q->is_mx) {
        /* dns_resolve_host: always the one host, its status is the answer. */
        struct dns_host *h = &q->hosts[0];

        if (h->naddrs > 0 && !dns_host_tainted(q, 0))
            h->status = DNS_OK;
        q->res.status = h->status;
        q->res.secure = h->status == DNS_OK && h->secure;
        if (h->status == DNS_NO_DOMAIN)
            errorf(q->res.error, sizeof(q->res.error), "no address records for %s", q->name);
        else if (h->status == DNS_TEMPFAIL)
            errorf(q->res.error, sizeof(q->res.error), "DNS server failure for %s", q->tempfail);
        return;
    }

    /* RFC 5321 5.1: a host whose addresses cannot be found is skipped and
     * the next one tried; it is dropped here so that the list only holds
     * hosts to connect to (each with status DNS_OK). */
    for (size_t i = 0; i < q->nhosts; i++) {
        struct dns_host *h = &q->hosts[i];

        /* A forged or missing answer for one family taints the host: using
         * its other addresses without DANE is what a forger would want. */
        bool tainted = dns_host_tainted(q, i);

        if (h->naddrs == 0 || tainted) {
            if (h->status == DNS_TEMPFAIL) {
                tempfail = true;
                q->res.nskipped++;
            }
            free(h->canon);
            free(h->name);
            free(h->addrs);
            continue;
        }
        if (h->status == DNS_TEMPFAIL)
            log_debug("dns: %s: using %s despite a failed lookup (%s)", q->name, h->name,
                      q->tempfail);
        h->status = DNS_OK;
        q->hosts[kept++] = *h;
    }
    q->nhosts = kept;
    if (kept > 0) {
        q->res.status = DNS_OK;
        return;
    }
    if (tempfail && q->implicit)
        dns_query_errorf(q, DNS_TEMPFAIL, "DNS server failure for %s", q->tempfail);
    else if (tempfail)
        dns_query_errorf(q, DNS_TEMPFAIL, "DNS server failure for the MX hosts of %s: %s", q->name,
                         q->tempfail);
    else if (q->implicit)
        dns_query_errorf(q, DNS_NO_DOMAIN, "no MX or address records for %s", q->name);
    else
        dns_query_errorf(q, DNS_NO_DOMAIN, "no address records for the MX hosts of %s", q->name);
}

/* Moves the query on once every lookup of its phase has answered. */
static void
dns_query_step(struct dns_query *q)
{
    if (q->npending > 0 || q->phase == PHASE_READY)
        return;
    if (q->phase == PHASE_RRSET) {
        dns_query_ready(q);
        return;
    }
    if (q->phase == PHASE_MX) {
        if (q->res.status != DNS_OK || q->nhosts == 0) {
            dns_query_ready(q);
            return;
        }
        dns_query_start_addrs(q);
        if (q->npending > 0)
            return;
    }
    dns_query_finish_addrs(q);
    dns_query_ready(q);
}

/*
 * Parses an IP literal: "192.0.2.1", "2001:db8::1", or RFC 5321 4.1.3
 * address literals "[192.0.2.1]", "[2001:db8::1]", "[IPv6:2001:db8::1]".
 */
static bool
dns_parse_literal(const char *s, struct sockaddr_storage *ss)
{
    char buf[INET6_ADDRSTRLEN + 8];
    size_t len = strlen(s);
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s++;
        len -= 2;
        if (len >= 5 && str_iprefix(s, "IPv6:")) {
            s += 5;
            len -= 5;
        }
    }
    if (len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, buf, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        return true;
    }
    return false;
}

static struct dns_query *
dns_query_new(struct dns *dns, const char *name, bool is_mx, dns_cb *cb, void *arg)
{
    struct dns_query *q = xcalloc(1, sizeof(*q));
    struct timeval deadline;
    size_t len;

    q->dns = dns;
    q->is_mx = is_mx;
    q->name = xstrdup(name != NULL ? name : "");
    /* "example.com." and "example.com" are the same name; the host list
     * (an implicit MX is the domain itself) carries no trailing dot. */
    len = strlen(q->name);
    if (len > 1 && q->name[len - 1] == '.' && q->name[len - 2] != '.')
        q->name[len - 1] = '\0';
    q->cb = cb;
    q->arg = arg;
    q->phase = is_mx ? PHASE_MX : PHASE_ADDR;
    q->res.status = DNS_OK;
    q->ev = evtimer_new(dns->base, dns_on_query_event, q);
    if (q->ev == NULL)
        fatalx("dns: evtimer_new failed");
    deadline.tv_sec = dns->timeout_ms / 1000;
    deadline.tv_usec = (long)(dns->timeout_ms % 1000) * 1000;
    evtimer_add(q->ev, &deadline);
    dns_query_link(q);
    return q;
}

/* Answers a literal address without DNS (still from the loop, later). */
static bool
dns_query_try_literal(struct dns_query *q, const char *text)
{
    struct sockaddr_storage ss;
    struct dns_host *h;

    if (!dns_parse_literal(text, &ss))
        return false;
    dns_query_add_host(q, text, 0);
    h = &q->hosts[0];
    h->addrs = xmalloc(sizeof(*h->addrs));
    h->addrs[0] = ss;
    h->naddrs = 1;
    h->status = DNS_OK;
    h->secure = false; /* no DNS, nothing validated: never a TLSA base */
    q->res.status = DNS_OK;
    dns_query_ready(q);
    return true;
}

static bool
dns_query_precheck(struct dns_query *q)
{
    if (q->name[0] == '\0') {
        dns_query_errorf(q, DNS_NO_DOMAIN, "empty domain name");
        dns_query_ready(q);
        return false;
    }
    if (q->dns->broken) {
        dns_query_errorf(q, DNS_TEMPFAIL, "DNS resolver unavailable for %s", q->name);
        dns_query_ready(q);
        return false;
    }
    return true;
}

struct dns_query *
dns_resolve_mx(struct dns *dns, const char *domain, dns_cb *cb, void *arg)
{
    struct dns_query *q = dns_query_new(dns, domain, true, cb, arg);
    size_t len = strlen(q->name);

    /* RFC 5321 5.1: an address literal as the domain is connected to
     * directly; an unbracketed address is a name like any other. */
    if (len >= 2 && q->name[0] == '[' && q->name[len - 1] == ']') {
        if (!dns_query_try_literal(q, q->name)) {
            dns_query_errorf(q, DNS_NO_DOMAIN, "invalid address literal: %s", q->name);
            dns_query_ready(q);
        }
        return q;
    }
    if (!dns_query_precheck(q))
        return q;
    dns_lookup_start(q, &q->mx, q->name, DNS_TYPE_MX);
    dns_query_step(q);
    return q;
}

struct dns_query *
dns_resolve_host(struct dns *dns, const char *host, dns_cb *cb, void *arg)
{
    struct dns_query *q = dns_query_new(dns, host, false, cb, arg);

    if (dns_query_try_literal(q, q->name) || !dns_query_precheck(q))
        return q;
    dns_query_add_host(q, q->name, 0);
    dns_query_start_addrs(q);
    dns_query_step(q);
    return q;
}

struct dns_query *
dns_resolve_tlsa(struct dns *dns, const char *host, const char *canon, unsigned port, dns_cb *cb,
                 void *arg)
{
    struct dns_query *q = dns_query_new(dns, host, false, cb, arg);

    q->phase = PHASE_RRSET;
    if (!dns_query_precheck(q))
        return q;
    q->tlsa_port = port;
    if (canon != NULL && canon[0] != '\0' && !str_ieq(canon, q->name)) {
        q->tlsa_bases[0] = xstrdup(canon);
        q->tlsa_bases[1] = xstrdup(q->name);
    } else {
        q->tlsa_bases[0] = xstrdup(q->name);
    }
    dns_tlsa_next(q);
    dns_query_step(q);
    return q;
}

struct dns_query *
dns_resolve_txt(struct dns *dns, const char *name, dns_cb *cb, void *arg)
{
    struct dns_query *q = dns_query_new(dns, name, false, cb, arg);

    q->phase = PHASE_RRSET;
    if (!dns_query_precheck(q))
        return q;
    dns_lookup_start(q, &q->tlsa, q->name, DNS_TYPE_TXT);
    dns_query_step(q);
    return q;
}

void
dns_cancel(struct dns_query *q)
{
    /* Inside its own callback the query is freed when the callback
     * returns; cancelling it there is a no-op. */
    if (q == NULL || q->delivering)
        return;
    dns_query_unlink(q);
    dns_query_free(q);
}

void
dns_set_timeout(struct dns *dns, unsigned ms)
{
    dns->timeout_ms = ms > 0 ? ms : DNS_TIMEOUT_MS;
}

/* ub_fd is readable: answers are waiting; ub_process runs dns_on_answer for
 * each, on this thread. */
static void
dns_on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct dns *dns = arg;
    int r = ub_process(dns->ctx);

    if (r != 0) {
        /* The pipe to the resolver thread is broken: it will stay readable
         * (EOF), so stop watching it; pending queries end at their
         * deadline and new ones fail at once, as temporary failures. */
        log_warnx("dns: resolver failed: %s", ub_strerror(r));
        event_del(dns->ev);
        dns->broken = true;
    }
}

static bool
dns_ub_check(int r, const char *what, const char *val, char *err, size_t errlen)
{
    if (r == 0)
        return true;
    errorf(err, errlen, "DNS: %s \"%s\": %s", what, val, ub_strerror(r));
    return false;
}

/*
 * The system's resolvers, read once
 *
 * A process that is chrooted after start cannot read /etc/resolv.conf
 * when it builds a resolver (at start, and again whenever the DNS server
 * list of the configuration changes), so dns_system_load keeps what the
 * file says in memory. The file is read as libunbound's
 * ub_ctx_resolvconf, which dns_new used before, reads it: the address at
 * the start of each "nameserver" line (its IPv4 or IPv6 characters;
 * anything after them, a "%eth0" zone or a comment, is left out), and
 * 127.0.0.1 without any (resolv.conf(5)). Unlike it, the keyword must be a
 * whole word, and lines are not cut at 1023 bytes.
 */

/* A resolv.conf of more than this is not one. */
#define RESOLV_CONF_MAX (1024 * 1024)
#define RESOLV_CONF_PATH "/etc/resolv.conf"

struct dns_sysconf {
    char *path;
    char **servers;
    size_t nservers;
    char error[256]; /* not empty: the file could not be read (why) */
};

static pthread_mutex_t sysconf_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dns_sysconf *system_copy; /* dns_system_load's copy, or NULL */

static void
dns_sysconf_free(struct dns_sysconf *sc)
{
    if (sc == NULL)
        return;
    for (size_t i = 0; i < sc->nservers; i++)
        free(sc->servers[i]);
    free(sc->servers);
    free(sc->path);
    free(sc);
}

static void
dns_sysconf_add(struct dns_sysconf *sc, const char *addr, size_t len)
{
    sc->servers = xrealloc(sc->servers, (sc->nservers + 1) * sizeof(*sc->servers));
    sc->servers[sc->nservers++] = xstrndup(addr, len);
}

static void
dns_sysconf_parse(struct dns_sysconf *sc, const char *text, size_t len)
{
    const char *p = text, *end = text + len;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p)), *a;

        if (eol == NULL)
            eol = end;
        while (p < eol && (*p == ' ' || *p == '\t'))
            p++;
        if ((size_t)(eol - p) > 10 && memcmp(p, "nameserver", 10) == 0 &&
            (p[10] == ' ' || p[10] == '\t')) {
            p += 10;
            while (p < eol && (*p == ' ' || *p == '\t'))
                p++;
            a = p;
            while (p < eol && (isxdigit((unsigned char)*p) || *p == '.' || *p == ':'))
                p++;
            /* An empty address is kept: ub_ctx_set_fwd refuses it, as it
             * did when libunbound read the file. */
            dns_sysconf_add(sc, a, (size_t)(p - a));
        }
        p = eol + (eol < end);
    }
    if (sc->nservers == 0)
        dns_sysconf_add(sc, "127.0.0.1", 9);
}

/* Reads and parses path; a file that cannot be read gives a dns_sysconf
 * whose error says why. */
static struct dns_sysconf *
dns_sysconf_read(const char *path)
{
    struct dns_sysconf *sc = xcalloc(1, sizeof(*sc));
    char *buf = xmalloc(RESOLV_CONF_MAX);
    size_t got = 0;
    ssize_t n = 0;
    int fd;

    sc->path = xstrdup(path);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(sc->error, sizeof(sc->error), "%s", strerror(errno));
        free(buf);
        return sc;
    }
    while (got < RESOLV_CONF_MAX &&
           ((n = read(fd, buf + got, RESOLV_CONF_MAX - got)) > 0 || (n < 0 && errno == EINTR)))
        got += n > 0 ? (size_t)n : 0;
    if (n < 0)
        snprintf(sc->error, sizeof(sc->error), "%s", strerror(errno));
    else if (got == RESOLV_CONF_MAX)
        snprintf(sc->error, sizeof(sc->error), "larger than %d bytes", RESOLV_CONF_MAX);
    else
        dns_sysconf_parse(sc, buf, got);
    close(fd);
    free(buf);
    return sc;
}

int
dns_system_load(const char *path, char *err, size_t errlen)
{
    struct dns_sysconf *sc = dns_sysconf_read(path != NULL ? path : RESOLV_CONF_PATH), *old;
    int rc = 0;

    if (sc->error[0] != '\0') {
        errorf(err, errlen, "DNS: cannot use \"%s\": %s", sc->path, sc->error);
        rc = -1;
    }
    pthread_mutex_lock(&sysconf_lock);
    old = system_copy;
    system_copy = sc;
    pthread_mutex_unlock(&sysconf_lock);
    dns_sysconf_free(old);
    return rc;
}

/* The system's resolvers as forwarders of ctx: dns_system_load's copy, or
 * the file as it is now when there is none. */
static bool
dns_use_system(struct ub_ctx *ctx, char *err, size_t errlen)
{
    struct dns_sysconf *fresh = NULL;
    const struct dns_sysconf *sc;
    bool ok = true;

    pthread_mutex_lock(&sysconf_lock);
    sc = system_copy;
    if (sc == NULL)
        sc = fresh = dns_sysconf_read(RESOLV_CONF_PATH);
    if (sc->error[0] != '\0') {
        errorf(err, errlen, "DNS: cannot use \"%s\": %s", sc->path, sc->error);
        ok = false;
    }
    for (size_t i = 0; ok && i < sc->nservers; i++)
        ok = dns_ub_check(ub_ctx_set_fwd(ctx, sc->servers[i]), "cannot use", sc->path, err, errlen);
    pthread_mutex_unlock(&sysconf_lock);
    dns_sysconf_free(fresh);
    return ok;
}

/*
 * DNSSEC trust anchors, read once
 *
 * Like the resolver list, the anchors are kept in memory so that a
 * process without file access can make validating resolvers. One entry a
 * record, as ub_ctx_add_ta takes it: comments cut at ";" (no ";" can occur
 * in a DS or DNSKEY record), lines inside parentheses joined, "$" directive
 * lines and blank lines skipped.
 */

#define TRUST_ANCHORS_MAX (1024 * 1024)

struct dns_anchors {
    char **records;
    size_t nrecords;
    bool covers_test; /* one of them is for "test." or below it */
    char error[320];  /* not empty: none usable (why) */
};

static pthread_mutex_t anchors_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dns_anchors *anchors_copy;

static void
dns_anchors_free(struct dns_anchors *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->nrecords; i++)
        free(a->records[i]);
    free(a->records);
    free(a);
}

/* Adds one record's text, its whitespace squeezed. */
static void
dns_anchors_add(struct dns_anchors *a, const char *text, size_t len)
{
    char *rec = xmalloc(len + 1), *owner_end;
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        char c = text[i] == '\t' || text[i] == '\r' ? ' ' : text[i];
        if (c == ' ' && (o == 0 || rec[o - 1] == ' '))
            continue;
        rec[o++] = c;
    }
    while (o > 0 && rec[o - 1] == ' ')
        o--;
    rec[o] = '\0';
    if (o == 0) {
        free(rec);
        return;
    }
    owner_end = strchr(rec, ' ');
    if (owner_end != NULL) {
        size_t n = (size_t)(owner_end - rec);
        if ((n == 5 && strncasecmp(rec, "test.", 5) == 0) ||
            (n > 5 && strncasecmp(owner_end - 6, ".test.", 6) == 0))
            a->covers_test = true;
    }
    a->records = xrealloc(a->records, (a->nrecords + 1) * sizeof(*a->records));
    a->records[a->nrecords++] = rec;
}

static void
dns_anchors_parse(struct dns_anchors *a, const char *text, size_t len)
{
    char *rec = xmalloc(len + 1);
    size_t o = 0;
    int depth = 0;
    bool comment = false;

    for (size_t i = 0; i <= len; i++) {
        char c = i < len ? text[i] : '\n';

        if (c == '\n') {
            comment = false;
            if (depth > 0)
                c = ' ';
            else {
                if (o > 0 && rec[0] != '$')
                    dns_anchors_add(a, rec, o);
                o = 0;
                continue;
            }
        }
        if (comment)
            continue;
        if (c == ';') {
            comment = true;
            continue;
        }
        if (c == '(' || c == ')') {
            depth += c == '(' ? 1 : (depth > 0 ? -1 : 0);
            c = ' ';
        }
        rec[o++] = c;
    }
    free(rec);
}

int
dns_trust_anchors_load(const char *path, char *err, size_t errlen)
{
    struct dns_anchors *a = xcalloc(1, sizeof(*a)), *old;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    char *buf = NULL;
    size_t len = 0;
    struct stat st;

    bool opened = fd >= 0 && fstat(fd, &st) == 0;

    if (opened && (!S_ISREG(st.st_mode) || st.st_size > TRUST_ANCHORS_MAX))
        snprintf(a->error, sizeof(a->error), "\"%s\" is not a file of DS or DNSKEY records", path);
    else if (!opened || (buf = fd_read_all(fd, &len)) == NULL)
        snprintf(a->error, sizeof(a->error), "cannot read the DNSSEC trust anchors \"%s\": %s",
                 path, strerror(errno));
    else if (memchr(buf, '\0', len) != NULL)
        snprintf(a->error, sizeof(a->error), "\"%s\" is not a text file of DS or DNSKEY records",
                 path);
    else
        dns_anchors_parse(a, buf, len);
    free(buf);
    if (fd >= 0)
        close(fd);
    if (a->error[0] == '\0' && a->nrecords == 0)
        snprintf(a->error, sizeof(a->error), "no DS or DNSKEY record in \"%s\"", path);
    pthread_mutex_lock(&anchors_lock);
    old = anchors_copy;
    anchors_copy = a;
    pthread_mutex_unlock(&anchors_lock);
    dns_anchors_free(old);
    if (a->error[0] != '\0') {
        errorf(err, errlen, "DNS: %s", a->error);
        return -1;
    }
    return 0;
}

/* Turns on validation in ctx with the loaded anchors; false with why in
 * dns->no_validation when there are none (the resolver then validates
 * nothing: DANE cannot apply) or libunbound refuses one (err too). */
static bool
dns_use_anchors(struct dns *dns, struct ub_ctx *ctx, char *err, size_t errlen)
{
    const struct dns_anchors *a;
    bool ok = true;

    pthread_mutex_lock(&anchors_lock);
    a = anchors_copy;
    if (a == NULL || a->nrecords == 0) {
        snprintf(dns->no_validation, sizeof(dns->no_validation), "%s",
                 a != NULL ? a->error : "no DNSSEC trust anchors loaded");
        pthread_mutex_unlock(&anchors_lock);
        return true;
    }
    ok = dns_ub_check(ub_ctx_set_option(ctx, "module-config:", "validator iterator"),
                      "option module-config", "validator iterator", err, errlen);
    for (size_t i = 0; ok && i < a->nrecords; i++)
        ok = dns_ub_check(ub_ctx_add_ta(ctx, a->records[i]), "bad DNSSEC trust anchor",
                          a->records[i], err, errlen);
    snprintf(dns->anchor_zone, sizeof(dns->anchor_zone), "%.*s", (int)strcspn(a->records[0], " "),
             a->records[0]);
    /* "test." is private (RFC 6761 6.2): the root proves it absent, so a
     * private test zone would be bogus under the root's key. It is
     * validated only from an anchor of its own. */
    if (ok && !a->covers_test)
        ok = dns_ub_check(ub_ctx_set_option(ctx, "domain-insecure:", "test."),
                          "option domain-insecure", "test.", err, errlen);
    pthread_mutex_unlock(&anchors_lock);
    dns->validating = ok;
    dns->check = ok ? CHECK_PENDING : CHECK_NONE;
    return ok;
}

bool
dns_validating(const struct dns *dns, char *why, size_t whylen)
{
    if (why != NULL && whylen > 0)
        snprintf(why, whylen, "%s", dns->no_validation);
    return dns->validating;
}

/*
 * The validation check
 *
 * DNS servers that strip DNSSEC records, or refuse the queries for them,
 * make every signed answer look forged: with validation on, mail to every
 * domain waits. postern does not then quietly stop validating: an attacker
 * on the path could fake exactly that to turn DANE off (RFC 7672 2.1.1: a
 * failed validation is a failure). So at its first lookup the resolver asks
 * for the DNSKEY records of the first trust anchor's zone and, when they do
 * not validate, says so loudly with the way out (other servers, or DANE
 * off). The answer changes nothing else.
 */

#define DNS_CHECK_MS 10000

static void
dns_check_report(struct dns *dns, const char *why)
{
    errorf(dns->check_problem, sizeof(dns->check_problem),
           "the DNSKEY records of %s do not validate through the DNS servers: %s",
           dns->anchor_zone[0] ? dns->anchor_zone : ".", why);
    log_warnx("dns: %s; signed answers will fail and the mail they route waits. If these "
              "servers cannot pass DNSSEC records, use others (Set-TransportConfig "
              "-ExternalDNSServers) or turn DANE off (-DaneEnabled $false)",
              dns->check_problem);
}

static void
dns_check_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct dns *dns = arg;

    (void)ub_cancel(dns->ctx, dns->check_lookup.async_id);
    dns->check_lookup.pending = false;
    dns->check = CHECK_NONE;
    dns_check_report(dns, "no answer in 10 s");
}

static void
dns_check_start(struct dns *dns)
{
    struct timeval tv = {DNS_CHECK_MS / 1000, (DNS_CHECK_MS % 1000) * 1000};
    const char *zone = dns->anchor_zone[0] ? dns->anchor_zone : ".";
    struct dns_lookup *l = &dns->check_lookup;

    memset(l, 0, sizeof(*l));
    l->rrtype = DNS_TYPE_DNSKEY;
    dns->check = CHECK_NONE;
    if (ub_resolve_async(dns->ctx, zone, DNS_TYPE_DNSKEY, DNS_CLASS_IN, l, dns_on_answer,
                         &l->async_id) != 0)
        return;
    l->pending = true;
    dns->check = CHECK_RUNNING;
    evtimer_add(dns->check_deadline, &tv);
}

static void
dns_check_answer(struct dns_lookup *l, int err, const struct ub_result *r)
{
    struct dns *dns = (struct dns *)((char *)l - offsetof(struct dns, check_lookup));
    char why[300];

    l->pending = false;
    dns->check = CHECK_NONE;
    evtimer_del(dns->check_deadline);
    if (err == 0 && r != NULL && r->secure) {
        log_debug("dns: DNSSEC validation works through the DNS servers");
        return;
    }
    if (err != 0)
        errorf(why, sizeof(why), "%s", ub_strerror(err));
    else if (r == NULL || r->bogus)
        errorf(why, sizeof(why), "%s", r && r->why_bogus ? r->why_bogus : "a bogus answer");
    else
        errorf(why, sizeof(why), "the answer is %s",
               r->rcode ? dns_rcode_name(r->rcode) : "not signed");
    dns_check_report(dns, why);
}

const char *
dns_validation_problem(const struct dns *dns)
{
    return dns->check_problem[0] ? dns->check_problem : NULL;
}

static void
dns_servers_free(struct dns *dns)
{
    for (size_t i = 0; i < dns->nservers; i++)
        free(dns->servers[i]);
    free(dns->servers);
}

/* dns's libunbound context for its servers, validating or not, watched by
 * the loop. */
static bool
dns_ctx_init(struct dns *dns, bool dnssec, char *err, size_t errlen)
{
    struct ub_ctx *ctx = ub_ctx_create();
    bool ok;
    int fd;

    if (ctx == NULL) {
        errorf(err, errlen, "DNS: cannot create the resolver context");
        return false;
    }
    /* Threaded, not forked: see the top of this file. */
    ok = dns_ub_check(ub_ctx_async(ctx, 1), "option", "async", err, errlen);
    /* The validator only where DNSSEC is wanted: it costs lookups of
     * DNSKEY and DS records up to the anchor. */
    if (ok && dnssec)
        ok = dns_use_anchors(dns, ctx, err, errlen);
    else
        ok = ok && dns_ub_check(ub_ctx_set_option(ctx, "module-config:", "iterator"),
                                "option module-config", "iterator", err, errlen);
    /* libunbound answers some special-use names itself, as a recursive
     * server would. For "test." RFC 6761 6.2 and for "home.arpa." RFC 8375
     * 4 say a resolution library must send them to its configured servers
     * (which may serve them), so make those zones transparent. ("nodefault"
     * is mis-parsed by ub_ctx_set_option in 1.17.) "localhost.",
     * "invalid." and "onion." keep their fixed answers (RFC 6761 6.3/6.4,
     * RFC 7686). */
    ok = ok && dns_ub_check(ub_ctx_set_option(ctx, "local-zone:", "test. transparent"),
                            "option local-zone", "test. transparent", err, errlen);
    ok = ok && dns_ub_check(ub_ctx_set_option(ctx, "local-zone:", "home.arpa. transparent"),
                            "option local-zone", "home.arpa. transparent", err, errlen);
    if (ok && dns->nservers > 0) {
        /* Each "IP" or "IP@port" (libunbound's own syntax) becomes a
         * forwarder for the root: all names go to these servers. */
        for (size_t i = 0; ok && i < dns->nservers; i++)
            ok = dns_ub_check(ub_ctx_set_fwd(ctx, dns->servers[i]), "invalid server",
                              dns->servers[i], err, errlen);
    } else if (ok) {
        /* The system's resolvers. /etc/hosts is deliberately not read:
         * next hops for mail come from the DNS (RFC 5321 5.1), and a local
         * hosts entry (the machine's own name, "mail" aliases) silently
         * shadowing it would misroute mail. A smart host that is not in the
         * DNS can be given as an IP literal. */
        ok = dns_use_system(ctx, err, errlen);
    }
    if (!ok) {
        ub_ctx_delete(ctx);
        return false;
    }
    fd = ub_fd(ctx);
    dns->ctx = ctx;
    dns->ev = fd >= 0 ? event_new(dns->base, fd, EV_READ | EV_PERSIST, dns_on_readable, dns) : NULL;
    if (dns->ev == NULL || event_add(dns->ev, NULL) != 0) {
        errorf(err, errlen, "DNS: cannot watch the resolver's descriptor");
        if (dns->ev != NULL)
            event_free(dns->ev);
        ub_ctx_delete(ctx);
        return false;
    }
    return true;
}

struct dns *
dns_new(struct event_base *base, char *const *servers, size_t nservers, bool dnssec, char *err,
        size_t errlen)
{
    struct dns *dns = xcalloc(1, sizeof(*dns));

    dns->base = base;
    dns->timeout_ms = DNS_TIMEOUT_MS;
    dns->nservers = nservers;
    dns->servers = xcalloc(nservers ? nservers : 1, sizeof(*dns->servers));
    for (size_t i = 0; i < nservers; i++)
        dns->servers[i] = xstrdup(servers[i]);
    dns->check_deadline = evtimer_new(base, dns_check_timeout, dns);
    if (dns->check_deadline == NULL || !dns_ctx_init(dns, dnssec, err, errlen)) {
        if (dns->check_deadline != NULL)
            event_free(dns->check_deadline);
        dns_servers_free(dns);
        free(dns);
        return NULL;
    }
    return dns;
}

void
dns_free(struct dns *dns)
{
    if (dns == NULL)
        return;
    /* Every query goes, so each is simply taken off the head. */
    while (dns->queries != NULL) {
        struct dns_query *q = dns->queries;

        dns->queries = q->next;
        dns_query_free(q);
    }
    if (dns->check_lookup.pending)
        (void)ub_cancel(dns->ctx, dns->check_lookup.async_id);
    event_free(dns->check_deadline);
    event_free(dns->ev);
    /* Stops and joins the resolver thread; it answers the stop request
     * between network events, so this does not wait for slow servers. */
    ub_ctx_delete(dns->ctx);
    dns_servers_free(dns);
    free(dns);
}

void
dns_result_text(const struct dns_result *res, char *out, size_t outlen)
{
    size_t used = 0;
    char addr[INET6_ADDRSTRLEN + 8];

    snprintf(out, outlen, "%s", res->status == DNS_OK ? "no address" : res->error);
    if (res->status != DNS_OK)
        return;
    for (size_t i = 0; i < res->nhosts; i++)
        for (size_t j = 0; j < res->hosts[i].naddrs && used < outlen; j++) {
            sockaddr_format_ip((const struct sockaddr *)&res->hosts[i].addrs[j], addr,
                               sizeof(addr));
            used += (size_t)snprintf(out + used, outlen - used, "%s%s[%s]", used ? ", " : "",
                                     res->hosts[i].name, addr);
        }
}
