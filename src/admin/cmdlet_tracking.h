/*
 * cmdlet_tracking.h — the pure parts of Get-MessageTrackingLog
 * (cmdlet_tracking.c), declared for the unit tests: reading one line of
 * the message tracking log's CSV, the date-times of its rows and of -Start
 * and -End, and which file names are the log's daily files.
 * Must never: print, or touch a file.
 */
#ifndef POSTERN_CMDLET_TRACKING_H
#define POSTERN_CMDLET_TRACKING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Splits one CSV line (RFC 4180 as logs/csvlog.c writes it; no line end)
 * into its fields, in place: quoted fields lose their quotes and "" becomes
 * ". Returns how many fields (fields[0..n)), or -1 when the line is
 * malformed (an unterminated quoted field, text after a closing quote, a
 * quote inside an unquoted field) or has more than max fields. */
int tracking_csv_split(char *line, char **fields, size_t max);

/* An ISO 8601 date-time as milliseconds since the epoch (UTC):
 * "2026-12-06", "2026-12-06 10:00", "2026-12-06T10:00:00", with optional
 * fractions of a second and a zone "Z", "+hh:mm", "+hhmm" or "+hh" (none:
 * UTC, the log's time). 0, or -1 when text is not such a date-time. */
int tracking_time_parse(const char *text, int64_t *ms);

/* Is name one of the log's daily files, MSGTRKyyyymmdd-N.log? Then *day is
 * the start of its UTC day (ms since the epoch) and *seq its N. */
bool tracking_file_name(const char *name, int64_t *day, unsigned long *seq);

#endif
