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
#include "queue/queue_show.h"
#include "smtp/header_read.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SUBMISSION_QUEUE "Submission"

struct message_listing {
    struct cmdlet_ctx *ctx;
    char server[64];
    uint64_t expiration_timeout; /* TransportConfig MessageExpirationTimeout */
    const char *only_id;         /* Get-Message -Identity */
    bool recipients;             /* -IncludeRecipientInfo */
    size_t count;
    size_t shown;
};

/* The server part of identities and the expiration timeout, from the
 * instance's configuration. */
static void
instance_settings(struct cmdlet_ctx *ctx, char *server, size_t len, uint64_t *expiration)
{
    struct config *cfg = cmdlet_config_read(ctx);

    queue_show_server(cfg ? cfg->transport.fqdn : NULL, server, len);
    if (expiration != NULL)
        *expiration = cfg ? cfg->transport.message_expiration_timeout : 0;
    config_unref(cfg);
}

static void
list_message(const char *id, const struct envelope *env, struct queue_reader *r, void *arg)
{
    struct message_listing *l = arg;
    struct message_view view = {
        .server = l->server,
        .queue = SUBMISSION_QUEUE,
        .id = id,
        .env = env,
        .status = env && env->suspended ? "Suspended" : "Ready",
        .expiration_timeout = l->expiration_timeout,
        .recipient_info = l->recipients,
    };
    char *headers = NULL, *subject = NULL, *msgid = NULL;
    size_t hlen = 0;

    l->count++;
    if (l->only_id && strcasecmp(l->only_id, id) != 0)
        return;
    if (l->shown++)
        fputc('\n', l->ctx->out);
    /* only the header section is read, for Subject and Message-ID */
    if (env != NULL && (headers = queue_reader_header_section(r, id, &hlen)) != NULL) {
        view.subject = subject = header_field_get(headers, hlen, "Subject");
        view.message_id = msgid = header_field_get(headers, hlen, "Message-ID");
    }
    message_show(l->ctx->out, &view);
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
    instance_settings(ctx, l.server, sizeof(l.server), &l.expiration_timeout);
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
count_message(const char *id, const struct envelope *env, struct queue_reader *r, void *arg)
{
    (*(size_t *)arg)++;
}

int
cmdlet_get_queue(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    const char *id = NULL;
    char msg[512], server[64], *dir;
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
    instance_settings(ctx, server, sizeof(server), NULL);
    if (id && strcasecmp(cmdlet_identity_strip(id), SUBMISSION_QUEUE) != 0) {
        cmdlet_error(ctx, "queue \"%s\" does not exist", id);
        return CMDLET_ERROR;
    }
    dir = queue_dir(ctx);
    queue_scan(dir, count_message, &n);
    free(dir);
    queue_show(ctx->out, &(const struct queue_view){.server = server,
                                                    .next_hop = SUBMISSION_QUEUE,
                                                    .delivery_type = "Undefined",
                                                    .status = "Ready",
                                                    .count = n});
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
