/*
 * cmdlet_args.h — a cmdlet's arguments once bound (admin/ps_run.c binds
 * what the command language read): named parameters with their value
 * text, and positional values, the first of which is the Identity.
 * Parameter names compare case-insensitively and must be given in full.
 *
 * Each accessor marks what it reads as used, so that a cmdlet can finally
 * ask for anything left over and report it as an unknown parameter.
 * Must never: print (callers word their own errors).
 */
#ifndef POSTERN_CMDLET_ARGS_H
#define POSTERN_CMDLET_ARGS_H

#include <stdbool.h>
#include <stddef.h>

struct cmdlet_arg {
    char *name;  /* as typed, without the dash; NULL for a positional argument */
    char *value; /* NULL: a bare switch */
    bool used;
};

struct cmdlet_args {
    struct cmdlet_arg *v;
    size_t n;
};

/* Appends a parameter (name without its dash; NULL: a positional value)
 * with its value (malloc'd, taken over; NULL: a bare switch). -1 with err
 * set (value freed) for a malformed name or one given twice. */
int cmdlet_args_add(struct cmdlet_args *a, const char *name, char *value, char *err, size_t errlen);
void cmdlet_args_free(struct cmdlet_args *a);

/* The argument named name (or alias, may be NULL), marked used; NULL when
 * it was not given. */
struct cmdlet_arg *cmdlet_args_take(struct cmdlet_args *a, const char *name, const char *alias);

/* The first positional argument not yet used, marked used; NULL if none. */
const char *cmdlet_args_positional(struct cmdlet_args *a);

/* "SERVER\Name" -> "Name": identities may carry Exchange's server prefix. */
const char *cmdlet_identity_strip(const char *identity);

/* These return 1 when the parameter was given (value in *out), 0 when it
 * was not, -1 with err set when its value is missing or bad. */
/* -Identity, else the first positional argument; SERVER\ prefix stripped. */
int cmdlet_args_identity(struct cmdlet_args *a, const char **out, char *err, size_t errlen);
int cmdlet_args_string(struct cmdlet_args *a, const char *name, const char **out, char *err,
                       size_t errlen);
/* $true/$false/true/false/1/0; a bare switch is true. */
int cmdlet_args_bool(struct cmdlet_args *a, const char *name, bool *out, char *err, size_t errlen);
/* "a,b,c" (quotes around items removed) into a malloc'd vector; free with
 * cmdlet_list_free. */
int cmdlet_args_list(struct cmdlet_args *a, const char *name, char ***items, size_t *n, char *err,
                     size_t errlen);
void cmdlet_list_free(char **items, size_t n);

/* The first argument nobody used, or NULL. */
const struct cmdlet_arg *cmdlet_args_unused(const struct cmdlet_args *a);
/* 0 when every argument was used, else -1 with "Foo: unknown parameter"
 * (or "'x': unexpected argument") in err. */
int cmdlet_args_check_unused(const struct cmdlet_args *a, char *err, size_t errlen);

#endif
