/*
 * smtp_process.h — the smtp process: everything that talks to the
 * network. It accepts on the listening sockets the daemon hands it, runs
 * the SMTP sessions with their TLS, resolves and runs the outbound
 * connections the queue process asks for.
 *
 * It cannot open a file: before serving it becomes the service user and
 * gives up the filesystem (lib/sandbox.h). Message content goes into files
 * the queue process made (receive/spool.h), log rows into files it opened
 * (logs/log_client.h); TLS signatures, password checks and smart-host
 * credentials are asked of the keys process (receive/keys_client.h). It
 * starts accepting only once it has the certificates and a queue, so the
 * first client already sees STARTTLS.
 * Must never: read configuration, keys or spool from disk; acknowledge a
 * message the queue process has not reported durable.
 */
#ifndef POSTERN_SMTP_PROCESS_H
#define POSTERN_SMTP_PROCESS_H

#include "lib/proc.h"

/* The process's main (daemon/children.h); returns its exit status. */
int smtp_process_main(const struct proc_start *st);

#endif
