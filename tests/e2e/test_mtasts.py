"""MTA-STS (RFC 8461) for outbound mail, against real servers on loopback.

A relays to B (a postern on 127.0.0.1:P) through a Send connector with DNS
routing and Port P. The DNS is SignedDNS (dnssec_zone.py: its records can
be replaced while A runs, with a 1 s TTL on the ones that change). The
policies come from PolicyServer (https_peer.py) on 127.0.2.1:443 with a
certificate from a test CA that A trusts through Import-Certificate; a
plain-HTTP server on 127.0.2.2:443 plays a policy served without TLS. B's
certificate (same CA) names mail.b.test and mx.sts.test, not
mx.unnamed.test. Domains (all MX at 127.0.0.1):

  sts.test          enforce, mx: mx.sts.test          delivered, certificate checked
  elsewhere.test    enforce, mx: mail.other.test      held: no MX host matches
  wrongcert.test    enforce, MX mx.unnamed.test        held: certificate does not name it
  testing.test      testing, MX mx.unnamed.test        delivered anyway
  redirect.test     301                                delivered without a policy
  ctype.test        text/html                          "
  huge.test         70 KB policy                       "
  nomx.test         policy without an mx line          "
  plainhttp.test    policy over plain HTTP             "
  untrusted.test    policy from a server whose certificate A does not trust "

Binding port 443 needs root; without it the module is skipped.
"""
import os
import time

import pytest

from conftest import message, wait_for
from dnssec_zone import SignedDNS
from https_peer import PolicyServer
from peers import (FAST_TIMERS, maildir, queue_failed, receiver_instance, send_log, set_timers,
                   submit, tracking, wait_queue_empty)
from pki import TestCA, self_signed

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="MTA-STS is served on port 443")

WEB, PLAIN, ROGUE = "127.0.2.1", "127.0.2.2", "127.0.2.3"
DELIVERED = ["sts.test", "testing.test", "redirect.test", "ctype.test", "huge.test",
             "nomx.test", "plainhttp.test", "untrusted.test"]
HELD = ["elsewhere.test", "wrongcert.test"]


def policy(mode, *mx, max_age=86400):
    lines = ["version: STSv1", f"mode: {mode}"] + [f"mx: {m}" for m in mx]
    return ("\r\n".join(lines + [f"max_age: {max_age}"]) + "\r\n").encode()


def records(ids):
    """The zone: each domain's MX, its _mta-sts record (id from ids) and policy host."""
    out = ["mx.sts.test. IN A 127.0.0.1", "mx.unnamed.test. IN A 127.0.0.1"]
    for d in DELIVERED + HELD:
        mx = "mx.unnamed.test" if d in ("wrongcert.test", "testing.test") else "mx.sts.test"
        out.append(f"{d}. IN MX 10 {mx}.")
        out.append(f'_mta-sts.{d}. 1 IN TXT "v=STSv1; id={ids.get(d, "1")};"')
        web = {"plainhttp.test": PLAIN, "untrusted.test": ROGUE}.get(d, WEB)
        out.append(f"mta-sts.{d}. IN A {web}")
    return out


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    ca = TestCA(str(tmp_path_factory.mktemp("sts-pki")))
    web = ca.issue("mta-sts.sts.test", sans=[f"mta-sts.{d}" for d in DELIVERED + HELD])
    mx = ca.issue("mail.b.test", sans=["mail.b.test", "mx.sts.test"])
    return ca, web, mx


@pytest.fixture()
def setup(instances, pki, tmp_path):
    ca, web_cert, mx_cert = pki
    b = receiver_instance(instances, "b", DELIVERED + HELD,
                          [f"user@{d}" for d in DELIVERED + HELD], start=False)
    r = b.cmdlet("Import-ExchangeCertificate", "-FileName", mx_cert.bundle)
    tp = [l.split(":", 1)[1].strip() for l in r.stdout.splitlines() if l.startswith("Thumbprint")]
    b.cmdlet("Enable-ExchangeCertificate", "-Thumbprint", tp[0], "-Services", "SMTP")
    b.start()

    web = PolicyServer(WEB, 443, cert=web_cert.cert, key=web_cert.key).start()
    plain = PolicyServer(PLAIN, 443).start()
    # a certificate that names the host but chains to nothing A trusts
    rogue_cert = self_signed(str(tmp_path), "mta-sts.untrusted.test")
    rogue = PolicyServer(ROGUE, 443, cert=rogue_cert.cert, key=rogue_cert.key).start()
    rogue.answer("mta-sts.untrusted.test", policy("enforce", "mail.other.test"))
    web.answer("mta-sts.sts.test", policy("enforce", "mx.sts.test"))
    web.answer("mta-sts.elsewhere.test", policy("enforce", "mail.other.test", "*.other.test"))
    web.answer("mta-sts.wrongcert.test", policy("enforce", "mx.unnamed.test"))
    web.answer("mta-sts.testing.test", policy("testing", "mx.unnamed.test"))
    web.answer("mta-sts.redirect.test", b"", status=301,
               headers={"Location": "https://mta-sts.sts.test/.well-known/mta-sts.txt"})
    web.answer("mta-sts.ctype.test", policy("enforce", "mail.other.test"),
               content_type="text/html")
    web.answer("mta-sts.huge.test", policy("enforce", "mail.other.test") + b"x: y\r\n" * 12000)
    web.answer("mta-sts.nomx.test", b"version: STSv1\r\nmode: enforce\r\nmax_age: 86400\r\n")
    plain.answer("mta-sts.plainhttp.test", policy("enforce", "mail.other.test"))
    dns = SignedDNS(str(tmp_path), records({})).start()

    a = instances("a")
    a.cmdlet("New-AcceptedDomain", "-Name", "a.test", "-DomainName", "a.test")
    for d in DELIVERED + HELD:
        a.cmdlet("New-AcceptedDomain", "-Name", d, "-DomainName", d, "-DomainType",
                 "ExternalRelay")
    a.cmdlet("New-SendConnector", "-Name", "Internet", "-AddressSpaces", "*.test",
             "-DNSRoutingEnabled", "$true", "-Port", str(b.port), "-ProtocolLoggingLevel",
             "Verbose")
    a.cmdlet("Set-TransportConfig", "-ExternalDNSServers", dns.server,
             "-UseExternalDNSServersEnabled", "$true")
    a.cmdlet("Import-Certificate", "-FilePath", ca.cert, "-CertStoreLocation",
             "Cert:\\LocalMachine\\Root")
    set_timers(a, **FAST_TIMERS)
    a.start()
    try:
        yield a, b, web, dns
    finally:
        rogue.stop()
        web.stop()
        plain.stop()
        dns.stop()


def send(a, domain, subject=None):
    rcpt = f"user@{domain}"
    return submit(a, "alice@a.test", [rcpt], message(subject=subject or f"to {domain}",
                                                    sender="alice@a.test", to=rcpt))


def delivered(b, domain, count=1):
    return wait_for(lambda: len(maildir(b, f"user@{domain}")) >= count, timeout=30,
                    what=f"delivery to {domain}")


def cached(a, domain):
    objs = a.get("Get-MtaStsPolicy", "-Domain", domain)
    return objs[0] if objs else None


def test_enforce_delivers_to_matching_mx_with_checked_certificate(setup):
    a, b, web, _ = setup
    send(a, "sts.test")
    delivered(b, "sts.test")
    wait_queue_empty(a)
    assert web.requests_for("mta-sts.sts.test")[0][1:3] == ("GET", "/.well-known/mta-sts.txt")
    p = cached(a, "sts.test")
    assert p and p["Mode"] == "enforce" and p["Id"] == "1" and p["Mx"] == "{mx.sts.test}", p
    assert p["Status"] == "Valid" and p["MaxAge"] == "86400", p
    wait_for(lambda: any(r["context"] == "TLS certificate check passed" and "mx.sts.test" in
                         r["data"] for r in send_log(a)), what="the certificate check")
    sends = wait_for(lambda: [r for r in tracking(a) if r["event-id"] == "SEND"] or None,
                     what="the SEND event")
    assert sends[0]["message-info"].endswith("TlsPolicy=MTA-STS;TlsVerified=True"), sends


def test_enforce_holds_mail_for_unlisted_mx_and_bad_certificate(setup):
    a, b, _, _ = setup
    send(a, "elsewhere.test")
    send(a, "wrongcert.test")
    q = queue_failed(a, "elsewhere.test", timeout=30)
    assert "MTA-STS: no MX host of elsewhere.test matches its policy" in q["LastError"], q
    q = queue_failed(a, "wrongcert.test", timeout=30)
    assert q["LastError"].startswith("MTA-STS policy of wrongcert.test (enforce): TLS certificate "
                                     "check failed"), q
    assert "does not name mx.unnamed.test" in q["LastError"], q
    assert int(q["MessageCount"]) == 1
    assert not maildir(b, "user@elsewhere.test") and not maildir(b, "user@wrongcert.test")
    # nothing was sent to the unlisted host: no session of A ever reached MAIL for it
    assert "does not match the MTA-STS policy" in a.log()


def test_testing_mode_delivers_despite_the_failure(setup):
    a, b, _, _ = setup
    send(a, "testing.test")
    delivered(b, "testing.test")
    assert cached(a, "testing.test")["Mode"] == "testing"
    # checked as enforce would, for the TLS report (RFC 8461 5): B's certificate
    # does not name mx.unnamed.test
    rows = wait_for(lambda: a.get("Get-TlsReport", "-Domain", "testing.test"),
                    what="the counted session")
    assert rows[0]["PolicyType"] == "sts" and rows[0]["SuccessfulSessions"] == "0", rows
    assert rows[0]["Failures"].startswith("{certificate-host-mismatch mx.unnamed.test "), rows


@pytest.mark.parametrize("domain,why", [
    ("redirect.test", "answered HTTP 301 (redirects are not followed)"),
    ("ctype.test", "content type \"text/html\", not text/plain"),
    ("huge.test", "a response larger than allowed"),
    ("nomx.test", "no mx line"),
    ("plainhttp.test", "https://mta-sts.plainhttp.test/.well-known/mta-sts.txt: no HTTPS "
                       "response (the TLS handshake failed"),
    ("untrusted.test", "https://mta-sts.untrusted.test/.well-known/mta-sts.txt: certificate "
                       "CN=mta-sts.untrusted.test is not trusted"),
])
def test_bad_policies_are_not_used(setup, domain, why):
    a, b, _, _ = setup
    send(a, domain)
    delivered(b, domain)  # as without a policy: these would otherwise hold the mail
    wait_for(lambda: f"{domain}: MTA-STS: policy fetch failed" in a.log(), what="the log line")
    line = [l for l in a.log().splitlines() if f"{domain}: MTA-STS: policy fetch failed" in l][0]
    assert why in line, line
    assert cached(a, domain) is None


def test_cache_survives_restart_and_fetch_failures(setup):
    a, b, web, dns = setup
    send(a, "sts.test", "first")
    delivered(b, "sts.test")
    fetches = len(web.requests_for("mta-sts.sts.test"))
    # a restart keeps the policy: the same id needs no fetch, even with the server failing
    a.stop()
    web.answer("mta-sts.sts.test", b"oops", status=500)
    a.start()
    send(a, "sts.test", "after restart")
    delivered(b, "sts.test", 2)
    assert len(web.requests_for("mta-sts.sts.test")) == fetches
    # a new id makes A fetch; the fetch fails, so the cached policy goes on applying
    dns.replace(records({"sts.test": "2", "elsewhere.test": "2"}))
    time.sleep(2)  # the old TXT record's TTL
    send(a, "sts.test", "fetch fails")
    delivered(b, "sts.test", 3)
    assert len(web.requests_for("mta-sts.sts.test")) == fetches + 1
    wait_for(lambda: "the cached policy (id 1) applies" in a.log(), what="the log line")
    assert cached(a, "sts.test")["Id"] == "1"
    # the new id with a new policy: fetched and kept
    web.answer("mta-sts.sts.test", policy("testing", "mx.sts.test", max_age=3600))
    web.answer("mta-sts.elsewhere.test", policy("enforce", "mx.sts.test"))
    send(a, "sts.test", "new policy")
    delivered(b, "sts.test", 4)
    p = cached(a, "sts.test")
    assert p["Id"] == "2" and p["Mode"] == "testing" and p["MaxAge"] == "3600", p
    # a held message goes once its domain's new policy lists the MX host
    send(a, "elsewhere.test")
    delivered(b, "elsewhere.test")


def test_clear_cache(setup):
    a, b, web, _ = setup
    send(a, "sts.test")
    delivered(b, "sts.test")
    assert cached(a, "sts.test")
    out = a.cmdlet("Clear-MtaStsCache", "-Domain", "sts.test").stdout
    assert "1 MTA-STS policy removed." in out
    assert cached(a, "sts.test") is None
    assert not os.path.exists(os.path.join(a.dir, "mta-sts", "sts.test"))
    r = a.cmdlet("Clear-MtaStsCache", "-Domain", "../../etc", check=False)
    assert r.returncode != 0 and "is not a domain name" in r.stderr


def test_test_mail_route_explains_the_policy(setup):
    a, b, _, _ = setup
    r = a.get("Test-MailRoute", "-Recipient", "user@sts.test")[0]
    assert r["MtaSts"].startswith("nothing cached; published record: id 1"), r
    assert "mx.sts.test: opportunistic (" in r["TlsPolicy"] and "no MTA-STS policy cached" in \
        r["TlsPolicy"], r
    send(a, "sts.test")
    delivered(b, "sts.test")
    r = a.get("Test-MailRoute", "-Recipient", "user@sts.test")[0]
    assert r["MtaSts"].startswith("cached: enforce (id 1, mx: mx.sts.test, valid until "), r
    assert r["TlsPolicy"] == "{mx.sts.test: MTA-STS enforce: TLS required, certificate must " \
                             "name mx.sts.test}", r
    r = a.get("Test-MailRoute", "-Recipient", "user@elsewhere.test")[0]
    assert "nothing cached" in r["MtaSts"], r
