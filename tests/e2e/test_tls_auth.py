"""STARTTLS (RFC 3207) and AUTH (RFC 4954) on Receive connectors."""
import base64
import re
import os
import smtplib
import ssl
import subprocess

import pytest

from conftest import RawSMTP, client_context, message, queue_id_from_reply


@pytest.mark.parametrize("version,name", [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                                          (ssl.TLSVersion.TLSv1_3, "TLSv1.3")])
def test_starttls_each_version(server, version, name):
    with server.smtp() as c:
        c.ehlo()
        assert c.starttls(context=client_context(version))[0] == 220
        assert c.sock.version() == name
        # the certificate presented is the instance's, for the connector's FQDN
        der = c.sock.getpeercert(binary_form=True)
        pem = ssl.DER_cert_to_PEM_cert(der)
        text = subprocess.run(["openssl", "x509", "-noout", "-subject", "-ext",
                               "subjectAltName"], input=pem, capture_output=True, text=True,
                              check=True).stdout
        assert "CN = mail.a.test" in text and "DNS:mail.a.test" in text
        c.ehlo()
        assert "starttls" not in c.esmtp_features  # not offered twice
        c.mail("bob@example.org")
        c.rcpt("alice@a.test")
        code, reply = c.data(message())
        assert code == 250
    qid = queue_id_from_reply(reply)
    head = server.queued_content(qid).split(b"\r\n\r\n")[0]
    assert b"with ESMTPS id" in head
    assert f"version={name}".encode() in head and b"cipher=" in head
    # the key exchange group, as Postfix's "key-exchange X25519"
    assert re.search(rb"group=(x25519|secp256r1|secp384r1|ffdhe\d+)", head, re.I), head


def test_auth_not_offered_or_accepted_before_tls(server):
    with server.smtp() as c:
        c.ehlo()
        assert "auth" not in c.esmtp_features
        code, text = c.docmd("AUTH PLAIN " + base64.b64encode(b"\0alice\0Secret-1234").decode())
        assert code == 538 and b"5.7.11" in text


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_auth_over_tls_allows_relay(server, mechanism):
    with server.smtp() as c:
        c.ehlo()
        c.starttls(context=client_context())
        c.ehlo()
        assert mechanism in c.esmtp_features["auth"].split()
        # without authentication, relay is refused
        c.mail("alice@a.test")
        assert c.rcpt("carol@elsewhere.example")[0] == 550
        c.rset()
        c.user, c.password = "alice@a.test", "Secret-1234"
        code, _ = c.auth(mechanism, getattr(c, "auth_" + mechanism.lower()),
                         initial_response_ok=(mechanism == "PLAIN"))
        assert code == 235
        c.mail("alice@a.test")
        assert c.rcpt("carol@elsewhere.example")[0] == 250
        code, reply = c.data(message(to="carol@elsewhere.example"))
        assert code == 250
    head = server.queued_content(queue_id_from_reply(reply)).split(b"\r\n\r\n")[0]
    assert b"with ESMTPSA" in head


def test_wrong_password_and_max_logon_failures(server):
    with server.smtp() as c:
        c.ehlo()
        c.starttls(context=client_context())
        c.ehlo()
        bad = base64.b64encode(b"\0alice\0wrong").decode()
        for attempt in range(1, 4):
            code, text = c.docmd("AUTH PLAIN " + bad)
            assert code == 535 and b"5.7.8" in text
        # MaxLogonFailures 3: the third failure closes the session
        code, text = c.getreply()
        assert code == 421
        with pytest.raises(smtplib.SMTPServerDisconnected):
            c.noop()


def test_unknown_user_fails_like_wrong_password(server):
    with server.smtp() as c:
        c.ehlo()
        c.starttls(context=client_context())
        c.ehlo()
        code, _ = c.docmd("AUTH PLAIN " + base64.b64encode(b"\0mallory\0x").decode())
        assert code == 535


def test_auth_plain_with_octets_after_the_password_is_malformed(server):
    """RFC 4616 2: the message ends with the password; a third NUL (data
    after it) is refused as malformed, not checked as credentials."""
    with server.smtp() as c:
        c.ehlo()
        c.starttls(context=client_context())
        c.ehlo()
        for bad in (b"\0alice\0Secret-1234\0extra", b"\0alice\0Secret-1234\0", b"\0\0x"):
            code, text = c.docmd("AUTH PLAIN " + base64.b64encode(bad).decode())
            assert code == 501 and b"Malformed" in text, (bad, code, text)
        code, _ = c.docmd("AUTH PLAIN " + base64.b64encode(b"\0alice\0Secret-1234").decode())
        assert code == 235


def test_auth_login_by_mailbox_name_and_cancel(server):
    raw = RawSMTP(server.host, server.port)
    raw.reply()
    raw.cmd(b"EHLO client.test")
    raw.cmd(b"STARTTLS")
    raw.sock = client_context().wrap_socket(raw.sock)
    raw.cmd(b"EHLO client.test")
    assert raw.cmd(b"AUTH LOGIN")[0] == 334
    assert raw.cmd(b"*")[0] == 501
    assert raw.cmd(b"AUTH LOGIN " + base64.b64encode(b"alice"))[0] == 334
    assert raw.cmd(base64.b64encode(b"Secret-1234"))[0] == 235
    assert raw.cmd(b"AUTH LOGIN")[0] == 503
    raw.close()


def test_require_tls_seed_command(server):
    # the seed's line, exactly as written (quoted for a POSIX shell)
    r = server.cmdlet("Set-ReceiveConnector", "-identity", "Default mail", "-RequireTLS", "$true",
                      "-AuthenticationMechanism", "TLS")
    assert r.returncode == 0
    rc = server.get("Get-ReceiveConnector", "Default mail")[0]
    assert rc["RequireTLS"] == "True" and rc["AuthMechanism"] == "Tls"
    with server.smtp() as c:
        c.ehlo()
        code, text = c.docmd("MAIL FROM:<bob@example.org>")
        assert code == 530 and b"5.7.0" in text
        c.starttls(context=client_context())
        c.ehlo()
        assert "auth" not in c.esmtp_features  # AuthMechanism is Tls alone now
        c.mail("bob@example.org")
        c.rcpt("alice@a.test")
        assert c.data(message())[0] == 250


def test_commands_pipelined_after_starttls_are_discarded(server):
    raw = RawSMTP(server.host, server.port)
    raw.reply()
    raw.cmd(b"EHLO client.test")
    # CVE-2011-0411 style injection: plaintext commands after STARTTLS
    raw.send(b"STARTTLS\r\nMAIL FROM:<evil@example.org>\r\n")
    assert raw.reply()[0] == 220
    raw.sock = client_context().wrap_socket(raw.sock)
    # the injected MAIL was not executed: RCPT needs a MAIL first
    raw.cmd(b"EHLO client.test")
    assert raw.cmd(b"RCPT TO:<alice@a.test>")[0] == 503
    raw.close()


def test_tls_garbage_is_handled(server):
    raw = RawSMTP(server.host, server.port)
    raw.reply()
    raw.cmd(b"EHLO client.test")
    assert raw.cmd(b"STARTTLS")[0] == 220
    raw.send(b"this is not a TLS ClientHello\r\n" * 10)
    assert raw.closed()
    # and the service is still fine
    with server.smtp() as c:
        assert c.ehlo()[0] == 250


def test_openssl_s_client_starttls(server):
    r = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect",
                        f"127.0.0.1:{server.port}", "-servername", "mail.a.test", "-brief"],
                       input="QUIT\r\n", capture_output=True, text=True, timeout=30)
    out = r.stdout + r.stderr
    assert "CONNECTION ESTABLISHED" in out
    assert "mail.a.test" in out


def test_one_tls13_session_ticket(server):
    """OpenSSL's default is two tickets per TLS 1.3 session; an SMTP client
    resumes with one at most, and each costs the server work (Postfix sends
    one). openssl s_client -msg shows each NewSessionTicket it receives."""
    r = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect",
                        f"127.0.0.1:{server.port}", "-tls1_3", "-msg", "-ign_eof"],
                       input="EHLO client.test\r\nQUIT\r\n", capture_output=True, text=True,
                       timeout=30)
    out = r.stdout + r.stderr
    assert "221 " in out, out
    assert out.count("NewSessionTicket") == 1, out


def test_swaks_tls_auth_relay(server):
    r = subprocess.run(["swaks", "--server", f"127.0.0.1:{server.port}", "--tls",
                        "--auth", "PLAIN", "--auth-user", "alice", "--auth-password",
                        "Secret-1234", "--from", "alice@a.test", "--to",
                        "someone@elsewhere.example", "--helo", "client.test"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Queued mail for delivery" in r.stdout
    assert len(server.queued_ids()) == 1
