/*
 * protolog.h — the SMTP protocol log, in Exchange's layout: CSV files
 * DIR/logs/ProtocolLog/SmtpReceive/RECVyyyymmdd-1.log (UTC days) with
 * #Software, #Version, #Log-type, #Date and #Fields header lines and the
 * fields date-time, connector-id, session-id, sequence-number,
 * local-endpoint, remote-endpoint, event, data, context.
 * Events: '+' connect, '-' disconnect, '>' sent, '<' received, '*' info.
 *
 * Must never: be given a password or AUTH response (callers redact).
 */
#ifndef POSTERN_PROTOLOG_H
#define POSTERN_PROTOLOG_H

#include <stdint.h>

#include "logs/csvlog.h"

struct protolog;

/* kind: "SmtpReceive" (prefix RECV) or "SmtpSend" (prefix SEND). */
struct protolog *protolog_open(const char *logs_dir, const char *kind);
/* The same with the day's files from open_day (logs/csvlog.h). */
struct protolog *protolog_open_remote(const char *kind, csvlog_opener_fn *open_day, void *arg);
/* What the log of that kind is (its directory, prefix and header). */
const struct csvlog_spec *protolog_spec(const char *kind);
void protolog_close(struct protolog *pl);
void protolog_flush(struct protolog *pl);

void protolog_write(struct protolog *pl, const char *connector, uint64_t session_id,
                    unsigned sequence, const char *local, const char *remote, char event,
                    const char *data, const char *context);

#endif
