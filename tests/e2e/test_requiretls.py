"""REQUIRETLS (RFC 8689) on the receiving side: the EHLO keyword only inside TLS, the MAIL
FROM parameter, the TLS-Required: No header field, and how both reach the envelope,
Get-Message and the message tracking log. Delivery (the sending side) is not tested here.

The `server` fixture's mailboxes sit on an LMTP server that is down, so every accepted
message stays in the queue, where these tests look at it."""
import smtplib

from conftest import client_context, message, queue_id_from_reply, wait_for


def tls_session(server):
    """An SMTP session after STARTTLS and a second EHLO."""
    c = server.smtp()
    c.ehlo()
    assert c.starttls(context=client_context())[0] == 220
    c.ehlo()
    return c


def send(c, msg, mail_options=()):
    """One message to alice@a.test on session c; returns its queue ID."""
    code, text = c.mail("bob@example.org", list(mail_options))
    assert code == 250, text
    code, text = c.rcpt("alice@a.test")
    assert code == 250, text
    code, reply = c.data(msg.encode())
    assert code == 250, reply
    return queue_id_from_reply(reply)


def shown(server, qid):
    """The message as Get-Message shows it, once the service lists it. (Not waiting
    for its Subject: after a restart the service shows it only once the message has
    a tracking event again.)"""
    return wait_for(lambda: [m for m in server.get("Get-Message", "-Identity", qid)
                             if m.get("Identity", "").endswith(qid)],
                    what=f"Get-Message to list {qid}")[0]


def envelope_keys(server, qid):
    """The keys of the queued envelope's "key: value" lines, with their values."""
    lines = server.queued_envelope(qid).splitlines()
    return dict(l.split(": ", 1) for l in lines if ": " in l)


def tracked_info(server, qid):
    """MessageInfo of the message's RECEIVE event in the message tracking log."""
    def receive():
        return server.get("Get-MessageTrackingLog", "-InternalMessageId", qid, "-EventId",
                          "RECEIVE")
    return wait_for(receive, what=f"the RECEIVE of {qid} in the tracking log")[0].get(
        "MessageInfo", "")


def with_header(field, subject):
    """A message whose header section carries field (one or more lines) after Subject."""
    return message(subject=subject).replace("\r\nMessage-ID:", f"\r\n{field}\r\nMessage-ID:", 1)


def test_offered_only_inside_tls(server):
    with server.smtp() as c:
        code, _ = c.ehlo()
        assert code == 250
        assert "starttls" in c.esmtp_features
        assert "requiretls" not in c.esmtp_features
        assert c.starttls(context=client_context())[0] == 220
        c.ehlo()
        assert "requiretls" in c.esmtp_features
        assert c.esmtp_features["requiretls"] == ""  # a keyword without parameters
        # the keyword stays with the TLS session, whatever EHLO comes again
        c.ehlo("other.client.test")
        assert "requiretls" in c.esmtp_features


def test_refused_in_clear_and_nothing_queued(server):
    with server.smtp() as c:
        c.ehlo()
        code, text = c.mail("bob@example.org", ["REQUIRETLS"])
        assert code == 555, text
        assert text.startswith(b"5.5.4 ") and b"REQUIRETLS" in text and b"STARTTLS" in text
        # no transaction was opened by it
        assert c.rcpt("alice@a.test")[0] == 503
        # the session goes on: a message without the parameter is accepted
        qid = send(c, message(subject="plain after refusal"))
    assert server.queued_ids() == [qid]
    assert shown(server, qid)["RequireTLS"] == "False"
    assert "requiretls" not in envelope_keys(server, qid)


def test_refused_after_helo_even_inside_tls(server):
    # HELO offers no extension at all: any MAIL parameter is refused, as before
    with server.smtp() as c:
        c.ehlo()
        c.starttls(context=client_context())
        code, _ = c.helo()
        assert code == 250
        # (smtplib drops MAIL parameters after HELO: the command is sent as is)
        code, text = c.docmd("MAIL FROM:<bob@example.org> REQUIRETLS")
        assert code == 555 and text.startswith(b"5.5.4 "), text
    assert server.queued_ids() == []


def test_value_or_repeat_is_a_syntax_error(server):
    with tls_session(server) as c:
        code, text = c.mail("bob@example.org", ["REQUIRETLS=YES"])
        assert code == 501 and b"5.5.4" in text and b"REQUIRETLS" in text, text
        code, text = c.mail("bob@example.org", ["REQUIRETLS", "REQUIRETLS"])
        assert (code, text) == (501, b"5.5.4 Duplicate parameter")
    assert server.queued_ids() == []


def test_accepted_over_tls_and_recorded(server):
    with tls_session(server) as c:
        qid = send(c, message(subject="needs tls"), ["REQUIRETLS"])
    msg = shown(server, qid)
    assert msg["RequireTLS"] == "True", msg
    assert msg["TlsRequiredNo"] == "False", msg
    assert msg["TlsProtocol"].startswith("version=TLS"), msg
    keys = envelope_keys(server, qid)
    assert keys.get("requiretls") == "1", keys
    assert "tls-required-no" not in keys, keys
    assert "RequireTLS=True" in tracked_info(server, qid).split(";")


def test_requiretls_flag_is_per_transaction(server):
    # a second transaction on the same session without the parameter has no flag
    with tls_session(server) as c:
        first = send(c, message(subject="first"), ["REQUIRETLS"])
        second = send(c, message(subject="second"))
    assert shown(server, first)["RequireTLS"] == "True"
    assert shown(server, second)["RequireTLS"] == "False"
    assert "requiretls" not in envelope_keys(server, second)
    # a script can pick them out by the property
    out = server.cmdlet("Get-Message | Where-Object {$_.RequireTLS -eq $true}").stdout
    assert first in out and second not in out, out


def test_tls_required_no_header(server):
    # in clear text too: the field needs no TLS, it asks for less
    cases = {
        "simple": "TLS-Required: No",
        "case and blanks": "tls-required :\t nO ",
        "folded": "TLS-Required:\r\n No",
    }
    ids = {}
    with server.smtp() as c:
        c.ehlo()
        for name, field in cases.items():
            ids[name] = send(c, with_header(field, name))
    for name, qid in ids.items():
        msg = shown(server, qid)
        assert (msg["TlsRequiredNo"], msg["RequireTLS"]) == ("True", "False"), (name, msg)
        assert envelope_keys(server, qid).get("tls-required-no") == "1", name
    assert tracked_info(server, ids["simple"]) == "TlsRequiredNo=True"


def test_tls_required_other_values_and_places_ignored(server):
    body_only = message(subject="in the body", body="TLS-Required: No\r\n")
    cases = {
        "yes": with_header("TLS-Required: Yes", "yes"),
        "no more": with_header("TLS-Required: No thanks", "no more"),
        "other field": with_header("X-TLS-Required: No", "other field"),
        "in the body": body_only,
    }
    ids = {}
    with server.smtp() as c:
        c.ehlo()
        for name, msg in cases.items():
            ids[name] = send(c, msg)
    for name, qid in ids.items():
        assert shown(server, qid)["TlsRequiredNo"] == "False", name
        assert "tls-required-no" not in envelope_keys(server, qid), name


def test_requiretls_wins_over_header(server):
    # RFC 8689: with REQUIRETLS on MAIL FROM the TLS-Required field is ignored
    with tls_session(server) as c:
        qid = send(c, with_header("TLS-Required: No", "both"), ["REQUIRETLS"])
    msg = shown(server, qid)
    assert (msg["RequireTLS"], msg["TlsRequiredNo"]) == ("True", "False"), msg
    keys = envelope_keys(server, qid)
    assert keys.get("requiretls") == "1" and "tls-required-no" not in keys, keys
    # the field itself is kept in the message for later hops
    assert b"\r\nTLS-Required: No\r\n" in server.queued_content(qid)
    assert tracked_info(server, qid) == "RequireTLS=True"


def test_flags_survive_a_restart(server):
    with tls_session(server) as c:
        needs = send(c, message(subject="needs"), ["REQUIRETLS"])
        relaxed = send(c, with_header("TLS-Required: No", "relaxed"))
    assert server.stop() == 0
    # read from the stopped instance's queue by the cmdlet itself, then by the service
    stopped = {m["Identity"].rsplit("\\", 1)[1]: m for m in server.get("Get-Message")}
    assert stopped[needs]["RequireTLS"] == "True", stopped
    assert stopped[relaxed]["TlsRequiredNo"] == "True", stopped
    server.start()
    assert shown(server, needs)["RequireTLS"] == "True"
    assert shown(server, relaxed)["TlsRequiredNo"] == "True"


def test_pipelined_batch(server):
    # a pipelining client sends MAIL REQUIRETLS, RCPT and DATA together; in clear the
    # MAIL is refused and what follows fails cleanly, without a message queued
    with server.smtp() as c:
        c.ehlo()
        c.send(b"MAIL FROM:<bob@example.org> REQUIRETLS\r\nRCPT TO:<alice@a.test>\r\nDATA\r\n")
        replies = [c.getreply() for _ in range(3)]
        assert [r[0] for r in replies] == [555, 503, 503], replies
        assert c.noop()[0] == 250
    assert server.queued_ids() == []
    # and the same batch inside TLS goes through
    with tls_session(server) as c:
        c.send(b"MAIL FROM:<bob@example.org> REQUIRETLS\r\nRCPT TO:<alice@a.test>\r\nDATA\r\n")
        replies = [c.getreply() for _ in range(3)]
        assert [r[0] for r in replies] == [250, 250, 354], replies
        c.send(message(subject="pipelined").encode() + b".\r\n")
        code, reply = c.getreply()
        assert code == 250, reply
    qid = queue_id_from_reply(reply)
    assert shown(server, qid)["RequireTLS"] == "True"
