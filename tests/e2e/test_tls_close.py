"""TLS sessions end with close_notify on both sides (RFC 8446 6.1).

Python's ssl tells the two endings apart once OP_IGNORE_UNEXPECTED_EOF
(which CPython sets by default) is cleared and suppress_ragged_eofs is off: a
peer that sent close_notify reads as a clean end (b""), one that just closed
its socket raises SSLEOFError. The server side is checked with a client
after QUIT; the client side with a scripted STARTTLS peer (written here,
named as scripted) that postern delivers to.
"""
import socket
import ssl

from conftest import SLOW, client_context, wait_for
from peers import LoopbackServer, make_certificate, relay_instance, submit


def strict_eof_context():
    """A client context that tells a close_notify from a plain close."""
    ctx = client_context()
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    return ctx


def read_reply(f):
    while True:
        line = f.readline()
        if not line or line[3:4] != b"-":
            return line


def test_server_sends_close_notify_after_quit(server):
    sock = socket.create_connection((server.host, server.port), timeout=10 * SLOW)
    f = sock.makefile("rb")
    read_reply(f)
    sock.sendall(b"EHLO client.test\r\n")
    read_reply(f)
    sock.sendall(b"STARTTLS\r\n")
    assert read_reply(f).startswith(b"220")
    tls = strict_eof_context().wrap_socket(sock, suppress_ragged_eofs=False)
    tf = tls.makefile("rb")
    tls.sendall(b"EHLO client.test\r\n")
    assert read_reply(tf).startswith(b"250")
    tls.sendall(b"QUIT\r\n")
    assert read_reply(tf).startswith(b"221")
    # close_notify reads as a clean end; without it this raises SSLEOFError
    assert tls.recv(1024) == b""
    tls.close()


class ScriptedTLSPeer(LoopbackServer):
    """A scripted SMTP server with STARTTLS that records, per connection,
    whether the client ended its TLS session with close_notify."""

    def __init__(self, workdir):
        super().__init__()
        cert, key = make_certificate(workdir, "peer.test")
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
        self.endings = []  # "close_notify" or "truncated", one per TLS session

    def serve(self, conn):
        conn.settimeout(10 * SLOW)
        f = conn.makefile("rb")
        conn.sendall(b"220 peer.test ESMTP scripted\r\n")
        f.readline()  # EHLO
        conn.sendall(b"250-peer.test\r\n250 STARTTLS\r\n")
        assert f.readline().upper().startswith(b"STARTTLS")
        conn.sendall(b"220 go ahead\r\n")
        tls = self.track(self.ctx.wrap_socket(conn, server_side=True,
                                              suppress_ragged_eofs=False))
        tf = tls.makefile("rb")
        tf.readline()  # EHLO
        tls.sendall(b"250-peer.test\r\n250 8BITMIME\r\n")
        while True:
            line = tf.readline()
            verb = line[:4].upper()
            if verb == b"DATA":
                tls.sendall(b"354 go\r\n")
                while tf.readline() not in (b".\r\n", b""):
                    pass
                tls.sendall(b"250 ok\r\n")
            elif verb == b"QUIT":
                tls.sendall(b"221 bye\r\n")
                break
            elif not line:
                return
            else:
                tls.sendall(b"250 ok\r\n")
        try:
            ending = "close_notify" if tls.recv(1024) == b"" else "data after QUIT"
        except ssl.SSLEOFError:
            ending = "truncated"
        self.endings.append(ending)


def test_client_sends_close_notify_after_quit(instances, workdir):
    with ScriptedTLSPeer(workdir) as peer:
        a = relay_instance(instances, "a", peer.port, relay_domains=("peer.test",))
        submit(a, "alice@a.test", ["bob@peer.test"], "Subject: tls close\r\n\r\nbody\r\n")
        wait_for(lambda: peer.endings, timeout=20, what="postern's TLS session to end")
        assert peer.endings == ["close_notify"], peer.endings
