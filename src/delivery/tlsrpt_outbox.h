/*
 * tlsrpt_outbox.h — TLS reports waiting to be POSTed to a domain's https:
 * reporting URI (RFC 8460 5.2), kept in DIR/tlsrpt/outbox until a server
 * takes one (2xx) or retrying has lasted long enough (RFC 8460 5.3).
 *
 * One file per report and URI, DIR/tlsrpt/outbox/<report-id>.<n> (n: the
 * URI's place in the domain's rua list), written atomically and durably
 * before the first attempt:
 *
 *     postern-tlsrpt-post 1
 *     uri https://reports.example.com/tlsrpt
 *     type application/tlsrpt+gzip
 *     first 1767225600            (the first attempt, seconds since 1970)
 *                                 (an empty line, then the body's bytes)
 *
 * The POST itself runs in the smtp process (struct outbound_ops post). A
 * failed attempt is retried after TransientFailureRetryInterval (5 min by
 * default), 3 times it, then 12 times it (with the default: 5 min, 15 min,
 * 1 h), each wait at most an hour, counted from the first attempt so that
 * a restart keeps the schedule; pending reports found at start are tried
 * at once. After min(24 h, MessageExpirationTimeout) since the first
 * attempt the report is dropped with a warning.
 * Must never: POST to a URI that fails routing/tlsrpt_uri.h's check, keep
 * a report after a 2xx answer, retry beyond the limit, or name a file
 * after anything but a checked report id.
 */
#ifndef POSTERN_TLSRPT_OUTBOX_H
#define POSTERN_TLSRPT_OUTBOX_H

#include <stddef.h>

struct event_base;
struct config;
struct outbound_ops;
struct tlsrpt_outbox;

#define TLSRPT_OUTBOX_DIR "tlsrpt/outbox" /* TLSRPT_DIR (tlsrpt_store.h) "/outbox" */

/* Loads the reports pending in DIR/tlsrpt/outbox and tries them from the
 * loop. cfg is the current configuration (it changes on reload); ops must
 * have post and post_cancel. Everything given must outlive the outbox. */
struct tlsrpt_outbox *tlsrpt_outbox_new(struct event_base *base, const char *instance_dir,
                                        struct config **cfg, const struct outbound_ops *ops,
                                        void *ops_arg);
/* Cancels the POSTs in flight (their files stay for the next start). */
void tlsrpt_outbox_free(struct tlsrpt_outbox *ob);

/* Keeps body (of media type content_type) for POST to uri, the n-th
 * reporting URI of report_id, replacing a pending one of the same name,
 * and tries it from the loop. 0, or -1 with err (a URI that fails the
 * check, a report id that cannot name a file, the disk). */
int tlsrpt_outbox_add(struct tlsrpt_outbox *ob, const char *report_id, unsigned n, const char *uri,
                      const char *content_type, const void *body, size_t len, char *err,
                      size_t errlen);

#endif
