/*
 * iprange.h — RemoteIPRanges entries and listening bindings.
 *
 * An IP range is written in one of the four forms of Exchange's IPRange:
 *   single address   192.168.1.10, 2001:db8::1
 *   CIDR             10.0.0.0/8, 2001:db8::/32
 *   address(mask)    172.16.0.0(255.240.0.0)
 *   first-last       192.168.1.1-192.168.255.255, 2001:db8::1-2001:db8::ff
 * A bare IPv4 address takes its classful default mask (A /8, B /16, C /24)
 * when its host part under that mask is zero, and is one host otherwise
 * (the seed's rule: 10.0.0.0 is 10.0.0.0/8, 10.1.2.3 is 10.1.2.3/32).
 * A bare IPv6 address is always one host.
 *
 * A binding is IP:port, [IPv6]:port; 0.0.0.0 and [::] mean every address.
 * Pure functions: no I/O, no allocation.
 */
#ifndef POSTERN_IPRANGE_H
#define POSTERN_IPRANGE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum iprange_form {
    IPRANGE_SINGLE,   /* one host */
    IPRANGE_CLASSFUL, /* bare IPv4 address that took its classful mask */
    IPRANGE_CIDR,
    IPRANGE_NETMASK,
    IPRANGE_LOHI,
};

struct iprange {
    int family;     /* AF_INET or AF_INET6 */
    uint8_t lo[16]; /* first address, network byte order; IPv4 uses lo[0..3] */
    uint8_t hi[16]; /* last address, inclusive */
    enum iprange_form form;
};

enum iprange_relation {
    IPRANGE_DISJOINT,
    IPRANGE_EQUAL,
    IPRANGE_INSIDE,   /* a is strictly inside b */
    IPRANGE_CONTAINS, /* a strictly contains b */
    IPRANGE_OVERLAP,  /* they overlap without nesting: a configuration error */
};

/* Parses one entry. Returns 0, or -1 with a reason in err ("bad netmask",
 * "first address is after the last" ...). */
int iprange_parse(const char *text, struct iprange *out, char *err, size_t errlen);

/* Writes the range as understood: a single host as its address, anything
 * else as first-last, except CIDR/classful/netmask ranges which print as
 * address/prefix ("10.0.0.0/8"). */
void iprange_format(const struct iprange *r, char *buf, size_t len);

/* Does the range contain the address? An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) is matched as the IPv4 address it carries. */
bool iprange_contains(const struct iprange *r, const struct sockaddr *sa);

enum iprange_relation iprange_relate(const struct iprange *a, const struct iprange *b);

/* Orders by size: < 0 when a holds fewer addresses than b (a is more
 * specific), 0 when equal in size, > 0 otherwise. Ranges of different
 * families compare by family (IPv4 first) — they never both match. */
int iprange_cmp_size(const struct iprange *a, const struct iprange *b);

struct binding {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    uint16_t port; /* host byte order */
    bool any;      /* 0.0.0.0 or [::] */
};

/* Parses "IP:port" or "[IPv6]:port" (port 1-65535). */
int binding_parse(const char *text, struct binding *out, char *err, size_t errlen);
/* "0.0.0.0:25", "[::1]:2525". */
void binding_format(const struct binding *b, char *buf, size_t len);
/* Same family, address and port. */
bool binding_equal(const struct binding *a, const struct binding *b);
/* Fills a sockaddr for bind(2); returns its length. */
socklen_t binding_sockaddr(const struct binding *b, struct sockaddr_storage *ss);
/* Does a connection that arrived on local address sa belong to binding b
 * (same port, and same address unless b is "any" of the same family; an
 * IPv4-mapped local address counts as IPv4)? */
bool binding_matches(const struct binding *b, const struct sockaddr *sa);

/* "192.0.2.1:25" / "[2001:db8::1]:25" for logs; IPv4-mapped shown as IPv4. */
void sockaddr_format(const struct sockaddr *sa, char *buf, size_t len);
/* Just the address, no port. */
void sockaddr_format_ip(const struct sockaddr *sa, char *buf, size_t len);

/* Same IP address (ports ignored; IPv4-mapped counts as IPv4)? */
bool sockaddr_same_ip(const struct sockaddr *a, const struct sockaddr *b);

#endif
