/*
 * ps_run.h — runs what ps_parse read: each statement's pipeline, with the
 * cmdlets of cmdlet.c and the pipeline commands administrators use daily:
 *
 *   Format-List (fl) [props|*]    Format-Table (ft) [props] [-AutoSize]
 *   Select-Object (select) props [-First N] [-Last N]
 *   Where-Object (where, ?) {condition} | Prop -op value
 *   ConvertTo-Json                Export-Csv [-Path] file [-NoTypeInformation]
 *   Get-X | Set-X -Param value    (objects passed on by their Identity, to
 *                                  Set-, Remove-, Retry-, Suspend-, Resume-,
 *                                  Enable-: any cmdlet of the table)
 *
 * A cmdlet's parameters are bound as PowerShell binds them: -Name value,
 * -Name:value, switches, values in order for the positional Identity.
 * Anything outside this subset gets one line saying it is not supported.
 * Must never: run a later command of a pipeline after an earlier one failed,
 * or go on with a script after a failure unless asked to.
 */
#ifndef POSTERN_PS_RUN_H
#define POSTERN_PS_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "admin/ps_parse.h"

struct ps_io {
    FILE *in;  /* -Password - reads a line here */
    FILE *out; /* results */
    FILE *err; /* errors, one line each */
};

struct cmdlet;
struct cmdlet_args;
struct ps_command;

/* Binds cmd's elements to c's arguments (-Name value unless -Name is one of
 * c's switches, -Name:value, values in order as positional arguments);
 * evaluates (Get-Credential). 0, or -1 with err set. */
int ps_bind(const struct cmdlet *c, const struct ps_command *cmd, struct cmdlet_args *a, char *err,
            size_t errlen);

/* Is name (its full name) a switch of c's (h: c's help, may be NULL), one
 * that takes no value unless attached (-Name:$false)? */
struct cmdlet_help;
bool ps_is_switch(const struct cmdlet *c, const struct cmdlet_help *h, const char *name);

/* Runs every statement of s. A failing statement stops the rest unless
 * keep_going or the statement says -ErrorAction Continue (or
 * SilentlyContinue; the error is shown either way); with line_numbers each failure is followed by
 * "line N: X failed". Returns 0, or the exit status of the first failure (1 error, 2 usage);
 * *stopped (may be NULL) says whether a failure stopped it. */
int ps_run_script(const char *instance_dir, const struct ps_script *s, const struct ps_io *io,
                  bool keep_going, bool line_numbers, bool *stopped);

/* A command line as the POSIX shell split it (ps_parse_argv), run. */
int ps_run_argv(const char *instance_dir, int argc, char **argv, FILE *in, FILE *out, FILE *err);

#endif
