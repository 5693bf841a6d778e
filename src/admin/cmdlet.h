/*
 * cmdlet.h — running one Exchange-style cmdlet against an instance:
 *
 *   postern -D DIR Set-ReceiveConnector -Identity "Default mail" -RequireTLS $true
 *
 * (the command language itself, pipelines included, is admin/ps_parse.h
 * and admin/ps_run.h; a cmdlet sees only its bound arguments).
 * Cmdlets live in one table (cmdlet.c) of {name, function, switches}; a new
 * one is a function with the cmdlet_fn signature and a line in the table.
 * Arguments are read with the accessors of cmdlet_args.h; configuration
 * cmdlets share the helpers of cmdlet_object.h.
 *
 * Output goes to out, errors to err as one line naming the object, the
 * parameter and the reason. Exit status: 0 ok, 1 error, 2 usage.
 * Must never: leave a change half-applied (a cmdlet that fails leaves
 * postern.conf as it was).
 */
#ifndef POSTERN_CMDLET_H
#define POSTERN_CMDLET_H

#include <stdbool.h>
#include <stdio.h>

#include "admin/cmdlet_args.h"

#define CMDLET_OK 0
#define CMDLET_ERROR 1
#define CMDLET_USAGE 2

struct cmdlet_ctx {
    const char *instance_dir;
    const char *name; /* the cmdlet, as spelled in the table */
    FILE *in;         /* -Password - reads a line from here */
    FILE *out;
    FILE *err;
    bool whatif; /* -WhatIf: say what would change, change nothing */
};

typedef int cmdlet_fn(struct cmdlet_ctx *ctx, struct cmdlet_args *args);

struct cmdlet {
    const char *name;
    cmdlet_fn *run;
    /* Parameters that never take the next word as their value
     * (NULL-terminated, or NULL). */
    const char *const *switches;
    /* Changes postern.conf through a transaction (cmdlet_object.h), which
     * honours -WhatIf itself; other cmdlets that change something are
     * not run under -WhatIf, only described. */
    bool config_change;
};

/* Runs c with its bound arguments (admin/ps_run.c binds them): standard
 * input (for -Password -) from in, output to out, errors to err (one line
 * naming object, parameter, reason). Returns the process exit status (0
 * ok, 1 error, 2 usage). */
int cmdlet_exec(const char *instance_dir, const struct cmdlet *c, struct cmdlet_args *args,
                FILE *in, FILE *out, FILE *err);

/* The table, for completion in the shell; and one entry by name. */
const struct cmdlet *cmdlet_table(size_t *n);
const struct cmdlet *cmdlet_find(const char *name);

/* "Set-ReceiveConnector: <message>" on ctx->err. */
/* Shows text as the progress line on tty (replacing the one shown), or
 * erases it (text NULL); errors, warnings and -Confirm's question erase it
 * before they are written, so nothing runs into it. */
void cmdlet_progress_line(FILE *tty, const char *text);
void cmdlet_error(const struct cmdlet_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "WARNING: <message>" on ctx->err. */
void cmdlet_warning(const struct cmdlet_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
