/*
 * dsn.h — delivery status notifications (RFC 3464) in a multipart/report
 * message (RFC 6522): failure (bounce), delay and success reports.
 *
 * Pure: builds the text of the report; the caller queues it as a new
 * message from the null sender <> to the original sender.
 * Must never: be used for a message whose sender is the null path (no
 * bounce to a bounce): dsn_wanted() says when a report is due.
 */
#ifndef POSTERN_DSN_H
#define POSTERN_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "queue/envelope.h"

enum dsn_kind { DSN_FAILURE, DSN_DELAY, DSN_SUCCESS };

struct dsn_rcpt {
    const char *address;    /* Final-Recipient (rfc822;address) */
    const char *orcpt;      /* Original-Recipient from ORCPT, or NULL */
    const char *status;     /* "5.1.1", "4.4.1", "2.0.0" */
    const char *remote_mta; /* "dns; mx.example.com", or NULL */
    const char *diagnostic; /* "smtp; 550 5.1.1 User unknown", or NULL */
    time_t last_attempt;    /* 0: none */
};

/* Is a report of this kind due for recipient r of env (RFC 3461 NOTIFY:
 * absent means FAILURE and DELAY; NEVER means none; SUCCESS only when
 * asked)? Always false for a null sender. */
bool dsn_wanted(const struct envelope *env, const struct envelope_rcpt *r, enum dsn_kind kind);

/*
 * Builds the report: From: postmaster_from, To: the original sender, a
 * human-readable part saying what happened and why, the
 * message/delivery-status part (Reporting-MTA dns;reporting_mta,
 * Original-Envelope-Id from ENVID, Arrival-Date, one block per recipient
 * with Action failed|delayed|delivered, Status, Remote-MTA,
 * Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until for delays), and the
 * original message (text/rfc822-headers when RET=HDRS or when it is larger
 * than max_attach bytes, else message/rfc822). Lines end in CRLF. Returns a
 * malloc'd buffer and its length, or NULL when the original cannot be read.
 */
char *dsn_build(enum dsn_kind kind, const char *reporting_mta, const char *postmaster_from,
                const struct envelope *env, const struct dsn_rcpt *rcpts, size_t nrcpts,
                int original_fd, size_t max_attach, time_t now, time_t retry_until, size_t *len);

#endif
