/*
 * dkim_signer.h — DKIM signing of outgoing mail in the smtp process: for
 * a transaction about to leave through a Send connector, the
 * DKIM-Signature field to send before its content (outbound/outbound.h
 * outbound_send_prepend), when the domain of its From: address has an
 * enabled DkimSigningConfig.
 *
 * How: the content (a read-only file descriptor, read with pread so its
 * offset stays where the client expects it) is hashed here a slice per
 * turn of the loop, canonicalized as the configuration says
 * (smtp/dkim.h); the keys process signs the 32-byte hash with the
 * selector's private key (MSG_DKIM_SIGN, keys/dkim_keyring.h), which never
 * comes here.
 *
 * DKIM never holds mail: whatever goes wrong (no key, a header section
 * too long, the keys process away or slow) the answer is "unsigned" and
 * the mail goes on; the log says so once per domain and configuration.
 * Must never: call back from inside dkim_signer_start or after
 * dkim_signer_cancel; block the loop on a whole message; close or move
 * the descriptor it reads.
 */
#ifndef POSTERN_DKIM_SIGNER_H
#define POSTERN_DKIM_SIGNER_H

#include <stdbool.h>

struct event_base;
struct keys_client;
struct config;
struct dkim_signer;
struct dkim_job;

/* How long a signature may take before the mail goes unsigned. */
#define DKIM_SIGN_TIMEOUT_MS 3000
/* Octets hashed per turn of the loop. */
#define DKIM_SLICE (1024 * 1024)

struct dkim_signer *dkim_signer_new(struct event_base *base, struct keys_client *keys);
void dkim_signer_free(struct dkim_signer *s);

/* Has cfg an enabled DkimSigningConfig at all? (Without one, nothing is
 * read and transactions go out at once.) */
bool dkim_signer_wanted(const struct config *cfg);

/* The field for the message in fd: done(arg, field) on the loop, exactly
 * once unless cancelled; field is the whole DKIM-Signature field,
 * CRLF-terminated, valid during the call only, or NULL: not signed. cfg
 * is referenced for as long as the job runs. */
typedef void dkim_signer_done_fn(void *arg, const char *field);
struct dkim_job *dkim_signer_start(struct dkim_signer *s, struct config *cfg, int fd,
                                   dkim_signer_done_fn *done, void *arg);
/* Stops a job whose caller went away: done is not called. */
void dkim_signer_cancel(struct dkim_job *j);

#endif
