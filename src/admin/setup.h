/*
 * setup.h — creating an instance, as Exchange's Setup does: the directory
 * tree, the default configuration (one Receive connector, no accepted
 * domain: nothing is accepted or relayed until the administrator says so)
 * and a self-signed certificate for the server's FQDN.
 * Must never: overwrite an existing instance.
 */
#ifndef POSTERN_SETUP_H
#define POSTERN_SETUP_H

#include <stddef.h>

#include "net/iprange.h"

/* The host's FQDN as best known (gethostname, then the resolver's
 * canonical name). */
void setup_default_fqdn(char *buf, size_t len);

/* Returns 0, or -1 with a message on stderr. */
int setup_instance(const char *dir, const char *fqdn, const struct binding *bindings,
                   size_t nbindings);

#endif
