/*
 * keys_process.h — the keys process (OpenSMTPD's "ca"): the only process
 * that reads private keys, mailbox password hashes and smart-host
 * credentials.
 *
 * It answers the smtp process: signatures for TLS handshakes (with the key
 * a certificate's thumbprint names), DKIM signatures of outgoing mail
 * (with the keys of DIR/dkim that an enabled DkimSigningConfig publishes,
 * keys/dkim_keyring.h; read again on every reload), password checks for
 * SMTP AUTH (on worker threads: yescrypt is slow on purpose; an unknown
 * user costs as much as a wrong password) and the credential of a Send connector for
 * AUTH to a smart host. It watches DIR/certs and sends the smtp process the
 * public certificate material (tls_bundle_export) at start, after every
 * change on disk and after every reload.
 * Runs as the service user, not dumpable, with no new privileges.
 * Must never: send a private key, a hash, or anything but the one
 * credential asked for; sign with a key no certificate of DIR/certs or
 * enabled DkimSigningConfig names.
 */
#ifndef POSTERN_KEYS_PROCESS_H
#define POSTERN_KEYS_PROCESS_H

#include "lib/proc.h"

/* The process's main (daemon/children.h); returns its exit status. */
int keys_process_main(const struct proc_start *st);

#endif
