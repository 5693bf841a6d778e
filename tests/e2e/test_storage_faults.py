"""Storage faults: a real daemon meets EIO and ENOSPC at each step of the
queue's commit and of Maildir delivery, injected by the faultfs LD_PRELOAD
shim (tests/faults/faultfs.c) under the instance's queue/ and mail/ only.

What a user checks: a client whose message could not be made durable gets
no 250 but a 451/452 with a clear text, that message never turns up in a
mailbox, nothing half-written stays behind, the log names the step, the
file and the errno, and the next client is served once the fault is gone.
A message already queued when delivery fails stays queued and arrives
exactly once after the fault clears. And the lesson of PostgreSQL's
"fsyncgate": an fsync that failed once is not retried into a success.
"""
import os
import re
import smtplib
import subprocess

import pytest

from conftest import POSTERN, SLOW, RawSMTP, wait_for
from peers import receiver_instance, wait_queue_empty

SHIM = os.environ.get("FAULTFS_SO") or os.path.join(os.path.dirname(POSTERN), "tests", "faults",
                                                    "faultfs.so")
RCPT = "alice@a.test"
STRERROR = {"EIO": "Input/output error", "ENOSPC": "No space left on device"}
# Bigger than the queue's 64 KiB write chunk: content is written during DATA
# and again at the end.
BODY = "".join(f"line {i} of a message that is written in several chunks\r\n"
               for i in range(2000))


def preload():
    """LD_PRELOAD for the shim; a sanitizer build's runtime must come first."""
    libs = []
    for path in (POSTERN, SHIM):
        out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
        m = re.search(r"(\S*libasan\.so\S*) => (\S+)", out)
        if m and m.group(2) not in libs:
            libs.append(m.group(2))
    return " ".join(libs + [SHIM])


CONTROL_SIZE = 4000  # below the shim's RULES_TEXT_MAX


class Faults:
    """The shim's control file (rules, re-read by the daemon at each call) and
    its log of the faults it injected."""

    def __init__(self, inst):
        assert os.path.exists(SHIM), (f"{SHIM} is missing: build it (meson builds "
                                      "tests/faults/faultfs.so next to postern)")
        self.inst = inst
        self.control = inst.dir + ".faultfs-rules"
        self.log_path = inst.dir + ".faultfs-log"
        # the service runs as its own user after start: it must write the log
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        os.close(fd)
        os.chmod(self.log_path, 0o666)
        self.arm()

    def env(self):
        return {"LD_PRELOAD": preload(),
                "FAULTFS_PREFIX": f"{self.inst.dir}/queue:{self.inst.dir}/mail",
                "FAULTFS_CONTROL": self.control, "FAULTFS_LOG": self.log_path}

    def arm(self, *rules):
        """Replaces the rules. The shim holds the file open (a sandboxed process
        cannot open it again), so it is rewritten in place, in one write of a
        fixed size, between two equal generation markers: a read torn by the
        write sees them differ and is ignored."""
        self.generation = getattr(self, "generation", 0) + 1
        marker = f"G={self.generation}\n"
        text = (marker + "".join(r + "\n" for r in rules) + marker).encode()
        assert len(text) < CONTROL_SIZE
        fd = os.open(self.control, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, text.ljust(CONTROL_SIZE, b"\0"), 0)
        finally:
            os.close(fd)

    def lift(self):
        self.arm()

    def fired(self):
        """[(op, path, what)] in order."""
        with open(self.log_path) as f:
            return [tuple(line.split()) for line in f if line.strip()]

    def wait_fired(self, op, n=1, timeout=10):
        return wait_for(lambda: len([x for x in self.fired() if x[0] == op]) >= n
                        and [x for x in self.fired() if x[0] == op], timeout=timeout,
                        what=f"{n} injected {op} fault(s)")


@pytest.fixture
def faulty(instances):
    """A running instance (authoritative for a.test, Maildir for alice@a.test,
    retries after 1 s) with the shim loaded and no fault armed."""
    inst = receiver_instance(instances, "a", ["a.test"], [RCPT], start=False)
    inst.cmdlet("Set-TransportConfig", "-MessageRetryInterval", "00:00:01")
    inst.faults = Faults(inst)
    inst.start(env=inst.faults.env())
    return inst


def message(mid, body=BODY):
    return (f"From: bob@example.org\r\nTo: {RCPT}\r\nSubject: {mid}\r\n"
            f"Message-ID: <{mid}@example.org>\r\n\r\n{body}")


def send(inst, mid):
    """One transaction on a new connection: (code, text) of DATA's outcome."""
    with inst.smtp() as c:
        c.ehlo("client.test")
        assert c.mail("bob@example.org")[0] == 250
        assert c.rcpt(RCPT)[0] == 250
        try:
            code, text = c.data(message(mid))
        except smtplib.SMTPDataError as e:
            code, text = e.smtp_code, e.smtp_error
    return code, text.decode()


def copies(inst, mid):
    """Maildir files (new/ and cur/) of alice holding Message-ID mid."""
    root = os.path.join(inst.dir, "mail", RCPT)
    found = []
    for sub in ("new", "cur"):
        d = os.path.join(root, sub)
        for name in os.listdir(d) if os.path.isdir(d) else []:
            with open(os.path.join(d, name), "rb") as f:
                if f"\nMessage-ID: <{mid}@example.org>\n".encode() in f.read():
                    found.append(name)
    return found


def spool(inst):
    """What the queue holds: committed messages, and content being received
    (non-empty files in queue/spare; the empty ones are made in advance)."""
    return inst.data_files()


def maildir_tmp(inst):
    d = os.path.join(inst.dir, "mail", RCPT, "tmp")
    return os.listdir(d) if os.path.isdir(d) else []


def assert_clean(inst):
    # the envelope goes first, the content a moment later
    wait_for(lambda: spool(inst) == [], what=f"an empty spool (left: {spool(inst)})")
    assert maildir_tmp(inst) == [], "half-written Maildir files"
    assert inst.proc.poll() is None, "the service died"


# (test id, rule, errno, the reply's code and enhanced status, step the log names)
COMMIT_FAULTS = [
    # every write under queue/ and mail/ fails: only the prefix keeps the
    # shim off the sockets and the log, which must go on working
    ("content-write", "write", "EIO", 451, "4.3.0", "write"),
    # the content file being received (queue/spare/), on a full disk
    ("content-write-full", "write:path=*/queue/spare/*", "ENOSPC", 452, "4.3.1", "write"),
    # the queue's log (queue/log/<N>.seg): its first segment is made by the
    # first commit, appended to with pwrite, flushed with fdatasync, and its
    # directory entry made durable with an fsync of queue/log
    ("segment-create", "create:path=*/queue/log/*", "EIO", 451, "4.3.0", "create"),
    ("segment-create-full", "create:path=*/queue/log/*", "ENOSPC", 452, "4.3.1", "create"),
    ("log-write", "pwrite:path=*/queue/log/*", "EIO", 451, "4.3.0", "write"),
    ("log-write-full", "pwrite:path=*/queue/log/*", "ENOSPC", 452, "4.3.1", "write"),
    ("log-fdatasync", "fdatasync:path=*/queue/log/*", "EIO", 451, "4.3.0", "fdatasync"),
    ("log-dir-fsync", "dirfsync:path=*/queue/log", "EIO", 451, "4.3.0", "fsync"),
]


def test_content_file_fault_gives_452_once_the_spare_files_are_used(faulty):
    """Content files are made in advance (queue/spare/, handed to the smtp
    process) and a committed message's file is kept, emptied, for a later
    one. When making files fails, the sessions that get one go on and the
    first that finds none is refused with 452 4.3.1 at DATA: never a 250 for
    a message without a file. Sessions are held in DATA so that no commit
    gives a file back meanwhile."""
    faulty.faults.arm("create:path=*/queue/spare/*:errno=ENOSPC")
    held, refused = [], None
    try:
        for i in range(16):  # more than the smtp process keeps in advance
            c = faulty.smtp()
            c.ehlo("client.test")
            assert c.mail("bob@example.org")[0] == 250
            assert c.rcpt(RCPT)[0] == 250
            code, text = c.docmd("DATA")
            if code != 354:
                refused = (code, text.decode())
                c.close()
                break
            held.append(c)
        assert refused is not None and (refused[0], refused[1].split()[0]) == (452, "4.3.1"), \
            (len(held), refused)
        assert held, "no session had a file"
        for i, c in enumerate(held):  # those that had a file: accepted, delivered
            c.send(message(f"spare{i}").replace("\r\n", "\n").replace("\n", "\r\n").encode()
                   + b"\r\n.\r\n")
            assert c.getreply()[0] == 250
    finally:
        for c in held:
            c.close()
    for i in range(len(held)):
        wait_for(lambda: copies(faulty, f"spare{i}"), what=f"spare{i} in the Maildir")
    op, path, what = faulty.faults.wait_fired("create")[0]
    assert what == "ENOSPC"
    assert f"cannot create message file {path}: {STRERROR['ENOSPC']}" in faulty.log()
    faulty.faults.lift()
    wait_for(lambda: send(faulty, "after")[0] == 250, timeout=10 * SLOW,
             what="mail accepted again once files can be made")


@pytest.mark.parametrize("rule,err,code,status,step", [c[1:] for c in COMMIT_FAULTS],
                         ids=[c[0] for c in COMMIT_FAULTS])
def test_commit_fault_gives_no_250_and_leaves_nothing(faulty, rule, err, code, status, step):
    faulty.faults.arm(f"{rule}:errno={err}")  # until lifted
    got, text = send(faulty, "failed")
    assert (got, text.split()[0]) == (code, status), text
    assert re.search(r"storage|queue|writing", text, re.I), text
    op, path, what = faulty.faults.wait_fired(rule.split(":")[0])[0]
    assert what == err
    # the log names the step, the file and the errno
    expect = f"queue: {step} {path} failed: {STRERROR[err]}"
    assert expect in faulty.log(), f"no log line {expect!r}"

    faulty.faults.lift()
    got, text = send(faulty, "after")
    assert got == 250, text
    wait_for(lambda: copies(faulty, "after"), what="the next message in the Maildir")
    wait_queue_empty(faulty)
    assert copies(faulty, "failed") == [], "a message refused with 4xx was delivered"
    assert len(copies(faulty, "after")) == 1
    assert_clean(faulty)


def test_failed_flush_is_not_retried_into_a_250(faulty):
    """fsyncgate: the kernel reports a writeback error once, and an fdatasync
    after it succeeds although the data may be gone. The shim's fdatasync
    fails exactly once: a daemon that tried again would get success and say
    250. The segment it failed on takes nothing more; the message refused
    does not come back after a restart, and the resent copy arrives once."""
    faulty.faults.arm("fdatasync:path=*/queue/log/*:nth=1:count=1:errno=EIO")
    code, text = send(faulty, "once")
    assert code == 451, f"acknowledged after a failed flush: {code} {text}"
    failed_on = faulty.faults.fired()[0][1]
    assert len(faulty.faults.fired()) == 1
    # the client sends it again, as clients do after a 4xx: that copy arrives
    code, text = send(faulty, "once")
    assert code == 250, text
    wait_for(lambda: copies(faulty, "once"), what="the resent message in the Maildir")
    wait_queue_empty(faulty)
    assert f"queue: fdatasync {failed_on} failed" in faulty.log()
    # a new segment took the resent copy: the failed one was retired
    segments = sorted(os.listdir(os.path.join(faulty.dir, "queue", "log")))
    assert os.path.basename(failed_on) not in segments[-1:], segments
    faulty.stop()
    faulty.start(env=faulty.faults.env())
    wait_queue_empty(faulty)
    assert len(copies(faulty, "once")) == 1
    assert_clean(faulty)


def test_failed_flush_of_a_removal_delivers_nothing_twice(faulty):
    """A message is delivered while the log cannot be flushed: neither its
    delivered state nor its removal is durable, so after a restart it is
    still queued. Delivering it again must not make a second copy (the
    Maildir file is named after the queue ID), and it then leaves the queue."""
    faulty.faults.arm("link:path=*/mail/*/new/*:errno=EIO")
    code, text = send(faulty, "removed")
    assert code == 250, text
    faulty.faults.wait_fired("link")
    faulty.faults.arm("fdatasync:path=*/queue/log/*:errno=EIO")  # link works again
    wait_for(lambda: copies(faulty, "removed"), timeout=15, what="delivery after the link fault")
    faulty.faults.wait_fired("fdatasync")
    wait_for(lambda: "cannot remove finished message" in faulty.log()
             or "cannot record delivery progress" in faulty.log(),
             what="the failed removal or update in the log")
    faulty.stop()
    faulty.faults.lift()
    faulty.start(env=faulty.faults.env())
    wait_queue_empty(faulty)
    assert len(copies(faulty, "removed")) == 1
    assert_clean(faulty)


# (test id, rule, errno, what the deferral reason says)
DELIVERY_FAULTS = [
    ("tmp-create", "create:path=*/mail/*/tmp/*", "EIO", "cannot create tmp file"),
    ("tmp-write", "write:path=*/mail/*/tmp/*", "ENOSPC", "cannot write tmp/"),
    ("tmp-fsync", "fsync:path=*/mail/*/tmp/*", "EIO", "cannot fsync tmp/"),
    ("link", "link:path=*/mail/*/new/*", "EIO", "cannot move to new/ tmp/"),
    ("new-dir-fsync", "dirfsync:path=*/mail/*/new", "EIO", "cannot fsync new/"),
]


@pytest.mark.parametrize("rule,err,reason", [c[1:] for c in DELIVERY_FAULTS],
                         ids=[c[0] for c in DELIVERY_FAULTS])
def test_delivery_fault_keeps_message_queued_then_delivers_once(faulty, rule, err, reason):
    faulty.faults.arm(f"{rule}:errno={err}")
    code, text = send(faulty, "held")
    assert code == 250, text  # the queue is not affected
    qid = text.split()[1]
    op = rule.split(":")[0]
    # it stays queued; at a link fault also through a retry (1 s later)
    faulty.faults.wait_fired(op, n=2 if op == "link" else 1, timeout=15)
    # logged once the attempt is over (a copy linked into new/ before a
    # failed fsync of new/ is taken back by then)
    wait_for(lambda: [line for line in faulty.log().splitlines()
                      if f"deferred id={qid}" in line and reason in line and STRERROR[err] in line],
             what="a log line saying which Maildir step failed and why")
    assert qid in faulty.queued_ids()
    assert copies(faulty, "held") == []

    faulty.faults.lift()
    wait_for(lambda: copies(faulty, "held"), timeout=15, what="delivery after the fault")
    wait_queue_empty(faulty)
    assert len(copies(faulty, "held")) == 1
    assert_clean(faulty)


def test_crash_between_link_and_fsync_of_new(faulty):
    """The queue process (the Maildir writer) dies right after linking the
    message into new/, before fsyncing new/, and the service is stopped with
    it. After the restart the delivery finds the copy; before it lets the
    queue forget the message, new/ must be made durable."""
    faulty.faults.arm("dirfsync:path=*/mail/*/new:action=kill")
    code, text = send(faulty, "linked")
    assert code == 250, text
    qid = text.split()[1]
    wait_for(lambda: "queue process was killed by signal 9" in faulty.log(),
             what="the queue process to die at the fsync")
    faulty.kill9()
    assert qid in faulty.queued_ids()
    assert len(copies(faulty, "linked")) == 1  # linked, not yet durable
    faulty.faults.arm("dirfsync:path=*/mail/*/new:action=trace")
    faulty.start(env=faulty.faults.env())
    wait_queue_empty(faulty)
    traced = [x for x in faulty.faults.fired() if x[2] == "TRACE"]
    assert traced, "the message left the queue without an fsync of new/"
    assert len(copies(faulty, "linked")) == 1
    assert_clean(faulty)
