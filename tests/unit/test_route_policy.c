/*
 * test_route_policy.c — the connection policy routing hands to outbound:
 * smart hosts with BasicAuth and BasicAuthRequireTLS, domain security
 * (TLS required, partner name, our certificate), DomainValidation with
 * and without TlsDomain, IgnoreSTARTTLS, ErrorPolicies, LMTP targets in
 * every form (and bad ones), a removed connector, the stand-in credential
 * lookup, and the byte encoding: round trips, every truncation, garbage.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/ipc_buf.h"
#include "routing/route_policy.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char conf_text[] =
    "[TransportConfig]\nFqdn = mail.a.test\nTLSSendDomainSecureList = contoso.com, "
    "partner.example\n\n"
    "[ReceiveConnector \"Default mail\"]\nBindings = 127.0.0.1:2525\n"
    "RemoteIPRanges = 0.0.0.0-255.255.255.255\nPermissionGroups = AnonymousUsers\n\n"
    "[SendConnector \"Relay\"]\nAddressSpaces = relay.example\nDNSRoutingEnabled = False\n"
    "SmartHosts = smart1.example, [192.0.2.7]\nPort = 587\n"
    "SmartHostAuthMechanism = BasicAuth\nAuthenticationCredential = relayuser:s3cret:with:colons\n"
    "Fqdn = out.a.test\nConnectionInactivityTimeOut = 00:02:30\nProtocolLoggingLevel = Verbose\n"
    "ErrorPolicies = DowngradeAuthFailures\n\n"
    "[SendConnector \"Relay TLS\"]\nAddressSpaces = relaytls.example\nDNSRoutingEnabled = False\n"
    "SmartHosts = smart2.example\nSmartHostAuthMechanism = BasicAuthRequireTLS\n"
    "AuthenticationCredential = u2:p2\nRequireTLS = True\nTlsAuthLevel = DomainValidation\n"
    "TlsDomain = *.relay.example\nForceHELO = True\n\n"
    "[SendConnector \"Partners\"]\nAddressSpaces = contoso.com\nDomainSecureEnabled = True\n"
    "ErrorPolicies = DowngradeDnsFailures\n\n"
    "[SendConnector \"Partner relay\"]\nAddressSpaces = partner.example\n"
    "DNSRoutingEnabled = False\nSmartHosts = gw.partner.example\nDomainSecureEnabled = True\n"
    "Fqdn = edge.a.test\n\n"
    "[SendConnector \"Validated\"]\nAddressSpaces = fabrikam.example\nRequireTLS = True\n"
    "TlsAuthLevel = DomainValidation\n\n"
    "[SendConnector \"Clear\"]\nAddressSpaces = clear.example\nIgnoreSTARTTLS = True\n\n"
    "[SendConnector \"Internet\"]\nAddressSpaces = *\n\n"
    "[AcceptedDomain \"a.test\"]\nDomainName = a.test\nDefault = True\n\n"
    "[AcceptedDomain \"lmtp.test\"]\nDomainName = lmtp.test\nLmtpServer = lmtp.a.test:24\n\n"
    "[Mailbox \"carol\"]\nPrimarySmtpAddress = carol@lmtp.test\n";

/* What the scheduler does: route a recipient, then ask for its hop's policy. */
static int
policy_for(const struct config *cfg, const char *address, struct route_policy *p)
{
    const char *domain = strchr(address, '@') + 1;
    struct route r;
    struct route_hop hop = {0};

    route_recipient(cfg, address, domain, 100, &r);
    hop.kind = r.kind;
    hop.next_hop = r.next_hop;
    hop.connector = r.connector ? r.connector->name : NULL;
    hop.lmtp_server = r.lmtp_server;
    hop.domain_secure = r.domain_secure;
    return route_policy(cfg, &hop, p);
}

static void
test_smart_host_basic_auth(void **state)
{
    struct config *cfg = testlib_config(conf_text);
    struct route_policy p;

    assert_int_equal(policy_for(cfg, "x@relay.example", &p), 0);
    assert_int_equal(p.status, ROUTE_POLICY_OK);
    assert_null(p.error);
    assert_int_equal(p.kind, ROUTE_SMART_HOST);
    assert_string_equal(p.next_hop, "Relay");
    assert_string_equal(p.connector, "Relay");
    assert_int_equal(p.dest, ROUTE_DEST_HOSTS);
    assert_int_equal(p.nhosts, 2);
    assert_string_equal(p.hosts[0], "smart1.example");
    assert_string_equal(p.hosts[1], "192.0.2.7"); /* as the configuration keeps it */
    assert_int_equal(p.port, 587);
    assert_string_equal(p.ehlo_name, "out.a.test");
    assert_false(p.lmtp);
    assert_false(p.force_helo);
    assert_false(p.ignore_starttls);
    assert_false(p.require_tls);
    assert_int_equal(p.ntls_names, 0);
    assert_null(p.client_cert_fqdn);
    assert_int_equal(p.auth, ROUTE_AUTH_BASIC);
    /* the user only: the password stays out of the policy */
    assert_string_equal(p.auth_user, "relayuser");
    assert_int_equal(p.timeout, 150);
    assert_true(p.protocol_log);
    assert_true(p.downgrade_auth_failures);
    assert_false(p.downgrade_dns_failures);
    route_policy_free(&p);
    config_unref(cfg);
}

static void
test_smart_host_basic_auth_require_tls(void **state)
{
    struct config *cfg = testlib_config(conf_text);
    struct route_policy p;

    assert_int_equal(policy_for(cfg, "x@relaytls.example", &p), 0);
    assert_int_equal(p.kind, ROUTE_SMART_HOST);
    assert_int_equal(p.auth, ROUTE_AUTH_BASIC_REQUIRE_TLS);
    assert_string_equal(p.auth_user, "u2");
    assert_true(p.require_tls);
    assert_true(p.force_helo);
    assert_int_equal(p.port, 25);
    assert_string_equal(p.ehlo_name, "mail.a.test"); /* the server's, no Fqdn of its own */
    /* DomainValidation with TlsDomain: the smart host's name must match it */
    assert_int_equal(p.tls_auth_level, TLSAUTH_DOMAIN_VALIDATION);
    assert_int_equal(p.ntls_names, 1);
    assert_string_equal(p.tls_names[0], "*.relay.example");
    assert_false(p.protocol_log);
    assert_int_equal(p.timeout, 600);
    route_policy_free(&p);
    config_unref(cfg);
}

static void
test_domain_security_dns(void **state)
{
    struct config *cfg = testlib_config(conf_text);
    struct route_policy p;

    assert_int_equal(policy_for(cfg, "x@contoso.com", &p), 0);
    assert_int_equal(p.kind, ROUTE_DNS);
    assert_int_equal(p.dest, ROUTE_DEST_MX);
    assert_int_equal(p.nhosts, 1);
    assert_string_equal(p.hosts[0], "contoso.com");
    assert_string_equal(p.connector, "Partners");
    /* TLS required although the connector does not say so; the peer must
     * be contoso.com; our certificate for our name goes along */
    assert_true(p.require_tls);
    assert_false(p.ignore_starttls);
    assert_int_equal(p.ntls_names, 1);
    assert_string_equal(p.tls_names[0], "contoso.com");
    assert_non_null(p.client_cert_fqdn);
    assert_string_equal(p.client_cert_fqdn, "mail.a.test");
    assert_int_equal(p.auth, ROUTE_AUTH_NONE);
    assert_null(p.auth_user);
    assert_true(p.downgrade_dns_failures);
    assert_false(p.downgrade_auth_failures);
    route_policy_free(&p);
    config_unref(cfg);
}

static void
test_domain_security_smart_host(void **state)
{
    struct config *cfg = testlib_config(conf_text);
    struct route_policy p;

    assert_int_equal(policy_for(cfg, "x@partner.example", &p), 0);
    assert_int_equal(p.kind, ROUTE_SMART_HOST);
    /* its own queue, named after the partner domain, through the gateway */
    assert_string_equal(p.next_hop, "partner.example");
    assert_int_equal(p.dest, ROUTE_DEST_HOSTS);
    assert_string_equal(p.hosts[0], "gw.partner.example");
    assert_true(p.require_tls);
    assert_string_equal(p.tls_names[0], "partner.example");
    assert_string_equal(p.client_cert_fqdn, "edge.a.test");
    route_policy_free(&p);
    config_unref(cfg);
}

static void
test_domain_validation_without_tls_domain(void **state)
{
    struct config *cfg = testlib_config(conf_text);
    struct route_policy p;

    assert_int_equal(policy_for(cfg, "x@fabrikam.example", &p), 0);
    assert_int_equal(p.kind, ROUTE_DNS);
    assert_true(p.require_tls);
    assert_int_equal(p.tls_auth_level, TLSAUTH_DOMAIN_VALIDATION);
    /* no TlsDomain: the recipient domain itself */
    assert_int_equal(p.ntls_names, 1);
    assert_string_equal(p.tls_names[0], "fabrikam.example");
    assert_null(p.client_cert_fqdn);
    route_policy_free(&p);
    config_unref(cfg);
}

static void
test_ignore_starttls_and_plain_dns(void **state)
{
    struct config *cfg = testlib_config(conf_text);
    struct route_policy p;

    assert_int_equal(policy_for(cfg, "x@clear.example", &p), 0);
    assert_true(p.ignore_starttls);
    assert_false(p.require_tls);
    assert_int_equal(p.ntls_names, 0);
    route_policy_free(&p);

    assert_int_equal(policy_for(cfg, "x@anywhere.example", &p), 0);
    assert_string_equal(p.connector, "Internet");
    assert_int_equal(p.dest, ROUTE_DEST_MX);
    assert_string_equal(p.hosts[0], "anywhere.example");
    assert_false(p.ignore_starttls);
    assert_false(p.require_tls);
    assert_int_equal(p.tls_auth_level, TLSAUTH_UNSET);
    assert_int_equal(p.ntls_names, 0);
    assert_int_equal(p.port, 25);
    route_policy_free(&p);
    config_unref(cfg);
}

/* RFC 8689: a REQUIRETLS queue requires TLS (and says so to the client);
 * a "TLS-Required: No" queue sets DANE and MTA-STS aside. */
static void
test_tls_demands(void **state)
{
    struct config *cfg = testlib_config(conf_text);
    struct route_hop hop = {
        .kind = ROUTE_DNS, .next_hop = "anywhere.example", .connector = "Internet"};
    struct route_policy p;
    unsigned char *buf;
    size_t len;

    assert_int_equal(route_policy(cfg, &hop, &p), 0);
    assert_true(p.dane && p.sts);
    assert_false(p.requiretls || p.require_tls);
    route_policy_free(&p);

    hop.requiretls = true;
    assert_int_equal(route_policy(cfg, &hop, &p), 0);
    assert_true(p.requiretls && p.require_tls && p.dane && p.sts);
    buf = route_policy_encode(&p, &len);
    route_policy_free(&p);
    assert_int_equal(route_policy_decode(buf, len, &p), 0);
    assert_true(p.requiretls && p.require_tls);
    free(buf);
    route_policy_free(&p);

    hop.requiretls = false;
    hop.tls_not_required = true;
    assert_int_equal(route_policy(cfg, &hop, &p), 0);
    assert_false(p.dane || p.sts || p.require_tls);
    route_policy_free(&p);
    config_unref(cfg);
}

static void
lmtp_hop(const struct config *cfg, const char *server, struct route_policy *p, int expect)
{
    struct route_hop hop = {.kind = ROUTE_LMTP, .next_hop = server, .lmtp_server = server};

    assert_int_equal(route_policy(cfg, &hop, p), expect);
}

static void
test_lmtp_forms(void **state)
{
    struct config *cfg = testlib_config(conf_text);
    struct route_policy p;

    /* through routing: the domain's LmtpServer, a host name */
    assert_int_equal(policy_for(cfg, "carol@lmtp.test", &p), 0);
    assert_int_equal(p.kind, ROUTE_LMTP);
    assert_int_equal(p.dest, ROUTE_DEST_HOSTS);
    assert_string_equal(p.hosts[0], "lmtp.a.test");
    assert_int_equal(p.port, 24);
    assert_true(p.lmtp);
    assert_true(p.ignore_starttls); /* local: no STARTTLS */
    assert_false(p.require_tls);
    assert_string_equal(p.ehlo_name, "mail.a.test");
    assert_int_equal(p.timeout, 600);
    assert_null(p.connector);
    assert_false(p.protocol_log);
    assert_int_equal(p.auth, ROUTE_AUTH_NONE);
    route_policy_free(&p);

    lmtp_hop(cfg, "[::1]:2424", &p, 0);
    assert_int_equal(p.dest, ROUTE_DEST_ADDRESS);
    assert_string_equal(p.hosts[0], "::1");
    assert_int_equal(p.port, 2424);
    assert_string_equal(p.peer_name, "[::1]:2424");
    route_policy_free(&p);

    lmtp_hop(cfg, "127.0.0.1:24", &p, 0);
    assert_int_equal(p.dest, ROUTE_DEST_ADDRESS);
    assert_string_equal(p.hosts[0], "127.0.0.1");
    assert_int_equal(p.port, 24);
    route_policy_free(&p);

    lmtp_hop(cfg, "/run/dovecot/lmtp", &p, 0);
    assert_int_equal(p.dest, ROUTE_DEST_UNIX);
    assert_string_equal(p.hosts[0], "/run/dovecot/lmtp");
    assert_string_equal(p.peer_name, "/run/dovecot/lmtp");
    route_policy_free(&p);
    config_unref(cfg);
}

static void
test_lmtp_bad(void **state)
{
    struct config *cfg = testlib_config(conf_text);
    struct route_policy p;
    char longpath[200];
    const char *bad[] = {"",           "nocolon",        ":24", "host:", "host:0",  "host:x24",
                         "host:65536", "2001:db8::1:24", "/",   "[::1]", "[::1]:0", longpath};

    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lmtp_hop(cfg, bad[i], &p, -1);
        assert_int_equal(p.status, ROUTE_POLICY_BAD_LMTP);
        assert_non_null(strstr(p.error, "bad LmtpServer"));
        route_policy_free(&p);
    }
    config_unref(cfg);
}

static void
test_connector_removed(void **state)
{
    struct config *cfg = testlib_config(conf_text);
    struct route_policy p;
    struct route_hop hop = {.kind = ROUTE_DNS, .next_hop = "b.test", .connector = "Gone"};

    assert_int_equal(route_policy(cfg, &hop, &p), -1);
    assert_int_equal(p.status, ROUTE_POLICY_NO_CONNECTOR);
    assert_string_equal(p.error, "send connector \"Gone\" no longer exists");
    route_policy_free(&p);

    /* a smart-host queue whose connector now routes by DNS (reload) */
    hop.kind = ROUTE_SMART_HOST;
    hop.connector = "Internet";
    assert_int_equal(route_policy(cfg, &hop, &p), -1);
    assert_int_equal(p.status, ROUTE_POLICY_NO_CONNECTOR);
    route_policy_free(&p);

    hop.kind = ROUTE_MAILBOX;
    assert_int_equal(route_policy(cfg, &hop, &p), -1);
    assert_int_equal(p.status, ROUTE_POLICY_NOT_REMOTE);
    route_policy_free(&p);
    config_unref(cfg);
}

static void
test_copy_is_deep(void **state)
{
    struct config *cfg = testlib_config(conf_text);
    struct route_policy p, copy;

    assert_int_equal(policy_for(cfg, "x@contoso.com", &p), 0);
    route_policy_copy(&copy, &p);
    config_unref(cfg); /* a reload: the copy must not point into the old one */
    route_policy_free(&p);
    assert_string_equal(copy.connector, "Partners");
    assert_string_equal(copy.hosts[0], "contoso.com");
    assert_string_equal(copy.tls_names[0], "contoso.com");
    assert_string_equal(copy.client_cert_fqdn, "mail.a.test");
    route_policy_free(&copy);
}

static void
test_password(void **state)
{
    struct config *cfg = testlib_config(conf_text);
    char pw[64], why[256], tiny[5];

    assert_int_equal(
        route_policy_password(cfg, "Relay", "relayuser", pw, sizeof(pw), why, sizeof(why)), 0);
    assert_string_equal(pw, "s3cret:with:colons");
    assert_int_equal(
        route_policy_password(cfg, "relay tls", "u2", pw, sizeof(pw), why, sizeof(why)), 0);
    assert_string_equal(pw, "p2");
    assert_int_equal(route_policy_password(cfg, "Gone", "u2", pw, sizeof(pw), why, sizeof(why)),
                     -1);
    assert_non_null(strstr(why, "no longer exists"));
    /* the credential changed between the policy and the connection */
    assert_int_equal(route_policy_password(cfg, "Relay", "relay", pw, sizeof(pw), why, sizeof(why)),
                     -1);
    assert_non_null(strstr(why, "changed"));
    assert_int_equal(route_policy_password(cfg, "Internet", "u", pw, sizeof(pw), why, sizeof(why)),
                     -1);
    assert_non_null(strstr(why, "no AuthenticationCredential"));
    assert_int_equal(
        route_policy_password(cfg, "Relay", "relayuser", tiny, sizeof(tiny), why, sizeof(why)), -1);
    assert_non_null(strstr(why, "too long"));
    config_unref(cfg);
}

/* ---- the byte encoding ---- */

static void
assert_str_eq_or_null(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void
assert_policy_equal(const struct route_policy *a, const struct route_policy *b)
{
    assert_int_equal(a->status, b->status);
    assert_str_eq_or_null(a->error, b->error);
    assert_int_equal(a->kind, b->kind);
    assert_str_eq_or_null(a->next_hop, b->next_hop);
    assert_str_eq_or_null(a->connector, b->connector);
    assert_int_equal(a->dest, b->dest);
    assert_int_equal(a->nhosts, b->nhosts);
    for (size_t i = 0; i < a->nhosts; i++)
        assert_string_equal(a->hosts[i], b->hosts[i]);
    assert_str_eq_or_null(a->peer_name, b->peer_name);
    assert_int_equal(a->port, b->port);
    assert_str_eq_or_null(a->ehlo_name, b->ehlo_name);
    assert_int_equal(a->lmtp, b->lmtp);
    assert_int_equal(a->force_helo, b->force_helo);
    assert_int_equal(a->ignore_starttls, b->ignore_starttls);
    assert_int_equal(a->require_tls, b->require_tls);
    assert_int_equal(a->tls_auth_level, b->tls_auth_level);
    assert_int_equal(a->ntls_names, b->ntls_names);
    for (size_t i = 0; i < a->ntls_names; i++)
        assert_string_equal(a->tls_names[i], b->tls_names[i]);
    assert_str_eq_or_null(a->client_cert_fqdn, b->client_cert_fqdn);
    assert_int_equal(a->auth, b->auth);
    assert_str_eq_or_null(a->auth_user, b->auth_user);
    assert_int_equal(a->timeout, b->timeout);
    assert_int_equal(a->protocol_log, b->protocol_log);
    assert_int_equal(a->downgrade_auth_failures, b->downgrade_auth_failures);
    assert_int_equal(a->downgrade_dns_failures, b->downgrade_dns_failures);
}

static void
roundtrip(const struct route_policy *p)
{
    struct route_policy back;
    size_t len;
    unsigned char *buf = route_policy_encode(p, &len);

    assert_int_equal(route_policy_decode(buf, len, &back), 0);
    assert_policy_equal(p, &back);
    route_policy_free(&back);
    free(buf);
}

static void
test_codec_roundtrip(void **state)
{
    struct config *cfg = testlib_config(conf_text);
    const char *addrs[] = {"x@relay.example",   "x@relaytls.example", "x@contoso.com",
                           "x@partner.example", "x@fabrikam.example", "x@clear.example",
                           "carol@lmtp.test"};
    struct route_policy p;
    struct route_hop bad = {.kind = ROUTE_DNS, .next_hop = "b.test", .connector = "Gone"};

    for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
        assert_int_equal(policy_for(cfg, addrs[i], &p), 0);
        roundtrip(&p);
        route_policy_free(&p);
    }
    lmtp_hop(cfg, "/run/lmtp", &p, 0);
    roundtrip(&p);
    route_policy_free(&p);
    /* an error travels too */
    assert_int_equal(route_policy(cfg, &bad, &p), -1);
    roundtrip(&p);
    route_policy_free(&p);
    config_unref(cfg);
}

/* Every strict prefix of a valid encoding, and the encoding with a byte
 * more, is refused, and refusing leaves nothing to free. */
static void
test_codec_truncation(void **state)
{
    struct config *cfg = testlib_config(conf_text);
    struct route_policy p, back;
    size_t len;
    unsigned char *buf, *longer;

    assert_int_equal(policy_for(cfg, "x@relaytls.example", &p), 0);
    buf = route_policy_encode(&p, &len);
    for (size_t cut = 0; cut < len; cut++) {
        /* a copy of exactly cut bytes, so ASan sees any read past it */
        unsigned char *part = malloc(cut ? cut : 1);
        memcpy(part, buf, cut);
        assert_int_equal(route_policy_decode(part, cut, &back), -1);
        assert_null(back.next_hop);
        assert_null(back.hosts);
        free(part);
    }
    longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0;
    assert_int_equal(route_policy_decode(longer, len + 1, &back), -1);
    free(longer);
    free(buf);
    route_policy_free(&p);
    config_unref(cfg);
}

static uint32_t
rnd(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Corrupted encodings: refused, or a policy that keeps the invariants
 * outbound relies on; never a crash or a read outside the buffer (ASan). */
static void
test_codec_garbage(void **state)
{
    struct config *cfg = testlib_config(conf_text);
    struct route_policy p, back;
    size_t len;
    unsigned char *buf;
    uint32_t seed = 0x9e3779b9;
    unsigned refused = 0;
    struct ipc_wbuf junk = {0};

    assert_int_equal(policy_for(cfg, "x@partner.example", &p), 0);
    buf = route_policy_encode(&p, &len);
    for (int round = 0; round < 20000; round++) {
        unsigned char *copy = malloc(len);
        memcpy(copy, buf, len);
        for (uint32_t k = 0, n = 1 + rnd(&seed) % 4; k < n; k++)
            copy[rnd(&seed) % len] = (unsigned char)rnd(&seed);
        if (route_policy_decode(copy, len, &back) == 0) {
            if (back.status == ROUTE_POLICY_OK) {
                assert_non_null(back.next_hop);
                assert_non_null(back.ehlo_name);
                assert_true(back.nhosts >= 1);
                for (size_t i = 0; i < back.nhosts; i++)
                    assert_non_null(back.hosts[i]);
            } else {
                assert_non_null(back.error);
            }
            route_policy_free(&back);
        } else {
            refused++;
        }
        free(copy);
    }
    assert_true(refused > 0);
    /* a count no buffer could hold is refused before anything is sized by it */
    ipc_put_u32(&junk, 0x52504c31u); /* magic */
    ipc_put_u32(&junk, ROUTE_POLICY_OK);
    ipc_put_u32(&junk, 0); /* no error */
    ipc_put_u32(&junk, ROUTE_DNS);
    ipc_put_u32(&junk, 1);
    ipc_put_str(&junk, "b.test");
    ipc_put_u32(&junk, 0); /* no connector */
    ipc_put_u32(&junk, ROUTE_DEST_HOSTS);
    ipc_put_u32(&junk, 0xffffffffu); /* hosts */
    ipc_put_str(&junk, "h");
    assert_int_equal(route_policy_decode(junk.data, junk.len, &back), -1);
    ipc_wbuf_free(&junk);
    assert_int_equal(route_policy_decode(NULL, 0, &back), -1);
    free(buf);
    route_policy_free(&p);
    config_unref(cfg);
}

/* Each check of the decoder on its own: a valid encoding with one field
 * made invalid is refused. */
static void
test_codec_invariants(void **state)
{
    struct config *cfg = testlib_config(conf_text);
    struct route_policy p, back;
    size_t len;
    unsigned char *buf;

    assert_int_equal(policy_for(cfg, "x@relay.example", &p), 0);
    p.port = 0; /* no port for a TCP next hop */
    buf = route_policy_encode(&p, &len);
    assert_int_equal(route_policy_decode(buf, len, &back), -1);
    free(buf);
    p.port = 25;

    free(p.auth_user); /* AUTH without a user */
    p.auth_user = NULL;
    buf = route_policy_encode(&p, &len);
    assert_int_equal(route_policy_decode(buf, len, &back), -1);
    free(buf);

    p.auth = ROUTE_AUTH_NONE;
    p.dest = ROUTE_DEST_MX; /* MX of two domains */
    buf = route_policy_encode(&p, &len);
    assert_int_equal(route_policy_decode(buf, len, &back), -1);
    free(buf);

    p.dest = ROUTE_DEST_HOSTS;
    p.kind = ROUTE_MAILBOX; /* nothing to connect to, yet no error */
    buf = route_policy_encode(&p, &len);
    assert_int_equal(route_policy_decode(buf, len, &back), -1);
    free(buf);

    p.kind = ROUTE_SMART_HOST;
    p.tls_auth_level = (enum tls_auth_level)7; /* out of range */
    buf = route_policy_encode(&p, &len);
    assert_int_equal(route_policy_decode(buf, len, &back), -1);
    free(buf);

    p.tls_auth_level = TLSAUTH_UNSET;
    buf = route_policy_encode(&p, &len);
    assert_int_equal(route_policy_decode(buf, len, &back), 0);
    route_policy_free(&back);
    free(buf);
    route_policy_free(&p);

    lmtp_hop(cfg, "127.0.0.1:24", &p, 0);
    free(p.peer_name); /* a literal target without its name */
    p.peer_name = NULL;
    buf = route_policy_encode(&p, &len);
    assert_int_equal(route_policy_decode(buf, len, &back), -1);
    free(buf);
    free(p.ehlo_name); /* no EHLO name */
    p.ehlo_name = NULL;
    p.peer_name = strdup("127.0.0.1:24");
    buf = route_policy_encode(&p, &len);
    assert_int_equal(route_policy_decode(buf, len, &back), -1);
    free(buf);
    route_policy_free(&p);
    config_unref(cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smart_host_basic_auth),
        cmocka_unit_test(test_smart_host_basic_auth_require_tls),
        cmocka_unit_test(test_domain_security_dns),
        cmocka_unit_test(test_domain_security_smart_host),
        cmocka_unit_test(test_domain_validation_without_tls_domain),
        cmocka_unit_test(test_ignore_starttls_and_plain_dns),
        cmocka_unit_test(test_tls_demands),
        cmocka_unit_test(test_lmtp_forms),
        cmocka_unit_test(test_lmtp_bad),
        cmocka_unit_test(test_connector_removed),
        cmocka_unit_test(test_copy_is_deep),
        cmocka_unit_test(test_password),
        cmocka_unit_test(test_codec_roundtrip),
        cmocka_unit_test(test_codec_truncation),
        cmocka_unit_test(test_codec_garbage),
        cmocka_unit_test(test_codec_invariants),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
