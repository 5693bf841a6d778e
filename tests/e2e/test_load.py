"""Load: Postfix's smtp-source against a running instance, and many idle connections.

Every message smtp-source sends must be acknowledged (smtp-source exits non-zero on any
refusal), exactly that many messages must be in the queue, each content file intact, no
partial file left behind, and the daemon healthy afterwards (it still accepts mail and
its descriptors return to where they were). The `server` fixture's mailboxes sit on an
LMTP server that is down, so what is accepted stays queued; one test delivers into local
Maildirs instead and checks that each message arrives exactly once. The last test runs
the daemon out of descriptors.
"""
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from conftest import SLOW, RawSMTP, message, queue_id_from_reply, start_with_nofile, wait_for

SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"

pytestmark = pytest.mark.skipif(not os.access(SMTP_SOURCE, os.X_OK),
                                reason="Postfix's smtp-source is not installed")


@pytest.fixture
def loaded(server):
    """The server, without the per-source connection limit (the Exchange default of 20
    would refuse smtp-source's 50 sessions from 127.0.0.1 with 421 4.3.2, by design)."""
    server.cmdlet("Set-ReceiveConnector", "Default mail", "-MaxInboundConnectionPerSource",
                  "unlimited")
    server.reload()
    return server


def smtp_source(server, *args, to="alice@a.test"):
    cmd = [SMTP_SOURCE, *args, "-f", "bob@example.org", "-t", to,
           f"{server.host}:{server.port}"]
    started = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60 * SLOW)
    elapsed = time.monotonic() - started
    assert r.returncode == 0, (f"{' '.join(cmd)} failed ({r.returncode}) after {elapsed:.1f}s:\n"
                               f"{r.stdout}{r.stderr}\n--- daemon log tail ---\n"
                               f"{server.log()[-3000:]}")
    return elapsed


def smtp_source_body(length):
    """The body smtp-source sends for -l length (smtp-source.c: lines of 80 octets, each
    starting with a digit, then CRLF after the last partial line)."""
    data = bytearray(b"X" * length)
    for i in range(80, length, 80):
        data[i - 80] = ord("0123456789"[(i // 80) % 10])
        data[i - 2:i] = b"\r\n"
    return bytes(data) + b"\r\n"


def open_fds(server):
    """Descriptors of the process that accepts and serves the sessions."""
    return len(os.listdir(f"/proc/{server.children()['smtp']}/fd"))


def send_one(server, subject="after"):
    with server.smtp() as c:
        c.ehlo()
        c.mail("bob@example.org")
        c.rcpt("alice@a.test")
        code, reply = c.data(message(subject=subject))
        assert code == 250, reply
        return queue_id_from_reply(reply)


def warm_up(server):
    """One message first, so that lazily opened files count in the descriptor baseline."""
    qid = send_one(server, subject="warm-up")
    wait_for(lambda: not _sessions_open(server), what="the warm-up session to end")
    return qid, open_fds(server)


def _sessions_open(server):
    """Established TCP connections to the daemon's port (from /proc/net/tcp)."""
    port = f"{server.port:04X}"
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            # local address, remote address, state 01 = ESTABLISHED
            if fields[1].endswith(":" + port) and fields[3] == "01":
                return True
    return False


def check_queue(server, expected, body, rcpts=("alice@a.test",), extra=()):
    """Exactly `expected` smtp-source messages (plus the ids in extra) are queued, each
    with its envelope and complete content, and nothing else is on disk."""
    ids = server.queued_ids()
    assert len(ids) == expected + len(extra), (len(ids), expected, len(extra))
    assert set(extra) <= set(ids)
    # no orphan content, no half-written envelope
    assert server.data_files() == ids
    for qid in ids:
        if qid in extra:
            continue
        content = server.queued_content(qid)
        head, sep, rest = content.partition(b"\r\n\r\n")
        assert sep, f"{qid}: no end of header section"
        assert head.startswith(b"Received: from ") and f" id {qid}".encode() in head, head[:300]
        assert b"\r\nFrom: <bob@example.org>\r\n" in head
        assert rest == body, f"{qid}: content differs: {len(rest)} octets, ends {rest[-40:]!r}"
    listed = server.get("Get-Message")
    by_id = {m["Identity"].split("\\")[-1]: m for m in listed}
    assert sorted(by_id) == ids
    for qid in ids:
        if qid in extra:
            continue
        got = re.findall(r"[^{},\s]+@[^{},\s]+", by_id[qid]["Recipients"])
        assert sorted(got) == sorted(rcpts), (qid, by_id[qid]["Recipients"])
    queues = server.get("Get-Queue")
    assert sum(int(q["MessageCount"]) for q in queues) == len(ids)


def check_healthy(server, baseline_fds):
    assert server.proc.poll() is None, f"postern exited:\n{server.log()[-3000:]}"
    # every session's descriptor is closed once smtp-source has gone
    wait_for(lambda: open_fds(server) <= baseline_fds, timeout=10,
             what=f"descriptors back to {baseline_fds} (now {open_fds(server)})")
    return send_one(server)


def test_smtp_source_connection_per_message(loaded):
    server = loaded
    warm, fds = warm_up(server)
    smtp_source(server, "-s", "50", "-m", "600", "-l", "1024")
    check_queue(server, 600, smtp_source_body(1024), extra=[warm])
    after = check_healthy(server, fds)
    assert after in server.queued_ids()
    assert server.log().count(" smtp queued id=") == 602


def test_smtp_source_reusing_connections(loaded):
    server = loaded
    warm, fds = warm_up(server)
    smtp_source(server, "-d", "-s", "20", "-m", "600", "-l", "1024")
    check_queue(server, 600, smtp_source_body(1024), extra=[warm])
    check_healthy(server, fds)


def test_smtp_source_several_recipients(loaded):
    """-r N sends N RCPTs per transaction: "Nalice@a.test", ..., "2alice@a.test",
    "alice@a.test"; all must be mailboxes, and each envelope holds all of them."""
    server = loaded
    rcpts = ["alice@a.test"] + [f"{i}alice@a.test" for i in range(2, 6)]
    for i in range(2, 6):
        server.cmdlet("New-Mailbox", "-Name", f"alice{i}", "-PrimarySmtpAddress",
                      f"{i}alice@a.test", "-Password", "Secret-1234")
    server.reload()
    warm, fds = warm_up(server)
    smtp_source(server, "-d", "-s", "10", "-m", "200", "-r", "5", "-l", "4000")
    check_queue(server, 200, smtp_source_body(4000), rcpts=rcpts, extra=[warm])
    check_healthy(server, fds)


def test_larger_messages_concurrently(loaded):
    """100 KiB messages: several 64 KiB write chunks per message, 20 at a time."""
    server = loaded
    warm, fds = warm_up(server)
    smtp_source(server, "-s", "20", "-m", "60", "-l", str(100 * 1024))
    check_queue(server, 60, smtp_source_body(100 * 1024), extra=[warm])
    check_healthy(server, fds)


def test_200_idle_connections_do_not_block_the_loop(loaded):
    """200 open connections that send nothing (or stop half-way through a command or
    through DATA) while another client sends mail: one event loop serves everyone."""
    server = loaded
    warm, fds = warm_up(server)
    idle = []
    try:
        for i in range(200):
            raw = RawSMTP(server.host, server.port, timeout=10)
            code, _ = raw.reply()
            assert code == 220, f"connection {i}: {code}"
            if i % 5 == 1:
                raw.send(b"EHLO half-way.te")  # no CRLF: a command cut short
            elif i % 5 == 2:
                assert raw.cmd(b"EHLO idle.test")[0] == 250
                assert raw.cmd(b"MAIL FROM:<bob@example.org>")[0] == 250
                assert raw.cmd(b"RCPT TO:<alice@a.test>")[0] == 250
                assert raw.cmd(b"DATA")[0] == 354
                # and no end; more than the 64 KiB the smtp process buffers, so
                # that the content file shows it
                raw.send(b"Subject: stalled\r\n\r\n" + b"half a message\r\n" * 5000)
            idle.append(raw)
        wait_for(lambda: len(server.data_files()) == 1 + 40, what="the 40 stalled DATA files")

        sent = []
        for i in range(10):
            started = time.monotonic()
            sent.append(send_one(server, subject=f"busy {i}"))
            took = time.monotonic() - started
            assert took < 2 * SLOW, f"message {i} took {took:.2f}s with 200 idle connections"
        # a burst of fresh connections is served too
        smtp_source(server, "-s", "20", "-m", "100", "-l", "1024")
        # the idle ones are all still there and carry on where they stopped
        finished = []
        for n, raw in enumerate(idle):
            if n % 5 == 1:
                assert raw.cmd(b"ll")[0] == 250  # "EHLO half-way.test"
            elif n % 5 == 2 and n % 10 == 2:
                code, text = raw.cmd(b"the rest\r\n.")
                assert code == 250, text
                finished.append(queue_id_from_reply(text))
            elif n % 5 != 2:
                assert raw.cmd(b"NOOP")[0] == 250
    finally:
        for raw in idle:
            raw.close()
    # the stalled DATA files go when their sessions end; descriptors come back
    wait_for(lambda: len(server.data_files()) == len(server.queued_ids()),
             what="stalled DATA files to be removed")
    ids = server.queued_ids()
    assert len(finished) == 20
    assert len(ids) == 1 + 10 + 100 + 20 and set(sent) | set(finished) | {warm} <= set(ids)
    for qid in finished:
        assert server.queued_content(qid).endswith(b"half a message\r\nthe rest\r\n")
    assert server.data_files() == ids
    check_healthy(server, fds)


def maildir_files(inst, address):
    d = os.path.join(inst.dir, "mail", address, "new")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def test_smtp_source_local_delivery_exactly_once(instances):
    """With a local Maildir (no LMTP server), every message smtp-source sends is
    delivered exactly once, intact, and the queue drains to nothing."""
    server = instances("a")
    server.cmdlet("New-AcceptedDomain", "-Name", "a.test", "-DomainName", "a.test")
    rcpts = ["alice@a.test", "2alice@a.test", "3alice@a.test"]
    for n, addr in enumerate(rcpts):
        server.cmdlet("New-Mailbox", "-Name", f"alice{n}", "-PrimarySmtpAddress", addr,
                      "-Password", "Secret-1234")
    server.cmdlet("Set-ReceiveConnector", "Default mail", "-MaxInboundConnectionPerSource",
                  "unlimited")
    server.start()
    warm, fds = warm_up(server)
    smtp_source(server, "-d", "-s", "20", "-m", "300", "-r", "3", "-l", "2000")
    smtp_source(server, "-s", "20", "-m", "100", "-l", "2000")
    wait_for(lambda: not server.queued_ids() and not server.data_files(), timeout=30,
             what=f"the queue to drain (left: {len(server.queued_ids())})")
    body = smtp_source_body(2000).replace(b"\r\n", b"\n")
    for addr, count in (("alice@a.test", 1 + 300 + 100), ("2alice@a.test", 300),
                        ("3alice@a.test", 300)):
        files = maildir_files(server, addr)
        qids = [f.split(".", 1)[0] for f in files]
        assert len(files) == count, (addr, len(files), count)
        assert len(set(qids)) == count, f"{addr}: a message was delivered twice"
        for name, qid in zip(files, qids):
            if qid == warm:
                continue
            with open(os.path.join(server.dir, "mail", addr, "new", name), "rb") as f:
                raw = f.read()
            head, sep, rest = raw.partition(b"\n\n")
            assert head.startswith(b"Return-Path: <bob@example.org>\nDelivered-To: "), head[:200]
            assert f" id {qid}".encode() in head, head[:400]
            assert rest == body, f"{addr} {name}: {len(rest)} octets, ends {rest[-40:]!r}"
    # the same 300 multi-recipient messages reached all three mailboxes
    ids = [set(f.split(".", 1)[0] for f in maildir_files(server, a)) for a in rcpts]
    assert ids[1] == ids[2] and ids[1] <= ids[0]
    assert server.log().count(" smtp queued id=") == 1 + 300 + 100
    check_healthy(server, fds)


def _cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_descriptors_pauses_accepting_instead_of_spinning(instances):
    """With its descriptors used up (EMFILE), the daemon stops accepting for a moment:
    it must not spin on accept() and flood the log, and once descriptors free up, the
    connections waiting in the backlog are served."""
    import select
    server = instances("a")
    server.cmdlet("New-AcceptedDomain", "-Name", "a.test", "-DomainName", "a.test")
    server.cmdlet("New-Mailbox", "-Name", "alice", "-PrimarySmtpAddress", "alice@a.test",
                  "-Password", "Secret-1234")
    server.cmdlet("Set-ReceiveConnector", "Default mail", "-MaxInboundConnectionPerSource",
                  "unlimited")
    start_with_nofile(server, 64)
    warm, fds = warm_up(server)
    pid = server.children()["smtp"]
    socks = []
    try:
        for _ in range(100):  # more than it can take; the rest wait in the backlog
            socks.append(socket.create_connection((server.host, server.port), timeout=10))
        # it stops short of the limit: a reserve stays for the descriptors the
        # queue and keys processes send it
        wait_for(lambda: "accept failed" in server.log(), what="accepting to pause")
        log_before = server.log().count("accept failed")
        cpu_before = _cpu_seconds(pid)
        time.sleep(1.0)
        spent = _cpu_seconds(pid) - cpu_before
        floods = server.log().count("accept failed") - log_before
        assert floods < 50, f"{floods} 'accept failed' log lines in one second"
        assert spent < 0.3 * SLOW, f"the daemon used {spent:.2f}s of CPU in 1s while out of fds"
        ready, _, _ = select.select(socks, [], [], 0)
        served = [s for s in socks if s in ready]
        waiting = [s for s in socks if s not in ready]
        assert served and waiting, (len(served), len(waiting))
        for s in served:
            s.close()
        # the backlog is served once descriptors are free again (each one closed once it
        # has its banner, so that the last ones find a descriptor too)
        for n, s in enumerate(waiting):
            s.settimeout(5 * SLOW)
            try:
                banner = s.recv(512)
            except socket.timeout:
                raise AssertionError(f"waiting connection {n} of {len(waiting)} got no banner")
            assert banner.startswith(b"220 "), banner
            s.close()
    finally:
        for s in socks:
            s.close()
    check_healthy(server, fds)
    # what failed for want of a descriptor meanwhile (the certificate store's periodic
    # reload) must not have taken STARTTLS away
    time.sleep(1.5)
    with server.smtp() as c:
        c.ehlo()
        assert c.has_extn("starttls"), "STARTTLS is gone after running out of descriptors"
