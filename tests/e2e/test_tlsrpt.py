"""TLS reporting (RFC 8460) end to end: A counts the TLS result of every delivery attempt
per recipient domain and policy, shows them with Get-TlsReport, and sends the day's
report by mail (Send-TlsReport) to the address each domain publishes in _smtp._tls;
B (another postern) receives it. The test decompresses the report and checks the
RFC's fields against the counts of what A did, and verifies the report's DKIM
signature with python3-dkim (RFC 8460 3 requires one).

The DNSSEC-signed zone (dnssec_zone.py), A validating with its anchor:
  rpt.test      MX mx.rpt.test, TLSA 3 1 1 of B's key: DANE succeeds
  rptbad.test   MX mx.rptbad.test, TLSA 3 1 1 of another key: tlsa-invalid, held
  plain.test    MX mx.plain.test, no TLSA: no-policy-found, TLS succeeds
  b.test        MX mx.rpt.test (where the reports go)
  _smtp._tls.{rpt,rptbad,plain}.test  rua=mailto:tlsrpt@b.test (rptbad also https:)
"""
import gzip
import json
import re

import pytest

from conftest import message, wait_for
from dnssec_zone import SignedDNS, tlsa_rdata
from peers import (FAST_TIMERS, maildir, parse_message, queue_failed, receiver_instance,
                   send_log, set_timers, submit)
from pki import TestCA, self_signed

dkim = pytest.importorskip("dkim", reason="python3-dkim (Debian) verifies the signature")

DOMAINS = ["rpt.test", "rptbad.test", "plain.test"]


@pytest.fixture()
def setup(instances, workdir):
    ca = TestCA(workdir + "/ca-rpt")
    leaf = ca.issue("mail.b.test", sans=["mail.b.test"])
    other = self_signed(workdir, "other.test")
    b = receiver_instance(instances, "b", DOMAINS + ["b.test"],
                          [f"user@{d}" for d in DOMAINS] + ["tlsrpt@b.test"], start=False)
    r = b.cmdlet("Import-ExchangeCertificate", "-FileName", leaf.bundle)
    tp = re.search(r"^Thumbprint\s*:\s*([0-9A-F]{40})$", r.stdout, re.M).group(1)
    b.cmdlet("Enable-ExchangeCertificate", "-Thumbprint", tp, "-Services", "SMTP")
    b.start()
    port = b.port
    rua = '"v=TLSRPTv1; rua=mailto:tlsrpt@b.test"'
    records = [
        "mx.rpt.test. IN A 127.0.0.1", "mx.rptbad.test. IN A 127.0.0.1",
        "rpt.test. IN MX 10 mx.rpt.test.", "rptbad.test. IN MX 10 mx.rptbad.test.",
        "plain.test. IN MX 10 mx.plain.test.", "mx.plain.test. IN A 127.0.0.1",
        "b.test. IN MX 10 mx.rpt.test.",
        f"_{port}._tcp.mx.rpt.test. IN TLSA {tlsa_rdata(leaf.cert, 3, 1, 1)}",
        f"_{port}._tcp.mx.rptbad.test. IN TLSA {tlsa_rdata(other.cert, 3, 1, 1)}",
        f"_smtp._tls.rpt.test. IN TXT {rua}", f"_smtp._tls.plain.test. IN TXT {rua}",
        '_smtp._tls.rptbad.test. IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@b.test,'
        'https://reports.example/tlsrpt"',
    ]
    dns = SignedDNS(workdir, records).start()
    a = instances("a")
    a.cmdlet("New-AcceptedDomain", "-Name", "a.test", "-DomainName", "a.test")
    for d in DOMAINS + ["b.test"]:
        a.cmdlet("New-AcceptedDomain", "-Name", d, "-DomainName", d, "-DomainType",
                 "ExternalRelay")
    a.cmdlet("New-SendConnector", "-Name", "Internet", "-AddressSpaces", "*.test",
             "-DNSRoutingEnabled", "$true", "-Port", str(port), "-ProtocolLoggingLevel",
             "Verbose")
    a.cmdlet("Set-TransportConfig", "-ExternalDNSServers", dns.server,
             "-UseExternalDNSServersEnabled", "$true", "-DnssecTrustAnchorFile", dns.anchor,
             "-TlsReportingOrganization", "A Test Org")
    a.cmdlet("New-DkimSigningConfig", "-DomainName", "a.test", "-Enabled", "$true")
    set_timers(a, **FAST_TIMERS)
    a.start()
    try:
        yield a, b
    finally:
        dns.stop()


def send(a, domain, subject):
    rcpt = f"user@{domain}"
    submit(a, "alice@a.test", [rcpt], message(subject=subject, sender="alice@a.test", to=rcpt))


def counted(a, domain):
    got = a.get("Get-TlsReport", "-Domain", domain)
    assert len(got) == 1, got
    return got[0]


def test_counts_and_the_daily_report(setup):
    a, b = setup
    for i in range(2):
        send(a, "rpt.test", f"rpt {i}")
    send(a, "plain.test", "plain")
    send(a, "rptbad.test", "bad")
    wait_for(lambda: len(maildir(b, "user@rpt.test")) == 2, timeout=30, what="rpt.test mail")
    wait_for(lambda: maildir(b, "user@plain.test"), timeout=30, what="plain.test mail")
    queue_failed(a, "rptbad.test", timeout=30)
    a.cmdlet("Suspend-Queue", "-Identity", "rptbad.test")  # no more attempts: counts stay

    # what A counted matches what its protocol log shows it did
    passed = [r for r in send_log(a) if r["context"] == "DANE verification passed"]
    rpt = counted(a, "rpt.test")
    assert rpt["PolicyType"] == "tlsa", rpt
    assert re.fullmatch(r"\{3 1 1 [0-9a-f]{64}\}", rpt["Policy"]), rpt
    assert int(rpt["SuccessfulSessions"]) >= 1 and rpt["FailedSessions"] == "0", rpt
    assert rpt["ReportTo"] == "mailto:tlsrpt@b.test", rpt
    bad = counted(a, "rptbad.test")
    assert bad["SuccessfulSessions"] == "0" and int(bad["FailedSessions"]) >= 1, bad
    assert bad["Failures"].startswith("{tlsa-invalid mx.rptbad.test 127.0.0.1: "), bad
    plain = counted(a, "plain.test")
    assert plain["PolicyType"] == "no-policy-found" and plain["Policy"] == "{}", plain
    assert int(plain["SuccessfulSessions"]) >= 1, plain
    assert int(rpt["SuccessfulSessions"]) + int(bad["SuccessfulSessions"]) <= len(passed)

    out = a.cmdlet("Send-TlsReport", "-Date", rpt["Date"]).stdout
    # the https: address gets the report by POST (test_tlsrpt_https.py); here its host
    # does not resolve, so it stays in the outbox
    assert re.search(r"^rptbad\.test: report \S+ queued for POST to https://reports\.example/"
                     r"tlsrpt$", out, re.M), out
    got = wait_for(lambda: len(maildir(b, "tlsrpt@b.test")) == 3 and maildir(b, "tlsrpt@b.test"),
                   timeout=30, what="three reports in B's mailbox")
    reports = {}
    for _, raw in got:
        msg = parse_message(raw)
        domain = msg["TLS-Report-Domain"]
        assert msg["TLS-Report-Submitter"] == "mail.a.test"  # RFC 8460 5.3: a domain
        assert msg["TLS-Required"] == "No"
        assert msg["Subject"] == (f"Report Domain: {domain} Submitter: mail.a.test Report-ID: "
                                  f"<{rpt['Date'].replace('-', '')}.{domain}.mail.a.test>")
        assert msg.get_content_type() == "multipart/report"
        assert msg.get_param("report-type") == "tlsrpt"
        part = [p for p in msg.walk() if p.get_content_type() == "application/tlsrpt+gzip"][0]
        name = part.get_filename()
        assert re.fullmatch(rf"mail\.a\.test!{re.escape(domain)}!\d+!\d+!\d{{8}}\.json\.gz",
                            name), name
        reports[domain] = json.loads(gzip.decompress(part.get_payload(decode=True)))
        # signed by A's DKIM key for a.test (the report's From: is postmaster@a.test)
        txt = a.get("Get-DkimSigningConfig", "a.test")[0]

        def dnsfunc(qname, timeout=5, txt=txt):
            sel = re.match(rb"(selector[12])\.", qname).group(1).decode()
            return txt["Selector1PublicKey" if sel == "selector1" else "Selector2PublicKey"].encode()
        assert dkim.verify(raw.replace(b"\n", b"\r\n"), dnsfunc=dnsfunc), domain

    assert set(reports) == set(DOMAINS)
    for domain, r in reports.items():
        assert r["organization-name"] == "A Test Org"
        assert r["contact-info"] == "postmaster@a.test"
        assert r["date-range"]["start-datetime"].endswith("T00:00:00Z")
        assert r["date-range"]["end-datetime"].endswith("T23:59:59Z")
        assert r["report-id"]
        (policy,) = r["policies"]
        assert policy["policy"]["policy-domain"] == domain
    good = reports["rpt.test"]["policies"][0]
    assert good["policy"]["policy-type"] == "tlsa"
    assert good["policy"]["policy-string"] == [rpt["Policy"].strip("{}")]
    assert good["summary"] == {"total-successful-session-count": int(rpt["SuccessfulSessions"]),
                               "total-failure-session-count": 0}
    failing = reports["rptbad.test"]["policies"][0]
    assert failing["summary"]["total-failure-session-count"] == int(bad["FailedSessions"])
    (detail,) = failing["failure-details"]
    assert detail == {"result-type": "tlsa-invalid", "receiving-mx-hostname": "mx.rptbad.test",
                      "receiving-ip": "127.0.0.1",
                      "failed-session-count": int(bad["FailedSessions"])}
    assert reports["plain.test"]["policies"][0]["policy"]["policy-type"] == "no-policy-found"


def test_bad_input(setup):
    a, _ = setup
    r = a.cmdlet("Get-TlsReport", "-Date", "yesterday", check=False)
    assert r.returncode != 0 and "is not a date" in r.stderr
    assert a.get("Get-TlsReport", "-Date", "2001-01-01") == []
    out = a.cmdlet("Send-TlsReport", "-Date", "2001-01-01").stdout
    assert "no TLS results were counted on 20010101" in out
