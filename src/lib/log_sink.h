/*
 * log_sink.h — where the service's log lines go besides stderr: journald's
 * native protocol (with fields a journalctl match can use) or the local
 * syslog socket (mail facility).
 *
 * The daemon chooses once at start, before its children exist; they
 * inherit the connected socket (children.c keeps log_sink_fd() open), so a
 * sandboxed process that can open no file still logs.
 * Must never: block the caller (when the journal's or syslog's queue is
 * full, the line goes to stderr instead: journald's stream, without
 * fields, or logs/postern.log), or open a file after the choice (a
 * restarted syslog is reconnected on the same descriptor).
 */
#ifndef POSTERN_LOG_SINK_H
#define POSTERN_LOG_SINK_H

#include <stddef.h>

enum log_sink_kind { LOG_SINK_STDERR, LOG_SINK_JOURNAL, LOG_SINK_SYSLOG };

/* Journald when systemd connected our stderr to the journal
 * ($JOURNAL_STREAM names stderr's device and inode) and its socket answers;
 * returns 0 then, -1 (stderr stays) otherwise. */
int log_sink_journal_if_stream(void);
/* The local syslog socket (/dev/log); 0 when connected, -1 otherwise. */
int log_sink_syslog(void);
enum log_sink_kind log_sink_kind(void);
/* The descriptor a forked child must keep open, or -1. */
int log_sink_fd(void);
/* Names the process in the lines it sends (POSTERN_PROCESS=, the syslog
 * tag "postern/ROLE"); a static string. */
void log_sink_set_process(const char *role);

/* Sends one line (without its end of line). priority is syslog's 0..7.
 * Returns -1 when the line could not be sent now (the caller writes it to
 * stderr instead). */
int log_sink_send(int priority, const char *text, size_t len);

/* The journal field (SESSION_ID, QUEUE_ID, CONNECTOR, CLIENT) a line
 * carries, taken from its key=value form: the leading 16-hex-digit session
 * id, id=, connector= (quoted or not), client=. Writes "NAME=value" lines to
 * out (at most outlen bytes, NUL-terminated) and returns their length.
 * Exposed for the unit tests. */
size_t log_sink_fields(const char *text, size_t len, char *out, size_t outlen);

#endif
