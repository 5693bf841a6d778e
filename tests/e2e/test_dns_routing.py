"""DNS routing (MX lookup) against a real resolver: unbound on loopback.

The zone (static "test."):
  mx.test       MX 10 mx1.mx.test, MX 20 mx2.mx.test
                mx1.mx.test A 127.0.0.9 (nothing listens there)
                mx2.mx.test A 127.0.0.1 (B)
  mxgood.test   MX 10 mx2.mx.test, MX 20 mx1.mx.test (the live host first)
  implicit.test A 127.0.0.1, no MX (RFC 5321 5.1 implicit MX)
  nullmx.test   MX 0 .  (RFC 7505)
  nosuch.test   does not exist (NXDOMAIN)

A relays these (accepted domains of type ExternalRelay) through a Send
connector for "*.test" with DNSRoutingEnabled and Port = B's port (Port
applies to MX hosts too, so the tests run on high ports). B is
authoritative for the domains that exist.
"""
import re
import time

import pytest

from conftest import SLOW, message, wait_for
from peers import (DNS_A, DNS_MX, NOERROR, NXDOMAIN, Unbound, connect_refused, dns_query,
                   maildir, queue_failed, queue_named, receiver_instance, reports, send_log,
                   set_timers, submit, tracking, tracking_events, wait_queue_empty, FAST_TIMERS)

ZONE = [
    "mx.test. IN MX 10 mx1.mx.test.",
    "mx.test. IN MX 20 mx2.mx.test.",
    "mx1.mx.test. IN A 127.0.0.9",
    "mx2.mx.test. IN A 127.0.0.1",
    "mxgood.test. IN MX 10 mx2.mx.test.",
    "mxgood.test. IN MX 20 mx1.mx.test.",
    "implicit.test. IN A 127.0.0.1",
    "nullmx.test. IN MX 0 .",
]
RELAYED = ["mx.test", "mxgood.test", "implicit.test", "nullmx.test", "nosuch.test",
           "unrouted.example"]


@pytest.fixture(scope="module")
def dns(tmp_path_factory):
    base = tmp_path_factory.mktemp("dns")
    base.chmod(0o755)
    with Unbound(str(base), ZONE) as ub:
        # the zone itself answers as the tests expect
        assert dns_query(ub.port, "mx.test", DNS_MX) == (NOERROR, 2)
        assert dns_query(ub.port, "nullmx.test", DNS_MX) == (NOERROR, 1)
        assert dns_query(ub.port, "implicit.test", DNS_MX)[1] == 0
        assert dns_query(ub.port, "implicit.test", DNS_A) == (NOERROR, 1)
        assert dns_query(ub.port, "nosuch.test", DNS_MX)[0] == NXDOMAIN
        yield ub


def setup_pair(instances, dns, connector=()):
    b = receiver_instance(instances, "b", ["mx.test", "mxgood.test", "implicit.test"],
                          ["user@mx.test", "user@mxgood.test", "user@implicit.test"])
    a = instances("a")
    a.cmdlet("New-AcceptedDomain", "-Name", "a.test", "-DomainName", "a.test")
    a.cmdlet("New-Mailbox", "-Name", "alice", "-PrimarySmtpAddress", "alice@a.test",
             "-Password", "Secret-1234")
    for d in RELAYED:
        a.cmdlet("New-AcceptedDomain", "-Name", d, "-DomainName", d, "-DomainType",
                 "ExternalRelay")
    a.cmdlet("New-SendConnector", "-Name", "Internet", "-AddressSpaces", "*.test",
             "-DNSRoutingEnabled", "$true", "-Port", str(b.port), "-ProtocolLoggingLevel",
             "Verbose", *connector)
    a.cmdlet("Set-TransportConfig", "-ExternalDNSServers", dns.server,
             "-UseExternalDNSServersEnabled", "$true")
    set_timers(a, **FAST_TIMERS)
    a.start()
    return a, b


def send_to(a, rcpt, subject):
    return submit(a, "alice@a.test", [rcpt], message(subject=subject, sender="alice@a.test",
                                                     to=rcpt))


def session_remotes(a):
    """Remote endpoints of A's outbound sessions, in log order."""
    return [r["remote-endpoint"] for r in send_log(a)]


def test_mx_preference_fallback(instances, dns):
    a, b = setup_pair(instances, dns)
    assert connect_refused("127.0.0.9", b.port)
    qid = send_to(a, "user@mx.test", "via mx2")
    files = wait_for(lambda: maildir(b, "user@mx.test"), timeout=15, what="delivery via mx2")
    assert b"Subject: via mx2" in files[0][1]
    wait_queue_empty(a)
    # MX 10 (127.0.0.9) was tried before MX 20 (127.0.0.1)
    wait_for(lambda: any(r["event"] == "-" and r["remote-endpoint"].startswith("127.0.0.1:")
                         for r in send_log(a)), what="A's protocol log")
    remotes = session_remotes(a)
    tried9 = [i for i, x in enumerate(remotes) if x == f"127.0.0.9:{b.port}"]
    used1 = [i for i, x in enumerate(remotes) if x == f"127.0.0.1:{b.port}"]
    assert tried9 and used1 and tried9[0] < used1[0], remotes
    send_row = wait_for(lambda: [r for r in tracking(a) if r["internal-message-id"] == qid and
                                 r["event-id"] == "SEND"], what="A's SEND event")[0]
    assert send_row["recipient-address"] == "user@mx.test"
    assert "mx2.mx.test" in send_row["server-hostname"], send_row


def test_mx_preference_order_is_respected(instances, dns):
    """With the live host at the better preference the dead one is never tried."""
    a, b = setup_pair(instances, dns)
    send_to(a, "user@mxgood.test", "straight to mx2")
    wait_for(lambda: maildir(b, "user@mxgood.test"), timeout=15, what="delivery")
    wait_queue_empty(a)
    wait_for(lambda: any(r["event"] == "-" for r in send_log(a)), what="A's protocol log")
    assert not [x for x in session_remotes(a) if x.startswith("127.0.0.9:")], session_remotes(a)


def test_implicit_mx(instances, dns):
    a, b = setup_pair(instances, dns)
    qid = send_to(a, "user@implicit.test", "implicit")
    files = wait_for(lambda: maildir(b, "user@implicit.test"), timeout=15, what="delivery")
    assert b"Subject: implicit" in files[0][1]
    wait_queue_empty(a)
    send_row = wait_for(lambda: [r for r in tracking(a)
                                 if r["internal-message-id"] == qid and r["event-id"] == "SEND"],
                        what="SEND event")[0]
    assert "implicit.test" in send_row["server-hostname"], send_row


def expect_bounce(a, rcpt):
    reps = wait_for(lambda: reports(a, "alice@a.test", "failed"), timeout=10,
                    what=f"a bounce for {rcpt}")
    blocks = [b for _, bl in reps for b in bl]
    assert [b["final-recipient"].split(";", 1)[1].strip() for b in blocks] == [rcpt], blocks
    return blocks[0]


def test_null_mx_bounces_at_once(instances, dns):
    a, b = setup_pair(instances, dns)
    start = time.monotonic()
    qid = send_to(a, "user@nullmx.test", "null mx")
    blk = expect_bounce(a, "user@nullmx.test")
    # at once: no retry schedule (the first connection failure alone would retry)
    assert time.monotonic() - start < 5 * SLOW
    assert blk["status"] == "5.1.10" or (blk["status"].startswith("5.") and re.search(
        r"null MX|7505", blk.get("diagnostic-code", ""), re.I)), blk
    wait_queue_empty(a)
    # the logs are written out together once a second: with the FAIL event in the
    # tracking log, any session before it is in the protocol log
    wait_for(lambda: ("FAIL", "user@nullmx.test") in tracking_events(a, qid),
             what="the FAIL event in the tracking log")
    assert not send_log(a), "nothing may be sent to a domain that accepts no mail"


def test_nxdomain_bounces(instances, dns):
    a, b = setup_pair(instances, dns)
    send_to(a, "user@nosuch.test", "no such domain")
    blk = expect_bounce(a, "user@nosuch.test")
    assert blk["status"].startswith("5."), blk
    assert re.search(r"nosuch\.test|domain", blk.get("diagnostic-code", ""), re.I), blk
    wait_queue_empty(a)


def test_nxdomain_with_downgrade_dns_failures_is_retried(instances, dns):
    a, b = setup_pair(instances, dns, connector=["-ErrorPolicies", "DowngradeDnsFailures"])
    qid = send_to(a, "user@nosuch.test", "no such domain, downgraded")

    q = queue_failed(a, "nosuch.test", timeout=10,
                     what="queue nosuch.test to record the DNS failure")
    assert q["DeliveryType"] == "DNSConnectorDelivery", q
    assert "NXDOMAIN" in q["LastError"], q
    # with a 1 s retry interval the queue may already be Ready again (its
    # retry time passed, the next beat not yet come) when it is read
    assert q["Status"] in ("Retry", "Active", "Ready"), q
    # the next attempt (NextRetryTime moves on) comes after the first one's outcome,
    # a bounce included, is out
    wait_for(lambda: (queue_named(a, "nosuch.test") or q)["NextRetryTime"] != q["NextRetryTime"],
             timeout=10, what="a second attempt")
    assert qid in a.queued_ids()
    assert not [e for e, _ in tracking_events(a, qid) if e in ("FAIL", "DSN")]
    assert not reports(a, "alice@a.test"), "DowngradeDnsFailures: no bounce before expiry"


def test_unreachable_queue(instances, dns):
    """No Send connector matches unrouted.example: the message waits in
    Unreachable (docs/exchange-model.md), visible in Get-Queue, not bounced."""
    a, b = setup_pair(instances, dns)
    qid = send_to(a, "user@unrouted.example", "nowhere to go")
    q = wait_for(lambda: queue_named(a, "Unreachable"), timeout=10, what="the Unreachable queue")
    assert q["Identity"] == "mail\\Unreachable", q
    assert q["DeliveryType"] == "Unreachable", q
    assert q["MessageCount"] == "1", q
    msgs = a.get("Get-Message", "-Queue", "Unreachable")
    assert [m for m in msgs if m["Identity"].endswith(qid)], msgs
    # routed when it arrived; the logs of that moment are out with its RECEIVE event
    wait_for(lambda: [e for e, _ in tracking_events(a, qid) if e == "RECEIVE"],
             what="the RECEIVE event in the tracking log")
    assert not [e for e, _ in tracking_events(a, qid) if e in ("FAIL", "DSN", "SEND")]
    assert qid in a.queued_ids()
    assert not reports(a, "alice@a.test")
    assert not send_log(a)


def test_explain_and_test_commands_resolve_mx_in_order(instances, dns):
    """Test-MailRoute lists the addresses delivery would try, in MX order;
    Test-SendConnector tries them as delivery does: 127.0.0.9 refuses, the
    next MX answers, and the verdict is that mail would go."""
    a, b = setup_pair(instances, dns)
    r = a.get("Test-MailRoute", "-Recipient", "user@mx.test")[0]
    assert r["Addresses"] == "mx1.mx.test[127.0.0.9], mx2.mx.test[127.0.0.1]", r
    r = a.get("Test-MailRoute", "-Recipient", "user@nullmx.test")[0]
    assert "null MX" in r["Addresses"], r
    out = a.cmdlet("Test-SendConnector", "Internet", "-Recipient", "user@mx.test").stdout
    recs = [x for x in out.split("\n\n") if x.strip()]
    assert len(recs) == 2, out
    assert re.search(r"Peer\s+: mx1\.mx\.test\[127\.0\.0\.9:\d+\]", recs[0]), out
    assert re.search(r"Result\s+: Failed at Connect: connection to mx1\.mx\.test", recs[0]), out
    assert re.search(r"Peer\s+: mx2\.mx\.test\[127\.0\.0\.1:\d+\]", recs[1]), out
    assert re.search(r"Result\s+: Success", recs[1]), out
    r = a.cmdlet("Test-SendConnector", "Internet", "-Recipient", "user@nosuch.test", check=False)
    assert r.returncode == 1
    assert "failed at Resolve: 550 5.1.2" in r.stderr, r.stderr
