/*
 * protolog.c — see protolog.h. One file per UTC day; lines are buffered in
 * stdio and flushed by the service's periodic timer and at disconnects, so
 * logging costs no syscall per SMTP line.
 */
#include "receive/protolog.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

struct protolog {
    char *dir;
    const char *prefix;
    const char *type;
    FILE *f;
    int yday, year;
};

struct protolog *
protolog_open(const char *logs_dir, const char *kind)
{
    struct protolog *pl = xcalloc(1, sizeof(*pl));
    char *parent = xasprintf("%s/ProtocolLog", logs_dir);

    pl->dir = xasprintf("%s/%s", parent, kind);
    (void)mkdir(logs_dir, 0750);
    (void)mkdir(parent, 0750);
    if (mkdir(pl->dir, 0750) < 0 && errno != EEXIST)
        log_warn("protocol log: cannot create %s", pl->dir);
    free(parent);
    pl->prefix = strcmp(kind, "SmtpSend") == 0 ? "SEND" : "RECV";
    pl->type =
        strcmp(kind, "SmtpSend") == 0 ? "SMTP Send Protocol Log" : "SMTP Receive Protocol Log";
    pl->yday = -1;
    return pl;
}

void
protolog_close(struct protolog *pl)
{
    if (pl == NULL)
        return;
    if (pl->f)
        fclose(pl->f);
    free(pl->dir);
    free(pl);
}

void
protolog_flush(struct protolog *pl)
{
    if (pl && pl->f)
        fflush(pl->f);
}

static void
protolog_rotate(struct protolog *pl, const struct tm *tm, const char *stamp)
{
    char name[64];
    char *path;
    long size;

    if (pl->f)
        fclose(pl->f);
    strftime(name, sizeof(name), "%Y%m%d", tm);
    path = xasprintf("%s/%s%s-1.log", pl->dir, pl->prefix, name);
    pl->f = fopen(path, "a");
    if (pl->f == NULL) {
        log_warn("protocol log: cannot open %s", path);
    } else {
        fseek(pl->f, 0, SEEK_END);
        size = ftell(pl->f);
        if (size == 0)
            fprintf(pl->f,
                    "#Software: postern\n#Version: 0.1.0\n#Log-type: %s\n#Date: %s\n"
                    "#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,"
                    "remote-endpoint,event,data,context\n",
                    pl->type, stamp);
    }
    free(path);
    pl->yday = tm->tm_yday;
    pl->year = tm->tm_year;
}

/* CSV field: quoted when it holds a comma, quote or line break. */
static void
csv_field(FILE *f, const char *s)
{
    if (s == NULL)
        return;
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        if (*s == '\r' || *s == '\n')
            continue;
        fputc(*s, f);
    }
    fputc('"', f);
}

void
protolog_write(struct protolog *pl, const char *connector, uint64_t session_id, unsigned sequence,
               const char *local, const char *remote, char event, const char *data,
               const char *context)
{
    struct timeval tv;
    struct tm tm;
    char stamp[40], base[32];

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp, sizeof(stamp), "%s.%03dZ", base, (int)(tv.tv_usec / 1000));
    if (pl->yday != tm.tm_yday || pl->year != tm.tm_year || pl->f == NULL)
        protolog_rotate(pl, &tm, stamp);
    if (pl->f == NULL)
        return;
    fprintf(pl->f, "%s,", stamp);
    csv_field(pl->f, connector);
    fprintf(pl->f, ",%016" PRIX64 ",%u,%s,%s,%c,", session_id, sequence, local, remote, event);
    csv_field(pl->f, data);
    fputc(',', pl->f);
    csv_field(pl->f, context);
    fputc('\n', pl->f);
}
