/*
 * sasl_plain.c — see sasl_plain.h.
 */
#include "smtp/sasl_plain.h"

#include <string.h>

int
sasl_plain_split(const char *buf, size_t n, const char **authzid, const char **authcid,
                 const char **passwd)
{
    const char *first_nul = memchr(buf, '\0', n), *second_nul;
    size_t rest;

    if (first_nul == NULL)
        return -1;
    rest = n - (size_t)(first_nul + 1 - buf);
    if ((second_nul = memchr(first_nul + 1, '\0', rest)) == NULL)
        return -1;
    /* exactly two separators: a third NUL means octets after the password */
    if (memchr(second_nul + 1, '\0', n - (size_t)(second_nul + 1 - buf)) != NULL)
        return -1;
    if (second_nul == first_nul + 1 || second_nul + 1 == buf + n)
        return -1; /* empty authcid or passwd */
    *authzid = buf;
    *authcid = first_nul + 1;
    *passwd = second_nul + 1;
    return 0;
}
