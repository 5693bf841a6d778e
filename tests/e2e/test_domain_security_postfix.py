"""Domain Security with Postfix as the partner, both directions.

Postfix -> postern: Postfix (a.test) relays through postern's
domain-secured receive connector with smtp_tls_security_level=secure and a
client certificate for a.test; postern marks the mail domain-secured.

postern -> Postfix: postern (a.test) sends b.test mail to a Postfix whose
smtpd demands a trusted client certificate (smtpd_tls_req_ccert=yes); the
mail is delivered and Postfix logs the client certificate as verified.

The Postfix instances are private ones (peers.Postfix), with the extra TLS
settings folded into the one `postconf -e` that peers.Postfix runs before
starting Postfix.
"""
import os
import re
import shutil
import smtplib

import pytest

import pki
from conftest import SLOW, message, wait_for
from peers import Postfix, maildir, send_log

from test_domain_security import domain_instance, make_b, secure_connector, submit_auth


class TLSPostfix(Postfix):
    """peers.Postfix with extra main.cf settings, applied before Postfix starts
    (they replace the same parameters of the base configuration)."""

    def __init__(self, base, extra, **kw):
        super().__init__(base, **kw)
        self.extra = dict(extra)

    def postconf(self, *args):
        if args and args[0] == "-e" and self.extra:
            kept = [a for a in args[1:] if a.split("=", 1)[0] not in self.extra]
            args = ("-e", *kept, *(f"{k}={v}" for k, v in self.extra.items()))
            self.extra = {}
        return super().postconf(*args)


@pytest.fixture(scope="module")
def certs(pki_dir):
    return pki.TwoDomains(pki_dir)


def postfix_files(workdir, leaf, ca):
    """Copies of leaf's certificate (with the CA), key and the CA where Postfix
    (started as root) reads them."""
    d = os.path.join(workdir, "postfix-tls")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    cert = os.path.join(d, "cert.pem")
    with open(cert, "w") as out:
        for p in (leaf.cert, ca.cert):
            with open(p) as f:
                out.write(f.read())
    key = os.path.join(d, "key.pem")
    shutil.copy(leaf.key, key)
    os.chmod(key, 0o600)
    cafile = os.path.join(d, "ca.pem")
    shutil.copy(ca.cert, cafile)
    os.chmod(cert, 0o644)
    os.chmod(cafile, 0o644)
    return cert, key, cafile


def test_postfix_sends_domain_secured_to_postern(instances, certs, workdir):
    b = make_b(instances, certs)
    b.start()
    cert, key, cafile = postfix_files(workdir, certs.a, certs.ca)
    extra = {
        "relayhost": f"[127.0.0.1]:{b.port}",
        "smtp_helo_name": "mail.a.test",
        "smtp_tls_security_level": "secure",
        "smtp_tls_secure_cert_match": "mail.b.test",
        "smtp_tls_CAfile": cafile,
        "smtp_tls_cert_file": cert,
        "smtp_tls_key_file": key,
        "smtp_tls_loglevel": "1",
    }
    with TLSPostfix(workdir, extra, domain="a.test", users=("carol",)) as pf:
        # mail from a.test for b.test: Postfix relays it to postern
        with smtplib.SMTP("127.0.0.1", pf.port, local_hostname="client.test",
                          timeout=10 * SLOW) as c:
            c.sendmail("carol@a.test", ["bob@b.test"],
                       message(subject="from postfix", sender="carol@a.test", to="bob@b.test"))
        got = wait_for(lambda: maildir(b, "bob@b.test"), timeout=30,
                       what=f"the Postfix message in bob's Maildir; Postfix log:\n{pf.log()}")
        log = pf.log()
    head = got[0][1].replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode()
    assert re.findall(r"^X-Postern-Domain-Secured:.*$", head, re.M | re.I) == \
        ["X-Postern-Domain-Secured: a.test"], head
    assert "with ESMTPS" in head
    # Postfix verified postern's certificate (secure level) ...
    assert re.search(r"Verified TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:"
                     + str(b.port), log), log
    assert re.search(r"relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+,.*status=sent", log), log
    # ... and postern accepted Postfix's as a.test's
    assert re.search(r"smtp domain-secured .*domain=a\.test", b.log()), b.log()


def test_postern_sends_domain_secured_to_postfix(instances, certs, workdir):
    cert, key, cafile = postfix_files(workdir, certs.b, certs.ca)
    extra = {
        "smtpd_tls_cert_file": cert,
        "smtpd_tls_key_file": key,
        "smtpd_tls_CAfile": cafile,
        "smtpd_tls_security_level": "encrypt",
        "smtpd_tls_ask_ccert": "yes",
        "smtpd_tls_req_ccert": "yes",
        "smtpd_tls_loglevel": "1",
    }
    with TLSPostfix(workdir, extra, domain="b.test", users=("bob",)) as pf:
        a = domain_instance(instances, certs, "a", certs.a)
        secure_connector(a, "ToB", "b.test", pf.port)
        a.cmdlet("Set-TransportConfig", "-TLSSendDomainSecureList", "b.test")
        # "Test the connection" first, service stopped: Postfix demands
        # our certificate (smtpd_tls_req_ccert) and we check its for b.test
        probe = a.get("Test-SendConnector", "ToB", "-Recipient", "bob@b.test")[0]
        assert probe["DomainSecure"] == "True", probe
        assert probe["CertificateCheck"].startswith("passed: ") and "names b.test" in \
            probe["CertificateCheck"], probe
        assert probe["Result"].startswith("Success"), probe
        a.start()
        submit_auth(a, "alice@a.test", ["bob@b.test"],
                    message(subject="to postfix", sender="alice@a.test", to="bob@b.test"))
        got = wait_for(lambda: pf.mailbox("bob"), timeout=30,
                       what=f"the message in Postfix's Maildir; A's queues: "
                            f"{a.get('Get-Queue')}\nPostfix log:\n{pf.log()}")
        log = pf.log()
    head = got[0].replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode()
    # Postfix required and verified postern's client certificate
    assert re.search(r"Trusted TLS connection established from localhost\[127\.0\.0\.1\]", log) \
        or re.search(r"Verified TLS connection established from", log), log
    flat = re.sub(r"\n[ \t]+", " ", head)
    assert re.search(r'Client CN "mail\.a\.test", Issuer "Postern Test Root CA" \(verified OK\)',
                     flat), head
    # postern checked Postfix's certificate for b.test
    passed = wait_for(lambda: [r for r in send_log(a)
                               if r["context"] == "TLS certificate check passed"],
                      what="\"TLS certificate check passed\" in A's send protocol log")
    assert "names b.test" in passed[0]["data"], passed


def test_postern_refuses_postfix_with_untrusted_certificate(instances, certs, workdir):
    """The counterpart: the same Postfix with its own self-signed certificate
    (peers.Postfix's default) gets nothing from a domain-secure connector."""
    with Postfix(workdir, domain="b.test", users=("bob",)) as pf:
        a = domain_instance(instances, certs, "a", certs.a)
        secure_connector(a, "ToB", "b.test", pf.port)
        a.cmdlet("Set-TransportConfig", "-TLSSendDomainSecureList", "b.test")
        r = a.cmdlet("Test-SendConnector", "ToB", "-Recipient", "bob@b.test", check=False)
        assert r.returncode == 1, r.stdout
        assert "failed at Certificate: " in r.stderr and "UntrustedRoot" in r.stderr, r.stderr
        a.start()
        submit_auth(a, "alice@a.test", ["bob@b.test"],
                    message(subject="to postfix", sender="alice@a.test", to="bob@b.test"))

        def retry():
            qs = [q for q in a.get("Get-Queue") if q.get("NextHopDomain") == "b.test"]
            return qs if qs and qs[0].get("Status") == "Retry" and qs[0].get("LastError") \
                else None

        q = wait_for(retry, timeout=15, what=f"b.test in Retry: {a.get('Get-Queue')}")[0]
        assert "UntrustedRoot" in q["LastError"], q
        assert not pf.mailbox("bob")
        assert not re.search(r"postfix/smtpd\[\d+\]: [0-9A-F]+: client=", pf.log()), pf.log()
