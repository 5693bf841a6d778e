/*
 * ps_filter.h — Where-Object's conditions over pipeline records:
 *
 *   Where-Object {$_.RequireTLS -eq $true -and $_.Name -like "To *"}
 *   Where-Object Enabled -eq $true          (the simplified form)
 *
 * Operators: -eq -ne -gt -ge -lt -le -like -notlike -match -notmatch
 * -contains -notcontains (case-insensitive; -c... forms compare case), -and
 * -or -not / !, parentheses. Operands: $_.Property, $_ , 'strings',
 * "strings", numbers (with KB MB GB TB), $true $false $null.
 *
 * Values are the text Get- shows, read as PowerShell would see the typed
 * property: "True"/"False" as booleans, "10 MB (10,485,760 bytes)" and
 * "unlimited" as numbers, "{a, b}" as a list whose items -eq, -like,
 * -match and -contains test (true when one item matches; -ne, -notlike
 * and -notmatch when none does).
 * Must never: treat a condition it cannot read as true (the parse fails and
 * says why instead).
 */
#ifndef POSTERN_PS_FILTER_H
#define POSTERN_PS_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "admin/ps_parse.h"
#include "admin/ps_record.h"

struct ps_filter;

/* The condition inside a script block. NULL with err set. */
struct ps_filter *ps_filter_parse(const char *text, char *err, size_t errlen);
/* The simplified form: property, operator without its dash (NULL: the
 * property is true), value (may be NULL with no operator). */
struct ps_filter *ps_filter_simple(const char *prop, const char *op, const struct ps_value *value,
                                   char *err, size_t errlen);
bool ps_filter_match(const struct ps_filter *f, const struct ps_record *r);
void ps_filter_free(struct ps_filter *f);

#endif
