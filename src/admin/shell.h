/*
 * shell.h — `postern -D DIR shell`: the command language (admin/ps_parse.h)
 * one statement at a time, from a terminal (with a prompt; ">>" while a
 * statement continues on the next line) or from a script on standard
 * input. `exit` or end of input ends the shell.
 * Must never: go on with a script after a failing statement unless asked
 * to (keep_going: `postern shell -ErrorAction Continue`), or let a failure
 * pass silently: each failure names its line number, and the exit status
 * is the first failing statement's.
 */
#ifndef POSTERN_SHELL_H
#define POSTERN_SHELL_H

#include <stdbool.h>
#include <stddef.h>

/* keep_going: a script on standard input runs every statement even after
 * a failing one (a terminal always goes on). */
int shell_run(const char *instance_dir, bool keep_going);

/* (Get-Credential): "user:password" asked on the terminal (password
 * without echo), malloc'd (wipe it). NULL with err set without a terminal
 * or an answer. */
char *shell_read_credential(char *err, size_t errlen);

#endif
