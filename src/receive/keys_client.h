/*
 * keys_client.h — the smtp process's side of its channel to the keys
 * process: private-key operations for TLS (tls_remote_key.h transport),
 * DKIM signatures, password checks for SMTP AUTH, smart-host credentials,
 * and the public certificate material the keys process sends whenever it
 * changes.
 *
 * While the keys process is away (restarting), operations fail at once:
 * STARTTLS answers 454 4.7.0 (srv->keys_up is false), AUTH answers 454
 * 4.7.0, deliveries that need a credential wait for their retry. The
 * certificates in use stay until new ones arrive.
 * Must never: keep a password or credential after its request is done;
 * install a certificate store that would take STARTTLS away from a
 * connector that has it (server_swap_tls refuses that).
 */
#ifndef POSTERN_KEYS_CLIENT_H
#define POSTERN_KEYS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct server;
struct keys_client;

struct keys_client *keys_client_new(struct event_base *base, struct server *srv);
/* A (new) connected channel to the keys process; takes fd. */
void keys_client_attach(struct keys_client *kc, int fd);
/* The configuration changed: the certificates are set up again with its
 * cipher profile. */
void keys_client_reconfigure(struct keys_client *kc);
/* Has a first set of certificates arrived (possibly empty)? */
bool keys_client_has_certs(const struct keys_client *kc);
void keys_client_free(struct keys_client *kc);

/* A password check: done(arg, result) on the loop, exactly once; result 1:
 * the password is right, 0: it is not (or no such user), -1: the keys
 * process did not answer (a temporary failure). */
typedef void keys_auth_done_fn(void *arg, int result);
void keys_client_check_password(struct keys_client *kc, const char *user, const char *password,
                                keys_auth_done_fn *done, void *arg);

/* The password of a Send connector's credential for user (the one its
 * route policy names): done(arg, password, why) on the loop, once;
 * password NULL (and why set) when there is none, the credential changed,
 * or the keys process went away. The strings are valid during the call
 * only. NULL, and done never called, when the keys process is away now. */
typedef void keys_credential_fn(void *arg, const char *password, const char *why);
struct keys_request;
struct keys_request *keys_client_credential(struct keys_client *kc, const char *connector,
                                            const char *user, keys_credential_fn *done, void *arg);
/* Forgets a credential or DKIM request whose caller went away: done is
 * not called. */
void keys_client_cancel(struct keys_client *kc, struct keys_request *req);

/* A DKIM signature of hash (the SHA-256 of a message's signed data,
 * smtp/dkim.h) with the key of domain's selector whose TXT record text is
 * txt: done(arg, sig, siglen) on the loop, once; sig NULL when there is no
 * such key or the keys process went away. sig is valid during the call
 * only. NULL, and done never called, when the keys process is away now. */
typedef void keys_dkim_fn(void *arg, const unsigned char *sig, size_t siglen);
struct keys_request *keys_client_dkim_sign(struct keys_client *kc, const char *domain,
                                           const char *selector, const char *txt,
                                           const unsigned char *hash, size_t hashlen,
                                           keys_dkim_fn *done, void *arg);

#endif
