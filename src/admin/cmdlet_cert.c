/*
 * cmdlet_cert.c — Exchange's certificate cmdlets (docs/exchange-model.md):
 * New-, Import-, Get-, Enable- and Remove-ExchangeCertificate, and the
 * Windows administrator's Import-Certificate for trusted roots and CRLs.
 *
 * Glue only: arguments, defaults taken from postern.conf (the server
 * Fqdn, accepted domains), Format-List output, and a reload request so a
 * running service picks up the store. The certificate work is behind
 * src/tls/tls_certs.h, which also describes the store layout.
 *
 * Decisions: -Services accepts Exchange's names but only SMTP means
 * anything here (New- enables SMTP unless -Services None; a request is
 * never enabled); -FriendlyName and -PrivateKeyExportable are accepted and
 * ignored (postern keys are files, always "exportable" by root); dates
 * are ISO 8601 UTC.
 * Must never: include OpenSSL headers, print key material or a password,
 * or prompt unless asked to (-Password - on a terminal reads without echo).
 */
#include "admin/cmdlet_object.h"
#include "admin/control.h"
#include "lib/fsutil.h"
#include "lib/util.h"
#include "tls/tls_certs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define MSG_MAX 1024
#define WARN_MAX 4096
#define PASSWORD_MAX 1024
#define FIELD_WIDTH 18 /* "CertificateDomains" */

const char *const cmdlet_new_exchange_certificate_switches[] = {
    "GenerateRequest",
    "BinaryEncoded",
    "Force",
    "IncludeServerFQDN",
    "IncludeServerNetBIOSName",
    "IncludeAcceptedDomains",
    "IncludeAutoDiscover",
    NULL,
};

const char *const cmdlet_enable_exchange_certificate_switches[] = {"Force", NULL};

static char *
cert_dir(const struct cmdlet_ctx *ctx)
{
    return xasprintf("%s/certs", ctx->instance_dir);
}

static int
usage(struct cmdlet_ctx *ctx, const char *msg)
{
    cmdlet_error(ctx, "%s", msg);
    return CMDLET_USAGE;
}

/* Prints each line of warn as a WARNING. */
static void
print_warnings(struct cmdlet_ctx *ctx, const char *warn)
{
    const char *p = warn;

    while (p != NULL && *p != '\0') {
        size_t n = strcspn(p, "\n");
        cmdlet_warning(ctx, "%.*s", (int)n, p);
        p += n;
        if (*p == '\n')
            p++;
    }
}

/* The store changed: a running service reloads so new certificates take
 * effect without a restart. Not running is fine (it reads them at start). */
static void
reload_service(struct cmdlet_ctx *ctx)
{
    char msg[MSG_MAX] = "";

    if (control_request_reload(ctx->instance_dir, msg, sizeof(msg)) < 0)
        cmdlet_warning(ctx,
                       "the certificate store is changed, but the running service did not "
                       "reload: %s",
                       msg);
}

static void
field(FILE *out, const char *name, const char *value)
{
    if (value != NULL && *value != '\0')
        fprintf(out, "%-*s : %s\n", FIELD_WIDTH, name, value);
    else
        fprintf(out, "%-*s :\n", FIELD_WIDTH, name);
}

static void
time_field(FILE *out, const char *name, time_t t)
{
    char buf[32] = "";
    struct tm tm;

    if (t != 0 && gmtime_r(&t, &tm) != NULL)
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    field(out, name, buf);
}

/* Format-List of one certificate, as Get-ExchangeCertificate shows it. */
static void
print_cert(FILE *out, const struct tls_cert_info *ci)
{
    char num[32];

    field(out, "Thumbprint", ci->thumbprint);
    field(out, "Subject", ci->subject);
    fprintf(out, "%-*s : {", FIELD_WIDTH, "CertificateDomains");
    for (size_t i = 0; i < ci->ndomains; i++)
        fprintf(out, "%s%s", i > 0 ? ", " : "", ci->domains[i]);
    fputs("}\n", out);
    field(out, "Issuer", ci->issuer);
    time_field(out, "NotBefore", ci->not_before);
    time_field(out, "NotAfter", ci->not_after);
    field(out, "HasPrivateKey", ci->has_private_key ? "True" : "False");
    field(out, "IsSelfSigned", ci->self_signed ? "True" : "False");
    field(out, "KeyAlgorithm", ci->key_algorithm);
    snprintf(num, sizeof(num), "%d", ci->key_bits);
    field(out, "PublicKeySize", num);
    field(out, "SerialNumber", ci->serial);
    field(out, "Services", ci->smtp_enabled ? "SMTP" : "None");
    field(out, "Status", tls_cert_status_name(ci->status));
}

/* Lists the store; prints the error. */
static int
list_store(struct cmdlet_ctx *ctx, const char *certdir, struct tls_cert_info **v, size_t *n)
{
    char msg[MSG_MAX];

    if (tls_certs_list(certdir, v, n, msg, sizeof(msg)) != 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_ERROR;
    }
    return CMDLET_OK;
}

static const struct tls_cert_info *
find_info(const struct tls_cert_info *v, size_t n, const char *thumbprint)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].thumbprint, thumbprint) == 0)
            return &v[i];
    return NULL;
}

/* Prints the certificate just created or imported, as Exchange does. */
static void
show_one(struct cmdlet_ctx *ctx, const char *certdir, const char *thumbprint)
{
    struct tls_cert_info *v;
    const struct tls_cert_info *ci;
    size_t n;

    if (list_store(ctx, certdir, &v, &n) != CMDLET_OK)
        return;
    if ((ci = find_info(v, n, thumbprint)) != NULL)
        print_cert(ctx->out, ci);
    tls_certs_list_free(v, n);
}

/* -Thumbprint T, else -Identity [SERVER\]T or the first positional
 * argument. 1 with out set, 0 when none was given, or a usage error
 * (negated status, printed). */
static int
take_thumbprint(struct cmdlet_ctx *ctx, struct cmdlet_args *a, char out[TLS_THUMBPRINT_SIZE])
{
    const char *t = NULL;
    char msg[MSG_MAX];
    int rc = cmdlet_args_string(a, "Thumbprint", &t, msg, sizeof(msg));

    if (rc == 0)
        rc = cmdlet_args_identity(a, &t, msg, sizeof(msg));
    if (rc < 0) {
        cmdlet_error(ctx, "%s", msg);
        return -CMDLET_USAGE;
    }
    if (rc == 0)
        return 0;
    if (tls_thumbprint_parse(t, out) != 0) {
        cmdlet_error(ctx, "Thumbprint: \"%s\" is not 40 hexadecimal digits", t);
        return -CMDLET_USAGE;
    }
    return 1;
}

static int
check_unused(struct cmdlet_ctx *ctx, const struct cmdlet_args *a)
{
    char msg[MSG_MAX];

    if (cmdlet_args_check_unused(a, msg, sizeof(msg)) < 0)
        return usage(ctx, msg);
    return CMDLET_OK;
}

/* -Services IIS,IMAP,POP,SMTP,UM,...: Exchange's names are accepted;
 * *smtp says whether SMTP is among them. 0 when not given. */
static int
take_services(struct cmdlet_ctx *ctx, struct cmdlet_args *a, bool *smtp)
{
    static const char *const known[] = {"None", "IIS", "IMAP",         "POP",
                                        "SMTP", "UM",  "UMCallRouter", "Federation"};
    char **items = NULL, msg[MSG_MAX];
    size_t n = 0;
    int rc = cmdlet_args_list(a, "Services", &items, &n, msg, sizeof(msg));

    if (rc < 0) {
        cmdlet_error(ctx, "%s", msg);
        return -CMDLET_USAGE;
    }
    *smtp = false;
    for (size_t i = 0; i < n; i++) {
        bool ok = false;
        for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
            ok = ok || str_ieq(items[i], known[k]);
        if (!ok) {
            cmdlet_error(ctx, "Services: \"%s\" is not one of None, IIS, IMAP, POP, SMTP, UM",
                         items[i]);
            cmdlet_list_free(items, n);
            return -CMDLET_USAGE;
        }
        *smtp = *smtp || str_ieq(items[i], "SMTP");
    }
    cmdlet_list_free(items, n);
    return rc;
}

/* Parameters accepted for Exchange scripts, without effect here. */
static void
take_ignored(struct cmdlet_args *a, const char *const *names)
{
    for (; *names != NULL; names++)
        (void)cmdlet_args_take(a, *names, NULL);
}

/*
 * New-ExchangeCertificate
 */

struct name_list {
    char **v;
    size_t n;
};

static void
add_name(struct name_list *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (str_ieq(l->v[i], s))
            return;
    l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = xstrdup(s);
}

/* Writes the request to path; never replaces an existing file (it may be
 * the answer of an earlier request). */
static int
write_request_file(struct cmdlet_ctx *ctx, const char *path, const unsigned char *data, size_t len)
{
    struct fs_atomic w = {.mode = 0644, .sync_dir = true};

    if (fs_write_atomic(path, data, len, &w) != 0) {
        cmdlet_error(ctx, "RequestFile: %s: %s", path, strerror(errno));
        return CMDLET_ERROR;
    }
    return CMDLET_OK;
}

int
cmdlet_new_exchange_certificate(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    static const char *const ignored[] = {"FriendlyName", "PrivateKeyExportable", "Force", NULL};
    struct tls_new_cert spec = {0};
    struct name_list names = {0};
    struct config *cfg = NULL;
    const char *keysize = NULL, *alg = NULL, *reqfile = NULL;
    char msg[MSG_MAX], id[TLS_THUMBPRINT_SIZE], **dn = NULL, *certdir = NULL;
    size_t ndn = 0, reqlen = 0;
    unsigned char *req = NULL;
    bool smtp = true, want_fqdn = false, want_netbios = false, want_domains = false,
         want_autodiscover = false;
    int rc;

    if (cmdlet_args_string(a, "SubjectName", &spec.subject, msg, sizeof(msg)) < 0 ||
        cmdlet_args_list(a, "DomainName", &dn, &ndn, msg, sizeof(msg)) < 0 ||
        cmdlet_args_string(a, "KeySize", &keysize, msg, sizeof(msg)) < 0 ||
        cmdlet_args_string(a, "KeyAlgorithm", &alg, msg, sizeof(msg)) < 0 ||
        cmdlet_args_bool(a, "GenerateRequest", &spec.request, msg, sizeof(msg)) < 0 ||
        cmdlet_args_bool(a, "BinaryEncoded", &spec.request_der, msg, sizeof(msg)) < 0 ||
        cmdlet_args_string(a, "RequestFile", &reqfile, msg, sizeof(msg)) < 0 ||
        cmdlet_args_bool(a, "IncludeServerFQDN", &want_fqdn, msg, sizeof(msg)) < 0 ||
        cmdlet_args_bool(a, "IncludeServerNetBIOSName", &want_netbios, msg, sizeof(msg)) < 0 ||
        cmdlet_args_bool(a, "IncludeAcceptedDomains", &want_domains, msg, sizeof(msg)) < 0 ||
        cmdlet_args_bool(a, "IncludeAutoDiscover", &want_autodiscover, msg, sizeof(msg)) < 0) {
        rc = usage(ctx, msg);
        goto out;
    }
    if ((rc = take_services(ctx, a, &smtp)) < 0) {
        rc = -rc;
        goto out;
    }
    if (rc == 0)
        smtp = true; /* Exchange enables new certificates for its services */
    take_ignored(a, ignored);
    if ((rc = check_unused(ctx, a)) != CMDLET_OK)
        goto out;
    rc = CMDLET_USAGE;
    if (keysize != NULL) {
        char *end;
        long v = strtol(keysize, &end, 10);
        if (*end != '\0' || v <= 0 || v > 16384) {
            cmdlet_error(ctx, "KeySize: \"%s\" is not a number of bits", keysize);
            goto out;
        }
        spec.key_bits = (int)v;
    }
    if (alg == NULL || str_ieq(alg, "RSA"))
        spec.algorithm = TLS_KEY_RSA;
    else if (str_ieq(alg, "ECDSA") || str_ieq(alg, "EC"))
        spec.algorithm = TLS_KEY_ECDSA;
    else {
        cmdlet_error(ctx, "KeyAlgorithm: \"%s\" is not RSA or ECDSA", alg);
        goto out;
    }
    if (!spec.request && (reqfile != NULL || spec.request_der)) {
        cmdlet_error(ctx, "%s: only with -GenerateRequest",
                     reqfile != NULL ? "RequestFile" : "BinaryEncoded");
        goto out;
    }
    if (spec.request_der && reqfile == NULL) {
        cmdlet_error(ctx, "BinaryEncoded: give -RequestFile (binary output is not printed)");
        goto out;
    }
    if (reqfile != NULL && access(reqfile, F_OK) == 0) {
        cmdlet_error(ctx, "RequestFile: %s already exists", reqfile);
        rc = CMDLET_ERROR;
        goto out;
    }

    rc = CMDLET_ERROR;
    if ((cfg = cmdlet_config_read(ctx)) == NULL)
        goto out;
    spec.fqdn = cfg->transport.fqdn;
    for (size_t i = 0; i < ndn; i++)
        add_name(&names, dn[i]);
    if ((want_fqdn || want_netbios) && spec.fqdn == NULL) {
        cmdlet_error(ctx, "TransportConfig has no Fqdn to include");
        goto out;
    }
    if (want_fqdn)
        add_name(&names, spec.fqdn);
    if (want_netbios) {
        char *host = xstrndup(spec.fqdn, strcspn(spec.fqdn, "."));
        add_name(&names, host);
        free(host);
    }
    for (size_t i = 0; i < cfg->naccepted_domains; i++) {
        const char *d = cfg->accepted_domains[i].domain_name;
        if (want_domains)
            add_name(&names, d);
        /* autodiscover.*.x is not a name a client looks up. */
        if (want_autodiscover && d[0] != '*') {
            char *ad = xasprintf("autodiscover.%s", d);
            add_name(&names, ad);
            free(ad);
        }
    }
    spec.names = (const char *const *)names.v;
    spec.nnames = names.n;
    spec.enable_smtp = smtp && !spec.request;

    certdir = cert_dir(ctx);
    if (tls_certs_new(certdir, &spec, id, &req, &reqlen, msg, sizeof(msg)) != 0) {
        cmdlet_error(ctx, "%s", msg);
        goto out;
    }
    if (!spec.request) {
        show_one(ctx, certdir, id);
        reload_service(ctx);
        rc = CMDLET_OK;
    } else if (reqfile != NULL) {
        if ((rc = write_request_file(ctx, reqfile, req, reqlen)) != CMDLET_OK) {
            /* No request file, no pending request: nothing half-done. */
            (void)tls_certs_remove(certdir, id, msg, sizeof(msg));
            goto out;
        }
        show_one(ctx, certdir, id);
    } else {
        fwrite(req, 1, reqlen, ctx->out);
        rc = CMDLET_OK;
    }
out:
    free(req);
    free(certdir);
    cmdlet_list_free(dn, ndn);
    cmdlet_list_free(names.v, names.n);
    config_unref(cfg);
    return rc;
}

/*
 * Import-ExchangeCertificate
 */

/* -Password text, or "-": one line of standard input (so that it stays out
 * of the process list and shell history). 0 none, 1 given, -1 error. */
static int
take_password(struct cmdlet_ctx *ctx, struct cmdlet_args *a, char *buf, size_t len)
{
    struct cmdlet_arg *arg = cmdlet_args_take(a, "Password", NULL);
    struct termios old;
    bool restore = false, got;
    size_t n;

    if (arg == NULL)
        return 0;
    if (arg->value == NULL) {
        cmdlet_error(ctx, "Password: a value is required (\"-\" reads it from standard input)");
        return -1;
    }
    if (strcmp(arg->value, "-") != 0) {
        if (strlcpy_p(buf, arg->value, len) >= len) {
            cmdlet_error(ctx, "Password: too long");
            return -1;
        }
        return 1;
    }
    if (ctx->in == NULL) {
        cmdlet_error(ctx, "Password: nothing to read on standard input");
        return -1;
    }
    /* From a terminal: a prompt, and no echo of what is typed. */
    if (isatty(fileno(ctx->in)) && tcgetattr(fileno(ctx->in), &old) == 0) {
        struct termios quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        fputs("Password: ", stderr);
        fflush(stderr);
        restore = tcsetattr(fileno(ctx->in), TCSAFLUSH, &quiet) == 0;
    }
    got = fgets(buf, (int)len, ctx->in) != NULL;
    if (restore) {
        tcsetattr(fileno(ctx->in), TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (!got) {
        cmdlet_error(ctx, "Password: nothing to read on standard input");
        return -1;
    }
    n = strcspn(buf, "\r\n");
    if (buf[n] == '\0' && n + 1 == len) {
        cmdlet_error(ctx, "Password: too long");
        return -1;
    }
    buf[n] = '\0';
    return 1;
}

/* A certificate that does not name the server's FQDN serves only the
 * connectors whose own Fqdn it names. */
static void
warn_fqdn(struct cmdlet_ctx *ctx, const char *certdir, const char *thumbprint)
{
    struct config *cfg = cmdlet_config_read(ctx);
    struct tls_cert_info *v = NULL;
    const struct tls_cert_info *ci;
    size_t n = 0;

    if (cfg == NULL || cfg->transport.fqdn == NULL ||
        tls_certs_list(certdir, &v, &n, NULL, 0) != 0) {
        config_unref(cfg);
        return;
    }
    if ((ci = find_info(v, n, thumbprint)) != NULL && !tls_cert_info_names(ci, cfg->transport.fqdn))
        cmdlet_warning(ctx,
                       "certificate %s does not name the server Fqdn %s: only connectors "
                       "whose Fqdn it names will use it",
                       thumbprint, cfg->transport.fqdn);
    tls_certs_list_free(v, n);
    config_unref(cfg);
}

int
cmdlet_import_exchange_certificate(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    static const char *const ignored[] = {"PrivateKeyExportable", "FriendlyName", NULL};
    struct tls_import_result res;
    const char *file = NULL;
    char password[PASSWORD_MAX], msg[MSG_MAX], warn[WARN_MAX] = "", *certdir;
    int havepw, rc;

    if (cmdlet_args_take(a, "FileData", NULL) != NULL)
        return usage(ctx, "FileData: PowerShell byte arrays do not exist here; give the file "
                          "with -FileName PATH");
    if (cmdlet_args_string(a, "FileName", &file, msg, sizeof(msg)) < 0 ||
        (file == NULL && cmdlet_args_string(a, "Path", &file, msg, sizeof(msg)) < 0))
        return usage(ctx, msg);
    if (file == NULL && (file = cmdlet_args_positional(a)) == NULL)
        return usage(ctx, "FileName: a value is required");
    password[0] = '\0';
    if ((havepw = take_password(ctx, a, password, sizeof(password))) < 0) {
        rc = CMDLET_USAGE;
        goto out;
    }
    take_ignored(a, ignored);
    if ((rc = check_unused(ctx, a)) != CMDLET_OK)
        goto out;

    certdir = cert_dir(ctx);
    rc = tls_certs_import(certdir, file, havepw ? password : NULL, &res, warn, sizeof(warn), msg,
                          sizeof(msg));
    print_warnings(ctx, warn);
    if (rc != 0) {
        cmdlet_error(ctx, "%s", msg);
        rc = CMDLET_ERROR;
    } else {
        show_one(ctx, certdir, res.thumbprint);
        warn_fqdn(ctx, certdir, res.thumbprint);
        reload_service(ctx);
        rc = CMDLET_OK;
    }
    free(certdir);
out:
    explicit_bzero(password, sizeof(password));
    return rc;
}

/*
 * Get-ExchangeCertificate
 */

int
cmdlet_get_exchange_certificate(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    static const char *const ignored[] = {"Server", NULL};
    char tp[TLS_THUMBPRINT_SIZE], msg[MSG_MAX], *certdir;
    const char *domain = NULL;
    struct tls_cert_info *v;
    size_t n, shown = 0;
    int have, rc;

    if ((have = take_thumbprint(ctx, a, tp)) < 0)
        return -have;
    if (cmdlet_args_string(a, "DomainName", &domain, msg, sizeof(msg)) < 0)
        return usage(ctx, msg);
    take_ignored(a, ignored);
    if ((rc = check_unused(ctx, a)) != CMDLET_OK)
        return rc;
    certdir = cert_dir(ctx);
    rc = list_store(ctx, certdir, &v, &n);
    free(certdir);
    if (rc != CMDLET_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (have && strcmp(v[i].thumbprint, tp) != 0)
            continue;
        if (domain != NULL && !tls_cert_info_names(&v[i], domain))
            continue;
        if (shown++ > 0)
            fputc('\n', ctx->out);
        print_cert(ctx->out, &v[i]);
    }
    tls_certs_list_free(v, n);
    if (have && shown == 0 && domain == NULL) {
        cmdlet_error(ctx, "no certificate with thumbprint %s in the store", tp);
        return CMDLET_ERROR;
    }
    return CMDLET_OK;
}

/*
 * Enable-ExchangeCertificate
 */

int
cmdlet_enable_exchange_certificate(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    static const char *const ignored[] = {"Force", "Server", NULL};
    char tp[TLS_THUMBPRINT_SIZE], msg[MSG_MAX], *certdir;
    struct tls_cert_info *v;
    const struct tls_cert_info *ci;
    bool smtp = false;
    size_t n;
    int have, rc;

    if ((have = take_thumbprint(ctx, a, tp)) < 0)
        return -have;
    if (have == 0)
        return usage(ctx, "Thumbprint: a value is required");
    if ((rc = take_services(ctx, a, &smtp)) < 0)
        return -rc;
    if (rc == 0)
        return usage(ctx, "Services: a value is required (SMTP)");
    take_ignored(a, ignored);
    if ((rc = check_unused(ctx, a)) != CMDLET_OK)
        return rc;
    if (!smtp) {
        cmdlet_warning(ctx, "postern serves SMTP only: nothing to enable without -Services SMTP");
        return CMDLET_OK;
    }
    certdir = cert_dir(ctx);
    if (tls_certs_enable_smtp(certdir, tp, msg, sizeof(msg)) != 0) {
        cmdlet_error(ctx, "%s", msg);
        free(certdir);
        return CMDLET_ERROR;
    }
    /* Enabled it is; but say so when peers that check will refuse it. */
    if (tls_certs_list(certdir, &v, &n, NULL, 0) == 0) {
        if ((ci = find_info(v, n, tp)) != NULL && ci->status != TLS_CERT_VALID)
            cmdlet_warning(ctx,
                           "certificate %s is enabled for SMTP, but its Status is %s%s%s: "
                           "peers that validate certificates will refuse it",
                           tp, tls_cert_status_name(ci->status), ci->status_detail ? ": " : "",
                           ci->status_detail ? ci->status_detail : "");
        tls_certs_list_free(v, n);
    }
    free(certdir);
    reload_service(ctx);
    return CMDLET_OK;
}

/*
 * Remove-ExchangeCertificate
 */

int
cmdlet_remove_exchange_certificate(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    static const char *const ignored[] = {"Server", NULL};
    char tp[TLS_THUMBPRINT_SIZE], msg[MSG_MAX], *certdir;
    struct config *cfg = NULL;
    struct tls_cert_info *v = NULL;
    const struct tls_cert_info *ci;
    size_t n = 0;
    int have, rc;

    if ((have = take_thumbprint(ctx, a, tp)) < 0)
        return -have;
    if (have == 0)
        return usage(ctx, "Thumbprint: a value is required");
    take_ignored(a, ignored);
    if ((rc = check_unused(ctx, a)) != CMDLET_OK)
        return rc;
    certdir = cert_dir(ctx);
    /* Exchange asks before removing the certificate the server's own name
     * depends on; cmdlets here never prompt, so they say it instead. */
    cfg = cmdlet_config_read(ctx);
    if (cfg != NULL && cfg->transport.fqdn != NULL &&
        tls_certs_list(certdir, &v, &n, NULL, 0) == 0 && (ci = find_info(v, n, tp)) != NULL &&
        ci->status != TLS_CERT_PENDING_REQUEST && ci->has_private_key &&
        tls_cert_info_names(ci, cfg->transport.fqdn)) {
        size_t others = 0;
        for (size_t i = 0; i < n; i++)
            others += &v[i] != ci && v[i].status != TLS_CERT_PENDING_REQUEST &&
                      v[i].status != TLS_CERT_DATE_INVALID && v[i].has_private_key &&
                      tls_cert_info_names(&v[i], cfg->transport.fqdn);
        if (others == 0)
            cmdlet_warning(ctx,
                           "certificate %s is the only one for %s: the running service keeps "
                           "it until it restarts, but then connectors using that name offer no "
                           "STARTTLS until another is created (New-ExchangeCertificate) or "
                           "imported",
                           tp, cfg->transport.fqdn);
    }
    tls_certs_list_free(v, n);
    config_unref(cfg);
    if (tls_certs_remove(certdir, tp, msg, sizeof(msg)) != 0) {
        cmdlet_error(ctx, "%s", msg);
        free(certdir);
        return CMDLET_ERROR;
    }
    free(certdir);
    reload_service(ctx);
    return CMDLET_OK;
}

/*
 * Import-Certificate (Windows' PKI module)
 */

/* "Cert:\LocalMachine\Root" (either slash, any case). */
static int
parse_location(struct cmdlet_ctx *ctx, const char *loc, enum tls_trust_location *where)
{
    char buf[128], *p = buf, *store;

    if (strlcpy_p(buf, loc, sizeof(buf)) >= sizeof(buf))
        goto bad;
    for (char *c = buf; *c != '\0'; c++)
        if (*c == '/')
            *c = '\\';
    if (str_iprefix(p, "Cert:"))
        p += 5;
    while (*p == '\\')
        p++;
    if (str_iprefix(p, "CurrentUser\\")) {
        cmdlet_error(ctx, "CertStoreLocation: postern has only the LocalMachine stores");
        return CMDLET_USAGE;
    }
    if (!str_iprefix(p, "LocalMachine\\"))
        goto bad;
    store = p + strlen("LocalMachine\\");
    if (str_ieq(store, "Root") || str_ieq(store, "AuthRoot")) {
        *where = TLS_TRUST_ROOT;
        return CMDLET_OK;
    }
    if (str_ieq(store, "CA")) {
        *where = TLS_TRUST_CA;
        return CMDLET_OK;
    }
    if (str_ieq(store, "My")) {
        cmdlet_error(ctx, "CertStoreLocation: certificates for SMTP go in with "
                          "Import-ExchangeCertificate -FileName PATH");
        return CMDLET_USAGE;
    }
bad:
    cmdlet_error(ctx,
                 "CertStoreLocation: \"%s\" is not Cert:\\LocalMachine\\Root or "
                 "Cert:\\LocalMachine\\CA",
                 loc);
    return CMDLET_USAGE;
}

int
cmdlet_import_certificate(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    enum tls_trust_location where;
    const char *file = NULL, *loc = NULL;
    char msg[MSG_MAX], warn[WARN_MAX] = "", *certdir;
    struct tls_trust_item *items;
    size_t n;
    int rc;

    if (cmdlet_args_string(a, "FilePath", &file, msg, sizeof(msg)) < 0 ||
        cmdlet_args_string(a, "CertStoreLocation", &loc, msg, sizeof(msg)) < 0)
        return usage(ctx, msg);
    if (file == NULL && (file = cmdlet_args_positional(a)) == NULL)
        return usage(ctx, "FilePath: a value is required");
    if (loc == NULL)
        return usage(ctx, "CertStoreLocation: a value is required (Cert:\\LocalMachine\\Root)");
    if ((rc = parse_location(ctx, loc, &where)) != CMDLET_OK)
        return rc;
    if ((rc = check_unused(ctx, a)) != CMDLET_OK)
        return rc;
    certdir = cert_dir(ctx);
    rc = tls_certs_import_trust(certdir, file, where, &items, &n, warn, sizeof(warn), msg,
                                sizeof(msg));
    free(certdir);
    print_warnings(ctx, warn);
    if (rc != 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_ERROR;
    }
    /* PowerShell's table of the certificates it added. */
    fprintf(ctx->out, "%-41s %s\n%-41s %s\n", "Thumbprint", "Subject", "----------", "-------");
    for (size_t i = 0; i < n; i++) {
        if (items[i].crl)
            fprintf(ctx->out, "%-41s CRL of %s%s\n", items[i].id, items[i].subject,
                    items[i].existed ? " (already installed)" : "");
        else
            fprintf(ctx->out, "%-41s %s%s\n", items[i].id, items[i].subject,
                    items[i].existed ? " (already trusted)" : "");
    }
    tls_trust_items_free(items, n);
    reload_service(ctx);
    return CMDLET_OK;
}
