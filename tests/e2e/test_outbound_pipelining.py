"""Outbound PIPELINING (RFC 2920; docs/DESIGN.md, Delivery): when the next hop
offers PIPELINING, postern sends MAIL, every RCPT and DATA in one batch and
then reads the replies; when it does not, one command at a time.

The next hop is a scripted SMTP server written here (BatchPeer): it holds
its first reply of a transaction until the commands it expects have arrived
(or its patience runs out) and records what had arrived by then.
Must never: reply before recording the batch, or wait for a batch without a
bound (PATIENCE).
"""
import socket

from conftest import SLOW, message, wait_for
from peers import LoopbackServer, relay_instance, submit, wait_queue_empty

RCPTS = ["carol@b.test", "dave@b.test", "erin@b.test"]
PATIENCE = 5  # seconds a pipelining peer waits for the rest of a batch


class BatchPeer(LoopbackServer):
    """A scripted SMTP server. For each transaction it records `batches`: the command
    lines that had arrived when it sent its reply to MAIL, and the `messages` it took.
    With pipelining=True it offers PIPELINING and waits (up to PATIENCE s) for
    MAIL + len(RCPTS) RCPT + DATA before replying; otherwise it replies to MAIL as soon
    as that line is in, recording whatever else arrived with it."""

    def __init__(self, pipelining):
        super().__init__()
        self.pipelining = pipelining
        self.batches, self.messages = [], []

    def serve(self, conn):
        conn.settimeout(30 * SLOW)
        buf = bytearray()

        def lines_in(data):
            return [l.decode() for l in bytes(data).split(b"\r\n")[:-1]]

        def read_line():
            while b"\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    raise ValueError("closed")
                buf.extend(chunk)
            line, _, rest = bytes(buf).partition(b"\r\n")
            buf[:] = rest
            return line.decode()

        conn.sendall(b"220 batch.test ESMTP scripted\r\n")
        while True:
            line = read_line()
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                ext = b"250-PIPELINING\r\n" if self.pipelining else b""
                conn.sendall(b"250-batch.test\r\n" + ext + b"250 8BITMIME\r\n")
            elif verb == "MAIL":
                batch = [line]
                if self.pipelining:  # wait for the rest of the batch
                    conn.settimeout(PATIENCE * SLOW)
                    try:
                        while len(lines_in(buf)) < len(RCPTS) + 1:
                            chunk = conn.recv(65536)
                            if not chunk:
                                raise ValueError("closed")
                            buf.extend(chunk)
                    except socket.timeout:
                        pass
                    conn.settimeout(30 * SLOW)
                else:  # what came with MAIL (one write of the client's arrives whole)
                    conn.setblocking(False)
                    try:
                        buf.extend(conn.recv(65536))
                    except BlockingIOError:
                        pass
                    conn.setblocking(True)
                    conn.settimeout(30 * SLOW)
                batch += lines_in(buf)
                self.batches.append(batch)
                conn.sendall(b"250 2.1.0 Ok\r\n")
            elif verb == "RCPT":
                conn.sendall(b"250 2.1.5 Ok\r\n")
            elif verb == "DATA":
                conn.sendall(b"354 go ahead\r\n")
                data = []
                while (l := read_line()) != ".":
                    data.append(l)
                self.messages.append("\n".join(data))
                conn.sendall(b"250 2.0.0 Ok: queued\r\n")
            elif verb == "QUIT":
                conn.sendall(b"221 2.0.0 Bye\r\n")
                return
            else:
                conn.sendall(b"502 5.5.2 not here\r\n")


def deliver_through(instances, peer, subject):
    a = relay_instance(instances, "a", peer.port)
    submit(a, "alice@a.test", RCPTS, message(subject=subject, sender="alice@a.test",
                                             to=", ".join(RCPTS)))
    wait_for(lambda: peer.messages, timeout=15 * SLOW, what="the message at the next hop")
    wait_queue_empty(a)
    assert f"Subject: {subject}" in peer.messages[0]
    return peer.batches[0]


def test_mail_rcpt_and_data_go_in_one_batch_when_pipelining_is_offered(instances):
    with BatchPeer(pipelining=True) as peer:
        batch = deliver_through(instances, peer, "pipelined")
    verbs = [l.split(" ", 1)[0].split(":")[0].upper() for l in batch]
    assert verbs == ["MAIL"] + ["RCPT"] * len(RCPTS) + ["DATA"], (
        f"arrived before the reply to MAIL: {batch}")
    assert [l.split("<", 1)[1].split(">", 1)[0] for l in batch[1:-1]] == RCPTS


def test_one_command_at_a_time_without_pipelining(instances):
    with BatchPeer(pipelining=False) as peer:
        batch = deliver_through(instances, peer, "not pipelined")
    assert len(batch) == 1 and batch[0].upper().startswith("MAIL FROM:"), (
        f"sent before the reply to MAIL, to a peer without PIPELINING: {batch}")
