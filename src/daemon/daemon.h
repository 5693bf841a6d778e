/*
 * daemon.h — the transport service: start-up as root, binding, privilege
 * drop, reload, certificate renewal, the control socket and shutdown.
 *
 * A reload (SIGHUP or the control socket) loads and validates the new
 * configuration, re-opens listeners whose bindings changed and installs the
 * configuration for new sessions and for delivery; nothing queued or in
 * progress is lost.
 * Must never: read anything from the network itself.
 */
#ifndef POSTERN_DAEMON_H
#define POSTERN_DAEMON_H

/* Runs the service until SIGTERM. detach_fd >= 0: started by `run
 * --daemon`; readiness is reported on it (lib/detach.h). Returns the exit
 * status. */
int daemon_run(const char *instance_dir, int detach_fd);

#endif
