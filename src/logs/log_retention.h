/*
 * log_retention.h — deletes the daily protocol and message-tracking log
 * files that are older than their MaxAge (Set-TransportConfig
 * -MessageTrackingLogMaxAge, -ReceiveProtocolLogMaxAge,
 * -SendProtocolLogMaxAge), as Exchange does, so that no logrotate is
 * needed for them.
 *
 * A file's age is that of the day its name carries (<prefix>yyyymmdd-N.log:
 * it holds rows until the end of that UTC day), not its modification time,
 * which anyone with write access could refresh.
 * Must never: delete anything but a regular file of exactly that name form
 * in the log's own directory, or follow a symbolic link there.
 */
#ifndef POSTERN_LOG_RETENTION_H
#define POSTERN_LOG_RETENTION_H

#include "logs/csvlog.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Deletes the files of spec in logs_dir whose day ended more than max_age
 * seconds before now; max_age 0 keeps every file. Returns how many went. */
size_t log_retention_sweep(const char *logs_dir, const struct csvlog_spec *spec, uint64_t max_age,
                           time_t now);

#endif
