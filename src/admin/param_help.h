/*
 * param_help.h — what each configuration parameter means, in the
 * administrator's terms, for Get-Help: Exchange's meaning of the setting
 * as postern implements it.
 *
 * The type, default and allowed values of a parameter come from its row
 * in config_param.c and are printed from there; these texts say only what
 * the setting does (and its unit where that is not obvious).
 * Must never: describe a behaviour the code does not have, or hold a
 * parameter that is in no table (tests/unit/test_param_help.c checks that
 * every table row has a text and that there are no others).
 */
#ifndef POSTERN_PARAM_HELP_H
#define POSTERN_PARAM_HELP_H

#include <stddef.h>

/* Exchange's meaning of a configuration parameter, as postern implements it: one or two
 * sentences for Get-Help; NULL when the parameter is unknown. kind is the
 * config_kind_info name ("TransportConfig", "ReceiveConnector", "SendConnector",
 * "AcceptedDomain", "Mailbox", "DkimSigningConfig"), param the parameter's Exchange name (not an
 * alias). Both compare case-insensitively. */
const char *param_help(const char *kind, const char *param);

/* How many texts there are: one per row of the parameter tables. */
size_t param_help_count(void);

#endif
