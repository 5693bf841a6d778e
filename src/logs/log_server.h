/*
 * log_server.h — the queue process's end of the log channel (lib/proc.h,
 * MSG_LOG_*): it opens the day's file of a log the smtp process writes and
 * hands over the descriptor (logs/log_client.c is the other end), so that
 * a process that can open no file still appends to the logs.
 *
 * The peer chooses nothing on disk: subdir and prefix must be those of one
 * of postern's own logs (the protocol logs SmtpReceive and SmtpSend, the
 * message tracking log) and the path is made from that log's own
 * description; the day must be 8 digits naming yesterday, today or
 * tomorrow (UTC), and the #Date a date-time of that day. Anything else is
 * refused with EINVAL.
 * Must never: open a path made from the peer's strings, or create files
 * for days the peer picks at will.
 */
#ifndef POSTERN_LOG_SERVER_H
#define POSTERN_LOG_SERVER_H

struct event_base;
struct log_server;

/* The channel closed (reason for the log); ls must still be freed, which
 * the callback may do. */
typedef void log_server_closed_fn(struct log_server *ls, const char *reason, void *arg);

/* Serves fd (a connected unix stream socket; ownership passes) with the
 * logs under logs_dir, whose directories it creates. closed may be NULL. */
struct log_server *log_server_new(struct event_base *base, const char *logs_dir, int fd,
                                  log_server_closed_fn *closed, void *arg);
/* NULL is a no-op. */
void log_server_free(struct log_server *ls);

#endif
