/*
 * ps_parse.h — the command language of the management shell: the subset of
 * PowerShell that Exchange administrators type, read into commands and
 * values. One parser serves the command line, `postern shell` and scripts.
 *
 *   Set-TransportConfig -TLSReceiveDomainSecureList contoso.com, contoso.net
 *   Set-ReceiveConnector "Default mail" -RequireTLS:$true; Get-ReceiveConnector | fl
 *   Set-ReceiveConnector X -RemoteIPRanges @{Add="10.0.0.0/8"; Remove="192.168.0.0/16"}
 *   Get-SendConnector | Where-Object {$_.Enabled -eq $true} | ft Name,SmartHosts
 *
 * Recognised: statements separated by ';' or line ends, pipelines ('|'),
 * parameters (-Name, -Name:value), bare words, 'literal' and "expandable"
 * strings (backtick escapes; "$var" is refused rather than expanded to
 * nothing), $true $false $null and $_.Property, comma lists, @(...), @{k=v;
 * ...}, { script blocks } (kept as text for Where-Object), (Get-Credential),
 * backtick line continuation and # comments.
 *
 * Must never: execute anything, or accept text it does not understand as
 * something else (an error names the line and column instead).
 */
#ifndef POSTERN_PS_PARSE_H
#define POSTERN_PS_PARSE_H

#include <stdbool.h>
#include <stddef.h>

enum ps_value_kind {
    PSV_STRING,  /* text; quoted says whether it was written in quotes */
    PSV_BOOL,    /* $true / $false */
    PSV_NULL,    /* $null */
    PSV_ARRAY,   /* a, b, c   @(a, b) */
    PSV_HASH,    /* @{Key = value; ...} */
    PSV_BLOCK,   /* { ... }: text is what is between the braces */
    PSV_CURRENT, /* $_ or $_.Property (text: the property, "" for $_) */
    PSV_SUBEXPR, /* (Command): text is the command name */
};

struct ps_value {
    enum ps_value_kind kind;
    char *text;
    bool quoted;
    bool truth;              /* PSV_BOOL */
    struct ps_value **items; /* PSV_ARRAY items, PSV_HASH values */
    char **keys;             /* PSV_HASH keys */
    size_t nitems;
};

/* One element of a command: a parameter (name set; value when written as
 * -Name:value) or a value (name NULL). Which value a -Name takes when it
 * is not attached is the binder's business: it knows the switches. */
struct ps_element {
    char *name;
    struct ps_value *value;
};

struct ps_command {
    char *name;
    struct ps_element *elems;
    size_t nelems;
};

struct ps_pipeline {
    struct ps_command *cmds;
    size_t ncmds;
    unsigned line; /* where it starts, for messages */
};

struct ps_script {
    struct ps_pipeline *pipes;
    size_t npipes;
};

/* Parses text (a line, several, or a whole script). 0, or -1 with
 * "line L, column C: reason" in err; *incomplete (may be NULL) then says
 * whether more text could complete it (an open quote, brace or
 * parenthesis, a trailing '|', ',' or backtick): the shell reads another
 * line. */
int ps_parse_text(const char *text, struct ps_script *out, bool *incomplete, char *err,
                  size_t errlen);

/* Parses a command line the POSIX shell already split into words: a word
 * with blanks in it (the user quoted it) is one literal string, unless it
 * starts as a block or collection ('{', '@{', '@('); any other word is
 * read as language text, so "contoso.com," "contoso.net" is a list and
 * '|' 'fl' a pipeline. One word alone is read as a whole command line. */
int ps_parse_argv(int argc, char **argv, struct ps_script *out, char *err, size_t errlen);

void ps_script_free(struct ps_script *s);
void ps_value_free(struct ps_value *v);

/* The value as cmdlet argument text, in the syntax the configuration's
 * parsers take: lists joined with ',', @{Add=a,b; Remove=c}, $true,
 * $false, $null. malloc'd; wipe it when it may hold a secret. */
char *ps_value_text(const struct ps_value *v);

#endif
