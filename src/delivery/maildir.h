/*
 * maildir.h — local delivery into a Maildir (tmp/, new/, cur/) under
 * DIR/mail/<address>/, readable by Dovecot or any Maildir reader.
 *
 * The file name is derived from a key the caller makes unique per message
 * and recipient (queue ID + recipient index), so a delivery repeated after
 * a crash finds the earlier copy in new/ (or cur/) and does not deliver
 * twice. Blocking I/O: call from a worker thread, never the event loop.
 * Must never: report success before the message file and the new/
 * directory are fsynced.
 */
#ifndef POSTERN_MAILDIR_H
#define POSTERN_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>

/* Delivers the message content_fd (read from its start with pread: the
 * descriptor's offset is left alone) into maildir_root (created with
 * tmp/new/cur, mode 0700, when missing), prepending "Return-Path: <rp>" and
 * "Delivered-To: <to>" lines. Returns 0 (delivered, or found already
 * delivered), or -1 with err set and *temporary telling whether a retry may
 * succeed (a full disk is temporary; a path that is not a directory is
 * not). */
int maildir_deliver(const char *maildir_root, const char *unique_key, int content_fd,
                    const char *return_path, const char *delivered_to, bool *temporary, char *err,
                    size_t errlen);

#endif
