/*
 * tls_dane.h — DANE for outbound SMTP (RFC 7672, on RFC 6698/7671): a
 * secure TLSA RRset put on a client SSL before its handshake, and the
 * verdict on the peer's chain after it.
 *
 * Only DANE-TA(2) and DANE-EE(3) are usable for SMTP (RFC 7672 3.1):
 * PKIX-TA(0) and PKIX-EE(1) records, private selectors and matching types,
 * and digests of the wrong length are ignored. DANE-EE checks no name and
 * no date (3.1.1); DANE-TA checks the chain's dates and that the
 * certificate names the TLSA base domain or the MX host (3.2.2).
 * Must never: accept a certificate that no usable record matches, or read
 * the TLSA records from anywhere but the caller (which got them secure).
 */
#ifndef POSTERN_TLS_DANE_H
#define POSTERN_TLS_DANE_H

#include <stdbool.h>
#include <stddef.h>

#include "net/dns.h"
#include "tls/tls.h"

struct ssl_st;

/* Is this record usable for SMTP? */
bool tls_tlsa_usable(const struct dns_tlsa *t);

/* Makes ssl verify the peer by the usable records of recs; names[0] is the
 * TLSA base domain, the others further names a DANE-TA certificate may
 * carry (the MX host as published). Returns how many records were taken
 * (0: none usable, and ssl is unchanged), or -1 with why. */
int tls_dane_enable(struct ssl_st *ssl, const char *const *names, size_t nnames,
                    const struct dns_tlsa *recs, size_t nrecs, char *why, size_t whylen);

/* After the handshake of an ssl given records: TLS_PEER_OK with the
 * record that matched in why ("DANE-EE(3) SPKI(1) SHA2-256(1) matches
 * CN=mx.example"), else the failure (TLS_PEER_DANE_NO_MATCH, a name or
 * date failure of DANE-TA, ...) with why naming the certificate and what
 * its "3 1 1" record would be. */
enum tls_peer_status tls_dane_check(struct ssl_st *ssl, char *why, size_t whylen);

#endif
