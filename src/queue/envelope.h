/*
 * envelope.h — what the queue knows about a message besides its content:
 * sender, recipients with their DSN requests, how and from where it came.
 *
 * On disk an envelope is versioned "key: value" text ending in "end", so a
 * truncated file is recognised and refused (envelope_parse). Values are
 * written with control characters escaped, one field per line.
 * Must never: accept an envelope without its end marker or of an unknown
 * version.
 */
#ifndef POSTERN_ENVELOPE_H
#define POSTERN_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define QUEUE_ID_LEN 16 /* hex digits */

enum rcpt_status { RCPT_READY, RCPT_DELIVERED, RCPT_FAILED };

struct envelope_rcpt {
    char *address;   /* as accepted at RCPT */
    unsigned notify; /* SMTP_NOTIFY_* bits */
    char *orcpt;     /* "rfc822;xtext" or NULL */
    enum rcpt_status status;
    char *last_error; /* why the last attempt failed ("smtp; 451 4.3.0 ..."), or NULL */
};

struct envelope {
    char id[QUEUE_ID_LEN + 1];
    time_t received;
    char *connector; /* receive connector name */
    char *client_ip;
    char *client_helo;
    char *auth_user;      /* authenticated identity, or NULL */
    char *tls;            /* "version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384", or NULL */
    char *domain_secured; /* sender domain proved by domain security, or NULL */
    char *from;           /* reverse-path, "" for <> */
    char *envid;          /* DSN ENVID (xtext), or NULL */
    int ret;              /* smtp_ret */
    int body;             /* smtp_body */
    bool smtputf8;
    /* RFC 8689: MAIL FROM carried REQUIRETLS, so the message may travel on
     * only as RFC 8689 4.2.1 says (TLS, checked certificate, REQUIRETLS
     * offered by the next hop): the delivery side's duty. */
    bool requiretls;
    /* The top-level header section had "TLS-Required: No" and MAIL FROM no
     * REQUIRETLS: the sender asks that the recipient domains' TLS policies
     * (DANE, MTA-STS) be ignored for this message. Never set together with
     * requiretls. */
    bool tls_required_no;
    uint64_t size; /* content bytes as stored */
    struct envelope_rcpt *rcpts;
    size_t nrcpts;

    /* delivery state, rewritten by queue_update */
    unsigned attempts;
    time_t next_attempt; /* 0: as soon as possible */
    bool delay_notified; /* the delay DSN went out */
    bool suspended;      /* Suspend-Message */
};

struct envelope *envelope_new(void);
void envelope_free(struct envelope *env);
void envelope_add_rcpt(struct envelope *env, const char *address, unsigned notify,
                       const char *orcpt);

/* Serialises into a malloc'd string (caller frees); *len receives its length. */
char *envelope_serialize(const struct envelope *env, size_t *len);
/* Parses text of length len. NULL with a reason in err when the text is
 * truncated, of an unknown version, or malformed. */
struct envelope *envelope_parse(const char *text, size_t len, char *err, size_t errlen);

#endif
