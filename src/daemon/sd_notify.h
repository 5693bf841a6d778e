/*
 * sd_notify.h — tells systemd (a Type=notify unit) when the service is
 * ready, reloading and stopping, with the documented $NOTIFY_SOCKET
 * protocol (sd_notify(3): newline-separated VAR=value datagrams on a Unix
 * socket, a path or an abstract '@' name), written by hand so that postern
 * does not depend on libsystemd for a dozen lines.
 *
 * Without $NOTIFY_SOCKET (not started by systemd) every call does nothing.
 * Must never: block or fail the service (systemd being slow, gone or the
 * socket full is not an error of the MTA); let a child process inherit the
 * socket's address in its environment (sd_notify_init takes it out, so
 * only the daemon speaks for the service).
 */
#ifndef POSTERN_SD_NOTIFY_H
#define POSTERN_SD_NOTIFY_H

/* Reads $NOTIFY_SOCKET and removes it from the environment. Call once in
 * the daemon before any child is forked. Returns 1 when there is a socket
 * to talk to, 0 when there is none, -1 when the variable is unusable
 * (logged once; the service runs on without notifications). */
int sd_notify_init(void);

/* Sends one datagram (text: "VAR=value" lines). 1 sent, 0 no socket, -1
 * not sent (errno set). */
int sd_notify_send(const char *text);

/* READY=1 with MAINPID and a STATUS line: the ports are bound and every
 * child is up. */
void sd_notify_ready(const char *status);

/* RELOADING=1 with MONOTONIC_USEC (what systemd 253's Type=notify-reload
 * asks for; older versions ignore it) at the start of a reload. */
void sd_notify_reloading(void);

/* READY=1 again once a reload that sd_notify_reloading announced is
 * applied (or refused: the old configuration stays in force); nothing
 * when no reload was announced. */
void sd_notify_reloaded(const char *status);

/* STOPPING=1 at the first stop signal. */
void sd_notify_stopping(void);

#endif
