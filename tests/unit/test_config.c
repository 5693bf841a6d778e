/*
 * test_config.c — unit tests for src/config (parameter values, postern.conf
 * reading and writing, validation) and for the configuration cmdlets of
 * src/admin run against a temporary instance directory.
 * Must never: touch anything outside its own temporary directories.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin/cmdlet.h"
#include "admin/cmdlet_args.h"
#include "admin/ps_parse.h"
#include "admin/ps_run.h"
#include "config/config.h"
#include "config/config_param.h"
#include "lib/password.h"
#include "testlib.h"

/* ---- helpers ---- */

static char *
conf_path(const char *dir)
{
    char *p;

    assert_true(asprintf(&p, "%s/postern.conf", dir) > 0);
    return p;
}

/* A config loaded from text; NULL with err when it does not load. */
static struct config *
load_text(const char *text, char *err, size_t errlen)
{
    char *dir = testlib_mkdtemp("config"), *path = conf_path(dir);
    struct config *cfg;

    testlib_write_text(path, text);
    cfg = config_load(path, err, errlen);
    free(path);
    testlib_rmtree(dir);
    free(dir);
    return cfg;
}

static void
assert_load_error(const char *text, const char *want)
{
    char err[1024] = "";
    struct config *cfg = load_text(text, err, sizeof(err));

    if (cfg != NULL)
        fail_msg("loaded, expected error: %s", want);
    assert_string_equal(err, want);
}

#define run(dir, ...) testlib_cmdlet(dir, NULL, __VA_ARGS__, (char *)NULL)

static void
assert_run_ok(const char *dir, struct testlib_run r)
{
    if (r.rc != 0)
        fail_msg("cmdlet failed (%d): %s", r.rc, r.err);
    testlib_run_free(&r);
}

static bool
has_line(const char *text, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

static void
assert_has_line(const char *text, const char *line)
{
    if (!has_line(text, line))
        fail_msg("no line \"%s\" in:\n%s", line, text);
}

static void assert_invalid(const struct config *cfg, const char *want);

/* ---- values ---- */

static void
bytes_is(const char *text, uint64_t want)
{
    uint64_t v = 0;
    char err[256] = "";

    if (config_bytes_parse(text, true, &v, err, sizeof(err)) < 0)
        fail_msg("'%s': %s", text, err);
    assert_int_equal(v, want);
}

static void
bytes_bad(const char *text, bool unlimited_ok)
{
    uint64_t v = 42;
    char err[256] = "";

    assert_int_equal(config_bytes_parse(text, unlimited_ok, &v, err, sizeof(err)), -1);
    assert_true(err[0] != '\0');
    assert_int_equal(v, 42);
}

static void
bytes_shows(uint64_t v, const char *want)
{
    char buf[128];

    config_bytes_format(v, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

static void
test_sizes(void **state)
{
    (void)state;
    bytes_is("10MB", 10485760);
    bytes_is("10 MB", 10485760);
    bytes_is("36MB", 37748736);
    bytes_is("65536", 65536);
    bytes_is("64KB", 65536);
    bytes_is("64 kb", 65536);
    bytes_is("1GB", 1073741824);
    bytes_is("1.5 GB", 1610612736);
    bytes_is("512 B", 512);
    bytes_is("10 MB (10,485,760 bytes)", 10485760);
    bytes_is("  10 MB (10485760 bytes)  ", 10485760);
    bytes_is("10240 KB (10,485,760 bytes)", 10485760);
    /* Not a round number: the exact count in parentheses wins. */
    bytes_is("488.3 KB (500,000 bytes)", 500000);
    bytes_is("Unlimited", CONFIG_UNLIMITED);
    bytes_is("unlimited", CONFIG_UNLIMITED);

    bytes_bad("Unlimited", false);
    bytes_bad("10 XB", true);
    bytes_bad("MB", true);
    bytes_bad("-1", true);
    bytes_bad("10 MB bytes", true);
    bytes_bad("", true);
    bytes_bad("99999999999999999999", true);
    /* A hand edit that changed one side only. */
    bytes_bad("25 MB (10,485,760 bytes)", true);
    bytes_bad("10 MB (10,485,760 byte)", true);

    bytes_shows(10485760, "10 MB (10,485,760 bytes)");
    bytes_shows(65536, "64 KB (65,536 bytes)");
    bytes_shows(37748736, "36 MB (37,748,736 bytes)");
    bytes_shows(500000, "488.3 KB (500,000 bytes)");
    bytes_shows(37085451, "35.37 MB (37,085,451 bytes)");
    bytes_shows(512, "512 B (512 bytes)");
    bytes_shows(0, "0 B (0 bytes)");
    bytes_shows(CONFIG_UNLIMITED, "Unlimited");

    /* What is shown reads back as the same number. */
    const uint64_t samples[] = {0, 1, 1023, 1025, 500000, 37085451, 2147483647, 10485760};
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        char buf[128];
        config_bytes_format(samples[i], buf, sizeof(buf));
        bytes_is(buf, samples[i]);
    }
}

static void
span_is(const char *text, uint64_t want)
{
    uint64_t v = 0;
    char err[256] = "";

    if (config_timespan_parse(text, &v, err, sizeof(err)) < 0)
        fail_msg("'%s': %s", text, err);
    assert_int_equal(v, want);
}

static void
span_bad(const char *text)
{
    uint64_t v = 7;
    char err[256] = "";

    assert_int_equal(config_timespan_parse(text, &v, err, sizeof(err)), -1);
    assert_true(strstr(err, "time span") != NULL);
    assert_int_equal(v, 7);
}

static void
span_shows(uint64_t v, const char *want)
{
    char buf[64];

    config_timespan_format(v, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

static void
test_timespans(void **state)
{
    (void)state;
    span_is("00:05:00", 300);
    span_is("00:10:00", 600);
    span_is("1.00:00:00", 86400);
    span_is("2.03:04:05", 2 * 86400 + 3 * 3600 + 4 * 60 + 5);
    span_is("00:00:01", 1);
    span_is("01:30", 5400);
    span_is(" 00:05:00 ", 300);
    span_bad("24:00:00");
    span_bad("00:60:00");
    span_bad("00:00:60");
    span_bad("5");
    span_bad("abc");
    span_bad("1.");
    span_bad("00:05:00x");
    span_bad("");
    span_shows(300, "00:05:00");
    span_shows(86400, "1.00:00:00");
    span_shows(93784, "1.02:03:04");
    span_shows(0, "00:00:00");
}

static const struct config_param *
rc_param(const char *name)
{
    const struct config_param *p = config_param_find(config_kind(CONFIG_RECEIVE_CONNECTOR), name);
    assert_non_null(p);
    return p;
}

static void
test_param_values(void **state)
{
    struct receive_connector rc;
    char err[512];
    char *s;

    (void)state;
    config_object_init(config_kind(CONFIG_RECEIVE_CONNECTOR), &rc);
    /* Exchange 2010 defaults. */
    assert_int_equal(rc.max_message_size, 10485760);
    assert_int_equal(rc.max_recipients_per_message, 200);
    assert_int_equal(rc.max_inbound_connection, 5000);
    assert_int_equal(rc.max_inbound_connection_per_source, 20);
    assert_int_equal(rc.connection_timeout, 600);
    assert_int_equal(rc.connection_inactivity_timeout, 300);
    assert_int_equal(rc.max_protocol_errors, 5);
    assert_int_equal(rc.max_logon_failures, 3);
    assert_int_equal(rc.max_header_size, 65536);
    assert_int_equal(rc.max_hop_count, 30);
    assert_int_equal(rc.protocol_logging_level, LOGGING_NONE);
    assert_true(rc.enabled);
    assert_false(rc.require_tls);
    assert_false(rc.domain_secure_enabled);
    assert_int_equal(rc.auth_mechanism, AUTHM_TLS);
    assert_int_equal(rc.permission_groups, 0);
    assert_null(rc.fqdn);
    assert_null(rc.banner);

    /* The alias, case-insensitive names and values. */
    assert_ptr_equal(rc_param("authenticationmechanism"), rc_param("AuthMechanism"));
    assert_int_equal(config_param_parse(rc_param("AuthMechanism"), &rc,
                                        "tls,BASICAUTH, basicauthrequiretls", 0, err, sizeof(err)),
                     0);
    assert_int_equal(rc.auth_mechanism, AUTHM_TLS | AUTHM_BASICAUTH | AUTHM_BASICAUTH_REQUIRE_TLS);
    s = config_param_format(rc_param("AuthMechanism"), &rc, CONFIG_FORMAT_DISPLAY);
    assert_string_equal(s, "Tls, BasicAuth, BasicAuthRequireTLS");
    free(s);
    assert_int_equal(
        config_param_parse(rc_param("AuthMechanism"), &rc, "None, Tls", 0, err, sizeof(err)), -1);
    assert_string_equal(err, "None cannot be combined with other values");
    assert_int_equal(rc.auth_mechanism, AUTHM_TLS | AUTHM_BASICAUTH | AUTHM_BASICAUTH_REQUIRE_TLS);
    assert_int_equal(
        config_param_parse(rc_param("AuthMechanism"), &rc, "Kerberos", 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "'Kerberos' is not one of None, Tls"));
    assert_int_equal(
        config_param_parse(rc_param("PermissionGroups"), &rc, "None", 0, err, sizeof(err)), 0);
    s = config_param_format(rc_param("PermissionGroups"), &rc, CONFIG_FORMAT_DISPLAY);
    assert_string_equal(s, "None");
    free(s);

    /* Booleans in every spelling the shell lets through. */
    const char *yes[] = {"$true", "$TRUE", "true", "True", "1"};
    const char *no[] = {"$false", "false", "FALSE", "0"};
    for (size_t i = 0; i < 5; i++) {
        rc.require_tls = false;
        assert_int_equal(
            config_param_parse(rc_param("RequireTLS"), &rc, yes[i], 0, err, sizeof(err)), 0);
        assert_true(rc.require_tls);
    }
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(
            config_param_parse(rc_param("RequireTLS"), &rc, no[i], 0, err, sizeof(err)), 0);
        assert_false(rc.require_tls);
    }
    assert_int_equal(config_param_parse(rc_param("RequireTLS"), &rc, "yes", 0, err, sizeof(err)),
                     -1);

    /* Bounds and Unlimited where Exchange allows it. */
    assert_int_equal(config_param_parse(rc_param("MaxInboundConnectionPerSource"), &rc, "Unlimited",
                                        0, err, sizeof(err)),
                     0);
    assert_int_equal(rc.max_inbound_connection_per_source, CONFIG_UNLIMITED);
    assert_int_equal(config_param_parse(rc_param("MaxInboundConnectionPerSource"), &rc, "10001", 0,
                                        err, sizeof(err)),
                     -1);
    assert_string_equal(err, "must be between 1 and 10000, or Unlimited");
    assert_int_equal(
        config_param_parse(rc_param("MaxHopCount"), &rc, "Unlimited", 0, err, sizeof(err)), -1);
    assert_int_equal(
        config_param_parse(rc_param("MaxMessageSize"), &rc, "64KB", 0, err, sizeof(err)), 0);
    assert_int_equal(
        config_param_parse(rc_param("MaxMessageSize"), &rc, "65535", 0, err, sizeof(err)), -1);
    assert_int_equal(rc.max_message_size, 65536);
    assert_int_equal(
        config_param_parse(rc_param("ConnectionTimeout"), &rc, "1.00:00:01", 0, err, sizeof(err)),
        -1);

    /* Strings: $null unsets, control characters are refused. */
    assert_int_equal(config_param_parse(rc_param("Banner"), &rc, "220 hi", 0, err, sizeof(err)), 0);
    assert_string_equal(rc.banner, "220 hi");
    assert_int_equal(config_param_parse(rc_param("Banner"), &rc, "220 a\r\nb", 0, err, sizeof(err)),
                     -1);
    assert_string_equal(rc.banner, "220 hi");
    assert_int_equal(config_param_parse(rc_param("Banner"), &rc, "$null", 0, err, sizeof(err)), 0);
    assert_null(rc.banner);
    assert_int_equal(
        config_param_parse(rc_param("Fqdn"), &rc, "Mail.Example.TEST", 0, err, sizeof(err)), 0);
    assert_string_equal(rc.fqdn, "mail.example.test");
    assert_int_equal(
        config_param_parse(rc_param("Fqdn"), &rc, "bad_name.test", 0, err, sizeof(err)), -1);
    assert_int_equal(config_param_parse(rc_param("Name"), &rc, "SRV\\x", 0, err, sizeof(err)), -1);
    config_object_free(config_kind(CONFIG_RECEIVE_CONNECTOR), &rc);
}

static void
test_list_add_remove(void **state)
{
    struct receive_connector rc;
    const struct config_param *p = rc_param("RemoteIPRanges");
    char err[512];
    char *s;

    (void)state;
    config_object_init(config_kind(CONFIG_RECEIVE_CONNECTOR), &rc);
    assert_int_equal(
        config_param_parse(p, &rc, "10.0.0.0/8, '192.168.1.0/24'", 0, err, sizeof(err)), 0);
    assert_int_equal(rc.nremote_ip_ranges, 2);
    assert_int_equal(config_param_parse(p, &rc, "@{Add=\"172.16.0.0/12\",\"10.0.0.0/8\"}",
                                        CONFIG_PARSE_CMDLET, err, sizeof(err)),
                     0);
    s = config_param_format(p, &rc, CONFIG_FORMAT_DISPLAY);
    assert_string_equal(s, "{10.0.0.0/8, 192.168.1.0/24, 172.16.0.0/12}");
    free(s);
    /* Removal matches the range, whatever form it is written in. */
    assert_int_equal(
        config_param_parse(p, &rc, "@{Remove=\"10.0.0.0-10.255.255.255\"; Add='2001:db8::/32'}",
                           CONFIG_PARSE_CMDLET, err, sizeof(err)),
        0);
    s = config_param_format(p, &rc, CONFIG_FORMAT_FILE);
    assert_string_equal(s, "192.168.1.0/24, 172.16.0.0/12, 2001:db8::/32");
    free(s);
    /* Refused: the list stays as it was. */
    assert_int_equal(
        config_param_parse(p, &rc, "@{Remove=\"10.9.9.9\"}", CONFIG_PARSE_CMDLET, err, sizeof(err)),
        -1);
    assert_string_equal(err, "'10.9.9.9' is not in the list");
    assert_int_equal(
        config_param_parse(p, &rc, "@{Add=\"10.0.0.0/33\"}", CONFIG_PARSE_CMDLET, err, sizeof(err)),
        -1);
    assert_int_equal(
        config_param_parse(p, &rc, "@{Put=\"10.0.0.0/8\"}", CONFIG_PARSE_CMDLET, err, sizeof(err)),
        -1);
    assert_int_equal(config_param_parse(p, &rc, "1.2.3.4, 1.2.3.4", 0, err, sizeof(err)), -1);
    assert_string_equal(err, "'1.2.3.4' is listed twice");
    assert_int_equal(rc.nremote_ip_ranges, 3);
    /* In the file, @{...} is not a list. */
    assert_int_equal(config_param_parse(p, &rc, "@{Add=1.2.3.4}", 0, err, sizeof(err)), -1);
    assert_int_equal(rc.nremote_ip_ranges, 3);
    /* Get- output pasted back, and $null. */
    assert_int_equal(config_param_parse(p, &rc, "{10.0.0.0/8, 1.2.3.4}", 0, err, sizeof(err)), 0);
    assert_int_equal(rc.nremote_ip_ranges, 2);
    assert_int_equal(config_param_parse(p, &rc, "$null", 0, err, sizeof(err)), 0);
    assert_int_equal(rc.nremote_ip_ranges, 0);
    config_object_free(config_kind(CONFIG_RECEIVE_CONNECTOR), &rc);

    /* Domain lists: lower-cased, no wildcards. */
    struct transport_config tc;
    const struct config_param *d =
        config_param_find(config_kind(CONFIG_TRANSPORT), "tlsreceivedomainsecurelist");
    config_object_init(config_kind(CONFIG_TRANSPORT), &tc);
    assert_int_equal(config_param_parse(d, &tc, "Contoso.COM,fabrikam.net", 0, err, sizeof(err)),
                     0);
    assert_int_equal(tc.ntls_receive_domain_secure_list, 2);
    assert_string_equal(tc.tls_receive_domain_secure_list[0], "contoso.com");
    assert_int_equal(config_param_parse(d, &tc, "*.contoso.com", 0, err, sizeof(err)), -1);
    assert_string_equal(err, "'*.contoso.com': wildcards are not allowed here");
    assert_int_equal(
        config_param_parse(d, &tc, "@{Remove=contoso.com}", CONFIG_PARSE_CMDLET, err, sizeof(err)),
        0);
    assert_int_equal(tc.ntls_receive_domain_secure_list, 1);
    assert_string_equal(tc.tls_receive_domain_secure_list[0], "fabrikam.net");
    config_object_free(config_kind(CONFIG_TRANSPORT), &tc);
}

/* ---- the file ---- */

static const char sample[] =
    "# postern.conf — written by postern cmdlets; hand edits are kept when valid.\n"
    "[TransportConfig]\n"
    "Fqdn = mail.example.test\n"
    "MaxReceiveSize = 10 MB (10,485,760 bytes)\n"
    "tlsreceivedomainsecurelist = contoso.com, fabrikam.net\n"
    "\n"
    "# hand-written\n"
    "[ReceiveConnector \"Default mail\"]\n"
    "Bindings = 0.0.0.0:25, [::]:25\n"
    "RemoteIPRanges = 0.0.0.0-255.255.255.255, ::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\n"
    "Banner = \"220 mail.example.test ESMTP\"\n"
    "AuthenticationMechanism = Tls, BasicAuth, BasicAuthRequireTLS\n"
    "PermissionGroups = AnonymousUsers, ExchangeUsers\n"
    "\n"
    "[ReceiveConnector \"Partners\"]\n"
    "Bindings = 0.0.0.0:25\n"
    "RemoteIPRanges = 192.168.1.0/24, 10.0.0.0\n"
    "MaxMessageSize = 36MB\n"
    "ConnectionTimeout = 1.00:00:00\n"
    "RequireTLS = $true\n"
    "PermissionGroups = Partners\n"
    "Comment = \"say \\\"hi\\\" \\\\ bye\"\n"
    "\n"
    "[AcceptedDomain \"example.test\"]\n"
    "DomainName = Example.TEST\n"
    "Default = True\n"
    "\n"
    "[AcceptedDomain \"Subs\"]\n"
    "DomainName = *.corp.test\n"
    "DomainType = InternalRelay\n"
    "\n"
    "[Mailbox \"alice\"]\n"
    "PrimarySmtpAddress = Alice@EXAMPLE.test\n"
    "PasswordHash = \"$y$j9T$abc$def\"\n";

static void
test_load_sample(void **state)
{
    char err[1024] = "";
    struct config *cfg = load_text(sample, err, sizeof(err));
    const struct receive_connector *rc;
    char buf[128];

    (void)state;
    if (cfg == NULL)
        fail_msg("%s", err);
    assert_int_equal(cfg->refcount, 1);
    assert_string_equal(cfg->transport.fqdn, "mail.example.test");
    assert_int_equal(cfg->transport.max_send_size, 10485760);
    assert_int_equal(cfg->transport.max_recipient_envelope_limit, 5000);
    assert_int_equal(cfg->transport.ntls_receive_domain_secure_list, 2);
    assert_string_equal(cfg->transport.service_user, "postern");
    assert_int_equal(cfg->nreceive_connectors, 2);

    rc = config_find_receive_connector(cfg, "DEFAULT MAIL");
    assert_non_null(rc);
    assert_int_equal(rc->nbindings, 2);
    binding_format(&rc->bindings[1], buf, sizeof(buf));
    assert_string_equal(buf, "[::]:25");
    assert_int_equal(rc->nremote_ip_ranges, 2);
    assert_string_equal(rc->banner, "220 mail.example.test ESMTP");
    assert_int_equal(rc->auth_mechanism, AUTHM_TLS | AUTHM_BASICAUTH | AUTHM_BASICAUTH_REQUIRE_TLS);
    assert_int_equal(rc->permission_groups, PERM_ANONYMOUS_USERS | PERM_EXCHANGE_USERS);
    assert_string_equal(receive_connector_fqdn(cfg, rc), "mail.example.test");

    rc = config_find_receive_connector(cfg, "partners");
    assert_non_null(rc);
    assert_int_equal(rc->max_message_size, 36 * 1048576);
    assert_int_equal(rc->connection_timeout, 86400);
    assert_true(rc->require_tls);
    assert_string_equal(rc->comment, "say \"hi\" \\ bye");
    /* 10.0.0.0 takes its classful mask. */
    iprange_format(&rc->remote_ip_ranges[1], buf, sizeof(buf));
    assert_string_equal(buf, "10.0.0.0/8");

    assert_int_equal(cfg->naccepted_domains, 2);
    assert_string_equal(cfg->accepted_domains[0].domain_name, "example.test");
    assert_true(cfg->accepted_domains[0].is_default);
    assert_int_equal(cfg->accepted_domains[1].domain_type, DOMAIN_INTERNAL_RELAY);
    assert_ptr_equal(config_match_accepted_domain(cfg, "EXAMPLE.test"), &cfg->accepted_domains[0]);
    assert_ptr_equal(config_match_accepted_domain(cfg, "a.b.corp.test"), &cfg->accepted_domains[1]);
    assert_ptr_equal(config_match_accepted_domain(cfg, "corp.test"), &cfg->accepted_domains[1]);
    assert_null(config_match_accepted_domain(cfg, "xcorp.test"));
    assert_null(config_match_accepted_domain(cfg, "example.test.evil"));

    assert_int_equal(cfg->nmailboxes, 1);
    assert_string_equal(cfg->mailboxes[0].primary_smtp_address, "Alice@example.test");
    assert_string_equal(cfg->mailboxes[0].password_hash, "$y$j9T$abc$def");
    assert_ptr_equal(config_find_mailbox(cfg, "ALICE"), &cfg->mailboxes[0]);
    assert_ptr_equal(config_find_mailbox(cfg, "alice@example.test"), &cfg->mailboxes[0]);
    assert_ptr_equal(config_find_mailbox_by_address(cfg, "ALICE@EXAMPLE.TEST"), &cfg->mailboxes[0]);
    assert_null(config_find_mailbox_by_address(cfg, "alice"));
    config_unref(cfg);
}

static void
test_match_accepted_domain(void **state)
{
    char err[1024] = "";
    struct config *cfg = load_text("[AcceptedDomain \"a\"]\nDomainName = *.contoso.com\n"
                                   "Default = True\n"
                                   "[AcceptedDomain \"b\"]\nDomainName = *.sales.contoso.com\n"
                                   "[AcceptedDomain \"c\"]\nDomainName = eu.sales.contoso.com\n",
                                   err, sizeof(err));

    (void)state;
    if (cfg == NULL)
        fail_msg("%s", err);
    /* Exact beats wildcard; the longer wildcard beats the shorter. */
    assert_string_equal(config_match_accepted_domain(cfg, "eu.sales.contoso.com")->name, "c");
    assert_string_equal(config_match_accepted_domain(cfg, "us.sales.contoso.com")->name, "b");
    assert_string_equal(config_match_accepted_domain(cfg, "sales.contoso.com")->name, "b");
    assert_string_equal(config_match_accepted_domain(cfg, "contoso.com")->name, "a");
    assert_string_equal(config_match_accepted_domain(cfg, "x.contoso.com")->name, "a");
    assert_null(config_match_accepted_domain(cfg, "notcontoso.com"));
    config_unref(cfg);
}

static void
test_load_errors(void **state)
{
    (void)state;
    assert_load_error("[TransportConfig]\nFqdn = a.test\n[Connector \"x\"]\n",
                      "postern.conf:3: [Connector]: unknown section (TransportConfig, "
                      "ReceiveConnector, SendConnector, AcceptedDomain, Mailbox)");
    assert_load_error("[TransportConfig]\n\n# c\nMaxSize = 1\n",
                      "postern.conf:4: TransportConfig: MaxSize: unknown parameter");
    assert_load_error("[ReceiveConnector \"X\"]\nBindings = 0.0.0.0:25\n"
                      "RemoteIPRanges = 10.0.0.0/33\n",
                      "postern.conf:3: ReceiveConnector \"X\": RemoteIPRanges: '10.0.0.0/33': "
                      "bad prefix length");
    assert_load_error("[ReceiveConnector \"X\"]\nMaxMessageSize = 10 MB\nmaxmessagesize = 10 MB\n",
                      "postern.conf:3: ReceiveConnector \"X\": MaxMessageSize: duplicate "
                      "parameter (first at line 2)");
    /* An alias names the same parameter. */
    assert_load_error("[ReceiveConnector \"X\"]\nAuthMechanism = Tls\n"
                      "AuthenticationMechanism = Tls\n",
                      "postern.conf:3: ReceiveConnector \"X\": AuthMechanism: duplicate "
                      "parameter (first at line 2)");
    assert_load_error("[ReceiveConnector \"X\"]\nMaxMessageSize = lots\n",
                      "postern.conf:2: ReceiveConnector \"X\": MaxMessageSize: 'lots' is not a "
                      "size (examples: 10MB, 64 KB, 65536)");
    assert_load_error("[ReceiveConnector \"X\"]\nEnabled = maybe\n",
                      "postern.conf:2: ReceiveConnector \"X\": Enabled: 'maybe' is not $true or "
                      "$false");
    assert_load_error("[ReceiveConnector \"X\"]\nBanner = \"220 x\n",
                      "postern.conf:2: ReceiveConnector \"X\": Banner: missing closing quote");
    assert_load_error("[ReceiveConnector \"X\"]\nBanner = \"220 x\" y\n",
                      "postern.conf:2: ReceiveConnector \"X\": Banner: text after the closing "
                      "quote");
    assert_load_error("[ReceiveConnector \"X\"]\nName = Y\n",
                      "postern.conf:2: ReceiveConnector \"X\": Name: the name is given by the "
                      "section header");
    assert_load_error("Fqdn = a.test\n", "postern.conf:1: Fqdn: parameter outside of a [section]");
    assert_load_error("[TransportConfig]\nFqdn\n",
                      "postern.conf:2: expected \"Parameter = value\"");
    assert_load_error("[ReceiveConnector]\n", "postern.conf:1: [ReceiveConnector]: needs a name");
    assert_load_error("[TransportConfig]\n[TransportConfig]\n",
                      "postern.conf:2: [TransportConfig]: duplicate section (first at line 1)");
    /* Faults found by validation point at the parameter to blame... */
    assert_load_error("[ReceiveConnector \"X\"]\nBindings = 0.0.0.0:25\n"
                      "RemoteIPRanges = 10.0.0.0/8\nAuthMechanism = BasicAuth\n"
                      "RequireTLS = True\n",
                      "postern.conf:5: ReceiveConnector \"X\": RequireTLS: requires "
                      "AuthMechanism Tls");
    /* ... or at the section when the parameter is not in the file. */
    assert_load_error("[ReceiveConnector \"X\"]\nBindings = 0.0.0.0:25\n",
                      "postern.conf:1: ReceiveConnector \"X\": RemoteIPRanges: at least one "
                      "remote IP range is required");
    assert_load_error("[ReceiveConnector \"X\"]\nBindings = 0.0.0.0:25\n"
                      "RemoteIPRanges = 10.0.0.0/8\n"
                      "[ReceiveConnector \"x\"]\nBindings = 0.0.0.0:26\n"
                      "RemoteIPRanges = 10.0.0.0/8\n",
                      "postern.conf:4: ReceiveConnector \"x\": Name: the name is already used by "
                      "ReceiveConnector \"X\"");
    assert_load_error("[AcceptedDomain \"a\"]\nDomainName = a.*.test\n",
                      "postern.conf:2: AcceptedDomain \"a\": DomainName: 'a.*.test' is not a "
                      "valid domain name (contoso.com or *.contoso.com)");
    assert_load_error("[Mailbox \"m\"]\nPrimarySmtpAddress = m@nowhere.test\n",
                      "postern.conf:2: Mailbox \"m\": PrimarySmtpAddress: nowhere.test is not in "
                      "an Authoritative accepted domain");
    assert_load_error("[TransportConfig]\nTLSSendDomainSecureList = *.contoso.com\n",
                      "postern.conf:2: TransportConfig: TLSSendDomainSecureList: "
                      "'*.contoso.com': wildcards are not allowed here");

    char err[512];
    assert_null(config_load("/nonexistent/postern.conf", err, sizeof(err)));
    assert_string_equal(err, "/nonexistent/postern.conf: No such file or directory");
}

static void
test_round_trip(void **state)
{
    char *dir = testlib_mkdtemp("config"), *path = conf_path(dir), err[1024] = "";
    struct config *cfg = load_text(sample, err, sizeof(err));
    struct config *again;
    char *first, *second;
    struct stat st;

    (void)state;
    if (cfg == NULL)
        fail_msg("%s", err);
    /* Strings that need quoting in the file. */
    free(cfg->receive_connectors[0].comment);
    cfg->receive_connectors[0].comment = strdup("$null # not \\ a comment, \"quoted\"");
    assert_int_equal(config_save(cfg, path, err, sizeof(err)), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    first = testlib_read_file(path, NULL);
    again = config_load(path, err, sizeof(err));
    if (again == NULL)
        fail_msg("%s\n%s", err, first);
    assert_string_equal(again->receive_connectors[0].comment,
                        "$null # not \\ a comment, \"quoted\"");
    assert_int_equal(config_save(again, path, err, sizeof(err)), 0);
    second = testlib_read_file(path, NULL);
    assert_string_equal(first, second);
    /* The writer documents every parameter, defaults included. */
    assert_has_line(first, "MaxHopCount = 30");
    assert_has_line(first, "MaxHeaderSize = 64 KB (65,536 bytes)");
    assert_has_line(first, "ConnectionTimeout = 1.00:00:00");
    assert_has_line(first, "Banner = \"220 mail.example.test ESMTP\"");
    assert_has_line(first, "Fqdn = mail.example.test");
    assert_has_line(first, "PasswordHash = \"$y$j9T$abc$def\"");
    assert_has_line(first, "RemoteIPRanges = 192.168.1.0/24, 10.0.0.0/8");
    free(first);
    free(second);

    /* A clone writes the same text; the clone is independent. */
    struct config *c = config_clone(again);
    first = config_format_text(again);
    second = config_format_text(c);
    assert_string_equal(first, second);
    free(second);
    c->receive_connectors[0].require_tls = true;
    second = config_format_text(again);
    assert_string_equal(first, second);
    free(first);
    free(second);
    config_unref(c);

    /* References. */
    assert_ptr_equal(config_ref(again), again);
    assert_int_equal(again->refcount, 2);
    config_unref(again);
    assert_int_equal(again->refcount, 1);
    config_unref(again);
    config_unref(cfg);
    free(path);
    testlib_rmtree(dir);
    free(dir);
}

static void
test_default_config(void **state)
{
    struct config *cfg = config_default("mx1.example.test", NULL, 0);
    struct binding b[1];
    char err[512], buf[128];

    (void)state;
    assert_int_equal(config_validate(cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg->nreceive_connectors, 1);
    struct receive_connector *rc = &cfg->receive_connectors[0];
    assert_string_equal(rc->name, "Default mx1");
    assert_int_equal(rc->usage, USAGE_CUSTOM);
    assert_int_equal(rc->permission_groups, PERM_ANONYMOUS_USERS | PERM_EXCHANGE_USERS);
    assert_int_equal(rc->auth_mechanism, AUTHM_TLS | AUTHM_BASICAUTH | AUTHM_BASICAUTH_REQUIRE_TLS);
    assert_int_equal(rc->nbindings, 2);
    assert_int_equal(rc->nremote_ip_ranges, 2);
    iprange_format(&rc->remote_ip_ranges[0], buf, sizeof(buf));
    assert_string_equal(buf, "0.0.0.0-255.255.255.255");
    assert_int_equal(cfg->naccepted_domains, 0);
    assert_string_equal(cfg->transport.fqdn, "mx1.example.test");
    config_unref(cfg);

    assert_int_equal(binding_parse("127.0.0.1:2525", &b[0], err, sizeof(err)), 0);
    cfg = config_default("solo", b, 1);
    assert_string_equal(cfg->receive_connectors[0].name, "Default solo");
    assert_int_equal(cfg->receive_connectors[0].nbindings, 1);
    assert_int_equal(cfg->receive_connectors[0].bindings[0].port, 2525);
    config_unref(cfg);

    /* setup --bind given twice. */
    struct binding two[2] = {b[0], b[0]};
    cfg = config_default("solo", two, 2);
    assert_invalid(cfg, "ReceiveConnector \"Default solo\": Bindings: 127.0.0.1:2525 is listed "
                        "twice");
    config_unref(cfg);
}

/* ---- validation ---- */

static struct receive_connector *
add_connector(struct config *cfg, const char *name, const char *bindings, const char *ranges)
{
    const struct config_kind_info *k = config_kind(CONFIG_RECEIVE_CONNECTOR);
    struct receive_connector *rc = config_object_append(cfg, CONFIG_RECEIVE_CONNECTOR);
    char err[512];

    assert_int_equal(
        config_param_parse(config_param_find(k, "Name"), rc, name, 0, err, sizeof(err)), 0);
    assert_int_equal(
        config_param_parse(config_param_find(k, "Bindings"), rc, bindings, 0, err, sizeof(err)), 0);
    assert_int_equal(
        config_param_parse(config_param_find(k, "RemoteIPRanges"), rc, ranges, 0, err, sizeof(err)),
        0);
    return rc;
}

static void
assert_invalid(const struct config *cfg, const char *want)
{
    char err[1024] = "";

    assert_int_equal(config_validate(cfg, err, sizeof(err)), -1);
    assert_string_equal(err, want);
}

static void
assert_valid(const struct config *cfg)
{
    char err[1024] = "";

    if (config_validate(cfg, err, sizeof(err)) < 0)
        fail_msg("%s", err);
}

static void
test_validate_overlap(void **state)
{
    struct config *cfg = config_new();

    (void)state;
    add_connector(cfg, "All", "0.0.0.0:25", "0.0.0.0-255.255.255.255");
    add_connector(cfg, "Lan", "0.0.0.0:25", "192.168.1.0/24");
    add_connector(cfg, "Host", "0.0.0.0:25", "192.168.1.75");
    add_connector(cfg, "Other port", "0.0.0.0:587", "192.168.0.0-192.168.2.255");
    /* Nested on one binding, and overlapping on different ones: fine. */
    assert_valid(cfg);

    struct receive_connector *bad =
        add_connector(cfg, "Partial", "0.0.0.0:25", "192.168.1.128-192.168.2.10");
    assert_invalid(cfg, "ReceiveConnector \"Partial\": RemoteIPRanges: "
                        "192.168.1.128-192.168.2.10 overlaps 192.168.1.0/24 of ReceiveConnector "
                        "\"Lan\" on binding 0.0.0.0:25 (remote ranges that share a binding must "
                        "be disjoint or nested)");
    /* A disabled connector listens to nothing and conflicts with nothing. */
    bad->enabled = false;
    assert_valid(cfg);
    config_object_remove(cfg, CONFIG_RECEIVE_CONNECTOR, 4);

    add_connector(cfg, "Same", "[::]:25, 0.0.0.0:25", "192.168.1.0/24");
    assert_invalid(cfg, "ReceiveConnector \"Same\": RemoteIPRanges: 192.168.1.0/24 equals "
                        "192.168.1.0/24 of ReceiveConnector \"Lan\" on binding 0.0.0.0:25 (remote "
                        "ranges that share a binding must be disjoint or nested)");
    config_object_remove(cfg, CONFIG_RECEIVE_CONNECTOR, 4);
    /* Another address on the same port is another binding. */
    add_connector(cfg, "Specific", "10.1.1.1:25", "192.168.1.0-192.168.2.255");
    assert_valid(cfg);
    config_unref(cfg);
}

static void
test_validate_auth_rules(void **state)
{
    struct config *cfg = config_new();
    struct receive_connector *rc = add_connector(cfg, "R", "0.0.0.0:25", "10.0.0.0/8");
    const char *prefix = "ReceiveConnector \"R\": ";
    char want[512];

    (void)state;
    assert_valid(cfg);
#define EXPECT(msg)                                                                                \
    do {                                                                                           \
        snprintf(want, sizeof(want), "%s%s", prefix, msg);                                         \
        assert_invalid(cfg, want);                                                                 \
    } while (0)

    rc->auth_mechanism = AUTHM_BASICAUTH_REQUIRE_TLS | AUTHM_BASICAUTH;
    EXPECT("AuthMechanism: BasicAuthRequireTLS requires BasicAuth and Tls");
    rc->auth_mechanism = AUTHM_BASICAUTH_REQUIRE_TLS | AUTHM_TLS;
    EXPECT("AuthMechanism: BasicAuthRequireTLS requires BasicAuth and Tls");
    rc->auth_mechanism = AUTHM_BASICAUTH_REQUIRE_TLS | AUTHM_TLS | AUTHM_BASICAUTH;
    assert_valid(cfg);

    rc->auth_mechanism = AUTHM_EXTERNAL_AUTHORITATIVE;
    rc->permission_groups = PERM_EXCHANGE_SERVERS;
    EXPECT("AuthMechanism: ExternalAuthoritative requires Tls");
    rc->auth_mechanism = AUTHM_EXTERNAL_AUTHORITATIVE | AUTHM_TLS;
    rc->permission_groups = PERM_PARTNERS;
    EXPECT("AuthMechanism: ExternalAuthoritative requires PermissionGroups ExchangeServers");
    rc->permission_groups = PERM_EXCHANGE_SERVERS;
    assert_valid(cfg);

    rc->domain_secure_enabled = true;
    EXPECT("DomainSecureEnabled: cannot be used with AuthMechanism ExternalAuthoritative");
    rc->auth_mechanism = 0;
    rc->permission_groups = 0;
    EXPECT("DomainSecureEnabled: requires AuthMechanism Tls");
    rc->auth_mechanism = AUTHM_TLS;
    assert_valid(cfg);
    rc->domain_secure_enabled = false;

    rc->require_tls = true;
    rc->auth_mechanism = AUTHM_BASICAUTH;
    EXPECT("RequireTLS: requires AuthMechanism Tls");
    rc->auth_mechanism = AUTHM_TLS;
    assert_valid(cfg);

    rc->banner = strdup("Hello there");
    EXPECT("Banner: must start with \"220 \"");
    free(rc->banner);
    rc->banner = strdup("220 welcome");
    assert_valid(cfg);

    rc->connection_timeout = 300;
    EXPECT("ConnectionTimeout: 00:05:00 must be longer than ConnectionInactivityTimeout "
           "00:05:00");
    rc->connection_timeout = 600;

    size_t n = rc->nremote_ip_ranges;
    rc->nremote_ip_ranges = 0;
    EXPECT("RemoteIPRanges: at least one remote IP range is required");
    rc->nremote_ip_ranges = n;
    n = rc->nbindings;
    rc->nbindings = 0;
    EXPECT("Bindings: at least one binding (IP:port) is required");
    rc->nbindings = n;
    assert_valid(cfg);
#undef EXPECT
    config_unref(cfg);
}

static void
test_validate_domains_mailboxes(void **state)
{
    struct config *cfg = config_new();
    const struct config_kind_info *dk = config_kind(CONFIG_ACCEPTED_DOMAIN);
    const struct config_kind_info *mk = config_kind(CONFIG_MAILBOX);
    char err[512];

    (void)state;
    struct accepted_domain *ad = config_object_append(cfg, CONFIG_ACCEPTED_DOMAIN);
    config_param_parse(config_param_find(dk, "Name"), ad, "Contoso", 0, err, sizeof(err));
    config_param_parse(config_param_find(dk, "DomainName"), ad, "contoso.com", 0, err, sizeof(err));
    assert_invalid(cfg, "AcceptedDomain \"Contoso\": Default: one accepted domain must be the "
                        "default (Set-AcceptedDomain -MakeDefault)");
    ad->is_default = true;
    assert_valid(cfg);

    ad = config_object_append(cfg, CONFIG_ACCEPTED_DOMAIN);
    config_param_parse(config_param_find(dk, "Name"), ad, "Again", 0, err, sizeof(err));
    config_param_parse(config_param_find(dk, "DomainName"), ad, "CONTOSO.com", 0, err, sizeof(err));
    assert_invalid(cfg, "AcceptedDomain \"Again\": DomainName: contoso.com is already the "
                        "DomainName of AcceptedDomain \"Contoso\"");
    config_param_parse(config_param_find(dk, "DomainName"), ad, "relay.test", 0, err, sizeof(err));
    ad->domain_type = DOMAIN_EXTERNAL_RELAY;
    ad->is_default = true;
    assert_invalid(cfg, "AcceptedDomain \"Again\": Default: AcceptedDomain \"Contoso\" is already "
                        "the default; only one can be");
    ad->is_default = false;
    assert_valid(cfg);

    struct mailbox *mb = config_object_append(cfg, CONFIG_MAILBOX);
    config_param_parse(config_param_find(mk, "Name"), mb, "joe", 0, err, sizeof(err));
    assert_invalid(cfg, "Mailbox \"joe\": PrimarySmtpAddress: a value is required");
    assert_int_equal(config_param_parse(config_param_find(mk, "PrimarySmtpAddress"), mb,
                                        "joe@relay.test", 0, err, sizeof(err)),
                     0);
    assert_invalid(cfg, "Mailbox \"joe\": PrimarySmtpAddress: relay.test is not in an "
                        "Authoritative accepted domain");
    assert_int_equal(config_param_parse(config_param_find(mk, "PrimarySmtpAddress"), mb,
                                        "joe..x@contoso.com", 0, err, sizeof(err)),
                     -1);
    assert_int_equal(config_param_parse(config_param_find(mk, "PrimarySmtpAddress"), mb,
                                        "Joe@Contoso.COM", 0, err, sizeof(err)),
                     0);
    assert_string_equal(mb->primary_smtp_address, "Joe@contoso.com");
    assert_valid(cfg);

    mb = config_object_append(cfg, CONFIG_MAILBOX);
    config_param_parse(config_param_find(mk, "Name"), mb, "joe2", 0, err, sizeof(err));
    config_param_parse(config_param_find(mk, "PrimarySmtpAddress"), mb, "joe@contoso.com", 0, err,
                       sizeof(err));
    assert_invalid(cfg, "Mailbox \"joe2\": PrimarySmtpAddress: joe@contoso.com is already the "
                        "address of Mailbox \"joe\"");
    config_unref(cfg);
}

/* ---- arguments ---- */

/* argv as the POSIX shell hands it over, read by the command language and
 * bound to a cmdlet with these switches. */
static int
parse_args(struct cmdlet_args *a, int argc, char **argv, const char *const *switches, char *err,
           size_t errlen)
{
    char *words[16] = {"Test-Args"};
    struct cmdlet c = {"Test-Args", NULL, switches, false};
    struct ps_script s;
    int rc;

    for (int i = 0; i < argc; i++)
        words[i + 1] = argv[i];
    if (ps_parse_argv(argc + 1, words, &s, err, errlen) < 0) {
        memset(a, 0, sizeof(*a));
        return -1;
    }
    assert_int_equal(s.npipes, 1);
    rc = ps_bind(&c, &s.pipes[0].cmds[0], a, err, errlen);
    ps_script_free(&s);
    return rc;
}

static void
test_args(void **state)
{
    static const char *const switches[] = {"Internet", NULL};
    char *argv[] = {"SERVER\\Default mail",
                    "-RequireTLS:$true",
                    "-authenticationmechanism",
                    "Tls,BasicAuth",
                    "-Internet",
                    "-Name",
                    "'quoted value'",
                    "-Enabled",
                    "-Password",
                    "-",
                    "-Force"};
    struct cmdlet_args a;
    const char *s, *id;
    char err[256];
    char **items;
    size_t n;
    bool b;

    (void)state;
    assert_int_equal(parse_args(&a, 11, argv, switches, err, sizeof(err)), 0);
    assert_int_equal(cmdlet_args_identity(&a, &id, err, sizeof(err)), 1);
    assert_string_equal(id, "Default mail");
    assert_int_equal(cmdlet_args_bool(&a, "requiretls", &b, err, sizeof(err)), 1);
    assert_true(b);
    assert_int_equal(cmdlet_args_list(&a, "AuthenticationMechanism", &items, &n, err, sizeof(err)),
                     1);
    assert_int_equal(n, 2);
    assert_string_equal(items[1], "BasicAuth");
    cmdlet_list_free(items, n);
    /* A switch does not swallow the next parameter, nor does -Enabled. */
    assert_int_equal(cmdlet_args_bool(&a, "Internet", &b, err, sizeof(err)), 1);
    assert_true(b);
    assert_int_equal(cmdlet_args_string(&a, "Name", &s, err, sizeof(err)), 1);
    assert_string_equal(s, "quoted value");
    assert_int_equal(cmdlet_args_bool(&a, "Enabled", &b, err, sizeof(err)), 1);
    assert_true(b);
    /* A lone dash is a value. */
    assert_int_equal(cmdlet_args_string(&a, "Password", &s, err, sizeof(err)), 1);
    assert_string_equal(s, "-");
    assert_int_equal(cmdlet_args_bool(&a, "Missing", &b, err, sizeof(err)), 0);
    assert_int_equal(cmdlet_args_check_unused(&a, err, sizeof(err)), -1);
    assert_string_equal(err, "Force: unknown parameter");
    assert_int_equal(cmdlet_args_string(&a, "Force", &s, err, sizeof(err)), -1);
    assert_string_equal(err, "Force: a value is required");
    assert_int_equal(cmdlet_args_check_unused(&a, err, sizeof(err)), 0);
    cmdlet_args_free(&a);

    char *dup[] = {"-Name", "a", "-name:b"};
    assert_int_equal(parse_args(&a, 3, dup, NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "name: parameter given twice");
    cmdlet_args_free(&a);

    char *bools[] = {"-A", "$false", "-B:0", "-C", "TRUE", "-D", "nope", "extra"};
    assert_int_equal(parse_args(&a, 8, bools, NULL, err, sizeof(err)), 0);
    assert_int_equal(cmdlet_args_bool(&a, "a", &b, err, sizeof(err)), 1);
    assert_false(b);
    assert_int_equal(cmdlet_args_bool(&a, "b", &b, err, sizeof(err)), 1);
    assert_false(b);
    assert_int_equal(cmdlet_args_bool(&a, "c", &b, err, sizeof(err)), 1);
    assert_true(b);
    assert_int_equal(cmdlet_args_bool(&a, "d", &b, err, sizeof(err)), -1);
    assert_string_equal(err, "d: 'nope' is not $true or $false");
    assert_int_equal(cmdlet_args_check_unused(&a, err, sizeof(err)), -1);
    assert_string_equal(err, "'extra': unexpected argument");
    cmdlet_args_free(&a);
}

/* ---- cmdlets ---- */

static void
test_cmdlet_seed_line(void **state)
{
    char *dir = testlib_instance("config", "mail.example.test");
    struct testlib_run r;

    (void)state;
    /* The seed document's exact line (step 19), as typed in a shell. */
    assert_run_ok(dir, run(dir, "Set-ReceiveConnector", "-identity", "Default mail", "-RequireTLS",
                           "$true", "-AuthenticationMechanism", "TLS"));
    r = run(dir, "Get-ReceiveConnector", "Default mail");
    assert_int_equal(r.rc, 0);
    assert_has_line(r.out, "Identity                      : Default mail");
    assert_has_line(r.out, "RequireTLS                    : True");
    assert_has_line(r.out, "AuthMechanism                 : Tls");
    assert_has_line(r.out, "PermissionGroups              : AnonymousUsers, ExchangeUsers");
    assert_has_line(r.out, "Bindings                      : {0.0.0.0:25, [::]:25}");
    assert_string_equal(r.err, "");
    testlib_run_free(&r);

    /* Step 20: the domain secure list. */
    assert_run_ok(dir, run(dir, "Set-TransportConfig", "-TLSReceiveDomainSecureList",
                           "remotedomain.com,remotedomain.net"));
    r = run(dir, "get-transportconfig");
    assert_int_equal(r.rc, 0);
    assert_has_line(r.out, "TLSReceiveDomainSecureList             : {remotedomain.com, "
                           "remotedomain.net}");
    assert_has_line(r.out, "MaxReceiveSize                         : 10 MB (10,485,760 bytes)");
    testlib_run_free(&r);
    testlib_rmtree(dir);
    free(dir);
}

static void
test_cmdlet_receive_connectors(void **state)
{
    char *dir = testlib_instance("config", "mail.example.test");
    struct testlib_run r;

    (void)state;
    r = run(dir, "New-ReceiveConnector", "-Name", "Clients", "-Usage", "Client", "-RemoteIPRanges",
            "10.0.0.0/8,192.168.0.0/16");
    assert_int_equal(r.rc, 0);
    assert_has_line(r.out, "Identity                      : Clients");
    assert_has_line(r.out, "Bindings                      : {0.0.0.0:587}");
    assert_has_line(r.out, "PermissionGroups              : ExchangeUsers");
    assert_has_line(r.out, "AuthMechanism                 : Tls, BasicAuth, BasicAuthRequireTLS");
    testlib_run_free(&r);

    /* -Internet on the default binding: the same remote ranges as the
     * default connector, which Exchange refuses too. */
    r = run(dir, "New-ReceiveConnector", "Internet2", "-Internet", "-Bindings", "0.0.0.0:25");
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "ReceiveConnector \"Internet2\": RemoteIPRanges:"));
    assert_non_null(strstr(r.err, "of ReceiveConnector \"Default mail\" on binding 0.0.0.0:25"));
    testlib_run_free(&r);
    r = run(dir, "New-ReceiveConnector", "Internet2", "-Internet", "-Bindings", "127.0.0.1:2525");
    assert_int_equal(r.rc, 0);
    assert_has_line(r.out, "PermissionGroups              : AnonymousUsers");
    assert_has_line(r.out, "AuthMechanism                 : Tls");
    assert_has_line(r.out, "Usage                         : Internet");
    testlib_run_free(&r);

    r = run(dir, "New-ReceiveConnector", "-Name", "Internal", "-Internal", "-RemoteIPRanges",
            "10.1.2.3");
    assert_int_equal(r.rc, 0);
    assert_has_line(r.out,
                    "PermissionGroups              : ExchangeServers, ExchangeLegacyServers");
    assert_has_line(r.out, "Bindings                      : {0.0.0.0:25}");
    testlib_run_free(&r);

    /* Custom needs bindings and ranges. */
    r = run(dir, "New-ReceiveConnector", "-Name", "Bare", "-Custom");
    assert_int_equal(r.rc, 1);
    assert_string_equal(r.err, "New-ReceiveConnector: ReceiveConnector \"Bare\": Bindings: at "
                               "least one binding (IP:port) is required\n");
    testlib_run_free(&r);
    r = run(dir, "New-ReceiveConnector", "-Name", "Two", "-Client", "-Partner");
    assert_int_equal(r.rc, 2);
    testlib_run_free(&r);
    r = run(dir, "New-ReceiveConnector", "-Name", "clients", "-Client", "-RemoteIPRanges",
            "1.2.3.4");
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "already exists"));
    testlib_run_free(&r);
    r = run(dir, "New-ReceiveConnector", "-Usage", "Client");
    assert_int_equal(r.rc, 2);
    assert_string_equal(r.err, "New-ReceiveConnector: Name: a value is required\n");
    testlib_run_free(&r);

    /* Set: list add/remove, sizes, timespans. */
    assert_run_ok(dir, run(dir, "Set-ReceiveConnector", "Clients", "-RemoteIPRanges",
                           "@{Add=\"172.16.0.0/12\";Remove=\"10.0.0.0/8\"}",
                           "-MaxMessageSize:36 MB", "-ConnectionInactivityTimeout", "00:01:00",
                           "-Banner", "220 clients here", "-ProtocolLoggingLevel", "verbose"));
    r = run(dir, "Get-ReceiveConnector", "-Identity", "clients");
    assert_int_equal(r.rc, 0);
    assert_has_line(r.out, "RemoteIPRanges                : {192.168.0.0/16, 172.16.0.0/12}");
    assert_has_line(r.out, "MaxMessageSize                : 36 MB (37,748,736 bytes)");
    assert_has_line(r.out, "ConnectionInactivityTimeout   : 00:01:00");
    assert_has_line(r.out, "Banner                        : 220 clients here");
    assert_has_line(r.out, "ProtocolLoggingLevel          : Verbose");
    testlib_run_free(&r);

    /* Usage shapes creation only. */
    r = run(dir, "Set-ReceiveConnector", "Clients", "-Usage", "Internet");
    assert_int_equal(r.rc, 2);
    assert_string_equal(r.err, "Set-ReceiveConnector: Usage: unknown parameter\n");
    testlib_run_free(&r);

    /* Get without identity: all of them, blank-line separated. */
    r = run(dir, "Get-ReceiveConnector");
    assert_int_equal(r.rc, 0);
    assert_has_line(r.out, "Identity                      : Default mail");
    assert_has_line(r.out, "Identity                      : Internal");
    assert_non_null(strstr(r.out, "ProtocolLoggingLevel          : None\n\nIdentity"));
    testlib_run_free(&r);

    /* Rename, then remove. */
    assert_run_ok(dir, run(dir, "Set-ReceiveConnector", "Internal", "-Name", "Hubs"));
    r = run(dir, "Get-ReceiveConnector", "Internal");
    assert_int_equal(r.rc, 1);
    assert_string_equal(
        r.err, "Get-ReceiveConnector: ReceiveConnector \"Internal\": Identity: not found\n");
    testlib_run_free(&r);
    assert_run_ok(dir, run(dir, "Remove-ReceiveConnector", "SRV\\Hubs", "-Confirm:$false"));
    r = run(dir, "Remove-ReceiveConnector", "Hubs");
    assert_int_equal(r.rc, 1);
    testlib_run_free(&r);
    r = run(dir, "Remove-ReceiveConnector");
    assert_int_equal(r.rc, 2);
    assert_string_equal(r.err, "Remove-ReceiveConnector: Identity: a value is required\n");
    testlib_run_free(&r);
    testlib_rmtree(dir);
    free(dir);
}

static void
test_cmdlet_failure_leaves_file(void **state)
{
    char *dir = testlib_instance("config", "mail.example.test"), *path = conf_path(dir);
    char *before = testlib_read_file(path, NULL), *after;
    struct stat st1, st2;
    struct testlib_run r;

    (void)state;
    assert_int_equal(stat(path, &st1), 0);
    struct {
        int rc;
        const char *err;
        char *argv[8];
    } cases[] = {
        {2,
         "Set-ReceiveConnector: Bogus: unknown parameter\n",
         {"Set-ReceiveConnector", "Default mail", "-RequireTLS", "$true", "-Bogus", "1"}},
        {1,
         "Set-ReceiveConnector: ReceiveConnector \"Default mail\": MaxMessageSize: must be "
         "between 64 KB (65,536 bytes) and 2 GB (2,147,483,647 bytes)\n",
         {"Set-ReceiveConnector", "Default mail", "-Enabled:$false", "-MaxMessageSize", "1KB"}},
        {1,
         "Set-ReceiveConnector: ReceiveConnector \"Default mail\": AuthMechanism: None cannot "
         "be combined with other values\n",
         {"Set-ReceiveConnector", "Default mail", "-AuthMechanism", "None,Tls"}},
        {1,
         "Set-ReceiveConnector: ReceiveConnector \"Default mail\": RequireTLS: requires "
         "AuthMechanism Tls\n",
         {"Set-ReceiveConnector", "Default mail", "-RequireTLS", "$true", "-AuthMechanism",
          "None"}},
        {1,
         "Set-ReceiveConnector: ReceiveConnector \"Default mail\": AuthMechanism: "
         "BasicAuthRequireTLS requires BasicAuth and Tls\n",
         {"Set-ReceiveConnector", "Default mail", "-AuthMechanism", "BasicAuthRequireTLS"}},
        {1,
         "Set-ReceiveConnector: ReceiveConnector \"Nope\": Identity: not found\n",
         {"Set-ReceiveConnector", "Nope", "-Enabled", "$false"}},
        {2,
         "Set-ReceiveConnector: AuthMechanism: parameter given twice\n",
         {"Set-ReceiveConnector", "Default mail", "-AuthMechanism", "Tls",
          "-AuthenticationMechanism", "Tls"}},
        {1,
         "Set-ReceiveConnector: ReceiveConnector \"Default mail\": RemoteIPRanges: "
         "'10.0.0.0/8' is not in the list\n",
         {"Set-ReceiveConnector", "Default mail", "-RemoteIPRanges", "@{Remove=10.0.0.0/8}"}},
        {2, "postern: Set-Nothing: unknown cmdlet\n", {"Set-Nothing", "-Enabled", "$true"}},
        {1,
         "Set-TransportConfig: TransportConfig: MaxRecipientEnvelopeLimit: 'lots' is not a whole "
         "number or Unlimited\n",
         {"Set-TransportConfig", "-MaxRecipientEnvelopeLimit", "lots"}},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int argc = 0;
        char out[4096] = "", err[4096] = "";
        FILE *fo = fmemopen(out, sizeof(out), "w"), *fe = fmemopen(err, sizeof(err), "w");
        while (cases[i].argv[argc] != NULL)
            argc++;
        int rc = ps_run_argv(dir, argc, cases[i].argv, stdin, fo, fe);
        fclose(fo);
        fclose(fe);
        assert_int_equal(rc, cases[i].rc);
        assert_string_equal(err, cases[i].err);
        after = testlib_read_file(path, NULL);
        assert_string_equal(before, after);
        free(after);
    }
    /* Not even rewritten: same inode, same time. */
    assert_int_equal(stat(path, &st2), 0);
    assert_int_equal(st1.st_ino, st2.st_ino);
    assert_int_equal(st1.st_mtim.tv_nsec, st2.st_mtim.tv_nsec);

    /* A hand edit gone wrong stops every cmdlet, naming the line. */
    testlib_write_text(path, "[TransportConfig]\nFqdn = mail.example.test\nMaxSendSize = big\n");
    r = run(dir, "Set-TransportConfig", "-MaxSendSize", "20MB");
    assert_int_equal(r.rc, 1);
    assert_string_equal(r.err, "Set-TransportConfig: postern.conf:3: TransportConfig: "
                               "MaxSendSize: 'big' is not a size (examples: 10MB, 64 KB, 65536, "
                               "Unlimited)\n");
    testlib_run_free(&r);
    after = testlib_read_file(path, NULL);
    assert_string_equal(after, "[TransportConfig]\nFqdn = mail.example.test\nMaxSendSize = big\n");
    free(after);
    free(before);
    free(path);
    testlib_rmtree(dir);
    free(dir);

    /* No instance at all. */
    r = run("/nonexistent-postern", "Get-ReceiveConnector");
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "setup"));
    testlib_run_free(&r);
}

static void
test_cmdlet_domains_mailboxes(void **state)
{
    char *dir = testlib_instance("config", "mail.example.test"), *path = conf_path(dir), *text;
    struct config *cfg;
    char err[512];
    struct testlib_run r;

    (void)state;
    /* No accepted domain yet: a mailbox has nowhere to live. */
    r = run(dir, "New-Mailbox", "-PrimarySmtpAddress", "alice@example.test");
    assert_int_equal(r.rc, 1);
    assert_string_equal(r.err, "New-Mailbox: Mailbox \"alice@example.test\": PrimarySmtpAddress: "
                               "example.test is not in an Authoritative accepted domain\n");
    testlib_run_free(&r);

    r = run(dir, "New-AcceptedDomain", "-DomainName", "Example.TEST");
    assert_int_equal(r.rc, 0);
    assert_has_line(r.out, "Identity   : example.test");
    assert_has_line(r.out, "DomainType : Authoritative");
    assert_has_line(r.out, "Default    : True");
    testlib_run_free(&r);
    r = run(dir, "New-AcceptedDomain", "Corp", "-DomainName", "*.corp.test", "-DomainType",
            "InternalRelay");
    assert_int_equal(r.rc, 0);
    assert_has_line(r.out, "Default    : False");
    testlib_run_free(&r);
    r = run(dir, "New-AcceptedDomain", "-DomainName", "bad.*.test");
    assert_int_equal(r.rc, 1);
    testlib_run_free(&r);
    r = run(dir, "Set-AcceptedDomain", "Corp", "-DomainName", "x.test");
    assert_int_equal(r.rc, 2);
    testlib_run_free(&r);

    /* The password from standard input, stored hashed, never shown. */
    r = testlib_cmdlet(dir, "s3cret pass\n", "New-Mailbox", "-Name", "Alice", "-PrimarySmtpAddress",
                       "Alice@EXAMPLE.test", "-Password", "-", (char *)NULL);
    assert_int_equal(r.rc, 0);
    assert_has_line(r.out, "Identity                  : Alice");
    assert_has_line(r.out, "PrimarySmtpAddress        : Alice@example.test");
    assert_has_line(r.out, "ExchangeAdministratorRole : None");
    assert_null(strstr(r.out, "$y$"));
    assert_null(strstr(r.out, "Password"));
    testlib_run_free(&r);
    cfg = config_load(path, err, sizeof(err));
    assert_non_null(cfg);
    assert_true(password_verify("s3cret pass", cfg->mailboxes[0].password_hash));
    config_unref(cfg);
    text = testlib_read_file(path, NULL);
    assert_null(strstr(text, "s3cret"));
    free(text);

    assert_run_ok(dir, run(dir, "Set-Mailbox", "alice@example.test", "-Password", "n3w-passw0rd"));
    cfg = config_load(path, err, sizeof(err));
    assert_true(password_verify("n3w-passw0rd", cfg->mailboxes[0].password_hash));
    config_unref(cfg);
    r = run(dir, "Get-Mailbox");
    assert_int_equal(r.rc, 0);
    assert_null(strstr(r.out, "$y$"));
    testlib_run_free(&r);
    r = run(dir, "Set-Mailbox", "Alice", "-PasswordHash", "$y$x");
    assert_int_equal(r.rc, 2);
    testlib_run_free(&r);
    r = testlib_cmdlet(dir, "", "Set-Mailbox", "Alice", "-Password", "-", (char *)NULL);
    assert_int_equal(r.rc, 1);
    assert_string_equal(r.err, "Set-Mailbox: Password: no password on standard input\n");
    testlib_run_free(&r);

    /* The default domain moves, and cannot be removed while others exist. */
    r = run(dir, "Remove-AcceptedDomain", "example.test");
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "the default accepted domain cannot be removed"));
    testlib_run_free(&r);
    assert_run_ok(dir, run(dir, "Set-AcceptedDomain", "Corp", "-MakeDefault", "-DomainType",
                           "Authoritative"));
    r = run(dir, "Get-AcceptedDomain");
    assert_non_null(strstr(r.out, "Default    : False\n\nIdentity   : Corp\n"));
    assert_has_line(r.out, "Default    : True");
    testlib_run_free(&r);
    /* Removing the domain would orphan the mailbox. */
    r = run(dir, "Remove-AcceptedDomain", "example.test");
    assert_int_equal(r.rc, 1);
    assert_string_equal(r.err, "Remove-AcceptedDomain: Mailbox \"Alice\": PrimarySmtpAddress: "
                               "example.test is not in an Authoritative accepted domain\n");
    testlib_run_free(&r);
    assert_run_ok(dir, run(dir, "Remove-Mailbox", "Alice"));
    assert_run_ok(dir, run(dir, "Remove-AcceptedDomain", "example.test"));
    r = run(dir, "Get-AcceptedDomain", "-Identity", "example.test");
    assert_int_equal(r.rc, 1);
    testlib_run_free(&r);
    free(path);
    testlib_rmtree(dir);
    free(dir);
}

/* ---- send connectors, routing values, retry timers ---- */

static const struct config_param *
sc_param(const char *name)
{
    const struct config_param *p = config_param_find(config_kind(CONFIG_SEND_CONNECTOR), name);
    assert_non_null(p);
    return p;
}

static const struct config_param *
tc_param(const char *name)
{
    const struct config_param *p = config_param_find(config_kind(CONFIG_TRANSPORT), name);
    assert_non_null(p);
    return p;
}

/* Parses text into p of obj; on success the field formats (Get- style,
 * without braces for lists) as want. */
static void
param_ok(const struct config_param *p, void *obj, const char *text, const char *want)
{
    char err[512] = "", *s;

    if (config_param_parse(p, obj, text, CONFIG_PARSE_CMDLET, err, sizeof(err)) < 0)
        fail_msg("%s '%s': %s", p->name, text, err);
    s = config_param_format(p, obj, CONFIG_FORMAT_FILE);
    if (strcmp(s, want) != 0)
        fail_msg("%s '%s': got '%s', want '%s'", p->name, text, s, want);
    free(s);
}

/* Refused with err containing want; the field is unchanged. */
static void
param_bad(const struct config_param *p, void *obj, const char *text, const char *want)
{
    char err[512] = "", *before = config_param_format(p, obj, CONFIG_FORMAT_FILE), *after;

    if (config_param_parse(p, obj, text, CONFIG_PARSE_CMDLET, err, sizeof(err)) == 0)
        fail_msg("%s '%s': accepted, expected '%s'", p->name, text, want);
    if (strstr(err, want) == NULL)
        fail_msg("%s '%s': error '%s', expected '%s'", p->name, text, err, want);
    after = config_param_format(p, obj, CONFIG_FORMAT_FILE);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

static void
test_address_spaces(void **state)
{
    struct address_space as;
    char err[256], buf[300];

    (void)state;
    const struct {
        const char *text, *domain;
        unsigned cost;
    } good[] = {
        {"contoso.com", "contoso.com", 1},
        {"*.contoso.com;5", "*.contoso.com", 5},
        {"SMTP:*", "*", 1},
        {"smtp:Contoso.COM;100", "contoso.com", 100},
        {"*", "*", 1},
        {" SMTP: *.com ; 7 ", "*.com", 7},
        {"*;1", "*", 1},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (config_address_space_parse(good[i].text, &as, err, sizeof(err)) < 0)
            fail_msg("'%s': %s", good[i].text, err);
        assert_string_equal(as.domain, good[i].domain);
        assert_int_equal(as.cost, good[i].cost);
        free(as.domain);
    }
    const struct {
        const char *text, *err;
    } bad[] = {
        {"*contoso.com", "a wildcard is allowed only as * or as *.domain"},
        {"a.*.contoso.com", "a wildcard is allowed only as * or as *.domain"},
        {"*.*", "a wildcard is allowed only"},
        {"contoso.com;0", "the cost after ';' must be a number from 1 to 100"},
        {"contoso.com;101", "the cost after ';' must be a number from 1 to 100"},
        {"contoso.com;", "the cost after ';' must be"},
        {"contoso.com;x", "the cost after ';' must be"},
        {"X400:c=us;a=;p=org", "only SMTP address spaces are supported"},
        {"bad_name.com", "not a valid domain name"},
        {"", "not a valid domain name"},
        {"SMTP:", "not a valid domain name"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (config_address_space_parse(bad[i].text, &as, err, sizeof(err)) == 0)
            fail_msg("'%s': accepted", bad[i].text);
        if (strstr(err, bad[i].err) == NULL)
            fail_msg("'%s': error '%s', expected '%s'", bad[i].text, err, bad[i].err);
    }
    as.domain = "*.contoso.com";
    as.cost = 5;
    config_address_space_format(&as, buf, sizeof(buf));
    assert_string_equal(buf, "SMTP:*.contoso.com;5");

    /* As a list: Exchange's display form; one entry per domain. */
    struct send_connector sc;
    const struct config_param *p = sc_param("addressspaces");
    config_object_init(config_kind(CONFIG_SEND_CONNECTOR), &sc);
    param_ok(p, &sc, "contoso.com, '*.contoso.com;5', SMTP:*;100",
             "SMTP:contoso.com;1, SMTP:*.contoso.com;5, SMTP:*;100");
    param_bad(p, &sc, "contoso.com;1, contoso.com;5", "'contoso.com;5' is listed twice");
    param_bad(p, &sc, "contoso.com, *contoso.com", "'*contoso.com': a wildcard");
    /* @{Add=} of a domain already there sets its cost; ';' inside quotes
     * is not a clause separator. */
    param_ok(p, &sc, "@{Add=\"contoso.com;7\"; Remove='SMTP:*'}",
             "SMTP:contoso.com;7, SMTP:*.contoso.com;5");
    param_ok(p, &sc, "@{Remove=\"*.contoso.com;1\"}", "SMTP:contoso.com;7");
    param_bad(p, &sc, "@{Remove=fabrikam.com}", "'fabrikam.com' is not in the list");
    char *s = config_param_format(p, &sc, CONFIG_FORMAT_DISPLAY);
    assert_string_equal(s, "{SMTP:contoso.com;7}");
    free(s);
    config_object_free(config_kind(CONFIG_SEND_CONNECTOR), &sc);
}

static void
test_routing_values(void **state)
{
    struct send_connector sc;
    struct transport_config tc;
    struct accepted_domain ad;

    (void)state;
    config_object_init(config_kind(CONFIG_SEND_CONNECTOR), &sc);
    /* Smart hosts: names lower-cased, IP literals canonical, IPv6 in
     * brackets. */
    param_ok(sc_param("SmartHosts"), &sc,
             "Relay.Contoso.COM, 192.0.2.10, [192.0.2.11], 2001:DB8::1, [2001:db8:0::2], relay",
             "relay.contoso.com, 192.0.2.10, 192.0.2.11, [2001:db8::1], [2001:db8::2], relay");
    param_bad(sc_param("SmartHosts"), &sc, "relay.contoso.com:2525", "takes no port");
    param_bad(sc_param("SmartHosts"), &sc, "999.1.1.1", "not a host name or IP address");
    param_bad(sc_param("SmartHosts"), &sc, "[relay.contoso.com]", "not an IP address in brackets");
    param_bad(sc_param("SmartHosts"), &sc, "bad_host.test", "not a host name or IP address");
    param_bad(sc_param("SmartHosts"), &sc, "192.0.2.10, [192.0.2.10]", "listed twice");
    param_ok(sc_param("SourceTransportServers"), &sc, "MX1, mx2.example.test",
             "MX1, mx2.example.test");
    param_bad(sc_param("SourceTransportServers"), &sc, "mx1, MX1", "listed twice");
    param_bad(sc_param("SourceTransportServers"), &sc, "mx_1", "not a server name");

    /* Enumerations, $null, and ErrorPolicies' "Default" for none. */
    assert_int_equal(sc.tls_auth_level, TLSAUTH_UNSET);
    param_ok(sc_param("TlsAuthLevel"), &sc, "domainvalidation", "DomainValidation");
    param_ok(sc_param("TlsAuthLevel"), &sc, "$null", "");
    assert_int_equal(sc.tls_auth_level, TLSAUTH_UNSET);
    param_bad(sc_param("TlsAuthLevel"), &sc, "Strict",
              "'Strict' is not one of EncryptionOnly, CertificateValidation, DomainValidation, "
              "$null");
    param_ok(sc_param("SmartHostAuthMechanism"), &sc, "BasicAuthRequireTLS", "BasicAuthRequireTLS");
    param_bad(sc_param("SmartHostAuthMechanism"), &sc, "$null", "is not one of None, BasicAuth");
    param_ok(sc_param("ErrorPolicies"), &sc, "Default", "Default");
    param_ok(sc_param("ErrorPolicies"), &sc, "DowngradeDnsFailures, DowngradeAuthFailures",
             "DowngradeAuthFailures, DowngradeDnsFailures");
    assert_int_equal(sc.error_policies,
                     ERRPOL_DOWNGRADE_AUTH_FAILURES | ERRPOL_DOWNGRADE_DNS_FAILURES);
    param_bad(sc_param("ErrorPolicies"), &sc, "Default, DowngradeDnsFailures",
              "Default cannot be combined with other values");
    param_ok(sc_param("TlsDomain"), &sc, "*.Contoso.com", "*.contoso.com");
    param_ok(sc_param("Port"), &sc, "2526", "2526");
    param_bad(sc_param("Port"), &sc, "65536", "must be between 1 and 65535");
    param_bad(sc_param("Port"), &sc, "0", "must be between 1 and 65535");
    param_ok(sc_param("MaxMessageSize"), &sc, "Unlimited", "Unlimited");
    param_ok(sc_param("ConnectionInactivityTimeout"), &sc, "00:00:30", "00:00:30");

    /* The credential: user:password, the password never in an error. */
    param_ok(sc_param("AuthenticationCredential"), &sc, "relay user:p@ss:word",
             "relay user:p@ss:word");
    param_bad(sc_param("AuthenticationCredential"), &sc, "nopassword", "expected user:password");
    param_bad(sc_param("AuthenticationCredential"), &sc, ":s3cret", "expected user:password");
    param_bad(sc_param("AuthenticationCredential"), &sc, "user:", "the password is empty");
    char err[256];
    assert_int_equal(config_param_parse(sc_param("AuthenticationCredential"), &sc, "u:s3cr\x01t", 0,
                                        err, sizeof(err)),
                     -1);
    assert_null(strstr(err, "s3cr"));
    char *shown =
        config_param_format(sc_param("AuthenticationCredential"), &sc, CONFIG_FORMAT_DISPLAY);
    assert_string_equal(shown, "relay user");
    free(shown);
    param_ok(sc_param("AuthenticationCredential"), &sc, "$null", "");
    assert_null(sc.authentication_credential);
    config_object_free(config_kind(CONFIG_SEND_CONNECTOR), &sc);

    /* ExternalDNSServers: IP or IP@port, normalised. */
    config_object_init(config_kind(CONFIG_TRANSPORT), &tc);
    param_ok(tc_param("ExternalDNSServers"), &tc, "192.0.2.53, 2001:DB8::53@5353, [::1]@53",
             "192.0.2.53, 2001:db8::53@5353, ::1@53");
    param_bad(tc_param("ExternalDNSServers"), &tc, "dns.example.test", "not an IP address");
    param_bad(tc_param("ExternalDNSServers"), &tc, "192.0.2.53@0", "port after '@'");
    param_bad(tc_param("ExternalDNSServers"), &tc, "192.0.2.53@70000", "port after '@'");
    param_bad(tc_param("ExternalDNSServers"), &tc, "192.0.2.53@", "port after '@'");
    config_object_free(config_kind(CONFIG_TRANSPORT), &tc);

    /* LmtpServer: host:port, [v6]:port or an absolute socket path. */
    const struct config_param *lp =
        config_param_find(config_kind(CONFIG_ACCEPTED_DOMAIN), "LmtpServer");
    assert_non_null(lp);
    config_object_init(config_kind(CONFIG_ACCEPTED_DOMAIN), &ad);
    assert_null(ad.lmtp_server);
    param_ok(lp, &ad, "mail.example.test:24", "mail.example.test:24");
    param_ok(lp, &ad, "127.0.0.1:2424", "127.0.0.1:2424");
    param_ok(lp, &ad, "[2001:db8::1]:24", "[2001:db8::1]:24");
    param_ok(lp, &ad, "/run/dovecot/lmtp", "/run/dovecot/lmtp");
    param_bad(lp, &ad, "mail.example.test", "not host:port");
    param_bad(lp, &ad, "2001:db8::1:24", "an IPv6 address goes in brackets");
    param_bad(lp, &ad, "[2001:db8::1]", "missing or bad :port");
    param_bad(lp, &ad, "[192.0.2.1]:24", "not an IPv6 address in brackets");
    param_bad(lp, &ad, "host:0", "the port after ':' must be");
    param_bad(lp, &ad, "host:24x", "the port after ':' must be");
    param_bad(lp, &ad, "run/lmtp", "not host:port");
    param_bad(lp, &ad, "/", "a socket path is 2 to 107 characters long");
    char longpath[200];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    param_bad(lp, &ad, longpath, "a socket path is");
    param_ok(lp, &ad, "$null", "");
    assert_null(ad.lmtp_server);
    config_object_free(config_kind(CONFIG_ACCEPTED_DOMAIN), &ad);
}

static void
test_transport_timers(void **state)
{
    struct transport_config tc;
    const char *timers[] = {
        "QueueGlitchRetryInterval",
        "TransientFailureRetryInterval",
        "OutboundConnectionFailureRetryInterval",
        "MessageRetryInterval",
        "DelayNotificationTimeout",
        "MessageExpirationTimeout",
    };

    (void)state;
    config_object_init(config_kind(CONFIG_TRANSPORT), &tc);
    /* Exchange's defaults (docs/exchange-model.md, "Queues"). */
    assert_int_equal(tc.queue_glitch_retry_count, 4);
    assert_int_equal(tc.queue_glitch_retry_interval, 60);
    assert_int_equal(tc.transient_failure_retry_count, 6);
    assert_int_equal(tc.transient_failure_retry_interval, 300);
    assert_int_equal(tc.outbound_connection_failure_retry_interval, 600);
    assert_int_equal(tc.message_retry_interval, 60);
    assert_int_equal(tc.delay_notification_timeout, 4 * 3600);
    assert_int_equal(tc.message_expiration_timeout, 2 * 86400);
    assert_int_equal(tc.max_outbound_connections, 1000);
    assert_int_equal(tc.max_per_domain_outbound_connections, 20);
    assert_true(tc.external_delay_dsn_enabled);
    assert_true(tc.internal_delay_dsn_enabled);
    assert_false(tc.use_external_dns_servers_enabled);
    assert_int_equal(tc.nexternal_dns_servers, 0);

    /* Tests shorten the timers to seconds (expiry: 5 s at least, as in
     * Exchange); a day fits each of them. */
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
        bool expiry = strcmp(timers[i], "MessageExpirationTimeout") == 0;
        param_ok(tc_param(timers[i]), &tc, expiry ? "00:00:05" : "00:00:02",
                 expiry ? "00:00:05" : "00:00:02");
        if (strcmp(timers[i], "TransientFailureRetryInterval") != 0)
            param_ok(tc_param(timers[i]), &tc, "1.00:00:00", "1.00:00:00");
    }
    assert_int_equal(tc.message_expiration_timeout, 86400);
    assert_int_equal(tc.queue_glitch_retry_interval, 86400);
    assert_int_equal(tc.transient_failure_retry_interval, 2);
    param_ok(tc_param("TransientFailureRetryInterval"), &tc, "12:00:00", "12:00:00");
    param_bad(tc_param("TransientFailureRetryInterval"), &tc, "12:00:01",
              "must be between 00:00:01 and 12:00:00");
    param_bad(tc_param("MessageExpirationTimeout"), &tc, "00:00:04",
              "must be between 00:00:05 and 90.00:00:00");
    param_bad(tc_param("DelayNotificationTimeout"), &tc, "30.00:00:01", "30.00:00:00");
    param_bad(tc_param("OutboundConnectionFailureRetryInterval"), &tc, "00:00:00",
              "must be between 00:00:01 and 20.00:00:00");
    param_bad(tc_param("MessageRetryInterval"), &tc, "1.00:00:01", "1.00:00:00");
    param_ok(tc_param("QueueGlitchRetryCount"), &tc, "0", "0");
    param_ok(tc_param("TransientFailureRetryCount"), &tc, "15", "15");
    param_bad(tc_param("TransientFailureRetryCount"), &tc, "16", "must be between 0 and 15");
    param_ok(tc_param("MaxOutboundConnections"), &tc, "Unlimited", "Unlimited");
    param_ok(tc_param("MaxPerDomainOutboundConnections"), &tc, "unlimited", "Unlimited");
    param_bad(tc_param("MaxPerDomainOutboundConnections"), &tc, "0", "must be between 1 and");
    config_object_free(config_kind(CONFIG_TRANSPORT), &tc);

    /* The same through a file. */
    char err[1024] = "";
    struct config *cfg = load_text("[TransportConfig]\nMessageRetryInterval = 00:00:02\n"
                                   "MessageExpirationTimeout = 1.00:00:00\n"
                                   "DelayNotificationTimeout = 00:00:10\n"
                                   "ExternalDNSServers = 127.0.0.1@5353\n"
                                   "UseExternalDNSServersEnabled = $true\n",
                                   err, sizeof(err));
    if (cfg == NULL)
        fail_msg("%s", err);
    assert_int_equal(cfg->transport.message_retry_interval, 2);
    assert_int_equal(cfg->transport.message_expiration_timeout, 86400);
    /* Expiry need not be longer than the delay notice. */
    assert_int_equal(cfg->transport.delay_notification_timeout, 10);
    assert_string_equal(cfg->transport.external_dns_servers[0], "127.0.0.1@5353");
    assert_true(cfg->transport.use_external_dns_servers_enabled);
    config_unref(cfg);
}

static void
test_tls_cipher_profile(void **state)
{
    struct transport_config tc;
    char *dir, *text, err[1024] = "";
    struct config *cfg;
    struct testlib_run r;

    (void)state;
    /* Intermediate unless set; names case-insensitive, shown as spelled. */
    config_object_init(config_kind(CONFIG_TRANSPORT), &tc);
    assert_int_equal(tc.tls_cipher_profile, TLS_PROFILE_INTERMEDIATE);
    param_ok(tc_param("TlsCipherProfile"), &tc, "modern", "Modern");
    assert_int_equal(tc.tls_cipher_profile, TLS_PROFILE_MODERN);
    param_ok(tc_param("TlsCipherProfile"), &tc, "COMPATIBLE", "Compatible");
    assert_int_equal(tc.tls_cipher_profile, TLS_PROFILE_COMPATIBLE);
    param_ok(tc_param("TlsCipherProfile"), &tc, "Intermediate", "Intermediate");
    param_bad(tc_param("TlsCipherProfile"), &tc, "Old",
              "'Old' is not one of Modern, Intermediate, Compatible");
    param_bad(tc_param("TlsCipherProfile"), &tc, "$null", "is not one of");
    config_object_free(config_kind(CONFIG_TRANSPORT), &tc);

    /* Through the file, and written back. */
    cfg = load_text("[TransportConfig]\nFqdn = mail.example.test\nTlsCipherProfile = Compatible\n",
                    err, sizeof(err));
    if (cfg == NULL)
        fail_msg("%s", err);
    assert_int_equal(cfg->transport.tls_cipher_profile, TLS_PROFILE_COMPATIBLE);
    text = config_format_text(cfg);
    assert_has_line(text, "TlsCipherProfile = Compatible");
    free(text);
    config_unref(cfg);
    assert_load_error("[TransportConfig]\nTlsCipherProfile = SSLv3\n",
                      "postern.conf:2: TransportConfig: TlsCipherProfile: 'SSLv3' is not one of "
                      "Modern, Intermediate, Compatible");

    /* The cmdlet an administrator types. */
    dir = testlib_instance("config", "mail.example.test");
    r = run(dir, "Get-TransportConfig");
    assert_int_equal(r.rc, 0);
    assert_has_line(r.out, "TlsCipherProfile                       : Intermediate");
    testlib_run_free(&r);
    assert_run_ok(dir, run(dir, "Set-TransportConfig", "-TlsCipherProfile", "Modern"));
    r = run(dir, "Get-TransportConfig");
    assert_has_line(r.out, "TlsCipherProfile                       : Modern");
    testlib_run_free(&r);
    r = run(dir, "Set-TransportConfig", "-TlsCipherProfile", "Legacy");
    assert_int_not_equal(r.rc, 0);
    assert_non_null(strstr(r.err, "Modern, Intermediate, Compatible"));
    testlib_run_free(&r);
    r = run(dir, "Get-TransportConfig");
    assert_has_line(r.out, "TlsCipherProfile                       : Modern");
    testlib_run_free(&r);
    testlib_rmtree(dir);
    free(dir);
}

static const char send_sample[] = "[TransportConfig]\n"
                                  "Fqdn = mail.example.test\n"
                                  "\n"
                                  "[SendConnector \"Internet\"]\n"
                                  "AddressSpaces = *\n"
                                  "Usage = Internet\n"
                                  "\n"
                                  "[SendConnector \"Relay\"]\n"
                                  "Comment = \"via the ISP\"\n"
                                  "AddressSpaces = SMTP:contoso.com;1, *.fabrikam.com;5\n"
                                  "DNSRoutingEnabled = False\n"
                                  "SmartHosts = relay.isp.test, 192.0.2.10, [2001:db8::25]\n"
                                  "Port = 587\n"
                                  "SmartHostAuthMechanism = BasicAuthRequireTLS\n"
                                  "AuthenticationCredential = \"relayuser:s3cret #1\"\n"
                                  "RequireTLS = True\n"
                                  "TlsAuthLevel = DomainValidation\n"
                                  "TlsDomain = *.isp.test\n"
                                  "Fqdn = out.example.test\n"
                                  "SourceTransportServers = MX1, mx2\n"
                                  "MaxMessageSize = 25 MB\n"
                                  "ConnectionInactivityTimeOut = 00:02:00\n"
                                  "ProtocolLoggingLevel = Verbose\n"
                                  "ForceHELO = True\n"
                                  "ErrorPolicies = DowngradeAuthFailures\n"
                                  "Enabled = False\n"
                                  "\n"
                                  "[AcceptedDomain \"example.test\"]\n"
                                  "DomainName = example.test\n"
                                  "LmtpServer = /run/dovecot/lmtp\n"
                                  "Default = True\n"
                                  "\n"
                                  "[AcceptedDomain \"other.test\"]\n"
                                  "DomainName = other.test\n"
                                  "\n"
                                  "[Mailbox \"bob\"]\n"
                                  "PrimarySmtpAddress = bob@example.test\n"
                                  "LmtpServer = \"[2001:db8::1]:24\"\n";

static void
test_send_connector_file(void **state)
{
    char *dir = testlib_mkdtemp("config"), *path = conf_path(dir), err[1024] = "";
    struct config *cfg = load_text(send_sample, err, sizeof(err)), *again, *c;
    const struct send_connector *sc;
    char *first, *second;

    (void)state;
    if (cfg == NULL)
        fail_msg("%s", err);
    assert_int_equal(cfg->nsend_connectors, 2);

    sc = config_find_send_connector(cfg, "INTERNET");
    assert_ptr_equal(sc, &cfg->send_connectors[0]);
    /* Defaults (docs/exchange-model.md, "Send connectors"). */
    assert_int_equal(sc->usage, SC_USAGE_INTERNET);
    assert_int_equal(sc->naddress_spaces, 1);
    assert_string_equal(sc->address_spaces[0].domain, "*");
    assert_int_equal(sc->address_spaces[0].cost, 1);
    assert_true(sc->dns_routing_enabled);
    assert_int_equal(sc->nsmart_hosts, 0);
    assert_int_equal(sc->port, 25);
    assert_int_equal(sc->smart_host_auth_mechanism, SHAUTH_NONE);
    assert_null(sc->authentication_credential);
    assert_false(sc->require_tls);
    assert_false(sc->ignore_starttls);
    assert_int_equal(sc->tls_auth_level, TLSAUTH_UNSET);
    assert_null(sc->tls_domain);
    assert_false(sc->domain_secure_enabled);
    assert_null(sc->fqdn);
    assert_int_equal(sc->nsource_transport_servers, 0);
    assert_int_equal(sc->max_message_size, 10485760);
    assert_int_equal(sc->connection_inactivity_timeout, 600);
    assert_int_equal(sc->protocol_logging_level, LOGGING_NONE);
    assert_true(sc->enabled);
    assert_false(sc->force_helo);
    assert_int_equal(sc->error_policies, 0);
    assert_string_equal(send_connector_fqdn(cfg, sc), "mail.example.test");

    sc = config_find_send_connector(cfg, "relay");
    assert_non_null(sc);
    assert_string_equal(sc->comment, "via the ISP");
    assert_int_equal(sc->naddress_spaces, 2);
    assert_string_equal(sc->address_spaces[1].domain, "*.fabrikam.com");
    assert_int_equal(sc->address_spaces[1].cost, 5);
    assert_false(sc->dns_routing_enabled);
    assert_int_equal(sc->nsmart_hosts, 3);
    assert_string_equal(sc->smart_hosts[2], "[2001:db8::25]");
    assert_int_equal(sc->port, 587);
    assert_int_equal(sc->smart_host_auth_mechanism, SHAUTH_BASIC_AUTH_REQUIRE_TLS);
    assert_string_equal(sc->authentication_credential, "relayuser:s3cret #1");
    assert_true(sc->require_tls);
    assert_int_equal(sc->tls_auth_level, TLSAUTH_DOMAIN_VALIDATION);
    assert_string_equal(sc->tls_domain, "*.isp.test");
    assert_string_equal(send_connector_fqdn(cfg, sc), "out.example.test");
    assert_int_equal(sc->nsource_transport_servers, 2);
    assert_string_equal(sc->source_transport_servers[0], "MX1");
    assert_int_equal(sc->max_message_size, 25 * 1048576);
    assert_int_equal(sc->connection_inactivity_timeout, 120);
    assert_int_equal(sc->protocol_logging_level, LOGGING_VERBOSE);
    assert_true(sc->force_helo);
    assert_int_equal(sc->error_policies, ERRPOL_DOWNGRADE_AUTH_FAILURES);
    assert_false(sc->enabled);
    assert_null(config_find_send_connector(cfg, "Nope"));

    assert_string_equal(cfg->accepted_domains[0].lmtp_server, "/run/dovecot/lmtp");
    assert_null(cfg->accepted_domains[1].lmtp_server);
    assert_string_equal(cfg->mailboxes[0].lmtp_server, "[2001:db8::1]:24");
    assert_ptr_equal(config_default_domain(cfg), &cfg->accepted_domains[0]);

    /* Round trip: the writer's text reads back as itself. */
    assert_int_equal(config_save(cfg, path, err, sizeof(err)), 0);
    first = testlib_read_file(path, NULL);
    again = config_load(path, err, sizeof(err));
    if (again == NULL)
        fail_msg("%s\n%s", err, first);
    assert_int_equal(config_save(again, path, err, sizeof(err)), 0);
    second = testlib_read_file(path, NULL);
    assert_string_equal(first, second);
    assert_has_line(first, "[SendConnector \"Relay\"]");
    assert_has_line(first, "AddressSpaces = SMTP:contoso.com;1, SMTP:*.fabrikam.com;5");
    assert_has_line(first, "AddressSpaces = SMTP:*;1");
    assert_has_line(first, "SmartHosts = relay.isp.test, 192.0.2.10, [2001:db8::25]");
    assert_has_line(first, "AuthenticationCredential = \"relayuser:s3cret #1\"");
    assert_has_line(first, "AuthenticationCredential =");
    assert_has_line(first, "TlsAuthLevel = DomainValidation");
    assert_has_line(first, "TlsAuthLevel =");
    assert_has_line(first, "ConnectionInactivityTimeOut = 00:02:00");
    assert_has_line(first, "ErrorPolicies = Default");
    assert_has_line(first, "SourceTransportServers = MX1, mx2");
    assert_has_line(first, "MaxMessageSize = 25 MB (26,214,400 bytes)");
    assert_has_line(first, "LmtpServer = /run/dovecot/lmtp");
    assert_has_line(first, "LmtpServer = [2001:db8::1]:24");
    assert_has_line(first, "MessageExpirationTimeout = 2.00:00:00");
    assert_has_line(first, "ExternalDNSServers =");
    /* Send connectors follow the receive connectors in the file. */
    assert_true(strstr(first, "[SendConnector") > strstr(first, "[TransportConfig]"));
    assert_true(strstr(first, "[SendConnector") < strstr(first, "[AcceptedDomain"));
    free(second);

    /* A clone owns its own strings and lists (ASan checks the frees). */
    c = config_clone(again);
    second = config_format_text(c);
    assert_string_equal(first, second);
    free(second);
    c->send_connectors[1].address_spaces[0].cost = 9;
    c->send_connectors[1].authentication_credential[0] = 'X';
    assert_int_equal(again->send_connectors[1].address_spaces[0].cost, 1);
    assert_string_equal(again->send_connectors[1].authentication_credential, "relayuser:s3cret #1");
    config_object_remove(c, CONFIG_SEND_CONNECTOR, 0);
    assert_int_equal(c->nsend_connectors, 1);
    assert_string_equal(c->send_connectors[0].name, "Relay");
    config_unref(c);
    free(first);

    config_unref(again);
    config_unref(cfg);
    free(path);
    testlib_rmtree(dir);
    free(dir);

    /* Faults point at the line. */
    assert_load_error("[SendConnector \"X\"]\nAddressSpaces = *contoso.com\n",
                      "postern.conf:2: SendConnector \"X\": AddressSpaces: '*contoso.com': a "
                      "wildcard is allowed only as * or as *.domain (*.contoso.com)");
    /* SmartHosts is not in the file: the section's line. */
    assert_load_error("[SendConnector \"X\"]\nAddressSpaces = *\nDNSRoutingEnabled = False\n",
                      "postern.conf:1: SendConnector \"X\": SmartHosts: at least one smart host "
                      "is required when DNSRoutingEnabled is False");
    assert_load_error("[SendConnector \"X\"]\nAddressSpaces = *\n"
                      "AuthenticationCredential = nocolon\n",
                      "postern.conf:3: SendConnector \"X\": AuthenticationCredential: expected "
                      "user:password");
    assert_load_error("[SendConnector \"X\"]\nAddressSpaces = *\n"
                      "[SendConnector \"x\"]\nAddressSpaces = *\n",
                      "postern.conf:3: SendConnector \"x\": Name: the name is already used by "
                      "SendConnector \"X\"");
    assert_load_error("[AcceptedDomain \"a\"]\nDomainName = a.test\nDefault = True\n"
                      "LmtpServer = a.test\n",
                      "postern.conf:4: AcceptedDomain \"a\": LmtpServer: not host:port, "
                      "[IPv6]:port or /path/to/socket");

    /* No default domain without accepted domains. */
    cfg = config_new();
    assert_null(config_default_domain(cfg));
    assert_string_equal(send_connector_fqdn(cfg, NULL), "localhost");
    config_unref(cfg);
}

/* ---- the configuration as text, and without its secrets ---- */

/* send_sample with a mailbox that has a password and a second credential
 * whose password holds a colon. */
static char *
secrets_sample(void)
{
    char *text;

    assert_true(asprintf(&text,
                         "%s\n[Mailbox \"carol\"]\nPrimarySmtpAddress = carol@example.test\n"
                         "PasswordHash = \"$y$j9T$SaltSaltSalt$HashHashHashHashHash\"\n"
                         "\n[SendConnector \"Second\"]\nAddressSpaces = other.example\n"
                         "DNSRoutingEnabled = False\nSmartHosts = relay2.isp.test\n"
                         "SmartHostAuthMechanism = BasicAuth\n"
                         "AuthenticationCredential = \"second user:pa:ss word\"\n",
                         send_sample) > 0);
    return text;
}

static void
test_load_text(void **state)
{
    char err[1024] = "", *text = secrets_sample(), *first, *second;
    size_t len;
    struct config *from_file = load_text(text, err, sizeof(err)), *cfg, *again;

    (void)state;
    if (from_file == NULL)
        fail_msg("%s", err);
    /* the file and the text give the same configuration */
    cfg = config_load_text(text, strlen(text), "daemon", err, sizeof(err));
    if (cfg == NULL)
        fail_msg("%s", err);
    assert_null(cfg->path);
    first = config_format(from_file, &len);
    assert_int_equal(len, strlen(first));
    second = config_format_text(cfg);
    assert_string_equal(first, second);
    free(second);
    /* load, format, load: equal (the formatted texts compare) */
    again = config_load_text(first, len, "daemon", err, sizeof(err));
    if (again == NULL)
        fail_msg("%s\n%s", err, first);
    second = config_format(again, NULL);
    assert_string_equal(first, second);
    assert_has_line(first, "PasswordHash = \"$y$j9T$SaltSaltSalt$HashHashHashHashHash\"");
    assert_has_line(first, "AuthenticationCredential = \"second user:pa:ss word\"");
    free(first);
    free(second);
    config_unref(again);
    config_unref(cfg);
    config_unref(from_file);
    free(text);

    /* errors name the origin and the line; a NUL ends nothing silently */
    static const char nul[] = "[TransportConfig]\nFqdn = a\0b.test\n";
    assert_null(config_load_text(nul, sizeof(nul) - 1, "daemon", err, sizeof(err)));
    assert_string_equal(err, "daemon:2: NUL byte in the line");
    static const char bad[] = "[TransportConfig]\n\n[Bogus]\n";
    assert_null(config_load_text(bad, strlen(bad), "keys", err, sizeof(err)));
    assert_string_equal(err, "keys:3: [Bogus]: unknown section (TransportConfig, "
                             "ReceiveConnector, SendConnector, AcceptedDomain, Mailbox)");
    /* only len bytes count; the last line needs no newline */
    static const char cut[] = "[TransportConfig]\nFqdn = a.test\n[Bogus]\n";
    cfg = config_load_text(cut, strlen("[TransportConfig]\nFqdn = a.test"), "daemon", err,
                           sizeof(err));
    if (cfg == NULL)
        fail_msg("%s", err);
    assert_string_equal(cfg->transport.fqdn, "a.test");
    config_unref(cfg);
    /* CRLF lines, as a Windows editor writes them */
    static const char crlf[] = "[TransportConfig]\r\nFqdn = b.test\r\n";
    cfg = config_load_text(crlf, strlen(crlf), "daemon", err, sizeof(err));
    if (cfg == NULL)
        fail_msg("%s", err);
    assert_string_equal(cfg->transport.fqdn, "b.test");
    config_unref(cfg);
    cfg = config_load_text("", 0, "daemon", err, sizeof(err));
    assert_non_null(cfg);
    config_unref(cfg);
}

/* Each line of a and b, in order, is the same except for lines that start
 * with one of the given parameter names. */
static void
assert_same_except(const char *a, const char *b, const char *const *params, size_t nparams)
{
    while (*a != '\0' || *b != '\0') {
        size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
        bool skip = false;
        for (size_t i = 0; i < nparams; i++) {
            size_t n = strlen(params[i]);
            if (strncmp(a, params[i], n) == 0 && strncmp(a + n, " =", 2) == 0 &&
                strncmp(b, params[i], n) == 0 && strncmp(b + n, " =", 2) == 0)
                skip = true;
        }
        if (!skip && (la != lb || strncmp(a, b, la) != 0))
            fail_msg("lines differ:\n%.*s\n%.*s", (int)la, a, (int)lb, b);
        a += la + (a[la] == '\n');
        b += lb + (b[lb] == '\n');
    }
}

static void
test_redact_secrets(void **state)
{
    static const char *const secret_params[] = {"PasswordHash", "AuthenticationCredential"};
    char *dir = testlib_mkdtemp("config"), *path = conf_path(dir), err[1024] = "";
    char *text = secrets_sample(), *full, *redacted, *again_text;
    struct config *cfg = config_load_text(text, strlen(text), "daemon", err, sizeof(err));
    struct config *red, *again;
    const struct mailbox *bob, *carol;
    const struct send_connector *relay, *second, *internet;
    struct stat st;

    (void)state;
    if (cfg == NULL)
        fail_msg("%s", err);
    assert_false(config_is_redacted(cfg));
    full = config_format_text(cfg);
    red = config_clone(cfg);
    config_redact_secrets(red);
    assert_true(config_is_redacted(red));
    redacted = config_format_text(red);

    /* no trace of a hash or a password */
    assert_null(strstr(redacted, "HashHash"));
    assert_null(strstr(redacted, "SaltSalt"));
    assert_null(strstr(redacted, "$y$"));
    assert_null(strstr(redacted, "s3cret"));
    assert_null(strstr(redacted, "ss word"));
    /* where they were, the marker; the rest is the same text */
    assert_has_line(redacted, "PasswordHash = *redacted*");
    assert_has_line(redacted, "PasswordHash =");
    assert_has_line(redacted, "AuthenticationCredential = relayuser:*redacted*");
    assert_has_line(redacted, "AuthenticationCredential = \"second user:*redacted*\"");
    assert_has_line(redacted, "AuthenticationCredential =");
    assert_same_except(full, redacted, secret_params, 2);
    assert_int_equal(config_validate(red, err, sizeof(err)), 0);

    /* what the rest of the system needs to know is still there */
    bob = config_find_mailbox(red, "bob");
    carol = config_find_mailbox(red, "carol");
    assert_null(carol->password_hash);
    assert_true(carol->password_redacted);
    assert_true(mailbox_has_password(carol));
    assert_false(mailbox_has_password(bob));
    relay = config_find_send_connector(red, "Relay");
    second = config_find_send_connector(red, "Second");
    internet = config_find_send_connector(red, "Internet");
    assert_null(relay->authentication_credential);
    assert_string_equal(relay->credential_user, "relayuser");
    assert_string_equal(second->credential_user, "second user");
    assert_null(internet->credential_user);
    /* Get- shows the user as before */
    char *shown =
        config_param_format(sc_param("AuthenticationCredential"), relay, CONFIG_FORMAT_DISPLAY);
    assert_string_equal(shown, "relayuser");
    free(shown);

    /* the original is untouched */
    assert_string_equal(config_find_mailbox(cfg, "carol")->password_hash,
                        "$y$j9T$SaltSaltSalt$HashHashHashHashHash");
    assert_string_equal(config_find_send_connector(cfg, "Relay")->authentication_credential,
                        "relayuser:s3cret #1");
    assert_string_equal(config_find_send_connector(cfg, "Relay")->credential_user, "relayuser");
    assert_true(mailbox_has_password(config_find_mailbox(cfg, "carol")));

    /* format, load_text, format: the same redacted configuration */
    again = config_load_text(redacted, strlen(redacted), "daemon", err, sizeof(err));
    if (again == NULL)
        fail_msg("%s\n%s", err, redacted);
    again_text = config_format_text(again);
    assert_string_equal(again_text, redacted);
    assert_true(config_find_mailbox(again, "carol")->password_redacted);
    assert_string_equal(config_find_send_connector(again, "Second")->credential_user,
                        "second user");
    free(again_text);
    /* and a clone of it */
    struct config *clone = config_clone(again);
    again_text = config_format_text(clone);
    assert_string_equal(again_text, redacted);
    free(again_text);
    config_unref(clone);

    /* twice is once */
    config_redact_secrets(again);
    again_text = config_format_text(again);
    assert_string_equal(again_text, redacted);
    free(again_text);

    /* never saved: it would wipe the instance's secrets */
    assert_int_equal(config_save(red, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "a configuration without its secrets is not saved"));
    assert_int_equal(stat(path, &st), -1);
    assert_int_equal(config_save(cfg, path, err, sizeof(err)), 0);
    char *saved = testlib_read_file(path, NULL);
    assert_string_equal(saved, full);
    free(saved);

    /* a cmdlet cannot set the marker as a password */
    struct send_connector sc = {0};
    assert_int_equal(config_param_parse(sc_param("AuthenticationCredential"), &sc, "u:*redacted*",
                                        CONFIG_PARSE_CMDLET, err, sizeof(err)),
                     -1);
    assert_string_equal(err, "*redacted* stands for a password held elsewhere: give the password");
    assert_null(sc.credential_user);
    /* clearing a credential clears its user */
    assert_int_equal(config_param_parse(sc_param("AuthenticationCredential"), &sc, "u:p",
                                        CONFIG_PARSE_CMDLET, err, sizeof(err)),
                     0);
    assert_string_equal(sc.credential_user, "u");
    assert_int_equal(config_param_parse(sc_param("AuthenticationCredential"), &sc, "$null",
                                        CONFIG_PARSE_CMDLET, err, sizeof(err)),
                     0);
    assert_null(sc.authentication_credential);
    assert_null(sc.credential_user);

    free(redacted);
    free(full);
    free(text);
    config_unref(again);
    config_unref(red);
    config_unref(cfg);
    unlink(path);
    free(path);
    testlib_rmtree(dir);
    free(dir);
}

static struct send_connector *
add_send_connector(struct config *cfg, const char *name, const char *spaces)
{
    const struct config_kind_info *k = config_kind(CONFIG_SEND_CONNECTOR);
    struct send_connector *sc = config_object_append(cfg, CONFIG_SEND_CONNECTOR);
    char err[512];

    assert_int_equal(
        config_param_parse(config_param_find(k, "Name"), sc, name, 0, err, sizeof(err)), 0);
    assert_int_equal(
        config_param_parse(config_param_find(k, "AddressSpaces"), sc, spaces, 0, err, sizeof(err)),
        0);
    return sc;
}

static void
sc_set(struct send_connector *sc, const char *param, const char *text)
{
    char err[512];

    if (config_param_parse(sc_param(param), sc, text, 0, err, sizeof(err)) < 0)
        fail_msg("%s '%s': %s", param, text, err);
}

static void
test_validate_send_rules(void **state)
{
    struct config *cfg = config_new();
    struct send_connector *sc = add_send_connector(cfg, "S", "*");
    const char *prefix = "SendConnector \"S\": ";
    char want[512];

    (void)state;
    assert_valid(cfg);
#define EXPECT(msg)                                                                                \
    do {                                                                                           \
        snprintf(want, sizeof(want), "%s%s", prefix, msg);                                         \
        assert_invalid(cfg, want);                                                                 \
    } while (0)

    /* At least one address space. */
    sc_set(sc, "AddressSpaces", "$null");
    EXPECT("AddressSpaces: at least one address space is required (contoso.com, *.contoso.com "
           "or *)");
    sc_set(sc, "AddressSpaces", "*");

    /* MX lookup or smart hosts, never both. */
    sc_set(sc, "DNSRoutingEnabled", "$false");
    EXPECT("SmartHosts: at least one smart host is required when DNSRoutingEnabled is False");
    sc_set(sc, "SmartHosts", "relay.isp.test");
    assert_valid(cfg);
    sc_set(sc, "DNSRoutingEnabled", "$true");
    EXPECT("SmartHosts: smart hosts are used only with DNSRoutingEnabled False (set "
           "-DNSRoutingEnabled $false, or clear SmartHosts)");
    sc_set(sc, "DNSRoutingEnabled", "$false");

    /* Basic authentication: a credential, and smart hosts. */
    sc_set(sc, "SmartHostAuthMechanism", "BasicAuth");
    EXPECT("AuthenticationCredential: required by SmartHostAuthMechanism BasicAuth "
           "(user:password)");
    sc_set(sc, "SmartHostAuthMechanism", "BasicAuthRequireTLS");
    EXPECT("AuthenticationCredential: required by SmartHostAuthMechanism BasicAuthRequireTLS "
           "(user:password)");
    sc_set(sc, "AuthenticationCredential", "relayuser:s3cret");
    assert_valid(cfg);
    sc_set(sc, "SmartHosts", "$null");
    sc_set(sc, "DNSRoutingEnabled", "$true");
    EXPECT("SmartHostAuthMechanism: BasicAuthRequireTLS is used only with smart hosts "
           "(DNSRoutingEnabled False and SmartHosts)");
    sc_set(sc, "SmartHostAuthMechanism", "ExternalAuthoritative");
    EXPECT("SmartHostAuthMechanism: ExternalAuthoritative is used only with smart hosts "
           "(DNSRoutingEnabled False and SmartHosts)");
    /* A credential without a mechanism that uses it is harmless. */
    sc_set(sc, "SmartHostAuthMechanism", "None");
    assert_valid(cfg);

    /* RequireTLS and IgnoreSTARTTLS exclude each other. */
    sc_set(sc, "RequireTLS", "$true");
    sc_set(sc, "IgnoreSTARTTLS", "$true");
    EXPECT("IgnoreSTARTTLS: cannot be True when RequireTLS is True");
    sc_set(sc, "RequireTLS", "$false");
    assert_valid(cfg);
    sc_set(sc, "DNSRoutingEnabled", "$false");
    sc_set(sc, "SmartHosts", "192.0.2.10");
    sc_set(sc, "SmartHostAuthMechanism", "BasicAuthRequireTLS");
    EXPECT("IgnoreSTARTTLS: cannot be True with SmartHostAuthMechanism BasicAuthRequireTLS");
    sc_set(sc, "IgnoreSTARTTLS", "$false");
    assert_valid(cfg);

    /* TlsAuthLevel needs RequireTLS; DomainValidation via smart hosts a
     * TlsDomain. */
    sc_set(sc, "TlsAuthLevel", "CertificateValidation");
    EXPECT("TlsAuthLevel: requires RequireTLS True");
    sc_set(sc, "RequireTLS", "$true");
    assert_valid(cfg);
    sc_set(sc, "TlsAuthLevel", "DomainValidation");
    EXPECT("TlsDomain: required for TlsAuthLevel DomainValidation with smart hosts (the name the "
           "smart host's certificate must carry)");
    sc_set(sc, "TlsDomain", "*.isp.test");
    assert_valid(cfg);
    /* Through MX, the recipient domain is the name to check. */
    sc_set(sc, "TlsDomain", "$null");
    sc_set(sc, "SmartHostAuthMechanism", "None");
    sc_set(sc, "SmartHosts", "$null");
    sc_set(sc, "DNSRoutingEnabled", "$true");
    assert_valid(cfg);
    sc_set(sc, "TlsAuthLevel", "$null");
    sc_set(sc, "RequireTLS", "$false");

    /* Domain security: STARTTLS, and named partner domains. */
    sc_set(sc, "DomainSecureEnabled", "$true");
    EXPECT("DomainSecureEnabled: cannot be used with the address space * (name the partner "
           "domains in AddressSpaces)");
    sc_set(sc, "AddressSpaces", "contoso.com, SMTP:*;10");
    EXPECT("DomainSecureEnabled: cannot be used with the address space * (name the partner "
           "domains in AddressSpaces)");
    sc_set(sc, "AddressSpaces", "contoso.com, *.fabrikam.com");
    assert_valid(cfg);
    sc_set(sc, "IgnoreSTARTTLS", "$true");
    EXPECT("DomainSecureEnabled: requires IgnoreSTARTTLS False");
    sc_set(sc, "IgnoreSTARTTLS", "$false");
    /* postern (unlike Exchange) allows domain security via smart hosts. */
    sc_set(sc, "DNSRoutingEnabled", "$false");
    sc_set(sc, "SmartHosts", "relay.isp.test");
    assert_valid(cfg);

    /* Names are unique, case-insensitively. */
    add_send_connector(cfg, "s", "*");
    assert_invalid(cfg, "SendConnector \"s\": Name: the name is already used by SendConnector "
                        "\"S\"");
#undef EXPECT
    config_unref(cfg);
}

static void
test_cmdlet_send_connectors(void **state)
{
    char *dir = testlib_instance("config", "mail.example.test"), *path = conf_path(dir), *text;
    struct testlib_run r;

    (void)state;
    r = run(dir, "New-SendConnector", "-Name", "Out", "-AddressSpaces", "*", "-SmartHosts",
            "127.0.0.1", "-DNSRoutingEnabled", "$false", "-Port", "2526");
    if (r.rc != 0)
        fail_msg("%s", r.err);
    assert_has_line(r.out, "Identity                    : Out");
    assert_has_line(r.out, "AddressSpaces               : {SMTP:*;1}");
    assert_has_line(r.out, "SmartHosts                  : {127.0.0.1}");
    assert_has_line(r.out, "Port                        : 2526");
    assert_has_line(r.out, "DNSRoutingEnabled           : False");
    testlib_run_free(&r);
    r = run(dir, "Get-SendConnector", "out");
    assert_int_equal(r.rc, 0);
    assert_has_line(r.out, "Identity                    : Out");
    assert_has_line(r.out, "Usage                       : Custom");
    assert_has_line(r.out, "SmartHosts                  : {127.0.0.1}");
    assert_has_line(r.out, "Port                        : 2526");
    assert_has_line(r.out, "SmartHostAuthMechanism      : None");
    assert_has_line(r.out, "TlsAuthLevel                :");
    assert_has_line(r.out, "MaxMessageSize              : 10 MB (10,485,760 bytes)");
    assert_has_line(r.out, "ConnectionInactivityTimeOut : 00:10:00");
    assert_has_line(r.out, "ErrorPolicies               : Default");
    assert_string_equal(r.err, "");
    testlib_run_free(&r);

    /* The credential: on the command line or from standard input, kept in
     * the file, shown by user name only. */
    r = run(dir, "Set-SendConnector", "Out", "-SmartHostAuthMechanism", "BasicAuthRequireTLS",
            "-AuthenticationCredential", "relayuser:s3cret-arg");
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "");
    testlib_run_free(&r);
    r = run(dir, "Get-SendConnector");
    assert_int_equal(r.rc, 0);
    assert_has_line(r.out, "AuthenticationCredential    : relayuser");
    assert_null(strstr(r.out, "s3cret"));
    testlib_run_free(&r);
    text = testlib_read_file(path, NULL);
    assert_has_line(text, "AuthenticationCredential = relayuser:s3cret-arg");
    free(text);
    r = testlib_cmdlet(dir, "other:pa ss word\n", "Set-SendConnector", "-Identity", "Out",
                       "-AuthenticationCredential", "-", (char *)NULL);
    assert_int_equal(r.rc, 0);
    testlib_run_free(&r);
    text = testlib_read_file(path, NULL);
    assert_has_line(text, "AuthenticationCredential = \"other:pa ss word\"");
    free(text);
    r = testlib_cmdlet(dir, "", "Set-SendConnector", "Out", "-AuthenticationCredential", "-",
                       (char *)NULL);
    assert_int_equal(r.rc, 1);
    assert_string_equal(r.err,
                        "Set-SendConnector: AuthenticationCredential: no user:password on standard "
                        "input\n");
    testlib_run_free(&r);
    r = run(dir, "Set-SendConnector", "Out", "-AuthenticationCredential", "nopass");
    assert_int_equal(r.rc, 1);
    assert_string_equal(r.err,
                        "Set-SendConnector: SendConnector \"Out\": AuthenticationCredential: "
                        "expected user:password\n");
    testlib_run_free(&r);
    r = run(dir, "Set-SendConnector", "Out", "-AuthenticationCredential", "a:b",
            "-AuthenticationCredential", "c:d");
    assert_int_equal(r.rc, 2);
    testlib_run_free(&r);
    /* Removing the credential that BasicAuthRequireTLS needs is refused. */
    r = run(dir, "Set-SendConnector", "Out", "-AuthenticationCredential", "$null");
    assert_int_equal(r.rc, 1);
    assert_string_equal(r.err,
                        "Set-SendConnector: SendConnector \"Out\": AuthenticationCredential: "
                        "required by SmartHostAuthMechanism BasicAuthRequireTLS "
                        "(user:password)\n");
    testlib_run_free(&r);

    /* New- with a credential from standard input: the output names the
     * user only. */
    r = testlib_cmdlet(dir, "isp-user:t0psecret\n", "New-SendConnector", "ISP", "-AddressSpaces",
                       "contoso.com,*.contoso.com;5", "-DNSRoutingEnabled:$false", "-SmartHosts",
                       "relay.isp.test,[2001:db8::25]", "-SmartHostAuthMechanism", "BasicAuth",
                       "-AuthenticationCredential", "-", (char *)NULL);
    if (r.rc != 0)
        fail_msg("%s", r.err);
    assert_has_line(r.out, "AuthenticationCredential    : isp-user");
    assert_has_line(r.out, "AddressSpaces               : {SMTP:contoso.com;1, "
                           "SMTP:*.contoso.com;5}");
    assert_null(strstr(r.out, "t0psecret"));
    testlib_run_free(&r);
    r = run(dir, "Get-SendConnector");
    assert_null(strstr(r.out, "t0psecret"));
    assert_null(strstr(r.out, "s3cret"));
    assert_null(strstr(r.out, "pa ss"));
    testlib_run_free(&r);

    /* Usage presets. */
    r = run(dir, "New-SendConnector", "Hub", "-Internal", "-AddressSpaces", "corp.test");
    assert_int_equal(r.rc, 1);
    assert_string_equal(r.err, "New-SendConnector: SendConnector \"Hub\": SmartHosts: at least "
                               "one smart host is required when DNSRoutingEnabled is False\n");
    testlib_run_free(&r);
    r = run(dir, "New-SendConnector", "Hub", "-Usage", "Internal", "-AddressSpaces", "corp.test",
            "-SmartHosts", "hub.corp.test");
    assert_int_equal(r.rc, 0);
    assert_has_line(r.out, "Usage                       : Internal");
    assert_has_line(r.out, "DNSRoutingEnabled           : False");
    testlib_run_free(&r);
    r = run(dir, "New-SendConnector", "Partners", "-Partner", "-AddressSpaces", "*");
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "DomainSecureEnabled: cannot be used with the address space *"));
    testlib_run_free(&r);
    r = run(dir, "New-SendConnector", "Partners", "-Partner", "-AddressSpaces", "fabrikam.com");
    assert_int_equal(r.rc, 0);
    assert_has_line(r.out, "DomainSecureEnabled         : True");
    assert_has_line(r.out, "DNSRoutingEnabled           : True");
    testlib_run_free(&r);
    r = run(dir, "New-SendConnector", "Web", "-Internet", "-AddressSpaces", "*;10",
            "-DNSRoutingEnabled", "$false", "-SmartHosts", "192.0.2.1");
    assert_int_equal(r.rc, 0);
    /* Explicit parameters win over the preset. */
    assert_has_line(r.out, "DNSRoutingEnabled           : False");
    testlib_run_free(&r);
    r = run(dir, "New-SendConnector", "Two", "-Internet", "-Partner", "-AddressSpaces", "*");
    assert_int_equal(r.rc, 2);
    testlib_run_free(&r);

    /* Usage errors: no AddressSpaces, no name, a name taken, Set -Usage. */
    r = run(dir, "New-SendConnector", "-Name", "NoSpace");
    assert_int_equal(r.rc, 2);
    assert_string_equal(r.err, "New-SendConnector: AddressSpaces: a value is required "
                               "(contoso.com, *.contoso.com;5, *)\n");
    testlib_run_free(&r);
    r = run(dir, "New-SendConnector", "-AddressSpaces", "*");
    assert_int_equal(r.rc, 2);
    assert_string_equal(r.err, "New-SendConnector: Name: a value is required\n");
    testlib_run_free(&r);
    r = run(dir, "New-SendConnector", "OUT", "-AddressSpaces", "*");
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "already exists"));
    testlib_run_free(&r);
    r = run(dir, "Set-SendConnector", "Out", "-Usage", "Internet");
    assert_int_equal(r.rc, 2);
    assert_string_equal(r.err, "Set-SendConnector: Usage: unknown parameter\n");
    testlib_run_free(&r);
    r = run(dir, "New-SendConnector", "Bad", "-AddressSpaces", "*contoso.com");
    assert_int_equal(r.rc, 1);
    assert_string_equal(r.err, "New-SendConnector: SendConnector \"Bad\": AddressSpaces: "
                               "'*contoso.com': a wildcard is allowed only as * or as *.domain "
                               "(*.contoso.com)\n");
    testlib_run_free(&r);

    /* Set: address spaces by @{Add/Remove}, the smart host list. */
    assert_run_ok(dir, run(dir, "Set-SendConnector", "ISP", "-AddressSpaces",
                           "@{Add='fabrikam.com;3'; Remove='*.contoso.com'}", "-SmartHosts",
                           "@{Remove='[2001:db8::25]'}", "-RequireTLS", "$true", "-TlsAuthLevel",
                           "CertificateValidation", "-ErrorPolicies", "DowngradeDnsFailures"));
    r = run(dir, "Get-SendConnector", "isp");
    assert_has_line(r.out,
                    "AddressSpaces               : {SMTP:contoso.com;1, SMTP:fabrikam.com;3}");
    assert_has_line(r.out, "SmartHosts                  : {relay.isp.test}");
    assert_has_line(r.out, "TlsAuthLevel                : CertificateValidation");
    assert_has_line(r.out, "ErrorPolicies               : DowngradeDnsFailures");
    testlib_run_free(&r);
    r = run(dir, "Set-SendConnector", "ISP", "-IgnoreSTARTTLS", "$true");
    assert_int_equal(r.rc, 1);
    assert_string_equal(r.err, "Set-SendConnector: SendConnector \"ISP\": IgnoreSTARTTLS: cannot "
                               "be True when RequireTLS is True\n");
    testlib_run_free(&r);

    /* LmtpServer on accepted domains and mailboxes. */
    assert_run_ok(dir, run(dir, "New-AcceptedDomain", "-DomainName", "example.test"));
    assert_run_ok(
        dir, run(dir, "Set-AcceptedDomain", "example.test", "-LmtpServer", "/run/dovecot/lmtp"));
    r = run(dir, "Get-AcceptedDomain", "example.test");
    assert_has_line(r.out, "LmtpServer : /run/dovecot/lmtp");
    testlib_run_free(&r);
    r = run(dir, "New-Mailbox", "-PrimarySmtpAddress", "bob@example.test", "-LmtpServer",
            "[::1]:2424");
    assert_int_equal(r.rc, 0);
    assert_has_line(r.out, "LmtpServer                : [::1]:2424");
    testlib_run_free(&r);
    assert_run_ok(dir, run(dir, "Set-Mailbox", "bob@example.test", "-LmtpServer", "127.0.0.1:24"));
    r = run(dir, "Set-Mailbox", "bob@example.test", "-LmtpServer", "localhost");
    assert_int_equal(r.rc, 1);
    assert_string_equal(r.err, "Set-Mailbox: Mailbox \"bob@example.test\": LmtpServer: not "
                               "host:port, [IPv6]:port or /path/to/socket\n");
    testlib_run_free(&r);
    r = run(dir, "Get-Mailbox", "bob@example.test");
    assert_has_line(r.out, "LmtpServer                : 127.0.0.1:24");
    testlib_run_free(&r);

    /* TransportConfig timers through the cmdlet. */
    assert_run_ok(dir, run(dir, "Set-TransportConfig", "-MessageRetryInterval", "00:00:02",
                           "-MessageExpirationTimeout", "1.00:00:00", "-ExternalDNSServers",
                           "127.0.0.1@5353", "-UseExternalDNSServersEnabled", "$true"));
    r = run(dir, "Get-TransportConfig");
    assert_has_line(r.out, "MessageRetryInterval                   : 00:00:02");
    assert_has_line(r.out, "MessageExpirationTimeout               : 1.00:00:00");
    assert_has_line(r.out, "ExternalDNSServers                     : {127.0.0.1@5353}");
    testlib_run_free(&r);

    /* Remove. */
    assert_run_ok(dir, run(dir, "Remove-SendConnector", "SRV\\Hub", "-Confirm:$false"));
    r = run(dir, "Get-SendConnector", "Hub");
    assert_int_equal(r.rc, 1);
    assert_string_equal(r.err, "Get-SendConnector: SendConnector \"Hub\": Identity: not found\n");
    testlib_run_free(&r);
    r = run(dir, "Remove-SendConnector", "Hub");
    assert_int_equal(r.rc, 1);
    testlib_run_free(&r);
    free(path);
    testlib_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_timespans),
        cmocka_unit_test(test_param_values),
        cmocka_unit_test(test_list_add_remove),
        cmocka_unit_test(test_load_sample),
        cmocka_unit_test(test_match_accepted_domain),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_default_config),
        cmocka_unit_test(test_validate_overlap),
        cmocka_unit_test(test_validate_auth_rules),
        cmocka_unit_test(test_validate_domains_mailboxes),
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_cmdlet_seed_line),
        cmocka_unit_test(test_cmdlet_receive_connectors),
        cmocka_unit_test(test_cmdlet_failure_leaves_file),
        cmocka_unit_test(test_cmdlet_domains_mailboxes),
        cmocka_unit_test(test_address_spaces),
        cmocka_unit_test(test_routing_values),
        cmocka_unit_test(test_transport_timers),
        cmocka_unit_test(test_tls_cipher_profile),
        cmocka_unit_test(test_send_connector_file),
        cmocka_unit_test(test_load_text),
        cmocka_unit_test(test_redact_secrets),
        cmocka_unit_test(test_validate_send_rules),
        cmocka_unit_test(test_cmdlet_send_connectors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
