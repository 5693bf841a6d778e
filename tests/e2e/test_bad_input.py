"""Bad input gets a clear reply and loses nothing: malformed SMTP, over-long lines,
bare LF/CR, too many errors, the header section, header and hop limits.
SMTP smuggling has its own suite in test_smuggling.py."""
import pytest

from conftest import RawSMTP, message, queue_id_from_reply


def session(server):
    raw = RawSMTP(server.host, server.port)
    assert raw.reply()[0] == 220
    assert raw.cmd(b"EHLO client.test")[0] == 250
    return raw


def start_data(raw):
    assert raw.cmd(b"MAIL FROM:<bob@example.org>")[0] == 250
    assert raw.cmd(b"RCPT TO:<alice@a.test>")[0] == 250
    assert raw.cmd(b"DATA")[0] == 354


def test_bare_lf_in_data_is_refused(server):
    raw = session(server)
    start_data(raw)
    code, text = raw.cmd(b"Subject: x\r\n\r\nline one\nline two\r\n.")
    assert code == 554 and b"bare LF" in text
    # the session goes on and a clean message is then accepted
    start_data(raw)
    assert raw.cmd(b"Subject: ok\r\n\r\nfine\r\n.")[0] == 250
    assert len(server.queued_ids()) == 1


def test_bare_cr_in_data_is_refused(server):
    raw = session(server)
    start_data(raw)
    code, _ = raw.cmd(b"Subject: x\r\n\r\nline\rone\r\n.")
    assert code == 554
    assert server.queued_ids() == []


def test_bare_lf_command(server):
    raw = session(server)
    raw.send(b"NOOP\n")
    code, text = raw.reply()
    assert code == 500 and b"CRLF" in text
    assert raw.cmd(b"NOOP")[0] == 250


def test_nul_in_a_command_is_refused(server):
    """Commands are parsed as C strings: a NUL would cut off what follows it
    (here a second recipient's worth of text) without the client knowing."""
    raw = session(server)
    assert raw.cmd(b"MAIL FROM:<bob@example.org>")[0] == 250
    code, text = raw.cmd(b"RCPT TO:<alice@a.test>\x00 NOTIFY=NEVER")
    assert code == 500 and b"NUL" in text, text
    code, _ = raw.cmd(b"NOOP\x00")
    assert code == 500
    assert raw.cmd(b"RCPT TO:<alice@a.test>")[0] == 250


def test_over_long_command_line(server):
    raw = session(server)
    code, text = raw.cmd(b"MAIL FROM:<" + b"a" * 20000 + b"@example.org>")
    assert code == 500 and b"too long" in text
    assert raw.cmd(b"NOOP")[0] == 250


def test_over_long_data_line(server):
    raw = session(server)
    start_data(raw)
    code, text = raw.cmd(b"Subject: x\r\n\r\n" + b"y" * 70000 + b"\r\n.")
    assert code == 500
    assert server.queued_ids() == [] and server.data_files() == []


def test_malformed_addresses(server):
    raw = session(server)
    for bad in (b"MAIL FROM:bob@example.org", b"MAIL FROM:<bob@@example.org>",
                b"MAIL FROM:<bob@example.org> FOO=BAR", b"MAIL FROM:<b\x01b@example.org>"):
        code, _ = raw.cmd(bad)
        assert code in (501, 555), bad
    # a new session: MaxProtocolErrors (5) would close this one
    raw = session(server)
    assert raw.cmd(b"MAIL FROM:<bob@example.org>")[0] == 250
    for bad in (b"RCPT TO:<>", b"RCPT TO:<alice@a.test> NOTIFY=SOMETIMES",
                b"RCPT TO:<al\xc3\xafce@a.test>"):
        code, _ = raw.cmd(bad)
        assert code in (501, 553, 555), bad


def test_too_many_protocol_errors_close_the_session(server):
    raw = session(server)
    for _ in range(5):  # MaxProtocolErrors 5
        assert raw.cmd(b"BOGUS")[0] == 500
    code, text = raw.cmd(b"BOGUS")
    assert code == 500
    code, text = raw.reply()
    assert code == 421 and b"protocol errors" in text
    assert raw.closed()


def test_header_size_limit(server):
    raw = session(server)
    start_data(raw)
    big = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"z" * 900) for i in range(80))
    code, text = raw.cmd(big + b"\r\nbody\r\n.")
    assert code == 552 and b"Header" in text
    assert server.queued_ids() == []


def test_hop_count_limit(server):
    raw = session(server)
    start_data(raw)
    hops = b"".join(b"Received: from h%d by h%d; Sat, 28 Nov 2026 10:00:00 +0000\r\n" % (i, i)
                    for i in range(31))
    code, text = raw.cmd(hops + b"\r\nbody\r\n.")
    assert code == 554 and b"5.4.6" in text
    start_data(raw)
    hops = b"".join(b"Received: from h%d by h%d; Sat, 28 Nov 2026 10:00:00 +0000\r\n" % (i, i)
                    for i in range(30))
    assert raw.cmd(hops + b"\r\nbody\r\n.")[0] == 250


def test_client_disconnect_mid_data_keeps_nothing(server):
    raw = session(server)
    start_data(raw)
    raw.send(b"Subject: cut\r\n\r\npartial content\r\n")
    raw.close()
    # the partial message's file is removed once the session ends
    from conftest import wait_for
    wait_for(lambda: server.data_files() == [], what="partial file removal")
    assert server.queued_ids() == []


def test_binary_garbage_before_ehlo(server):
    raw = RawSMTP(server.host, server.port)
    raw.reply()
    raw.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) + b"\r\n")
    code, _ = raw.reply()
    assert code == 500
    with server.smtp() as c:
        assert c.ehlo()[0] == 250


def stored_message(server):
    ids = server.queued_ids()
    assert len(ids) == 1, ids
    return server.queued_content(ids[0])


def test_header_firewall_strips_own_headers_anywhere_in_the_section(server):
    raw = session(server)
    start_data(raw)
    code, _ = raw.cmd(b"Subject: a\r\nX-Postern-Domain-Secured: forged.test\r\n\tcontinued\r\n"
                      b"To: alice@a.test\r\nx-postern-domain-secured : again\r\n\r\n"
                      b"X-Postern-Domain-Secured: body text stays\r\n.")
    assert code == 250
    content = stored_message(server)
    head, body = content.split(b"\r\n\r\n", 1)
    assert b"postern-domain-secured" not in head.lower() and b"continued" not in head, head
    assert b"To: alice@a.test" in head
    assert body == b"X-Postern-Domain-Secured: body text stays\r\n"


@pytest.mark.parametrize("content, why", [
    (b"Subject: a\r\njunk without colon\r\nX-Postern-Domain-Secured: forged.test\r\n\r\nb",
     b"Malformed header"),
    (b"From someone@example.org Sat Nov 28 10:00:00 2026\r\nSubject: a\r\n\r\nb",
     b"no header section"),
    (b"just a body, no header\r\nX-Postern-Domain-Secured: forged.test\r\n\r\nb",
     b"no header section"),
    (b"Subject: a\r\nBad Name: x\r\nX-Postern-Domain-Secured: forged.test\r\n\r\nb",
     b"Malformed header"),
    (b"Subject: a\r\nX-Postern\x00-Domain-Secured: forged.test\r\n\r\nb", b"Malformed header"),
    (b"\tby forged.test with ESMTPS; domain-secured=forged.test\r\nSubject: a\r\n\r\nb",
     b"folded"),
])
def test_malformed_header_section_is_refused(server, content, why):
    raw = session(server)
    start_data(raw)
    code, text = raw.cmd(content + b"\r\n.")
    assert code == 554 and b"5.6.0" in text and why in text, text
    assert server.queued_ids() == []
    # the session goes on
    assert raw.cmd(b"NOOP")[0] == 250


def test_hop_count_counts_the_whole_header_section(server):
    raw = session(server)
    start_data(raw)
    hops = b"".join(b"Received: from h%d by h%d; Sat, 28 Nov 2026 10:00:00 +0000\r\n" % (i, i)
                    for i in range(40))
    code, text = raw.cmd(b"Subject: loop\r\nX-Junk\r\n" + hops + b"\r\nbody\r\n.")
    assert code == 554, text  # malformed, and never passed as a 40-hop message
    start_data(raw)
    code, text = raw.cmd(b"Subject: loop\r\nX-A: 1\r\n\tfolded\r\n" + hops + b"\r\nbody\r\n.")
    assert code == 554 and b"5.4.6" in text, text
    assert server.queued_ids() == []


def test_bdat_is_refused_without_chunking(server):
    """CHUNKING is not offered, so BDAT is an unknown command: its chunk
    cannot be the way round the end-of-data rules."""
    raw = RawSMTP(server.host, server.port)
    raw.reply()
    code, text = raw.cmd(b"EHLO client.test")
    assert code == 250 and b"CHUNKING" not in text
    assert raw.cmd(b"MAIL FROM:<bob@example.org>")[0] == 250
    assert raw.cmd(b"RCPT TO:<alice@a.test>")[0] == 250
    code, _ = raw.cmd(b"BDAT 6 LAST")
    assert 500 <= code < 600
    assert server.queued_ids() == []
