/*
 * qmgr_process.h — the queue process: the only writer of DIR/queue,
 * DIR/mail and DIR/logs.
 *
 * It commits the messages the smtp process receives (queue/spool_server.c:
 * the content arrives as a file the queue made and handed over), runs the
 * delivery scheduler (delivery/deliver.h) with local delivery into
 * Maildirs and its reports, drives outbound connections that run in the
 * smtp process (qmgr/outbound_proxy.c), opens the smtp process's log files
 * (logs/log_server.c) and answers the queue cmdlets. It never talks to the
 * network.
 * Runs as the service user, not dumpable, with no new privileges.
 * Must never: trust what the smtp process sends (every request is
 * checked); stop before the commits it accepted are durable.
 */
#ifndef POSTERN_QMGR_PROCESS_H
#define POSTERN_QMGR_PROCESS_H

#include "lib/proc.h"

/* The process's main (daemon/children.h); returns its exit status. */
int qmgr_process_main(const struct proc_start *st);

#endif
