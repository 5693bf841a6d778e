"""Set-TransportConfig -TlsCipherProfile on a running service: the profile
decides what STARTTLS offers on receive (Python's ssl as the client) and
on delivery (a private Postfix that speaks TLS 1.2 at most), and a change
applies to new connections at once (the cmdlet's reload).

Must never: change the system's OpenSSL or Postfix configuration.
"""
import re
import ssl
import subprocess
import warnings

from conftest import message, wait_for
from peers import POSTFIX, Postfix, relay_instance, submit, wait_queue_empty

# TLS 1.2 suites without AEAD (CBC), with and without forward secrecy.
CBC_ONLY = "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384:AES128-SHA:AES256-SHA256"


def client(low, high, ciphers=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():  # TLS 1.0 is deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = low
        ctx.maximum_version = high
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    TLS10 = (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1, "DEFAULT:@SECLEVEL=0")
TLS12 = (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2, None)
TLS12_CBC = (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2, CBC_ONLY + ":@SECLEVEL=0")
TLS13 = (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3, None)


def starttls(inst, spec):
    """The protocol STARTTLS agreed on with a client limited to spec, or None
    when the handshake failed."""
    with inst.smtp() as c:
        c.ehlo()
        try:
            c.starttls(context=client(*spec))
        except (ssl.SSLError, ConnectionError):
            return None
        version = c.sock.version()
        c.ehlo()
        assert c.noop()[0] == 250
        return version


def test_receive_follows_the_profile_and_reloads(instances):
    a = instances("a").start()
    # Intermediate (the default): TLS 1.2 with AEAD suites, 1.3.
    assert a.get("Get-TransportConfig")[0]["TlsCipherProfile"] == "Intermediate"
    assert starttls(a, TLS13) == "TLSv1.3"
    assert starttls(a, TLS12) == "TLSv1.2"
    assert starttls(a, TLS12_CBC) is None
    assert starttls(a, TLS10) is None

    a.cmdlet("Set-TransportConfig", "-TlsCipherProfile", "Modern")
    assert starttls(a, TLS12) is None
    assert starttls(a, TLS13) == "TLSv1.3"

    a.cmdlet("Set-TransportConfig", "-TlsCipherProfile", "Compatible")
    assert starttls(a, TLS10) == "TLSv1"
    assert starttls(a, TLS12_CBC) == "TLSv1.2"
    assert starttls(a, TLS13) == "TLSv1.3"


def received_tls(raw):
    """Postfix's Received: field's "(using TLSv1.x ...)" version, or None."""
    head = raw.split(b"\n\n", 1)[0]
    for field in re.split(rb"\n(?=\S)", head):
        if field.startswith(b"Received:") and b"mx.peer.test" in field:
            m = re.search(rb"\(using (TLSv1\.\d)", field)
            return m.group(1).decode() if m else None
    raise AssertionError(f"no Received: field of Postfix in {head!r}")


def test_delivery_follows_the_profile(instances, workdir):
    with Postfix(workdir, domain="peer.test", users=("user",)) as pf:
        pf.postconf("-e", "smtpd_tls_protocols=>=TLSv1.2, <=TLSv1.2")
        r = subprocess.run([POSTFIX, "-c", pf.etc, "reload"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        a = relay_instance(instances, "a", pf.port, relay_domains=("peer.test",), start=False)
        a.cmdlet("Set-TransportConfig", "-TlsCipherProfile", "Modern")
        a.start()
        # Modern offers TLS 1.3 only: the handshake fails, and opportunistic
        # TLS goes on in clear text (RFC 7435).
        submit(a, "alice@a.test", ["user@peer.test"],
               message(subject="modern", sender="alice@a.test", to="user@peer.test"))
        mails = wait_for(lambda: pf.mailbox("user"), timeout=20, what="the first message")
        assert received_tls(mails[0]) is None
        wait_queue_empty(a)

        a.cmdlet("Set-TransportConfig", "-TlsCipherProfile", "Intermediate")
        submit(a, "alice@a.test", ["user@peer.test"],
               message(subject="intermediate", sender="alice@a.test", to="user@peer.test"))
        mails = wait_for(lambda: len(pf.mailbox("user")) == 2 and pf.mailbox("user"),
                         timeout=20, what="the second message")
        second = [m for m in mails if b"Subject: intermediate" in m]
        assert len(second) == 1 and received_tls(second[0]) == "TLSv1.2"
