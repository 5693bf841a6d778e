"""REQUIRETLS (RFC 8689) on the sending side, across two postern instances and Postfix.

A takes a message over STARTTLS with MAIL FROM ... REQUIRETLS and relays it:
  - to B (postern) through a connector that verifies B's certificate
    (TlsAuthLevel DomainValidation, B's CA imported): delivered, and MAIL
    FROM carried REQUIRETLS on the hop (B's receive protocol log);
  - to B through an opportunistic connector (nothing verifies B): returned
    to its sender with 5.7.30, never sent;
  - to Postfix 3.7 (no REQUIRETLS), verified: returned with 5.7.30, never sent;
and the same connectors still carry ordinary mail in the same runs. DANE and
MTA-STS as the verification, and "TLS-Required: No", are in test_dane.py.
"""
import re

import pytest

from conftest import client_context, message, wait_for
from peers import (FAST_TIMERS, Postfix, maildir, receive_log, receiver_instance, reports,
                   set_timers)
from pki import TestCA


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    ca = TestCA(str(tmp_path_factory.mktemp("rtls-pki")))
    return ca, ca.issue("mail.b.test", sans=["mail.b.test"])


def relay_a(instances, port, connector_args, domains=("b.test",)):
    a = instances("a")
    a.cmdlet("New-AcceptedDomain", "-Name", "a.test", "-DomainName", "a.test")
    a.cmdlet("New-Mailbox", "-Name", "alice", "-PrimarySmtpAddress", "alice@a.test",
             "-Password", "Secret-1234")
    for d in domains:
        a.cmdlet("New-AcceptedDomain", "-Name", d, "-DomainName", d, "-DomainType",
                 "ExternalRelay")
    a.cmdlet("New-SendConnector", "-Name", "Out", "-AddressSpaces", "*", "-SmartHosts",
             "127.0.0.1", "-DNSRoutingEnabled", "$false", "-Port", str(port),
             "-ProtocolLoggingLevel", "Verbose", *connector_args)
    set_timers(a, **FAST_TIMERS)
    return a


def b_with_certificate(instances, ca):
    authority, leaf = ca
    b = receiver_instance(instances, "b", ["b.test"], ["user@b.test"], start=False)
    r = b.cmdlet("Import-ExchangeCertificate", "-FileName", leaf.bundle)
    tp = re.search(r"^Thumbprint\s*:\s*([0-9A-F]{40})$", r.stdout, re.M).group(1)
    b.cmdlet("Enable-ExchangeCertificate", "-Thumbprint", tp, "-Services", "SMTP")
    return b.start()


def submit_tls(a, rcpt, subject, requiretls=True):
    """alice@a.test → rcpt over STARTTLS (authenticated: A relays for her)."""
    with a.smtp() as c:
        c.ehlo("client.test")
        assert c.starttls(context=client_context())[0] == 220
        c.ehlo("client.test")
        c.login("alice@a.test", "Secret-1234")
        code, text = c.mail("alice@a.test", ["REQUIRETLS"] if requiretls else [])
        assert code == 250, text
        assert c.rcpt(rcpt)[0] == 250
        code, reply = c.data(message(subject=subject, sender="alice@a.test", to=rcpt).encode())
        assert code == 250, reply


def bounce_for(a, rcpt):
    reps = wait_for(lambda: reports(a, "alice@a.test", "failed"), timeout=30,
                    what=f"the report about {rcpt}")
    blocks = [blk for _, bl in reps for blk in bl]
    mine = [blk for blk in blocks if blk["final-recipient"].split(";", 1)[1].strip() == rcpt]
    assert mine, blocks
    return mine[0]


def test_verified_hop_carries_requiretls(instances, ca):
    authority, _ = ca
    b = b_with_certificate(instances, ca)
    a = relay_a(instances, b.port, ["-RequireTLS", "$true", "-TlsAuthLevel", "DomainValidation",
                                    "-TlsDomain", "mail.b.test"])
    a.cmdlet("Import-Certificate", "-FilePath", authority.cert, "-CertStoreLocation",
             "Cert:\\LocalMachine\\Root")
    a.start()
    submit_tls(a, "user@b.test", "secret")
    submit_tls(a, "user@b.test", "plain", requiretls=False)
    files = wait_for(lambda: len(maildir(b, "user@b.test")) == 2 and maildir(b, "user@b.test"),
                     timeout=30, what="both deliveries")
    assert {re.search(rb"Subject: (\w+)", f[1]).group(1) for f in files} == {b"secret", b"plain"}
    mails = wait_for(lambda: [r["data"] for r in receive_log(b)
                              if r["data"].upper().startswith("MAIL FROM:")], what="B's log")
    assert sum("REQUIRETLS" in m.upper() for m in mails) == 1, mails


def test_unverified_hop_returns_the_message(instances, ca):
    b = b_with_certificate(instances, ca)
    a = relay_a(instances, b.port, [])  # opportunistic: TLS, but nothing checks B
    a.start()
    submit_tls(a, "user@b.test", "secret")
    blk = bounce_for(a, "user@b.test")
    assert blk["status"] == "5.7.30", blk
    assert "REQUIRETLS" in blk["diagnostic-code"], blk
    assert "was not verified" in blk["diagnostic-code"], blk
    # the same connector still takes ordinary mail to B
    submit_tls(a, "user@b.test", "plain", requiretls=False)
    files = wait_for(lambda: maildir(b, "user@b.test"), timeout=30, what="the plain delivery")
    assert len(files) == 1 and b"Subject: plain" in files[0][1]


def test_peer_without_requiretls_returns_the_message(instances, workdir):
    with Postfix(workdir, domain="peer.test") as pf:
        a = relay_a(instances, pf.port, ["-RequireTLS", "$true", "-TlsAuthLevel",
                                         "DomainValidation", "-TlsDomain", pf.hostname],
                    domains=("peer.test",))
        a.cmdlet("Import-Certificate", "-FilePath", pf.cert, "-CertStoreLocation",
                 "Cert:\\LocalMachine\\Root")
        a.start()
        submit_tls(a, "user@peer.test", "secret")
        blk = bounce_for(a, "user@peer.test")
        assert blk["status"] == "5.7.30", blk
        assert "does not offer REQUIRETLS" in blk["diagnostic-code"], blk
        assert not pf.mailbox("user")  # nothing reached Postfix
