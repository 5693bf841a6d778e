"""DANE for outbound mail (RFC 7672) against a DNSSEC-signed zone on loopback.

A relays to B (a postern on 127.0.0.1:P) through a Send connector with DNS
routing and Port P; its resolver forwards to SignedDNS (dnssec_zone.py) and
validates with that zone's DS as trust anchor. B's certificate comes from a
test CA and names B and the MX hosts of ee/ta/bad/unusable. B leaves the
self-signed root out of its chain (tls_chain.c), so DANE-TA uses the root's
whole key (2 1 0, RFC 7671 5.2.2), not its digest. The zone, per destination (TLSA at _P._tcp.<mx host>):

  ee.test        3 1 1 of B's key                 delivered, DANE-EE matched
  ta.test        2 1 0 of the CA                  delivered, DANE-TA matched
  tawrong.test   2 1 0 of the CA, MX host not in B's certificate: held (name)
  bad.test       3 1 1 of another key             held, "no TLSA record matches"
  unusable.test  1 1 1 (PKIX-EE) only             TLS required, not checked: delivered
  bogus.test     TLSA with a broken signature     held, DNSSEC validation failed
  bogusmx.test   MX with a broken signature       held, no host tried
  plain.insecure.test  TLSA in an unsigned zone   ignored: opportunistic TLS, delivered
  notls.test     3 1 1, host 127.0.0.2 offers no STARTTLS: held, nothing sent in clear
"""
import hashlib
import os
import re
import ssl

import pytest

from conftest import message, wait_for
from dnssec_zone import SignedDNS, tlsa_rdata
from peers import (ScriptedSMTP, FAST_TIMERS, maildir, queue_failed, receiver_instance,
                   send_log, set_timers, submit, wait_queue_empty)
from pki import TestCA, self_signed

DELIVERED = ["ee.test", "ta.test", "unusable.test", "plain.insecure.test"]
HELD = ["tawrong.test", "bad.test", "bogus.test", "bogusmx.test", "notls.test"]


def mx(domain, host, ip="127.0.0.1"):
    return [f"{domain}. IN MX 10 {host}.", f"{host}. IN A {ip}"]


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("dane-pki"))
    ca = TestCA(base)
    leaf = ca.issue("mail.b.test", sans=["mail.b.test", "mx.ee.test", "mx.ta.test", "mx.bad.test",
                                         "mx.unusable.test", "mx.plain.insecure.test"])
    leaf.write_bundle()
    other = self_signed(base, "other.test")
    return ca, leaf, other


@pytest.fixture()
def pair(instances, certs, tmp_path):
    ca, leaf, other = certs
    b = receiver_instance(instances, "b", DELIVERED + HELD,
                          [f"user@{d}" for d in DELIVERED + HELD], start=False)
    r = b.cmdlet("Import-ExchangeCertificate", "-FileName", leaf.bundle)
    tp = re.search(r"^Thumbprint\s*:\s*([0-9A-F]{40})$", r.stdout, re.M).group(1)
    b.cmdlet("Enable-ExchangeCertificate", "-Thumbprint", tp, "-Services", "SMTP")
    b.start()
    port = b.port

    def tlsa(host, rdata):
        return f"_{port}._tcp.{host}. IN TLSA {rdata}"

    records = (mx("ee.test", "mx.ee.test") + [tlsa("mx.ee.test", tlsa_rdata(leaf.cert, 3, 1, 1))]
               + mx("ta.test", "mx.ta.test") + [tlsa("mx.ta.test", tlsa_rdata(ca.cert, 2, 1, 0))]
               + mx("tawrong.test", "mx.tawrong.test")
               + [tlsa("mx.tawrong.test", tlsa_rdata(ca.cert, 2, 1, 0))]
               + mx("bad.test", "mx.bad.test") + [tlsa("mx.bad.test",
                                                        tlsa_rdata(other.cert, 3, 1, 1))]
               + mx("unusable.test", "mx.unusable.test")
               + [tlsa("mx.unusable.test", tlsa_rdata(leaf.cert, 1, 1, 1))]
               + mx("bogus.test", "mx.bogus.test")
               + ["bogusmx.test. IN A 127.0.0.1"]
               + mx("plain.insecure.test", "mx.plain.insecure.test")
               + [tlsa("mx.plain.insecure.test", tlsa_rdata(other.cert, 3, 1, 1))]
               + mx("notls.test", "mx.notls.test", ip="127.0.0.2")
               + [tlsa("mx.notls.test", tlsa_rdata(leaf.cert, 3, 1, 1))])
    bogus = [tlsa("mx.bogus.test", tlsa_rdata(leaf.cert, 3, 1, 1)),
             "bogusmx.test. IN MX 10 mx.ee.test."]
    dns = SignedDNS(str(tmp_path), records, bogus=bogus).start()
    clear = ScriptedSMTP(host="127.0.0.2", port=port, extensions=("PIPELINING",)).start()

    a = instances("a")
    a.cmdlet("New-AcceptedDomain", "-Name", "a.test", "-DomainName", "a.test")
    for d in DELIVERED + HELD:
        a.cmdlet("New-AcceptedDomain", "-Name", d, "-DomainName", d, "-DomainType",
                 "ExternalRelay")
    a.cmdlet("New-SendConnector", "-Name", "Internet", "-AddressSpaces", "*.test",
             "-DNSRoutingEnabled", "$true", "-Port", str(port), "-ProtocolLoggingLevel",
             "Verbose")
    a.cmdlet("Set-TransportConfig", "-ExternalDNSServers", dns.server,
             "-UseExternalDNSServersEnabled", "$true", "-DnssecTrustAnchorFile", dns.anchor)
    set_timers(a, **FAST_TIMERS)
    a.start()
    try:
        yield a, b, dns, clear
    finally:
        clear.stop()
        dns.stop()


def send(a, domain):
    rcpt = f"user@{domain}"
    return submit(a, "alice@a.test", [rcpt], message(subject=f"to {domain}",
                                                    sender="alice@a.test", to=rcpt))


def sessions_of(a, needle):
    """The context column of A's send protocol log lines that contain needle."""
    return [r["context"] for r in send_log(a) if needle in r.get("context", "")
            or needle in r.get("data", "")]


def test_dane_ee_and_ta_deliver_with_verification(pair):
    a, b, dns, _ = pair
    for d in ("ee.test", "ta.test"):
        send(a, d)
    for d in ("ee.test", "ta.test"):
        wait_for(lambda d=d: maildir(b, f"user@{d}"), timeout=20, what=f"delivery to {d}")
    wait_queue_empty(a)
    def passed():
        return " ".join(r["data"] for r in send_log(a)
                        if r["context"] == "DANE verification passed")
    wait_for(lambda: passed().count("matches") == 2, what="two DANE lines in A's protocol log")
    assert "DANE-EE(3) SPKI(1) SHA2-256(1) matches CN=mail.b.test" in passed(), passed()
    assert "DANE-TA(2) SPKI(1) Full(0) matches CN=mail.b.test" in passed(), passed()
    assert dns.stats()["total.num.cachemiss"] == "0"


def test_mismatch_and_name_failure_hold_the_mail(pair):
    a, b, _, _ = pair
    send(a, "bad.test")
    send(a, "tawrong.test")
    q = queue_failed(a, "bad.test", timeout=20)
    assert "DANE verification failed" in q["LastError"], q
    assert "no TLSA record matches" in q["LastError"], q
    # the message keeps waiting: DANE failures are temporary (RFC 7672 2.2)
    assert int(q["MessageCount"]) == 1, q
    q = queue_failed(a, "tawrong.test", timeout=20)
    assert "DANE verification failed" in q["LastError"] and "NameMismatch" in q["LastError"], q
    assert not maildir(b, "user@bad.test") and not maildir(b, "user@tawrong.test")


def test_unusable_records_still_require_tls(pair):
    a, b, _, _ = pair
    send(a, "unusable.test")
    files = wait_for(lambda: maildir(b, "user@unusable.test"), timeout=20, what="delivery")
    # B's Received: field says the hop was encrypted
    assert re.search(rb"with ESMTPS", files[0][1]), files[0][1][:600]
    wait_for(lambda: any("no usable TLSA record" in r["data"] for r in send_log(a)),
             what="the DANE line in A's protocol log")


def test_bogus_tlsa_and_bogus_mx_are_temporary_failures(pair):
    a, b, _, _ = pair
    send(a, "bogus.test")
    send(a, "bogusmx.test")
    q = queue_failed(a, "bogus.test", timeout=20)
    assert "DNSSEC validation failed for the TLSA records" in q["LastError"], q
    q = queue_failed(a, "bogusmx.test", timeout=20)
    assert "DNSSEC validation failed for the MX records" in q["LastError"], q
    assert not maildir(b, "user@bogus.test") and not maildir(b, "user@bogusmx.test")


def test_insecure_zone_falls_back_to_opportunistic_tls(pair):
    a, b, _, _ = pair
    send(a, "plain.insecure.test")
    wait_for(lambda: maildir(b, "user@plain.insecure.test"), timeout=20, what="delivery")
    wait_for(lambda: any(r["event"] == "-" for r in send_log(a)), what="A's protocol log")
    assert not any(r["context"].startswith("DANE") for r in send_log(a)), send_log(a)


def test_no_starttls_with_tlsa_is_never_sent_in_clear(pair):
    a, _, _, clear = pair
    send(a, "notls.test")
    q = queue_failed(a, "notls.test", timeout=20)
    assert "DANE" in q["LastError"] and "does not offer STARTTLS" in q["LastError"], q
    assert clear.connections >= 1
    assert not any(line.upper().startswith("MAIL") for line in clear.commands), clear.commands
