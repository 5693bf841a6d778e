/*
 * shell.h — `postern -D DIR shell`: the cmdlets one line at a time, from a
 * terminal (with a prompt) or from a script on standard input.
 *
 * A line is split like a PowerShell command line typed in a POSIX shell:
 * blanks separate words, single or double quotes group them (and are
 * removed), `#` starts a comment. `exit` or end of input ends the shell.
 * Must never: stop a script silently: the exit status is the first failing
 * cmdlet's, and each failure names its line number.
 */
#ifndef POSTERN_SHELL_H
#define POSTERN_SHELL_H

int shell_run(const char *instance_dir);

/* Replaces each "(Get-Credential)" argument with "user:password" asked on
 * the terminal (password without echo), as PowerShell's Get-Credential.
 * owned[i] is what must be freed (shell_free_credentials wipes it).
 * Returns -1 (message on stderr) without a terminal. */
int shell_expand_credentials(int argc, char **argv, char **owned);
void shell_free_credentials(int argc, char **owned);

#endif
