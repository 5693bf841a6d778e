/*
 * runas.h — whose rights root's file operations in an instance run with.
 *
 * An instance directory belongs to the unprivileged service user once the
 * service has run. Anything root does in there (cmdlets, the configuration
 * read before binding) could be redirected by that user with a symbolic or
 * hard link to a file outside, so root does it with the owner's rights:
 * a link then leads nowhere the owner could not already go. Files the
 * administrator names on the command line are read with root's own rights.
 * Must never: leave the process with root's effective rights inside an
 * owner scope, or be used after the service has dropped privileges for good.
 */
#ifndef POSTERN_RUNAS_H
#define POSTERN_RUNAS_H

#include <stddef.h>

/* When running as root and dir belongs to another user, takes that user's
 * effective uid and gid (keeping root as the saved uid). 0 when done or not
 * needed, -1 with err filled otherwise. */
int runas_owner_enter(const char *dir, char *err, size_t errlen);
/* Back to root's effective rights after runas_owner_enter. */
void runas_owner_leave(void);
/* Around reading a file the administrator named: root's rights for that
 * read only. No-ops outside an owner scope. */
void runas_admin_begin(void);
void runas_admin_end(void);
/* In sanitizer builds only: keeps the leak checker working in a process
 * that dropped root for good. A no-op in the builds that ship. */
void runas_sanitizer_keep_traceable(void);

#endif
