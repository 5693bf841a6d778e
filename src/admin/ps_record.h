/*
 * ps_record.h — the objects that flow through a pipeline, and the ways the
 * last command shows them: Format-List, Format-Table, ConvertTo-Json,
 * Export-Csv.
 *
 * An object is what a Get- cmdlet prints in Format-List form ("Name : value"
 * lines, objects separated by blank lines): the cmdlets have one renderer,
 * and a pipeline reads its output back into records, property names kept
 * in order. Values stay text, as Get- shows them ("True", "{a, b}",
 * "35 MB (36,700,160 bytes)"); the filters and JSON read types from that.
 * Must never: show a property a record does not have as if it had a value
 * (a missing property is empty, as in PowerShell).
 */
#ifndef POSTERN_PS_RECORD_H
#define POSTERN_PS_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct ps_record {
    char **names;
    char **values;
    size_t n;
};

struct ps_records {
    struct ps_record *v;
    size_t n;
};

/* Reads Format-List text into records (appended to out). -1 when a line
 * is not "Name : value". */
int ps_records_parse(const char *text, struct ps_records *out);
void ps_records_free(struct ps_records *r);

/* The value of a property (case-insensitive name), NULL when absent. */
const char *ps_record_get(const struct ps_record *r, const char *name);
/* The Identity a record stands for in Set-/Remove-: Identity, else Name,
 * else Thumbprint (certificates); NULL when it has none. */
const char *ps_record_identity(const struct ps_record *r);

/* Keeps the properties matching the patterns (wildcards, case-insensitive;
 * in the patterns' order, each once; a pattern that matches nothing adds
 * an empty property, as Select-Object does), then the first/last records
 * (0: all). */
void ps_records_select(struct ps_records *r, char *const *props, size_t nprops, size_t first,
                       size_t last);

/* Keeps the records keep() says yes to, in order. */
void ps_records_filter(struct ps_records *r, bool (*keep)(const struct ps_record *, void *),
                       void *arg);

/* The property names to show: the patterns resolved against the first
 * records (all when nprops is 0 or a pattern is "*"). */
void ps_print_list(FILE *out, const struct ps_records *r, char *const *props, size_t nprops);
/* Columns sized to their widest value. With no props: the first four
 * properties. */
void ps_print_table(FILE *out, const struct ps_records *r, char *const *props, size_t nprops);
/* One object, or an array when there are several (PowerShell's form):
 * True/False as booleans, empty as null, "{a, b}" as arrays, whole
 * numbers as numbers. */
void ps_print_json(FILE *out, const struct ps_records *r);
/* A header row of the first record's properties, then one row each, every
 * field quoted ("" for "). */
void ps_print_csv(FILE *out, const struct ps_records *r);

/* "{a, b}" (a list as Get- shows it) into its items; 0 items for "{}" and
 * for a value that is not a list (then *items is NULL). */
size_t ps_list_items(const char *value, char ***items);
void ps_list_free(char **items, size_t n);

#endif
