/*
 * fuzz_smtp_parse.c — libFuzzer target for the SMTP command grammar
 * (smtp/smtp_parse.h): one command line as a client could send it (CRLF
 * removed), split into verb and argument, then MAIL/RCPT paths and
 * parameters, HELO names and the base64 of AUTH.
 *
 * Besides memory errors it checks what the header promises: a refusal is
 * a complete SMTP reply with zeroed outputs; an accepted address reads
 * back as itself; strict base64 decodes only canonical text.
 * Must never: keep state between inputs.
 */
#include "fuzz_common.h"
#include "smtp/smtp_parse.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
all_zero(const void *p, size_t n)
{
    const unsigned char *c = p;

    for (size_t i = 0; i < n; i++)
        if (c[i] != 0)
            return false;
    return true;
}

/* "501 5.5.4 ..." : three digits, a space, then text. */
static void
check_reply(const char *reply)
{
    FUZZ_CHECK(reply != NULL);
    FUZZ_CHECK(reply[0] >= '4' && reply[0] <= '5');
    FUZZ_CHECK(reply[1] >= '0' && reply[1] <= '9' && reply[2] >= '0' && reply[2] <= '9');
    FUZZ_CHECK(reply[3] == ' ' && reply[4] != '\0');
    FUZZ_CHECK(strpbrk(reply, "\r\n") == NULL);
}

static void
check_address(const struct smtp_address *a, bool postmaster_ok)
{
    size_t len = strnlen(a->addr, sizeof(a->addr));

    FUZZ_CHECK(len < sizeof(a->addr));
    FUZZ_CHECK(len <= SMTP_PATH_MAX - 2);
    if (a->at != 0) {
        FUZZ_CHECK(a->at < len && a->addr[a->at] == '@');
        FUZZ_CHECK(a->at <= SMTP_LOCAL_MAX);
        FUZZ_CHECK(strcmp(smtp_address_domain(a), a->addr + a->at + 1) == 0);
    } else if (len != 0) {
        /* only RCPT TO:<postmaster> has no domain */
        FUZZ_CHECK(postmaster_ok && len == 10 && strncasecmp(a->addr, "postmaster", 10) == 0);
        FUZZ_CHECK(*smtp_address_domain(a) == '\0');
    }
}

static void
fuzz_mail(const char *arg)
{
    struct smtp_address from, again;
    struct smtp_mail_params mp, mp2;
    const char *reply = "unset";
    char line[SMTP_PATH_MAX + 64];

    if (smtp_parse_mail(arg, &from, &mp, &reply) < 0) {
        check_reply(reply);
        FUZZ_CHECK(all_zero(&from, sizeof(from)) && all_zero(&mp, sizeof(mp)));
        return;
    }
    FUZZ_CHECK(reply == NULL);
    check_address(&from, false);
    FUZZ_CHECK(strlen(mp.envid) <= SMTP_ENVID_MAX);
    FUZZ_CHECK(mp.envid[0] == '\0' || smtp_valid_xtext(mp.envid));
    FUZZ_CHECK(!from.utf8 || mp.smtputf8);
    /* What was accepted (source route dropped) is accepted again as is. */
    snprintf(line, sizeof(line), "FROM:<%s>%s%s", from.addr, from.utf8 ? " SMTPUTF8" : "",
             mp.requiretls ? " REQUIRETLS" : "");
    FUZZ_CHECK(smtp_parse_mail(line, &again, &mp2, &reply) == 0);
    FUZZ_CHECK(strcmp(again.addr, from.addr) == 0 && again.at == from.at &&
               again.utf8 == from.utf8 && mp2.requiretls == mp.requiretls);
}

static void
fuzz_rcpt(const char *arg)
{
    struct smtp_address to, again;
    struct smtp_rcpt_params rp, rp2;
    const char *reply = "unset";
    char line[SMTP_PATH_MAX + 64];

    if (smtp_parse_rcpt(arg, &to, &rp, &reply) < 0) {
        check_reply(reply);
        FUZZ_CHECK(all_zero(&to, sizeof(to)) && all_zero(&rp, sizeof(rp)));
        return;
    }
    FUZZ_CHECK(reply == NULL);
    FUZZ_CHECK(to.addr[0] != '\0'); /* no null forward-path */
    check_address(&to, true);
    FUZZ_CHECK(strlen(rp.orcpt) <= SMTP_ORCPT_MAX);
    FUZZ_CHECK(!(rp.notify & SMTP_NOTIFY_NEVER) || rp.notify == SMTP_NOTIFY_NEVER);
    snprintf(line, sizeof(line), "TO:<%s>", to.addr);
    FUZZ_CHECK(smtp_parse_rcpt(line, &again, &rp2, &reply) == 0);
    FUZZ_CHECK(strcmp(again.addr, to.addr) == 0 && again.at == to.at && again.utf8 == to.utf8);
}

/* Strict decoding accepts only what the encoder writes, and the encoder's
 * output always decodes back to the octets it came from. */
static void
fuzz_base64(const char *text, size_t len)
{
    unsigned char bin[1024];
    char b64[1400];
    long n, m;

    n = base64_decode(text, len, bin, sizeof(bin));
    if (n >= 0) {
        FUZZ_CHECK((size_t)n < sizeof(bin) && bin[n] == '\0');
        m = base64_encode(bin, (size_t)n, b64, sizeof(b64));
        FUZZ_CHECK(m >= 0 && (size_t)m == len && memcmp(b64, text, len) == 0);
    }
    if (len <= sizeof(bin) - 1) {
        m = base64_encode((const unsigned char *)text, len, b64, sizeof(b64));
        FUZZ_CHECK(m >= 0 && (size_t)m == (len + 2) / 3 * 4);
        n = base64_decode(b64, (size_t)m, bin, sizeof(bin));
        FUZZ_CHECK(n >= 0 && (size_t)n == len && memcmp(bin, text, len) == 0);
    }
    /* an output buffer one octet short is refused, never overrun */
    if (len >= 4 && len % 4 == 0 && base64_decode(text, len, bin, sizeof(bin)) > 0) {
        n = base64_decode(text, len, bin, sizeof(bin));
        FUZZ_CHECK(base64_decode(text, len, bin, (size_t)n) == -1);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = fuzz_cstr(data, size), *copy, *sp;
    struct smtp_command cmd;
    size_t len = strlen(line);

    smtp_command_parse(line, &cmd);
    FUZZ_CHECK(cmd.verb_text != NULL && cmd.arg >= line && cmd.arg <= line + len);
    FUZZ_CHECK((cmd.verb == SMTP_VERB_UNKNOWN) == (strcmp(cmd.verb_text, "UNKNOWN") == 0));

    /* Each parser on the argument, as the session would, and on the raw
     * line too, so that seeds need not carry a verb to reach them. */
    fuzz_mail(cmd.arg);
    fuzz_rcpt(cmd.arg);
    fuzz_mail(line);
    fuzz_rcpt(line);

    copy = strdup(cmd.arg);
    if (copy == NULL)
        abort();
    for (size_t n = strlen(copy); n > 0 && (copy[n - 1] == ' ' || copy[n - 1] == '\t'); n--)
        copy[n - 1] = '\0';
    (void)smtp_valid_helo(copy);
    (void)smtp_valid_helo(line);
    (void)smtp_valid_xtext(line);
    /* AUTH PLAIN <initial-response>: the base64 is the second word */
    sp = strchr(copy, ' ');
    fuzz_base64(sp ? sp + 1 : copy, strlen(sp ? sp + 1 : copy));
    fuzz_base64(line, len);
    free(copy);
    free(line);
    return 0;
}
