"""Test-SendConnector and Test-SmtpConnectivity: the seed's "Test the
connection" against a real Postfix peer (with and without STARTTLS, Cyrus
SASL with a right and a wrong password, a self-signed certificate trusted
or not) and against postern's own Receive connectors. Each verdict must
name the step that failed; no test sends mail."""
import json

import pytest

from conftest import wait_for
from peers import LoopbackServer, Postfix, relay_instance

SASL_USER, SASL_PASSWORD = "relayuser", "Right-Pass-42"


def records(text):
    """Format-List output -> list of dicts (values as printed)."""
    out, cur = [], {}
    for line in text.splitlines():
        if not line.strip():
            if cur:
                out.append(cur)
            cur = {}
            continue
        key, _, value = line.partition(" : ")
        cur[key.strip()] = value
    if cur:
        out.append(cur)
    return out


def probe(inst, *args):
    r = inst.cmdlet("Test-SendConnector", "Out", *args, check=False)
    return r, records(r.stdout)


def sent_mail(postfix):
    """What Postfix logged as received: a probe must leave no trace of mail."""
    return [l for l in postfix.log().splitlines() if "from=<" in l or "queued as" in l]


def session_summary(postfix):
    """Postfix's per-session command counts ("ehlo=2 starttls=1 auth=1 rset=1
    quit=1 commands=6"), once the session has ended; not the fixture's own
    connection that checked Postfix was listening ("commands=0/0")."""
    return wait_for(lambda: [l.split("]: ", 1)[1] for l in postfix.log().splitlines()
                             if "disconnect from" in l and "commands=0/0" not in l],
                    what="Postfix's disconnect line")


@pytest.fixture
def postfix_sasl(workdir):
    with Postfix(workdir, domain="peer.test", sasl_users={SASL_USER: SASL_PASSWORD}) as pf:
        yield pf


@pytest.fixture
def postfix_plain(workdir):
    with Postfix(workdir, domain="peer.test", tls=False) as pf:
        yield pf


def test_success_over_tls_with_the_right_credential(instances, postfix_sasl):
    a = relay_instance(instances, "a", postfix_sasl.port, relay_domains=("peer.test",),
                       connector=["-SmartHostAuthMechanism", "BasicAuthRequireTLS",
                                  "-AuthenticationCredential", f"{SASL_USER}:{SASL_PASSWORD}"],
                       start=False)
    r, recs = probe(a)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(recs) == 1, r.stdout
    rec = recs[0]
    assert rec["Identity"] == "Out"
    assert rec["Peer"] == f"127.0.0.1[127.0.0.1:{postfix_sasl.port}]"
    assert rec["Greeting"].startswith("220 mx.peer.test ESMTP")
    assert "STARTTLS" in rec["Capabilities"]
    assert "STARTTLS" not in rec["TlsCapabilities"]
    assert rec["StartTls"].startswith("220 ")
    assert rec["TlsVersion"] in ("TLSv1.2", "TLSv1.3")
    assert rec["TlsCipher"]
    # the peer's self-signed certificate, with its thumbprint
    assert "[0] CN=mx.peer.test (issuer CN=mx.peer.test;" in rec["PeerCertificates"]
    assert rec["CertificateTrust"].startswith("UntrustedRoot: ")
    assert rec["CertificateCheck"].startswith("none: ")
    # Postfix offers AUTH only inside TLS (smtpd_tls_auth_only is off, but
    # the mechanisms are those of Cyrus's mech_list)
    assert set(rec["AuthOffered"].split()) == {"PLAIN", "LOGIN"}
    assert rec["Authentication"].startswith("235 ")
    assert rec["Result"].startswith("Success (RSET: 250 ")
    # EHLO, STARTTLS, EHLO, AUTH, RSET, QUIT and no transaction, says Postfix
    summary = session_summary(postfix_sasl)
    assert len(summary) == 1, summary
    assert "ehlo=2 starttls=1 auth=1 rset=1 quit=1 commands=6" in summary[0], summary
    assert sent_mail(postfix_sasl) == []
    assert SASL_PASSWORD not in r.stdout + r.stderr


def test_wrong_credential_fails_at_auth(instances, postfix_sasl):
    a = relay_instance(instances, "a", postfix_sasl.port, relay_domains=("peer.test",),
                       connector=["-SmartHostAuthMechanism", "BasicAuthRequireTLS",
                                  "-AuthenticationCredential", f"{SASL_USER}:Wrong-Pass-1"],
                       start=False)
    r, recs = probe(a)
    assert r.returncode == 1
    assert recs[-1]["Authentication"].startswith("535 ")
    assert recs[-1]["Result"].startswith("Failed at AUTH: ")
    assert r.stderr.strip().splitlines()[-1].startswith(
        "Test-SendConnector: Out: failed at AUTH: ")
    assert "Wrong-Pass-1" not in r.stdout + r.stderr


def test_peer_without_starttls(instances, postfix_plain):
    # opportunistic: clear text is what delivery would do, and it says so
    a = relay_instance(instances, "a", postfix_plain.port, relay_domains=("peer.test",),
                       start=False)
    r, recs = probe(a)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "STARTTLS" not in recs[0]["Capabilities"]
    assert recs[0]["StartTls"] == "not offered by the peer"
    assert recs[0]["TlsVersion"] == ""
    assert recs[0]["Result"].startswith("Success")
    # RequireTLS: the verdict names STARTTLS
    a.cmdlet("Set-SendConnector", "Out", "-RequireTLS", "$true")
    r, recs = probe(a)
    assert r.returncode == 1
    assert recs[0]["Result"].startswith("Failed at STARTTLS: TLS is required but ")
    assert "does not offer STARTTLS" in r.stderr
    # credentials are never sent in clear: the verdict names AUTH
    a.cmdlet("Set-SendConnector", "Out", "-RequireTLS", "$false", "-SmartHostAuthMechanism",
             "BasicAuthRequireTLS", "-AuthenticationCredential", "u:p")
    r, recs = probe(a)
    assert r.returncode == 1
    assert recs[0]["Result"].startswith("Failed at AUTH: ")
    assert "credentials not sent" in recs[0]["Result"]
    assert sent_mail(postfix_plain) == []


def test_untrusted_certificate_fails_at_certificate_until_its_root_is_imported(
        instances, postfix_sasl):
    a = relay_instance(instances, "a", postfix_sasl.port, relay_domains=("peer.test",),
                       connector=["-RequireTLS", "$true", "-TlsAuthLevel",
                                  "CertificateValidation"], start=False)
    r, recs = probe(a)
    assert r.returncode == 1
    assert recs[0]["TlsVersion"]  # the handshake itself worked
    assert recs[0]["CertificateCheck"].startswith("failed: ")
    assert recs[0]["Result"].startswith("Failed at Certificate: ")
    assert "UntrustedRoot" in recs[0]["Result"]
    a.cmdlet("Import-Certificate", "-FilePath", postfix_sasl.cert, "-CertStoreLocation",
             "Cert:\\LocalMachine\\Root")
    r, recs = probe(a)
    assert r.returncode == 0, r.stdout + r.stderr
    assert recs[0]["CertificateCheck"].startswith("passed: ")
    assert recs[0]["Result"].startswith("Success")


def test_nothing_listening_fails_at_connect_and_json_output(instances):
    from conftest import free_port
    port = free_port()
    a = relay_instance(instances, "a", port, relay_domains=("peer.test",), start=False)
    r = a.cmdlet("Test-SendConnector Out | ConvertTo-Json", check=False)
    assert r.returncode == 1
    data = json.loads(r.stdout)
    data = data if isinstance(data, list) else [data]
    assert data[-1]["Result"].startswith("Failed at Connect: connection to ")
    assert "refused" in data[-1]["Result"].lower()


def test_usage_errors(instances):
    a = instances("a")
    r = a.cmdlet("Test-SendConnector", check=False)
    assert r.returncode == 2 and "Identity" in r.stderr
    r = a.cmdlet("Test-SendConnector", "Nope", check=False)
    assert r.returncode == 1 and "Nope: no such Send connector" in r.stderr
    a.cmdlet("New-SendConnector", "-Name", "Any", "-AddressSpaces", "*")
    r = a.cmdlet("Test-SendConnector", "Any", check=False)
    assert r.returncode == 2 and "-Recipient" in r.stderr
    r = a.cmdlet("Test-SendConnector", "Any", "-Recipient", "not-an-address", check=False)
    assert r.returncode == 2 and "not an address" in r.stderr


def test_smtp_connectivity_of_own_receive_connectors(instances):
    a = instances("a")
    r = a.cmdlet("Test-SmtpConnectivity", check=False)
    # service stopped: the connection is refused, and the verdict says so
    assert r.returncode == 1
    recs = records(r.stdout)
    assert recs and all(x["Result"].startswith("Failed at Connect: ") for x in recs)
    a.start()
    r = a.cmdlet("Test-SmtpConnectivity", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    recs = records(r.stdout)
    rec = [x for x in recs if x["ReceiveConnector"].startswith("Default mail")][0]
    assert rec["AnsweredBy"] == "Default mail"
    assert rec["Greeting"].startswith("220 ")
    assert "STARTTLS" in rec["Capabilities"]
    assert rec["TlsVersion"] in ("TLSv1.2", "TLSv1.3")
    # the default certificate is self-signed for the server's FQDN
    assert rec["CertificateTrust"].startswith("UntrustedRoot: ")
    assert rec["Result"].startswith("Success (RSET: 250 ")
    # no message was queued by the test
    assert a.queued_ids() == []


class HostileServer(LoopbackServer):
    """Greets and answers with terminal escapes, a bell and a stray CR; AUTH
    refused with more of the same. Records the commands it was sent."""

    def __init__(self):
        super().__init__()
        self.commands = []

    def serve(self, conn):
        f = conn.makefile("rb")
        conn.sendall(b"220 evil.test \x1b]0;owned\x07\x1b[2J ESMTP\r\n")
        for line in f:
            cmd = line.strip().decode(errors="replace")
            self.commands.append(cmd)
            verb = cmd.split(" ")[0].upper()
            if verb == "EHLO":
                conn.sendall(b"250-evil.test\r\n250-AUTH PLAIN\x1b[31m\r\n250 8BITMIME\r\n")
            elif verb == "AUTH":
                conn.sendall(b"535 5.7.8 no\x1b[1A\rFAKE : line\r\n")
            elif verb == "QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")


def test_a_hostile_peer_cannot_write_control_characters_to_the_terminal(instances):
    with HostileServer() as evil:
        a = relay_instance(instances, "a", evil.port, relay_domains=("peer.test",),
                           connector=["-SmartHostAuthMechanism", "BasicAuth",
                                      "-AuthenticationCredential", "u:secret-pw"], start=False)
        r, recs = probe(a)
    assert r.returncode == 1
    out = r.stdout + r.stderr
    assert not any(ch in out for ch in "\x1b\x07\r"), repr(out)
    assert recs[0]["Greeting"] == "220 evil.test ?]0;owned??[2J ESMTP"
    assert recs[0]["Result"].startswith("Failed at AUTH: ")
    # the forged "FAKE : line" stayed inside the Result value
    assert "FAKE" not in recs[0] and len(recs) == 1
    # no mail: nothing after AUTH but QUIT
    assert not any(c.upper().startswith(("MAIL", "RCPT", "DATA")) for c in evil.commands)
