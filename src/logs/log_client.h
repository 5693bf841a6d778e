/*
 * log_client.h — the smtp process's end of the log channel (lib/proc.h,
 * MSG_LOG_*; logs/log_server.c is the other end): an opener for
 * csvlog_open_remote that asks the queue process for the day's file and
 * gets its descriptor back, in one blocking call with a time limit.
 *
 * A call happens once per log and UTC day (and again a few seconds after
 * a failure), so blocking is cheap; the limit keeps a stuck queue process
 * from stopping the smtp process. An answer that comes too late is told
 * apart by its request number and dropped.
 * Must never: wait longer than the limit, read part of a message and give
 * up (the stream would lose its framing), or leak a descriptor that came
 * with an answer nobody waits for.
 */
#ifndef POSTERN_LOG_CLIENT_H
#define POSTERN_LOG_CLIENT_H

#include "logs/csvlog.h"

struct log_client;

/* On fd (a connected unix stream socket no event loop watches; ownership
 * passes; -1: none yet); each call waits at most timeout_ms. */
struct log_client *log_client_new(int fd, int timeout_ms);
/* A new channel (after the queue process restarted). */
void log_client_attach(struct log_client *lc, int fd);
void log_client_free(struct log_client *lc);

/* A csvlog_opener_fn; arg is the struct log_client. Safe from any thread.
 * -1 with errno: ENOTCONN (no channel), ETIMEDOUT, or the queue process's
 * own error (EINVAL: it refused the request). */
int log_client_open_day(void *arg, const struct csvlog_spec *spec, const char *day,
                        const char *stamp);

#endif
