/*
 * log_sink.c — see log_sink.h. Journald's native protocol (one datagram of
 * NAME=value fields per line, MESSAGE in the length-prefixed form so that
 * no byte of it can forge a field) and RFC 3164 lines to /dev/log, both
 * written by hand: two formats of a few lines each do not need libsystemd,
 * and glibc's syslog() would reopen /dev/log after an error, which the
 * sandboxed smtp process cannot.
 */
#include "lib/log_sink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
#define SYSLOG_SOCKET "/dev/log"
#define SYSLOG_FACILITY_MAIL 2
#define FIELD_VALUE_MAX 128

static enum log_sink_kind sink_kind = LOG_SINK_STDERR;
static int sink_fd = -1;
static const char *process_role = "daemon";
static _Atomic time_t reconnected_at; /* CLOCK_MONOTONIC seconds */

static void
socket_address(struct sockaddr_un *sun, const char *path)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", path);
}

static int
connect_dgram(const char *path)
{
    struct sockaddr_un sun;
    int fd, bufsize = 1 << 20;

    socket_address(&sun, path);
    if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        close(fd);
        return -1;
    }
    /* room for a burst while the reader is busy; when it is full, the
     * line goes to stderr instead (without fields), never waited for here */
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
    return fd;
}

int
log_sink_journal_if_stream(void)
{
    const char *stream = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (stream == NULL || sscanf(stream, "%llu:%llu", &dev, &ino) != 2 ||
        fstat(STDERR_FILENO, &st) != 0 || (unsigned long long)st.st_dev != dev ||
        (unsigned long long)st.st_ino != ino)
        return -1; /* stderr is not (or no longer) the journal */
    if ((sink_fd = connect_dgram(JOURNAL_SOCKET)) < 0)
        return -1; /* the stream still reaches journald, without fields */
    sink_kind = LOG_SINK_JOURNAL;
    return 0;
}

int
log_sink_syslog(void)
{
    if ((sink_fd = connect_dgram(SYSLOG_SOCKET)) < 0)
        return -1;
    tzset(); /* the time zone file cannot be read later, in a sandbox */
    sink_kind = LOG_SINK_SYSLOG;
    return 0;
}

enum log_sink_kind
log_sink_kind(void)
{
    return sink_kind;
}

int
log_sink_fd(void)
{
    return sink_fd;
}

void
log_sink_set_process(const char *role)
{
    process_role = role;
}

/* Appends "NAME=value\n" to out when value (n bytes) is usable as a field
 * value: printable, no end of line. */
static size_t
field_add(char *out, size_t outlen, size_t at, const char *name, const char *value, size_t n)
{
    int r;

    for (size_t i = 0; i < n; i++)
        if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
            return at;
    if (n == 0 || at >= outlen)
        return at;
    if (n > FIELD_VALUE_MAX)
        n = FIELD_VALUE_MAX;
    r = snprintf(out + at, outlen - at, "%s=%.*s\n", name, (int)n, value);
    if (r < 0 || (size_t)r >= outlen - at) {
        out[at] = '\0'; /* no half field: it would swallow MESSAGE */
        return at;
    }
    return at + (size_t)r;
}

/* The fields come only from the head of a line, which the service itself
 * writes: the event words, then id=, connector="...", client= and local=
 * in any order. The first other key=value ends the head, since what
 * follows (user=, to=<...>, reply="...") may hold a client's text, which
 * must not be able to forge a field journalctl matches on. */
static const struct {
    const char *key, *field; /* field NULL: allowed in the head, not a field */
} head_keys[] = {
    {"id", "QUEUE_ID"}, {"connector", "CONNECTOR"}, {"client", "CLIENT"}, {"local", NULL}};

/* The words before the keys name the event in the code's own words:
 * lowercase letters and '-' ("smtp", "auth", "failed", "domain-secured"),
 * and "queue:" first. A digit, a capital, a dot or a colon elsewhere means
 * a reply, a host name or an error text: no field is read from such a line. */
static bool
event_word(const char *w, size_t n, bool first)
{
    if (first && n == 6 && memcmp(w, "queue:", 6) == 0)
        return true;
    for (size_t i = 0; i < n; i++)
        if (!((w[i] >= 'a' && w[i] <= 'z') || w[i] == '-'))
            return false;
    return n > 0;
}

size_t
log_sink_fields(const char *text, size_t len, char *out, size_t outlen)
{
    size_t at = 0, i = 0, hex = 0, first = 0; /* first: where the words begin */
    bool seen[sizeof(head_keys) / sizeof(head_keys[0])] = {false};
    bool in_keys = false;

    if (outlen == 0)
        return 0;
    out[0] = '\0';
    while (hex < len && hex < 16 && strchr("0123456789abcdef", text[hex]) != NULL)
        hex++;
    if (hex == 16 && len > 16 && text[16] == ' ') {
        at = field_add(out, outlen, at, "SESSION_ID", text, 16);
        i = first = 17;
    }
    while (i < len) {
        size_t start = i, klen, vstart, vlen, k;
        const char *eq;

        while (i < len && text[i] != ' ')
            i++;
        eq = memchr(text + start, '=', i - start);
        if (eq == NULL) {
            if (in_keys || !event_word(text + start, i - start, start == first))
                break; /* free text, which may quote a client or a peer */
            i++;
            continue;
        }
        in_keys = true;
        klen = (size_t)(eq - (text + start));
        vstart = klen + 1 + start;
        for (k = 0; k < sizeof(head_keys) / sizeof(head_keys[0]); k++)
            if (strlen(head_keys[k].key) == klen &&
                memcmp(text + start, head_keys[k].key, klen) == 0)
                break;
        if (k == sizeof(head_keys) / sizeof(head_keys[0]))
            break; /* any other key: the head ends */
        if (vstart < len && text[vstart] == '"') {
            /* only the connector's name is quoted (an administrator's name,
             * with spaces); its end is the next quote */
            const char *q = memchr(text + vstart + 1, '"', len - vstart - 1);
            if (q == NULL)
                break;
            i = (size_t)(q - text) + 1;
            vstart++;
            vlen = (size_t)(q - text) - vstart;
        } else {
            vlen = i - vstart;
        }
        if (!seen[k] && head_keys[k].field != NULL)
            at = field_add(out, outlen, at, head_keys[k].field, text + vstart, vlen);
        seen[k] = true;
        if (i < len && text[i] != ' ')
            break;
        i++;
    }
    return at;
}

/* One datagram, never waited for. */
static int
send_iov(struct iovec *iov, size_t n)
{
    struct msghdr mh;

    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = iov;
    mh.msg_iovlen = n;
    return sendmsg(sink_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? -1 : 0;
}

static int
send_journal(int priority, const char *text, size_t len)
{
    char head[1024], fields[512];
    unsigned char le[8]; /* MESSAGE's length, little-endian whatever this machine is */
    struct iovec iov[6];
    int n;

    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)((uint64_t)len >> (8 * i));
    n = snprintf(head, sizeof(head),
                 "PRIORITY=%d\nSYSLOG_FACILITY=%d\nSYSLOG_IDENTIFIER=postern\n"
                 "POSTERN_PROCESS=%s\n",
                 priority, SYSLOG_FACILITY_MAIL, process_role);
    if (n < 0 || (size_t)n >= sizeof(head))
        return -1;
    iov[0] = (struct iovec){head, (size_t)n};
    iov[1] = (struct iovec){fields, log_sink_fields(text, len, fields, sizeof(fields))};
    iov[2] = (struct iovec){"MESSAGE\n", 8};
    iov[3] = (struct iovec){le, 8};
    iov[4] = (struct iovec){(void *)text, len};
    iov[5] = (struct iovec){"\n", 1};
    return send_iov(iov, 6);
}

static int
send_syslog(int priority, const char *text, size_t len)
{
    char head[96];
    struct tm tm;
    time_t now = time(NULL);
    size_t n;
    int r;
    struct iovec iov[2];

    localtime_r(&now, &tm);
    r = snprintf(head, sizeof(head), "<%d>", SYSLOG_FACILITY_MAIL * 8 + priority);
    n = r < 0 ? 0 : (size_t)r;
    n += strftime(head + n, sizeof(head) - n, "%b %e %H:%M:%S ", &tm);
    r = snprintf(head + n, sizeof(head) - n, "postern/%s[%ld]: ", process_role, (long)getpid());
    if (r < 0 || (size_t)r >= sizeof(head) - n)
        return -1;
    n += (size_t)r;
    iov[0] = (struct iovec){head, n};
    iov[1] = (struct iovec){(void *)text, len};
    return send_iov(iov, 2);
}

static int
send_one(int priority, const char *text, size_t len)
{
    return sink_kind == LOG_SINK_JOURNAL ? send_journal(priority, text, len)
                                         : send_syslog(priority, text, len);
}

int
log_sink_send(int priority, const char *text, size_t len)
{
    struct timespec now;

    if (sink_fd < 0)
        return -1;
    if (send_one(priority, text, len) == 0)
        return 0;
    if (errno != ECONNREFUSED && errno != ENOTCONN)
        return -1; /* full (a flood) or refused: the caller's stderr takes the line */
    /* The listener went away and came back (syslog restarted): connect
     * the same descriptor again, at most once a second. */
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec != atomic_load(&reconnected_at)) {
        struct sockaddr_un sun;
        atomic_store(&reconnected_at, now.tv_sec);
        socket_address(&sun, sink_kind == LOG_SINK_JOURNAL ? JOURNAL_SOCKET : SYSLOG_SOCKET);
        if (connect(sink_fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 &&
            send_one(priority, text, len) == 0)
            return 0;
    }
    return -1;
}
