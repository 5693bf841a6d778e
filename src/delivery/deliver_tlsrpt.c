/*
 * deliver_tlsrpt.c — the daily TLS reports (RFC 8460): for each recipient
 * domain that asked for them (its "_smtp._tls" record, as the connections
 * saw it), the day's counts (tlsrpt_store.h) as the RFC's JSON, gzipped,
 * attached to a multipart/report message (report-type="tlsrpt") and queued
 * like any other message to each mailto: address of the request, and
 * handed to the outbox (tlsrpt_outbox.h) for a POST to each https: URI.
 *
 * Reports go out once a day, for the days before today that were not sent
 * yet (a marker file, <yyyymmdd>.sent, says so), and on Send-TlsReport.
 * Their Submitter is this server's name (RFC 8460 5.3: a domain), the
 * organization name goes in the report. They carry "TLS-Required: No" (a
 * report about failing TLS must not be
 * held by the same failure) and come from TlsReportingContact, so that
 * DKIM signs them where that domain has a key (RFC 8460 3 asks for it).
 * Must never: send a report to an address or URI the domain did not
 * publish, or mark a day sent before its reports are queued.
 */
#include "delivery/deliver_int.h"
#include "delivery/tlsrpt_outbox.h"
#include "delivery/tlsrpt_store.h"
#include "net/dns_name.h"
#include "lib/log.h"
#include "lib/util.h"
#include "queue/envelope.h"
#include "queue/queue.h"
#include "routing/tlsrpt_uri.h"
#include "smtp/dkim.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* How many days back the daily run looks for unsent days. */
#define TLSRPT_CATCH_UP_DAYS 3

/* 00:00:00 UTC of yyyymmdd. */
static time_t
day_start(const char *date)
{
    struct tm tm = {0};

    tm.tm_year = (date[0] - '0') * 1000 + (date[1] - '0') * 100 + (date[2] - '0') * 10 +
                 (date[3] - '0') - 1900;
    tm.tm_mon = (date[4] - '0') * 10 + (date[5] - '0') - 1;
    tm.tm_mday = (date[6] - '0') * 10 + (date[7] - '0');
    return timegm(&tm);
}

static void
iso(time_t t, char *out, size_t len)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, len, "1970-01-01T00:00:00Z");
}

static json_t *
string_array(char **v, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* RFC 8460 4.4: the report of one domain's day. */
static char *
report_json(const struct tlsrpt_day *day, const char *domain, const char *org, const char *contact,
            const char *report_id)
{
    time_t start = day_start(day->date);
    char from[32], to[32], *text;
    json_t *policies = json_array(), *r;

    iso(start, from, sizeof(from));
    iso(start + 86399, to, sizeof(to));
    for (size_t i = 0; i < day->npolicies; i++) {
        const struct tlsrpt_policy *p = &day->policies[i];
        json_t *policy, *details;

        if (strcmp(p->domain, domain) != 0)
            continue;
        details = json_array();
        policy = json_pack("{s:s, s:o, s:s}", "policy-type", p->type, "policy-string",
                           string_array(p->policy, p->npolicy), "policy-domain", domain);
        if (p->nmx > 0)
            json_object_set_new(policy, "mx-host", string_array(p->mx, p->nmx));
        for (size_t j = 0; j < p->nfailures; j++) {
            const struct tlsrpt_failure *f = &p->failures[j];
            json_t *d = json_pack("{s:s, s:i}", "result-type", f->result, "failed-session-count",
                                  (int)f->count);
            if (f->mx_host[0])
                json_object_set_new(d, "receiving-mx-hostname", json_string(f->mx_host));
            if (f->ip[0])
                json_object_set_new(d, "receiving-ip", json_string(f->ip));
            json_array_append_new(details, d);
        }
        json_array_append_new(policies, json_pack("{s:o, s:{s:i, s:i}, s:o}", "policy", policy,
                                                  "summary", "total-successful-session-count",
                                                  (int)p->successful, "total-failure-session-count",
                                                  (int)p->failed, "failure-details", details));
    }
    r = json_pack("{s:s, s:{s:s, s:s}, s:s, s:s, s:o}", "organization-name", org, "date-range",
                  "start-datetime", from, "end-datetime", to, "contact-info", contact, "report-id",
                  report_id, "policies", policies);
    text = r ? json_dumps(r, JSON_INDENT(1) | JSON_ENSURE_ASCII) : NULL;
    json_decref(r);
    return text;
}

/* The gzip form (RFC 1952) of text; NULL on failure. */
static unsigned char *
gzip_text(const char *text, size_t *outlen)
{
    size_t len = strlen(text);
    uLong cap = compressBound((uLong)len) + 64;
    unsigned char *out = xmalloc(cap);
    z_stream z = {0};

    /* windowBits 15 + 16: a gzip header and trailer around the deflate */
    if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(out);
        return NULL;
    }
    z.next_in = (Bytef *)text;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
        deflateEnd(&z);
        free(out);
        return NULL;
    }
    *outlen = z.total_out;
    deflateEnd(&z);
    return out;
}

/* Base64 in lines of 76 (RFC 2045 6.8). */
static char *
base64_lines(const unsigned char *data, size_t len)
{
    char *flat = dkim_base64(data, len), *out;
    size_t n = strlen(flat), o = 0;

    out = xmalloc(n + 2 * (n / 76 + 1) + 1);
    for (size_t i = 0; i < n; i += 76) {
        size_t k = n - i < 76 ? n - i : 76;
        memcpy(out + o, flat + i, k);
        o += k;
        out[o++] = '\r';
        out[o++] = '\n';
    }
    out[o] = '\0';
    free(flat);
    return out;
}

static void
report_committed(void *arg, int error)
{
    char *what = arg;

    if (error)
        log_warnx("queue: cannot queue the TLS report %s: %s", what, strerror(error));
    free(what);
}

struct report_ids {
    const char *org, *contact, *fqdn;
};

/* Queues one report to one address. 0, or -1 (logged). */
static int
queue_report(struct deliver *d, const struct report_ids *ids, const char *domain, const char *date,
             const char *report_id, const char *to, const char *json)
{
    time_t start = day_start(date), now = time(NULL);
    char filename[600], datehdr[64], err[256];
    unsigned char *gz;
    size_t gzlen, len;
    char *b64, *text;
    struct queue_msg *qm;
    struct envelope *env;
    struct tm tm;

    if ((gz = gzip_text(json, &gzlen)) == NULL)
        return -1;
    b64 = base64_lines(gz, gzlen);
    free(gz);
    /* RFC 8460 5.1: sender!policy-domain!begin!end!id.json.gz */
    snprintf(filename, sizeof(filename), "%s!%s!%lld!%lld!%s.json.gz", ids->fqdn, domain,
             (long long)start, (long long)start + 86399, date);
    gmtime_r(&now, &tm);
    strftime(datehdr, sizeof(datehdr), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    text = xasprintf(
        "From: %s\r\nTo: <%s>\r\nDate: %s\r\nMessage-ID: <%s@%s>\r\n"
        "Subject: Report Domain: %s Submitter: %s Report-ID: <%s>\r\n"
        "TLS-Report-Domain: %s\r\nTLS-Report-Submitter: %s\r\nTLS-Required: No\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"tlsrpt-%s\"\r\n"
        "\r\n"
        "--tlsrpt-%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "This is an aggregate TLS report (RFC 8460) from %s about the mail it sent to %s on "
        "%.4s-%.2s-%.2s (UTC).\r\n\r\n"
        "--tlsrpt-%s\r\nContent-Type: application/tlsrpt+gzip\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment; filename=\"%s\"\r\n\r\n%s\r\n--tlsrpt-%s--\r\n",
        ids->contact, to, datehdr, report_id, ids->fqdn, domain, ids->fqdn, report_id, domain,
        ids->fqdn, date, date, ids->org, domain, date, date + 4, date + 6, date, filename, b64,
        date);
    free(b64);
    if ((qm = queue_msg_begin(d->env.queue, err, sizeof(err))) == NULL) {
        log_warnx("queue: cannot queue the TLS report for %s: %s", domain, err);
        free(text);
        return -1;
    }
    len = strlen(text);
    queue_msg_write(qm, text, len);
    free(text);
    env = envelope_new();
    env->received = now;
    env->from = xstrdup(ids->contact);
    env->connector = xstrdup("TLSRPT");
    env->client_ip = xstrdup("127.0.0.1");
    env->client_helo = xstrdup(ids->fqdn);
    env->tls_required_no = true;
    envelope_add_rcpt(env, to, 0, NULL);
    log_info("queue: TLS report about %s for %.4s-%.2s-%.2s to <%s>, queued as %s", domain, date,
             date + 4, date + 6, to, queue_msg_id(qm));
    queue_msg_commit(qm, env, report_committed, xasprintf("for %s", domain));
    return 0;
}

/* Hands the report to the outbox for a POST to uri (RFC 8460 5.2), the
 * n-th reporting URI of the domain. 0, or -1 (said to out and the log). */
static int
post_report(struct deliver *d, const char *domain, const char *report_id, unsigned n,
            const char *uri, const char *json, FILE *out)
{
    unsigned char *gz;
    size_t gzlen;
    char err[600];
    int rc;

    if (d->env.tls_posts == NULL) {
        errorf(err, sizeof(err), "HTTPS reporting is not available here");
        rc = -1;
    } else if ((gz = gzip_text(json, &gzlen)) == NULL) {
        errorf(err, sizeof(err), "cannot compress the report");
        rc = -1;
    } else {
        rc = tlsrpt_outbox_add(d->env.tls_posts, report_id, n, uri, TLSRPT_TYPE_GZIP, gz, gzlen,
                               err, sizeof(err));
        free(gz);
    }
    if (rc < 0) {
        log_warnx("queue: TLS report %s to %s: %s; skipped", report_id, uri, err);
        if (out)
            fprintf(out, "%s: %s: %s; skipped\n", domain, uri, err);
        return -1;
    }
    if (out)
        fprintf(out, "%s: report %s queued for POST to %s\n", domain, report_id, uri);
    return 0;
}

/* The most reporting URIs of one domain that get a report. */
#define TLSRPT_URIS_MAX 10

/* The address of a mailto: URI's path (RFC 6068): percent-decoded, without
 * "?" header fields; a plain local@domain with a host name (no address
 * literal: a report goes where the domain's DNS says, never to a number
 * the record names). */
static bool
mailto_address(const char *path, char *out, size_t outlen)
{
    size_t o = 0, n = strcspn(path, "?");
    const char *at;

    for (size_t i = 0; i < n; i++) {
        char c = path[i];

        if (c == '%') {
            unsigned v;
            if (i + 2 >= n || !isxdigit((unsigned char)path[i + 1]) ||
                !isxdigit((unsigned char)path[i + 2]) || sscanf(path + i + 1, "%2x", &v) != 1)
                return false;
            c = (char)v;
            i += 2;
        }
        if ((unsigned char)c <= ' ' || c == 0x7f || strchr("<>\"[]\\,;", c) != NULL ||
            o + 1 >= outlen)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    at = strchr(out, '@');
    return at != NULL && at != out && strchr(at + 1, '@') == NULL && at - out <= 64 &&
           dns_name_valid(at + 1, false);
}

/* Sends domain's report of day to every address and URI it published. */
static int
send_domain(struct deliver *d, const struct report_ids *ids, const struct tlsrpt_day *day,
            const char *domain, FILE *out)
{
    const char *rua = tlsrpt_day_rua(day, domain);
    char report_id[400], *json, *list, *save = NULL;
    unsigned n = 0;
    int sent = 0;

    if (rua == NULL) {
        if (out)
            fprintf(out, "%s: no TLS reporting address published; no report\n", domain);
        return 0;
    }
    snprintf(report_id, sizeof(report_id), "%s.%s.%s", day->date, domain, ids->fqdn);
    if ((json = report_json(day, domain, ids->org, ids->contact, report_id)) == NULL)
        return 0;
    list = xstrdup(rua);
    for (char *uri = strtok_r(list, ",", &save); uri; uri = strtok_r(NULL, ",", &save), n++) {
        char to[320];

        if (n >= TLSRPT_URIS_MAX) {
            /* a domain asks for a report, not for an amplifier */
            if (out)
                fprintf(out, "%s: more than %d reporting URIs; the rest skipped\n", domain,
                        TLSRPT_URIS_MAX);
            break;
        }
        if (strncasecmp(uri, "mailto:", 7) != 0) {
            /* RFC 8460 3: the only other scheme is https:, POSTed */
            if (post_report(d, domain, report_id, n, uri, json, out) == 0)
                sent++;
            continue;
        }
        if (!mailto_address(uri + 7, to, sizeof(to))) {
            if (out)
                fprintf(out, "%s: %s: not a usable mail address; skipped\n", domain, uri);
            continue;
        }
        if (queue_report(d, ids, domain, day->date, report_id, to, json) == 0) {
            sent++;
            if (out)
                fprintf(out, "%s: report %s queued to %s\n", domain, report_id, to);
        }
    }
    free(list);
    free(json);
    return sent;
}

int
deliver_send_tls_reports(struct deliver *d, const char *date, const char *only_domain, FILE *out)
{
    const struct config *cfg = deliver_config(d);
    const struct transport_config *tc = &cfg->transport;
    const struct accepted_domain *def = config_default_domain(cfg);
    const char *fqdn = tc->fqdn ? tc->fqdn : "postern";
    char *contact = tc->tls_reporting_contact
                        ? xstrdup(tc->tls_reporting_contact)
                        : xasprintf("postmaster@%s", def ? def->domain_name : fqdn);
    struct report_ids ids = {tc->tls_reporting_organization ? tc->tls_reporting_organization : fqdn,
                             contact, fqdn};
    struct tlsrpt_day day;
    char err[512];
    int sent = 0;

    if (tlsrpt_day_read(d->env.instance_dir, date, &day, err, sizeof(err)) < 0) {
        if (out)
            fprintf(out, "%s\n", err);
        free(contact);
        return -1;
    }
    for (size_t i = 0; i < day.npolicies; i++) {
        const char *domain = day.policies[i].domain;
        bool seen = false;

        for (size_t j = 0; j < i; j++)
            seen = seen || strcmp(day.policies[j].domain, domain) == 0;
        if (seen || (only_domain != NULL && only_domain[0] && strcasecmp(domain, only_domain) != 0))
            continue;
        sent += send_domain(d, &ids, &day, domain, out);
    }
    if (out && day.npolicies == 0)
        fprintf(out, "no TLS results were counted on %s\n", date);
    tlsrpt_day_free(&day);
    free(contact);
    return sent;
}

/* The daily run: each of the last few days that has counts and no marker. */
void
deliver_tls_reports_due(struct deliver *d, time_t now)
{
    if (!deliver_config(d)->transport.tls_reporting_enabled)
        return;
    for (int back = TLSRPT_CATCH_UP_DAYS; back >= 1; back--) {
        char date[9], counts[4096], marker[4096];
        struct stat st;
        int fd;

        tlsrpt_date(now - back * 86400, date);
        errorf(counts, sizeof(counts), "%s/%s/%s.jsonl", d->env.instance_dir, TLSRPT_DIR, date);
        errorf(marker, sizeof(marker), "%s/%s/%s.sent", d->env.instance_dir, TLSRPT_DIR, date);
        if (stat(counts, &st) < 0 || stat(marker, &st) == 0)
            continue;
        if (deliver_send_tls_reports(d, date, NULL, NULL) < 0) {
            log_warnx("queue: the TLS reports of %s could not be made; trying again in an hour",
                      date);
            continue;
        }
        /* the marker after the reports are queued: a crash in between may
         * send a day twice, never lose one */
        if ((fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) >= 0)
            close(fd);
    }
}
