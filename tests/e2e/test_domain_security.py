"""Domain Security (mutual TLS with partner domains), end to end.

docs/exchange-model.md, domain security: instance A (mail.a.test, a.test) sends to
instance B (mail.b.test, b.test) over a Send connector with
DomainSecureEnabled, b.test in A's TLSSendDomainSecureList, a.test in B's
TLSReceiveDomainSecureList; both have a certificate from a test CA (pki.py)
naming their FQDN and their domain, and trust that CA.

Failures on each side use peers that present the wrong thing: Python's ssl
as client (receive side), and on the send side small TLS SMTP servers of
our own (postern refuses to serve an expired certificate, so it cannot be
the bad partner) as well as real postern instances.
"""
import datetime
import os
import re
import ssl
import threading
import time

import pytest

import pki
from conftest import SLOW, client_context, free_port, message, wait_for
from peers import (FAST_TIMERS, LoopbackServer, ScriptedSMTP, maildir, queue_named, receive_log,
                   reports, send_log, set_timers, tracking)

PASSWORD = "Secret-1234"


# ---------------------------------------------------------------------------
# PKI: one CA and its certificates for the whole module (key generation is
# the slow part)


@pytest.fixture(scope="module")
def certs(pki_dir):
    return pki.TwoDomains(pki_dir)


# ---------------------------------------------------------------------------
# instance set-up


def install_cert(inst, path, check=True, password=None):
    """Import-ExchangeCertificate + Enable-ExchangeCertificate -Services SMTP;
    returns the thumbprint (or the failed CompletedProcess when check=False)."""
    args = ["Import-ExchangeCertificate", "-FileName", path]
    if password is not None:
        args += ["-Password", password]
    r = inst.cmdlet(*args, check=check)
    if r.returncode != 0:
        return r
    m = re.search(r"^Thumbprint\s*:\s*([0-9A-F]{40})$", r.stdout, re.M)
    assert m, f"no thumbprint in the Import-ExchangeCertificate output:\n{r.stdout}"
    tp = m.group(1)
    inst.cmdlet("Enable-ExchangeCertificate", "-Thumbprint", tp, "-Services", "SMTP")
    return tp


def trust(inst, path):
    """Import-Certificate into Cert:\\LocalMachine\\Root (a CA, or a CRL)."""
    return inst.cmdlet("Import-Certificate", "-FilePath", path, "-CertStoreLocation",
                       "Cert:\\LocalMachine\\Root")


def domain_instance(instances, certs, name, leaf=None, lmtp=None, port=None):
    """mail.<name>.test accepting <name>.test (mailbox user <name>: alice for a,
    bob for b), with leaf imported and enabled, the test CA trusted, fast retry
    timers and verbose receive protocol log. Not started."""
    inst = instances(name, port=port)
    domain = f"{name}.test"
    args = ["New-AcceptedDomain", "-Name", domain, "-DomainName", domain]
    if lmtp:
        args += ["-LmtpServer", lmtp]
    inst.cmdlet(*args)
    user = {"a": "alice", "b": "bob"}.get(name, "user")
    inst.cmdlet("New-Mailbox", "-Name", user, "-PrimarySmtpAddress", f"{user}@{domain}",
                "-Password", PASSWORD)
    if leaf is not None:
        inst.thumbprint = install_cert(inst, leaf.bundle)
    trust(inst, certs.ca.cert)
    set_timers(inst, **FAST_TIMERS)
    inst.cmdlet("Set-ReceiveConnector", "Default mail", "-ProtocolLoggingLevel", "Verbose")
    return inst


def make_b(instances, certs, lmtp=None, extra=()):
    b = domain_instance(instances, certs, "b", certs.b, lmtp=lmtp)
    b.cmdlet("Set-ReceiveConnector", "Default mail", "-DomainSecureEnabled", "$true", *extra)
    b.cmdlet("Set-TransportConfig", "-TLSReceiveDomainSecureList", "a.test")
    return b


def secure_connector(inst, name, domain, port):
    inst.cmdlet("New-SendConnector", "-Name", name, "-AddressSpaces", domain, "-SmartHosts",
                "127.0.0.1", "-DNSRoutingEnabled", "$false", "-Port", str(port),
                "-DomainSecureEnabled", "$true", "-ProtocolLoggingLevel", "Verbose")


def make_a(instances, certs, partners):
    """A sending to each (domain, port) of partners through its own
    domain-secure Send connector; all those domains in TLSSendDomainSecureList."""
    a = domain_instance(instances, certs, "a", certs.a)
    for i, (domain, port) in enumerate(partners):
        secure_connector(a, f"To{i}-{domain}", domain, port)
    a.cmdlet("Set-TransportConfig", "-TLSSendDomainSecureList",
             ",".join(d for d, _ in partners))
    return a


def submit_auth(inst, user, rcpts, msg, sender=None):
    """Submits as an authenticated user (STARTTLS + AUTH): A relays to partners."""
    with inst.smtp() as c:
        c.ehlo("client.test")
        c.starttls(context=client_context())
        c.ehlo("client.test")
        c.login(user, PASSWORD)
        refused = c.sendmail(sender or user, rcpts, msg)
        assert not refused, refused
        code, reply = c.noop()
        assert code == 250


def tls_session(inst, leaf=None):
    """An SMTP session with STARTTLS done (leaf as client certificate)."""
    c = inst.smtp()
    c.ehlo("client.test")
    code, _ = c.starttls(context=client_context(leaf=leaf))
    assert code == 220
    c.ehlo("client.test")
    return c


def fingerprint(c):
    return pki.der_thumbprint(c.sock.getpeercert(binary_form=True))


def headers_of(raw):
    """The header section, with LF line ends (Maildir files have LF)."""
    text = raw.decode("utf-8", "replace").replace("\r\n", "\n")
    return text.split("\n\n", 1)[0]


def unfold(head):
    return re.sub(r"\n[ \t]+", " ", head)


def log_since(inst, offset):
    return inst.log()[offset:]


# ---------------------------------------------------------------------------
# A TLS SMTP server that presents whatever certificate a test gives it


class TLSPeer(LoopbackServer):
    """A scripted partner MTA (written here) on loopback: offers STARTTLS with cert/key
    (or no STARTTLS at all), asks for and records the client's certificate, accepts mail.
    Records every command line, the client certificates (DER) and messages."""

    def __init__(self, cert=None, key=None, cafile=None, port=0, name="partner.test"):
        super().__init__(port=port)
        self.name = name
        self.ctx = None
        if cert:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(cert, key)
            if cafile:
                self.ctx.load_verify_locations(cafile)
                self.ctx.verify_mode = ssl.CERT_OPTIONAL
        self.commands = []
        self.client_certs = []
        self.messages = []

    def mail_commands(self):
        with self.lock:
            return [c for c in self.commands if c.upper().startswith("MAIL")]

    def serve(self, conn):
        conn.settimeout(20)
        sock = conn
        f = sock.makefile("rb")
        tls = False

        def send(line):
            sock.sendall(line.encode() + b"\r\n")

        try:
            send(f"220 {self.name} ESMTP")
            while not self.stopping.is_set():
                raw = f.readline()
                if not raw:
                    return
                line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
                with self.lock:
                    self.commands.append(line)
                verb = line.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    exts = ["PIPELINING", "8BITMIME"]
                    if self.ctx and not tls:
                        exts.append("STARTTLS")
                    send("\r\n".join([f"250-{self.name}"] + [f"250-{e}" for e in exts[:-1]] +
                                     [f"250 {exts[-1]}"]))
                elif verb == "STARTTLS" and self.ctx and not tls:
                    send("220 2.0.0 go ahead")
                    f.close()
                    sock = self.track(self.ctx.wrap_socket(conn, server_side=True))
                    with self.lock:
                        self.client_certs.append(sock.getpeercert(binary_form=True))
                    f = sock.makefile("rb")
                    tls = True
                elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                    send("250 2.0.0 Ok")
                elif verb == "DATA":
                    send("354 go ahead")
                    lines = []
                    while True:
                        raw = f.readline()
                        if not raw:
                            return
                        if raw == b".\r\n":
                            break
                        lines.append(raw)
                    with self.lock:
                        self.messages.append(b"".join(lines))
                    send("250 2.0.0 Ok: queued")
                elif verb == "QUIT":
                    send("221 2.0.0 Bye")
                    return
                else:
                    send("502 5.5.2 not implemented")
        finally:
            f.close()
            sock.close()


# ---------------------------------------------------------------------------
# 1. A -> B, domain-secured


def test_mail_flows_domain_secured(instances, certs):
    b = make_b(instances, certs)
    a = make_a(instances, certs, [("b.test", b.port)])
    b.start()
    a.start()

    submit_auth(a, "alice@a.test", ["bob@b.test"],
                message(subject="secured one", sender="alice@a.test", to="bob@b.test"))
    got = wait_for(lambda: maildir(b, "bob@b.test"), timeout=15,
                   what=f"the message in bob's Maildir on B; A's queues: {a.get('Get-Queue')}")
    head = headers_of(got[0][1])
    flat = unfold(head)

    # the mark, once, with the proved domain
    assert re.findall(r"^X-Postern-Domain-Secured:.*$", head, re.M | re.I) == \
        ["X-Postern-Domain-Secured: a.test"], head
    # B's Received: says how it came: ESMTPS from A, domain-secured for a.test
    received = [h for h in flat.split("\n") if h.startswith("Received:")]
    by_b = [h for h in received if "by mail.b.test" in h]
    assert by_b, head
    assert "with ESMTPS" in by_b[0], by_b[0]

    # B's message tracking: the RECEIVE says DomainSecured
    def received_event():
        return [r for r in tracking(b) if r.get("event-id") == "RECEIVE"]

    rec = wait_for(received_event, what="a RECEIVE in B's message tracking log")
    assert any(r.get("message-info") == "DomainSecured=a.test" for r in rec), rec
    # B's receive protocol log has the "domain secured" line for a.test
    wait_for(lambda: any(r["context"].startswith("domain secured") and r["data"] == "a.test"
                         for r in receive_log(b)),
             what="the \"domain secured\" line in B's receive protocol log: " +
             "; ".join(f"{r['data']} | {r['context']}" for r in receive_log(b)))
    # A checked B's certificate (trusted, names b.test)
    passed = wait_for(lambda: [r for r in send_log(a)
                               if r["context"] == "TLS certificate check passed"],
                      what="\"TLS certificate check passed\" in A's send protocol log")
    assert "names b.test" in passed[0]["data"], passed
    assert not [r for r in send_log(a) if r["context"] == "TLS certificate check failed"]

    # while the message is still queued on B, Get-Message says DomainSecured
    b.cmdlet("Set-AcceptedDomain", "b.test", "-LmtpServer", "127.0.0.1:1")
    submit_auth(a, "alice@a.test", ["bob@b.test"],
                message(subject="held on B", sender="alice@a.test", to="bob@b.test"))

    def held():
        return [m for m in b.get("Get-Message") if "held on B" in m.get("Subject", "")]

    msgs = wait_for(held, timeout=15, what="the second message queued on B")
    assert msgs[0].get("DomainSecured") == "a.test", msgs[0]

    # last, as the other checks do not depend on it
    assert "domain-secured=a.test" in by_b[0], \
        f"B's Received: header does not carry domain-secured=a.test:\n{by_b[0]}"


# ---------------------------------------------------------------------------
# 2. the header firewall


def test_header_firewall_strips_forged_mark(instances, certs):
    b = make_b(instances, certs)
    b.start()
    forged = ("From: mallory@c.test\r\nTo: bob@b.test\r\nSubject: forged\r\n"
              "X-Postern-Domain-Secured: a.test\r\n\tcontinued-line-of-forgery\r\n"
              "X-Keep: kept\r\n"
              "x-postern-domain-secured : a.test\r\n"
              "Message-ID: <forged@c.test>\r\n\r\nbody\r\n")
    # plain session, sender outside the list: accepted, but not secured
    with b.smtp() as c:
        c.ehlo("client.test")
        c.sendmail("mallory@c.test", ["bob@b.test"], forged)
    # TLS with a trusted certificate but not domain-secured (c.test is not listed)
    with tls_session(b, certs.a) as c:
        c.sendmail("mallory@c.test", ["bob@b.test"], forged.replace("forged@", "forged2@"))
    got = wait_for(lambda: len(maildir(b, "bob@b.test")) >= 2 and maildir(b, "bob@b.test"),
                   what="both messages in bob's Maildir")
    for _, raw in got:
        head = headers_of(raw)
        assert "domain-secured" not in head.lower(), head
        assert "continued-line-of-forgery" not in head, head
        assert "X-Keep: kept" in head and "Subject: forged" in head, head
    # each removal is in the protocol log (the forged field appears twice per message)
    wait_for(lambda: sum(r["context"] == "header removed by the header firewall"
                         for r in receive_log(b)) >= 4,
             what="the header firewall's lines in B's receive protocol log")


def test_header_firewall_keeps_only_own_mark_for_secured_sender(instances, certs):
    """A domain-secured partner cannot choose the mark either: it gets ours."""
    b = make_b(instances, certs)
    b.start()
    msg = ("From: carol@a.test\r\nTo: bob@b.test\r\nSubject: partner\r\n"
           "X-Postern-Domain-Secured: c.test\r\nMessage-ID: <p@a.test>\r\n\r\nbody\r\n")
    with tls_session(b, certs.a) as c:
        c.sendmail("carol@a.test", ["bob@b.test"], msg)
    got = wait_for(lambda: maildir(b, "bob@b.test"), what="the message in bob's Maildir")
    head = headers_of(got[0][1])
    assert re.findall(r"^X-Postern-Domain-Secured:.*$", head, re.M | re.I) == \
        ["X-Postern-Domain-Secured: a.test"], head


# ---------------------------------------------------------------------------
# 3a. receive side failures


RECEIVE_CASES = ["NoTLS", "NoCertificate", "UntrustedRoot", "NameMismatch", "Expired", "Revoked"]


@pytest.mark.parametrize("reason", RECEIVE_CASES)
def test_receive_side_refuses(instances, certs, reason):
    b = make_b(instances, certs)
    b.start()
    client = None
    if reason == "UntrustedRoot":
        client = pki.self_signed(os.path.join(certs.base, "ss-a"), "mail.a.test",
                                 ["mail.a.test", "a.test"])
    elif reason == "NameMismatch":
        client = certs.ca.issue("mail.c.test", ["mail.c.test", "c.test"])
    elif reason == "Expired":
        client = certs.ca.issue_expired("mail.a.test", ["mail.a.test", "a.test"])
    elif reason == "Revoked":
        client = certs.ca.issue("mail.a.test", ["mail.a.test", "a.test"])
        # accepted while no CRL says otherwise: the CRL is what refuses it
        with tls_session(b, client) as c:
            assert c.mail("carol@a.test")[0] == 250
        certs.ca.revoke(client)
        out = trust(b, certs.ca.crl(name=f"crl-{time.time_ns()}.pem")).stdout
        assert "CRL of" in out, out

    offset = len(b.log())
    if reason == "NoTLS":
        c = b.smtp()
        c.ehlo("client.test")
    else:
        c = tls_session(b, client)
    with c:
        code, text = c.docmd("MAIL FROM:<carol@a.test>")
        assert code == 454, (code, text)
        assert text.startswith(b"4.7.5") and reason.encode() in text, text
        # nothing was accepted: there is no sender for a recipient
        assert c.rcpt("bob@b.test")[0] == 503
        # in the same session, a sender whose domain is not listed still works
        assert c.mail("carol@c.test")[0] == 250
        assert c.rcpt("bob@b.test")[0] == 250
        assert c.data(message(sender="carol@c.test", to="bob@b.test"))[0] == 250
    wait_for(lambda: f"check={reason}" in log_since(b, offset),
             what=f"B's log to name the check {reason}: {log_since(b, offset)}")
    assert re.search(r"domain security failed .*domain=a\.test check=" + reason,
                     log_since(b, offset))
    wait_for(lambda: any(r["context"] == "domain security failed" for r in receive_log(b)) and
             any(r["data"].startswith("454 4.7.5") and reason in r["data"]
                 for r in receive_log(b)),
             what="the refusal in B's receive protocol log")
    # only the c.test message arrived, unmarked
    got = wait_for(lambda: maildir(b, "bob@b.test"), what="the c.test message")
    assert len(got) == 1
    assert b"carol@c.test" in got[0][1] and b"Domain-Secured" not in got[0][1]


def test_receive_side_accepts_listed_domain_with_good_certificate(instances, certs):
    """The counterpart of the refusals: the same client session with A's
    certificate is accepted and marked."""
    b = make_b(instances, certs)
    b.start()
    with tls_session(b, certs.a) as c:
        c.sendmail("carol@a.test", ["bob@b.test"], message(sender="carol@a.test",
                                                           to="bob@b.test"))
    got = wait_for(lambda: maildir(b, "bob@b.test"), what="the message in bob's Maildir")
    assert "X-Postern-Domain-Secured: a.test" in headers_of(got[0][1]).split("\n")


def test_partners_only_connector(instances, certs):
    """PermissionGroups Partners: domain-secured mail is accepted, anonymous
    mail is not."""
    b = make_b(instances, certs, extra=("-PermissionGroups", "Partners"))
    b.start()
    with b.smtp() as c:
        c.ehlo("client.test")
        code, text = c.docmd("MAIL FROM:<carol@c.test>")
        assert code == 530, (code, text)
    with tls_session(b) as c:  # TLS, but no certificate and not a partner domain
        code, text = c.docmd("MAIL FROM:<carol@c.test>")
        assert code == 530, (code, text)
    with tls_session(b, certs.a) as c:
        code, text = c.docmd("MAIL FROM:<carol@a.test>")
        assert code == 250, f"domain-secured partner mail refused on a Partners connector: " \
                            f"{code} {text}"
        assert c.rcpt("bob@b.test")[0] == 250
        assert c.data(message(sender="carol@a.test", to="bob@b.test"))[0] == 250
    got = wait_for(lambda: maildir(b, "bob@b.test"), what="the partner's message")
    assert b"X-Postern-Domain-Secured: a.test" in got[0][1]


# ---------------------------------------------------------------------------
# 3b. send side failures


def test_send_side_refuses_bad_partners(instances, certs, workdir):
    """One A, five partner domains that each fail differently; mail to them
    waits in a queue per domain (Retry, LastError naming the reason) while
    other mail flows; at expiry alice gets a bounce naming the reason."""
    ca = certs.ca
    ss = pki.self_signed(os.path.join(workdir, "ss"), "mail.untrusted.test",
                         ["mail.untrusted.test", "untrusted.test"])
    wrong = ca.issue("mail.wrongname.test", ["mail.other.test", "other.test"])
    expired = ca.issue_expired("mail.expired.test", ["mail.expired.test", "expired.test"])
    revoked = ca.issue("mail.revoked.test", ["mail.revoked.test", "revoked.test"])
    ca.revoke(revoked)
    crl = ca.crl(name=f"crl-{time.time_ns()}.pem")

    # a real postern partner whose receive connector has no TLS at all
    notls = instances("notls", fqdn="mail.notls.test")
    notls.cmdlet("New-AcceptedDomain", "-Name", "notls.test", "-DomainName", "notls.test")
    notls.cmdlet("New-Mailbox", "-Name", "n", "-PrimarySmtpAddress", "n@notls.test",
                 "-Password", PASSWORD)
    notls.cmdlet("Set-ReceiveConnector", "Default mail", "-AuthMechanism", "None")
    # a real postern partner with only its setup's self-signed certificate
    selfs = instances("selfsigned", fqdn="mail.selfsigned.test")
    selfs.cmdlet("New-AcceptedDomain", "-Name", "selfsigned.test", "-DomainName",
                 "selfsigned.test")
    selfs.cmdlet("New-Mailbox", "-Name", "s", "-PrimarySmtpAddress", "s@selfsigned.test",
                 "-Password", PASSWORD)

    with TLSPeer(ss.cert, ss.key, ca.cert, name="mail.untrusted.test") as p_untrusted, \
            TLSPeer(wrong.bundle, wrong.key, ca.cert, name="mail.wrongname.test") as p_wrong, \
            TLSPeer(expired.bundle, expired.key, ca.cert, name="mail.expired.test") as p_exp, \
            TLSPeer(revoked.bundle, revoked.key, ca.cert, name="mail.revoked.test") as p_rev, \
            ScriptedSMTP() as sink_c:
        cases = {
            # domain: (port, reason in LastError, what received our connection)
            "notls.test": (notls.port, "STARTTLS", None),
            "selfsigned.test": (selfs.port, "UntrustedRoot", None),
            "untrusted.test": (p_untrusted.port, "UntrustedRoot", p_untrusted),
            "wrongname.test": (p_wrong.port, "NameMismatch", p_wrong),
            "expired.test": (p_exp.port, "Expired", p_exp),
            "revoked.test": (p_rev.port, "Revoked", p_rev),
        }
        notls.start()
        selfs.start()
        a = make_a(instances, certs, [(d, v[0]) for d, v in cases.items()])
        a.cmdlet("New-SendConnector", "-Name", "ToC", "-AddressSpaces", "c.test", "-SmartHosts",
                 "127.0.0.1", "-DNSRoutingEnabled", "$false", "-Port", str(sink_c.port))
        out = trust(a, crl).stdout
        assert "CRL of" in out, out
        a.start()
        rcpts = [f"user@{d}" for d in cases]
        for r in rcpts:
            submit_auth(a, "alice@a.test", [r], message(subject=f"to {r}",
                                                        sender="alice@a.test", to=r))

        failures = []

        def queue_state(domain):
            q = queue_named(a, domain)
            return q if q and q.get("Status") == "Retry" and q.get("LastError") else None

        for domain, (port, reason, peer) in cases.items():
            try:
                q = wait_for(lambda: queue_state(domain), timeout=15,
                             what=f"a {domain} queue in Retry: {a.get('Get-Queue')}")
            except AssertionError as e:
                failures.append(str(e))
                continue
            if reason not in q["LastError"]:
                failures.append(f"{domain}: LastError does not name {reason}: {q['LastError']}")
            if q["MessageCount"] != "1":
                failures.append(f"{domain}: MessageCount {q['MessageCount']}")
            if peer is not None:
                if peer.mail_commands():
                    failures.append(f"{domain}: A sent {peer.mail_commands()} to the bad peer")
                # A did present its own certificate
                tps = [pki.der_thumbprint(d) for d in peer.client_certs if d]
                if certs.a.thumbprint not in tps:
                    failures.append(f"{domain}: A presented no client certificate "
                                    f"(got {tps})")
        # the real postern partners received nothing either
        assert not maildir(notls, "n@notls.test") and not maildir(selfs, "s@selfsigned.test")
        assert not notls.queued_ids() and not selfs.queued_ids()
        # the protocol log says why
        def checks_failed():
            rows = [r for r in send_log(a) if r["context"] == "TLS certificate check failed"]
            return rows if len({r["connector-id"] for r in rows}) >= 5 else None

        wait_for(checks_failed, what="a \"TLS certificate check failed\" line in the send "
                 "protocol log for each of the five partners with TLS: " +
                 "\n".join(f"{r['connector-id']} {r['data']} | {r['context']}"
                           for r in send_log(a)))

        # other mail keeps flowing: another connector, and local delivery
        submit_auth(a, "alice@a.test", ["carol@c.test", "alice@a.test"],
                    message(subject="unaffected", sender="alice@a.test", to="carol@c.test"))
        wait_for(lambda: sink_c.accepted(), what="the c.test message at its smart host")
        wait_for(lambda: any(b"unaffected" in raw for _, raw in maildir(a, "alice@a.test")),
                 what="the local copy for alice")

        # expiry: each held message bounces, its Diagnostic-Code naming the reason
        a.cmdlet("Set-TransportConfig", "-MessageExpirationTimeout", "00:00:06")

        def bounces():
            out = {}
            for raw, blocks in reports(a, "alice@a.test", "failed"):
                for blk in blocks:
                    rcpt = blk.get("final-recipient", "").split(";")[-1].strip().lower()
                    out[rcpt] = blk
            return out if all(r in out for r in rcpts) else None

        got = wait_for(bounces, timeout=30,
                       what=f"a bounce for each held recipient: {a.get('Get-Queue')}")
        for domain, (port, reason, peer) in cases.items():
            blk = got[f"user@{domain}"]
            if reason not in re.sub(r"\s+", " ", blk.get("diagnostic-code", "")):
                failures.append(f"{domain}: the bounce's Diagnostic-Code does not name "
                                f"{reason}: {blk}")
            # expiry: 4.4.7 (delivery time expired) as Exchange and Postfix report it
            if not re.fullmatch(r"4\.4\.7|5\.\d{1,3}\.\d{1,3}", blk.get("status", "")):
                failures.append(f"{domain}: bounce Status {blk.get('status')}")
        for peer in (p_untrusted, p_wrong, p_exp, p_rev):
            assert not peer.mail_commands()
        assert not failures, "\n".join(failures)


# ---------------------------------------------------------------------------
# 5. certificate rotation under load


def test_certificate_rotation_under_load(instances, certs):
    ca = certs.ca
    old = ca.issue("mail.b.test", ["mail.b.test", "b.test"],
                   startdate=pki.utc_stamp(datetime.timedelta(hours=-2)))
    new = ca.issue("mail.b.test", ["mail.b.test", "b.test"])
    b = domain_instance(instances, certs, "b", old)
    b.start()
    old_tp, new_tp = old.thumbprint, new.thumbprint
    assert b.thumbprint == old_tp

    results = []  # (start time, fingerprint, final reply code or exception)
    lock = threading.Lock()
    rotated_at = [None]
    rotated = threading.Event()

    def one():
        start = time.monotonic()
        try:
            with tls_session(b) as c:
                fp = fingerprint(c)
                c.mail("carol@c.test")
                c.rcpt("bob@b.test")
                code, _ = c.data(message(sender="carol@c.test", to="bob@b.test"))
        except Exception as e:  # noqa: BLE001 - every failure is a finding
            fp, code = None, repr(e)
        with lock:
            results.append((start, fp, code))

    def stream():
        sent = after = 0
        while sent < 40 or (after < 10 and sent < 300):
            # only a session that began after the rotation counts as after it
            began_after = rotated.is_set()
            one()
            sent += 1
            after += began_after

    threads = [threading.Thread(target=stream) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(results) >= 20, timeout=30, what="the stream to get going")
        tp = install_cert(b, new.bundle)
        assert tp == new_tp
        b.cmdlet("Remove-ExchangeCertificate", "-Thumbprint", old_tp)
        rotated_at[0] = time.monotonic()
        rotated.set()
    finally:
        for t in threads:
            t.join(timeout=120 * SLOW)
    assert not any(t.is_alive() for t in threads)

    failed = [r for r in results if r[2] != 250]
    assert not failed, f"{len(failed)} of {len(results)} sessions failed: {failed[:5]}"
    before = [r for r in results if r[0] < rotated_at[0]]
    after = [r for r in results if r[0] > rotated_at[0]]
    assert len(after) >= 30 and len(before) >= 20, (len(before), len(after))
    assert {r[1] for r in before} <= {old_tp, new_tp}
    assert {r[1] for r in results[:20]} == {old_tp}
    stale = [r for r in after if r[1] != new_tp]
    assert not stale, f"{len(stale)} sessions opened after the rotation saw {stale[0][1]}"
    assert all(m["Thumbprint"] != old_tp for m in b.get("Get-ExchangeCertificate"))
    # every message is there
    wait_for(lambda: len(maildir(b, "bob@b.test")) == len(results), timeout=30,
             what=f"{len(results)} messages in bob's Maildir")


def test_bad_replacement_is_refused(instances, certs, workdir):
    ca = certs.ca
    b = domain_instance(instances, certs, "b", certs.b)
    b.start()
    current = certs.b.thumbprint

    def served():
        with tls_session(b) as c:
            return fingerprint(c)

    assert served() == current
    # expired
    expired = ca.issue_expired("mail.b.test", ["mail.b.test", "b.test"])
    r = install_cert(b, expired.bundle, check=False)
    assert r.returncode != 0 and "expired" in r.stderr.lower(), (r.stdout, r.stderr)
    assert expired.thumbprint not in b.cmdlet("Get-ExchangeCertificate").stdout
    assert served() == current
    # a key that does not belong to the certificate
    other = ca.issue("mail.b.test", ["mail.b.test", "b.test"])
    stranger = pki.self_signed(os.path.join(workdir, "stranger"), "stranger.test")
    bad = other.write_bundle(key=stranger.key)
    r = install_cert(b, bad, check=False)
    assert r.returncode != 0 and "private key does not match" in r.stderr, (r.stdout, r.stderr)
    assert other.thumbprint not in b.cmdlet("Get-ExchangeCertificate").stdout
    assert served() == current
    # enabling a thumbprint that is not there is refused as well
    r = b.cmdlet("Enable-ExchangeCertificate", "-Thumbprint", other.thumbprint, "-Services",
                 "SMTP", check=False)
    assert r.returncode != 0 and other.thumbprint in r.stderr
    assert served() == current
    # while a good PKCS#12 replacement does take over
    p12 = other.pkcs12("p12-Secret")
    tp = install_cert(b, p12, password="p12-Secret")
    assert tp == other.thumbprint
    b.cmdlet("Remove-ExchangeCertificate", "-Thumbprint", current)
    assert served() == other.thumbprint


# ---------------------------------------------------------------------------
# 6. validation


def test_send_list_without_secure_connector_is_reported(instances, certs):
    a = domain_instance(instances, certs, "a", certs.a)
    a.cmdlet("New-SendConnector", "-Name", "Plain", "-AddressSpaces", "plain.test",
             "-SmartHosts", "127.0.0.1", "-DNSRoutingEnabled", "$false", "-Port", "2525")
    secure_connector(a, "Secure", "b.test", 2526)
    # routed by a domain-secure connector: no warning
    r = a.cmdlet("Set-TransportConfig", "-TLSSendDomainSecureList", "b.test")
    assert "WARNING" not in r.stderr, r.stderr
    # routed by a connector without DomainSecureEnabled, or by none
    r = a.cmdlet("Set-TransportConfig", "-TLSSendDomainSecureList",
                 "b.test,plain.test,nowhere.test", check=False)
    warnings = [l for l in r.stderr.splitlines() if "WARNING" in l]
    assert r.returncode != 0 or (any("plain.test" in l for l in warnings) and
                                 any("nowhere.test" in l for l in warnings)), r.stderr
    assert not any("b.test" in l.replace("plain.test", "") for l in warnings), warnings


def test_receive_connector_domain_secure_needs_tls(instances, certs):
    b = domain_instance(instances, certs, "b", certs.b)
    r = b.cmdlet("Set-ReceiveConnector", "Default mail", "-DomainSecureEnabled", "$true",
                 "-AuthMechanism", "None", check=False)
    assert r.returncode != 0 and "DomainSecureEnabled" in r.stderr and "Tls" in r.stderr
    rc = b.get("Get-ReceiveConnector", "Default mail")[0]
    assert rc["DomainSecureEnabled"] == "False" and "Tls" in rc["AuthMechanism"]
    # and the other way round: a domain-secure connector cannot drop Tls
    b.cmdlet("Set-ReceiveConnector", "Default mail", "-DomainSecureEnabled", "$true")
    r = b.cmdlet("Set-ReceiveConnector", "Default mail", "-AuthMechanism", "BasicAuth",
                 check=False)
    assert r.returncode != 0 and "DomainSecureEnabled" in r.stderr
    r = b.cmdlet("New-ReceiveConnector", "-Name", "Partner", "-Bindings",
                 f"127.0.0.1:{free_port()}", "-RemoteIPRanges", "127.0.0.2",
                 "-DomainSecureEnabled", "$true", "-AuthMechanism", "None", check=False)
    assert r.returncode != 0 and "DomainSecureEnabled" in r.stderr
    assert not [c for c in b.get("Get-ReceiveConnector") if c.get("Name") == "Partner"]


def test_send_connector_domain_secure_validation(instances, certs):
    a = domain_instance(instances, certs, "a", certs.a)
    r = a.cmdlet("New-SendConnector", "-Name", "Star", "-AddressSpaces", "*",
                 "-DomainSecureEnabled", "$true", check=False)
    assert r.returncode != 0 and "DomainSecureEnabled" in r.stderr
    r = a.cmdlet("New-SendConnector", "-Name", "Ignore", "-AddressSpaces", "b.test",
                 "-DomainSecureEnabled", "$true", "-IgnoreSTARTTLS", "$true", check=False)
    assert r.returncode != 0 and "IgnoreSTARTTLS" in r.stderr
    assert not a.get("Get-SendConnector")


def test_own_revoked_certificate_is_not_offered(instances, workdir):
    """docs/exchange-model.md: a certificate that our CRLs revoke is not used for
    STARTTLS; the next usable one (Setup's self-signed) takes over."""
    ca = pki.TestCA(workdir)
    inst = instances("b", fqdn="mail.b.test")
    leaf = ca.issue("mail.b.test", ["mail.b.test", "b.test"])
    tp = install_cert(inst, leaf.write_bundle())
    trust(inst, ca.cert)
    inst.start()

    def served():
        c = inst.smtp()
        c.ehlo("client.test")
        assert c.starttls(context=client_context())[0] == 220
        fp = pki.der_thumbprint(c.sock.getpeercert(binary_form=True))
        c.quit()
        return fp

    assert served() == tp
    ca.revoke(leaf)
    trust(inst, ca.crl())
    wait_for(lambda: served() != tp, what="the revoked certificate to be withdrawn")
    status = {c["Thumbprint"]: c["Status"] for c in inst.get("Get-ExchangeCertificate")}
    assert status[tp] == "Revoked"
