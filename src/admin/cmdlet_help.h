/*
 * cmdlet_help.h — what each cmdlet takes, declared once: its synopsis, its
 * own parameters, and for the configuration cmdlets the object kind whose
 * parameter table (config_param.c, the one that validates input) supplies
 * the rest. Get-Help, Get-Command, the binder's parameter-name prefixes
 * and the shell's completion all read it, so none of them can disagree
 * with what a cmdlet accepts.
 * Must never: list a parameter a cmdlet does not take (tests/e2e walk
 * every one through Get-Help and the binder).
 */
#ifndef POSTERN_CMDLET_HELP_H
#define POSTERN_CMDLET_HELP_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config_param.h"

/* A parameter's shape for the binder and Get-Help. */
#define HP_SWITCH 0x1     /* takes no value ([-Name]) */
#define HP_MANDATORY 0x2  /* required */
#define HP_POSITIONAL 0x4 /* may be given without its name, first */

struct help_param {
    const char *name;
    const char *type; /* PowerShell's type name, as Exchange documents it */
    unsigned flags;
    const char *help;
};

enum help_mode {
    HM_OTHER,  /* parameters are all listed in params */
    HM_GET,    /* Get-<Kind> [-Identity] */
    HM_NEW,    /* New-<Kind>: the kind's parameters a New- may set */
    HM_SET,    /* Set-<Kind>: those a Set- may set */
    HM_REMOVE, /* Remove-<Kind> -Identity */
};

struct cmdlet_help {
    const char *name;
    const char *synopsis;
    enum help_mode mode;
    enum config_kind kind;           /* with HM_GET/NEW/SET/REMOVE */
    const struct help_param *params; /* its own, before the kind's; NULL-name ends */
    const char *const *examples;     /* NULL ends; the seed's lines among them */
};

/* One parameter as Get-Help shows it: either declared here (decl) or a
 * configuration parameter (conf), never both. */
struct help_param_view {
    const char *name;
    const struct help_param *decl;
    const struct config_param *conf;
};

const struct cmdlet_help *cmdlet_help_find(const char *name);
/* All of them, in the cmdlet table's order. */
const struct cmdlet_help *cmdlet_help_all(size_t *n);

/* What a parameter of h means: its declaration's text, or param_help's
 * for a configuration parameter ("" when there is none). */
const char *cmdlet_help_meaning(const struct cmdlet_help *h, const struct help_param_view *v);

/* Every parameter of h in order (its own, then the kind's, then WhatIf and
 * Confirm where they apply), malloc'd; *n their number. */
struct help_param_view *cmdlet_help_params(const struct cmdlet_help *h, size_t *n);

/* The full name for name as typed (the name itself, an alias such as
 * AuthenticationMechanism, or a unique prefix), or NULL with err set when
 * it is ambiguous; name itself when nothing matches (the cmdlet then
 * reports an unknown parameter). */
const char *cmdlet_help_resolve(const struct cmdlet_help *h, const char *name, char *err,
                                size_t errlen);

/* Does the cmdlet change something (every verb but Get- and Test-)? */
bool cmdlet_help_changes(const char *cmdlet);

#endif
