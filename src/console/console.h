/*
 * console.h — `postern -D DIR console`: the management console, a web
 * application served over HTTPS on TransportConfig ConsoleBindings
 * (docs/console.md). Its changes are cmdlets, run as the shell runs them.
 * Must never: change postern.conf by its own code, or answer anything but
 * the sign-in and the static files without a valid session.
 */
#ifndef POSTERN_CONSOLE_H
#define POSTERN_CONSOLE_H

/* Runs the console until SIGTERM or SIGINT. Returns the exit status. */
int console_run(const char *instance_dir);

#endif
