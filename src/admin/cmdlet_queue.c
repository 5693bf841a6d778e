/*
 * cmdlet_queue.c — Get-Queue and Get-Message: what the durable queue holds,
 * read straight from DIR/queue so that they answer whether or not the
 * service runs.
 *
 * While the service runs, these ask it (the control socket): it knows the
 * delivery queues per next hop, their status, last error and retry time.
 * When it is stopped they read DIR/queue directly and show every message
 * in one "Submission" queue (Exchange's queue of messages not yet routed),
 * since routing happens only in the service. The actions (Retry-Queue,
 * Suspend-/Resume-Queue, Suspend-/Resume-Message, Remove-Message) need the
 * service. Identities follow Exchange: Server\Queue for queues,
 * Server\Queue\MessageId for messages, where Server is the first label of
 * the instance's FQDN.
 * Must never: modify the queue files itself.
 */
#include "admin/cmdlet_object.h"
#include "admin/control.h"
#include "config/config_param.h"
#include "lib/util.h"
#include "queue/queue.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SUBMISSION_QUEUE "Submission"
/* Only the header section is read for Subject and Message-ID. */
#define HEADER_READ_MAX (64 * 1024)

struct message_listing {
    struct cmdlet_ctx *ctx;
    char server[64];
    const char *only_id; /* Get-Message -Identity */
    bool recipients;     /* -IncludeRecipientInfo */
    size_t count;
    size_t shown;
};

static void
server_name(struct cmdlet_ctx *ctx, char *buf, size_t len)
{
    struct config *cfg = cmdlet_config_read(ctx);
    const char *fqdn = cfg && cfg->transport.fqdn ? cfg->transport.fqdn : "postern";

    strlcpy_p(buf, fqdn, len);
    buf[strcspn(buf, ".")] = '\0';
    config_unref(cfg);
}

static void
field(FILE *out, const char *name, const char *value)
{
    fprintf(out, "%-17s : %s\n", name, value ? value : "");
}

/* The unfolded value of the first header field called name, or NULL. */
static char *
header_value(const char *headers, const char *name)
{
    size_t nlen = strlen(name);

    for (const char *line = headers; line && *line;) {
        const char *next = strstr(line, "\r\n");
        if (next == line)
            break; /* end of the header section */
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            char *v = xmalloc(HEADER_READ_MAX), *w = v;
            const char *p = line + nlen + 1;
            for (;;) {
                const char *eol = strstr(p, "\r\n");
                size_t n = eol ? (size_t)(eol - p) : strlen(p);
                memcpy(w, p, n);
                w += n;
                if (eol == NULL || (eol[2] != ' ' && eol[2] != '\t'))
                    break;
                p = eol + 2;
            }
            *w = '\0';
            char *trimmed = xstrdup(str_trim(v));
            free(v);
            return trimmed;
        }
        line = next ? next + 2 : NULL;
    }
    return NULL;
}

static char *
read_headers(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;

    if (f == NULL)
        return NULL;
    buf = xmalloc(HEADER_READ_MAX + 1);
    n = fread(buf, 1, HEADER_READ_MAX, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void
list_message(const char *id, const struct envelope *env, const char *data_path, void *arg)
{
    struct message_listing *l = arg;
    FILE *out = l->ctx->out;
    char identity[128], queue[96], size[64], date[32], *headers, *subject, *msgid;
    struct tm tm;

    l->count++;
    if (l->only_id && strcasecmp(l->only_id, id) != 0)
        return;
    if (l->shown++)
        fputc('\n', out);
    snprintf(queue, sizeof(queue), "%s\\%s", l->server, SUBMISSION_QUEUE);
    snprintf(identity, sizeof(identity), "%s\\%s", queue, id);
    field(out, "Identity", identity);
    if (env == NULL) {
        field(out, "Status", "Damaged");
        field(out, "LastError", "the envelope cannot be read");
        return;
    }
    headers = read_headers(data_path);
    subject = headers ? header_value(headers, "Subject") : NULL;
    msgid = headers ? header_value(headers, "Message-ID") : NULL;
    config_bytes_format(env->size, size, sizeof(size));
    /* a damaged envelope's time may be beyond what gmtime_r can show */
    if (gmtime_r(&env->received, &tm) == NULL ||
        strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        date[0] = '\0';
    field(out, "FromAddress", env->from[0] ? env->from : "<>");
    field(out, "Status", "Ready");
    field(out, "Size", size);
    field(out, "Subject", subject);
    field(out, "InternetMessageId", msgid);
    field(out, "DateReceived", date);
    field(out, "SourceIP", env->client_ip);
    field(out, "MessageSourceName", env->connector);
    field(out, "Queue", queue);
    field(out, "TlsProtocol", env->tls);
    fprintf(out, "%-17s : {", "Recipients");
    for (size_t i = 0; i < env->nrcpts; i++) {
        static const char *const status[] = {"Ready", "Complete", "Failed"};
        fprintf(out, "%s%s", i ? ", " : "", env->rcpts[i].address);
        if (l->recipients)
            fprintf(out, " (%s)", status[env->rcpts[i].status]);
    }
    fprintf(out, "}\n");
    free(subject);
    free(msgid);
    free(headers);
}

/* Asks the running service; returns 1 when it answered (output printed),
 * 0 when no service runs, or a cmdlet status on error. */
static int
ask_service(struct cmdlet_ctx *ctx, const char *request)
{
    char *out = NULL, err[512];
    int r = control_request(ctx->instance_dir, request, &out, err, sizeof(err));

    if (r == 1) {
        fputs(out, ctx->out);
        free(out);
        return 1;
    }
    if (r == 0)
        return 0;
    cmdlet_error(ctx, "%s", err);
    return -CMDLET_ERROR;
}

static char *
queue_dir(const struct cmdlet_ctx *ctx)
{
    return xasprintf("%s/queue", ctx->instance_dir);
}

int
cmdlet_get_message(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    struct message_listing l = {.ctx = ctx};
    const char *id = NULL, *queue = NULL;
    char msg[512], *dir;
    bool recip = false;

    if (cmdlet_args_identity(a, &id, msg, sizeof(msg)) < 0 ||
        cmdlet_args_string(a, "Queue", &queue, msg, sizeof(msg)) < 0 ||
        cmdlet_args_bool(a, "IncludeRecipientInfo", &recip, msg, sizeof(msg)) < 0 ||
        cmdlet_args_check_unused(a, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    {
        char *req =
            xasprintf("get-message\t%s\t%s\t%d", id ? id : "", queue ? queue : "", recip ? 1 : 0);
        int r = ask_service(ctx, req);
        free(req);
        if (r != 0)
            return r > 0 ? CMDLET_OK : -r;
    }
    server_name(ctx, l.server, sizeof(l.server));
    if (queue && strcasecmp(cmdlet_identity_strip(queue), SUBMISSION_QUEUE) != 0)
        return CMDLET_OK; /* no other queue exists yet: nothing in it */
    /* Server\Queue\Id, Queue\Id or Id: the message id is the last part. */
    if (id && strrchr(id, '\\'))
        id = strrchr(id, '\\') + 1;
    l.only_id = id;
    l.recipients = recip;
    dir = queue_dir(ctx);
    queue_scan(dir, list_message, &l);
    free(dir);
    if (id && l.shown == 0) {
        cmdlet_error(ctx, "message \"%s\" is not in the queue", id);
        return CMDLET_ERROR;
    }
    return CMDLET_OK;
}

static void
count_message(const char *id, const struct envelope *env, const char *data_path, void *arg)
{
    (*(size_t *)arg)++;
}

int
cmdlet_get_queue(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    const char *id = NULL;
    char msg[512], server[64], identity[128], count[32], *dir;
    size_t n = 0;

    if (cmdlet_args_identity(a, &id, msg, sizeof(msg)) < 0 ||
        cmdlet_args_check_unused(a, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    {
        char *req = xasprintf("get-queue\t%s", id ? id : "");
        int r = ask_service(ctx, req);
        free(req);
        if (r != 0)
            return r > 0 ? CMDLET_OK : -r;
    }
    server_name(ctx, server, sizeof(server));
    if (id && strcasecmp(cmdlet_identity_strip(id), SUBMISSION_QUEUE) != 0) {
        cmdlet_error(ctx, "queue \"%s\" does not exist", id);
        return CMDLET_ERROR;
    }
    dir = queue_dir(ctx);
    queue_scan(dir, count_message, &n);
    free(dir);
    snprintf(identity, sizeof(identity), "%s\\%s", server, SUBMISSION_QUEUE);
    snprintf(count, sizeof(count), "%zu", n);
    field(ctx->out, "Identity", identity);
    field(ctx->out, "DeliveryType", "Undefined");
    field(ctx->out, "Status", "Ready");
    field(ctx->out, "MessageCount", count);
    field(ctx->out, "NextHopDomain", SUBMISSION_QUEUE);
    field(ctx->out, "LastError", NULL);
    field(ctx->out, "NextRetryTime", NULL);
    return CMDLET_OK;
}

/* The actions: the service does them, so it must be running. */
static int
queue_action(struct cmdlet_ctx *ctx, struct cmdlet_args *a, bool message)
{
    const char *id = NULL;
    bool ndr = false, have_ndr = false;
    char msg[512], *req;
    int r = 0;

    if (cmdlet_args_identity(a, &id, msg, sizeof(msg)) < 0 ||
        (message && (r = cmdlet_args_bool(a, "WithNDR", &ndr, msg, sizeof(msg))) < 0) ||
        cmdlet_args_check_unused(a, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    have_ndr = message && r == 1;
    if (id == NULL) {
        cmdlet_error(ctx, "-Identity is required");
        return CMDLET_USAGE;
    }
    if (strcasecmp(ctx->name, "Remove-Message") == 0 && !have_ndr) {
        cmdlet_error(ctx, "-WithNDR is required ($true sends the senders a report)");
        return CMDLET_USAGE;
    }
    req = xasprintf("%s\t%s\t%s\t%d", message ? "message-action" : "queue-action", ctx->name, id,
                    ndr ? 1 : 0);
    r = ask_service(ctx, req);
    free(req);
    if (r == 0) {
        cmdlet_error(ctx, "the service is not running");
        return CMDLET_ERROR;
    }
    return r > 0 ? CMDLET_OK : -r;
}

int
cmdlet_queue_action(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    return queue_action(ctx, a, false);
}

int
cmdlet_message_action(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    return queue_action(ctx, a, true);
}
