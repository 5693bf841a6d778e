/*
 * csvlog.h — a daily CSV log file in Exchange's layout, what the protocol
 * log (logs/protolog.c) and the message tracking log (logs/msgtrack.c)
 * are made of: LOGS/<subdir>/<prefix>yyyymmdd-1.log, one file per UTC day,
 * which begins with the header lines
 *
 *   #Software: postern
 *   #Version: 0.1.0
 *   #Log-type: <log_type>
 *   #Date: <the date-time of its first row>
 *   #Fields: <fields>
 *
 * Every row starts with its date-time field (yyyy-mm-ddThh:mm:ss.mmmZ,
 * UTC); the user adds the other fields in the order of <fields>. Rows are
 * buffered by stdio and reach the file at csvlog_flush (the service's
 * timer), at a day change and at close, so logging costs no syscall per row.
 *
 * Several threads may log to one file: a row is written under the log's
 * mutex, from csvlog_row_begin to csvlog_row_end, and never interleaves
 * with another.
 * Must never: block for long (no fsync, no flush per row), or let a field
 * break the CSV (csvlog_field quotes commas and quotes, and drops CR and
 * LF so that a row stays one line).
 */
#ifndef POSTERN_CSVLOG_H
#define POSTERN_CSVLOG_H

#include "lib/log.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct csvlog;

/* What a log is. The strings must outlive the log (string literals). */
struct csvlog_spec {
    const char *what;     /* in warnings: "protocol log" */
    const char *subdir;   /* below the logs directory: "ProtocolLog/SmtpReceive" */
    const char *prefix;   /* of the file names: "RECV" */
    const char *log_type; /* #Log-type: "SMTP Receive Protocol Log" */
    const char *fields;   /* #Fields: "date-time,connector-id,..." */
    mode_t mode;          /* of a new file, before the umask */
    size_t bufsize;       /* of the stdio buffer; 0: stdio's own */
};

/* Creates logs_dir and the directories of spec->subdir in it (0750) where
 * missing (a warning when the last cannot be made); files are opened when
 * the first row of a day is written. Never NULL. */
struct csvlog *csvlog_open(const char *logs_dir, const struct csvlog_spec *spec);
/* Writes out what is buffered and frees; NULL is ignored. */
void csvlog_close(struct csvlog *log);
/* Writes out what is buffered; NULL is ignored. */
void csvlog_flush(struct csvlog *log);

/* Starts a row with its date-time field: takes the mutex, opens the day's
 * file when the day changed (a new file gets the header lines). False,
 * with the mutex released, when log is NULL or the file cannot be opened
 * (warned about): write nothing then. After true: the fields, then
 * csvlog_row_end. */
bool csvlog_row_begin(struct csvlog *log);
/* The next field (RFC 4180): quoted when it holds a comma, quote or line
 * break; line breaks are dropped. NULL is an empty field. */
void csvlog_field(struct csvlog *log, const char *s);
/* items[0..n) joined with ';' as the next field, as csvlog_field (NULL
 * items count as empty; no items: an empty field). */
void csvlog_field_joined(struct csvlog *log, const char *const *items, size_t n);
/* The next field as printf formats it, not quoted: for numbers and values
 * that cannot hold a comma, quote or line break. */
void csvlog_fieldf(struct csvlog *log, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Ends the row and releases the mutex. */
void csvlog_row_end(struct csvlog *log);

#endif
