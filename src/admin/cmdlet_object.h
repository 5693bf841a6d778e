/*
 * cmdlet_object.h — what the configuration cmdlets share: a change
 * transaction on DIR/postern.conf, applying -Param value arguments through
 * the parameter tables, Format-List output, and the generic New-/Get-/
 * Set-/Remove- of one object kind. Also declares the configuration cmdlets
 * (cmdlet_receive.c, cmdlet_send.c, cmdlet_domain.c, cmdlet_mailbox.c,
 * cmdlet_transport.c).
 *
 * A change runs: lock the instance directory, load and validate the file,
 * clone, apply, config_validate, config_save (atomic), unlock, then ask a
 * running service to reload. Any failure before the save leaves the file
 * byte-identical.
 * Must never: write postern.conf outside a transaction, or print a
 * CPF_SECRET value.
 */
#ifndef POSTERN_CMDLET_OBJECT_H
#define POSTERN_CMDLET_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "admin/cmdlet.h"
#include "config/config.h"
#include "config/config_param.h"

struct cmdlet_txn {
    int dirfd; /* the instance directory, flock()ed: one change at a time */
    char *path;
    struct config *before; /* as loaded: what -WhatIf compares with */
    struct config *cfg;    /* the working copy */
};

/* Loads postern.conf to read it (Get-). NULL after printing the error. */
struct config *cmdlet_config_read(struct cmdlet_ctx *ctx);

/* Starts a change. Returns CMDLET_OK, or an exit status after printing. */
int cmdlet_txn_begin(struct cmdlet_ctx *ctx, struct cmdlet_txn *t);
/* Validates and saves the working copy, then asks the service to reload.
 * Under -WhatIf it validates and prints what would change (each object
 * created or removed, each property: old -> new; secrets as "(changed)")
 * instead, leaving the file untouched. Returns CMDLET_OK or CMDLET_ERROR
 * (printed). Call cmdlet_txn_end after. */
int cmdlet_txn_commit(struct cmdlet_ctx *ctx, struct cmdlet_txn *t);
/* Ends a change, committed or not (unlocks, frees). */
void cmdlet_txn_end(struct cmdlet_txn *t);
/* Finds an object of the working copy; prints "not found". */
int cmdlet_txn_find(struct cmdlet_ctx *ctx, struct cmdlet_txn *t, enum config_kind kind,
                    const char *identity, size_t *index);

/* Checks that every argument not yet taken names a parameter of k that a
 * cmdlet may set (creating: New-, which also allows CPF_NEW_ONLY), once.
 * Returns CMDLET_OK or CMDLET_USAGE (printed). Run it before any change. */
int cmdlet_params_check(struct cmdlet_ctx *ctx, const struct config_kind_info *k,
                        struct cmdlet_args *a, bool creating);
/* Applies those arguments to obj. Returns CMDLET_OK, or an exit status
 * (printed, naming object and parameter). */
int cmdlet_params_apply(struct cmdlet_ctx *ctx, const struct config_kind_info *k, void *obj,
                        struct cmdlet_args *a, bool creating);
/* Sets one parameter from text, as cmdlet_params_apply would. */
int cmdlet_param_set(struct cmdlet_ctx *ctx, const struct config_kind_info *k, void *obj,
                     const char *param, const char *text);

/* Format-List: "Name     : value", the Identity first. */
void cmdlet_print_object(FILE *out, const struct config_kind_info *k, const void *obj);
/* The same, followed by n rows a cmdlet computes (names[i] : values[i]),
 * aligned with the others. */
void cmdlet_print_object_extra(FILE *out, const struct config_kind_info *k, const void *obj,
                               const char *const *names, const char *const *values, size_t n);
/* What New- prints once it committed: the object, unless under -WhatIf
 * (nothing was created). */
void cmdlet_print_created(struct cmdlet_ctx *ctx, const struct config_kind_info *k,
                          const void *obj);

/* Called inside a transaction, after the object is found (Set-, Remove-)
 * or appended and named (New-), before the arguments are applied or the
 * object is removed. */
typedef int cmdlet_object_hook(struct cmdlet_ctx *ctx, struct config *cfg, size_t index,
                               void *data);

/* Get-<Kind> [-Identity] : one object, or all separated by blank lines. */
int cmdlet_get_objects(struct cmdlet_ctx *ctx, struct cmdlet_args *a, enum config_kind kind);
/* Set-<Kind> -Identity X -Param value ...: cmdlet_set_prepare (takes the
 * Identity, checks the other arguments; nothing is loaded yet) then
 * cmdlet_set_apply (the transaction). A cmdlet with work to do between the
 * two (reading a password) calls them itself. */
int cmdlet_set_object(struct cmdlet_ctx *ctx, struct cmdlet_args *a, enum config_kind kind,
                      cmdlet_object_hook *hook, void *data);
int cmdlet_set_prepare(struct cmdlet_ctx *ctx, struct cmdlet_args *a, enum config_kind kind,
                       const char **identity);
int cmdlet_set_apply(struct cmdlet_ctx *ctx, struct cmdlet_args *a, enum config_kind kind,
                     const char *identity, cmdlet_object_hook *hook, void *data);
/* Remove-<Kind> -Identity X */
int cmdlet_remove_object(struct cmdlet_ctx *ctx, struct cmdlet_args *a, enum config_kind kind,
                         cmdlet_object_hook *hook, void *data);

/* New-<Kind> of a kind whose names must differ (what: the kind in words,
 * "send connector"), once the arguments are checked: in a change, refuses
 * name when taken, appends an object with that Name, calls hook (may be
 * NULL; presets), applies the arguments not yet taken, commits and prints
 * the object. */
int cmdlet_new_object(struct cmdlet_ctx *ctx, struct cmdlet_args *a, enum config_kind kind,
                      const char *what, const char *name, cmdlet_object_hook *hook, void *data);

/* Takes the name of a new object: -Name, else the first positional
 * argument, else fallback (may be NULL: then a usage error). */
int cmdlet_new_name(struct cmdlet_ctx *ctx, struct cmdlet_args *a, const char *fallback,
                    const char **name);

/* New-<Kind> -Usage X, or one of the switches -X that stand for it (the
 * same thing, as in Exchange; both at once must agree). usages (NULL
 * ends it) are the names of the kind's Usage values, in the order of the
 * caller's presets; *index is the one chosen, 0 (the first) when none is
 * given. name is the new object's, for messages. Returns CMDLET_OK, or an
 * exit status (printed). */
int cmdlet_new_usage(struct cmdlet_ctx *ctx, struct cmdlet_args *a, enum config_kind kind,
                     const char *name, const char *const *usages, size_t *index);

/* The configuration cmdlets. */
int cmdlet_new_receive_connector(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_set_receive_connector(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_get_receive_connector(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_remove_receive_connector(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
extern const char *const cmdlet_new_receive_connector_switches[];

int cmdlet_new_send_connector(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_set_send_connector(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_get_send_connector(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_remove_send_connector(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
extern const char *const cmdlet_new_send_connector_switches[];

int cmdlet_new_accepted_domain(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_set_accepted_domain(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_get_accepted_domain(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_remove_accepted_domain(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
extern const char *const cmdlet_set_accepted_domain_switches[];

int cmdlet_new_mailbox(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_set_mailbox(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_get_mailbox(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_remove_mailbox(struct cmdlet_ctx *ctx, struct cmdlet_args *a);

int cmdlet_get_transport_config(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_set_transport_config(struct cmdlet_ctx *ctx, struct cmdlet_args *a);

/* cmdlet_admin.c: who may sign in to the console */
int cmdlet_add_exchange_administrator(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_get_exchange_administrator(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_remove_exchange_administrator(struct cmdlet_ctx *ctx, struct cmdlet_args *a);

/* cmdlet_queue.c */
int cmdlet_get_queue(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_get_message(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
/* Retry-Queue, Suspend-Queue, Resume-Queue */
int cmdlet_queue_action(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
/* Suspend-Message, Resume-Message, Remove-Message */
int cmdlet_message_action(struct cmdlet_ctx *ctx, struct cmdlet_args *a);

/* cmdlet_tracking.c: Get-MessageTrackingLog (reads DIR/logs/MessageTracking) */
int cmdlet_get_message_tracking_log(struct cmdlet_ctx *ctx, struct cmdlet_args *a);

/* cmdlet_dkim.c: New-, Set-, Get-, Rotate- and Remove-DkimSigningConfig
 * (keys in DIR/dkim) */
int cmdlet_new_dkim_signing_config(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_set_dkim_signing_config(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_get_dkim_signing_config(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_rotate_dkim_signing_config(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_remove_dkim_signing_config(struct cmdlet_ctx *ctx, struct cmdlet_args *a);

/* cmdlet_mtasts.c: Get-MtaStsPolicy, Clear-MtaStsCache (DIR/mta-sts) */
int cmdlet_get_mtasts_policy(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_clear_mtasts_cache(struct cmdlet_ctx *ctx, struct cmdlet_args *a);

/* cmdlet_tlsrpt.c: Get-TlsReport (DIR/tlsrpt), Send-TlsReport (the service) */
int cmdlet_get_tls_report(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_send_tls_report(struct cmdlet_ctx *ctx, struct cmdlet_args *a);

/* cmdlet_cert.c: the certificate cmdlets (store layout in tls/tls_certs.h) */
int cmdlet_new_exchange_certificate(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_import_exchange_certificate(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_get_exchange_certificate(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_enable_exchange_certificate(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_remove_exchange_certificate(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
/* Import-Certificate -FilePath F -CertStoreLocation Cert:\LocalMachine\Root */
int cmdlet_import_certificate(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
extern const char *const cmdlet_new_exchange_certificate_switches[];
extern const char *const cmdlet_enable_exchange_certificate_switches[];

/* cmdlet_service.c: Get-Service, Restart-Service (a reload) */
int cmdlet_get_service(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_restart_service(struct cmdlet_ctx *ctx, struct cmdlet_args *a);

/* cmdlet_explain.c: Test-ReceiveConnector */
int cmdlet_test_receive_connector(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_test_mail_route(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_test_send_connector(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_test_smtp_connectivity(struct cmdlet_ctx *ctx, struct cmdlet_args *a);

/* cmdlet_help_show.c: Get-Help, Get-Command (declarations in cmdlet_help.h) */
int cmdlet_get_help(struct cmdlet_ctx *ctx, struct cmdlet_args *a);
int cmdlet_get_command(struct cmdlet_ctx *ctx, struct cmdlet_args *a);

#endif
