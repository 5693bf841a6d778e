/*
 * dns_name.c — see dns_name.h.
 */
#include "net/dns_name.h"
#include "lib/util.h"

#include <string.h>

/* RFC 1035 2.3.4: a label is at most 63 octets. */
#define DNS_LABEL_MAX 63

static bool
is_ldh(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

bool
dns_name_valid(const char *s, bool allow_wildcard)
{
    size_t len = strlen(s), label = 0;

    if (len == 0 || len > DNS_NAME_MAX)
        return false;
    if (allow_wildcard && s[0] == '*' && s[1] == '.')
        s += 2;
    for (const char *p = s;; p++) {
        if (*p == '.' || *p == '\0') {
            if (label == 0 || label > DNS_LABEL_MAX || p[-1] == '-')
                return false;
            if (*p == '\0')
                return true;
            label = 0;
        } else if (is_ldh(*p) && (*p != '-' || label > 0)) {
            label++;
        } else {
            return false;
        }
    }
}

bool
dns_name_without_root(const char *name, char out[DNS_NAME_MAX + 2])
{
    size_t n = strlcpy_p(out, name, DNS_NAME_MAX + 2);

    if (n >= DNS_NAME_MAX + 2)
        return false;
    if (n > 1 && out[n - 1] == '.')
        out[n - 1] = '\0';
    return true;
}
