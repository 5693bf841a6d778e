"""End-to-end test harness: real postern daemons on loopback.

Each test gets fresh instances in their own directories under /tmp (mode
0755, so that the unprivileged service user can reach them when the tests
run as root). Every daemon a test starts is stopped by the test, by its PID,
even when the test fails; its stderr is checked for sanitizer reports.
"""
import os
import re
import resource
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

import qlog_reader

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
POSTERN = os.environ.get("POSTERN_BIN", os.path.join(ROOT, "build", "postern"))
ASAN = os.environ.get("POSTERN_ASAN") == "1"
# Sanitized builds are several times slower, valgrind far more
# (POSTERN_SLOW): stretch waits, not assertions.
SLOW = int(os.environ.get("POSTERN_SLOW", 4 if ASAN else 1))
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer",
                     "LeakSanitizer has encountered a fatal error", "definitely lost in",
                     "Invalid read of size", "Invalid write of size",
                     "Conditional jump or move depends on uninitialised",
                     "valgrind-error-begin")  # any memcheck report (tests/valgrind/postern)


def free_port(host="127.0.0.1"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


class Instance:
    """One postern instance directory and, when started, its daemon."""

    def __init__(self, base, name, fqdn, port, bind=None):
        self.dir = os.path.join(base, name)
        self.fqdn = fqdn
        self.port = port
        self.host = "127.0.0.1"
        self.proc = None
        self.stderr_path = os.path.join(base, f"{name}.stderr")
        self.stderr_file = None
        binds = bind or [f"127.0.0.1:{port}"]
        args = ["setup", "--fqdn", fqdn]
        for b in binds:
            args += ["--bind", b]
        self.run_cli(*args)

    # -- command line ---------------------------------------------------
    def run_cli(self, *args, check=True, input=None):
        env = dict(os.environ)
        env.pop("POSTERN_HOME", None)
        r = subprocess.run([POSTERN, "-D", self.dir, *args], capture_output=True, text=True,
                           timeout=60 * SLOW, input=input, env=env)
        # a cmdlet that fails on purpose must still fail cleanly
        report = [m for m in SANITIZER_MARKERS if m in r.stderr]
        assert not report, f"postern {' '.join(args)}: sanitizer report:\n{r.stderr}"
        if check and r.returncode != 0:
            raise AssertionError(f"postern {' '.join(args)} failed ({r.returncode}):\n"
                                 f"{r.stdout}\n{r.stderr}")
        return r

    def cmdlet(self, *args, check=True, input=None):
        return self.run_cli(*args, check=check, input=input)

    def get(self, cmdlet, *args):
        """Runs a Get- cmdlet; returns a list of dicts (Format-List output)."""
        out = self.cmdlet(cmdlet, *args).stdout
        objects, current = [], {}
        for line in out.splitlines():
            if not line.strip():
                if current:
                    objects.append(current)
                    current = {}
                continue
            m = re.match(r"^(\S+)\s*:\s?(.*)$", line)
            if m:
                current[m.group(1)] = m.group(2).strip()
        if current:
            objects.append(current)
        return objects

    # -- daemon ---------------------------------------------------------
    def start(self, wait=True, env=None):
        """env: variables added to the daemon's environment (e.g. LD_PRELOAD)."""
        assert self.proc is None
        self.stderr_file = open(self.stderr_path, "ab")
        offset = self.stderr_file.tell()  # earlier runs' output is not this run's
        env = {**os.environ, **(env or {})}
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self.proc = subprocess.Popen([POSTERN, "-D", self.dir, "run"], stdout=self.stderr_file,
                                     stderr=self.stderr_file, env=env)
        if wait:
            wait_for(lambda: self.proc.poll() is not None or "postern ready" in self.log()[offset:],
                     what="postern to start")
            assert self.proc.poll() is None, f"postern exited:\n{self.log()}"
        return self

    def log(self):
        try:
            with open(self.stderr_path, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        """SIGTERM and wait; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        status = self.proc.returncode
        self.proc = None
        self.stderr_file.close()
        return status

    def kill9(self):
        """SIGKILL the daemon; its children die with it (they ask the kernel
        for that): wait until they are gone too."""
        kids = self.children()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        wait_for(lambda: not any(alive(pid) for pid in kids.values()),
                 what="the child processes to die with the daemon")
        self.proc = None
        self.stderr_file.close()

    def children(self):
        """{role: pid} of the daemon's child processes (named postern-<role>)."""
        found = {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/status") as f:
                    status = dict(line.rstrip("\n").split(":\t", 1) for line in f
                                  if ":\t" in line)
            except OSError:
                continue
            if (int(status.get("PPid", 0)) == self.proc.pid
                    and status.get("Name", "").startswith("postern-")):
                found[status["Name"][len("postern-"):]] = int(pid)
        return found

    def reload(self):
        return self.run_cli("reload")

    def sanitizer_report(self):
        text = self.log()
        return [m for m in SANITIZER_MARKERS if m in text] and text

    # -- SMTP -----------------------------------------------------------
    def smtp(self, source=None, host=None, port=None, timeout=10):
        return smtplib.SMTP(host or self.host, port or self.port, local_hostname="client.test",
                            source_address=(source, 0) if source else None,
                            timeout=timeout * SLOW)

    # -- queue ----------------------------------------------------------
    def queued_ids(self):
        """The committed messages, read from the queue's log (qlog_reader.py)."""
        return sorted(qlog_reader.live(os.path.join(self.dir, "queue")))

    def queued_content(self, qid):
        return qlog_reader.live(os.path.join(self.dir, "queue"))[qid][1]

    def queued_envelope(self, qid):
        return qlog_reader.live(os.path.join(self.dir, "queue"))[qid][0].decode()

    def data_files(self):
        """Every message whose content is on disk: the IDs of those committed,
        and "spare/NAME" for each being received (a non-empty file in
        queue/spare: the empty ones are made in advance or kept for reuse, so
        a name there need not be the ID of the message it holds)."""
        spare = os.path.join(self.dir, "queue", "spare")
        receiving = []
        for n in os.listdir(spare) if os.path.isdir(spare) else ():
            try:
                if os.path.getsize(os.path.join(spare, n)) > 0:
                    receiving.append("spare/" + n)
            except FileNotFoundError:
                pass
        return sorted(self.queued_ids()) + sorted(receiving)


def alive(pid):
    """Is pid a process that has not exited (a zombie has, and holds nothing)?"""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def start_with_nofile(inst, limit):
    """Starts inst's daemon with RLIMIT_NOFILE = limit: it inherits our soft limit,
    lowered only for the moment of the fork (lowering needs no privilege; raising
    another process's would need CAP_SYS_RESOURCE)."""
    old = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, old[1]))
    try:
        inst.start(wait=False)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, old)
    wait_for(lambda: inst.proc.poll() is not None or "postern ready" in inst.log(),
             what="postern to start")
    assert inst.proc.poll() is None, inst.log()


@pytest.fixture
def workdir():
    base = tempfile.mkdtemp(prefix="postern-e2e-", dir="/tmp")
    os.chmod(base, 0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def pki_dir():
    """A directory for a test module's PKI, made once per module (key generation is the
    slow part) and readable by the service user."""
    base = tempfile.mkdtemp(prefix="postern-pki-", dir="/tmp")
    os.chmod(base, 0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def instances(workdir):
    """Factory: instances(name, fqdn=..., port=..., bind=[...]). All are stopped at the end,
    and a sanitizer report in any daemon's output fails the test."""
    made = []

    def make(name="a", fqdn=None, port=None, bind=None):
        inst = Instance(workdir, name, fqdn or f"mail.{name}.test", port or free_port(), bind)
        made.append(inst)
        return inst

    yield make
    reports = []
    for inst in made:
        if inst.proc is not None:
            inst.stop()
        report = inst.sanitizer_report()
        if report:
            reports.append(report)
    assert not reports, "sanitizer reported errors:\n" + "\n".join(reports)


# A loopback port nothing listens on: an LMTP "mailbox server" that is down.
DOWN_LMTP = "127.0.0.1:1"


@pytest.fixture
def server(instances):
    """A running instance accepting mail for a.test, with mailbox alice@a.test.

    Its mailboxes are on an LMTP server that is down, so accepted messages stay
    in the queue (in Retry) where the receive-side tests look at them."""
    inst = instances("a")
    inst.cmdlet("New-AcceptedDomain", "-Name", "a.test", "-DomainName", "a.test",
                "-LmtpServer", DOWN_LMTP)
    inst.cmdlet("New-Mailbox", "-Name", "alice", "-PrimarySmtpAddress", "alice@a.test",
                "-Password", "Secret-1234")
    inst.start()
    return inst


def message(subject="test", body="Hello.\r\n", sender="bob@example.org", to="alice@a.test"):
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{time.time_ns()}@example.org>\r\n\r\n{body}")


def queue_id_from_reply(reply):
    m = re.search(rb"2\.6\.0 ([0-9A-F]{16}) ", reply)
    assert m, f"no queue id in {reply!r}"
    return m.group(1).decode()


def client_context(version=None, leaf=None):
    """A TLS client context that takes any certificate: for tests that check the
    certificate they were given themselves, or only need the session encrypted.
    version (ssl.TLSVersion) pins the protocol; leaf (a pki.Leaf) is presented
    as the client certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if version:
        ctx.minimum_version = version
        ctx.maximum_version = version
    if leaf is not None:
        ctx.load_cert_chain(leaf.cert, leaf.key)
    return ctx


class RawSMTP:
    """A byte-exact SMTP client for malformed input that smtplib refuses to send."""

    def __init__(self, host, port, source=None, timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout * SLOW,
                                             source_address=(source, 0) if source else None)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        """Reads one complete (possibly multi-line) reply; returns (code, text)."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError(f"connection closed; got {self.buf!r}")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), b"\n".join(lines)

    def cmd(self, line):
        self.send(line + b"\r\n")
        return self.reply()

    def closed(self, timeout=5):
        """True when the server closed the connection."""
        self.sock.settimeout(timeout * SLOW)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def open_transaction(host, port, rcpt="alice@a.test", data=False, source=None):
    """A RawSMTP session (from source, an address to connect from) left just after
    RCPT TO:<rcpt> (from bob@example.org), its DATA still to come; with data, past
    DATA's 354: what it sends next is message content."""
    raw = RawSMTP(host, port, source=source)
    assert raw.reply()[0] == 220
    assert raw.cmd(b"EHLO client.test")[0] == 250
    assert raw.cmd(b"MAIL FROM:<bob@example.org>")[0] == 250
    assert raw.cmd(f"RCPT TO:<{rcpt}>".encode())[0] == 250
    if data:
        assert raw.cmd(b"DATA")[0] == 354
    return raw


def finish_transaction(raw, subject):
    """Sends DATA and a message with subject on a session open_transaction left after
    RCPT, then QUIT; returns the queue id of the accepted message."""
    assert raw.cmd(b"DATA")[0] == 354
    code, text = raw.cmd(message(subject=subject).encode() + b".")
    assert code == 250, text
    assert raw.cmd(b"QUIT")[0] == 221
    raw.close()
    return queue_id_from_reply(text)


def banner(host, port, source=None):
    """The greeting of a new connection (from source), as text: "220 mail.a.test ..."."""
    raw = RawSMTP(host, port, source=source)
    try:
        return raw.reply()[1].decode()
    finally:
        raw.close()


def accepting(host, port):
    """Does something accept connections on host:port?"""
    try:
        s = socket.create_connection((host, port), timeout=2)
    except OSError:
        return False
    s.close()
    return True


def stored_copies(inst, qid):
    """Every stored copy of the message with queue id qid: its queue data file while it is
    queued, and what delivery made of it (a mailbox copy, or a report quoting its header)
    once it has left the queue. Line ends are normalised to LF."""
    found = [content.replace(b"\r\n", b"\n")
             for _, content in qlog_reader.live(os.path.join(inst.dir, "queue")).values()
             if qid.encode() in content]
    for top in (os.path.join(inst.dir, "mail"),):
        for d, _, names in os.walk(top):
            for n in names:
                try:
                    with open(os.path.join(d, n), "rb") as f:
                        data = f.read()
                except OSError:  # moved on meanwhile
                    continue
                if qid.encode() in data:
                    found.append(data.replace(b"\r\n", b"\n"))
    return found


def stored(inst, qid):
    """The message with queue id qid as stored (queued or delivered), never lost."""
    return wait_for(lambda: b"".join(stored_copies(inst, qid)), timeout=5,
                    what=f"message {qid} in the queue or a mailbox")
