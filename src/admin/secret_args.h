/*
 * secret_args.h — secrets given on the command line, hidden from other users.
 *
 * /proc/PID/cmdline shows every argument to every user on the machine.
 * `-Password -` and (Get-Credential) keep a secret off the command line
 * altogether and are the documented ways; for the rest, the value that
 * follows a secret-carrying parameter is copied and the original bytes are
 * overwritten as the first thing the process does.
 * Must never: leave a secret's bytes in the original argument area.
 */
#ifndef POSTERN_SECRET_ARGS_H
#define POSTERN_SECRET_ARGS_H

/* Replaces the values of -Password and -AuthenticationCredential (either
 * as the next word or as -Param:value) in argv by private copies and zeroes
 * the originals. Returns the copies' count; free them with
 * secret_args_free. */
int secret_args_hide(int argc, char **argv, char ***copies);
void secret_args_free(char **copies, int n);

#endif
