/*
 * test_route.c — routing: address-space specificity, Send connector
 * selection (specificity, cost, name, size, enabled), local delivery,
 * postmaster, unknown mailboxes and the Unreachable queue.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "routing/route.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char conf_text[] =
    "[TransportConfig]\nFqdn = mail.a.test\n\n"
    "[ReceiveConnector \"Default mail\"]\nBindings = 127.0.0.1:2525\n"
    "RemoteIPRanges = 0.0.0.0-255.255.255.255\nPermissionGroups = AnonymousUsers\n\n"
    "[SendConnector \"Internet\"]\nAddressSpaces = SMTP:*;10\n\n"
    "[SendConnector \"Contoso wide\"]\nAddressSpaces = *.contoso.com;5\n"
    "DNSRoutingEnabled = False\nSmartHosts = 192.0.2.1\n\n"
    "[SendConnector \"Contoso exact\"]\nAddressSpaces = contoso.com;50\n\n"
    "[SendConnector \"B cheap\"]\nAddressSpaces = b.test;1\nMaxMessageSize = 1KB\n\n"
    "[SendConnector \"A dear\"]\nAddressSpaces = b.test;2\n\n"
    "[SendConnector \"Z dear\"]\nAddressSpaces = b.test;2\n\n"
    "[SendConnector \"Off\"]\nAddressSpaces = off.test\nEnabled = False\n\n"
    "[SendConnector \"Elsewhere\"]\nAddressSpaces = src.test\nSourceTransportServers = hub2\n\n"
    "[SendConnector \"Here\"]\nAddressSpaces = src.test;50\nSourceTransportServers = hub2, mail\n\n"
    "[AcceptedDomain \"a.test\"]\nDomainName = a.test\nDefault = True\n\n"
    "[AcceptedDomain \"relay.test\"]\nDomainName = relay.test\nDomainType = InternalRelay\n\n"
    "[AcceptedDomain \"lmtp.test\"]\nDomainName = lmtp.test\nLmtpServer = 127.0.0.1:24\n\n"
    "[Mailbox \"alice\"]\nPrimarySmtpAddress = alice@a.test\n\n"
    "[Mailbox \"carol\"]\nPrimarySmtpAddress = carol@lmtp.test\n";

static void
test_space_match(void **state)
{
    assert_int_equal(route_space_match("contoso.com", "fabrikam.com"), 0);
    assert_true(route_space_match("*", "x.example") > 0);
    assert_true(route_space_match("*.contoso.com", "contoso.com") > 0);
    assert_true(route_space_match("*.contoso.com", "mail.contoso.com") > 0);
    assert_int_equal(route_space_match("*.contoso.com", "xcontoso.com"), 0);
    /* marketing.contoso.com > *.contoso.com > * */
    assert_true(route_space_match("marketing.contoso.com", "marketing.contoso.com") >
                route_space_match("*.contoso.com", "marketing.contoso.com"));
    assert_true(route_space_match("*.contoso.com", "marketing.contoso.com") >
                route_space_match("*", "marketing.contoso.com"));
    /* an exact match beats the wildcard of the same domain */
    assert_true(route_space_match("contoso.com", "contoso.com") >
                route_space_match("*.contoso.com", "contoso.com"));
}

static void
test_connector_selection(void **state)
{
    struct config *cfg = testlib_config(conf_text);
    struct route r;

    route_recipient(cfg, "x@fabrikam.example", "fabrikam.example", 100, &r);
    assert_int_equal(r.kind, ROUTE_DNS);
    assert_string_equal(r.connector->name, "Internet");
    assert_string_equal(r.next_hop, "fabrikam.example");

    route_recipient(cfg, "x@mail.contoso.com", "mail.contoso.com", 100, &r);
    assert_int_equal(r.kind, ROUTE_SMART_HOST);
    assert_string_equal(r.connector->name, "Contoso wide");
    assert_string_equal(r.next_hop, "Contoso wide");

    /* more specific wins even at a higher cost */
    route_recipient(cfg, "x@contoso.com", "contoso.com", 100, &r);
    assert_string_equal(r.connector->name, "Contoso exact");

    /* lowest cost, then lowest name; too small a connector is skipped */
    route_recipient(cfg, "x@b.test", "b.test", 100, &r);
    assert_string_equal(r.connector->name, "B cheap");
    route_recipient(cfg, "x@b.test", "b.test", 5000, &r);
    assert_string_equal(r.connector->name, "A dear");

    /* a disabled connector is not used: the "*" one takes over */
    route_recipient(cfg, "x@off.test", "off.test", 100, &r);
    assert_string_equal(r.connector->name, "Internet");

    /* a connector for other source servers is not ours to use, even cheaper */
    route_recipient(cfg, "x@src.test", "src.test", 100, &r);
    assert_string_equal(r.connector->name, "Here");

    /* InternalRelay domains go out through connectors too */
    route_recipient(cfg, "x@relay.test", "relay.test", 100, &r);
    assert_int_equal(r.kind, ROUTE_DNS);
    config_unref(cfg);
}

static void
test_local_and_unreachable(void **state)
{
    struct config *cfg = testlib_config(conf_text);
    struct route r;

    route_recipient(cfg, "alice@a.test", "a.test", 100, &r);
    assert_int_equal(r.kind, ROUTE_MAILBOX);
    assert_string_equal(r.mailbox->name, "alice");

    route_recipient(cfg, "nobody@a.test", "a.test", 100, &r);
    assert_int_equal(r.kind, ROUTE_NO_MAILBOX);

    route_recipient(cfg, "postmaster@a.test", "a.test", 100, &r);
    assert_int_equal(r.kind, ROUTE_MAILBOX);
    assert_null(r.mailbox);

    route_recipient(cfg, "carol@lmtp.test", "lmtp.test", 100, &r);
    assert_int_equal(r.kind, ROUTE_LMTP);
    assert_string_equal(r.lmtp_server, "127.0.0.1:24");

    /* without the "*" connector nothing matches: Unreachable */
    cfg->send_connectors[0].enabled = false;
    route_recipient(cfg, "x@fabrikam.example", "fabrikam.example", 100, &r);
    assert_int_equal(r.kind, ROUTE_UNREACHABLE);
    assert_string_equal(r.next_hop, "Unreachable");
    config_unref(cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_space_match),
        cmocka_unit_test(test_connector_selection),
        cmocka_unit_test(test_local_and_unreachable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
