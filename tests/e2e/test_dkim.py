"""DKIM signing end to end (RFC 6376; Ed25519 from RFC 8463), with Exchange Online's
cmdlets: A has the accepted domain a.test and a DkimSigningConfig for it, and relays
to B through its Send connector; what arrives in B's Maildir is verified with
python3-dkim (Debian's, a verifier written apart from postern), whose DNS lookup is
answered with the TXT record Get-DkimSigningConfig shows. A verification that fails
on a tampered copy shows that the check can fail.
"""
import os
import re
import signal
import smtplib
import stat

import pytest

from conftest import client_context, free_port, message, wait_for
from peers import maildir, receiver_instance, relay_instance, reports, submit, wait_queue_empty
from test_lmtp import dovecot  # noqa: F401 (a fixture)

dkim = pytest.importorskip("dkim", reason="python3-dkim (Debian) verifies the signatures")

CAROL = "carol@b.test"


@pytest.fixture
def pair(instances):
    """(a, b): B receives for b.test; A relays to it and has a.test (not started:
    each test makes its DkimSigningConfig first)."""
    b = receiver_instance(instances, "b", ["b.test"], [CAROL])
    a = relay_instance(instances, "a", b.port, start=False)
    return a, b


def records(inst, domain="a.test"):
    """{selector: TXT record text} from Get-DkimSigningConfig."""
    got = inst.get("Get-DkimSigningConfig", domain)
    assert len(got) == 1, got
    return {"selector1": got[0]["Selector1PublicKey"],
            "selector2": got[0]["Selector2PublicKey"]}


def verify(raw, txt, domain="a.test"):
    """python3-dkim's verdict on raw (CRLF) with txt ({selector: record}) as DNS."""
    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        m = re.fullmatch(r"(selector[12])\._domainkey\.(.+?)\.?", name)
        assert m and m.group(2) == domain, f"unexpected DNS query {name}"
        return txt[m.group(1)].encode()
    return dkim.verify(raw, dnsfunc=dnsfunc)


def submit_as_alice(a, sender, rcpt, msg):
    """Submits msg over STARTTLS, authenticated as alice@a.test (A signs only what an
    authenticated or trusted sender sends)."""
    with a.smtp() as c:
        c.ehlo("client.test")
        assert c.starttls(context=client_context())[0] == 220
        c.ehlo("client.test")
        c.login("alice@a.test", "Secret-1234")
        c.sendmail(sender, [rcpt], msg.encode())


def relay(a, b, sender="alice@a.test", subject="signed", body="Hello.\r\n", extra="",
          authenticated=True):
    """Submits one message to A for carol@b.test; returns B's copy with CRLF line ends
    (a Maildir stores LF; the wire had CRLF)."""
    before = len(maildir(b, CAROL))
    msg = message(subject=subject, body=body, sender=sender, to=CAROL)
    if extra:
        msg = extra + msg
    if authenticated:
        submit_as_alice(a, sender, CAROL, msg)
    else:
        submit(a, sender, [CAROL], msg)
    files = wait_for(lambda: len(maildir(b, CAROL)) > before and maildir(b, CAROL),
                     timeout=15, what="the relayed copy in B's Maildir")
    return files[-1][1].replace(b"\n", b"\r\n")


def signature(raw):
    """The tags of the one DKIM-Signature field of raw, as a dict."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    fields = re.findall(rb"^DKIM-Signature:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", head, re.M | re.I)
    assert len(fields) == 1, f"{len(fields)} DKIM-Signature fields in:\n{head.decode()}"
    value = re.sub(rb"\s+", b"", fields[0]).decode()
    return dict(t.split("=", 1) for t in value.split(";") if t)


def unsigned(raw):
    return b"DKIM-Signature" not in raw.split(b"\r\n\r\n", 1)[0]


def test_rsa_relaxed_signature_verifies_and_tampering_fails(pair):
    a, b = pair
    r = a.cmdlet("New-DkimSigningConfig", "-DomainName", "a.test", "-Enabled", "$true")
    # New- shows the records to publish; Get- shows them again
    assert "Selector1TxtRecord" in r.stdout
    out = a.cmdlet("Get-DkimSigningConfig").stdout
    m = re.search(r'^Selector1TxtRecord\s*: selector1\._domainkey\.a\.test\. IN TXT (".*")$', out,
                  re.M)
    assert m, out
    txt = records(a)
    assert "".join(re.findall(r'"([^"]*)"', m.group(1))) == txt["selector1"]
    assert re.fullmatch(r"v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]+", txt["selector1"]), txt
    got = a.get("Get-DkimSigningConfig", "a.test")[0]
    assert (got["Enabled"], got["Status"], got["Selector1KeySize"], got["KeyAlgorithm"]) == \
        ("True", "Valid", "2048", "Rsa")
    assert got["SelectorAfterRotateOnDate"] == "selector1"
    a.start()

    raw = relay(a, b, body="Two  blanks \t and a trailing blank \r\n\r\n\r\n")
    tags = signature(raw)
    assert (tags["v"], tags["a"], tags["c"], tags["d"], tags["s"]) == \
        ("1", "rsa-sha256", "relaxed/relaxed", "a.test", "selector1")
    names = tags["h"].lower().split(":")
    assert names.count("from") == 2, names  # signed, and once more: no From can be added
    assert {"to", "subject", "message-id"} <= set(names), names
    assert "l" not in tags and int(tags["t"]) > 0
    # every line of the field within 78 characters
    field = re.search(rb"^DKIM-Signature:.*?\r\n(?![ \t])", raw, re.M | re.S).group(0)
    assert all(len(line) <= 78 for line in field.split(b"\r\n")), field
    assert verify(raw, txt)

    # the check can fail: a changed body, a changed From, the other selector's key
    assert not verify(raw.replace(b"Two  blanks", b"Two  blanks!"), txt)
    assert not verify(raw.replace(b"From: alice@a.test", b"From: mallory@a.test"), txt)
    assert not verify(raw, {"selector1": txt["selector2"], "selector2": txt["selector2"]})
    # relaxed: blanks changed on the way still verify
    assert verify(raw.replace(b"Two  blanks", b"Two blanks"), txt)

    # the keys: private, the instance owner's, in DIR/dkim/<domain>
    d = os.path.join(a.dir, "dkim", "a.test")
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    for sel in ("selector1", "selector2"):
        st = os.stat(os.path.join(d, f"{sel}.key"))
        assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
        assert st.st_uid == os.stat(a.dir).st_uid
    wait_queue_empty(a)


@pytest.mark.parametrize("algorithm,header,body", [
    ("Ed25519", "Simple", "Simple"),
    ("Ed25519", "Relaxed", "Relaxed"),
    ("Rsa", "Simple", "Relaxed"),
])
def test_algorithms_and_canonicalizations_verify(pair, algorithm, header, body):
    a, b = pair
    args = ["New-DkimSigningConfig", "-DomainName", "a.test", "-KeyAlgorithm", algorithm,
            "-HeaderCanonicalization", header, "-BodyCanonicalization", body, "-Enabled", "$true"]
    if algorithm == "Rsa":
        args += ["-KeySize", "1024"]
    a.cmdlet(*args)
    a.start()
    txt = records(a)
    # folded header fields, trailing blanks, empty lines at the end, a dot line
    extra = "X-Long: a header field\r\n  folded over\r\n\ttwo more lines \r\n"
    raw = relay(a, b, subject="canon  test ", extra=extra,
                body="line with trailing blanks  \r\n.dot line\r\n\r\n  \r\n\r\n")
    tags = signature(raw)
    assert tags["a"] == ("ed25519-sha256" if algorithm == "Ed25519" else "rsa-sha256")
    assert tags["c"] == f"{header.lower()}/{body.lower()}"
    if algorithm == "Ed25519":
        assert re.fullmatch(r"v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=", txt["selector1"])
    assert verify(raw, txt), raw.decode(errors="replace")
    assert not verify(raw.replace(b".dot line", b".dot lime"), txt)


def test_rotation_switches_the_selector(pair):
    a, b = pair
    a.cmdlet("New-DkimSigningConfig", "-DomainName", "a.test", "-Enabled", "$true")
    a.start()
    before = records(a)
    first = relay(a, b, subject="before")
    assert signature(first)["s"] == "selector1"
    assert verify(first, before)

    r = a.cmdlet("Rotate-DkimSigningConfig", "-Identity", "a.test")
    assert "publish the new TXT record of selector1" in r.stderr
    got = a.get("Get-DkimSigningConfig", "a.test")[0]
    assert (got["SelectorBeforeRotateOnDate"], got["SelectorAfterRotateOnDate"]) == \
        ("selector1", "selector2")
    assert got["RotateOnDate"]
    after = records(a)
    # the retired selector has a new key; the one that signs now kept its own
    assert after["selector1"] != before["selector1"]
    assert after["selector2"] == before["selector2"]
    second = relay(a, b, subject="after")
    assert signature(second)["s"] == "selector2"
    assert verify(second, after)
    # each key verifies what it signed, under the records of its time
    assert verify(first, before) and not verify(first, after)

    # and back: selector1's new key signs
    a.cmdlet("Rotate-DkimSigningConfig", "a.test", "-KeySize", "1024")
    third = relay(a, b, subject="again")
    assert signature(third)["s"] == "selector1"
    assert verify(third, records(a))
    assert a.get("Get-DkimSigningConfig", "a.test")[0]["Selector2KeySize"] == "1024"


def test_what_is_not_signed(pair):
    a, b = pair
    a.cmdlet("New-AcceptedDomain", "-DomainName", "other.test")
    a.cmdlet("New-DkimSigningConfig", "-DomainName", "a.test")
    a.start()
    # New- makes a disabled configuration unless told
    assert a.get("Get-DkimSigningConfig", "a.test")[0]["Enabled"] == "False"
    assert unsigned(relay(a, b, subject="disabled"))
    a.cmdlet("Set-DkimSigningConfig", "-Identity", "a.test", "-Enabled", "$true")
    txt = records(a)
    assert verify(relay(a, b, subject="enabled"), txt)
    # a.test in the From: of a message from an anonymous client (A relays b.test
    # for anyone): postern does not answer for it, so it stays unsigned
    assert unsigned(relay(a, b, subject="forged", authenticated=False))
    # another domain, one with no configuration, and a subdomain are not a.test
    assert unsigned(relay(a, b, sender="bob@other.test", subject="other"))
    assert unsigned(relay(a, b, sender="bob@sub.a.test", subject="subdomain"))
    a.cmdlet("Set-DkimSigningConfig", "a.test", "-Enabled", "$false")
    assert unsigned(relay(a, b, subject="disabled again"))
    # removed: the keys go with it
    a.cmdlet("Set-DkimSigningConfig", "a.test", "-Enabled", "$true")
    a.cmdlet("Remove-DkimSigningConfig", "-Identity", "a.test", "-Confirm:$false")
    assert not os.path.exists(os.path.join(a.dir, "dkim", "a.test"))
    assert a.cmdlet("Get-DkimSigningConfig", "a.test", check=False).returncode == 1
    assert unsigned(relay(a, b, subject="removed"))


def test_missing_key_sends_unsigned_and_says_so_once(pair):
    a, b = pair
    a.cmdlet("New-DkimSigningConfig", "-DomainName", "a.test", "-Enabled", "$true")
    os.unlink(os.path.join(a.dir, "dkim", "a.test", "selector1.key"))
    assert a.get("Get-DkimSigningConfig", "a.test")[0]["Status"] == "KeyMissing"
    a.start()
    # DKIM never holds mail: both go out, unsigned
    assert unsigned(relay(a, b, subject="one"))
    assert unsigned(relay(a, b, subject="two"))
    log = a.log()
    assert "cannot read" in log and "selector1.key" in log, log
    assert log.count("DKIM a.test: mail goes out unsigned") == 1, log


def test_large_message_is_hashed_in_slices(pair):
    """A body of several MiB is hashed a slice per turn of the smtp process's loop
    (receive/dkim_signer.c): the signature still covers all of it."""
    a, b = pair
    a.cmdlet("New-DkimSigningConfig", "-DomainName", "a.test", "-Enabled", "$true")
    a.start()
    body = "".join(f"line {i:07d} with  two blanks and a tab\t \r\n" for i in range(80000))
    raw = relay(a, b, subject="large", body=body)
    assert len(raw) > 3 * 1024 * 1024
    txt = records(a)
    assert verify(raw, txt)
    assert not verify(raw.replace(b"line 0079999", b"line 0079990"), txt)


def test_keys_process_that_does_not_answer_leaves_mail_unsigned(pair):
    """DKIM never holds mail: with the keys process stopped (SIGSTOP, by its PID),
    the signature times out and the message goes out unsigned."""
    a, b = pair
    a.cmdlet("New-DkimSigningConfig", "-DomainName", "a.test", "-Enabled", "$true")
    # the organisation's own server submits in clear on a trusted connector (STARTTLS
    # would need the stopped keys process for its handshake)
    port = free_port()
    a.cmdlet("New-ReceiveConnector", "-Name", "Internal", "-Usage", "Custom", "-Bindings",
             f"127.0.0.1:{port}", "-RemoteIPRanges", "127.0.0.2", "-PermissionGroups",
             "ExchangeServers", "-AuthMechanism", "Tls,ExternalAuthoritative")
    a.start()
    assert verify(relay(a, b, subject="before"), records(a))
    keys = a.children()["keys"]
    os.kill(keys, signal.SIGSTOP)
    try:
        before = len(maildir(b, CAROL))
        with smtplib.SMTP("127.0.0.1", port, source_address=("127.0.0.2", 0), timeout=30) as c:
            c.sendmail("alice@a.test", [CAROL], message(subject="keys stopped",
                                                        sender="alice@a.test", to=CAROL))
        files = wait_for(lambda: len(maildir(b, CAROL)) > before and maildir(b, CAROL),
                         timeout=15, what="the copy sent while the keys process was stopped")
        assert unsigned(files[-1][1].replace(b"\n", b"\r\n"))
    finally:
        os.kill(keys, signal.SIGCONT)
    assert "did not answer in time" in a.log()
    assert verify(relay(a, b, subject="after"), records(a))


def test_reports_are_signed(pair):
    """A's delivery report leaves through the same Send connector: its From:
    (postmaster@a.test, the default domain) is signed too."""
    a, b = pair
    a.cmdlet("New-DkimSigningConfig", "-DomainName", "a.test", "-Enabled", "$true")
    a.start()
    submit(a, CAROL, ["nobody@b.test"], message(sender=CAROL, to="nobody@b.test"))
    got = wait_for(lambda: reports(b, CAROL), timeout=15, what="A's report in carol's Maildir")
    raw = got[0][0].replace(b"\n", b"\r\n")
    assert signature(raw)["d"] == "a.test"
    assert verify(raw, records(a))


def test_lmtp_delivery_is_not_signed(instances, dovecot):  # noqa: F811
    inst = instances("a")
    inst.cmdlet("New-AcceptedDomain", "-DomainName", "a.test")
    inst.cmdlet("New-DkimSigningConfig", "-DomainName", "a.test", "-Enabled", "$true")
    inst.cmdlet("New-AcceptedDomain", "-DomainName", "lmtp.test", "-LmtpServer",
                f"127.0.0.1:{dovecot.port}")
    inst.cmdlet("New-Mailbox", "-Name", "carol", "-PrimarySmtpAddress", "carol@lmtp.test")
    inst.start()
    with inst.smtp() as c:
        c.sendmail("alice@a.test", ["carol@lmtp.test"],
                   message(sender="alice@a.test", to="carol@lmtp.test"))
    wait_for(lambda: dovecot.mailbox("carol@lmtp.test"), what="the copy in dovecot")
    with open(dovecot.mailbox("carol@lmtp.test")[0], "rb") as f:
        assert b"DKIM-Signature" not in f.read()


def test_refused_input(pair):
    a, b = pair
    a.cmdlet("New-AcceptedDomain", "-DomainName", "*.wild.test")

    def refused(*args, code=1):
        r = a.cmdlet(*args, check=False)
        assert r.returncode == code, (args, r.stdout, r.stderr)
        return r.stderr

    assert "not an accepted domain" in refused("New-DkimSigningConfig", "-DomainName", "c.test")
    assert "is not a valid domain name" in refused("New-DkimSigningConfig", "-DomainName",
                                                   "bad..name")
    assert "1024 or 2048" in refused("New-DkimSigningConfig", "-DomainName", "a.test",
                                     "-KeySize", "4096", code=2)
    assert "no size" in refused("New-DkimSigningConfig", "-DomainName", "a.test",
                                "-KeyAlgorithm", "Ed25519", "-KeySize", "2048", code=2)
    assert "Relaxed, Simple" in refused("New-DkimSigningConfig", "-DomainName", "a.test",
                                        "-BodyCanonicalization", "Loose")
    assert "DomainName: a value is required" in refused("New-DkimSigningConfig", code=2)
    # nothing of those was kept: no configuration, no key
    assert a.get("Get-DkimSigningConfig") == []
    assert not os.path.exists(os.path.join(a.dir, "dkim", "c.test"))
    assert not os.path.exists(os.path.join(a.dir, "dkim", "a.test"))
    # -WhatIf writes no key
    r = a.cmdlet("New-DkimSigningConfig", "-DomainName", "a.test", "-WhatIf")
    assert 'creating DkimSigningConfig "a.test"' in r.stdout
    assert not os.path.exists(os.path.join(a.dir, "dkim", "a.test"))
    # a subdomain of a wildcard accepted domain is an accepted domain
    a.cmdlet("New-DkimSigningConfig", "-DomainName", "mail.wild.test")
    a.cmdlet("New-DkimSigningConfig", "-DomainName", "a.test")
    assert "has one already" in refused("New-DkimSigningConfig", "-DomainName", "A.TEST")
    assert "DomainName: unknown parameter" in refused("Set-DkimSigningConfig", "a.test",
                                                      "-DomainName", "x.test", code=2)
    assert "unknown parameter" in refused("Set-DkimSigningConfig", "a.test",
                                          "-Selector1PublicKey", "v=DKIM1; p=", code=2)
    assert "not found" in refused("Rotate-DkimSigningConfig", "-Identity", "c.test")
    assert "not found" in refused("Remove-DkimSigningConfig", "-Identity", "c.test",
                                  "-Confirm:$false")
    assert "Identity: a value is required" in refused("Rotate-DkimSigningConfig", code=2)


def test_anonymous_mail_on_an_exchange_servers_connector_is_not_signed(pair):
    """ExchangeServers without ExternalAuthoritative grants an anonymous client nothing:
    a forged From: a.test arriving there stays unsigned. And no Receive connector may
    take the names postern's own reports carry."""
    a, b = pair
    a.cmdlet("New-DkimSigningConfig", "-DomainName", "a.test", "-Enabled", "$true")
    port = free_port()
    a.cmdlet("New-ReceiveConnector", "-Name", "Front", "-Usage", "Custom", "-Bindings",
             f"127.0.0.1:{port}", "-RemoteIPRanges", "127.0.0.2", "-PermissionGroups",
             "AnonymousUsers,ExchangeServers", "-AuthMechanism", "Tls")
    for name in ("DSN", "tlsrpt"):
        r = a.cmdlet("New-ReceiveConnector", "-Name", name, "-Usage", "Custom", "-Bindings",
                     f"127.0.0.1:{free_port()}", "-RemoteIPRanges", "127.0.0.3", check=False)
        assert r.returncode != 0 and "reserved for postern's own reports" in r.stderr, r.stderr
    a.start()
    before = len(maildir(b, CAROL))
    with smtplib.SMTP("127.0.0.1", port, source_address=("127.0.0.2", 0), timeout=30) as c:
        c.sendmail("alice@a.test", [CAROL], message(subject="forged", sender="alice@a.test",
                                                    to=CAROL))
    files = wait_for(lambda: len(maildir(b, CAROL)) > before and maildir(b, CAROL), timeout=15,
                     what="the relayed copy")
    assert unsigned(files[-1][1].replace(b"\n", b"\r\n"))
