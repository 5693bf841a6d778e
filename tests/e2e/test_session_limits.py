"""Per-session memory limits (docs/DESIGN.md, "Durable queue"): each session
holds at most 256 KiB of input and 256 KiB of unread replies; beyond that it
stops reading until the client catches up.

A user sees: a client that pipelines thousands of commands without reading
its replies is throttled by TCP (its sends stop going through), the daemon's
memory stays put, other clients are served meanwhile, and once the client
reads, every command is answered, in order.
Must never: send without bound (at most CAP bytes), or leave a session's
replies unread at the end (each test reads them all).
"""
import os
import select
import threading
import time

from conftest import ASAN, SLOW, RawSMTP, message, open_transaction
from fsync_hold import FsyncHold

NOOP = b"NOOP\r\n"
BATCH = NOOP * 10000
CAP = 24 << 20  # bytes: far beyond what the kernel's buffers and the two limits take
STALL = 1.0  # seconds without progress: the daemon stopped reading
# The limits are 2 x 256 KiB; the rest is the allocator's slack (ASan's is larger).
MAX_GROWTH_KIB = 8192 if ASAN else 3072
# Frees go straight back to the allocator, so that the peak measures what is held.
ASAN_ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:quarantine_size_mb=1"}


def peak_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def start_instance(instances):
    inst = instances("a")
    inst.cmdlet("New-AcceptedDomain", "-Name", "a.test", "-DomainName", "a.test",
                "-LmtpServer", "127.0.0.1:1")  # mail stays queued
    inst.start(env=ASAN_ENV if ASAN else None)
    # the code paths of a session once, so that the peak below is the flood's
    warm = RawSMTP(inst.host, inst.port)
    warm.reply()
    warm.cmd(b"EHLO warm.test")
    warm.cmd(b"NOOP")
    warm.close()
    return inst


def flood(sock):
    """Sends NOOPs without reading until the sends stop going through for STALL
    seconds, or CAP bytes went. Returns (bytes sent, the unsent rest of a batch)."""
    sock.setblocking(False)
    sent, rest = 0, b""
    while sent < CAP:
        rest = rest or BATCH
        _, writable, _ = select.select([], [sock], [], STALL)
        if not writable:
            break
        n = sock.send(rest)
        sent, rest = sent + n, rest[n:]
    return sent, rest


def served(inst):
    """Another client is served while the flooding one is stalled."""
    start = time.monotonic()
    with inst.smtp(timeout=5) as c:
        assert c.ehlo()[0] == 250
        assert c.noop()[0] == 250
    return time.monotonic() - start


def read_all(sock, rest):
    """Sends the rest of the batch and QUIT while reading everything; returns the replies."""
    sock.setblocking(True)
    sock.settimeout(30 * SLOW)
    got = bytearray()

    def reader():
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                return
            got.extend(chunk)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    sock.sendall(rest + b"QUIT\r\n")
    t.join(60 * SLOW)
    assert not t.is_alive(), "the replies did not all arrive"
    return bytes(got)


def check_limits(inst, sock, before_kib):
    sent, rest = flood(sock)
    assert sent < CAP, f"the daemon read all {CAP >> 20} MiB without the client reading a reply"
    grew = peak_kib(inst.children()['smtp']) - before_kib
    assert grew < MAX_GROWTH_KIB, (f"the daemon's peak memory grew by {grew} KiB for one "
                                   f"session that does not read ({sent} bytes sent)")
    took = served(inst)
    assert took < 3 * SLOW, f"another client waited {took:.1f} s"
    print(f"\n{sent / 1e6:.2f} MB of NOOPs went before the daemon stopped reading; "
          f"peak memory +{grew} KiB; another client served in {took * 1000:.0f} ms")
    return (sent + len(rest)) // len(NOOP), read_all(sock, rest)


def test_replies_a_client_does_not_read_are_bounded(instances):
    inst = start_instance(instances)
    before = peak_kib(inst.children()['smtp'])
    raw = RawSMTP(inst.host, inst.port)
    assert raw.reply()[0] == 220
    noops, replies = check_limits(inst, raw.sock, before)
    lines = replies.split(b"\r\n")
    assert lines[:noops] == [b"250 2.0.0 OK"] * noops, "a NOOP was not answered, or not in order"
    assert lines[noops].startswith(b"221 "), lines[noops:noops + 2]
    raw.close()


def test_input_behind_a_slow_commit_is_bounded(instances):
    """While a session waits for its commit it reads no commands; what the client
    pipelines behind the message waits in at most 256 KiB, then in TCP."""
    inst = start_instance(instances)
    before = peak_kib(inst.children()['smtp'])
    raw = open_transaction(inst.host, inst.port, rcpt="postmaster@a.test", data=True)
    with FsyncHold(inst.children()["queue"], os.path.join(inst.dir, "queue", "log") + "/") as hold:
        raw.send(message(subject="slow commit").encode() + b".\r\n")
        hold.wait_held(timeout=10 * SLOW)
        sent, rest = flood(raw.sock)
        assert sent < CAP, f"the daemon read all {CAP >> 20} MiB while the session was busy"
        grew = peak_kib(inst.children()['smtp']) - before
        assert grew < MAX_GROWTH_KIB, f"peak memory grew by {grew} KiB behind a slow commit"
        took = served(inst)
        assert took < 3 * SLOW, f"another client waited {took:.1f} s"
        assert hold.holding(), "the commit finished: the session was not busy throughout"
        hold.release()
        print(f"\n{sent / 1e6:.2f} MB went behind the held commit; peak memory +{grew} KiB")
        replies = read_all(raw.sock, rest)
    noops = (sent + len(rest)) // len(NOOP)
    lines = replies.split(b"\r\n")
    assert lines[0].startswith(b"250 2.6.0 "), lines[0]
    assert lines[1:noops + 1] == [b"250 2.0.0 OK"] * noops
    assert lines[noops + 1].startswith(b"221 "), lines[noops + 1:noops + 3]
    raw.close()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_burst_ending_in_a_fragment_holds_little(instances):
    """What a slowloris client would send: 64 KiB of pipelined commands in one
    go, ending in the start of another, then nothing. The session answers what
    is whole and keeps only the fragment: the read buffer must not stay
    behind it (64 KiB added at once made one 128 KiB chain per session)."""
    inst = instances("a")
    inst.cmdlet("Set-ReceiveConnector", "Default mail", "-MaxInboundConnectionPerSource",
                "unlimited")
    inst.start(env=ASAN_ENV if ASAN else None)
    warm = RawSMTP(inst.host, inst.port)
    warm.reply()
    warm.cmd(b"NOOP")
    warm.close()
    smtp = inst.children()["smtp"]
    n, burst = 100, NOOP * 10922 + b"NOO"  # 65,535 octets
    before = rss_kib(smtp)
    socks = []
    try:
        for _ in range(n):
            raw = RawSMTP(inst.host, inst.port)
            assert raw.reply()[0] == 220
            raw.sock.sendall(burst)
            socks.append(raw)
        # every whole NOOP answered (the replies wait in the socket, unread)
        deadline = time.monotonic() + 30 * SLOW
        while inst.log().count("smtp connected") < n + 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0 * SLOW)
        grew = rss_kib(smtp) - before
        per = grew * 1024 // n
        print(f"\n{n} sessions each holding a fragment after a 64 KiB burst: +{grew} KiB, "
              f"{per} bytes a session")
        assert per < (96 << 10 if ASAN else 40 << 10), \
            f"{per} bytes held per session behind a 3-octet fragment"
        # the fragment is still a command in waiting: completing it is answered
        last = socks[-1]
        last.sock.sendall(b"P\r\nQUIT\r\n")
        got = b""
        last.sock.settimeout(10 * SLOW)
        while b"221 " not in got:
            chunk = last.sock.recv(1 << 20)
            assert chunk, "the connection closed before the 221"
            got += chunk
        assert got.count(b"250 2.0.0 OK") == 10923
    finally:
        for raw in socks:
            raw.close()
