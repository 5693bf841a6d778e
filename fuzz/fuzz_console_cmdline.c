/*
 * fuzz_console_cmdline.c — libFuzzer target for the management console's
 * request bodies: JSON read as the console reads it (jansson, duplicates
 * refused), then turned into command lines by console_cmdline_build
 * (src/console/console_cmdline.c).
 *
 * Besides memory errors, leaks and UB it checks what the console promises:
 * an accepted request's line reads back through the shell's own parser as
 * exactly one command, of the cmdlet named, whose every parameter is the
 * full name of one the request gave, and holds no line end; a secret is one line for
 * standard input; a refusal says why.
 * Must never: run a cmdlet, or touch a file.
 */
#include "admin/cmdlet_help.h"
#include "admin/ps_parse.h"
#include "console/console_int.h"

#include <jansson.h>
#include <stdint.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_line(const char *line, json_t *req)
{
    struct ps_script script;
    char err[512];

    if (strpbrk(line, "\r\n") != NULL)
        abort();
    if (ps_parse_text(line, &script, NULL, err, sizeof(err)) < 0)
        abort();
    if (script.npipes != 1 || script.pipes[0].ncmds != 1)
        abort();
    const struct ps_command *cmd = &script.pipes[0].cmds[0];
    if (strcasecmp(cmd->name, json_string_value(json_object_get(req, "cmdlet"))) != 0)
        abort();
    /* each parameter written is the full name of one the request gave */
    const struct cmdlet_help *h = cmdlet_help_find(cmd->name);
    for (size_t i = 0; i < cmd->nelems; i++) {
        const char *given;
        json_t *v;
        bool found = cmd->elems[i].name == NULL;
        json_object_foreach(json_object_get(req, "params"), given, v)
        {
            const char *full = cmdlet_help_resolve(h, given, err, sizeof(err));
            found = found || (full != NULL && strcasecmp(full, cmd->elems[i].name) == 0);
        }
        if (!found)
            abort();
    }
    ps_script_free(&script);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *req = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    struct console_cmdline cl;
    char err[512] = "";

    if (req == NULL)
        return 0;
    if (console_cmdline_build(req, "/tmp/postern-console-0/upload", &cl, err, sizeof(err)) < 0) {
        if (err[0] == '\0' || cl.run != NULL)
            abort();
    } else {
        check_line(cl.run, req);
        check_line(cl.shown, req);
        /* a secret goes to standard input, as one line */
        if (cl.secret != NULL && strchr(cl.secret, '\n') != cl.secret + strlen(cl.secret) - 1)
            abort();
        console_cmdline_free(&cl);
    }
    json_decref(req);
    return 0;
}
