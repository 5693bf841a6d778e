"""Regressions found in review: each once crashed the daemon (use-after-free or
buffer overflow under ASan) or broke a rule. The assertions are what a user sees:
the service stays up, mail arrives, nothing is reported by the sanitizers."""
import socket
import threading
import time

from conftest import SLOW, message, wait_for
from peers import ScriptedSMTP, SmtpSink, maildir, relay_instance, submit, wait_queue_empty


def test_starttls_to_a_client_that_never_reads(server):
    """STARTTLS behind a flood of pipelined commands whose replies are never read."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((server.host, server.port))
    client = "client=%s:%d " % s.getsockname()
    s.settimeout(30 * SLOW)
    try:
        s.sendall(b"EHLO x\r\n" + b"HELP\r\n" * 60000 + b"STARTTLS\r\n")
    except OSError:
        pass  # the server may stop reading a client that does not read
    time.sleep(2 * SLOW)
    s.close()
    # the daemon has dealt with the close (where it once crashed) when it logs the end
    wait_for(lambda: server.proc.poll() is not None or
             [l for l in server.log().splitlines() if "smtp disconnected" in l and client in l],
             what="the session's end in the log")
    assert server.proc.poll() is None, server.log()[-3000:]
    with server.smtp() as c:
        assert c.ehlo()[0] == 250


def test_local_and_remote_recipients_finishing_together(instances, workdir):
    """The last envelope update and the removal of a message in one commit batch."""
    with SmtpSink(workdir) as sink:
        inst = relay_instance(instances, "a", sink.port)

        def worker(k):
            for i in range(20):
                submit(inst, "alice@a.test", ["alice@a.test", f"x{k}@b.test"],
                       message(subject=f"{k}-{i}"))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wait_queue_empty(inst, timeout=60)
        assert len(sink.messages()) == 80
        # 80 messages + nothing else in alice's Maildir
        assert len(maildir(inst, "alice@a.test")) == 80
        assert inst.proc.poll() is None


def test_peer_sending_replies_nobody_asked_for(instances):
    """A next hop that floods replies while we refuse a transaction locally (a scripted
    peer, written here)."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(5)
    port = ls.getsockname()[1]

    def serve():
        c, _ = ls.accept()
        f = c.makefile("rb")
        c.sendall(b"220 evil ESMTP\r\n")
        f.readline()
        # no 8BITMIME, then 20 unsolicited replies in the same packet
        c.sendall(b"250-evil\r\n250 PIPELINING\r\n" + b"451 4.0.0 x\r\n" * 20)
        time.sleep(2)
        c.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        inst = relay_instance(instances, "a", port)
        qid = submit(inst, "alice@a.test", ["x@b.test"], message(),
                     mail_options=["BODY=8BITMIME"])
        # the garbled session ends; the message waits for a better attempt
        wait_for(lambda: any("unexpected reply" in m.get("LastError", "")
                             for m in inst.get("Get-Message")), timeout=20,
                 what="the message's LastError")
        assert qid in inst.queued_ids()
        assert inst.proc.poll() is None, inst.log()[-3000:]
    finally:
        ls.close()


def test_reload_while_a_delivery_is_in_progress(instances):
    """The configuration is replaced while an outbound session to a scripted next hop
    (peers.ScriptedSMTP) logs to its connector."""
    with ScriptedSMTP(final_delay=lambda n: 2) as peer:
        inst = relay_instance(instances, "a", peer.port)
        submit(inst, "alice@a.test", ["x@b.test"], message())
        assert peer.data_seen.wait(20 * SLOW)
        inst.reload()
        wait_queue_empty(inst, timeout=30)
        assert len(peer.accepted()) == 1
        assert inst.proc.poll() is None
