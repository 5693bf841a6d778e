/*
 * dsn.c — see dsn.h. Builds delivery status notifications: a
 * multipart/report (RFC 6522) whose parts are a plain-words explanation, the
 * machine-readable message/delivery-status (RFC 3464) and the original
 * message or its header section.
 *
 * The report is an ordinary message that will be queued and relayed, so it
 * must be valid on the wire by itself: every line ends in CRLF and no line
 * is longer than 998 octets (RFC 5322 2.1.1), whatever the original held.
 * Must never: produce a report for the null sender (RFC 3461 6.2, RFC 5321
 * 4.5.5: no bounce to a bounce), or read an original that is too large to
 * attach whole into memory (only its header section is read then).
 */
#include "queue/dsn.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "lib/util.h"
#include "smtp/header_read.h"
#include "smtp/smtp_parse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINE_MAX_OCTETS 998 /* RFC 5322 2.1.1, without CRLF */
#define LINE_SOFT 78        /* RFC 5322 2.1.1 SHOULD */
#define TEXT_WIDTH 76
/* Bound on the header section read for a headers-only report: a header
 * larger than this is cut at a line boundary rather than read whole. */
#define DSN_HEADERS_MAX (1024 * 1024)

/* ---- small text helpers ------------------------------------------------ */

static bool
has_8bit(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return true;
    return false;
}

static bool
str_8bit(const char *s)
{
    return s != NULL && has_8bit(s, strlen(s));
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629 4), 0 if none. */
static size_t
utf8_len(const unsigned char *s)
{
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        n = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        n = 3;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        n = 4;
    else
        return 0;
    /* no overlong forms, no surrogates, nothing above U+10FFFF */
    if (s[0] == 0xE0)
        lo = 0xA0;
    else if (s[0] == 0xED)
        hi = 0x9F;
    else if (s[0] == 0xF0)
        lo = 0x90;
    else if (s[0] == 0xF4)
        hi = 0x8F;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* A copy fit for one header or report field: control characters (a CR or
 * LF would end the field early) become spaces, runs of blanks become one
 * space, and leading and trailing blanks go. Octets >= 0x80 become '?'
 * unless keep_8bit and they form valid UTF-8: a 7-bit report must stay
 * 7-bit (RFC 6532 only allows raw UTF-8 where SMTPUTF8 was negotiated). */
static char *
field_clean(const char *s, bool keep_8bit)
{
    char *out = xmalloc(strlen(s) + 1), *o = out;
    bool blank = true; /* drop leading blanks */

    while (*s) {
        unsigned char c = (unsigned char)*s;
        size_t n;

        if (c < 0x20 || c == 0x7f || c == ' ') {
            if (!blank)
                *o++ = ' ';
            blank = true;
            s++;
            continue;
        }
        blank = false;
        if (c < 0x80) {
            *o++ = *s++;
        } else if (keep_8bit && (n = utf8_len((const unsigned char *)s)) > 0) {
            memcpy(o, s, n); /* RFC 6532 3.2: only well-formed UTF-8 */
            o += n;
            s += n;
        } else {
            *o++ = '?';
            s++;
        }
    }
    if (o > out && o[-1] == ' ')
        o--;
    *o = '\0';
    return out;
}

/* Number of octets to take from s (at most max) without splitting a UTF-8
 * sequence, so a hard break never leaves a broken character. */
static size_t
utf8_cut(const char *s, size_t max)
{
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n ? n : max;
}

/*
 * Appends "name: value" CRLF. Folds before a blank so lines stay within 78
 * octets where the value allows (RFC 5322 2.2.3); a run of more than 998
 * octets without a blank is broken hard with CRLF SP, which adds one blank
 * to the value but keeps the field valid on the wire.
 */
static void
put_field(struct strbuf *b, const char *name, const char *value, bool keep_8bit)
{
    char *v = field_clean(value, keep_8bit);
    const char *p = v;
    size_t col = strlen(name) + 2;
    bool line_empty = true;

    strbuf_puts(b, name);
    strbuf_puts(b, ": ");
    while (*p) {
        const char *q = p;
        size_t n;

        if (*q == ' ')
            q++;
        while (*q && *q != ' ')
            q++;
        n = (size_t)(q - p);
        if (!line_empty && *p == ' ' && col + n > LINE_SOFT) {
            strbuf_puts(b, "\r\n"); /* the blank that starts p begins the continuation */
            col = 0;
        }
        while (col + n > LINE_MAX_OCTETS) {
            size_t take = utf8_cut(p, LINE_MAX_OCTETS - col);
            strbuf_add(b, p, take);
            strbuf_puts(b, "\r\n ");
            col = 1;
            p += take;
            n -= take;
        }
        strbuf_add(b, p, n);
        col += n;
        line_empty = false;
        p = q;
    }
    strbuf_puts(b, "\r\n");
    free(v);
}

/*
 * Appends text as a paragraph wrapped at 76 columns, each line starting
 * with indent; a word longer than a line is broken hard before 998 octets.
 */
static void
put_text(struct strbuf *b, const char *indent, const char *text)
{
    char *v = field_clean(text, true);
    const char *p = v;
    size_t ind = strlen(indent), col = 0;

    while (*p) {
        const char *q = p;
        size_t n;

        while (*q && *q != ' ')
            q++;
        n = (size_t)(q - p);
        if (col > 0 && col + 1 + n > TEXT_WIDTH) {
            strbuf_puts(b, "\r\n");
            col = 0;
        }
        if (col == 0) {
            strbuf_puts(b, indent);
            col = ind;
        } else {
            strbuf_puts(b, " ");
            col++;
        }
        while (col + n > LINE_MAX_OCTETS) {
            size_t take = utf8_cut(p, LINE_MAX_OCTETS - col);
            strbuf_add(b, p, take);
            strbuf_puts(b, "\r\n");
            strbuf_puts(b, indent);
            col = ind;
            p += take;
            n -= take;
        }
        strbuf_add(b, p, n);
        col += n;
        p = *q ? q + 1 : q;
    }
    strbuf_puts(b, "\r\n");
    free(v);
}

/*
 * Appends message content: bare CR or LF becomes CRLF (the report is sent
 * in DATA, RFC 5321 2.3.8), and a line longer than 998 octets is broken
 * with CRLF SP, as Postfix does for the same reason, so a header line stays
 * a header continuation.
 */
static void
put_content(struct strbuf *b, const char *s, size_t n)
{
    size_t i = 0, start = 0, col = 0;

    while (i < n) {
        if (s[i] == '\r' || s[i] == '\n') {
            strbuf_add(b, s + start, i - start);
            strbuf_puts(b, "\r\n");
            i += (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') ? 2 : 1;
            start = i;
            col = 0;
            continue;
        }
        if (col == LINE_MAX_OCTETS) {
            size_t take = utf8_cut(s + start, i - start);
            strbuf_add(b, s + start, take);
            strbuf_puts(b, "\r\n ");
            start += take;
            col = 1 + (i - start);
            continue;
        }
        col++;
        i++;
    }
    strbuf_add(b, s + start, i - start);
}

/* RFC 5322 3.3 date-time in UTC. Written by hand rather than strftime
 * because %a and %b follow the locale and the format must not. */
static void
rfc5322_date(time_t t, char *out, size_t outlen)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const time_t epoch = 0;
    struct tm tm;

    /* A time no calendar year 1900-9999 can show comes from a damaged
     * envelope (its times are read as written); gmtime_r would fail and
     * leave tm unset, and RFC 5322 3.3 has no syntax for it anyway. The
     * epoch stands in rather than an index read outside the tables. */
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year < 0 || tm.tm_year > 9999 - 1900)
        gmtime_r(&epoch, &tm);
    snprintf(out, outlen, "%s, %d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Decodes xtext (RFC 3461 4: "+XX" is the octet XX) for display to people;
 * the machine-readable fields keep the xtext form (RFC 3464 2.2.1, 2.3.1). */
static char *
xtext_decode(const char *s)
{
    char *out = xmalloc(strlen(s) + 1), *o = out;
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        const char *h, *l;
        if (*s == '+' && s[1] && s[2] && (h = strchr(hex, s[1])) != NULL &&
            (l = strchr(hex, s[2])) != NULL) {
            char c = (char)(((h - hex) << 4) | (l - hex));
            *o++ = ((unsigned char)c < 0x20 || c == 0x7f) ? '?' : c;
            s += 2;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

static void
random_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    static unsigned long counter;
    unsigned char r[32];

    if (nbytes > sizeof(r))
        nbytes = sizeof(r);
    if (getrandom(r, nbytes, GRND_NONBLOCK) != (ssize_t)nbytes) {
        /* no entropy yet (early boot): time, pid and a counter are still
         * unique on this host, which is all a boundary or Message-ID needs */
        unsigned long x = (unsigned long)time(NULL) ^ ((unsigned long)getpid() << 16) ^ ++counter;
        for (size_t i = 0; i < nbytes; i++) {
            x = x * 6364136223846793005UL + 1442695040888963407UL;
            r[i] = (unsigned char)(x >> 56);
        }
    }
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hex[r[i] >> 4];
        out[2 * i + 1] = hex[r[i] & 15];
    }
    out[2 * nbytes] = '\0';
}

/* ---- wording ----------------------------------------------------------- */

/* Plain words for an RFC 3463 status code (subject.detail). */
static const char *
status_words(const char *status)
{
    static const struct {
        const char *code, *words;
    } table[] = {
        {"1.1", "The e-mail address couldn't be found at the destination: the mailbox doesn't "
                "exist. Check the address for typing errors."},
        {"1.2", "The destination domain doesn't exist or doesn't accept mail."},
        {"1.3", "The destination address isn't a valid e-mail address."},
        {"1.6", "The recipient's mailbox has moved and no forwarding address is known."},
        {"1.10", "The recipient's domain says it accepts no e-mail at all (null MX)."},
        {"2.1", "The recipient's mailbox is disabled and isn't accepting messages."},
        {"2.2", "The recipient's mailbox is full."},
        {"2.3", "The message is larger than the recipient's mailbox accepts."},
        {"3.4", "The message is too large for the destination system."},
        {"4.1", "The destination server didn't answer."},
        {"4.2", "The connection to the destination server was lost."},
        {"4.3", "A DNS lookup needed to find the destination failed."},
        {"4.4", "No route to the destination could be found."},
        {"4.7", "The message couldn't be delivered before it expired."},
        {"7.1", "The destination refused the message: the sender isn't allowed to send to this "
                "recipient."},
    };
    static const char *const by_subject[] = {
        "The delivery failed for a reason not specified further.",
        "There is a problem with the recipient's address.",
        "There is a problem with the recipient's mailbox.",
        "There is a problem with the destination mail system.",
        "There is a network or routing problem on the way to the destination.",
        "There was an error in the SMTP conversation with the destination.",
        "The destination couldn't handle the message's content.",
        "A security or policy rule at the destination refused the message.",
    };
    const char *dot = status ? strchr(status, '.') : NULL;

    if (dot == NULL)
        return "The delivery failed for a reason not specified further.";
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(dot + 1, table[i].code) == 0)
            return table[i].words;
    if (dot[1] >= '0' && dot[1] <= '7')
        return by_subject[dot[1] - '0'];
    return by_subject[0];
}

/* "dns; mx.example.com" -> "mx.example.com": the type is for machines. */
static const char *
after_type(const char *s)
{
    const char *semi = strchr(s, ';');
    if (semi == NULL)
        return s;
    semi++;
    while (*semi == ' ' || *semi == '\t')
        semi++;
    return semi;
}

static void
put_rcpt_text(struct strbuf *b, enum dsn_kind kind, const struct dsn_rcpt *r)
{
    char date[64];
    char *s;

    put_text(b, "  ", r->address);
    if (r->orcpt && *r->orcpt) {
        char *orig = xtext_decode(after_type(r->orcpt));
        if (strcasecmp(orig, r->address) != 0) {
            s = xasprintf("(originally addressed to %s)", orig);
            put_text(b, "    ", s);
            free(s);
        }
        free(orig);
    }
    if (kind != DSN_SUCCESS)
        put_text(b, "    ", status_words(r->status));
    if (r->diagnostic && *r->diagnostic) {
        if (r->remote_mta && *r->remote_mta)
            s = xasprintf("%s said: %s", after_type(r->remote_mta), after_type(r->diagnostic));
        else
            s = xasprintf("Diagnostic: %s", after_type(r->diagnostic));
        put_text(b, "    ", s);
        free(s);
    } else if (r->remote_mta && *r->remote_mta) {
        s = xasprintf("%s %s", kind == DSN_SUCCESS ? "Delivered to" : "Remote server:",
                      after_type(r->remote_mta));
        put_text(b, "    ", s);
        free(s);
    }
    if (r->status && *r->status) {
        s = xasprintf("Status: %s", r->status);
        put_text(b, "    ", s);
        free(s);
    }
    if (r->last_attempt) {
        rfc5322_date(r->last_attempt, date, sizeof(date));
        s = xasprintf("Last attempt: %s", date);
        put_text(b, "    ", s);
        free(s);
    }
    strbuf_puts(b, "\r\n");
}

/* The human-readable first part (RFC 6522 3: "any other text ... shall be
 * in the first body part"). */
static void
build_text(struct strbuf *b, enum dsn_kind kind, const char *reporting_mta,
           const struct envelope *env, const struct dsn_rcpt *rcpts, size_t nrcpts,
           time_t retry_until, bool cut_for_size, bool cut_binary, size_t max_attach)
{
    char date[64];
    char *s;

    switch (kind) {
    case DSN_FAILURE:
        put_text(b, "",
                 "Your message couldn't be delivered to one or more recipients. "
                 "Delivery has failed to these recipients or groups:");
        break;
    case DSN_DELAY:
        put_text(b, "",
                 "Delivery of your message is delayed. It hasn't been delivered to "
                 "these recipients or groups yet:");
        break;
    case DSN_SUCCESS:
        put_text(b, "", "Your message has been delivered to these recipients or groups:");
        break;
    }
    strbuf_puts(b, "\r\n");
    for (size_t i = 0; i < nrcpts; i++)
        put_rcpt_text(b, kind, &rcpts[i]);
    if (kind == DSN_DELAY) {
        if (retry_until) {
            rfc5322_date(retry_until, date, sizeof(date));
            s = xasprintf("The server will keep trying to deliver the message until %s. If it "
                          "can't be delivered by then, you'll get another message saying so. "
                          "There's no need to send the message again.",
                          date);
        } else {
            s = xasprintf("The server will keep trying to deliver the message. There's no need "
                          "to send the message again.");
        }
        put_text(b, "", s);
        free(s);
        strbuf_puts(b, "\r\n");
    }
    rfc5322_date(env->received, date, sizeof(date));
    s = xasprintf("Generating server: %s. The message was received on %s (queue ID %s).",
                  reporting_mta, date, env->id);
    put_text(b, "", s);
    free(s);
    if (cut_for_size) {
        s = xasprintf("The original message is larger than %zu bytes, so only its header is "
                      "attached.",
                      max_attach);
        put_text(b, "", s);
        free(s);
    } else if (cut_binary) {
        put_text(b, "",
                 "The original message holds binary content, so only its header is "
                 "attached.");
    }
}

/* The message/delivery-status part (RFC 3464 2). */
static void
build_status(struct strbuf *b, enum dsn_kind kind, const char *reporting_mta,
             const struct envelope *env, const struct dsn_rcpt *rcpts, size_t nrcpts,
             time_t retry_until, bool global)
{
    static const char *const actions[] = {"failed", "delayed", "delivered"};
    char date[64], *s;

    /* RFC 3464 2.1: the per-message fields in the order of its grammar */
    /* RFC 3461 4.4 / RFC 3464 2.2.1: the ENVID exactly as given, in xtext */
    if (env->envid && *env->envid)
        put_field(b, "Original-Envelope-Id", env->envid, false);
    s = xasprintf("dns; %s", reporting_mta);
    put_field(b, "Reporting-MTA", s, global);
    free(s);
    if (env->client_helo && *env->client_helo) {
        s = xasprintf("dns; %s ([%s])", env->client_helo, env->client_ip ? env->client_ip : "");
        put_field(b, "Received-From-MTA", s, global);
        free(s);
    }
    rfc5322_date(env->received, date, sizeof(date));
    put_field(b, "Arrival-Date", date, false);
    /* RFC 3464 2.4: an extension field; the queue ID ties the report to logs */
    put_field(b, "X-Postern-Queue-ID", env->id, false);
    for (size_t i = 0; i < nrcpts; i++) {
        const struct dsn_rcpt *r = &rcpts[i];

        strbuf_puts(b, "\r\n"); /* RFC 3464 2.1: a blank line before each block */
        if (r->orcpt && *r->orcpt)
            put_field(b, "Original-Recipient", r->orcpt, global);
        /* RFC 6533 3: a non-ASCII address has the utf-8 address type */
        s = xasprintf("%s; %s", str_8bit(r->address) ? "utf-8" : "rfc822", r->address);
        put_field(b, "Final-Recipient", s, global);
        free(s);
        put_field(b, "Action", actions[kind], false);
        put_field(b, "Status",
                  r->status && *r->status ? r->status
                  : kind == DSN_FAILURE   ? "5.0.0"
                  : kind == DSN_DELAY     ? "4.0.0"
                                          : "2.0.0",
                  false);
        if (r->remote_mta && *r->remote_mta)
            put_field(b, "Remote-MTA", r->remote_mta, global);
        if (r->diagnostic && *r->diagnostic)
            put_field(b, "Diagnostic-Code", r->diagnostic, global);
        if (r->last_attempt) {
            rfc5322_date(r->last_attempt, date, sizeof(date));
            put_field(b, "Last-Attempt-Date", date, false);
        }
        /* RFC 3464 2.3.8: only in delayed reports */
        if (kind == DSN_DELAY && retry_until) {
            rfc5322_date(retry_until, date, sizeof(date));
            put_field(b, "Will-Retry-Until", date, false);
        }
    }
}

/* ---- public ------------------------------------------------------------ */

bool
dsn_wanted(const struct envelope *env, const struct envelope_rcpt *r, enum dsn_kind kind)
{
    unsigned notify = r->notify;

    /* RFC 5321 4.5.5 / RFC 3461 6.2: never report on a report */
    if (env->from == NULL || env->from[0] == '\0')
        return false;
    if (notify & SMTP_NOTIFY_NEVER)
        return false;
    if (notify == 0) /* RFC 3461 4.1: absent means FAILURE (and DELAY, our choice) */
        notify = SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY;
    switch (kind) {
    case DSN_FAILURE:
        return (notify & SMTP_NOTIFY_FAILURE) != 0;
    case DSN_DELAY:
        return (notify & SMTP_NOTIFY_DELAY) != 0;
    case DSN_SUCCESS:
        return (notify & SMTP_NOTIFY_SUCCESS) != 0;
    }
    return false;
}

char *
dsn_build(enum dsn_kind kind, const char *reporting_mta, const char *postmaster_from,
          const struct envelope *env, const struct dsn_rcpt *rcpts, size_t nrcpts, int original_fd,
          size_t max_attach, time_t now, time_t retry_until, size_t *len)
{
    struct strbuf out = {0}, text = {0}, status = {0}, orig = {0};
    struct stat st;
    char *content, *subject, *msgid, *s, date[64], boundary[64], rnd[40];
    size_t clen = 0, hlen;
    bool headers_only, cut_for_size = false, cut_binary = false, global = false;
    bool orig_8bit, text_8bit, orig_global;
    static const char *const prefixes[] = {"Undeliverable:", "Delivery delayed:", "Delivered:"};

    if (env->from == NULL || env->from[0] == '\0' || nrcpts == 0) {
        errno = EINVAL;
        return NULL;
    }
    if (fstat(original_fd, &st) < 0)
        return NULL;

    /* RFC 3461 4.3: RET=HDRS asks for the header only; a large original is
     * cut to its header too so that the report itself gets through; and
     * BINARYMIME content (RFC 3030) cannot travel in the DATA of a report. */
    cut_for_size = (uint64_t)st.st_size > (uint64_t)max_attach;
    cut_binary = env->body == SMTP_BODY_BINARYMIME;
    /* A success report goes to an address nobody verified unless the
     * sender authenticated or proved its domain: a forged MAIL FROM with
     * NOTIFY=SUCCESS RET=FULL would make us mail the whole message to
     * whoever it names, so such reports carry the header only. */
    headers_only = env->ret == SMTP_RET_HDRS || cut_for_size || cut_binary ||
                   (kind == DSN_SUCCESS && env->auth_user == NULL && env->domain_secured == NULL);
    if (env->ret == SMTP_RET_HDRS)
        cut_for_size = cut_binary = false; /* asked for: nothing to explain */
    content = headers_only ? header_section_read(original_fd, DSN_HEADERS_MAX, &clen)
                           : fd_read_all(original_fd, &clen);
    if (content == NULL)
        return NULL;
    hlen = header_section_len(content, clen);

    for (size_t i = 0; i < nrcpts; i++)
        if (str_8bit(rcpts[i].address) || str_8bit(rcpts[i].orcpt))
            global = true;
    /* RFC 6532 3.7 / RFC 6533 6: a returned message whose header holds
     * raw UTF-8 is message/global (or message/global-headers) */
    orig_global = env->smtputf8 && has_8bit(content, hlen);

    /* the subject: raw UTF-8 only where the original was SMTPUTF8 (RFC
     * 6532), otherwise the original's encoded words untouched (RFC 2047) */
    subject = header_field_get(content, hlen, "Subject");
    msgid = header_field_get(content, hlen, "Message-ID");

    build_text(&text, kind, reporting_mta, env, rcpts, nrcpts, retry_until, cut_for_size,
               cut_binary, max_attach);
    build_status(&status, kind, reporting_mta, env, rcpts, nrcpts, retry_until, global);
    put_content(&orig, content, headers_only ? hlen : clen);
    if (orig.s == NULL)
        strbuf_puts(&orig, "");
    free(content);
    text_8bit = has_8bit(text.s, text.len);
    orig_8bit = has_8bit(orig.s, orig.len);

    /* RFC 2046 5.1.1: the boundary must not occur in any part */
    do {
        random_hex(rnd, 16);
        snprintf(boundary, sizeof(boundary), "=_postern_dsn_%s", rnd);
    } while (memmem(text.s, text.len, boundary, strlen(boundary)) ||
             memmem(status.s, status.len, boundary, strlen(boundary)) ||
             memmem(orig.s, orig.len, boundary, strlen(boundary)));

    /* ---- header ---- */
    s = xasprintf("\"Mail Delivery System\" <%s>", postmaster_from);
    put_field(&out, "From", s, env->smtputf8);
    free(s);
    s = xasprintf("<%s>", env->from);
    put_field(&out, "To", s, env->smtputf8);
    free(s);
    if (subject && *subject)
        s = xasprintf("%s %s", prefixes[kind], subject);
    else
        s = xstrdup(prefixes[kind]);
    put_field(&out, "Subject", s, env->smtputf8);
    free(s);
    rfc5322_date(now, date, sizeof(date));
    put_field(&out, "Date", date, false);
    random_hex(rnd, 12);
    s = xasprintf("<%llx.%s@%s>", (unsigned long long)now, rnd, reporting_mta);
    put_field(&out, "Message-ID", s, false);
    free(s);
    /* RFC 3834 3.1.4: tie the report to the message it is about */
    if (msgid) {
        s = field_clean(msgid, env->smtputf8);
        if (s[0] == '<' && s[strlen(s) - 1] == '>' && !strchr(s, ' ')) {
            put_field(&out, "In-Reply-To", s, env->smtputf8);
            put_field(&out, "References", s, env->smtputf8);
        }
        free(s);
    }
    put_field(&out, "Auto-Submitted", "auto-replied", false); /* RFC 3834 5 */
    strbuf_puts(&out, "MIME-Version: 1.0\r\n");
    /* RFC 6522 3: report-type names the subtype of the second part */
    strbuf_printf(&out, "Content-Type: multipart/report; report-type=%s;\r\n\tboundary=\"%s\"\r\n",
                  global ? "global-delivery-status" : "delivery-status", boundary);
    if (text_8bit || orig_8bit || global)
        strbuf_puts(&out, "Content-Transfer-Encoding: 8bit\r\n"); /* RFC 2045 6.4 */
    strbuf_puts(&out, "\r\nThis is a delivery status notification in MIME format.\r\n");

    /* ---- 1: text ---- */
    strbuf_printf(&out, "\r\n--%s\r\n", boundary);
    strbuf_printf(&out, "Content-Type: text/plain; charset=%s\r\n",
                  text_8bit ? "utf-8" : "us-ascii");
    strbuf_printf(&out, "Content-Transfer-Encoding: %s\r\n\r\n", text_8bit ? "8bit" : "7bit");
    strbuf_add(&out, text.s, text.len);

    /* ---- 2: delivery status ---- */
    strbuf_printf(&out, "\r\n--%s\r\n", boundary);
    strbuf_printf(&out, "Content-Type: message/%s\r\n",
                  global ? "global-delivery-status" : "delivery-status");
    if (global)
        strbuf_puts(&out, "Content-Transfer-Encoding: 8bit\r\n");
    strbuf_puts(&out, "\r\n");
    strbuf_add(&out, status.s, status.len);

    /* ---- 3: the original ---- */
    strbuf_printf(&out, "\r\n--%s\r\n", boundary);
    if (headers_only)
        strbuf_printf(&out, "Content-Type: %s\r\n",
                      orig_global ? "message/global-headers" : "text/rfc822-headers");
    else
        strbuf_printf(&out, "Content-Type: %s\r\n",
                      orig_global ? "message/global" : "message/rfc822");
    /* RFC 2046 5.2.1: message/rfc822 allows only 7bit, 8bit or binary */
    strbuf_printf(&out, "Content-Transfer-Encoding: %s\r\n", orig_8bit ? "8bit" : "7bit");
    strbuf_puts(&out, "\r\n");
    strbuf_add(&out, orig.s, orig.len);
    strbuf_printf(&out, "\r\n--%s--\r\n", boundary);

    free(text.s);
    free(status.s);
    free(orig.s);
    free(subject);
    free(msgid);
    *len = out.len;
    return out.s;
}
