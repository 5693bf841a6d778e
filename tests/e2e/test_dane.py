"""DANE for outbound mail (RFC 7672) against a DNSSEC-signed zone on loopback.

A relays to B (a postern on 127.0.0.1:P) through a Send connector with DNS
routing and Port P; its resolver forwards to SignedDNS (dnssec_zone.py) and
validates with that zone's DS as trust anchor. B's certificate comes from a
test CA's intermediate and names B and the MX hosts of ee/ta/ta1/bad/unusable.
B sends the intermediate and leaves the self-signed root out of its chain
(tls_chain.c): DANE-TA matches the intermediate by digest (2 1 1) and the
absent root by its whole key (2 1 0, RFC 7671 5.2.2). The zone, per destination (TLSA at _P._tcp.<mx host>):

  ee.test        3 1 1 of B's key                 delivered, DANE-EE matched
  ta.test        2 1 0 of the root CA             delivered, DANE-TA matched
  ta1.test       2 1 1 of the intermediate CA     delivered, DANE-TA matched
  tawrong.test   2 1 0 of the CA, MX host not in B's certificate: held (name)
  bad.test       3 1 1 of another key             held, "no TLSA record matches"
  unusable.test  1 1 1 (PKIX-EE) and a malformed 3 1 1 only: TLS required, not checked
  bogus.test     TLSA with a broken signature     held, DNSSEC validation failed
  bogusmx.test   MX with a broken signature       held, no host tried
  plain.insecure.test  TLSA in an unsigned zone   ignored: opportunistic TLS, delivered
  notls.test     3 1 1, host 127.0.0.2 offers no STARTTLS: held, nothing sent in clear
  refusetls.test 3 1 1, host 127.0.0.3 offers STARTTLS and refuses it: held, nothing sent
"""
import hashlib
import os
import re
import ssl

import pytest

from conftest import client_context, message, wait_for
from dnssec_zone import SignedDNS, tlsa_rdata
from peers import (ScriptedSMTP, FAST_TIMERS, maildir, queue_failed, queues, receive_log,
                   receiver_instance, send_log, set_timers, submit, tracking, wait_queue_empty)
from pki import TestCA, self_signed

DELIVERED = ["ee.test", "ta.test", "ta1.test", "unusable.test", "plain.insecure.test"]
HELD = ["tawrong.test", "bad.test", "bogus.test", "bogusmx.test", "notls.test",
        "refusetls.test"]


def mx(domain, host, ip="127.0.0.1"):
    return [f"{domain}. IN MX 10 {host}.", f"{host}. IN A {ip}"]


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("dane-pki"))
    ca = TestCA(base)
    inter = TestCA(base, name="inter", cn="Postern Test Intermediate CA", parent=ca)
    leaf = inter.issue("mail.b.test", sans=["mail.b.test", "mx.ee.test", "mx.ta.test",
                                            "mx.ta1.test", "mx.bad.test", "mx.unusable.test",
                                            "mx.plain.insecure.test"])
    leaf.write_bundle()
    other = self_signed(base, "other.test")
    return ca, leaf, other, inter


@pytest.fixture()
def pair(instances, certs, workdir):
    ca, leaf, other, inter = certs
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
               + mx("ta1.test", "mx.ta1.test") + [tlsa("mx.ta1.test",
                                                        tlsa_rdata(inter.cert, 2, 1, 1))]
               + mx("tawrong.test", "mx.tawrong.test")
               + [tlsa("mx.tawrong.test", tlsa_rdata(ca.cert, 2, 1, 0))]
               + mx("bad.test", "mx.bad.test") + [tlsa("mx.bad.test",
                                                        tlsa_rdata(other.cert, 3, 1, 1))]
               + mx("unusable.test", "mx.unusable.test")
               + [tlsa("mx.unusable.test", tlsa_rdata(leaf.cert, 1, 1, 1)),
                  # malformed: a SHA-256 digest of three octets matches nothing
                  tlsa("mx.unusable.test", "3 1 1 abcdef")]
               + mx("bogus.test", "mx.bogus.test")
               + ["bogusmx.test. IN A 127.0.0.1"]
               + mx("plain.insecure.test", "mx.plain.insecure.test")
               + [tlsa("mx.plain.insecure.test", tlsa_rdata(other.cert, 3, 1, 1))]
               + mx("notls.test", "mx.notls.test", ip="127.0.0.2")
               + [tlsa("mx.notls.test", tlsa_rdata(leaf.cert, 3, 1, 1))]
               + mx("refusetls.test", "mx.refusetls.test", ip="127.0.0.3")
               + [tlsa("mx.refusetls.test", tlsa_rdata(leaf.cert, 3, 1, 1))])
    bogus = [tlsa("mx.bogus.test", tlsa_rdata(leaf.cert, 3, 1, 1)),
             "bogusmx.test. IN MX 10 mx.ee.test."]
    # under the instances' directory: the cmdlets (Test-MailRoute) read the
    # trust anchor as the instance owner
    dns = SignedDNS(workdir, records, bogus=bogus).start()
    clear = ScriptedSMTP(host="127.0.0.2", port=port, extensions=("PIPELINING",)).start()
    # offers STARTTLS and answers it 502, as an attacker in the path would
    refusing = ScriptedSMTP(host="127.0.0.3", port=port,
                            extensions=("PIPELINING", "STARTTLS")).start()

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
        yield a, b, dns, clear, refusing
    finally:
        refusing.stop()
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
    a, b, dns, _, _ = pair
    for d in ("ee.test", "ta.test", "ta1.test"):
        send(a, d)
    for d in ("ee.test", "ta.test", "ta1.test"):
        wait_for(lambda d=d: maildir(b, f"user@{d}"), timeout=20, what=f"delivery to {d}")
    wait_queue_empty(a)
    def passed():
        return " ".join(r["data"] for r in send_log(a)
                        if r["context"] == "DANE verification passed")
    wait_for(lambda: passed().count("matches") == 3, what="three DANE lines in A's protocol log")
    assert "DANE-EE(3) SPKI(1) SHA2-256(1) matches CN=mail.b.test" in passed(), passed()
    # the tracking log says how each delivery was protected
    sends = wait_for(lambda: [r for r in tracking(a) if r["event-id"] == "SEND"] or None,
                     what="SEND events")
    assert all(r["message-info"].endswith("TlsPolicy=DANE;TlsVerified=True") for r in sends), sends
    assert all("TLS=TLSv1." in r["message-info"] for r in sends), sends
    assert "DANE-TA(2) SPKI(1) Full(0) matches CN=mail.b.test" in passed(), passed()
    assert "DANE-TA(2) SPKI(1) SHA2-256(1) matches CN=mail.b.test" in passed(), passed()
    assert dns.stats()["total.num.cachemiss"] == "0"


def test_mismatch_and_name_failure_hold_the_mail(pair):
    a, b, _, _, _ = pair
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
    a, b, _, _, _ = pair
    send(a, "unusable.test")
    files = wait_for(lambda: maildir(b, "user@unusable.test"), timeout=20, what="delivery")
    # B's Received: field says the hop was encrypted
    assert re.search(rb"with ESMTPS", files[0][1]), files[0][1][:600]
    wait_for(lambda: any("no usable TLSA record" in r["data"] for r in send_log(a)),
             what="the DANE line in A's protocol log")


def test_bogus_tlsa_and_bogus_mx_are_temporary_failures(pair):
    a, b, _, _, _ = pair
    send(a, "bogus.test")
    send(a, "bogusmx.test")
    q = queue_failed(a, "bogus.test", timeout=20)
    assert "DNSSEC validation failed for the TLSA records" in q["LastError"], q
    q = queue_failed(a, "bogusmx.test", timeout=20)
    assert "DNSSEC validation failed for the MX records" in q["LastError"], q
    assert not maildir(b, "user@bogus.test") and not maildir(b, "user@bogusmx.test")


def test_insecure_zone_falls_back_to_opportunistic_tls(pair):
    a, b, _, _, _ = pair
    send(a, "plain.insecure.test")
    wait_for(lambda: maildir(b, "user@plain.insecure.test"), timeout=20, what="delivery")
    wait_for(lambda: any(r["event"] == "-" for r in send_log(a)), what="A's protocol log")
    assert not any(r["context"].startswith("DANE") for r in send_log(a)), send_log(a)


def test_no_starttls_with_tlsa_is_never_sent_in_clear(pair):
    a, _, _, clear, _ = pair
    send(a, "notls.test")
    q = queue_failed(a, "notls.test", timeout=20)
    assert "DANE" in q["LastError"] and "does not offer STARTTLS" in q["LastError"], q
    assert clear.connections >= 1
    assert not any(line.upper().startswith("MAIL") for line in clear.commands), clear.commands


def send_over_tls(a, domain, subject, mail_options=(), header=None):
    """A message to user@domain over STARTTLS; header: an extra header field line."""
    rcpt = f"user@{domain}"
    msg = message(subject=subject, sender="alice@a.test", to=rcpt)
    if header:
        msg = msg.replace("\r\nMessage-ID:", f"\r\n{header}\r\nMessage-ID:", 1)
    with a.smtp() as c:
        c.ehlo("client.test")
        assert c.starttls(context=client_context())[0] == 220
        c.ehlo("client.test")
        assert c.mail("alice@a.test", list(mail_options))[0] == 250
        assert c.rcpt(rcpt)[0] == 250
        assert c.data(msg.encode())[0] == 250


def test_requiretls_goes_over_dane(pair):
    """RFC 8689 4.2.1: DANE verifies the hop, B offers REQUIRETLS: delivered, REQUIRETLS on
    the hop's MAIL FROM."""
    a, b, _, _, _ = pair
    send_over_tls(a, "ee.test", "secret", ["REQUIRETLS"])
    wait_for(lambda: maildir(b, "user@ee.test"), timeout=20, what="delivery")
    mails = wait_for(lambda: [r["data"] for r in receive_log(b)
                              if r["data"].upper().startswith("MAIL FROM:")], what="B's log")
    assert any(m.upper().endswith(" REQUIRETLS") for m in mails), mails


def test_tls_required_no_sets_dane_aside(pair):
    """RFC 8689 4: "TLS-Required: No" asks that the recipient's DANE records not stop the
    message: delivered to bad.test (whose TLSA record matches nothing), while ordinary mail
    to it waits."""
    a, b, _, _, _ = pair
    send(a, "bad.test")
    send_over_tls(a, "bad.test", "anyway", header="TLS-Required: No")
    files = wait_for(lambda: maildir(b, "user@bad.test"), timeout=20, what="delivery")
    assert len(files) == 1 and b"Subject: anyway" in files[0][1]
    held = [q for q in queues(a) if q.get("NextHopDomain") == "bad.test"]
    assert held and "DANE verification failed" in held[0].get("LastError", ""), held


def test_test_mail_route_explains_the_policy(pair):
    a, _, _, _, _ = pair

    def route(domain):
        return a.get("Test-MailRoute", "-Recipient", f"user@{domain}")[0]

    r = route("ee.test")
    assert r["DnssecValidation"] == "Yes", r
    assert r["TlsPolicy"].startswith("{mx.ee.test: DANE: TLS required, certificate checked by 1 "
                                     "TLSA record(s) (3 1 1 "), r
    assert "DANE: TLS required, no usable TLSA record (" in route("unusable.test")["TlsPolicy"]
    assert "3 1 1 abcdef" in route("unusable.test")["TlsPolicy"]
    assert "not tried (DANE lookup failed: DNSSEC validation failed for the TLSA records" in \
        route("bogus.test")["TlsPolicy"]
    assert "opportunistic (the MX answer is not DNSSEC-signed" in \
        route("plain.insecure.test")["TlsPolicy"]
    assert "no host found: DNSSEC validation failed for the MX records" in \
        route("bogusmx.test")["TlsPolicy"]


def test_refused_starttls_with_tlsa_is_never_sent_in_clear(pair):
    """A peer (or an attacker in the path) that offers STARTTLS and then refuses it gets
    nothing in clear text when its TLSA records are secure (RFC 7672 2.2)."""
    a, _, _, _, refusing = pair
    send(a, "refusetls.test")
    q = queue_failed(a, "refusetls.test", timeout=20)
    assert "DANE" in q["LastError"] and "refused STARTTLS" in q["LastError"], q
    assert refusing.connections >= 1
    assert not any(line.upper().startswith("MAIL") for line in refusing.commands), \
        refusing.commands


def test_answers_that_do_not_validate_hold_mail_and_say_why(pair, workdir):
    """Fail closed (RFC 7672 2.1.1): with a trust anchor the zone's keys do not match
    (as with DNS servers that strip signatures), signed answers fail and mail waits;
    the log says why and what to do; nothing goes out without DANE."""
    a, b, _, _, _ = pair
    wrong = os.path.join(workdir, "wrong-anchor.ds")
    with open(wrong, "w") as f:  # a DS for test. that no key of the zone has
        f.write("test. IN DS 12345 13 2 " + "ab" * 32 + "\n")
    os.chmod(wrong, 0o644)
    a.stop()
    a.cmdlet("Set-TransportConfig", "-DnssecTrustAnchorFile", wrong)
    a.start()
    send(a, "ee.test")
    q = queue_failed(a, "ee.test", timeout=20)
    assert "DNSSEC validation failed" in q["LastError"], q
    wait_for(lambda: "do not validate through the DNS servers" in a.log(), what="the warning")
    assert "-DaneEnabled $false" in a.log()
    assert not maildir(b, "user@ee.test")
