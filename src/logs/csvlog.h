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
 * buffered in memory and reach the file at csvlog_flush (the service's
 * timer), when the buffer fills, at a day change and at close, so logging
 * costs no syscall per row.
 *
 * Two processes append to the same files (the smtp process logs sessions
 * and receptions, the queue process deliveries), each with O_APPEND: a
 * write() only ever carries whole rows, so rows of the two never mix, and
 * a day's file appears with its header lines already in it (made as a
 * temporary file, then linked into place: the loser of a race appends to
 * the winner's file). A process that may not open files (the smtp
 * process) gets the day's descriptor from an opener (csvlog_open_remote).
 *
 * Several threads may log to one file: a row is written under the log's
 * mutex, from csvlog_row_begin to csvlog_row_end, and never interleaves
 * with another.
 * Must never: block for long (no fsync, no flush per row), split a row
 * across two write()s, or let a field break the CSV (csvlog_field quotes
 * commas and quotes, and drops CR and LF so that a row stays one line).
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
    size_t bufsize;       /* rows buffered before a write; 0: CSVLOG_BUFSIZE */
};

#define CSVLOG_BUFSIZE 4096

/* The descriptor of the day's file (day: "yyyymmdd", UTC), open for
 * appending and holding its header lines (stamp: the #Date of a new file),
 * or -1 with errno. */
typedef int csvlog_opener_fn(void *arg, const struct csvlog_spec *spec, const char *day,
                             const char *stamp);

/* Creates logs_dir and the directories of spec->subdir in it (0750) where
 * missing (a warning when the last cannot be made); files are opened when
 * the first row of a day is written. Never NULL. */
struct csvlog *csvlog_open(const char *logs_dir, const struct csvlog_spec *spec);
/* The same, but the day's files come from open_day (called under the
 * log's mutex, from whatever thread writes the row): for a process that
 * may not open them itself. After a failed open, rows are dropped for a
 * few seconds before the next try. Never NULL. */
struct csvlog *csvlog_open_remote(const struct csvlog_spec *spec, csvlog_opener_fn *open_day,
                                  void *arg);
/* Writes out what is buffered and frees; NULL is ignored. */
void csvlog_close(struct csvlog *log);
/* Writes out what is buffered; NULL is ignored. */
void csvlog_flush(struct csvlog *log);

/* Creates logs_dir and the directories of spec->subdir in it (0750). */
void csvlog_make_dirs(const char *logs_dir, const struct csvlog_spec *spec);
/* The local opener: LOGS/<subdir>/<prefix><day>-1.log opened for
 * appending, made with its header lines first when it does not exist.
 * day must be 8 digits (the caller checks what it did not make itself). */
int csvlog_open_day(const char *logs_dir, const struct csvlog_spec *spec, const char *day,
                    const char *stamp);

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
