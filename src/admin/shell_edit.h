/*
 * shell_edit.h — `postern shell` on a terminal: line editing and history
 * (BSD libedit), tab completion of cmdlet names, parameter names (after
 * '-'), a parameter's values (-Usage <TAB>) and the objects a cmdlet takes
 * (-Identity <TAB>, or the first value of Set-/Get-/Remove-), and Ctrl-C
 * cancelling the line being typed, not the shell.
 *
 * History is kept in DIR/shell_history (mode 0600, the instance owner's),
 * so that every administrator of an instance finds the commands typed
 * there; a line that names a password or credential is not kept.
 * Must never: write a password into the history file, or let Ctrl-C end
 * the shell.
 */
#ifndef POSTERN_SHELL_EDIT_H
#define POSTERN_SHELL_EDIT_H

#include <stdbool.h>

/* Loads the history and installs completion and the Ctrl-C handler. */
void shell_edit_begin(const char *instance_dir);
/* One line (malloc'd, with its "\n"); NULL at the end of input (Ctrl-D).
 * A line cancelled by Ctrl-C comes back as "" with *cancelled set. */
char *shell_edit_line(const char *prompt, bool *cancelled);
/* A statement that was run, for the history (unless it holds a secret). */
void shell_edit_remember(const char *statement);
/* Saves the history. */
void shell_edit_end(void);

#endif
