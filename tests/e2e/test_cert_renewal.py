"""Certificates renewed on disk are picked up within a second (docs/DESIGN.md,
Domain security), with no reload and no restart: new STARTTLS sessions get
the new certificate, and a TLS session opened before goes on.

The renewal is done as an administrator's script or the certificate cmdlets
would leave the store (src/tls/tls_certs.h): the new certificate for the
same name written as certs/<T>.pem, <T>.key (0600) and the SMTP marker
<T>.smtp, each through a temporary file and a rename, then the old
certificate's files removed. Must never: run a certificate cmdlet or a
reload (they would reload the store, and the test would prove that instead
of the watcher).
"""
import hashlib
import os
import subprocess
import time

from conftest import SLOW, client_context, message, queue_id_from_reply, wait_for


def thumbprint(der):
    return hashlib.sha1(der).hexdigest().upper()


def served_thumbprint(inst):
    """The thumbprint of the certificate a new STARTTLS session is given."""
    with inst.smtp() as c:
        c.ehlo()
        c.starttls(context=client_context())
        return thumbprint(c.sock.getpeercert(binary_form=True))


def put(certs, name, data, mode, owner):
    tmp = os.path.join(certs, f".renewal-{name}")
    with open(tmp, "wb") as f:
        f.write(data)
        os.fchmod(f.fileno(), mode)
        os.fchown(f.fileno(), owner.st_uid, owner.st_gid)
        os.fsync(f.fileno())
    os.rename(tmp, os.path.join(certs, name))


def renewed_certificate(workdir, cn):
    key, cert = os.path.join(workdir, "renewed.key"), os.path.join(workdir, "renewed.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "30", "-subj", f"/CN={cn}", "-addext",
                    f"subjectAltName=DNS:{cn},DNS:{cn.split('.')[0]}"],
                   check=True, capture_output=True)
    der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], check=True,
                         capture_output=True).stdout
    with open(cert, "rb") as f, open(key, "rb") as k:
        return thumbprint(der), f.read(), k.read()


def test_renewed_certificate_is_served_within_a_second(server, workdir):
    certs = os.path.join(server.dir, "certs")
    old = served_thumbprint(server)
    assert os.path.exists(os.path.join(certs, old + ".smtp")), os.listdir(certs)
    new, pem, key = renewed_certificate(workdir, server.fqdn)

    # a session in TLS, mid-transaction, across the renewal
    before = server.smtp()
    before.ehlo()
    before.starttls(context=client_context())
    assert thumbprint(before.sock.getpeercert(binary_form=True)) == old
    before.ehlo()
    assert before.mail("bob@example.org")[0] == 250
    assert before.rcpt("alice@a.test")[0] == 250

    owner = os.stat(certs)
    put(certs, new + ".pem", pem, 0o644, owner)
    put(certs, new + ".key", key, 0o600, owner)
    put(certs, new + ".smtp", b"SMTP\n", 0o644, owner)
    for ext in (".smtp", ".pem", ".key"):
        os.unlink(os.path.join(certs, old + ext))
    renewed_at = time.monotonic()

    wait_for(lambda: served_thumbprint(server) == new, timeout=5, interval=0.05,
             what="new STARTTLS sessions to get the renewed certificate")
    took = time.monotonic() - renewed_at
    assert took < 1 + 0.5 * SLOW, f"the renewed certificate was served after {took:.2f} s"
    assert "certificates changed on disk" in server.log()

    code, reply = before.data(message(subject="across a certificate renewal"))
    assert code == 250, reply
    assert before.noop()[0] == 250
    before.quit()
    assert b"with ESMTPS" in server.queued_content(queue_id_from_reply(reply))
    print(f"\nrenewed certificate served {took * 1000:.0f} ms after the files changed")
