"""SMTP smuggling, as a standing suite: every bare-CR / bare-LF / over-long /
split-read combination around the end-of-data sequence.

Each case sends one message whose content hides a second transaction behind
a fake end of data (the smuggled message's own end is then the real one),
then QUIT, and reads every reply until
the server closes. The transcript must be exactly [the refusal of the one
message, 221]: a smuggled MAIL/RCPT/DATA would add replies of its own, and
because the server answers in order, this check cannot run before a smuggled
commit would have been answered. A control case with a genuine end proves the
same transcript check sees a second transaction when there is one.

The other half: what postern relays to the next hop is canonical CRLF, so it
cannot be used to smuggle into a weaker server behind it.
"""
import random
import socket
import time

import pytest

from conftest import SLOW, wait_for
from peers import ScriptedSMTP, relay_instance, submit

LINE_MAX = 65536  # DATA_LINE_MAX in src/receive/session_data.c, terminator included
SMUGGLED = (b"MAIL FROM:<ceo@a.test>\r\nRCPT TO:<alice@a.test>\r\nDATA\r\n"
            b"Subject: smuggled\r\n\r\nforged\r\n.\r\n")


def transcript(server, payload, chunking, seed=0):
    """Runs EHLO/MAIL/RCPT/DATA, sends payload (the content, a real end and
    QUIT) as chunking says, and returns the reply codes that followed the 354,
    read until the server closed the connection."""
    sock = socket.create_connection((server.host, server.port), timeout=20 * SLOW)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = sock.makefile("rb")

    def reply():
        code = None
        while True:
            line = f.readline()
            if not line:
                return None
            code = int(line[:3])
            if line[3:4] != b"-":
                return code

    assert reply() == 220
    for cmd, want in ((b"EHLO client.test", 250), (b"MAIL FROM:<bob@example.org>", 250),
                      (b"RCPT TO:<alice@a.test>", 250), (b"DATA", 354)):
        sock.sendall(cmd + b"\r\n")
        assert reply() == want, cmd
    for piece in chunks(payload, chunking, seed):
        sock.sendall(piece)
        if chunking != "whole":
            # lets the server read the pieces separately
            time.sleep(0.05 if chunking == "pieces" else 0.001)
    codes = []
    while (code := reply()) is not None:
        codes.append(code)
    sock.close()
    return codes


def chunks(payload, chunking, seed):
    if chunking == "pieces":  # already split by the caller
        return payload
    if chunking == "whole":
        return [payload]
    if chunking == "random":
        rng = random.Random(seed)
        out, i = [], 0
        while i < len(payload):
            n = rng.choice((1, 2, 3, 7, 100, 4096, 65535, 65536, 65537))
            out.append(payload[i:i + n])
            i += n
        return out
    # "bytes": large parts in one piece, then every octet around the fake end alone
    head = max(0, payload.find(b".") - 8)
    tail = payload[head:head + 64]
    return [payload[:head]] + [tail[i:i + 1] for i in range(len(tail))] + [payload[head + 64:]]


def fake_end_cases():
    """(line length incl. terminator, terminator, dot line) combinations that
    are not a genuine <CRLF>.<CRLF>."""
    for length in (10, LINE_MAX - 1, LINE_MAX, LINE_MAX + 1, 70000):
        for term in (b"\n", b"\r", b"\r\n"):
            for dot in (b".\n", b".\r\n", b".\r"):
                if term == b"\r\n" and dot == b".\r\n":
                    continue  # the genuine end: see the control test
                yield length, term, dot


def content_line(length, term):
    return b"y" * (length - len(term)) + term


@pytest.mark.parametrize("chunking", ["whole", "bytes", "random"])
def test_no_fake_end_of_data_runs_commands(server, chunking):
    failures = []
    for n, (length, term, dot) in enumerate(fake_end_cases()):
        payload = (b"Subject: outer\r\n\r\n" + content_line(length, term) + dot + SMUGGLED +
                   b"QUIT\r\n")
        codes = transcript(server, payload, chunking, seed=n)
        if len(codes) != 2 or codes[0] not in (500, 554) or codes[1] != 221:
            failures.append((length, term, dot, codes))
    assert not failures, failures
    assert server.queued_ids() == []


@pytest.mark.parametrize("length", [10, LINE_MAX, LINE_MAX + 1, 70000])
def test_cr_and_lf_in_separate_reads(server, length):
    """A line whose CR ends one read and whose LF starts the next ended in
    CRLF, even when it was too long to keep; one whose last octet was not a
    CR did not."""
    body = b"Subject: split\r\n\r\n" + b"z" * (length - 2)
    # genuine: the first message is judged, then the second transaction runs
    # as the pipelined commands it then is
    first = 250 if length <= LINE_MAX else 500
    codes = transcript(server, [body + b"\r", b"\n.\r\n" + SMUGGLED + b"QUIT\r\n"], "pieces")
    assert codes == [first, 250, 250, 354, 250, 221], (length, codes)
    # bare LF at the start of the next read: no end there
    codes = transcript(server, [body + b"z", b"\n.\r\n" + SMUGGLED + b"QUIT\r\n"],
                       "pieces")
    assert len(codes) == 2 and codes[0] in (500, 554) and codes[1] == 221, (length, codes)


def test_control_genuine_end_runs_the_next_transaction(server):
    """The same transcript check sees a second transaction when the end is
    real: the suite above can fail."""
    payload = b"Subject: outer\r\n\r\nbody\r\n.\r\n" + SMUGGLED + b"QUIT\r\n"
    assert transcript(server, payload, "whole") == [250, 250, 250, 354, 250, 221]
    wait_for(lambda: len(server.queued_ids()) == 2, what="both messages queued")


def canonical(data):
    """True when every LF follows a CR and every CR precedes an LF."""
    return data.replace(b"\r\n", b"").find(b"\n") < 0 and data.replace(b"\r\n", b"").find(b"\r") < 0


def test_relayed_content_is_canonical_crlf(instances):
    """What postern sends on (the message with its Received: field, and the
    failure report it writes itself) to a scripted next hop (peers.ScriptedSMTP) is
    canonical CRLF, dot-stuffed."""
    def rcpt_reply(addr, n):
        return "550 5.1.1 no such user" if addr.startswith("nobody") else "250 2.1.5 Ok"

    with ScriptedSMTP(rcpt_reply=rcpt_reply) as peer:
        a = relay_instance(instances, "a", peer.port, relay_domains=("peer.test",))
        body = "From: bob@peer.test\r\nSubject: canonical\r\n\r\n.starts with a dot\r\n"
        submit(a, "bob@peer.test", ["carol@peer.test", "nobody@peer.test"], body)
        got = wait_for(lambda: len(peer.accepted()) >= 2 and peer.accepted(), timeout=20,
                       what="the relayed message and the report to bob@peer.test")
        for rcpts, data in got:
            assert canonical(data), (rcpts, data[:400])
        relayed = [d for r, d in got if r == ["carol@peer.test"]]
        assert relayed and b"\r\n.starts with a dot\r\n" in relayed[0], got
        assert [d for r, d in got if r == ["bob@peer.test"]], got
