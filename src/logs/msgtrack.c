/*
 * msgtrack.c — see msgtrack.h. The file machinery is logs/csvlog.c's, as
 * for the protocol log: one CSV file per UTC day, lines buffered in memory
 * and written out by msgtrack_flush on the service's timer, at a day change
 * and at close (or when the buffer fills), so tracking costs no syscall
 * per event. This file lays out
 * the rows.
 *
 * Several threads (receive, delivery, the queue) report events; csvlog
 * writes each row under its mutex, so rows never interleave.
 * Must never: block for long (no fsync, no flush per line), or let a field
 * break the CSV (CR and LF are dropped, commas and quotes are quoted).
 */
#include "logs/msgtrack.h"
#include "logs/csvlog.h"
#include "lib/util.h"

#include <inttypes.h>
#include <stdlib.h>

static const struct csvlog_spec msgtrack_spec_data = {
    .what = "message tracking log",
    .subdir = "MessageTracking",
    .prefix = "MSGTRK",
    .log_type = "Message Tracking Log",
    .fields = "date-time,client-ip,client-hostname,server-ip,server-hostname,source-context,"
              "connector-id,source,event-id,internal-message-id,message-id,recipient-address,"
              "recipient-status,total-bytes,recipient-count,related-recipient-address,reference,"
              "message-subject,sender-address,return-path,message-info",
    /* 0640: the log names senders and recipients, not for every local user */
    .mode = 0640,
    /* Large enough that a timer interval of busy traffic rarely fills it. */
    .bufsize = 64 * 1024,
};

const struct csvlog_spec *
msgtrack_spec(void)
{
    return &msgtrack_spec_data;
}

struct msgtrack {
    struct csvlog *log;
};

struct msgtrack *
msgtrack_open(const char *logs_dir)
{
    struct msgtrack *mt = xcalloc(1, sizeof(*mt));

    mt->log = csvlog_open(logs_dir, &msgtrack_spec_data);
    return mt;
}

struct msgtrack *
msgtrack_open_remote(csvlog_opener_fn *open_day, void *arg)
{
    struct msgtrack *mt = xcalloc(1, sizeof(*mt));

    mt->log = csvlog_open_remote(&msgtrack_spec_data, open_day, arg);
    return mt;
}

void
msgtrack_close(struct msgtrack *mt)
{
    if (mt == NULL)
        return;
    csvlog_close(mt->log);
    free(mt);
}

void
msgtrack_flush(struct msgtrack *mt)
{
    if (mt != NULL)
        csvlog_flush(mt->log);
}

void
msgtrack_write(struct msgtrack *mt, const struct msgtrack_event *ev)
{
    struct csvlog *log;

    if (mt == NULL || ev == NULL || !csvlog_row_begin(mt->log))
        return;
    log = mt->log;
    /* the field order is Exchange's (see the fields above) */
    csvlog_field(log, ev->client_ip);
    csvlog_field(log, ev->client_hostname);
    csvlog_field(log, ev->server_ip);
    csvlog_field(log, ev->server_hostname);
    csvlog_field(log, ev->source_context);
    csvlog_field(log, ev->connector_id);
    csvlog_field(log, ev->source);
    csvlog_field(log, ev->event_id);
    csvlog_field(log, ev->internal_message_id);
    csvlog_field(log, ev->message_id);
    csvlog_field_joined(log, ev->recipients, ev->nrecipients);
    csvlog_field_joined(log, ev->recipient_status, ev->nrecipients);
    csvlog_fieldf(log, "%" PRIu64, ev->total_bytes);
    csvlog_fieldf(log, "%zu", ev->nrecipients);
    csvlog_field(log, ev->related_recipient_address);
    csvlog_field(log, ev->reference);
    csvlog_field(log, ev->subject);
    csvlog_field(log, ev->sender);
    csvlog_field(log, ev->return_path);
    csvlog_field(log, ev->message_info);
    csvlog_row_end(log);
}
