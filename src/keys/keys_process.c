/*
 * keys_process.c — see keys_process.h.
 */
#include "keys/keys_process.h"
#include "config/config.h"
#include "keys/dkim_keyring.h"
#include "lib/ipc.h"
#include "lib/ipc_buf.h"
#include "lib/log.h"
#include "lib/password.h"
#include "lib/sandbox.h"
#include "lib/util.h"
#include "lib/workq.h"
#include "routing/route_policy.h"
#include "smtp/dkim_key.h"
#include "tls/tls.h"
#include "tls/tls_key_ops.h"
#include "tls/tls_keyring.h"
#include "tls/tls_remote_key.h"

#include <dirent.h>
#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* yescrypt is slow on purpose: two threads keep a burst of AUTH from
 * queueing behind one hash on a 2-core machine. */
#define KEYS_WORKERS 2

/* A yescrypt hash of a random string nobody knows, to spend the same time
 * on unknown users as on known ones. */
static const char dummy_hash[] =
    "$y$j9T$qag/.3hQme3ceKcWcpm861$72TXJG.la.HMTatvsOh4Iau2kimc2XsG1VkiWDVGsl1";

struct keys_process {
    struct event_base *base;
    char *certdir;
    struct config *cfg; /* whole: hashes and credentials */
    struct tls_keyring *keys;
    /* the keys before the last change: a handshake may have begun with the
     * previous certificates, which the smtp process uses until the new
     * ones reach it */
    struct tls_keyring *previous;
    /* the DKIM keys of the enabled DkimSigningConfigs, and those before the
     * last reload: the smtp process signs under the configuration it has,
     * which may still be the previous one */
    char *dkimdir;
    struct dkim_keyring *dkim, *dkim_previous;
    struct ipc_chan *ctl, *smtp;
    unsigned smtp_generation; /* which smtp channel an answer belongs to */
    struct workq *workers;
    uint64_t certs_stamp;
    struct event *tick;
    bool ready;
};

/* A password check on a worker thread; the answer goes back on the
 * channel it came from, if that is still the current one. */
struct auth_job {
    struct keys_process *kp;
    unsigned generation;
    uint32_t id;
    char *password;
    char *hash; /* NULL: unknown user */
    bool ok;
};

/* A cheap signature of the certificate files: names, sizes and times. */
static uint64_t
certs_stamp(const char *certdir)
{
    static const char *const subdirs[] = {"", "/root", "/crl"};
    uint64_t stamp = 1469598103934665603ull;

    for (size_t i = 0; i < 3; i++) {
        char *dir = xasprintf("%s%s", certdir, subdirs[i]);
        DIR *dp = opendir(dir);
        struct dirent *de;
        while (dp && (de = readdir(dp)) != NULL) {
            struct stat st;
            if (de->d_name[0] == '.' || fstatat(dirfd(dp), de->d_name, &st, 0) < 0)
                continue;
            for (const char *p = de->d_name; *p; p++)
                stamp = (stamp ^ (unsigned char)*p) * 1099511628211ull;
            stamp = (stamp ^ (uint64_t)st.st_size) * 1099511628211ull;
            stamp = (stamp ^ (uint64_t)st.st_mtim.tv_sec) * 1099511628211ull;
            stamp = (stamp ^ (uint64_t)st.st_mtim.tv_nsec) * 1099511628211ull;
        }
        if (dp)
            closedir(dp);
        free(dir);
    }
    return stamp;
}

/* Reads DIR/certs again: the private keys kept here, the public material
 * for the smtp process. */
static void
keys_load(struct keys_process *kp)
{
    char err[512], *bundle;
    size_t len;
    struct tls_keyring *fresh;

    kp->certs_stamp = certs_stamp(kp->certdir);
    if ((fresh = tls_keyring_load(kp->certdir, err, sizeof(err))) == NULL) {
        log_warnx("keys process: %s", err);
    } else {
        tls_keyring_free(kp->previous);
        kp->previous = kp->keys;
        kp->keys = fresh;
    }
    if (kp->smtp == NULL)
        return;
    if ((bundle = tls_bundle_export(kp->certdir, &len, err, sizeof(err))) == NULL) {
        log_warnx("certificates: %s", err);
        bundle = xstrdup("");
        len = 0;
    }
    (void)ipc_send(kp->smtp, MSG_CERTS, 0, -1, bundle, len);
    free(bundle);
}

static void
keys_sign(struct keys_process *kp, struct ipc_chan *ch, const struct ipc_msg *m)
{
    struct ipc_rbuf r;
    struct ipc_wbuf w = {0};
    const char *key_id;
    uint32_t op, pad;
    const void *in;
    size_t inlen, outlen = TLS_KEY_OUT_MAX;
    unsigned char out[TLS_KEY_OUT_MAX];
    struct evp_pkey_st *key;
    int ok = 0;

    ipc_rbuf_init(&r, m->data, m->len);
    key_id = ipc_get_str(&r);
    op = ipc_get_u32(&r);
    pad = ipc_get_u32(&r);
    in = ipc_get_bytes(&r, &inlen);
    if (!ipc_rbuf_done(&r))
        log_warnx("keys process: malformed signing request");
    else if ((key = tls_keyring_get(kp->keys, key_id)) == NULL &&
             (key = tls_keyring_get(kp->previous, key_id)) == NULL)
        log_warnx("keys process: no private key for certificate %.64s", key_id);
    else
        ok = tls_key_op(key, (int)op, (int)pad, in, inlen, out, &outlen) == 0;
    ipc_put_u32(&w, (uint32_t)ok);
    ipc_put_bytes(&w, out, ok ? outlen : 0);
    (void)ipc_send(ch, MSG_KEY_SIGNED, m->id, -1, w.data, w.len);
    ipc_wbuf_free(&w);
}

/* Reads the DKIM keys again for the current configuration. */
static void
keys_load_dkim(struct keys_process *kp)
{
    dkim_keyring_free(kp->dkim_previous);
    kp->dkim_previous = kp->dkim;
    kp->dkim = dkim_keyring_load(kp->dkimdir, kp->cfg);
}

/* A DKIM signature of a message's header hash (receive/dkim_signer.c
 * computed it): only with a key an enabled DkimSigningConfig publishes,
 * only over DKIM_HASH_LEN octets. */
static void
keys_dkim_sign(struct keys_process *kp, struct ipc_chan *ch, const struct ipc_msg *m)
{
    struct ipc_rbuf r;
    struct ipc_wbuf w = {0};
    const char *domain, *selector, *txt;
    const void *hash;
    size_t hashlen, siglen = 0;
    unsigned char sig[DKIM_SIG_MAX];
    char why[256];
    int ok = 0;

    ipc_rbuf_init(&r, m->data, m->len);
    domain = ipc_get_str(&r);
    selector = ipc_get_str(&r);
    txt = ipc_get_str(&r);
    hash = ipc_get_bytes(&r, &hashlen);
    if (!ipc_rbuf_done(&r))
        log_warnx("keys process: malformed DKIM signing request");
    else if (dkim_keyring_sign(kp->dkim, domain, selector, txt, hash, hashlen, sig, &siglen, why,
                               sizeof(why)) == 0 ||
             dkim_keyring_sign(kp->dkim_previous, domain, selector, txt, hash, hashlen, sig,
                               &siglen, why, sizeof(why)) == 0)
        ok = 1;
    else
        log_warnx("keys process: DKIM %.253s %.16s: not signed: %s", domain, selector, why);
    ipc_put_u32(&w, (uint32_t)ok);
    ipc_put_bytes(&w, sig, ok ? siglen : 0);
    (void)ipc_send(ch, MSG_DKIM_SIGNED, m->id, -1, w.data, w.len);
    ipc_wbuf_free(&w);
}

static void
auth_work(void *arg)
{
    struct auth_job *j = arg;

    j->ok = password_verify(j->password, j->hash ? j->hash : dummy_hash) && j->hash != NULL;
}

static void
auth_done(void *arg)
{
    struct auth_job *j = arg;
    struct ipc_wbuf w = {0};

    explicit_bzero(j->password, strlen(j->password));
    free(j->password);
    if (j->hash) {
        explicit_bzero(j->hash, strlen(j->hash));
        free(j->hash);
    }
    /* a restarted smtp process has a new channel; this answer is stale */
    if (j->kp->smtp && j->generation == j->kp->smtp_generation) {
        ipc_put_u32(&w, j->ok);
        (void)ipc_send(j->kp->smtp, MSG_AUTH_RESULT, j->id, -1, w.data, w.len);
        ipc_wbuf_free(&w);
    }
    free(j);
}

static void
keys_auth(struct keys_process *kp, struct ipc_chan *ch, const struct ipc_msg *m)
{
    struct ipc_rbuf r;
    const char *user, *password;
    const struct mailbox *mb;
    struct auth_job *j;

    ipc_rbuf_init(&r, m->data, m->len);
    user = ipc_get_str(&r);
    password = ipc_get_str(&r);
    j = xcalloc(1, sizeof(*j));
    j->kp = kp;
    j->generation = kp->smtp_generation;
    j->id = m->id;
    j->password = xstrdup(ipc_rbuf_done(&r) ? password : "");
    mb = kp->cfg && ipc_rbuf_done(&r) ? config_find_mailbox(kp->cfg, user) : NULL;
    j->hash = mb && mb->password_hash ? xstrdup(mb->password_hash) : NULL;
    workq_submit(kp->workers, auth_work, auth_done, j);
}

/* The password of a Send connector's credential, for the user the smtp
 * process's policy names; only for a connector that authenticates to its
 * smart hosts. */
static void
keys_credential(struct keys_process *kp, struct ipc_chan *ch, const struct ipc_msg *m)
{
    struct ipc_rbuf r;
    struct ipc_wbuf w = {0};
    const char *name, *user;
    const struct send_connector *sc = NULL;
    char password[1024], why[256] = "no configuration";
    bool ok = false;

    ipc_rbuf_init(&r, m->data, m->len);
    name = ipc_get_str(&r);
    user = ipc_get_str(&r);
    if (!ipc_rbuf_done(&r))
        snprintf(why, sizeof(why), "malformed request");
    else if (kp->cfg && ((sc = config_find_send_connector(kp->cfg, name)) == NULL ||
                         (sc->smart_host_auth_mechanism != SHAUTH_BASIC_AUTH &&
                          sc->smart_host_auth_mechanism != SHAUTH_BASIC_AUTH_REQUIRE_TLS)))
        snprintf(why, sizeof(why), "send connector \"%.100s\" does not authenticate", name);
    else if (kp->cfg)
        ok = route_policy_password(kp->cfg, name, user, password, sizeof(password), why,
                                   sizeof(why)) == 0;
    ipc_put_u32(&w, ok);
    ipc_put_str(&w, ok ? password : why);
    explicit_bzero(password, sizeof(password));
    (void)ipc_send(ch, MSG_CREDENTIAL_RESULT, m->id, -1, w.data, w.len);
    ipc_wbuf_free(&w); /* wipes the password */
}

static void
keys_smtp_message(struct ipc_chan *ch, const struct ipc_msg *m, void *arg)
{
    struct keys_process *kp = arg;

    if (m->fd >= 0)
        close(m->fd);
    switch (m->type) {
    case MSG_KEY_SIGN:
        keys_sign(kp, ch, m);
        break;
    case MSG_AUTH_CHECK:
        keys_auth(kp, ch, m);
        break;
    case MSG_CREDENTIAL:
        keys_credential(kp, ch, m);
        break;
    case MSG_DKIM_SIGN:
        keys_dkim_sign(kp, ch, m);
        break;
    default:
        log_warnx("keys process: unexpected message %u from the smtp process", m->type);
        break;
    }
}

static void
keys_smtp_closed(struct ipc_chan *ch, const char *reason, void *arg)
{
    struct keys_process *kp = arg;

    ipc_chan_free(kp->smtp);
    kp->smtp = NULL;
    kp->smtp_generation++;
}

static void
keys_attach_smtp(struct keys_process *kp, int fd)
{
    ipc_chan_free(kp->smtp);
    kp->smtp = ipc_chan_new(kp->base, fd, keys_smtp_message, keys_smtp_closed, kp);
    kp->smtp_generation++;
    keys_load(kp); /* the new smtp process needs the certificates */
}

static void
keys_apply_config(struct keys_process *kp, const struct ipc_msg *m)
{
    char err[512];
    struct config *cfg;

    if ((cfg = config_load_message(m->data, m->len, err, sizeof(err))) == NULL) {
        log_warnx("keys process: configuration refused: %s", err);
        return;
    }
    config_unref(kp->cfg);
    kp->cfg = cfg;
    log_set_level(cfg->transport.log_level);
    keys_load(kp);      /* a reload reads the certificates again, as it always did */
    keys_load_dkim(kp); /* the DKIM cmdlets write the keys before the configuration */
}

static void
keys_ctl_message(struct ipc_chan *ch, const struct ipc_msg *m, void *arg)
{
    struct keys_process *kp = arg;
    struct ipc_rbuf r;

    ipc_rbuf_init(&r, m->data, m->len);
    switch (m->type) {
    case MSG_CONFIG:
        keys_apply_config(kp, m);
        (void)ipc_send(ch, MSG_CONFIG, m->id, -1, NULL, 0);
        break;
    case MSG_PEER:
        if (ipc_get_u32(&r) == PEER_SMTP_KEYS && ipc_rbuf_done(&r) && m->fd >= 0) {
            keys_attach_smtp(kp, m->fd);
            return;
        }
        break;
    case MSG_STOP:
    case MSG_STOP_NOW:
        event_base_loopbreak(kp->base);
        break;
    default:
        log_warnx("keys process: unexpected message %u from the daemon", m->type);
        break;
    }
    if (m->fd >= 0)
        close(m->fd);
}

static void
keys_ctl_closed(struct ipc_chan *ch, const char *reason, void *arg)
{
    _exit(1); /* the daemon is gone */
}

/* Certificates renewed on disk (Import-ExchangeCertificate, or by hand)
 * take effect without a reload or a restart. */
static void
keys_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct keys_process *kp = arg;

    if (certs_stamp(kp->certdir) != kp->certs_stamp)
        keys_load(kp);
}

int
keys_process_main(const struct proc_start *st)
{
    struct keys_process kp = {0};
    char err[512];
    struct timeval one_second = {1, 0};

    if (sandbox_become(st->uid, st->gid, err, sizeof(err)) < 0) {
        log_warnx("keys process: %s", err);
        return 1;
    }
    sandbox_private();
    signal(SIGTERM, SIG_IGN); /* the daemon says when to stop */
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    kp.certdir = xasprintf("%s/certs", st->instance_dir);
    kp.dkimdir = xasprintf("%s/dkim", st->instance_dir);
    if (st->config == NULL || (kp.cfg = config_load_text(st->config, st->config_len, "(daemon)",
                                                         err, sizeof(err))) == NULL)
        log_warnx("keys process: no configuration: AUTH and smart-host credentials fail");
    else
        log_set_level(kp.cfg->transport.log_level);
    kp.dkim = dkim_keyring_load(kp.dkimdir, kp.cfg);
    kp.base = event_base_new();
    kp.workers = workq_new(kp.base, KEYS_WORKERS);
    kp.ctl = ipc_chan_new(kp.base, st->ctl_fd, keys_ctl_message, keys_ctl_closed, &kp);
    if (st->peer_fd[PEER_SMTP_KEYS] >= 0)
        keys_attach_smtp(&kp, st->peer_fd[PEER_SMTP_KEYS]);
    else
        keys_load(&kp);
    kp.tick = event_new(kp.base, -1, EV_PERSIST, keys_tick_cb, &kp);
    evtimer_add(kp.tick, &one_second);
    (void)ipc_send(kp.ctl, MSG_READY, 0, -1, NULL, 0);
    event_base_dispatch(kp.base);

    workq_free(kp.workers);
    ipc_chan_free(kp.smtp);
    ipc_chan_free(kp.ctl);
    event_free(kp.tick);
    tls_keyring_free(kp.keys);
    tls_keyring_free(kp.previous);
    dkim_keyring_free(kp.dkim);
    dkim_keyring_free(kp.dkim_previous);
    config_unref(kp.cfg);
    event_base_free(kp.base);
    free(kp.certdir);
    free(kp.dkimdir);
    return 0;
}
