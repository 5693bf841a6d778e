/*
 * proc.h — the processes of a running service, what each starts with, and
 * the messages they exchange (lib/ipc.h frames them). docs/security.md draws the picture.
 *
 *   daemon (root) --ctl--> keys, queue, smtp     configuration, stop, peers
 *   smtp <--spool--> queue                       message files and commits
 *   smtp <--outbound-- queue                     connections to next hops
 *   smtp <--logs---> queue                       log files (blocking calls)
 *   smtp <--metrics--> queue                     the queue's metrics for a scrape
 *   smtp <--keys---> keys                        signatures (TLS, DKIM), password
 *                                                checks, credentials, certificates
 *
 * Payloads are encoded with lib/ipc_buf.h; each message's comment lists its
 * fields in order. Every receiver checks a payload completely before acting
 * on it: a process trusts the daemon, and nothing that comes from smtp.
 * Must never: reuse a number for a different meaning within one build.
 */
#ifndef POSTERN_PROC_H
#define POSTERN_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum proc_role { PROC_KEYS, PROC_QUEUE, PROC_SMTP, PROC_NROLES };

/* The channels a child has besides its control channel to the daemon. */
enum proc_peer {
    PEER_SMTP_SPOOL,    /* smtp <-> queue: message files and commits */
    PEER_SMTP_OUTBOUND, /* queue <-> smtp: connections to next hops */
    PEER_SMTP_LOGS,     /* smtp <-> queue: log files, synchronous */
    PEER_SMTP_KEYS,     /* smtp <-> keys */
    PEER_SMTP_METRICS,  /* smtp <-> queue: metrics text (its own channel: a scrape never
                           waits behind commits, nor commits behind a scrape) */
    PEER_N
};

/* What a child starts with: fork() copies it into the child, which owns
 * the descriptors in it. */
struct proc_start {
    enum proc_role role;
    const char *instance_dir;
    int ctl_fd;          /* to the daemon */
    int peer_fd[PEER_N]; /* -1 where the role has no such channel (yet) */
    const char *config;  /* configuration text (keys: whole; others: redacted) */
    size_t config_len;
    const int *listen_fds; /* smtp: listening sockets, and their bindings */
    const char *const *listen_bindings;
    size_t nlisten;
    uid_t uid; /* the service user, when started as root */
    gid_t gid;
    const char *empty_dir; /* the chroot fallback of the smtp process */
    int log_fd;            /* run --daemon: the log file, for stderr; else -1 */
};

/* A child's exit status saying it stopped at once, cutting off work in
 * flight (nothing acknowledged): the others then stop at once too. */
#define PROC_EXIT_CUT_OFF 3

/* Which two roles a peer channel joins. */
static inline enum proc_role
proc_peer_other(enum proc_peer p, enum proc_role me)
{
    enum proc_role a = PROC_SMTP, b = p == PEER_SMTP_KEYS ? PROC_KEYS : PROC_QUEUE;
    return me == a ? b : a;
}

static inline bool
proc_peer_has(enum proc_peer p, enum proc_role r)
{
    return r == PROC_SMTP || (r == PROC_KEYS) == (p == PEER_SMTP_KEYS);
}

static inline const char *
proc_role_name(enum proc_role r)
{
    return r == PROC_KEYS ? "keys" : r == PROC_QUEUE ? "queue" : "smtp";
}

enum proc_msg_type {
    /* daemon -> child */
    /* configuration text and its NUL (keys: whole; others: without
     * secrets); the child answers with an empty MSG_CONFIG of the same id
     * once it applies it */
    MSG_CONFIG = 1,
    MSG_LISTENER,      /* fd + str: binding ("0.0.0.0:25", "metrics 127.0.0.1:9125"
                          for MetricsBindings: receive/accept_set.h); smtp only */
    MSG_LISTENERS_END, /* id: the listeners above are the whole set; smtp
                          answers with the same message once it applied it */
    MSG_PEER,          /* fd + u32: enum proc_peer, a new channel after a restart */
    MSG_STOP,          /* finish what is in flight, then exit */
    MSG_STOP_NOW,      /* exit at once */
    MSG_CONTROL,       /* id + str x5: a queue cmdlet's words (queue only) */
    /* child -> daemon */
    MSG_READY = 20,    /* the child serves */
    MSG_CONTROL_REPLY, /* id + u32 ok + str: the cmdlet's output or error */
    MSG_TEST_OPEN, /* daemon -> smtp, test builds only: str path -> MSG_TEST_OPEN_RESULT u32 errno
                    */
    MSG_TEST_OPEN_RESULT,

    /* smtp <-> queue: spool (receive/spool.c, queue/spool_server.c); id = request */
    MSG_SPOOL_BEGIN = 40, /* smtp -> queue, no payload: a content file for the pool */
    MSG_SPOOL_BEGUN,      /* id + fd + str message id | u32 errno, str reason (no fd) */
    MSG_SPOOL_COMMIT,     /* id + str message id, u32 write errno, u64 size, bytes envelope */
    MSG_SPOOL_COMMITTED,  /* id + u32 errno */
    MSG_SPOOL_ABORT,      /* id (0: no answer) + str message id, u32 write errno */
    MSG_SPOOL_ABORTED,    /* id: the file of that ABORT is gone */
    /* queue -> smtp: outbound connections; id = connection */
    MSG_OUT_OPEN = 60, /* bytes: route policy (routing/route_policy.h) */
    MSG_OUT_SEND,      /* fd (content) + str envelope text, u32 n, u32 rcpt index... */
    MSG_OUT_QUIT,
    MSG_OUT_ABORT,
    /* a TLS report POSTed over HTTPS (RFC 8460 5.2), id = request (their own
     * numbering): str uri, str content type, bytes body; MSG_OUT_POSTED
     * answers it */
    MSG_OUT_POST,
    MSG_OUT_POST_CANCEL, /* id: that POST's answer is no longer wanted */
    /* smtp -> queue */
    MSG_OUT_READY = 70, /* str relay, str TLS summary (outbound_tls) */
    MSG_OUT_DONE,       /* u32 n, then per recipient: u32 code, u32 temporary, str text */
    MSG_OUT_FINISHED,   /* see outbound_end_encode */
    MSG_OUT_RELAY,      /* str: the peer now connected, "host[addr]" */
    MSG_OUT_STS,        /* str: a fetched MTA-STS policy (routing/mtasts.h cache form) */
    MSG_OUT_TLSRPT,     /* str: one attempt's TLS result (routing/tlsrpt.h JSON) */
    MSG_OUT_POSTED,     /* id of a POST + u32 HTTP status (0: no answer), str why */
    /* smtp <-> queue: logs */
    MSG_LOG_OPEN = 80, /* id + str subdir, str prefix, str day (yyyymmdd), str #Date */
    MSG_LOG_OPENED,    /* id + u32 errno; with 0, fd (O_WRONLY|O_APPEND) */
    /* smtp <-> queue: metrics (receive/metrics_peer.c, qmgr/metrics_answer.c) */
    MSG_METRICS_GET = 90, /* smtp -> queue, id = request, no payload */
    MSG_METRICS_TEXT,     /* queue -> smtp, id + str: its families, text format 0.0.4 */

    /* smtp <-> keys */
    MSG_KEY_SIGN = 100,    /* id + str key id, u32 op, u32 padding, bytes input */
    MSG_KEY_SIGNED,        /* id + u32 ok, bytes output */
    MSG_AUTH_CHECK,        /* id + str user, str password */
    MSG_AUTH_RESULT,       /* id + u32 ok */
    MSG_CREDENTIAL,        /* id + str send connector */
    MSG_CREDENTIAL_RESULT, /* id + u32 found, str user, str password */
    MSG_CERTS,             /* keys -> smtp: bytes public certificate bundle (tls) */
    /* a DKIM signature (keys/dkim_keyring.h): id + str domain, str selector,
     * str its public key's TXT record text, bytes SHA-256 of the signed data */
    MSG_DKIM_SIGN = 110,
    MSG_DKIM_SIGNED, /* id + u32 ok, bytes signature */
};

#endif
