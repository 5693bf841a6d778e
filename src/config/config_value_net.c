/*
 * config_value_net.c — the value syntaxes of routing parameters, checked
 * and normalised one entry at a time (see config_param.h):
 *
 *   AddressSpaces       SMTP:*.contoso.com;5    contoso.com    *
 *   SmartHosts          relay.contoso.com   192.0.2.10   [2001:db8::10]
 *   ExternalDNSServers  192.0.2.53   2001:db8::53@5353
 *   LmtpServer          mail.example:24   [2001:db8::1]:24   /run/dovecot/lmtp
 *   AuthenticationCredential   user:password
 *
 * Pure functions: no I/O, no name resolution (a smart host that does not
 * resolve today may tomorrow; the sender reports that, not the config).
 * Must never: put a credential's text in an error message (it would land
 * on a terminal, in a log or in a support ticket).
 */
#include "config/config_param.h"
#include "lib/util.h"
#include "net/dns_name.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

/* Address-space cost (docs/exchange-model.md, "Send connectors"). */
#define COST_MIN 1
#define COST_MAX 100
/* Longest value of any of these (STRING_MAX of config_param.c). */
#define VALUE_MAX 1024

/* The text of an IPv4 or IPv6 literal in canonical form (inet_ntop), or
 * false when s is neither. *v6 tells which. */
static bool
ip_canonical(const char *s, char *buf, size_t len, bool *v6)
{
    unsigned char addr[16];

    if (inet_pton(AF_INET, s, addr) == 1) {
        *v6 = false;
        return inet_ntop(AF_INET, addr, buf, (socklen_t)len) != NULL;
    }
    if (inet_pton(AF_INET6, s, addr) == 1) {
        *v6 = true;
        return inet_ntop(AF_INET6, addr, buf, (socklen_t)len) != NULL;
    }
    return false;
}

/* A host name: RFC 1035 labels, and not all digits in the last label
 * (RFC 1123 2.1: "999.1.1.1" is a bad IP address, not a name). */
static bool
host_name_valid(const char *s)
{
    const char *last = strrchr(s, '.');

    if (!dns_name_valid(s, false))
        return false;
    last = last ? last + 1 : s;
    for (; *last; last++)
        if (!isdigit((unsigned char)*last))
            return true;
    return false;
}

/* "1".."65535", nothing else. */
static bool
port_parse(const char *s, unsigned *port)
{
    uint64_t v;

    if (*s == '\0' || strspn(s, "0123456789") != strlen(s) || !config_u64_parse(s, &v) || v < 1 ||
        v > 65535)
        return false;
    *port = (unsigned)v;
    return true;
}

int
config_address_space_parse(const char *text, struct address_space *out, char *err, size_t errlen)
{
    char *t = xstrdup(text), *space = str_trim(t), *colon, *semi;
    uint64_t cost = COST_MIN;
    int rc = -1;

    if ((colon = strchr(space, ':')) != NULL) {
        /* Exchange's "Type:" prefix; only SMTP address spaces route here. */
        *colon = '\0';
        if (!str_ieq(str_trim(space), "SMTP")) {
            errorf(err, errlen, "only SMTP address spaces are supported (SMTP:contoso.com)");
            goto out;
        }
        space = colon + 1;
    }
    if ((semi = strchr(space, ';')) != NULL) {
        *semi = '\0';
        if (!config_u64_parse(semi + 1, &cost) || cost < COST_MIN || cost > COST_MAX) {
            errorf(err, errlen, "the cost after ';' must be a number from %d to %d", COST_MIN,
                   COST_MAX);
            goto out;
        }
    }
    space = str_trim(space);
    str_lower(space);
    if (strcmp(space, "*") != 0 && !dns_name_valid(space, true)) {
        errorf(err, errlen, "%s",
               strchr(space, '*') != NULL
                   ? "a wildcard is allowed only as * or as *.domain (*.contoso.com)"
                   : "not a valid domain name (contoso.com, *.contoso.com or *)");
        goto out;
    }
    out->domain = xstrdup(space);
    out->cost = (unsigned)cost;
    rc = 0;
out:
    free(t);
    return rc;
}

void
config_address_space_format(const struct address_space *as, char *buf, size_t len)
{
    snprintf(buf, len, "SMTP:%s;%u", as->domain, as->cost);
}

int
config_smart_host_parse(const char *text, char **out, char *err, size_t errlen)
{
    char ip[INET6_ADDRSTRLEN];
    size_t n = strlen(text);
    bool v6;

    if (n > 0 && text[0] == '[') {
        /* An address literal, as in RFC 5321: [192.0.2.1] or [2001:db8::1]. */
        char *inner = xstrndup(text + 1, n > 1 ? n - 2 : 0);
        bool ok = n > 2 && text[n - 1] == ']' && ip_canonical(inner, ip, sizeof(ip), &v6);
        free(inner);
        if (!ok) {
            errorf(err, errlen, "not an IP address in brackets");
            return -1;
        }
        *out = v6 ? xasprintf("[%s]", ip) : xstrdup(ip);
        return 0;
    }
    if (ip_canonical(text, ip, sizeof(ip), &v6)) {
        *out = v6 ? xasprintf("[%s]", ip) : xstrdup(ip);
        return 0;
    }
    char *h = xstrdup(text);
    str_lower(h);
    if (!host_name_valid(h)) {
        errorf(err, errlen, "%s",
               strchr(h, ':') != NULL
                   ? "not a host name or IP address (a smart host takes no port: use -Port)"
                   : "not a host name or IP address");
        free(h);
        return -1;
    }
    *out = h;
    return 0;
}

int
config_server_name_parse(const char *text, char **out, char *err, size_t errlen)
{
    char *lower = xstrdup(text);
    bool ok;

    /* Kept as typed (Exchange shows server names as they were given);
     * compared case-insensitively. */
    str_lower(lower);
    ok = host_name_valid(lower);
    free(lower);
    if (!ok) {
        errorf(err, errlen, "not a server name (a host name or FQDN)");
        return -1;
    }
    *out = xstrdup(text);
    return 0;
}

int
config_dns_server_parse(const char *text, char **out, char *err, size_t errlen)
{
    const char *at = strrchr(text, '@');
    size_t iplen = at ? (size_t)(at - text) : strlen(text);
    char *addr = xstrndup(text, iplen), ip[INET6_ADDRSTRLEN];
    unsigned port = 0;
    bool v6, ok;

    /* "[2001:db8::53]@5353" reads as well as the bare form. */
    if (iplen >= 2 && addr[0] == '[' && addr[iplen - 1] == ']') {
        memmove(addr, addr + 1, iplen - 2);
        addr[iplen - 2] = '\0';
    }
    ok = ip_canonical(addr, ip, sizeof(ip), &v6);
    free(addr);
    if (!ok) {
        errorf(err, errlen, "not an IP address (IP or IP@port)");
        return -1;
    }
    if (at != NULL && !port_parse(at + 1, &port)) {
        errorf(err, errlen, "the port after '@' must be a number from 1 to 65535");
        return -1;
    }
    *out = at ? xasprintf("%s@%u", ip, port) : xstrdup(ip);
    return 0;
}

int
config_lmtp_server_check(const char *text, char *err, size_t errlen)
{
    const char *colon;
    char ip[INET6_ADDRSTRLEN];
    unsigned port;
    bool v6;

    if (str_has_control(text) || strlen(text) > VALUE_MAX) {
        errorf(err, errlen, "not host:port, [IPv6]:port or /path/to/socket");
        return -1;
    }
    if (text[0] == '/') {
        struct sockaddr_un sun;
        if (strlen(text) >= sizeof(sun.sun_path) || text[1] == '\0') {
            errorf(err, errlen, "a socket path is 2 to %zu characters long",
                   sizeof(sun.sun_path) - 1);
            return -1;
        }
        return 0;
    }
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        char *inner = close ? xstrndup(text + 1, (size_t)(close - text - 1)) : NULL;
        bool ok = inner != NULL && ip_canonical(inner, ip, sizeof(ip), &v6) && v6;
        free(inner);
        if (!ok) {
            errorf(err, errlen, "not an IPv6 address in brackets ([2001:db8::1]:24)");
            return -1;
        }
        if (close[1] != ':' || !port_parse(close + 2, &port)) {
            errorf(err, errlen, "missing or bad :port after the address (1-65535)");
            return -1;
        }
        return 0;
    }
    if ((colon = strrchr(text, ':')) == NULL || colon == text) {
        errorf(err, errlen, "not host:port, [IPv6]:port or /path/to/socket");
        return -1;
    }
    char *host = xstrndup(text, (size_t)(colon - text));
    bool had_colon = strchr(host, ':') != NULL, ok = false;
    if (!had_colon) {
        str_lower(host);
        ok = ip_canonical(host, ip, sizeof(ip), &v6) || host_name_valid(host);
    }
    free(host);
    if (!ok) {
        errorf(err, errlen, "%s",
               had_colon ? "an IPv6 address goes in brackets ([2001:db8::1]:24)"
                         : "not a host name or IP address before ':port'");
        return -1;
    }
    if (!port_parse(colon + 1, &port)) {
        errorf(err, errlen, "the port after ':' must be a number from 1 to 65535");
        return -1;
    }
    return 0;
}

int
config_credential_check(const char *text, char *err, size_t errlen)
{
    const char *colon = strchr(text, ':');

    if (str_has_control(text)) {
        errorf(err, errlen, "control characters are not allowed");
        return -1;
    }
    if (strlen(text) > VALUE_MAX) {
        errorf(err, errlen, "longer than %d characters", VALUE_MAX);
        return -1;
    }
    if (colon == NULL || colon == text) {
        errorf(err, errlen, "expected user:password");
        return -1;
    }
    if (colon[1] == '\0') {
        errorf(err, errlen, "the password is empty");
        return -1;
    }
    return 0;
}
