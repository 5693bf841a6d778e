/*
 * tlsrpt_uri.h — the one check of an https: reporting URI of a
 * "_smtp._tls" record (RFC 8460 3) before a report is POSTed to it
 * (RFC 8460 5.2): "https://host[:port][/path][?query]", host a DNS name,
 * split into what an HTTP request needs.
 *
 * Both processes run it: the queue process before it keeps a report for
 * POST, and the smtp process again before it resolves and connects, since
 * it trusts the queue process more than the network, not blindly.
 * Pure function of its input.
 * Must never: accept userinfo ("user@host"), an IP literal, a fragment,
 * a byte outside printable ASCII, or a path that would change the meaning
 * of the HTTP request line it goes into.
 */
#ifndef POSTERN_TLSRPT_URI_H
#define POSTERN_TLSRPT_URI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/dns_name.h"

/* The longest URI taken (a whole rua list is shorter: routing/tlsrpt.h). */
#define TLSRPT_URI_MAX 512

/* The media types of RFC 8460 5.2 / 6.4 and 6.5. */
#define TLSRPT_TYPE_GZIP "application/tlsrpt+gzip"
#define TLSRPT_TYPE_JSON "application/tlsrpt+json"

struct tlsrpt_https_uri {
    char host[DNS_NAME_MAX + 1]; /* lower case, no trailing dot */
    uint16_t port;               /* 443 unless given */
    char path[TLSRPT_URI_MAX];   /* "/..." with the query, as sent */
};

/* Checks uri and fills out: true, or false with a one-line reason in why
 * (which never repeats the URI). */
bool tlsrpt_https_uri_parse(const char *uri, struct tlsrpt_https_uri *out, char *why,
                            size_t whylen);

#endif
