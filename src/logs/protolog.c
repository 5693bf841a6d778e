/*
 * protolog.c — see protolog.h. The file machinery (one file per UTC day,
 * header lines, CSV quoting, buffering until the service's periodic timer
 * or a disconnect flushes) is logs/csvlog.c's; this file names the two logs
 * and lays out their rows.
 *
 * Must never: log a password or AUTH response (callers redact), or block
 * on a flush per SMTP line.
 */
#include "logs/protolog.h"
#include "logs/csvlog.h"
#include "lib/util.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct protolog {
    struct csvlog *log;
};

#define PROTOLOG_FIELDS                                                                            \
    "date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,"      \
    "data,context"

static const struct csvlog_spec protolog_specs[2] = {
    {
        .what = "protocol log",
        .subdir = "ProtocolLog/SmtpReceive",
        .prefix = "RECV",
        .log_type = "SMTP Receive Protocol Log",
        .fields = PROTOLOG_FIELDS,
        .mode = 0666, /* as fopen(3) creates files: the umask decides */
    },
    {
        .what = "protocol log",
        .subdir = "ProtocolLog/SmtpSend",
        .prefix = "SEND",
        .log_type = "SMTP Send Protocol Log",
        .fields = PROTOLOG_FIELDS,
        .mode = 0666,
    },
};

const struct csvlog_spec *
protolog_spec(const char *kind)
{
    return &protolog_specs[strcmp(kind, "SmtpSend") == 0];
}

struct protolog *
protolog_open(const char *logs_dir, const char *kind)
{
    struct protolog *pl = xcalloc(1, sizeof(*pl));

    pl->log = csvlog_open(logs_dir, protolog_spec(kind));
    return pl;
}

struct protolog *
protolog_open_remote(const char *kind, csvlog_opener_fn *open_day, void *arg)
{
    struct protolog *pl = xcalloc(1, sizeof(*pl));

    pl->log = csvlog_open_remote(protolog_spec(kind), open_day, arg);
    return pl;
}

void
protolog_close(struct protolog *pl)
{
    if (pl == NULL)
        return;
    csvlog_close(pl->log);
    free(pl);
}

void
protolog_flush(struct protolog *pl)
{
    if (pl != NULL)
        csvlog_flush(pl->log);
}

void
protolog_write(struct protolog *pl, const char *connector, uint64_t session_id, unsigned sequence,
               const char *local, const char *remote, char event, const char *data,
               const char *context)
{
    if (pl == NULL || !csvlog_row_begin(pl->log))
        return;
    csvlog_field(pl->log, connector);
    csvlog_fieldf(pl->log, "%016" PRIX64, session_id);
    csvlog_fieldf(pl->log, "%u", sequence);
    csvlog_fieldf(pl->log, "%s", local);
    csvlog_fieldf(pl->log, "%s", remote);
    csvlog_fieldf(pl->log, "%c", event);
    csvlog_field(pl->log, data);
    csvlog_field(pl->log, context);
    csvlog_row_end(pl->log);
}
