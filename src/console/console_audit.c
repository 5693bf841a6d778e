/*
 * console_audit.c — the console's audit log, DIR/logs/ConsoleAudit.log:
 * one line per change made through the console, succeeded or not, as
 *
 *   2026-12-06T16:10:00Z <TAB> alice <TAB> 127.0.0.1 <TAB> ok|failed <TAB> <command line>
 *
 * written (O_APPEND, one write) before the answer reaches the browser, and
 * read back for the console's Audit Log view.
 * Must never: hold a secret (command lines show (Get-Credential) in its
 * place), or lose a line silently (a failed write is logged).
 */
#include "console/console_int.h"
#include "lib/log.h"
#include "lib/util.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define AUDIT_READ_MAX (2 * 1024 * 1024)

void
console_audit_write(const struct console *c, const char *user, const char *client, bool ok,
                    const char *command)
{
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    int fd;

    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    char *line =
        xasprintf("%s\t%s\t%s\t%s\t%s\n", when, user, client, ok ? "ok" : "failed", command);
    fd = open(c->audit_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || write(fd, line, strlen(line)) != (ssize_t)strlen(line))
        log_warn("console: audit log %s: cannot record \"%s\"", c->audit_path, command);
    if (fd >= 0)
        close(fd);
    free(line);
}

json_t *
console_audit_read(const struct console *c, size_t max)
{
    json_t *list = json_array();
    size_t len = 0;
    char *text = file_read(c->audit_path, &len);
    char *start;

    if (text == NULL)
        return list;
    /* only the newest part of a long file */
    start = len > AUDIT_READ_MAX ? text + len - AUDIT_READ_MAX : text;
    for (char *end = text + len; end > start && json_array_size(list) < max;) {
        char *line_end = end, *line;
        if (line_end > start && line_end[-1] == '\n')
            line_end--;
        line = line_end;
        while (line > start && line[-1] != '\n')
            line--;
        end = line;
        *line_end = '\0';
        char *f[5] = {0}, *p = line;
        int n = 0;
        for (; n < 5 && p != NULL; n++) {
            f[n] = p;
            p = n < 4 ? strchr(p, '\t') : NULL;
            if (p)
                *p++ = '\0';
        }
        if (n == 5 && f[4] != NULL)
            json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:b, s:s}", "time", f[0], "user",
                                                  f[1], "client", f[2], "ok",
                                                  strcmp(f[3], "ok") == 0, "command", f[4]));
    }
    free(text);
    return list;
}
