/*
 * msgtrack.h — the message tracking log (docs/exchange-model.md): CSV files
 * DIR/logs/MessageTracking/MSGTRKyyyymmdd-1.log (UTC days) with #Software,
 * #Version, #Log-type (Message Tracking Log), #Date and #Fields headers and
 * Exchange's fields: date-time, client-ip, client-hostname, server-ip,
 * server-hostname, source-context, connector-id, source, event-id,
 * internal-message-id, message-id, recipient-address, recipient-status,
 * total-bytes, recipient-count, related-recipient-address, reference,
 * message-subject, sender-address, return-path, message-info.
 *
 * Events: RECEIVE, SEND, DELIVER, DEFER, FAIL, DSN (and later others).
 * Must never: block for long: lines are buffered and flushed by
 * msgtrack_flush (called on a timer) or when a day changes.
 */
#ifndef POSTERN_MSGTRACK_H
#define POSTERN_MSGTRACK_H

#include <stddef.h>
#include <stdint.h>

#include "logs/csvlog.h"

struct msgtrack;

struct msgtrack_event {
    const char *client_ip, *client_hostname, *server_ip, *server_hostname;
    const char *source_context; /* e.g. the remote reply or an error */
    const char *connector_id;
    const char *source;              /* SMTP, STOREDRIVER, DSN, ROUTING, QUEUE, ADMIN */
    const char *event_id;            /* RECEIVE, SEND, DELIVER, DEFER, FAIL, DSN */
    const char *internal_message_id; /* the queue ID */
    const char *message_id;          /* Message-ID header */
    const char *const *recipients;   /* recipient-address, joined with ';' */
    size_t nrecipients;
    const char *const *recipient_status; /* one per recipient, or NULL */
    uint64_t total_bytes;
    const char *related_recipient_address;
    const char *reference; /* for DSN: the original message's Message-ID */
    const char *subject;
    const char *sender;      /* sender-address (From header or MAIL FROM) */
    const char *return_path; /* MAIL FROM */
    const char *message_info;
};

struct msgtrack *msgtrack_open(const char *logs_dir);
/* The same with the day's files from open_day (logs/csvlog.h). */
struct msgtrack *msgtrack_open_remote(csvlog_opener_fn *open_day, void *arg);
/* What the log is (its directory, prefix and header). */
const struct csvlog_spec *msgtrack_spec(void);
void msgtrack_close(struct msgtrack *mt);
void msgtrack_flush(struct msgtrack *mt);
void msgtrack_write(struct msgtrack *mt, const struct msgtrack_event *ev);

#endif
