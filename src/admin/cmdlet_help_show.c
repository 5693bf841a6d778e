/*
 * cmdlet_help_show.c — Get-Help and Get-Command: cmdlet_help.h's
 * declarations and config_param.c's tables (types, defaults, allowed
 * values, ranges) with param_help.c's meanings, printed.
 * Must never: print a default or a value list of its own making; both
 * come from the tables the configuration is validated with.
 */
#include "admin/cmdlet_help.h"
#include "admin/cmdlet_object.h"
#include "lib/util.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH 80

/* PowerShell's name for a configuration parameter's type, as Exchange's
 * documentation gives it. */
static const char *
conf_type(const struct config_param *p)
{
    switch (p->type) {
    case CPT_STRING:
    case CPT_LMTP:
        return "String";
    case CPT_DOMAIN:
        return p->flags & CPF_WILDCARD ? "SmtpDomainWithSubdomains" : "Fqdn";
    case CPT_ADDRESS:
        return "SmtpAddress";
    case CPT_BOOL:
        return "Boolean";
    case CPT_UINT:
        return p->flags & CPF_UNLIMITED ? "Unlimited" : "Int32";
    case CPT_BYTES:
        return "ByteQuantifiedSize";
    case CPT_TIMESPAN:
        return "EnhancedTimeSpan";
    case CPT_ENUM:
        return "Enum";
    case CPT_FLAGS:
        return "MultiValuedProperty";
    case CPT_CREDENTIAL:
        return "PSCredential";
    case CPT_PASSWORD_HASH:
        return "SecureString";
    case CPT_BINDINGS:
    case CPT_IPRANGES:
    case CPT_DOMAINS:
    case CPT_ADDRESS_SPACES:
    case CPT_SMART_HOSTS:
    case CPT_SERVERS:
    case CPT_DNS_SERVERS:
        return "MultiValuedProperty";
    }
    return "String";
}

static const char *
view_type(const struct help_param_view *v)
{
    return v->decl ? v->decl->type : conf_type(v->conf);
}

static bool
view_switch(const struct help_param_view *v)
{
    return v->decl && (v->decl->flags & HP_SWITCH);
}

/* Glues the words of one syntax item ("[-Name <String>]") for wrap(). */
#define GLUE '\x01'

/* Prints text from column indent, words wrapped before WIDTH; GLUE is a
 * space where no line may break. */
static void
wrap(FILE *out, const char *text, int indent)
{
    int col = 0;

    while (*text) {
        size_t word = strcspn(text, " ");
        if (col > indent && col + 1 + (int)word > WIDTH) {
            fputc('\n', out);
            col = 0;
        }
        if (col == 0) {
            fprintf(out, "%*s", indent, "");
            col = indent;
        } else {
            fputc(' ', out);
            col++;
        }
        for (size_t i = 0; i < word; i++)
            fputc(text[i] == GLUE ? ' ' : text[i], out);
        col += (int)word;
        text += word;
        while (*text == ' ')
            text++;
    }
    fputc('\n', out);
}

static void
print_syntax(FILE *out, const struct cmdlet_help *h, const struct help_param_view *v, size_t n)
{
    char *line = xstrdup(h->name), *next;

    for (size_t i = 0; i < n; i++) {
        unsigned f = v[i].decl ? v[i].decl->flags : 0;
        const char *fmt = view_switch(&v[i])                          ? "[-%s]"
                          : (f & HP_POSITIONAL) && (f & HP_MANDATORY) ? "[-%s]\x01<%s>"
                          : (f & HP_POSITIONAL)                       ? "[[-%s]\x01<%s>]"
                          : (f & HP_MANDATORY)                        ? "-%s\x01<%s>"
                                                                      : "[-%s\x01<%s>]";
        char *item = xasprintf(fmt, v[i].name, view_type(&v[i]));
        next = xasprintf("%s %s", line, item);
        free(item);
        free(line);
        line = next;
    }
    wrap(out, line, 4);
    free(line);
}

/* The values a parameter takes, from its table. */
static void
print_values(FILE *out, const struct config_param *p)
{
    char buf[512] = "";

    if (p->names != NULL) {
        for (const struct config_enum_name *e = p->names; e->name; e++)
            snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", buf[0] ? ", " : "",
                     e->name);
        char *line = xasprintf("Values: %s%s", buf,
                               p->type == CPT_FLAGS ? " (several, separated by commas)" : "");
        wrap(out, line, 8);
        free(line);
    }
    if ((p->type == CPT_UINT || p->type == CPT_BYTES || p->type == CPT_TIMESPAN) &&
        (p->min != 0 || p->max != 0))
        fprintf(out, "        Range: %llu to %llu%s%s\n", (unsigned long long)p->min,
                (unsigned long long)p->max,
                p->type == CPT_BYTES      ? " bytes"
                : p->type == CPT_TIMESPAN ? " seconds"
                                          : "",
                p->flags & CPF_UNLIMITED ? ", or Unlimited" : "");
}

static void
print_param(FILE *out, const struct cmdlet_help *h, const struct help_param_view *v, int position)
{
    const char *meaning;

    if (view_switch(v))
        fprintf(out, "    -%s\n", v->name);
    else
        fprintf(out, "    -%s <%s>\n", v->name, view_type(v));
    meaning = cmdlet_help_meaning(h, v);
    wrap(out, meaning, 8);
    if (v->conf != NULL) {
        print_values(out, v->conf);
        if (v->conf->def != NULL)
            fprintf(out, "        Default: %s\n", v->conf->def);
        if (v->conf->alias != NULL)
            fprintf(out, "        Alias: %s\n", v->conf->alias);
        if (v->conf->flags & CPF_NEW_ONLY)
            fprintf(out, "        Set when the object is created (New- only).\n");
    }
    if (v->decl && (v->decl->flags & (HP_MANDATORY | HP_POSITIONAL)))
        fprintf(out, "        Required: %s; position: %s\n",
                v->decl->flags & HP_MANDATORY ? "true" : "false", position >= 0 ? "0" : "named");
    fputc('\n', out);
}

static void
print_examples(FILE *out, const struct cmdlet_help *h)
{
    fprintf(out, "EXAMPLES\n");
    if (h->examples == NULL || h->examples[0] == NULL)
        fprintf(out, "    (none)\n");
    for (const char *const *e = h->examples; e && *e; e++) {
        char *line = xasprintf("PS> %s", *e);
        wrap(out, line, 4);
        free(line);
    }
    fputc('\n', out);
}

static int
usage_error(struct cmdlet_ctx *ctx, const char *msg)
{
    cmdlet_error(ctx, "%s", msg);
    return CMDLET_USAGE;
}

int
cmdlet_get_help(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    const char *name = NULL, *param = NULL;
    bool examples = false, full = false;
    char msg[512];
    const struct cmdlet_help *h;
    struct help_param_view *v;
    size_t n;
    int shown = 0;

    if (cmdlet_args_string(a, "Name", &name, msg, sizeof(msg)) < 0 ||
        cmdlet_args_string(a, "Parameter", &param, msg, sizeof(msg)) < 0 ||
        cmdlet_args_bool(a, "Examples", &examples, msg, sizeof(msg)) < 0 ||
        cmdlet_args_bool(a, "Full", &full, msg, sizeof(msg)) < 0)
        return usage_error(ctx, msg);
    if (name == NULL)
        name = cmdlet_args_positional(a);
    if (cmdlet_args_check_unused(a, msg, sizeof(msg)) < 0)
        return usage_error(ctx, msg);
    if (name == NULL) {
        fprintf(ctx->out, "Get-Help <Cmdlet> [-Parameter Name] [-Examples] [-Full]\n"
                          "Get-Command lists the cmdlets; Get-Command -Noun ReceiveConnector "
                          "those of one kind.\n");
        return CMDLET_OK;
    }
    if ((h = cmdlet_help_find(name)) == NULL) {
        cmdlet_error(ctx, "Name: no cmdlet '%s' (Get-Command lists them)", name);
        return CMDLET_ERROR;
    }
    v = cmdlet_help_params(h, &n);
    if (param != NULL) {
        for (size_t i = 0; i < n; i++) {
            if (fnmatch(param, v[i].name, FNM_CASEFOLD) != 0)
                continue;
            print_param(ctx->out, h, &v[i],
                        v[i].decl && (v[i].decl->flags & HP_POSITIONAL) ? 0 : -1);
            shown++;
        }
        free(v);
        if (shown == 0) {
            cmdlet_error(ctx, "Parameter: %s has no parameter '%s'", h->name, param);
            return CMDLET_ERROR;
        }
        return CMDLET_OK;
    }
    fprintf(ctx->out, "NAME\n    %s\n\nSYNOPSIS\n", h->name);
    wrap(ctx->out, h->synopsis, 4);
    if (!examples) {
        fprintf(ctx->out, "\nSYNTAX\n");
        print_syntax(ctx->out, h, v, n);
        fprintf(ctx->out, "\nPARAMETERS\n");
        for (size_t i = 0; i < n; i++)
            print_param(ctx->out, h, &v[i],
                        v[i].decl && (v[i].decl->flags & HP_POSITIONAL) ? 0 : -1);
    } else {
        fputc('\n', ctx->out);
    }
    if (examples || full)
        print_examples(ctx->out, h);
    free(v);
    return CMDLET_OK;
}

int
cmdlet_get_command(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    const char *name = NULL, *noun = NULL, *verb = NULL;
    char msg[512];
    size_t n;
    const struct cmdlet_help *all = cmdlet_help_all(&n);
    bool first = true;

    if (cmdlet_args_string(a, "Name", &name, msg, sizeof(msg)) < 0 ||
        cmdlet_args_string(a, "Noun", &noun, msg, sizeof(msg)) < 0 ||
        cmdlet_args_string(a, "Verb", &verb, msg, sizeof(msg)) < 0)
        return usage_error(ctx, msg);
    if (name == NULL)
        name = cmdlet_args_positional(a);
    if (cmdlet_args_check_unused(a, msg, sizeof(msg)) < 0)
        return usage_error(ctx, msg);
    for (size_t i = 0; i < n; i++) {
        const char *dash = strchr(all[i].name, '-');
        char *v = xstrndup(all[i].name, (size_t)(dash - all[i].name));
        bool match = (name == NULL || fnmatch(name, all[i].name, FNM_CASEFOLD) == 0) &&
                     (noun == NULL || fnmatch(noun, dash + 1, FNM_CASEFOLD) == 0) &&
                     (verb == NULL || fnmatch(verb, v, FNM_CASEFOLD) == 0);
        if (match) {
            fprintf(ctx->out, "%s%-8s : %s\n%-8s : %s\n%-8s : %s\n%-8s : %s\n", first ? "" : "\n",
                    "Name", all[i].name, "Verb", v, "Noun", dash + 1, "Synopsis", all[i].synopsis);
            first = false;
        }
        free(v);
    }
    if (first) {
        cmdlet_error(ctx, "no cmdlet matches");
        return CMDLET_ERROR;
    }
    return CMDLET_OK;
}
