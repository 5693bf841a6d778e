"""SIGTERM with a commit in flight (docs/DESIGN.md, "Durable queue"): the
service stops listening, tells idle sessions 421 4.3.2, and waits up to 10 s
for commits in flight so that their clients hear 250 and do not send the
message again; a second signal stops at once.

A commit is made slow the way a slow disk would: fsync_hold stops the
daemon's flush of the queue's log (queue/log/<N>.seg) until the
test lets it go; the event loop keeps running meanwhile. Must never: leave the daemon's threads held or traced after
a test (FsyncHold lets go on leaving its block, also when a test fails).
"""
import os
import signal
import socket
import subprocess
import time

from conftest import SLOW, RawSMTP, message, open_transaction, queue_id_from_reply, wait_for
from fsync_hold import FsyncHold
from peers import connect_refused


def DATA(server):
    """Where messages are committed: its flushes are the ones a slow disk holds."""
    return os.path.join(server.dir, "queue", "log") + "/"


GRACE = 10  # seconds, SMTP_STOP_GRACE in src/receive/smtp_process.c
SLOW_COMMIT = 1.0  # seconds a commit in flight takes after SIGTERM, well within GRACE


def send_without_reading_the_reply(inst, subject):
    """A transaction up to the end of its content; the final reply is left unread."""
    raw = open_transaction(inst.host, inst.port, data=True)
    raw.send(message(subject=subject).encode() + b".\r\n")
    return raw


def idle_session(inst):
    raw = RawSMTP(inst.host, inst.port)
    assert raw.reply()[0] == 220
    assert raw.cmd(b"EHLO idle.test")[0] == 250
    return raw


def begin_stop(inst, idle):
    """SIGTERM, then waits for what shows the stop has begun: the idle session is
    told 421 4.3.2 and the port no longer accepts."""
    os.kill(inst.proc.pid, signal.SIGTERM)
    code, text = idle.reply()
    assert code == 421 and b"4.3.2" in text, text
    assert connect_refused(inst.host, inst.port), "still listening after SIGTERM"


def eof_within(raw, seconds):
    """Seconds until the server closed raw (no reply may come first), or None when it
    is still open after `seconds` (not scaled: the grace period is wall-clock time)."""
    start = time.monotonic()
    raw.sock.settimeout(seconds)
    try:
        data = raw.sock.recv(4096)
    except socket.timeout:
        return None
    except ConnectionResetError:
        data = b""
    assert data == b"" and raw.buf == b"", f"a reply to the held commit: {raw.buf + data!r}"
    return time.monotonic() - start


def test_sigterm_waits_for_the_commit_in_flight(server):
    # the queue process commits; its fsyncs are the ones a slow disk holds
    with FsyncHold(server.children()["queue"], DATA(server)) as hold:
        busy = send_without_reading_the_reply(server, "committed while stopping")
        idle = idle_session(server)
        held = hold.wait_held(timeout=10 * SLOW)
        begin_stop(server, idle)
        # the commit goes on for a while after the signal (the disk is slow), far past
        # the loop's first chance to stop (a 50 ms tick)
        time.sleep(SLOW_COMMIT)
        assert hold.holding(), "the commit must still be in flight when the stop begins"
        hold.release()
        # the client whose message was in flight hears 250, then the goodbye
        try:
            code, text = busy.reply()
        except ConnectionError:
            raise AssertionError("the service stopped without answering the commit in flight")
        assert code == 250, f"the commit in flight was not answered: {code} {text!r}"
        qid = queue_id_from_reply(text)
        assert held.endswith(".seg"), held  # the flush of the log was what waited
        code, text = busy.reply()
        assert code == 421 and b"4.3.2" in text, text
        assert server.proc.wait(timeout=GRACE * SLOW) == 0
    server.stop()
    server.start()
    assert qid in server.queued_ids()
    assert b"Subject: committed while stopping" in server.queued_content(qid)



def exit_within(proc, seconds):
    try:
        proc.wait(timeout=seconds)
        return True
    except subprocess.TimeoutExpired:
        return False


def test_second_signal_stops_at_once(server):
    with FsyncHold(server.children()["queue"], DATA(server)) as hold:
        busy = send_without_reading_the_reply(server, "second signal")
        idle = idle_session(server)
        hold.wait_held(timeout=10 * SLOW)
        begin_stop(server, idle)
        os.kill(server.proc.pid, signal.SIGTERM)
        wait_for(lambda: "again: stopping now" in server.log(), timeout=5,
                 what="the second signal to be seen")
        # not after the grace period, nor once the slow commit is over: now
        took = eof_within(busy, GRACE / 2)
        assert took is not None, (f"the client is still connected {GRACE / 2:.0f} s after a "
                                  "second SIGTERM")
        # eof_within saw no reply first: the held commit never finished
        assert exit_within(server.proc, 2 * SLOW), "the service is still running"


def test_the_wait_for_commits_is_bounded(server):
    """A commit that does not finish within the grace period does not keep the service
    from stopping: its client is disconnected without a reply, and the service exits."""
    with FsyncHold(server.children()["queue"], DATA(server)) as hold:
        busy = send_without_reading_the_reply(server, "never durable")
        idle = idle_session(server)
        hold.wait_held(timeout=10 * SLOW)
        start = time.monotonic()
        begin_stop(server, idle)
        took = eof_within(busy, GRACE + 2 * SLOW)
        assert took is not None, f"the client is still connected {GRACE + 2 * SLOW} s after SIGTERM"
        took = time.monotonic() - start
        assert GRACE - 1.5 <= took, f"gave up after {took:.1f} s, before the grace period"
        # eof_within saw no reply first: the held commit never finished
        assert exit_within(server.proc, 2 * SLOW), "the service is still running"
