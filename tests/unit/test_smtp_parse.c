/*
 * test_smtp_parse.c — unit tests for the SMTP command grammar (smtp_parse.c):
 * verbs, MAIL/RCPT paths and parameters, limits, SMTPUTF8, REQUIRETLS, HELO,
 * xtext, base64.
 * Must never: depend on any other postern module, the network or the clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "smtp/smtp_parse.h"

#define SYNTAX_MAIL "501 5.5.4 Syntax: MAIL FROM:<address>"
#define SYNTAX_RCPT "501 5.5.4 Syntax: RCPT TO:<address>"
#define BAD_SENDER "501 5.1.7 Bad sender address syntax"
#define LONG_SENDER "501 5.1.7 Sender address too long"
#define BAD_RCPT "501 5.1.3 Bad recipient address syntax"
#define LONG_RCPT "501 5.1.3 Recipient address too long"
#define NEED_UTF8 "553 5.6.7 Non-ASCII address requires SMTPUTF8"
#define UNSUPPORTED "555 5.5.4 Unsupported parameter"
#define DUPLICATE "501 5.5.4 Duplicate parameter"
#define PARAM_SYNTAX "501 5.5.4 Syntax error in parameters"

static struct smtp_address g_addr;
static struct smtp_mail_params g_mp;
static struct smtp_rcpt_params g_rp;

static void
mail_ok(const char *arg, const char *addr)
{
    const char *reply = "unset";
    int r = smtp_parse_mail(arg, &g_addr, &g_mp, &reply);

    if (r != 0)
        fail_msg("MAIL %s: %s", arg, reply);
    assert_null(reply);
    assert_string_equal(g_addr.addr, addr);
}

static void
mail_err(const char *arg, const char *want)
{
    const char *reply = NULL;

    if (smtp_parse_mail(arg, &g_addr, &g_mp, &reply) != -1)
        fail_msg("MAIL %s: accepted", arg);
    assert_non_null(reply);
    assert_string_equal(reply, want);
    /* A refused command leaves nothing half-parsed behind. */
    assert_string_equal(g_addr.addr, "");
    assert_false(g_mp.has_size);
}

static void
rcpt_ok(const char *arg, const char *addr)
{
    const char *reply = "unset";
    int r = smtp_parse_rcpt(arg, &g_addr, &g_rp, &reply);

    if (r != 0)
        fail_msg("RCPT %s: %s", arg, reply);
    assert_null(reply);
    assert_string_equal(g_addr.addr, addr);
}

static void
rcpt_err(const char *arg, const char *want)
{
    const char *reply = NULL;

    if (smtp_parse_rcpt(arg, &g_addr, &g_rp, &reply) != -1)
        fail_msg("RCPT %s: accepted", arg);
    assert_non_null(reply);
    assert_string_equal(reply, want);
    assert_string_equal(g_addr.addr, "");
    assert_int_equal(g_rp.notify, 0);
}

/* Fills buf with n copies of c, NUL-terminated. */
static char *
fill(char *buf, char c, size_t n)
{
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

/* A dotted domain of exactly n octets made of 63-octet labels and a tail. */
static char *
domain_of(char *buf, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t label = n - i > 63 ? 63 : n - i;

        if (n - i > 63 && n - i - 63 == 1)
            label = 61; /* never leave a 0-octet final label after the dot */
        memset(buf + i, 'd', label);
        i += label;
        if (i < n) {
            buf[i++] = '.';
        }
    }
    buf[n] = '\0';
    return buf;
}

/* ---- smtp_command_parse ---- */

static void
test_command_all_verbs(void **state)
{
    static const struct {
        const char *line;
        enum smtp_verb verb;
        const char *text;
    } cases[] = {
        {"HELO x", SMTP_VERB_HELO, "HELO"},
        {"EHLO x", SMTP_VERB_EHLO, "EHLO"},
        {"MAIL FROM:<>", SMTP_VERB_MAIL, "MAIL"},
        {"RCPT TO:<a@b>", SMTP_VERB_RCPT, "RCPT"},
        {"DATA", SMTP_VERB_DATA, "DATA"},
        {"BDAT 10 LAST", SMTP_VERB_BDAT, "BDAT"},
        {"RSET", SMTP_VERB_RSET, "RSET"},
        {"NOOP", SMTP_VERB_NOOP, "NOOP"},
        {"QUIT", SMTP_VERB_QUIT, "QUIT"},
        {"VRFY u", SMTP_VERB_VRFY, "VRFY"},
        {"EXPN l", SMTP_VERB_EXPN, "EXPN"},
        {"HELP", SMTP_VERB_HELP, "HELP"},
        {"STARTTLS", SMTP_VERB_STARTTLS, "STARTTLS"},
        {"AUTH PLAIN", SMTP_VERB_AUTH, "AUTH"},
    };
    struct smtp_command cmd;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        smtp_command_parse(cases[i].line, &cmd);
        assert_int_equal(cmd.verb, cases[i].verb);
        assert_string_equal(cmd.verb_text, cases[i].text);
    }
}

static void
test_command_case_insensitive(void **state)
{
    struct smtp_command cmd;

    smtp_command_parse("mail FROM:<a@b>", &cmd);
    assert_int_equal(cmd.verb, SMTP_VERB_MAIL);
    assert_string_equal(cmd.verb_text, "MAIL");
    smtp_command_parse("StartTls", &cmd);
    assert_int_equal(cmd.verb, SMTP_VERB_STARTTLS);
    assert_string_equal(cmd.verb_text, "STARTTLS");
    smtp_command_parse("eHlO client.example", &cmd);
    assert_int_equal(cmd.verb, SMTP_VERB_EHLO);
    assert_string_equal(cmd.arg, "client.example");
    smtp_command_parse("quit", &cmd);
    assert_int_equal(cmd.verb, SMTP_VERB_QUIT);
}

static void
test_command_arg(void **state)
{
    struct smtp_command cmd;
    const char *line = "MAIL FROM:<a@b>";

    smtp_command_parse(line, &cmd);
    assert_string_equal(cmd.arg, "FROM:<a@b>");
    assert_ptr_equal(cmd.arg, line + 5); /* points into the line */

    line = "RCPT   \t TO:<a@b>  ";
    smtp_command_parse(line, &cmd);
    assert_int_equal(cmd.verb, SMTP_VERB_RCPT);
    assert_ptr_equal(cmd.arg, line + 9);
    assert_string_equal(cmd.arg, "TO:<a@b>  "); /* trailing blanks stay */

    smtp_command_parse("DATA", &cmd);
    assert_string_equal(cmd.arg, "");
    smtp_command_parse("NOOP   ", &cmd);
    assert_int_equal(cmd.verb, SMTP_VERB_NOOP);
    assert_string_equal(cmd.arg, "");
}

static void
test_command_unknown(void **state)
{
    static const char *const lines[] = {
        "",          "MAI",           "MAILX FROM:<>", "MAIL:",
        "STARTTLSX", " MAIL FROM:<>", "MAIL\tFROM:<>", "XCLIENT NAME=x",
        "TURN",      "HEL",           "EHLOx",
    };
    struct smtp_command cmd;

    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        smtp_command_parse(lines[i], &cmd);
        assert_int_equal(cmd.verb, SMTP_VERB_UNKNOWN);
        assert_string_equal(cmd.verb_text, "UNKNOWN");
        assert_non_null(cmd.arg);
    }
    smtp_command_parse("FOO bar baz", &cmd);
    assert_string_equal(cmd.arg, "bar baz");
    smtp_command_parse(NULL, &cmd);
    assert_int_equal(cmd.verb, SMTP_VERB_UNKNOWN);
    assert_string_equal(cmd.arg, "");
}

/* ---- MAIL: paths ---- */

static void
test_mail_basic(void **state)
{
    mail_ok("FROM:<user@example.org>", "user@example.org");
    assert_int_equal(g_addr.at, 4);
    assert_string_equal(smtp_address_domain(&g_addr), "example.org");
    assert_false(g_addr.utf8);
    assert_false(g_mp.has_size);
    assert_int_equal(g_mp.body, SMTP_BODY_UNSPEC);
    assert_int_equal(g_mp.ret, SMTP_RET_UNSPEC);
    assert_string_equal(g_mp.envid, "");
    assert_string_equal(g_mp.auth, "");

    mail_ok("from:<User.Name+tag@Sub.Example.ORG>", "User.Name+tag@Sub.Example.ORG");
    mail_ok("FrOm:<a@b>", "a@b");
    mail_ok("FROM:<!#$%&'*+-/=?^_`{|}~@example.org>", "!#$%&'*+-/=?^_`{|}~@example.org");
    mail_ok("FROM:<a@b.example>   ", "a@b.example"); /* trailing blanks */
    mail_ok("FROM:<a@b.example>\t", "a@b.example");
    mail_ok("FROM:<a@x-1.example>", "a@x-1.example");
    mail_ok("FROM:<a@192.0.2.1>", "a@192.0.2.1"); /* digits are Let-dig */
}

static void
test_mail_space_after_colon(void **state)
{
    mail_ok("FROM: <a@b.example>", "a@b.example");
    mail_err("FROM:  <a@b.example>", SYNTAX_MAIL);
    mail_err("FROM:\t<a@b.example>", SYNTAX_MAIL);
    mail_err("FROM :<a@b.example>", SYNTAX_MAIL);
}

static void
test_mail_syntax(void **state)
{
    mail_err("", SYNTAX_MAIL);
    mail_err("FROM", SYNTAX_MAIL);
    mail_err("FROM:", SYNTAX_MAIL);
    mail_err("FRM:<a@b>", SYNTAX_MAIL);
    mail_err("TO:<a@b>", SYNTAX_MAIL);
    mail_err("FROM:a@b.example", SYNTAX_MAIL); /* brackets are required */
    mail_err("FROM:a@b.example>", SYNTAX_MAIL);
    mail_err("FROM:<a@b.example", BAD_SENDER);
    mail_err("FROM:<a@b.example>>", BAD_SENDER);
    mail_err("FROM:<a@b.example>SIZE=1", BAD_SENDER);
    mail_err("FROM:<<a@b.example>", BAD_SENDER);
    mail_err("FROM:<a b@example.org>", BAD_SENDER);
    mail_err("FROM:< a@b.example>", BAD_SENDER);
    mail_err("FROM:<a@b.example >", BAD_SENDER);
}

static void
test_mail_null_path(void **state)
{
    mail_ok("FROM:<>", "");
    assert_int_equal(g_addr.at, 0);
    assert_string_equal(smtp_address_domain(&g_addr), "");
    mail_ok("FROM: <>", "");
    mail_ok("FROM:<> SIZE=100", "");
    assert_true(g_mp.has_size);
    assert_int_equal(g_mp.size, 100);
    mail_err("FROM:< >", BAD_SENDER);
    mail_err("FROM:<", BAD_SENDER);
}

static void
test_mail_local_part(void **state)
{
    mail_err("FROM:<@example.org>", BAD_SENDER);
    mail_err("FROM:<.a@example.org>", BAD_SENDER);
    mail_err("FROM:<a.@example.org>", BAD_SENDER);
    mail_err("FROM:<a..b@example.org>", BAD_SENDER);
    mail_err("FROM:<a(b)@example.org>", BAD_SENDER);
    mail_err("FROM:<a,b@example.org>", BAD_SENDER);
    mail_err("FROM:<a\\b@example.org>", BAD_SENDER);
    mail_err("FROM:<a>", BAD_SENDER); /* no domain */
    mail_err("FROM:<postmaster>", BAD_SENDER);
    mail_err("FROM:<a@@example.org>", BAD_SENDER);
}

static void
test_mail_quoted_local_part(void **state)
{
    mail_ok("FROM:<\"a@b\"@example.org>", "\"a@b\"@example.org");
    assert_int_equal(g_addr.at, 5);
    assert_string_equal(smtp_address_domain(&g_addr), "example.org");

    mail_ok("FROM:<\"john doe\"@example.org>", "\"john doe\"@example.org");
    assert_int_equal(g_addr.at, 10);
    mail_ok("FROM:<\"a\\\"b\\\\c\"@example.org>", "\"a\\\"b\\\\c\"@example.org");
    assert_int_equal(g_addr.at, 9);
    mail_ok("FROM:<\"x>y@z\"@example.org>", "\"x>y@z\"@example.org");
    assert_int_equal(g_addr.at, 7);
    mail_ok("FROM:<\"\"@example.org>", "\"\"@example.org");
    assert_int_equal(g_addr.at, 2);

    mail_err("FROM:<\"unterminated@example.org>", BAD_SENDER);
    mail_err("FROM:<\"a\"b@example.org>", BAD_SENDER);
    mail_err("FROM:<\"a\tb\"@example.org>", BAD_SENDER);
    mail_err("FROM:<\"a\\\tb\"@example.org>", BAD_SENDER);
    mail_err("FROM:<\"a\"@>", BAD_SENDER);
}

static void
test_mail_domain(void **state)
{
    mail_err("FROM:<a@>", BAD_SENDER);
    mail_err("FROM:<a@.example.org>", BAD_SENDER);
    mail_err("FROM:<a@example..org>", BAD_SENDER);
    mail_err("FROM:<a@example.org.>", BAD_SENDER);
    mail_err("FROM:<a@-example.org>", BAD_SENDER);
    mail_err("FROM:<a@example-.org>", BAD_SENDER);
    mail_err("FROM:<a@ex_ample.org>", BAD_SENDER);
    mail_err("FROM:<a@exa mple.org>", BAD_SENDER);
}

static void
test_mail_address_literal(void **state)
{
    mail_ok("FROM:<a@[192.0.2.1]>", "a@[192.0.2.1]");
    assert_string_equal(smtp_address_domain(&g_addr), "[192.0.2.1]");
    mail_ok("FROM:<a@[IPv6:2001:db8::1]>", "a@[IPv6:2001:db8::1]");
    mail_ok("FROM:<a@[ipv6:2001:DB8:0:0:0:0:0:1]>", "a@[ipv6:2001:DB8:0:0:0:0:0:1]");
    mail_ok("FROM:<a@[IPv6:::1]>", "a@[IPv6:::1]");
    mail_ok("FROM:<a@[IPv6:::]>", "a@[IPv6:::]");
    mail_ok("FROM:<a@[IPv6:::ffff:192.0.2.1]>", "a@[IPv6:::ffff:192.0.2.1]");
    mail_ok("FROM:<a@[IPv6:1:2:3:4:5:6:192.0.2.1]>", "a@[IPv6:1:2:3:4:5:6:192.0.2.1]");
    mail_ok("FROM:<a@[IPv6:1:2:3:4:5:6:7::]>", "a@[IPv6:1:2:3:4:5:6:7::]");

    mail_err("FROM:<a@[192.0.2.256]>", BAD_SENDER);
    mail_err("FROM:<a@[192.0.2]>", BAD_SENDER);
    mail_err("FROM:<a@[192.0.2.1.5]>", BAD_SENDER);
    mail_err("FROM:<a@[1922.0.2.1]>", BAD_SENDER);
    mail_err("FROM:<a@[]>", BAD_SENDER);
    mail_err("FROM:<a@[192.0.2.1>", BAD_SENDER);
    mail_err("FROM:<a@[2001:db8::1]>", BAD_SENDER); /* tag required */
    mail_err("FROM:<a@[IPv6:2001:db8:::1]>", BAD_SENDER);
    mail_err("FROM:<a@[IPv6:1::2::3]>", BAD_SENDER);
    mail_err("FROM:<a@[IPv6:1:2:3:4:5:6:7:8:9]>", BAD_SENDER);
    mail_err("FROM:<a@[IPv6:1:2:3:4:5:6:7]>", BAD_SENDER);
    mail_err("FROM:<a@[IPv6:1:2:3:4:5:6:7:8::]>", BAD_SENDER);
    mail_err("FROM:<a@[IPv6:12345::1]>", BAD_SENDER);
    mail_err("FROM:<a@[IPv6:g::1]>", BAD_SENDER);
    mail_err("FROM:<a@[IPv6:1:]>", BAD_SENDER);
    mail_err("FROM:<a@[IPv6::1]>", BAD_SENDER);
    mail_err("FROM:<a@[IPv6:::1.2.3]>", BAD_SENDER);
    mail_err("FROM:<a@[x-tag:foo]>", BAD_SENDER); /* unregistered tag */
    mail_err("FROM:<a@[192.0.2.1]x>", BAD_SENDER);
}

static void
test_mail_source_route(void **state)
{
    mail_ok("FROM:<@a.example,@b.example:user@c.example>", "user@c.example");
    assert_int_equal(g_addr.at, 4);
    assert_string_equal(smtp_address_domain(&g_addr), "c.example");
    mail_ok("FROM:<@a.example:user@c.example>", "user@c.example");

    mail_err("FROM:<@a.example>", BAD_SENDER);
    mail_err("FROM:<@a.example,user@c.example>", BAD_SENDER);
    mail_err("FROM:<@a.example,b.example:user@c.example>", BAD_SENDER);
    mail_err("FROM:<@:user@c.example>", BAD_SENDER);
    mail_err("FROM:<@a.example:>", BAD_SENDER);
    mail_err("FROM:<@[192.0.2.1]:user@c.example>", BAD_SENDER); /* Domain has no literal */
    mail_err("FROM:<@a.example,@:user@c.example>", BAD_SENDER);
}

static void
test_mail_control_chars(void **state)
{
    mail_err("FROM:<a\x01@example.org>", BAD_SENDER);
    mail_err("FROM:<a@exa\x7fmple.org>", BAD_SENDER);
    mail_err("FROM:<\"a\x01\"@example.org>", BAD_SENDER);
    mail_err("FROM:<\"a\x7f\"@example.org>", BAD_SENDER);
    mail_err("FROM:<a@example.org\r>", BAD_SENDER);
    /* C1 control U+0085 in UTF-8 is refused even with SMTPUTF8 */
    mail_err("FROM:<a\xc2\x85@example.org> SMTPUTF8", BAD_SENDER);
}

/* ---- limits (RFC 5321 4.5.3.1) ---- */

static void
test_limits_local_part(void **state)
{
    char local[80], arg[200], want[200];

    snprintf(arg, sizeof(arg), "FROM:<%s@example.org>", fill(local, 'l', 64));
    snprintf(want, sizeof(want), "%s@example.org", local);
    mail_ok(arg, want);
    assert_int_equal(g_addr.at, 64);

    snprintf(arg, sizeof(arg), "FROM:<%s@example.org>", fill(local, 'l', 65));
    mail_err(arg, LONG_SENDER);
    snprintf(arg, sizeof(arg), "TO:<%s@example.org>", local);
    rcpt_err(arg, LONG_RCPT);

    /* A quoted local part counts its quotes. */
    local[0] = '"';
    memset(local + 1, 'q', 62);
    local[63] = '"';
    local[64] = '\0';
    snprintf(arg, sizeof(arg), "FROM:<%s@example.org>", local);
    snprintf(want, sizeof(want), "%s@example.org", local);
    mail_ok(arg, want);
    assert_int_equal(g_addr.at, 64);
    local[63] = 'q';
    local[64] = '"';
    local[65] = '\0';
    snprintf(arg, sizeof(arg), "FROM:<%s@example.org>", local);
    mail_err(arg, LONG_SENDER);
}

static void
test_limits_path(void **state)
{
    char dom[300], arg[400], want[400];

    /* "<a@" + 252 + ">" = 256 octets: the largest legal path. */
    snprintf(arg, sizeof(arg), "FROM:<a@%s>", domain_of(dom, 252));
    snprintf(want, sizeof(want), "a@%s", dom);
    mail_ok(arg, want);
    assert_int_equal(strlen(g_addr.addr), 254);
    assert_string_equal(smtp_address_domain(&g_addr), dom);

    snprintf(arg, sizeof(arg), "FROM:<a@%s>", domain_of(dom, 253));
    mail_err(arg, LONG_SENDER);
    snprintf(arg, sizeof(arg), "TO:<a@%s>", dom);
    rcpt_err(arg, LONG_RCPT);
    snprintf(arg, sizeof(arg), "TO:<a@%s>", domain_of(dom, 252));
    snprintf(want, sizeof(want), "a@%s", dom);
    rcpt_ok(arg, want);

    /* The source route counts towards the 256 even though it is stripped. */
    snprintf(arg, sizeof(arg), "FROM:<@r.example:a@%s>", domain_of(dom, 241));
    snprintf(want, sizeof(want), "a@%s", dom);
    mail_ok(arg, want); /* 1 + 11 + 2 + 241 + 1 = 256 */
    snprintf(arg, sizeof(arg), "FROM:<@r.example:a@%s>", domain_of(dom, 242));
    mail_err(arg, LONG_SENDER);
}

static void
test_limits_label(void **state)
{
    char label[80], arg[200], want[200];

    snprintf(arg, sizeof(arg), "FROM:<a@%s.example>", fill(label, 'x', 63));
    snprintf(want, sizeof(want), "a@%s.example", label);
    mail_ok(arg, want);
    snprintf(arg, sizeof(arg), "FROM:<a@%s.example>", fill(label, 'x', 64));
    mail_err(arg, BAD_SENDER);
}

/* ---- MAIL: parameters ---- */

static void
test_param_size(void **state)
{
    mail_ok("FROM:<a@b> SIZE=12345", "a@b");
    assert_true(g_mp.has_size);
    assert_int_equal(g_mp.size, 12345);
    mail_ok("FROM:<a@b> size=0", "a@b");
    assert_true(g_mp.has_size);
    assert_int_equal(g_mp.size, 0);
    mail_ok("FROM:<a@b> SIZE=18446744073709551615", "a@b");
    assert_true(g_mp.size == UINT64_MAX);
    mail_ok("FROM:<a@b> SIZE=00000000000000000001", "a@b"); /* 20 digits */
    assert_int_equal(g_mp.size, 1);

    mail_err("FROM:<a@b> SIZE=18446744073709551616", "501 5.5.4 Bad SIZE value");
    mail_err("FROM:<a@b> SIZE=99999999999999999999", "501 5.5.4 Bad SIZE value");
    mail_err("FROM:<a@b> SIZE=000000000000000000001", "501 5.5.4 Bad SIZE value");
    mail_err("FROM:<a@b> SIZE=", "501 5.5.4 Bad SIZE value");
    mail_err("FROM:<a@b> SIZE", "501 5.5.4 Bad SIZE value");
    mail_err("FROM:<a@b> SIZE=-1", "501 5.5.4 Bad SIZE value");
    mail_err("FROM:<a@b> SIZE=+1", "501 5.5.4 Bad SIZE value");
    mail_err("FROM:<a@b> SIZE=12k", "501 5.5.4 Bad SIZE value");
    mail_err("FROM:<a@b> SIZE=0x10", "501 5.5.4 Bad SIZE value");
    mail_err("FROM:<a@b> SIZE=1=2", "501 5.5.4 Bad SIZE value");
}

static void
test_param_body(void **state)
{
    mail_ok("FROM:<a@b> BODY=7BIT", "a@b");
    assert_int_equal(g_mp.body, SMTP_BODY_7BIT);
    mail_ok("FROM:<a@b> BODY=8BITMIME", "a@b");
    assert_int_equal(g_mp.body, SMTP_BODY_8BITMIME);
    mail_ok("FROM:<a@b> body=8bitmime", "a@b");
    assert_int_equal(g_mp.body, SMTP_BODY_8BITMIME);
    mail_ok("FROM:<a@b> BODY=BINARYMIME", "a@b");
    assert_int_equal(g_mp.body, SMTP_BODY_BINARYMIME);

    mail_err("FROM:<a@b> BODY=8BIT", "501 5.5.4 Bad BODY value");
    mail_err("FROM:<a@b> BODY=", "501 5.5.4 Bad BODY value");
    mail_err("FROM:<a@b> BODY", "501 5.5.4 Bad BODY value");
    mail_err("FROM:<a@b> BODY=7BITX", "501 5.5.4 Bad BODY value");
}

static void
test_param_smtputf8(void **state)
{
    mail_ok("FROM:<a@b> SMTPUTF8", "a@b");
    assert_true(g_mp.smtputf8);
    assert_false(g_addr.utf8);
    mail_ok("FROM:<a@b> smtputf8", "a@b");
    assert_true(g_mp.smtputf8);
    mail_err("FROM:<a@b> SMTPUTF8=yes", "501 5.5.4 SMTPUTF8 takes no value");
    mail_err("FROM:<a@b> SMTPUTF8=", "501 5.5.4 SMTPUTF8 takes no value");
}

static void
test_param_requiretls(void **state)
{
    mail_ok("FROM:<a@b>", "a@b");
    assert_false(g_mp.requiretls);
    mail_ok("FROM:<a@b> REQUIRETLS", "a@b");
    assert_true(g_mp.requiretls);
    mail_ok("FROM:<a@b> requireTLS", "a@b"); /* keywords are case-insensitive */
    assert_true(g_mp.requiretls);
    mail_ok("FROM:<> REQUIRETLS", ""); /* a bounce may carry it too */
    assert_true(g_mp.requiretls);
    mail_ok("FROM:<a@b> SIZE=5 REQUIRETLS BODY=8BITMIME", "a@b");
    assert_true(g_mp.requiretls);
    assert_int_equal(g_mp.size, 5);
    assert_int_equal(g_mp.body, SMTP_BODY_8BITMIME);

    mail_err("FROM:<a@b> REQUIRETLS=yes", "501 5.5.4 REQUIRETLS takes no value");
    mail_err("FROM:<a@b> REQUIRETLS=", "501 5.5.4 REQUIRETLS takes no value");
    mail_err("FROM:<a@b> REQUIRETLS REQUIRETLS", DUPLICATE);
    mail_err("FROM:<a@b> REQUIRETLS SIZE=1 requiretls", DUPLICATE);
    mail_err("FROM:<a@b> REQUIRETLSX", UNSUPPORTED);
    mail_err("FROM:<a@b> REQUIRE-TLS", UNSUPPORTED);
    /* a refused command leaves the flag down */
    assert_false(g_mp.requiretls);
    /* RCPT has no such parameter */
    rcpt_err("TO:<a@b> REQUIRETLS", UNSUPPORTED);
}

static void
test_param_ret(void **state)
{
    mail_ok("FROM:<a@b> RET=FULL", "a@b");
    assert_int_equal(g_mp.ret, SMTP_RET_FULL);
    mail_ok("FROM:<a@b> ret=hdrs", "a@b");
    assert_int_equal(g_mp.ret, SMTP_RET_HDRS);
    mail_err("FROM:<a@b> RET=NONE", "501 5.5.4 Bad RET value");
    mail_err("FROM:<a@b> RET=", "501 5.5.4 Bad RET value");
    mail_err("FROM:<a@b> RET", "501 5.5.4 Bad RET value");
}

static void
test_param_envid(void **state)
{
    char val[120], arg[200];

    mail_ok("FROM:<a@b> ENVID=QQ314159", "a@b");
    assert_string_equal(g_mp.envid, "QQ314159");
    mail_ok("FROM:<a@b> ENVID=a+2Bb+3Dc", "a@b");
    assert_string_equal(g_mp.envid, "a+2Bb+3Dc"); /* kept encoded */

    snprintf(arg, sizeof(arg), "FROM:<a@b> ENVID=%s", fill(val, 'e', 100));
    mail_ok(arg, "a@b");
    assert_string_equal(g_mp.envid, val);
    snprintf(arg, sizeof(arg), "FROM:<a@b> ENVID=%s", fill(val, 'e', 101));
    mail_err(arg, "501 5.5.4 Bad ENVID value");

    mail_err("FROM:<a@b> ENVID=", "501 5.5.4 Bad ENVID value");
    mail_err("FROM:<a@b> ENVID", "501 5.5.4 Bad ENVID value");
    mail_err("FROM:<a@b> ENVID=a=b", "501 5.5.4 Bad ENVID value");
    mail_err("FROM:<a@b> ENVID=a+b", "501 5.5.4 Bad ENVID value");
    mail_err("FROM:<a@b> ENVID=a+2b", "501 5.5.4 Bad ENVID value");
    mail_err("FROM:<a@b> ENVID=a+2", "501 5.5.4 Bad ENVID value");
    mail_err("FROM:<a@b> ENVID=\xc3\xa9", "501 5.5.4 Bad ENVID value");
}

static void
test_param_auth(void **state)
{
    mail_ok("FROM:<a@b> AUTH=<>", "a@b");
    assert_string_equal(g_mp.auth, "<>");
    mail_ok("FROM:<a@b> AUTH=e+3Dmc2@example.com", "a@b");
    assert_string_equal(g_mp.auth, "e+3Dmc2@example.com");
    mail_err("FROM:<a@b> AUTH=", "501 5.5.4 Bad AUTH value");
    mail_err("FROM:<a@b> AUTH", "501 5.5.4 Bad AUTH value");
    mail_err("FROM:<a@b> AUTH=e=mc2@example.com", "501 5.5.4 Bad AUTH value");
    mail_err("FROM:<a@b> AUTH=a+zz@example.com", "501 5.5.4 Bad AUTH value");
}

static void
test_param_combined(void **state)
{
    mail_ok("FROM:<a@b.example> SIZE=10 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x1 AUTH=<> "
            "REQUIRETLS",
            "a@b.example");
    assert_true(g_mp.requiretls);
    assert_int_equal(g_mp.size, 10);
    assert_int_equal(g_mp.body, SMTP_BODY_8BITMIME);
    assert_true(g_mp.smtputf8);
    assert_int_equal(g_mp.ret, SMTP_RET_HDRS);
    assert_string_equal(g_mp.envid, "x1");
    assert_string_equal(g_mp.auth, "<>");
    /* runs of blanks between parameters are tolerated */
    mail_ok("FROM:<a@b>  SIZE=1 \t BODY=7BIT  ", "a@b");
    assert_int_equal(g_mp.size, 1);
    assert_int_equal(g_mp.body, SMTP_BODY_7BIT);
}

static void
test_param_unknown_duplicate(void **state)
{
    mail_err("FROM:<a@b> FOO=bar", UNSUPPORTED);
    mail_err("FROM:<a@b> XVERP", UNSUPPORTED);
    mail_err("FROM:<a@b> SIZE=1 FOO", UNSUPPORTED);
    mail_err("FROM:<a@b> NOTIFY=NEVER", UNSUPPORTED); /* RCPT-only */
    mail_err("FROM:<a@b> ORCPT=rfc822;a@b", UNSUPPORTED);
    mail_err("FROM:<a@b> SIZEX=1", UNSUPPORTED);

    mail_err("FROM:<a@b> SIZE=1 SIZE=2", DUPLICATE);
    mail_err("FROM:<a@b> BODY=7BIT body=8BITMIME", DUPLICATE);
    mail_err("FROM:<a@b> SMTPUTF8 SMTPUTF8", DUPLICATE);
    mail_err("FROM:<a@b> RET=FULL RET=FULL", DUPLICATE);
    mail_err("FROM:<a@b> ENVID=x ENVID=y", DUPLICATE);
    mail_err("FROM:<a@b> AUTH=<> AUTH=<>", DUPLICATE);

    mail_err("FROM:<a@b> =1", PARAM_SYNTAX);
    mail_err("FROM:<a@b> -SIZE=1", PARAM_SYNTAX);
    mail_err("FROM:<a@b> SI_ZE=1", PARAM_SYNTAX);
    mail_err("FROM:<a@b> SIZE=1 \x01", PARAM_SYNTAX);
}

/* ---- SMTPUTF8 (RFC 6531) ---- */

static void
test_mail_utf8(void **state)
{
    /* "jöran@exämple.org" */
    mail_err("FROM:<j\xc3\xb6ran@ex\xc3\xa4mple.org>", NEED_UTF8);
    mail_err("FROM:<joran@ex\xc3\xa4mple.org>", NEED_UTF8);
    mail_err("FROM:<\"j\xc3\xb6 r\"@example.org>", NEED_UTF8);
    mail_err("FROM:<@r\xc3\xa4.example:a@example.org>", NEED_UTF8);

    mail_ok("FROM:<j\xc3\xb6ran@ex\xc3\xa4mple.org> SMTPUTF8", "j\xc3\xb6ran@ex\xc3\xa4mple.org");
    assert_true(g_addr.utf8);
    assert_true(g_mp.smtputf8);
    assert_int_equal(g_addr.at, 6);
    mail_ok("FROM:<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe4\xb8\xad\xe5\x9b\xbd> "
            "BODY=8BITMIME SMTPUTF8",
            "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe4\xb8\xad\xe5\x9b\xbd");
    assert_true(g_addr.utf8);
    mail_ok("FROM:<\xf0\x9f\x98\x80@example.org> SMTPUTF8", "\xf0\x9f\x98\x80@example.org");
    assert_true(g_addr.utf8);
    /* route is stripped: addr is ASCII even though SMTPUTF8 was needed */
    mail_ok("FROM:<@r\xc3\xa4.example:a@example.org> SMTPUTF8", "a@example.org");
    assert_false(g_addr.utf8);

    /* malformed UTF-8 is bad syntax whatever the parameters */
    mail_err("FROM:<\xc0\xafx@example.org> SMTPUTF8", BAD_SENDER);         /* overlong */
    mail_err("FROM:<\xe0\x80\xafx@example.org> SMTPUTF8", BAD_SENDER);     /* overlong */
    mail_err("FROM:<\xed\xa0\x80x@example.org> SMTPUTF8", BAD_SENDER);     /* surrogate */
    mail_err("FROM:<\xf4\x90\x80\x80x@example.org> SMTPUTF8", BAD_SENDER); /* > U+10FFFF */
    mail_err("FROM:<\x80x@example.org> SMTPUTF8", BAD_SENDER);             /* lone continuation */
    mail_err("FROM:<\xc3x@example.org> SMTPUTF8", BAD_SENDER);             /* truncated */
    mail_err("FROM:<x@example.org\xc3> SMTPUTF8", BAD_SENDER);
    mail_err("FROM:<\xff@example.org> SMTPUTF8", BAD_SENDER);
    mail_err("FROM:<a@[192.0.2.\xc3\xa4]> SMTPUTF8", BAD_SENDER); /* not in literals */
}

/* ---- RCPT ---- */

static void
test_rcpt_basic(void **state)
{
    rcpt_ok("TO:<user@example.org>", "user@example.org");
    assert_int_equal(g_addr.at, 4);
    assert_string_equal(smtp_address_domain(&g_addr), "example.org");
    assert_int_equal(g_rp.notify, 0);
    assert_string_equal(g_rp.orcpt, "");
    rcpt_ok("to:<a@b>", "a@b");
    rcpt_ok("TO: <a@b>", "a@b");
    rcpt_ok("TO:<a@b>  ", "a@b");
    rcpt_ok("TO:<\"a@b\"@c.example>", "\"a@b\"@c.example");
    assert_int_equal(g_addr.at, 5);
    assert_string_equal(smtp_address_domain(&g_addr), "c.example");
    rcpt_ok("TO:<@a.example,@b.example:user@c.example>", "user@c.example");
    rcpt_ok("TO:<u@[IPv6:2001:db8::25]>", "u@[IPv6:2001:db8::25]");
    assert_string_equal(smtp_address_domain(&g_addr), "[IPv6:2001:db8::25]");

    rcpt_err("TO:<>", BAD_RCPT);
    rcpt_err("TO: <>", BAD_RCPT);
    rcpt_err("TO:a@b", SYNTAX_RCPT);
    rcpt_err("", SYNTAX_RCPT);
    rcpt_err("FROM:<a@b>", SYNTAX_RCPT);
    rcpt_err("TO:  <a@b>", SYNTAX_RCPT);
    rcpt_err("TO:<a@b", BAD_RCPT);
    rcpt_err("TO:<a@b>x", BAD_RCPT);
    rcpt_err("TO:<a..b@c>", BAD_RCPT);
    rcpt_err("TO:<a\x01@c>", BAD_RCPT);
    rcpt_err("TO:<user>", BAD_RCPT);
}

static void
test_rcpt_postmaster(void **state)
{
    rcpt_ok("TO:<postmaster>", "postmaster");
    assert_int_equal(g_addr.at, 0);
    assert_string_equal(smtp_address_domain(&g_addr), "");
    rcpt_ok("TO:<PostMaster>", "PostMaster"); /* kept as received */
    assert_string_equal(smtp_address_domain(&g_addr), "");
    rcpt_ok("TO:<postmaster> NOTIFY=NEVER", "postmaster");
    assert_int_equal(g_rp.notify, SMTP_NOTIFY_NEVER);
    rcpt_ok("TO:<Postmaster@example.org>", "Postmaster@example.org");
    assert_int_equal(g_addr.at, 10);
    assert_string_equal(smtp_address_domain(&g_addr), "example.org");

    rcpt_err("TO:<postmasters>", BAD_RCPT);
    rcpt_err("TO:<\"postmaster\">", BAD_RCPT);
    rcpt_err("TO:<@a.example:postmaster>", BAD_RCPT);
}

static void
test_rcpt_notify(void **state)
{
    rcpt_ok("TO:<a@b> NOTIFY=NEVER", "a@b");
    assert_int_equal(g_rp.notify, SMTP_NOTIFY_NEVER);
    rcpt_ok("TO:<a@b> NOTIFY=SUCCESS", "a@b");
    assert_int_equal(g_rp.notify, SMTP_NOTIFY_SUCCESS);
    rcpt_ok("TO:<a@b> NOTIFY=SUCCESS,FAILURE", "a@b");
    assert_int_equal(g_rp.notify, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE);
    rcpt_ok("TO:<a@b> notify=delay,failure,success", "a@b");
    assert_int_equal(g_rp.notify, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY);
    rcpt_ok("TO:<a@b> NOTIFY=FAILURE,FAILURE", "a@b");
    assert_int_equal(g_rp.notify, SMTP_NOTIFY_FAILURE);

    rcpt_err("TO:<a@b> NOTIFY=NEVER,SUCCESS", "501 5.5.4 Bad NOTIFY value");
    rcpt_err("TO:<a@b> NOTIFY=DELAY,NEVER", "501 5.5.4 Bad NOTIFY value");
    rcpt_err("TO:<a@b> NOTIFY=", "501 5.5.4 Bad NOTIFY value");
    rcpt_err("TO:<a@b> NOTIFY", "501 5.5.4 Bad NOTIFY value");
    rcpt_err("TO:<a@b> NOTIFY=SUCCESS,", "501 5.5.4 Bad NOTIFY value");
    rcpt_err("TO:<a@b> NOTIFY=,SUCCESS", "501 5.5.4 Bad NOTIFY value");
    rcpt_err("TO:<a@b> NOTIFY=SUCCESS,,DELAY", "501 5.5.4 Bad NOTIFY value");
    rcpt_err("TO:<a@b> NOTIFY=ALWAYS", "501 5.5.4 Bad NOTIFY value");
    rcpt_err("TO:<a@b> NOTIFY=SUCCES", "501 5.5.4 Bad NOTIFY value");
}

static void
test_rcpt_orcpt(void **state)
{
    char val[600], arg[700];
    size_t n;

    rcpt_ok("TO:<a@b> ORCPT=rfc822;a@b", "a@b");
    assert_string_equal(g_rp.orcpt, "rfc822;a@b");
    rcpt_ok("TO:<a@b> ORCPT=rfc822;e+3Dmc2@example.com", "a@b");
    assert_string_equal(g_rp.orcpt, "rfc822;e+3Dmc2@example.com");
    rcpt_ok("TO:<a@b> orcpt=utf-8;j\\x{00F6}ran@example.org", "a@b");
    assert_string_equal(g_rp.orcpt, "utf-8;j\\x{00F6}ran@example.org");
    rcpt_ok("TO:<a@b> NOTIFY=FAILURE ORCPT=RFC822;x@y", "a@b");
    assert_int_equal(g_rp.notify, SMTP_NOTIFY_FAILURE);
    assert_string_equal(g_rp.orcpt, "RFC822;x@y");

    /* 500 octets in all, type included */
    n = (size_t)snprintf(val, sizeof(val), "rfc822;");
    fill(val + n, 'o', 500 - n);
    snprintf(arg, sizeof(arg), "TO:<a@b> ORCPT=%s", val);
    rcpt_ok(arg, "a@b");
    assert_string_equal(g_rp.orcpt, val);
    fill(val + n, 'o', 501 - n);
    snprintf(arg, sizeof(arg), "TO:<a@b> ORCPT=%s", val);
    rcpt_err(arg, "501 5.5.4 Bad ORCPT value");

    rcpt_err("TO:<a@b> ORCPT=", "501 5.5.4 Bad ORCPT value");
    rcpt_err("TO:<a@b> ORCPT", "501 5.5.4 Bad ORCPT value");
    rcpt_err("TO:<a@b> ORCPT=a@b", "501 5.5.4 Bad ORCPT value");
    rcpt_err("TO:<a@b> ORCPT=;a@b", "501 5.5.4 Bad ORCPT value");
    rcpt_err("TO:<a@b> ORCPT=rfc822;", "501 5.5.4 Bad ORCPT value");
    rcpt_err("TO:<a@b> ORCPT=rfc(822);a@b", "501 5.5.4 Bad ORCPT value");
    rcpt_err("TO:<a@b> ORCPT=rfc822;a=b", "501 5.5.4 Bad ORCPT value");
    rcpt_err("TO:<a@b> ORCPT=rfc822;a+4", "501 5.5.4 Bad ORCPT value");
    rcpt_err("TO:<a@b> ORCPT=rfc822;\xc3\xa4@b", "501 5.5.4 Bad ORCPT value");
}

static void
test_rcpt_params_unknown_duplicate(void **state)
{
    rcpt_err("TO:<a@b> SIZE=10", UNSUPPORTED);
    rcpt_err("TO:<a@b> BODY=8BITMIME", UNSUPPORTED);
    rcpt_err("TO:<a@b> SMTPUTF8", UNSUPPORTED);
    rcpt_err("TO:<a@b> FOO", UNSUPPORTED);
    rcpt_err("TO:<a@b> NOTIFY=NEVER NOTIFY=NEVER", DUPLICATE);
    rcpt_err("TO:<a@b> ORCPT=rfc822;a ORCPT=rfc822;b", DUPLICATE);
    rcpt_err("TO:<a@b> NOTIFY=NEVER =x", PARAM_SYNTAX);
}

static void
test_rcpt_utf8(void **state)
{
    /* accepted and flagged: MAIL's SMTPUTF8 lives in the session */
    rcpt_ok("TO:<j\xc3\xb6ran@ex\xc3\xa4mple.org>", "j\xc3\xb6ran@ex\xc3\xa4mple.org");
    assert_true(g_addr.utf8);
    assert_int_equal(g_addr.at, 6);
    assert_string_equal(smtp_address_domain(&g_addr), "ex\xc3\xa4mple.org");
    rcpt_ok("TO:<a@b>", "a@b");
    assert_false(g_addr.utf8);
    rcpt_err("TO:<\xc0\xaf@b>", BAD_RCPT);
    rcpt_err("TO:<a\xc2\x9f@b>", BAD_RCPT);
}

/* ---- HELO ---- */

static void
test_helo_valid(void **state)
{
    char name[300], label[80];

    assert_true(smtp_valid_helo("mail.example.org"));
    assert_true(smtp_valid_helo("localhost"));
    assert_true(smtp_valid_helo("MX-1.Example.ORG"));
    assert_true(smtp_valid_helo("a"));
    assert_true(smtp_valid_helo("1.example"));
    assert_true(smtp_valid_helo("mail.example.org.")); /* absolute form */
    assert_true(smtp_valid_helo("[192.0.2.1]"));
    assert_true(smtp_valid_helo("[IPv6:2001:db8::1]"));
    assert_true(smtp_valid_helo("[IPv6:::ffff:192.0.2.1]"));
    assert_true(smtp_valid_helo("b\xc3\xbc\x63her.example"));      /* bücher.example */
    assert_true(smtp_valid_helo("\xe4\xbe\x8b\xe5\xad\x90.test")); /* 例子.test */
    assert_true(smtp_valid_helo("xn--bcher-kva.example"));

    assert_true(smtp_valid_helo(fill(label, 'h', 63)));
    snprintf(name, sizeof(name), "%s.example", label);
    assert_true(smtp_valid_helo(name));
    assert_true(smtp_valid_helo(domain_of(name, 255)));
    strcat(name, ".");
    assert_true(smtp_valid_helo(name)); /* the final dot is not counted */
}

static void
test_helo_invalid(void **state)
{
    char name[300], label[80];

    assert_false(smtp_valid_helo(NULL));
    assert_false(smtp_valid_helo(""));
    assert_false(smtp_valid_helo("."));
    assert_false(smtp_valid_helo(".example.org"));
    assert_false(smtp_valid_helo("example..org"));
    assert_false(smtp_valid_helo("example.org.."));
    assert_false(smtp_valid_helo("-example.org"));
    assert_false(smtp_valid_helo("example-.org"));
    assert_false(smtp_valid_helo("ex_ample.org"));
    assert_false(smtp_valid_helo("mail example.org"));
    assert_false(smtp_valid_helo("mail.example.org "));
    assert_false(smtp_valid_helo(" mail.example.org"));
    assert_false(smtp_valid_helo("mail\t.example.org"));
    assert_false(smtp_valid_helo("mail\x01.example.org"));
    assert_false(smtp_valid_helo("mail.example.org\x7f"));
    assert_false(smtp_valid_helo("mail.example.org\r"));
    assert_false(smtp_valid_helo("user@example.org"));
    assert_false(smtp_valid_helo("[192.0.2.1"));
    assert_false(smtp_valid_helo("[192.0.2.300]"));
    assert_false(smtp_valid_helo("[192.0.2.1]x"));
    assert_false(smtp_valid_helo("[IPv6:1::2::3]"));
    assert_false(smtp_valid_helo("[tag:value]"));
    assert_false(smtp_valid_helo("[]"));
    assert_false(smtp_valid_helo("b\xc3\x28.example"));    /* bad UTF-8 */
    assert_false(smtp_valid_helo("b\xc2\x85.example"));    /* C1 control */
    assert_false(smtp_valid_helo("\xed\xa0\x80.example")); /* surrogate */

    assert_false(smtp_valid_helo(fill(label, 'h', 64)));
    snprintf(name, sizeof(name), "%s.example", label);
    assert_false(smtp_valid_helo(name));
    assert_false(smtp_valid_helo(domain_of(name, 256)));
}

/* ---- xtext ---- */

static void
test_xtext(void **state)
{
    assert_true(smtp_valid_xtext(""));
    assert_true(smtp_valid_xtext("abc"));
    assert_true(smtp_valid_xtext("!\"#$%&'()*,-./0123456789:;<>?@[\\]^_`{|}~"));
    assert_true(smtp_valid_xtext("e+3Dmc2"));
    assert_true(smtp_valid_xtext("+2B+3D+20+00+FF"));

    assert_false(smtp_valid_xtext(NULL));
    assert_false(smtp_valid_xtext("a=b"));
    assert_false(smtp_valid_xtext("a+b"));
    assert_false(smtp_valid_xtext("+2b")); /* RFC 3461: upper-case hex */
    assert_false(smtp_valid_xtext("+G0"));
    assert_false(smtp_valid_xtext("a+"));
    assert_false(smtp_valid_xtext("a+3"));
    assert_false(smtp_valid_xtext("a b"));
    assert_false(smtp_valid_xtext("a\tb"));
    assert_false(smtp_valid_xtext("a\x7f"));
    assert_false(smtp_valid_xtext("a\x01"));
    assert_false(smtp_valid_xtext("\xc3\xa4"));
}

/* ---- base64 ---- */

static void
test_base64_vectors(void **state)
{
    /* RFC 4648 10 test vectors */
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                        "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    char enc[32];
    unsigned char dec[32];

    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        long n = base64_encode((const unsigned char *)plain[i], strlen(plain[i]), enc, sizeof(enc));

        assert_int_equal(n, (long)strlen(coded[i]));
        assert_string_equal(enc, coded[i]);
        memset(dec, 'X', sizeof(dec));
        n = base64_decode(coded[i], strlen(coded[i]), dec, sizeof(dec));
        assert_int_equal(n, (long)strlen(plain[i]));
        assert_memory_equal(dec, plain[i], (size_t)n);
        assert_int_equal(dec[n], '\0');
    }
}

static void
test_base64_round_trip(void **state)
{
    unsigned char bin[256], dec[300];
    char enc[400];

    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (unsigned char)(255 - i);
    for (size_t len = 0; len <= sizeof(bin); len++) {
        long e = base64_encode(bin, len, enc, sizeof(enc));
        long d;

        assert_int_equal(e, (long)((len + 2) / 3 * 4));
        assert_int_equal(strlen(enc), (size_t)e);
        d = base64_decode(enc, (size_t)e, dec, sizeof(dec));
        assert_int_equal(d, (long)len);
        assert_memory_equal(dec, bin, len);
        assert_int_equal(dec[d], '\0');
    }
    /* AUTH PLAIN: "\0user\0pass" */
    assert_int_equal(base64_decode("AHVzZXIAcGFzcw==", 16, dec, sizeof(dec)), 10);
    assert_memory_equal(dec, "\0user\0pass", 10);
    /* inlen is honoured: the rest of the buffer is not read */
    assert_int_equal(base64_decode("Zm9vXXXX", 4, dec, sizeof(dec)), 3);
    assert_string_equal((char *)dec, "foo");
}

static void
test_base64_bad_input(void **state)
{
    static const char *const bad[] = {
        "=",    "==",    "Zg",       "Zg=",  "Zm9",    "Zg=a",        "Z===",
        "====", "Zm9v=", "Zg==Zm9v", "Zm=v", "Zm9v\n", "Zm9 v",       "Zm9v Zg==",
        "Zm9*", "Zm9-",  "Zm9_",     "Zh==", "Zm9=",   "\xc3\xa4Zg=",
    };
    unsigned char dec[64];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (base64_decode(bad[i], strlen(bad[i]), dec, sizeof(dec)) != -1)
            fail_msg("base64_decode accepted \"%s\"", bad[i]);
    /* an embedded NUL is an invalid character, not the end */
    assert_int_equal(base64_decode("Zm\0v", 4, dec, sizeof(dec)), -1);
}

static void
test_base64_sizes(void **state)
{
    unsigned char dec[8];
    char enc[8];

    /* "foo" needs 3 + NUL */
    assert_int_equal(base64_decode("Zm9v", 4, dec, 4), 3);
    assert_int_equal(base64_decode("Zm9v", 4, dec, 3), -1);
    assert_int_equal(base64_decode("", 0, dec, 1), 0);
    assert_int_equal(dec[0], '\0');
    assert_int_equal(base64_decode("", 0, dec, 0), -1);
    assert_int_equal(base64_decode("Zg==", 4, dec, 2), 1);
    assert_int_equal(base64_decode("Zg==", 4, dec, 1), -1);

    /* "foo" encodes to 4 + NUL */
    assert_int_equal(base64_encode((const unsigned char *)"foo", 3, enc, 5), 4);
    assert_string_equal(enc, "Zm9v");
    assert_int_equal(base64_encode((const unsigned char *)"foo", 3, enc, 4), -1);
    assert_int_equal(base64_encode((const unsigned char *)"f", 1, enc, 5), 4);
    assert_string_equal(enc, "Zg==");
    assert_int_equal(base64_encode((const unsigned char *)"", 0, enc, 1), 0);
    assert_string_equal(enc, "");
    assert_int_equal(base64_encode((const unsigned char *)"", 0, enc, 0), -1);
}

/* ---- smtp_address_domain ---- */

static void
test_address_domain(void **state)
{
    struct smtp_address a;

    memset(&a, 0, sizeof(a));
    assert_string_equal(smtp_address_domain(&a), "");
    strcpy(a.addr, "\"x@y\"@z.example");
    a.at = 5;
    assert_string_equal(smtp_address_domain(&a), "z.example");
    strcpy(a.addr, "postmaster");
    a.at = 0;
    assert_string_equal(smtp_address_domain(&a), "");
    a.at = sizeof(a.addr) + 10; /* corrupt offset: no out-of-bounds read */
    assert_string_equal(smtp_address_domain(&a), "");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_all_verbs),
        cmocka_unit_test(test_command_case_insensitive),
        cmocka_unit_test(test_command_arg),
        cmocka_unit_test(test_command_unknown),
        cmocka_unit_test(test_mail_basic),
        cmocka_unit_test(test_mail_space_after_colon),
        cmocka_unit_test(test_mail_syntax),
        cmocka_unit_test(test_mail_null_path),
        cmocka_unit_test(test_mail_local_part),
        cmocka_unit_test(test_mail_quoted_local_part),
        cmocka_unit_test(test_mail_domain),
        cmocka_unit_test(test_mail_address_literal),
        cmocka_unit_test(test_mail_source_route),
        cmocka_unit_test(test_mail_control_chars),
        cmocka_unit_test(test_limits_local_part),
        cmocka_unit_test(test_limits_path),
        cmocka_unit_test(test_limits_label),
        cmocka_unit_test(test_param_size),
        cmocka_unit_test(test_param_body),
        cmocka_unit_test(test_param_smtputf8),
        cmocka_unit_test(test_param_requiretls),
        cmocka_unit_test(test_param_ret),
        cmocka_unit_test(test_param_envid),
        cmocka_unit_test(test_param_auth),
        cmocka_unit_test(test_param_combined),
        cmocka_unit_test(test_param_unknown_duplicate),
        cmocka_unit_test(test_mail_utf8),
        cmocka_unit_test(test_rcpt_basic),
        cmocka_unit_test(test_rcpt_postmaster),
        cmocka_unit_test(test_rcpt_notify),
        cmocka_unit_test(test_rcpt_orcpt),
        cmocka_unit_test(test_rcpt_params_unknown_duplicate),
        cmocka_unit_test(test_rcpt_utf8),
        cmocka_unit_test(test_helo_valid),
        cmocka_unit_test(test_helo_invalid),
        cmocka_unit_test(test_xtext),
        cmocka_unit_test(test_base64_vectors),
        cmocka_unit_test(test_base64_round_trip),
        cmocka_unit_test(test_base64_bad_input),
        cmocka_unit_test(test_base64_sizes),
        cmocka_unit_test(test_address_domain),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
