/*
 * tlsrpt.c — the "_smtp._tls" record and TLS result events (see tlsrpt.h).
 */
#include "routing/tlsrpt.h"
#include "lib/util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const results[] = {
    "success",
    /* RFC 8460 4.3.1-4.3.3 */
    "starttls-not-supported",
    "certificate-host-mismatch",
    "certificate-expired",
    "certificate-not-trusted",
    "validation-failure",
    "tlsa-invalid",
    "dnssec-invalid",
    "dane-required",
    "sts-policy-fetch-error",
    "sts-policy-invalid",
    "sts-webpki-invalid",
};

bool
tlsrpt_result_known(const char *result)
{
    for (size_t i = 0; result != NULL && i < sizeof(results) / sizeof(results[0]); i++)
        if (strcmp(result, results[i]) == 0)
            return true;
    return false;
}

/* One rua URI: mailto: or https:, printable, no "," or ";" inside. */
static bool
uri_ok(const char *s, size_t n)
{
    if (!((n > 7 && strncasecmp(s, "mailto:", 7) == 0) ||
          (n > 8 && strncasecmp(s, "https://", 8) == 0)))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
            return false;
    return true;
}

bool
tlsrpt_txt_parse(const char *text, char rua[TLSRPT_RUA_MAX])
{
    const char *p = text, *v;
    size_t used = 0;

    rua[0] = '\0';
    /* RFC 8460 3: "v=TLSRPTv1" first, then "rua=" with URIs separated by "," */
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncmp(p, "v=TLSRPTv1", 10) != 0 || (p[10] != ';' && p[10] != ' ' && p[10] != '\t'))
        return false;
    p += 10;
    while (*p != '\0') {
        while (*p == ';' || *p == ' ' || *p == '\t')
            p++;
        v = p;
        p += strcspn(p, ";");
        if (strncmp(v, "rua=", 4) != 0)
            continue;
        v += 4;
        while (v < p) {
            size_t n = strcspn(v, ",;");
            const char *e = v + (n < (size_t)(p - v) ? n : (size_t)(p - v));
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            size_t len = (size_t)(e - v);
            while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
                len--;
            if (uri_ok(v, len) && used + len + 2 < TLSRPT_RUA_MAX) {
                if (used > 0)
                    rua[used++] = ',';
                memcpy(rua + used, v, len);
                used += len;
                rua[used] = '\0';
            }
            v = e + 1;
        }
    }
    return used > 0;
}

static json_t *
strings(const char *const *v, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

char *
tlsrpt_event_json(const struct tlsrpt_event *e)
{
    json_t *o = json_object();
    char *text;

    json_object_set_new(o, "pt", json_string(e->policy_type));
    json_object_set_new(o, "ps", strings(e->policy, e->npolicy));
    json_object_set_new(o, "mx", strings(e->mx, e->nmx));
    json_object_set_new(o, "r", json_string(e->result));
    if (e->mx_host)
        json_object_set_new(o, "mxh", json_string(e->mx_host));
    if (e->ip)
        json_object_set_new(o, "ip", json_string(e->ip));
    if (e->rua && e->rua[0])
        json_object_set_new(o, "rua", json_string(e->rua));
    text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    return text != NULL ? text : xstrdup("{}");
}
