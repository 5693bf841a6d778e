/*
 * dkim_signer.c — see dkim_signer.h. A job runs in steps on the loop:
 *
 *   header: read the header section (up to DKIM_HEADER_MAX), find the
 *           author's domain and its configuration; none: unsigned
 *   body:   hash DKIM_SLICE octets per turn until the end of the file
 *   sign:   the header hash to the keys process; its answer, or the
 *           timeout, ends the job
 */
#include "receive/dkim_signer.h"
#include "config/config.h"
#include "lib/log.h"
#include "lib/util.h"
#include "receive/keys_client.h"
#include "smtp/dkim.h"
#include "smtp/header_read.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct dkim_signer {
    struct event_base *base;
    struct keys_client *keys;
    /* domains already warned about under warned_cfg: once each */
    const struct config *warned_cfg;
    char **warned;
    size_t nwarned;
};

enum job_step { STEP_HEADER, STEP_BODY, STEP_SIGN };

struct dkim_job {
    struct dkim_signer *s;
    struct config *cfg;
    int fd;
    dkim_signer_done_fn *done;
    void *arg;
    enum job_step step;
    struct event *ev;  /* the next step, or the signature's timeout */
    char *header;      /* the header section read */
    size_t header_len; /* octets of it in header (through its last line break) */
    off_t body_at;     /* where the body starts in fd */
    struct dkim_field *fields;
    size_t nfields;
    struct dkim_body *body;
    struct dkim_sig_params p;
    char *domain, *prefix, *txt;
    struct keys_request *req;
};

struct dkim_signer *
dkim_signer_new(struct event_base *base, struct keys_client *keys)
{
    struct dkim_signer *s = xcalloc(1, sizeof(*s));

    s->base = base;
    s->keys = keys;
    return s;
}

static void
warned_clear(struct dkim_signer *s)
{
    for (size_t i = 0; i < s->nwarned; i++)
        free(s->warned[i]);
    free(s->warned);
    s->warned = NULL;
    s->nwarned = 0;
}

void
dkim_signer_free(struct dkim_signer *s)
{
    if (s == NULL)
        return;
    warned_clear(s);
    free(s);
}

bool
dkim_signer_wanted(const struct config *cfg)
{
    for (size_t i = 0; cfg != NULL && i < cfg->ndkim_signing_configs; i++)
        if (cfg->dkim_signing_configs[i].enabled)
            return true;
    return false;
}

/* A warning about domain's signatures, once per domain and configuration:
 * every message of a domain whose key is missing would say the same. */
static void
warn_once(struct dkim_job *j, const char *why)
{
    struct dkim_signer *s = j->s;

    if (s->warned_cfg != j->cfg) {
        warned_clear(s);
        s->warned_cfg = j->cfg;
    }
    for (size_t i = 0; i < s->nwarned; i++)
        if (str_ieq(s->warned[i], j->domain))
            return;
    s->warned = xrealloc(s->warned, (s->nwarned + 1) * sizeof(*s->warned));
    s->warned[s->nwarned++] = xstrdup(j->domain);
    log_warnx("DKIM %s: mail goes out unsigned: %s (said once per domain until the next reload)",
              j->domain, why);
}

static void
job_free(struct dkim_job *j)
{
    if (j->req)
        keys_client_cancel(j->s->keys, j->req);
    if (j->ev)
        event_free(j->ev);
    dkim_body_free(j->body);
    config_unref(j->cfg);
    free(j->header);
    free(j->fields);
    free((char *)j->p.names);
    free(j->domain);
    free(j->prefix);
    free(j->txt);
    free(j);
}

/* Ends the job: done with field (NULL: unsigned), then freed (a request
 * still out is cancelled: its late answer is dropped). */
static void
job_end(struct dkim_job *j, const char *field)
{
    j->done(j->arg, field);
    job_free(j);
}

static void job_step_cb(evutil_socket_t fd, short what, void *arg);

static void
job_next(struct dkim_job *j)
{
    struct timeval now = {0, 0};

    event_add(j->ev, &now);
}

/* Reads the header section: everything before the first empty line. */
static int
read_header(struct dkim_job *j, char *why, size_t whylen)
{
    size_t cap = 16384, len = 0, hl = 0;
    char *buf = xmalloc(cap + 1);

    for (;;) {
        ssize_t n;
        if (len == cap) {
            if (cap >= DKIM_HEADER_MAX) {
                errorf(why, whylen, "a header section over %d octets", DKIM_HEADER_MAX);
                free(buf);
                return -1;
            }
            cap *= 2;
            buf = xrealloc(buf, cap + 1);
        }
        n = pread(j->fd, buf + len, cap - len, (off_t)len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            errorf(why, whylen, "cannot read the message: %s", strerror(errno));
            free(buf);
            return -1;
        }
        len += (size_t)n;
        hl = header_section_len(buf, len);
        /* shorter than what was read: the empty line is whole in it */
        if (n == 0 || hl < len)
            break;
    }
    /* the body follows the empty line; without one there is none */
    j->body_at = (off_t)(hl < len ? hl + (buf[hl] == '\n' ? 1 : 2) : len);
    j->header = buf;
    j->header_len = hl;
    return 0;
}

/* The header step: is this mail signed, and how? */
static void
job_header(struct dkim_job *j)
{
    const struct dkim_signing_config *d;
    enum dkim_selector sel;
    char why[256];

    if (read_header(j, why, sizeof(why)) < 0) {
        log_warnx("DKIM: a message goes out unsigned: %s", why);
        job_end(j, NULL);
        return;
    }
    j->nfields = dkim_fields_parse(j->header, j->header_len, &j->fields);
    j->domain = dkim_author_domain(j->fields, j->nfields);
    if (j->domain == NULL || (d = config_find_dkim(j->cfg, j->domain)) == NULL || !d->enabled) {
        job_end(j, NULL); /* not ours to sign */
        return;
    }
    sel = d->selector_after_rotate_on_date;
    if (dkim_selector_public_key(d, sel) == NULL) {
        warn_once(j, "its DkimSigningConfig has no key for the selector that signs");
        job_end(j, NULL);
        return;
    }
    j->txt = xstrdup(dkim_selector_public_key(d, sel));
    j->p.alg = strstr(j->txt, "k=ed25519") ? DKIM_ALG_ED25519_SHA256 : DKIM_ALG_RSA_SHA256;
    j->p.header_canon = d->header_canonicalization;
    j->p.body_canon = d->body_canonicalization;
    j->p.domain = j->domain;
    j->p.selector = sel == DKIM_SELECTOR2 ? "selector2" : "selector1";
    j->p.timestamp = (int64_t)time(NULL);
    j->p.names = dkim_signed_names(j->fields, j->nfields);
    j->body = dkim_body_new(j->p.body_canon);
    j->step = STEP_BODY;
    job_next(j);
}

static void
signed_cb(void *arg, const unsigned char *sig, size_t siglen)
{
    struct dkim_job *j = arg;
    char *field;

    j->req = NULL;
    if (sig == NULL) {
        warn_once(j, "the keys process did not sign (see its log)");
        job_end(j, NULL);
        return;
    }
    field = dkim_signature_field(j->prefix, sig, siglen);
    log_debug("DKIM %s: signed with %s", j->domain, j->p.selector);
    job_end(j, field);
    free(field);
}

/* The body step: one slice, or the end and the request for a signature. */
static void
job_body(struct dkim_job *j)
{
    static char buf[64 * 1024];
    unsigned char hash[DKIM_HASH_LEN];
    struct timeval timeout = {DKIM_SIGN_TIMEOUT_MS / 1000, (DKIM_SIGN_TIMEOUT_MS % 1000) * 1000};
    size_t done = 0;

    while (done < DKIM_SLICE) {
        ssize_t n = pread(j->fd, buf, sizeof(buf), j->body_at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            char why[128];
            errorf(why, sizeof(why), "cannot read the message: %s", strerror(errno));
            warn_once(j, why);
            job_end(j, NULL);
            return;
        }
        if (n == 0)
            break;
        dkim_body_update(j->body, buf, (size_t)n);
        j->body_at += n;
        done += (size_t)n;
    }
    if (done >= DKIM_SLICE) {
        job_next(j); /* the loop serves the others before the next slice */
        return;
    }
    dkim_body_final(j->body, j->p.bh);
    j->body = NULL;
    j->prefix = dkim_signature_prefix(&j->p);
    dkim_header_hash(j->p.header_canon, j->fields, j->nfields, j->p.names, j->prefix, hash);
    j->step = STEP_SIGN;
    j->req = keys_client_dkim_sign(j->s->keys, j->domain, j->p.selector, j->txt, hash, sizeof(hash),
                                   signed_cb, j);
    if (j->req == NULL) {
        warn_once(j, "the keys process is not running");
        job_end(j, NULL);
        return;
    }
    event_add(j->ev, &timeout);
}

static void
job_step_cb(evutil_socket_t fd, short what, void *arg)
{
    struct dkim_job *j = arg;

    switch (j->step) {
    case STEP_HEADER:
        job_header(j);
        break;
    case STEP_BODY:
        job_body(j);
        break;
    case STEP_SIGN:
        warn_once(j, "the keys process did not answer in time");
        job_end(j, NULL); /* cancels the request: a late answer is dropped */
        break;
    }
}

struct dkim_job *
dkim_signer_start(struct dkim_signer *s, struct config *cfg, int fd, dkim_signer_done_fn *done,
                  void *arg)
{
    struct dkim_job *j = xcalloc(1, sizeof(*j));

    j->s = s;
    j->cfg = config_ref(cfg);
    j->fd = fd;
    j->done = done;
    j->arg = arg;
    j->step = STEP_HEADER;
    if ((j->ev = event_new(s->base, -1, 0, job_step_cb, j)) == NULL)
        fatalx("event_new");
    job_next(j);
    return j;
}

void
dkim_signer_cancel(struct dkim_job *j)
{
    if (j != NULL)
        job_free(j);
}
