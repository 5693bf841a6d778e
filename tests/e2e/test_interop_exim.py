"""Interoperability with Exim (Debian's exim4 4.96, GnuTLS), in both directions.

postern -> Exim: a Send connector with Exim as its smart host; Exim takes
mail for exim.test into Maildirs. Exim -> postern: a client hands Exim mail
for a.test, which Exim relays to postern's Receive connector; postern puts
it into alice@a.test's Maildir. Each direction: plain SMTP, STARTTLS, and
mutual TLS (postern's domain security with a test CA; Exim asks for, or
presents, a certificate from the same CA).

Every case checks that the message arrived with the protection asked for,
and that Exim's logs hold no complaint about the TLS session (a missing
close_notify shows up there as "The TLS connection was non-properly
terminated").

Exim is not installed (its packages conflict with postfix): `make deps`
unpacks it (tests/e2e/fetch_exim.sh); without it these tests are skipped.
"""
import os
import re
import shutil
import tempfile

import pytest

import pki
from conftest import free_port, message, wait_for
from exim_peer import Exim
from peers import FAST_TIMERS, maildir, set_timers, submit, wait_queue_empty

MODES = ["plain", "starttls", "mutual"]
# How a session ends in Exim's main log (log_selector +smtp_connection),
# well or badly; the TLS check waits for one of these.
SESSION_END = ("closed by QUIT", "connection lost", "TLS error", "unexpected disconnection",
               "Completed")


@pytest.fixture(scope="module")
def certs():
    """A test CA, postern's certificate (mail.a.test, a.test) and Exim's
    (mx.exim.test, exim.test)."""
    why = Exim.available()
    if why:
        pytest.skip(why)
    base = tempfile.mkdtemp(prefix="postern-exim-pki-", dir="/tmp")
    os.chmod(base, 0o755)

    class Certs:
        ca = pki.TestCA(base)
        postern = ca.issue("mail.a.test", ["mail.a.test", "a.test"], name="postern")
        exim = ca.issue("mx.exim.test", ["mx.exim.test", "exim.test"], name="exim")

    yield Certs
    shutil.rmtree(base, ignore_errors=True)


def install_cert(inst, certs):
    """postern's CA-issued certificate enabled for SMTP, and the test CA trusted."""
    r = inst.cmdlet("Import-ExchangeCertificate", "-FileName", certs.postern.bundle)
    tp = re.search(r"^Thumbprint\s*:\s*([0-9A-F]{40})$", r.stdout, re.M).group(1)
    inst.cmdlet("Enable-ExchangeCertificate", "-Thumbprint", tp, "-Services", "SMTP")
    inst.cmdlet("Import-Certificate", "-FilePath", certs.ca.cert, "-CertStoreLocation",
                "Cert:\\LocalMachine\\Root")


def postern(instances):
    """mail.a.test accepting a.test (mailbox alice), fast retries, protocol logs on."""
    inst = instances("a")
    inst.cmdlet("New-AcceptedDomain", "-Name", "a.test", "-DomainName", "a.test")
    inst.cmdlet("New-Mailbox", "-Name", "alice", "-PrimarySmtpAddress", "alice@a.test",
                "-Password", "Secret-1234")
    inst.cmdlet("Set-ReceiveConnector", "Default mail", "-ProtocolLoggingLevel", "Verbose")
    set_timers(inst, **FAST_TIMERS)
    return inst


def session_ended(exim, marker):
    """The main log lines after the first one containing marker, once one of
    them says how that session ended."""
    lines = exim.mainlog().splitlines()
    start = next((i for i, l in enumerate(lines) if marker in l), None)
    if start is None:
        return None
    after = lines[start:]
    return after if any(e in l for l in after for e in SESSION_END) else None


def assert_no_tls_complaint(exim, marker):
    """Waits until Exim has logged the end of the session whose line contains
    marker, then checks its logs for TLS complaints."""
    try:
        wait_for(lambda: session_ended(exim, marker), timeout=15)
    except AssertionError:
        raise AssertionError(f"Exim logged no end of the session ({marker}):\n"
                             f"{exim.mainlog()}") from None
    complaints = exim.tls_complaints()
    assert not complaints, "Exim complains about TLS:\n" + "\n".join(complaints)


@pytest.mark.parametrize("mode", MODES)
def test_postern_to_exim(instances, workdir, certs, mode):
    exim_port = free_port()
    a = postern(instances)
    a.cmdlet("New-AcceptedDomain", "-Name", "exim.test", "-DomainName", "exim.test",
             "-DomainType", "ExternalRelay")
    extra = ["-DomainSecureEnabled", "$true"] if mode == "mutual" else []
    a.cmdlet("New-SendConnector", "-Name", "ToExim", "-AddressSpaces", "exim.test",
             "-SmartHosts", "127.0.0.1", "-DNSRoutingEnabled", "$false", "-Port",
             str(exim_port), "-ProtocolLoggingLevel", "Verbose", *extra)
    if mode == "mutual":
        install_cert(a, certs)
        a.cmdlet("Set-TransportConfig", "-TLSSendDomainSecureList", "exim.test")
    tls = mode != "plain"
    with Exim(workdir, exim_port, tls=tls, server_cert=certs.exim if tls else None,
              ca=certs.ca.cert if mode == "mutual" else None,
              require_client_cert=mode == "mutual") as exim:
        a.start()
        subject = f"postern to Exim, {mode}"
        submit(a, "alice@a.test", ["user@exim.test"], message(subject=subject,
                                                              to="user@exim.test",
                                                              sender="alice@a.test"))
        got = exim.wait_mail("user")
        wait_queue_empty(a)
        assert len(got) == 1 and f"Subject: {subject}".encode() in got[0]
        received = [l for l in exim.mainlog().splitlines() if " <= alice@a.test " in l]
        assert len(received) == 1, exim.mainlog()
        line = received[0]
        if tls:
            assert re.search(r" X=TLS1\.[23]:", line), line
        else:
            assert " X=" not in line, line
        if mode == "mutual":
            # Exim required and verified postern's client certificate
            assert " CV=yes" in line and 'DN="CN=mail.a.test"' in line, line
        assert_no_tls_complaint(exim, " <= alice@a.test ")


@pytest.mark.parametrize("mode", MODES)
def test_exim_to_postern(instances, workdir, certs, mode):
    a = postern(instances)
    if mode == "mutual":
        install_cert(a, certs)
        a.cmdlet("Set-ReceiveConnector", "Default mail", "-DomainSecureEnabled", "$true")
        a.cmdlet("Set-TransportConfig", "-TLSReceiveDomainSecureList", "exim.test")
    a.start()
    exim_port = free_port()
    with Exim(workdir, exim_port, postern_port=a.port, to_postern={"plain": "plain",
                                                                   "starttls": "tls",
                                                                   "mutual": "mutual"}[mode],
              ca=certs.ca.cert if mode == "mutual" else None,
              client_cert=certs.exim if mode == "mutual" else None) as exim:
        subject = f"Exim to postern, {mode}"
        with a.smtp(port=exim_port) as c:
            refused = c.sendmail("carol@exim.test", ["alice@a.test"],
                                 message(subject=subject, sender="carol@exim.test"))
        assert refused == {}
        # Exim is done with it ("Completed", after any retries); then postern
        # must have delivered it exactly once.
        try:
            wait_for(lambda: " Completed" in exim.mainlog() and maildir(a, "alice@a.test"),
                     timeout=20)
        except AssertionError:
            raise AssertionError(f"Exim did not complete the delivery, or nothing is in "
                                 f"alice's Maildir; Exim's log:\n{exim.mainlog()}") from None
        wait_queue_empty(a)
        got = maildir(a, "alice@a.test")
        assert len(got) == 1, (f"{len(got)} copies in alice's Maildir; Exim's log:\n"
                               f"{exim.mainlog()}")
        raw = got[0][1]
        head = raw.split(b"\r\n\r\n")[0].decode(errors="replace")
        assert f"Subject: {subject}" in head
        top = head.split("\r\nReceived:")[0]  # postern's own Received: field comes first
        if mode == "plain":
            assert "with ESMTP " in top and "ESMTPS" not in top, top
        else:
            assert re.search(r"with ESMTPS .*version=TLSv1\.[23]", top, re.S), top
        if mode == "mutual":
            assert "X-Postern-Domain-Secured: exim.test" in head, head
            assert "domain-secured=exim.test" in top, top
        else:
            assert "X-Postern-Domain-Secured" not in head
        sent = [l for l in exim.mainlog().splitlines() if " => alice@a.test " in l]
        assert len(sent) == 1 and " == alice@a.test " not in exim.mainlog(), exim.mainlog()
        if mode == "mutual":
            # Exim verified postern's certificate against the test CA
            assert " CV=yes" in sent[0] and 'DN="CN=mail.a.test"' in sent[0], sent[0]
        assert_no_tls_complaint(exim, " => alice@a.test ")
