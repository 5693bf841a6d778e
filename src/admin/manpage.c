/*
 * manpage.c — postern(8) and postern.conf(5) in roff, written at build
 * time (`postern --man 8|5`, meson's custom targets) from the cmdlet
 * declarations (cmdlet_help.c), the configuration's parameter tables
 * (config_param.c) and their meanings (param_help.c): the pages say what
 * Get-Help says, and both what the code accepts.
 * Must never: describe anything that is not in those tables.
 */
#include "admin/manpage.h"
#include "admin/cmdlet_help.h"
#include "admin/param_help.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

/* Text with roff's special characters escaped; a line must not start with
 * '.' or '\''. */
static void
roff(FILE *out, const char *text)
{
    if (*text == '.' || *text == '\'')
        fputs("\\&", out);
    for (; *text; text++) {
        if (*text == '\\')
            fputs("\\e", out);
        else if (*text == '-')
            fputs("\\-", out);
        else
            fputc(*text, out);
    }
}

static void
para(FILE *out, const char *text)
{
    roff(out, text);
    fputc('\n', out);
}

static void
param_values(FILE *out, const struct config_param *p)
{
    if (p->names != NULL) {
        fputs(".br\nValues: ", out);
        for (const struct config_enum_name *e = p->names; e->name; e++) {
            if (e != p->names)
                fputs(", ", out);
            roff(out, e->name);
        }
        fputc('\n', out);
    }
    if (p->def != NULL) {
        fputs(".br\nDefault: ", out);
        para(out, p->def);
    }
    if (p->alias != NULL) {
        fputs(".br\nAlias: ", out);
        para(out, p->alias);
    }
}

static void
write_conf(FILE *out)
{
    fputs(".TH POSTERN.CONF 5 \"\" \"postern\" \"File Formats\"\n.SH NAME\n"
          "postern.conf \\- configuration of a postern instance\n.SH DESCRIPTION\n",
          out);
    para(out, "DIR/postern.conf holds the instance's objects as Exchange names them: one "
              "[TransportConfig] section, then a section per Receive connector, Send connector, "
              "accepted domain, mailbox and DKIM signing configuration (a header such as "
              "[ReceiveConnector \"Default mail\"]), each with Parameter = value lines. The "
              "cmdlets write it (postern(8)); a hand edit is kept when it validates. Lists are "
              "separated by commas; $null unsets a value.");
    for (enum config_kind kind = 0; kind < CONFIG_NKINDS; kind++) {
        const struct config_kind_info *k = config_kind(kind);
        fprintf(out, ".SH %s\n", k->name);
        for (size_t i = 0; i < k->nparams; i++) {
            const struct config_param *p = &k->params[i];
            const char *meaning = param_help(k->name, p->name);
            fprintf(out, ".TP\n.B %s\n", p->name);
            para(out, meaning ? meaning : "");
            param_values(out, p);
        }
    }
    fputs(".SH SEE ALSO\npostern(8)\n", out);
}

static void
write_admin(FILE *out)
{
    size_t n;
    const struct cmdlet_help *all = cmdlet_help_all(&n);

    fputs(".TH POSTERN 8 \"\" \"postern\" \"System Administration\"\n.SH NAME\n"
          "postern \\- mail transfer agent configured with Exchange-style cmdlets\n"
          ".SH SYNOPSIS\n"
          ".B postern\n[\\-D DIR] [\\-d] setup [\\-\\-fqdn NAME] [\\-\\-bind IP:PORT ...]\n.br\n"
          ".B postern\n[\\-D DIR] [\\-d] run [\\-\\-daemon]\n.br\n"
          ".B postern\n[\\-D DIR] check\n.br\n"
          ".B postern\n[\\-D DIR] reload\n.br\n"
          ".B postern\n[\\-D DIR] shell [\\-ErrorAction Continue]\n.br\n"
          ".B postern\n[\\-D DIR] Cmdlet [\\-Parameter value ...] [| Cmdlet ...]\n"
          ".SH DESCRIPTION\n",
          out);
    para(out, "postern receives mail over SMTP, keeps it in a durable queue and sends it on, "
              "with TLS on every hop and mutual-TLS domain security with partner domains. DIR "
              "defaults to $POSTERN_HOME, then /var/lib/postern. Cmdlets take PowerShell's "
              "syntax (quoted as one argument or split into words by the shell), pipelines "
              "(Format-List, Format-Table, Select-Object, Where-Object, ConvertTo-Json, "
              "Export-Csv), -WhatIf and -Confirm; Get-Help Cmdlet explains each one.");
    fputs(".PP\n", out);
    para(out, "postern shell reads the same language from a terminal, or a script from standard "
              "input: a script stops at its first failing line and names it, with the exit "
              "status of that failure (1, or 2 for a usage error). With -ErrorAction Continue "
              "(or SilentlyContinue; alias -ea, also -ErrorAction:Continue) it runs every line, "
              "still naming each failing one, and exits with the status of the first failure.");
    fputs(".PP\n", out);
    para(out, "postern check validates DIR/postern.conf as the service reads it at start and "
              "exits 1 with the file, line and reason when it is not valid (the systemd unit's "
              "ExecStartPre); postern reload applies it to the running service.");
    fputs(".SH CMDLETS\n", out);
    for (size_t i = 0; i < n; i++) {
        struct help_param_view *v;
        size_t np;

        fprintf(out, ".SS %s\n", all[i].name);
        para(out, all[i].synopsis);
        v = cmdlet_help_params(&all[i], &np);
        for (size_t j = 0; j < np; j++) {
            fprintf(out, ".TP\n.B \\-%s\n", v[j].name);
            para(out, cmdlet_help_meaning(&all[i], &v[j]));
            if (v[j].conf != NULL)
                param_values(out, v[j].conf);
        }
        free(v);
        for (const char *const *e = all[i].examples; e && *e; e++) {
            fputs(".PP\n.RS\n", out);
            para(out, *e);
            fputs(".RE\n", out);
        }
    }
    fputs(".SH FILES\nDIR/postern.conf, DIR/certs, DIR/dkim, DIR/queue, DIR/mail, DIR/logs, "
          "DIR/run/control.sock, DIR/shell_history\n.SH SEE ALSO\npostern.conf(5)\n",
          out);
}

int
manpage_write(FILE *out, int section)
{
    if (section == 5)
        write_conf(out);
    else if (section == 8)
        write_admin(out);
    else
        return -1;
    return fflush(out) == 0 ? 0 : -1;
}
