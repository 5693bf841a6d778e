"""systemd's Type=notify protocol as the service speaks it (src/daemon/sd_notify.c), heard
on a real AF_UNIX datagram socket the way systemd listens (SO_PASSCRED): READY=1 only once
the port accepts mail and every child is up, RELOADING=1 then READY=1 around a reload (also
a refused one), STOPPING=1 on SIGTERM, every datagram from the main process, and nothing
lost across reload and stop.
Must never: listen anywhere but on loopback and in its own directory."""
import os
import re
import signal
import socket
import struct
import time

from conftest import SLOW, accepting, banner, message, stored
from peers import submit


class Notify:
    """The listening end of $NOTIFY_SOCKET."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)  # systemd's socket is root's; the daemon is root here too
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)

    def next(self, timeout=10.0):
        """(fields, sender pid) of the next datagram, or None after timeout."""
        self.sock.settimeout(timeout * SLOW)
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return None
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        fields = dict(line.split("=", 1) for line in data.decode().split("\n") if line)
        return fields, pid

    def close(self):
        self.sock.close()


def start_notified(inst):
    note = Notify(os.path.join(os.path.dirname(inst.dir), "notify.sock"))
    inst.start(wait=False, env={"NOTIFY_SOCKET": note.path})
    return note


def test_ready_reload_stop(instances):
    inst = instances("a")
    inst.cmdlet("New-AcceptedDomain", "-Name", "a.test", "-DomainName", "a.test")
    inst.cmdlet("New-Mailbox", "-Name", "alice", "-PrimarySmtpAddress", "alice@a.test",
                "-Password", "Secret-1234")
    note = start_notified(inst)
    try:
        got = note.next()
        assert got is not None, f"no READY=1:\n{inst.log()}"
        fields, pid = got
        # the first word systemd hears is READY, and by then mail is accepted
        assert fields.get("READY") == "1", fields
        assert banner(inst.host, inst.port).startswith("220 "), "READY=1 before the port accepts"
        assert "postern ready" in inst.log()
        assert fields["MAINPID"] == str(inst.proc.pid) and pid == inst.proc.pid
        assert fields["STATUS"].startswith("ready")
        first = submit(inst, "bob@example.org", ["alice@a.test"], message("before reload"))

        # `postern reload` returns after READY=1: RELOADING=1 came first, with the clock
        inst.cmdlet("reload")
        fields, pid = note.next()
        assert fields.get("RELOADING") == "1" and pid == inst.proc.pid, fields
        assert int(fields["MONOTONIC_USEC"]) <= time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        fields, pid = note.next()
        assert fields.get("READY") == "1" and pid == inst.proc.pid, fields
        assert "MAINPID" not in fields

        # a refused reload: systemd hears it is over, the old configuration stays
        conf = os.path.join(inst.dir, "postern.conf")
        with open(conf) as f:
            good = f.read()
        with open(conf, "a") as f:
            f.write("\nNoSuchObject\n  Name = x\n")
        assert inst.cmdlet("reload", check=False).returncode != 0
        with open(conf, "w") as f:
            f.write(good)
        fields, _ = note.next()
        assert fields.get("RELOADING") == "1", fields
        fields, _ = note.next()
        assert fields.get("READY") == "1" and "refused" in fields["STATUS"], fields
        second = submit(inst, "bob@example.org", ["alice@a.test"], message("after reload"))

        # SIGTERM: STOPPING=1 at once, then a clean exit with both messages kept
        inst.proc.send_signal(signal.SIGTERM)
        fields, pid = note.next()
        assert fields.get("STOPPING") == "1" and pid == inst.proc.pid, fields
        assert inst.proc.wait(timeout=30 * SLOW) == 0
        assert note.next(timeout=0.5) is None, "a datagram after STOPPING=1"
        assert not accepting(inst.host, inst.port)
        for qid in (first, second):
            assert stored(inst, qid), f"message {qid} lost"
    finally:
        note.close()


def test_without_notify_socket_nothing_changes(instances):
    """No NOTIFY_SOCKET (not under systemd): the service starts as before."""
    inst = instances("a")
    inst.start()
    assert banner(inst.host, inst.port).startswith("220 ")


def test_unusable_notify_socket_is_said_and_ignored(instances):
    inst = instances("a")
    inst.start(env={"NOTIFY_SOCKET": "vsock:2:1234"})
    assert re.search(r"NOTIFY_SOCKET=vsock:2:1234 is not a Unix socket address", inst.log())
    assert banner(inst.host, inst.port).startswith("220 ")
