/*
 * log.h — one-line diagnostics for the service and the command line.
 *
 * Each call writes one line to stderr: a UTC timestamp, the level, then the
 * message (callers put a session id and key=value fields in it: "<session>
 * smtp queued id=... connector=\"...\" client=..."; lib/log_sink.c turns
 * those into journal fields), or sends it to journald or syslog when the
 * daemon chose one (log_sink.h). log_warn()
 * appends strerror(errno). fatal()/fatalx() log and exit(1): for startup and
 * programming errors only, never for bad network input.
 * Must never: log passwords or AUTH payloads (callers redact before calling).
 */
#ifndef POSTERN_LOG_H
#define POSTERN_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

/* Warnings are always written; information (one line per session event and
 * message event: what a busy gateway keeps on) and debug (every state
 * change) as set (Set-TransportConfig -LogLevel). */
enum log_level { LOG_LEVEL_WARNING, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };
void log_set_level(enum log_level l);
/* -d: debug whatever the configuration says */
void log_set_debug(int on);
/* A busy process (the smtp process: lines for every session and message)
 * collects its info and debug lines and writes them in one write(2) when
 * log_flush() is called, when 4 KiB are waiting, or before any warning
 * (which is written at once, after them, so the order holds). wake(arg) is
 * called, from whichever thread logged, when a line enters an empty batch:
 * it should have log_flush() run soon (an event loop's next turn). The
 * batch is flushed at exit too (call log_flush() before _exit); wake NULL
 * ends batching. Code that writes to a client at once (the clear-text reply
 * writer, a refusal at accept, the 220 to STARTTLS) calls log_flush() first,
 * so that what a client has read is always in the log; TLS replies leave on
 * a later turn, after that turn's flush. */
void log_batch_lines(void (*wake)(void *), void *arg);
void log_flush(void);
void log_debug(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_info(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_warnx(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_warn(const char *fmt, ...) PRINTF_LIKE(1, 2);
_Noreturn void fatal(const char *fmt, ...) PRINTF_LIKE(1, 2);
_Noreturn void fatalx(const char *fmt, ...) PRINTF_LIKE(1, 2);

#endif
