"""TLS reports POSTed over HTTPS (RFC 8460 5.2) and retried (5.3), end to end.

A delivers one message per domain to B (another postern, MX 127.0.0.1), which
counts a TLS result with the domain's _smtp._tls record; Send-TlsReport then
hands the domain's report to A's outbox (DIR/tlsrpt/outbox) for a POST from the
smtp process. PolicyServer (https_peer.py) plays the report servers:

  127.0.2.5:443  a certificate from a test CA that A imports (Import-Certificate)
                 naming reports/retry/redirect/restart/giveup.rpt.test
  127.0.2.6:443  a self-signed certificate naming rogue.rpt.test: never trusted

  domain         rua=                                   the server            A
  good.test      https://reports.rpt.test/v1/tlsrpt     200                   POSTs once, done
  retry.test     https://retry.rpt.test/r               500, then 200         retries
  rogue.test     https://rogue.rpt.test/x               untrusted             sends nothing, retries
  redirect.test  https://redirect.rpt.test/old          301 to /moved         does not follow
  restart.test   https://restart.rpt.test/r             503 until A restarts  the file survives
  giveup.test    https://giveup.rpt.test/g              500 always            gives up
  baduri.test    https://user@reports.rpt.test/x        -                     refuses the URI

The retry schedule follows TransientFailureRetryInterval (FAST_TIMERS: 1 s, so
retries after 1, 3 and 12 s) and gives up after min(24 h,
MessageExpirationTimeout). Binding port 443 needs root; without it the module is
skipped.
"""
import gzip
import json
import os
import re
import time

import pytest

from conftest import message, wait_for
from dnssec_zone import SignedDNS
from https_peer import PolicyServer
from peers import FAST_TIMERS, maildir, receiver_instance, set_timers, submit
from pki import TestCA, self_signed

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the report servers listen on 443")

WEB, ROGUE = "127.0.2.5", "127.0.2.6"
URIS = {
    "good.test": "https://reports.rpt.test/v1/tlsrpt",
    "retry.test": "https://retry.rpt.test/r",
    "rogue.test": "https://rogue.rpt.test/x",
    "redirect.test": "https://redirect.rpt.test/old",
    "restart.test": "https://restart.rpt.test/r",
    "giveup.test": "https://giveup.rpt.test/g",
    "baduri.test": "https://user@reports.rpt.test/x",
}
WEB_HOSTS = ["reports.rpt.test", "retry.rpt.test", "redirect.rpt.test", "restart.rpt.test",
             "giveup.rpt.test"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("rpt-pki"))
    ca = TestCA(d)
    return ca, ca.issue(WEB_HOSTS[0], sans=WEB_HOSTS), self_signed(d, "rogue.rpt.test")


@pytest.fixture()
def setup(instances, pki, tmp_path):
    ca, web_cert, rogue_cert = pki
    b = receiver_instance(instances, "b", list(URIS), [f"user@{d}" for d in URIS])
    web = PolicyServer(WEB, 443, cert=web_cert.cert, key=web_cert.key).start()
    rogue = PolicyServer(ROGUE, 443, cert=rogue_cert.cert, key=rogue_cert.key).start()
    records = ["mx.rpt.test. IN A 127.0.0.1", f"rogue.rpt.test. IN A {ROGUE}"]
    records += [f"{h}. IN A {WEB}" for h in WEB_HOSTS]
    for d, uri in URIS.items():
        records += [f"{d}. IN MX 10 mx.rpt.test.",
                    f'_smtp._tls.{d}. IN TXT "v=TLSRPTv1; rua={uri}"']
    dns = SignedDNS(str(tmp_path), records).start()
    a = instances("a")
    a.cmdlet("New-AcceptedDomain", "-Name", "a.test", "-DomainName", "a.test")
    for d in URIS:
        a.cmdlet("New-AcceptedDomain", "-Name", d, "-DomainName", d, "-DomainType",
                 "ExternalRelay")
    a.cmdlet("New-SendConnector", "-Name", "Internet", "-AddressSpaces", "*.test",
             "-DNSRoutingEnabled", "$true", "-Port", str(b.port))
    a.cmdlet("Set-TransportConfig", "-ExternalDNSServers", dns.server,
             "-UseExternalDNSServersEnabled", "$true", "-TlsReportingOrganization", "A Test Org")
    a.cmdlet("Import-Certificate", "-FilePath", ca.cert, "-CertStoreLocation",
             "Cert:\\LocalMachine\\Root")
    set_timers(a, **FAST_TIMERS)
    a.start()
    try:
        yield a, b, web, rogue
    finally:
        rogue.stop()
        web.stop()
        dns.stop()


def counted(a, b, domain):
    """One message to domain, delivered and its TLS result counted: the day's date."""
    rcpt = f"user@{domain}"
    submit(a, "alice@a.test", [rcpt], message(subject=f"to {domain}", sender="alice@a.test",
                                              to=rcpt))
    wait_for(lambda: maildir(b, rcpt), timeout=30, what=f"delivery to {domain}")
    got = wait_for(lambda: a.get("Get-TlsReport", "-Domain", domain), what=f"{domain} counted")
    return got[0]["Date"]


def send_report(a, b, domain):
    date = counted(a, b, domain)
    return a.cmdlet("Send-TlsReport", "-Date", date, "-Domain", domain).stdout


def outbox(a):
    d = os.path.join(a.dir, "tlsrpt", "outbox")
    return sorted(n for n in os.listdir(d) if not n.startswith(".")) if os.path.isdir(d) else []


def log_lines(a, text):
    return [l for l in a.log().splitlines() if text in l]


def test_report_is_posted(setup):
    a, b, web, _ = setup
    web.answer("reports.rpt.test", b"thanks\n")
    out = send_report(a, b, "good.test")
    assert re.search(r"good\.test: report \d{8}\.good\.test\.mail\.a\.test queued for POST to "
                     r"https://reports\.rpt\.test/v1/tlsrpt$", out, re.M), out
    (req,) = wait_for(lambda: web.requests_for("reports.rpt.test"), what="the POST")
    _, method, path, body, fields = req
    assert (method, path) == ("POST", "/v1/tlsrpt")
    assert fields["content-type"] == "application/tlsrpt+gzip"
    assert int(fields["content-length"]) == len(body)
    report = json.loads(gzip.decompress(body))
    assert report["organization-name"] == "A Test Org"
    assert report["report-id"].endswith(".good.test.mail.a.test")
    (policy,) = report["policies"]
    assert policy["policy"]["policy-domain"] == "good.test"
    assert policy["summary"]["total-successful-session-count"] + \
        policy["summary"]["total-failure-session-count"] >= 1
    wait_for(lambda: log_lines(a, "POSTed to https://reports.rpt.test/v1/tlsrpt (HTTP 200)"),
             what="the log line")
    wait_for(lambda: outbox(a) == [], what="the outbox to empty")
    time.sleep(2)  # past a retry that must not come
    assert len(web.requests_for("reports.rpt.test")) == 1


def test_failed_post_is_retried(setup):
    a, b, web, _ = setup
    web.answer("retry.rpt.test", b"oops\n", status=500)
    send_report(a, b, "retry.test")
    wait_for(lambda: web.requests_for("retry.rpt.test"), what="the first POST")
    web.answer("retry.rpt.test", b"ok\n", status=202)
    reqs = wait_for(lambda: len(web.requests_for("retry.rpt.test")) >= 2 and
                    web.requests_for("retry.rpt.test"), timeout=15, what="the retry")
    assert reqs[0][3] == reqs[1][3]  # the same report
    assert log_lines(a, "https://retry.rpt.test/r: the server answered HTTP 500; next attempt in ")
    wait_for(lambda: outbox(a) == [], what="the outbox to empty")


def test_untrusted_server_gets_nothing(setup):
    a, b, _, rogue = setup
    rogue.answer("rogue.rpt.test", b"ok\n")
    send_report(a, b, "rogue.test")
    # the handshake fails before any request: attempted again, never a request
    failed = wait_for(lambda: len(log_lines(a, "rogue.rpt.test/x: certificate CN=rogue.rpt.test "
                                               "is not trusted")) >= 2 and rogue.connections >= 2,
                      timeout=15, what="two refused attempts")
    assert failed
    assert rogue.requests == []
    assert [n for n in outbox(a) if ".rogue.test." in n]


def test_redirect_is_not_followed(setup):
    a, b, web, _ = setup
    web.answer("redirect.rpt.test", b"", status=301,
               headers={"Location": "https://redirect.rpt.test/moved"})
    send_report(a, b, "redirect.test")
    wait_for(lambda: log_lines(a, "the server answered HTTP 301 (redirects are not followed)"),
             what="the log line")
    wait_for(lambda: len(web.requests_for("redirect.rpt.test")) >= 2, timeout=15,
             what="a retry of the same URI")
    assert {r[2] for r in web.requests_for("redirect.rpt.test")} == {"/old"}


def test_pending_post_survives_restart(setup):
    a, b, web, _ = setup
    web.answer("restart.rpt.test", b"later\n", status=503)
    send_report(a, b, "restart.test")
    wait_for(lambda: web.requests_for("restart.rpt.test"), what="the first POST")
    a.stop()
    (name,) = [n for n in outbox(a) if ".restart.test." in n]
    with open(os.path.join(a.dir, "tlsrpt", "outbox", name), "rb") as f:
        head = f.read().split(b"\n\n", 1)[0].decode()
    assert head.startswith("postern-tlsrpt-post 1\nuri https://restart.rpt.test/r\n"), head
    web.answer("restart.rpt.test", b"ok\n", status=200)
    before = len(web.requests_for("restart.rpt.test"))
    a.start()
    wait_for(lambda: len(web.requests_for("restart.rpt.test")) > before, what="the POST at start")
    wait_for(lambda: outbox(a) == [], what="the outbox to empty")


def test_gives_up_after_the_limit(setup):
    a, b, web, _ = setup
    web.answer("giveup.rpt.test", b"no\n", status=500)
    date = counted(a, b, "giveup.test")
    # the limit is min(24 h, MessageExpirationTimeout): 5 s is the shortest
    a.cmdlet("Set-TransportConfig", "-MessageExpirationTimeout", "00:00:05")
    a.cmdlet("Send-TlsReport", "-Date", date, "-Domain", "giveup.test")
    line = wait_for(lambda: log_lines(a, "giving up after"), timeout=20, what="giving up")[0]
    # attempts 0, 1 and 4 s after the first (one less when an answer crosses a second)
    m = re.search(r"https://giveup\.rpt\.test/g: the server answered HTTP 500; giving up after "
                  r"(\d) attempt\(s\) over [45] s$", line)
    assert m and int(m.group(1)) in (2, 3), line
    assert len(web.requests_for("giveup.rpt.test")) == int(m.group(1))
    assert outbox(a) == []
    time.sleep(2)  # past a retry that must not come
    assert len(web.requests_for("giveup.rpt.test")) == int(m.group(1))


def test_unusable_uri_is_refused(setup):
    a, b, web, _ = setup
    out = send_report(a, b, "baduri.test")
    assert "baduri.test: https://user@reports.rpt.test/x: not a usable report URI: user " \
           "information" in out, out
    assert outbox(a) == []
    assert web.requests == []
