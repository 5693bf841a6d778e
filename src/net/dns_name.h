/*
 * dns_name.h — the one syntax check of a host or domain name as
 * configuration, certificates and cmdlets accept it: LDH labels (RFC 1035
 * 2.3.1, RFC 1123 2.1), 1..63 characters each, at most DNS_NAME_MAX in all,
 * optionally a "*." wildcard in front.
 * Must never: accept what a resolver or a certificate could not carry
 * (a trailing dot, an empty label, a label starting or ending with '-'),
 * or depend on the locale. Names on the wire (SMTP's EHLO and addresses,
 * with U-labels, smtp/smtp_parse.c; DNS answers, net/dns.c) have their own
 * grammars.
 */
#ifndef POSTERN_DNS_NAME_H
#define POSTERN_DNS_NAME_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 1035 2.3.4: 255 octets on the wire are at most 253 characters of
 * text, without the trailing dot. */
#define DNS_NAME_MAX 253

/* Copies name into out without the trailing dot of its absolute form
 * ("mail.example.com." names the same host as "mail.example.com"). False
 * when it is too long to be a DNS name. */
bool dns_name_without_root(const char *name, char out[DNS_NAME_MAX + 2]);

/* Is s a name of LDH labels? With allow_wildcard the left-most label may
 * be "*" ("*.example.com"); the length limit counts it. */
bool dns_name_valid(const char *s, bool allow_wildcard);

#endif
