/*
 * cmdlet_tracking.c — Get-MessageTrackingLog: searches the message
 * tracking log (logs/msgtrack.h: DIR/logs/MessageTracking/MSGTRKyyyymmdd-N.log,
 * one CSV file per UTC day) as Exchange 2007's cmdlet does, and prints each
 * event found as an object in Format-List form with Exchange's property
 * names, oldest first.
 *
 * The filters (-Sender, -Recipients, -MessageId, -InternalMessageId,
 * -EventId, -Start, -End) all apply; -Start and -End also choose which
 * daily files are read. Each file's #Fields header says where each field
 * is; a line that does not parse (a broken quote, the wrong number of
 * fields, a bad date-time, a NUL byte, over a megabyte) is skipped. Rows
 * are sorted by their date-time within each day's file, since two
 * processes append to it, each flushing on its own timer.
 * Must never: read a file outside DIR/logs/MessageTracking (or follow a
 * symbolic link there, or read anything but a regular file named as the
 * log's), change the log, or print a control character (a value may not
 * break the Format-List lines a pipeline reads back).
 */
#include "admin/cmdlet_tracking.h"
#include "admin/cmdlet_object.h"
#include "lib/util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define TRK_DIR "logs/MessageTracking"
#define TRK_PREFIX "MSGTRK"
#define DEFAULT_RESULT_SIZE 1000 /* Exchange's default -ResultSize */
#define MAX_LINE (1024 * 1024)   /* a longer line is damage: skipped */
#define MAX_COLUMNS 64           /* fields of a #Fields header or a row */
#define DAY_MS (86400 * (int64_t)1000)

/* The log's fields (logs/msgtrack.c), in Exchange's order, and the
 * property each is shown as. */
enum trk_field {
    F_DATE,
    F_CLIENT_IP,
    F_CLIENT_HOSTNAME,
    F_SERVER_IP,
    F_SERVER_HOSTNAME,
    F_SOURCE_CONTEXT,
    F_CONNECTOR_ID,
    F_SOURCE,
    F_EVENT_ID,
    F_INTERNAL_MESSAGE_ID,
    F_MESSAGE_ID,
    F_RECIPIENT_ADDRESS,
    F_RECIPIENT_STATUS,
    F_TOTAL_BYTES,
    F_RECIPIENT_COUNT,
    F_RELATED_RECIPIENT_ADDRESS,
    F_REFERENCE,
    F_MESSAGE_SUBJECT,
    F_SENDER_ADDRESS,
    F_RETURN_PATH,
    F_MESSAGE_INFO,
    NFIELDS
};

static const struct {
    const char *field;    /* in the #Fields header */
    const char *property; /* Exchange's property */
    bool list;            /* a multi-valued property: ';' in the log, {a, b} shown */
} fields[NFIELDS] = {
    {"date-time", "Timestamp", false},
    {"client-ip", "ClientIp", false},
    {"client-hostname", "ClientHostname", false},
    {"server-ip", "ServerIp", false},
    {"server-hostname", "ServerHostname", false},
    {"source-context", "SourceContext", false},
    {"connector-id", "ConnectorId", false},
    {"source", "Source", false},
    {"event-id", "EventId", false},
    {"internal-message-id", "InternalMessageId", false},
    {"message-id", "MessageId", false},
    {"recipient-address", "Recipients", true},
    {"recipient-status", "RecipientStatus", true},
    {"total-bytes", "TotalBytes", false},
    {"recipient-count", "RecipientCount", false},
    {"related-recipient-address", "RelatedRecipientAddress", false},
    {"reference", "Reference", false},
    {"message-subject", "MessageSubject", false},
    {"sender-address", "Sender", false},
    {"return-path", "ReturnPath", false},
    {"message-info", "MessageInfo", false},
};

/* ---- the pure parts (cmdlet_tracking.h) ---- */

int
tracking_csv_split(char *line, char **out, size_t max)
{
    char *r = line, *w;
    size_t n = 0;

    for (;;) {
        if (n == max)
            return -1;
        out[n++] = w = r;
        if (*r == '"') {
            for (r++;; r++) {
                if (*r == '\0')
                    return -1; /* no closing quote */
                if (*r == '"' && r[1] != '"')
                    break;
                if (*r == '"')
                    r++; /* "" stands for one " */
                *w++ = *r;
            }
            r++;
            if (*r != ',' && *r != '\0')
                return -1;
        } else {
            for (; *r != ',' && *r != '\0'; r++) {
                if (*r == '"')
                    return -1;
                *w++ = *r;
            }
        }
        if (*r == '\0') {
            *w = '\0';
            return (int)n;
        }
        *w = '\0';
        r++;
    }
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar. */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool
leap_year(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* n digits at *p into *v; advances *p. */
static bool
digits(const char **p, int n, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        *v = *v * 10 + (unsigned)((*p)[i] - '0');
    }
    *p += n;
    return true;
}

int
tracking_time_parse(const char *text, int64_t *ms)
{
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = text;
    unsigned y, mo, d, h = 0, mi = 0, s = 0, frac = 0, oh = 0, om = 0;
    int sign = 0;

    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap_year(y)))
        return -1;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
            return -1;
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &s))
                return -1;
            if (*p == '.' || *p == ',') {
                int scale = 100;
                p++;
                if (!isdigit((unsigned char)*p))
                    return -1;
                for (; isdigit((unsigned char)*p); p++, scale /= 10)
                    frac += (unsigned)(*p - '0') * (unsigned)scale;
            }
        }
        if (h > 23 || mi > 59 || s > 59)
            return -1;
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            sign = *p++ == '+' ? 1 : -1;
            if (!digits(&p, 2, &oh))
                return -1;
            if (*p == ':')
                p++;
            if (isdigit((unsigned char)*p) && !digits(&p, 2, &om))
                return -1;
            if (oh > 23 || om > 59)
                return -1;
        }
    }
    if (*p != '\0')
        return -1;
    *ms = ((days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + s -
            sign * ((int64_t)oh * 3600 + (int64_t)om * 60)) *
           1000) +
          frac;
    return 0;
}

bool
tracking_file_name(const char *name, int64_t *day, unsigned long *seq)
{
    size_t plen = strlen(TRK_PREFIX), n;
    const char *p = name;
    char date[16];

    if (strncmp(p, TRK_PREFIX, plen) != 0)
        return false;
    p += plen;
    for (n = 0; n < 8; n++)
        if (!isdigit((unsigned char)p[n]))
            return false;
    snprintf(date, sizeof(date), "%.4s-%.2s-%.2s", p, p + 4, p + 6);
    if (tracking_time_parse(date, day) < 0)
        return false;
    p += 8;
    if (*p++ != '-' || !isdigit((unsigned char)*p))
        return false;
    for (*seq = 0, n = 0; isdigit((unsigned char)*p); p++, n++) {
        if (n >= 9)
            return false;
        *seq = *seq * 10 + (unsigned long)(*p - '0');
    }
    return strcmp(p, ".log") == 0;
}

/* ---- the search ---- */

struct trk_filter {
    const char *sender;
    char *sender_owned; /* the sender without its <>, when given with them */
    char **recipients;
    size_t nrecipients;
    const char *message_id;
    const char *internal_id;
    const char *event_id;
    bool have_start, have_end;
    int64_t start, end; /* start <= date-time < end */
};

/* One event found: its fields copied into one block. */
struct trk_row {
    int64_t ms;
    size_t seq; /* its place in the file: equal times keep the file's order */
    char *block;
    const char *f[NFIELDS];
};

struct trk_search {
    struct cmdlet_ctx *ctx;
    const struct trk_filter *filter;
    size_t limit;    /* 0: Unlimited */
    bool warn_limit; /* the default limit: say when it cut the results off */
    size_t shown;
    bool full; /* limit reached: only looking whether there is more */
    bool more; /* there was more than the limit */
    struct trk_row *rows;
    size_t nrows, caprows;
    size_t seq; /* rows met so far: ties in time keep the file's order */
};

/* "<id@host>" and "id@host" are the same Message-ID. */
static bool
msgid_equal(const char *a, const char *b)
{
    size_t la, lb;

    if (*a == '<')
        a++;
    if (*b == '<')
        b++;
    la = strlen(a);
    lb = strlen(b);
    if (la > 0 && a[la - 1] == '>')
        la--;
    if (lb > 0 && b[lb - 1] == '>')
        lb--;
    return la == lb && strncasecmp(a, b, la) == 0;
}

/* Does one of the ';'-separated addresses in list equal one of want? */
static bool
any_recipient(const char *list, char *const *want, size_t nwant)
{
    while (*list) {
        size_t len = strcspn(list, ";");
        for (size_t i = 0; i < nwant; i++)
            if (strlen(want[i]) == len && strncasecmp(list, want[i], len) == 0)
                return true;
        list += len;
        if (*list == ';')
            list++;
    }
    return false;
}

static bool
row_matches(const struct trk_filter *flt, int64_t ms, const char *const *f)
{
    if ((flt->have_start && ms < flt->start) || (flt->have_end && ms >= flt->end))
        return false;
    if (flt->sender && strcasecmp(f[F_SENDER_ADDRESS], flt->sender) != 0)
        return false;
    if (flt->event_id && strcasecmp(f[F_EVENT_ID], flt->event_id) != 0)
        return false;
    if (flt->internal_id && strcasecmp(f[F_INTERNAL_MESSAGE_ID], flt->internal_id) != 0)
        return false;
    if (flt->message_id && !msgid_equal(f[F_MESSAGE_ID], flt->message_id))
        return false;
    if (flt->nrecipients > 0 &&
        !any_recipient(f[F_RECIPIENT_ADDRESS], flt->recipients, flt->nrecipients))
        return false;
    return true;
}

/* Where each known field is in a row: its column, or -1. The layout
 * msgtrack.c writes until a #Fields header says otherwise. */
static void
columns_default(int *col, size_t *ncols)
{
    for (int i = 0; i < NFIELDS; i++)
        col[i] = i;
    *ncols = NFIELDS;
}

/* "#Fields: date-time,client-ip,..." */
static void
columns_from_header(char *names, int *col, size_t *ncols)
{
    char *v[MAX_COLUMNS];
    int n = tracking_csv_split(names, v, MAX_COLUMNS);

    if (n <= 0)
        return; /* not one we can read: the rows will not match it either */
    for (int i = 0; i < NFIELDS; i++) {
        col[i] = -1;
        for (int c = 0; c < n; c++)
            if (strcasecmp(str_trim(v[c]), fields[i].field) == 0)
                col[i] = c;
    }
    *ncols = (size_t)n;
}

static int
row_cmp(const void *a, const void *b)
{
    const struct trk_row *x = a, *y = b;

    if (x->ms != y->ms)
        return x->ms < y->ms ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* With a limit, a day's rows need not all be held: once twice as many as
 * could still be shown are kept, the oldest of them stay (the ones after
 * would never be shown; one more stays, so that "more" is still known). */
static void
rows_trim(struct trk_search *s)
{
    size_t keep = s->limit - (s->shown < s->limit ? s->shown : s->limit) + 1;

    qsort(s->rows, s->nrows, sizeof(*s->rows), row_cmp);
    for (size_t i = keep; i < s->nrows; i++)
        free(s->rows[i].block);
    s->nrows = keep;
}

static void
row_keep(struct trk_search *s, int64_t ms, const char *const *f)
{
    struct trk_row *r;
    size_t len = 0;
    char *p;

    if (s->limit > 0 && s->nrows >= 2 * (s->limit + 1) && s->nrows >= 64)
        rows_trim(s);
    if (s->nrows == s->caprows) {
        s->caprows = s->caprows ? s->caprows * 2 : 64;
        s->rows = xrealloc(s->rows, s->caprows * sizeof(*s->rows));
    }
    r = &s->rows[s->nrows];
    r->ms = ms;
    r->seq = s->seq++;
    s->nrows++;
    for (int i = 0; i < NFIELDS; i++)
        len += strlen(f[i]) + 1;
    p = r->block = xmalloc(len);
    for (int i = 0; i < NFIELDS; i++) {
        size_t l = strlen(f[i]) + 1;
        memcpy(p, f[i], l);
        r->f[i] = p;
        p += l;
    }
}

static void
rows_free(struct trk_search *s)
{
    for (size_t i = 0; i < s->nrows; i++)
        free(s->rows[i].block);
    s->nrows = 0;
}

/* A value as one Format-List line can carry it: control characters
 * (a damaged file's) become '?'. */
static void
put_value(FILE *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        fputc(c < 0x20 || c == 0x7f ? '?' : c, out);
    }
}

static void
print_row(FILE *out, const struct trk_row *r)
{
    int width = (int)strlen("RelatedRecipientAddress");

    for (int i = 0; i < NFIELDS; i++) {
        const char *v = r->f[i];
        if (fields[i].list) {
            /* a;b as {a, b}, the way Get- shows every list */
            fprintf(out, "%-*s : {", width, fields[i].property);
            for (const char *p = v; *p;) {
                size_t len = strcspn(p, ";");
                if (p != v)
                    fputs(", ", out);
                put_value(out, p, len);
                p += len;
                if (*p == ';')
                    p++;
            }
            fputs("}\n", out);
        } else if (*v == '\0') {
            fprintf(out, "%-*s :\n", width, fields[i].property);
        } else {
            fprintf(out, "%-*s : ", width, fields[i].property);
            put_value(out, v, strlen(v));
            fputc('\n', out);
        }
    }
}

/* Prints the rows kept from one file, oldest first, up to the limit. */
static void
rows_show(struct trk_search *s)
{
    if (s->nrows > 1)
        qsort(s->rows, s->nrows, sizeof(*s->rows), row_cmp);
    for (size_t i = 0; i < s->nrows; i++) {
        if (s->limit > 0 && s->shown >= s->limit) {
            s->full = s->more = true;
            break;
        }
        if (s->shown++ > 0)
            fputc('\n', s->ctx->out);
        print_row(s->ctx->out, &s->rows[i]);
    }
    if (s->limit > 0 && s->shown >= s->limit)
        s->full = true;
    rows_free(s);
}

enum line_kind { LINE_OK, LINE_BAD, LINE_EOF };

/* The next line of f, without its line end, in *buf. LINE_BAD for a line
 * to skip: over MAX_LINE, holding a NUL byte, or the last one without its
 * line end (being written now, or cut short). */
static enum line_kind
next_line(FILE *f, char **buf, size_t *cap)
{
    size_t len = 0;
    bool bad = false;
    int c;

    while ((c = getc_unlocked(f)) != EOF && c != '\n') {
        if (c == '\0' || len >= MAX_LINE) {
            bad = true;
            continue;
        }
        if (len + 1 >= *cap) {
            *cap = *cap ? *cap * 2 : 4096;
            *buf = xrealloc(*buf, *cap);
        }
        (*buf)[len++] = (char)c;
    }
    if (c == EOF)
        return len > 0 || bad ? LINE_BAD : LINE_EOF;
    if (*buf == NULL) {
        *cap = 4096;
        *buf = xmalloc(*cap);
    }
    if (len > 0 && (*buf)[len - 1] == '\r')
        len--;
    (*buf)[len] = '\0';
    return bad ? LINE_BAD : LINE_OK;
}

/* Reads one daily file; 0, or -1 when it cannot be read (printed). */
static int
search_file(struct trk_search *s, int dfd, const char *dir, const char *name)
{
    int col[NFIELDS];
    size_t ncols, cap = 0;
    char *line = NULL;
    enum line_kind k;
    struct stat st;
    FILE *f;
    int fd;

    fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ELOOP)
            return 0; /* removed since the directory was read, or a symbolic link */
        cmdlet_error(s->ctx, "cannot read %s/%s: %s", dir, name, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return 0; /* not a log file, whatever its name */
    }
    if ((f = fdopen(fd, "r")) == NULL) {
        cmdlet_error(s->ctx, "cannot read %s/%s: %s", dir, name, strerror(errno));
        close(fd);
        return -1;
    }
    columns_default(col, &ncols);
    while ((k = next_line(f, &line, &cap)) != LINE_EOF) {
        char *v[MAX_COLUMNS];
        const char *fv[NFIELDS];
        int64_t ms;
        int n;

        if (k == LINE_BAD)
            continue;
        if (line[0] == '#') {
            if (strncmp(line, "#Fields:", 8) == 0)
                columns_from_header(line + 8, col, &ncols);
            continue;
        }
        if ((n = tracking_csv_split(line, v, MAX_COLUMNS)) < 0 || (size_t)n != ncols)
            continue; /* damaged */
        for (int i = 0; i < NFIELDS; i++)
            fv[i] = col[i] >= 0 ? v[col[i]] : "";
        if (tracking_time_parse(fv[F_DATE], &ms) < 0)
            continue;
        if (!row_matches(s->filter, ms, fv))
            continue;
        if (s->full) { /* past the limit: there is more, that is all we wanted */
            s->more = true;
            break;
        }
        row_keep(s, ms, fv);
    }
    free(line);
    fclose(f);
    rows_show(s);
    return 0;
}

struct trk_file {
    char *name;
    int64_t day;
    unsigned long seq;
};

static int
file_cmp(const void *a, const void *b)
{
    const struct trk_file *x = a, *y = b;

    if (x->day != y->day)
        return x->day < y->day ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The daily files the window may hold rows of, oldest first; NULL with
 * *n 0 when there are none. */
static struct trk_file *
files_list(DIR *d, const struct trk_filter *flt, size_t *n)
{
    struct trk_file *files = NULL;
    size_t cap = 0;
    struct dirent *e;

    *n = 0;
    while ((e = readdir(d)) != NULL) {
        struct trk_file t;
        if (!tracking_file_name(e->d_name, &t.day, &t.seq))
            continue;
        if ((flt->have_start && t.day + DAY_MS <= flt->start) ||
            (flt->have_end && t.day >= flt->end))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            files = xrealloc(files, cap * sizeof(*files));
        }
        t.name = xstrdup(e->d_name);
        files[(*n)++] = t;
    }
    if (*n > 1)
        qsort(files, *n, sizeof(*files), file_cmp);
    return files;
}

/* -Start/-End: 1 given (in *ms), 0 not, -1 bad (printed). */
static int
time_arg(struct cmdlet_ctx *ctx, struct cmdlet_args *a, const char *name, int64_t *ms)
{
    const char *v = NULL;
    char msg[512];
    int rc = cmdlet_args_string(a, name, &v, msg, sizeof(msg));

    if (rc < 0) {
        cmdlet_error(ctx, "%s", msg);
        return -1;
    }
    if (rc == 0)
        return 0;
    if (tracking_time_parse(v, ms) < 0) {
        cmdlet_error(ctx,
                     "%s: '%s' is not a date-time (2026-12-06, 2026-12-06 10:00 or "
                     "2026-12-06T10:00:00Z; UTC unless a zone is given)",
                     name, v);
        return -1;
    }
    return 1;
}

/* -ResultSize N or Unlimited (*limit 0). */
static int
result_size_arg(struct cmdlet_ctx *ctx, struct cmdlet_args *a, size_t *limit, bool *given)
{
    const char *v = NULL, *p;
    char msg[512];
    int rc = cmdlet_args_string(a, "ResultSize", &v, msg, sizeof(msg));
    unsigned long long n = 0;

    *given = rc == 1;
    if (rc < 0) {
        cmdlet_error(ctx, "%s", msg);
        return -1;
    }
    if (rc == 0)
        return 0;
    if (strcasecmp(v, "Unlimited") == 0) {
        *limit = 0;
        return 0;
    }
    for (p = v; isdigit((unsigned char)*p) && n <= SIZE_MAX / 10; p++)
        n = n * 10 + (unsigned)(*p - '0');
    if (p == v || *p != '\0' || n == 0 || n > SIZE_MAX) {
        cmdlet_error(ctx, "ResultSize: '%s' is not a whole number from 1, or Unlimited", v);
        return -1;
    }
    *limit = (size_t)n;
    return 0;
}

/* Takes the arguments into flt; CMDLET_OK or CMDLET_USAGE (printed). */
static int
filter_args(struct cmdlet_ctx *ctx, struct cmdlet_args *a, struct trk_filter *flt, size_t *limit,
            bool *limit_given)
{
    char msg[512];
    int r;

    if (cmdlet_args_string(a, "Sender", &flt->sender, msg, sizeof(msg)) < 0 ||
        cmdlet_args_list(a, "Recipients", &flt->recipients, &flt->nrecipients, msg, sizeof(msg)) <
            0 ||
        cmdlet_args_string(a, "MessageId", &flt->message_id, msg, sizeof(msg)) < 0 ||
        cmdlet_args_string(a, "InternalMessageId", &flt->internal_id, msg, sizeof(msg)) < 0 ||
        cmdlet_args_string(a, "EventId", &flt->event_id, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    if ((r = time_arg(ctx, a, "Start", &flt->start)) < 0)
        return CMDLET_USAGE;
    flt->have_start = r == 1;
    if ((r = time_arg(ctx, a, "End", &flt->end)) < 0)
        return CMDLET_USAGE;
    flt->have_end = r == 1;
    if (result_size_arg(ctx, a, limit, limit_given) < 0)
        return CMDLET_USAGE;
    if (cmdlet_args_check_unused(a, msg, sizeof(msg)) < 0) {
        cmdlet_error(ctx, "%s", msg);
        return CMDLET_USAGE;
    }
    /* an address may be given as <a@b>, as in a header */
    if (flt->sender && *flt->sender == '<' && strlen(flt->sender) > 1 &&
        flt->sender[strlen(flt->sender) - 1] == '>') {
        flt->sender_owned = xstrndup(flt->sender + 1, strlen(flt->sender) - 2);
        flt->sender = flt->sender_owned;
    }
    for (size_t i = 0; i < flt->nrecipients; i++) {
        char *r0 = flt->recipients[i];
        size_t len = strlen(r0);
        if (len > 1 && r0[0] == '<' && r0[len - 1] == '>') {
            memmove(r0, r0 + 1, len - 2);
            r0[len - 2] = '\0';
        }
    }
    return CMDLET_OK;
}

int
cmdlet_get_message_tracking_log(struct cmdlet_ctx *ctx, struct cmdlet_args *a)
{
    struct trk_filter flt = {0};
    struct trk_search s = {.ctx = ctx, .filter = &flt, .limit = DEFAULT_RESULT_SIZE};
    bool limit_given = false;
    struct trk_file *files = NULL;
    size_t nfiles = 0;
    int rc, failed = 0;
    char *dir;
    DIR *d;

    if ((rc = filter_args(ctx, a, &flt, &s.limit, &limit_given)) != CMDLET_OK)
        goto out;
    s.warn_limit = !limit_given;
    dir = xasprintf("%s/%s", ctx->instance_dir, TRK_DIR);
    if ((d = opendir(dir)) == NULL) {
        if (errno != ENOENT) {
            cmdlet_error(ctx, "cannot read %s: %s", dir, strerror(errno));
            rc = CMDLET_ERROR;
        }
        free(dir); /* no log yet: nothing was tracked */
        goto out;
    }
    files = files_list(d, &flt, &nfiles);
    for (size_t i = 0; i < nfiles && !(s.full && (s.more || !s.warn_limit)); i++)
        if (search_file(&s, dirfd(d), dir, files[i].name) < 0)
            failed = 1;
    for (size_t i = 0; i < nfiles; i++)
        free(files[i].name);
    free(files);
    free(s.rows);
    closedir(d);
    free(dir);
    if (s.more && s.warn_limit)
        cmdlet_warning(ctx,
                       "By default, only the first %d items are returned. Use the ResultSize "
                       "parameter to specify the number of items returned. To return all "
                       "items, specify \"-ResultSize Unlimited\".",
                       DEFAULT_RESULT_SIZE);
    rc = failed ? CMDLET_ERROR : CMDLET_OK;
out:
    free(flt.sender_owned);
    cmdlet_list_free(flt.recipients, flt.nrecipients);
    return rc;
}
