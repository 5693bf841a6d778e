"""Receiving mail: ESMTP dialogue, acceptance into the durable queue, relay rules."""
import os
import re
import time
import smtplib
import socket

import pytest

from conftest import RawSMTP, message, open_transaction, queue_id_from_reply, wait_for


def test_ehlo_advertises_extensions(server):
    with server.smtp() as c:
        code, text = c.ehlo()
        assert code == 250
        text = text.decode()
        assert text.startswith("mail.a.test Hello [127.0.0.1]")
        for ext in ("PIPELINING", "SIZE 10485760", "8BITMIME", "ENHANCEDSTATUSCODES",
                    "SMTPUTF8", "DSN", "STARTTLS"):
            assert ext in text
        # BasicAuthRequireTLS on the default connector: no AUTH before TLS
        assert "AUTH" not in text


def test_banner_names_fqdn(server):
    raw = RawSMTP(server.host, server.port)
    code, text = raw.reply()
    assert code == 220 and b"mail.a.test" in text
    raw.close()


def test_message_is_queued_with_id_and_received_header(server):
    with server.smtp() as c:
        c.ehlo()
        c.mail("bob@example.org")
        c.rcpt("alice@a.test")
        code, reply = c.data(message(subject="first"))
    assert code == 250
    qid = queue_id_from_reply(reply)
    assert qid in server.queued_ids()
    content = server.queued_content(qid)
    first = content.split(b"\r\n\r\n")[0]
    assert first.startswith(b"Received: from client.test ([127.0.0.1])")
    assert b"by mail.a.test (postern) with ESMTP id " + qid.encode() in first
    assert b'connector "Default mail"' in first
    assert b"Subject: first" in content
    assert content.endswith(b"Hello.\r\n")


def test_dot_stuffing_is_undone(server):
    raw = open_transaction(server.host, server.port, data=True)
    code, text = raw.cmd(b"Subject: dots\r\n\r\n..leading dot\r\n.\r\n")
    assert code == 250
    qid = queue_id_from_reply(text)
    assert server.queued_content(qid).endswith(b"\r\n.leading dot\r\n")
    raw.close()


def test_relay_refused_for_anonymous(server):
    with server.smtp() as c:
        c.ehlo()
        c.mail("bob@example.org")
        code, text = c.rcpt("victim@elsewhere.example")
        assert code == 550 and b"5.7.54" in text
        # and no message can be sent with only refused recipients
        code, _ = c.docmd("DATA")
        assert code == 503
    assert server.queued_ids() == []


def test_unknown_local_user_refused(server):
    with server.smtp() as c:
        c.ehlo()
        c.mail("bob@example.org")
        code, text = c.rcpt("nobody@a.test")
        assert code == 550 and b"5.1.1" in text
        assert c.rcpt("postmaster@a.test")[0] == 250
        assert c.rcpt("ALICE@A.TEST")[0] == 250


def test_command_sequence_errors(server):
    """Each command out of order gets 503 and says what the dialogue lacks
    (or that its moment has passed); nothing of it is carried out."""
    with server.smtp() as c:
        for cmd in ("MAIL FROM:<bob@example.org>", "RCPT TO:<alice@a.test>", "DATA",
                    "AUTH PLAIN AGJvYgBwdw=="):
            assert c.docmd(cmd) == (503, b"5.5.1 Send EHLO or HELO first"), cmd
    with server.smtp() as c:  # a new session: each 503 counts against MaxProtocolErrors
        c.ehlo()
        assert c.docmd("RCPT TO:<alice@a.test>") == (503, b"5.5.1 Need MAIL command")
        assert c.docmd("DATA") == (503, b"5.5.1 Need MAIL command")
        assert c.docmd("MAIL FROM:<bob@example.org>")[0] == 250
        assert c.docmd("DATA") == (503, b"5.5.1 Need RCPT command")
        assert c.docmd("MAIL FROM:<bob@example.org>") == (503, b"5.5.1 Sender already specified")
        assert c.docmd("AUTH PLAIN AGJvYgBwdw==") == (
            503, b"5.5.1 AUTH is not permitted during a mail transaction")
        assert c.docmd("RCPT TO:<alice@a.test>")[0] == 250
    with server.smtp() as c:
        c.ehlo()
        assert c.docmd("RSET")[0] == 250
        assert c.docmd("NOOP")[0] == 250
        assert c.docmd("VRFY alice")[0] == 252
        assert c.docmd("HELP")[0] == 214
        assert c.docmd("FOO")[0] == 500


def test_size_limit_announced_and_enforced(server):
    server.cmdlet("Set-ReceiveConnector", "Default mail", "-MaxMessageSize", "64KB")
    server.reload()
    with server.smtp() as c:
        c.ehlo()
        assert c.has_extn("size") and c.esmtp_features["size"] == "65536"
        code, text = c.docmd("MAIL FROM:<bob@example.org> SIZE=70000")
        assert code == 552 and b"5.3.4" in text
        c.mail("bob@example.org")
        c.rcpt("alice@a.test")
        code, text = c.data(message(body="x" * 998 + "\r\n") * 80)
        assert code == 552
    assert server.queued_ids() == []
    assert server.data_files() == []


def test_too_many_recipients(server):
    server.cmdlet("Set-ReceiveConnector", "Default mail", "-MaxRecipientsPerMessage", "2")
    server.reload()
    with server.smtp() as c:
        c.ehlo()
        c.mail("bob@example.org")
        assert c.rcpt("alice@a.test")[0] == 250
        assert c.rcpt("postmaster@a.test")[0] == 250
        code, text = c.rcpt("alice@a.test")
        assert code == 452 and b"4.5.3" in text


def test_pipelined_transaction(server):
    raw = RawSMTP(server.host, server.port)
    raw.reply()
    raw.cmd(b"EHLO client.test")
    raw.send(b"MAIL FROM:<bob@example.org>\r\nRCPT TO:<alice@a.test>\r\n"
             b"RCPT TO:<nobody@a.test>\r\nDATA\r\n")
    assert raw.reply()[0] == 250
    assert raw.reply()[0] == 250
    assert raw.reply()[0] == 550
    assert raw.reply()[0] == 354
    raw.send(b"Subject: p\r\n\r\nbody\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<alice@a.test>\r\n"
             b"DATA\r\n")
    assert raw.reply()[0] == 250
    assert raw.reply()[0] == 250
    assert raw.reply()[0] == 250
    assert raw.reply()[0] == 354
    code, _ = raw.cmd(b"Subject: bounce\r\n\r\nbounce\r\n.")
    assert code == 250
    assert raw.cmd(b"QUIT")[0] == 221
    assert len(server.queued_ids()) == 2


def test_dsn_and_smtputf8_parameters_stored(server):
    with server.smtp() as c:
        c.ehlo()
        assert c.docmd("MAIL FROM:<bob@example.org> RET=HDRS ENVID=QQ+2B1 SMTPUTF8 "
                       "BODY=8BITMIME")[0] == 250
        assert c.docmd("RCPT TO:<alice@a.test> NOTIFY=SUCCESS,FAILURE "
                       "ORCPT=rfc822;alice@a.test")[0] == 250
        code, reply = c.data(message())
        assert code == 250
    qid = queue_id_from_reply(reply)
    env = server.queued_envelope(qid)
    assert "envid: QQ+2B1" in env
    assert "smtputf8: 1" in env
    assert re.search(r"rcpt: ready 6 rfc822;alice@a.test alice@a.test", env)


def test_connector_without_permission_groups_accepts_nothing(server):
    server.cmdlet("Set-ReceiveConnector", "Default mail", "-PermissionGroups", "None")
    server.reload()
    with server.smtp() as c:
        c.ehlo()
        code, text = c.docmd("MAIL FROM:<bob@example.org>")
        assert code == 530 and b"5.7.1" in text


def test_commands_and_data_arriving_byte_by_byte(server):
    """Lines split across many reads (as nginx-tests do with 'HEL' + 'O ...')."""
    raw = RawSMTP(server.host, server.port)
    raw.reply()
    for chunk in (b"EHLO client.test\r\n", b"MAIL FROM:<bob@example.org>\r\n",
                  b"RCPT TO:<alice@a.test>\r\n", b"DATA\r\n"):
        for i in range(len(chunk)):
            raw.send(chunk[i:i + 1])
            time.sleep(0.001)
        assert raw.reply()[0] in (250, 354)
    body = b"Subject: slow\r\n\r\n" + b"x" * 3000 + b"\r\nend\r\n.\r\n"
    for i in range(0, len(body), 7):
        raw.send(body[i:i + 7])
    code, text = raw.reply()
    assert code == 250
    assert server.queued_content(queue_id_from_reply(text)).endswith(b"x" * 3000 + b"\r\nend\r\n")


def test_half_closed_client_gets_its_replies_and_no_duplicate(server):
    """Exim writes QUIT right behind the final dot and shuts down its sending
    side. The commands it sent are answered (250 for the message, then 221)
    before the connection goes: dropping them would lose the 250 and make
    the client send the message again."""
    raw = RawSMTP(server.host, server.port)
    assert raw.reply()[0] == 220
    assert raw.cmd(b"EHLO client.test")[0] == 250
    raw.send(b"MAIL FROM:<bob@example.org>\r\nRCPT TO:<alice@a.test>\r\nDATA\r\n")
    assert [raw.reply()[0] for _ in range(3)] == [250, 250, 354]
    raw.send(b"Subject: half close\r\n\r\nbody\r\n.\r\nQUIT\r\n")
    raw.sock.shutdown(socket.SHUT_WR)
    code, text = raw.reply()
    assert code == 250, text
    assert raw.reply()[0] == 221
    assert raw.closed()
    assert len(server.queued_ids()) == 1
    # a half-close in the middle of a message keeps nothing and still closes
    raw = RawSMTP(server.host, server.port)
    raw.reply()
    raw.cmd(b"EHLO client.test")
    raw.send(b"MAIL FROM:<bob@example.org>\r\nRCPT TO:<alice@a.test>\r\nDATA\r\n")
    assert [raw.reply()[0] for _ in range(3)] == [250, 250, 354]
    raw.send(b"Subject: cut\r\n\r\npartial")
    raw.sock.shutdown(socket.SHUT_WR)
    assert raw.closed()
    assert len(server.queued_ids()) == 1
