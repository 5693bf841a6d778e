#!/usr/bin/env python3
"""Crash rounds: several SMTP clients send numbered messages to a real postern
delivering into local Maildirs, while the service is killed with SIGKILL at
random moments (in DATA, right at the end of data, during the commit, during
delivery, during recovery at start) and restarted. Clients retry what got no
250, as real clients do. At the end every acknowledged message must be in
each of its recipients' Maildirs exactly once, intact, and nothing may be
left half-written (Maildir tmp/, queue data/ and env/ empty).

    crashtest.py [--rounds N] [--seed S] [--clients C] [--keep] BINARY
    make crashtest ROUNDS=1000 SEED=1234

The delays and the kinds of kill come from a RNG seeded with SEED (printed
at the start and in the verdict): a failure is replayed with the same SEED,
which repeats the same schedule (the machine's timing still varies).

Must never: touch anything outside its own temporary directory, signal any
process but the daemons it started (by PID), or talk to anything but
loopback.
"""
import argparse
import collections
import os
import random
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import qlog_reader  # noqa: E402  (the tests' own reader of the queue's log)

DOMAIN = "crash.test"
USERS = [f"u{i}@{DOMAIN}" for i in (1, 2, 3)]
SENDER = "sender@client.test"
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer",
                     "LeakSanitizer has encountered a fatal error")
QUEUE_ID = re.compile(r"[0-9A-F]{16}")

# Kinds of kill and how often each is drawn. Each waits for its moment (an
# event from a client, or the daemon's start), then a random delay.
STRATEGIES = [
    # (name, weight, (min delay s, max delay s))
    ("anytime", 35, (0.0, 0.5)),    # wherever the traffic happens to be
    ("in-data", 15, (0.0, 0.004)),  # a client has sent part of its content
    ("at-eod", 20, (0.0, 0.006)),   # a client has just sent <CRLF>.<CRLF>: commit
    ("after-ack", 20, (0.0, 0.02)),  # a client heard 250: delivery is starting
    ("recovery", 10, (0.0, 0.08)),  # the daemon is starting and recovering
]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------
# messages: everything about message n follows from (seed, n)

def message_spec(seed, n):
    """(recipients, body) of message n. Sizes: mostly small, some beyond the
    queue's 64 KiB write chunk, a few near a megabyte."""
    rng = random.Random(seed * 1_000_003 + n)
    rcpts = sorted(rng.sample(USERS, rng.choice((1, 1, 2, 3))))
    kind = rng.random()
    size = (rng.randint(200, 4000) if kind < 0.7 else
            rng.randint(20_000, 150_000) if kind < 0.95 else rng.randint(300_000, 1_000_000))
    lines, total, i = [], 0, 0
    while total < size:
        line = f"{n} line {i} " + "abcdefghijklmnopqrstuvwxyz0123456789"[: (n + i) % 37] + "\r\n"
        lines.append(line)
        total += len(line)
        i += 1
    return rcpts, "".join(lines).encode()


def message_bytes(seed, n, attempt, rcpts, body):
    head = (f"From: {SENDER}\r\nTo: {', '.join(rcpts)}\r\nSubject: crash {n} attempt {attempt}\r\n"
            f"Message-ID: <{n}.{seed}@crashtest.test>\r\nX-Crash-Attempt: {n}.{attempt}\r\n\r\n")
    return head.encode() + body  # no line starts with '.': nothing to stuff


# ---------------------------------------------------------------------------
# the daemon

class Daemon:
    """A postern instance we set up, start, SIGKILL and restart, by PID."""

    def __init__(self, binary, home, port, slow):
        self.binary, self.home, self.port, self.slow = binary, home, port, slow
        self.log_path = home + ".log"
        self.proc = None
        self.log_file = None

    def cli(self, *args):
        r = subprocess.run([self.binary, "-D", self.home, *args], capture_output=True, text=True,
                           timeout=60 * self.slow)
        if r.returncode != 0:
            raise RuntimeError(f"postern {' '.join(args)} failed: {r.stdout}{r.stderr}")
        return r.stdout

    def setup(self):
        self.cli("setup", "--fqdn", f"mail.{DOMAIN}", "--bind", f"127.0.0.1:{self.port}")
        self.cli("New-AcceptedDomain", "-Name", DOMAIN, "-DomainName", DOMAIN)
        for u in USERS:
            self.cli("New-Mailbox", "-Name", u.split("@")[0], "-PrimarySmtpAddress", u,
                     "-Password", "Crash-Pw-1234")
        # more sessions than clients, so reconnects after a kill are never refused
        self.cli("Set-ReceiveConnector", "Default mail", "-MaxInboundConnectionPerSource", "200")
        self.cli("Set-TransportConfig", "-MessageRetryInterval", "00:00:01")

    def spawn(self):
        assert self.proc is None
        self.log_file = open(self.log_path, "ab")
        self.offset = self.log_file.tell()
        env = dict(os.environ)
        env.pop("POSTERN_HOME", None)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        self.proc = subprocess.Popen([self.binary, "-D", self.home, "run"], stdout=self.log_file,
                                     stderr=self.log_file, env=env)

    def log(self, since_spawn=False):
        with open(self.log_path, "r", errors="replace") as f:
            if since_spawn:
                f.seek(self.offset)
            return f.read()

    def wait_ready(self):
        deadline = time.monotonic() + 20 * self.slow
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postern exited at start:\n{self.log(True)[-3000:]}")
            if "postern ready" in self.log(True):
                return
            time.sleep(0.005)
        raise RuntimeError("postern did not become ready")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        self.log_file.close()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30 * self.slow)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = "hung on SIGTERM"
        self.proc = None
        self.log_file.close()
        return rc

    def queue_files(self):
        """What is still queued (the log's live messages) or being received (a
        non-empty file in queue/spare; the empty ones are made in advance)."""
        spare = os.path.join(self.home, "queue", "spare")
        out = [f"queue/spare/{n}" for n in os.listdir(spare)
               if os.path.getsize(os.path.join(spare, n)) > 0] if os.path.isdir(spare) else []
        return sorted(out + [f"queue/log: {qid}" for qid in self.envelopes()])

    def envelopes(self):
        """The committed messages, read from the queue's log."""
        return sorted(qlog_reader.live(os.path.join(self.home, "queue")))


# ---------------------------------------------------------------------------
# clients

class Ledger:
    """What the clients sent and what they heard, shared by their threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.next_number = 1
        self.retry = collections.deque()     # numbers whose last attempt got no 250
        self.attempts = collections.Counter()  # n -> attempts made
        self.acked = {}                      # n -> (attempt, queue id) that got 250
        self.unacked = set()                 # (n, attempt) that got no 250
        self.phase = {p: threading.Event() for p in ("in-data", "at-eod", "after-ack")}
        self.new_messages = True

    def take(self):
        with self.lock:
            if self.retry:
                n = self.retry.popleft()
            elif self.new_messages:
                n = self.next_number
                self.next_number += 1
            else:
                return None
            self.attempts[n] += 1
            return n, self.attempts[n]

    def done(self, n, attempt, qid):
        with self.lock:
            if qid:
                self.acked[n] = (attempt, qid)
            else:
                self.unacked.add((n, attempt))
                self.retry.append(n)

    def outstanding(self):
        with self.lock:
            return len(self.retry)


class Client(threading.Thread):
    def __init__(self, k, seed, port, ledger, stop, slow):
        super().__init__(name=f"client-{k}", daemon=True)
        self.rng = random.Random(seed * 7919 + k)
        self.seed, self.port, self.ledger, self.stop, self.slow = seed, port, ledger, stop, slow
        self.conn = None
        self.error = None

    def connect(self):
        while not self.stop.is_set():
            try:
                c = smtplib.SMTP("127.0.0.1", self.port, local_hostname="client.test",
                                 timeout=30 * self.slow)
                c.ehlo("client.test")
                return c
            except (OSError, smtplib.SMTPException):
                time.sleep(self.rng.uniform(0.005, 0.03))  # the service is restarting
        return None

    def drop(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
        self.conn = None

    def transaction(self, n, attempt):
        """One attempt; returns the queue ID from the 250, or None."""
        rcpts, body = message_spec(self.seed, n)
        data = message_bytes(self.seed, n, attempt, rcpts, body)
        c = self.conn
        if c.mail(SENDER)[0] != 250:
            return None
        for r in rcpts:
            if c.rcpt(r)[0] != 250:
                c.rset()
                return None
        if c.docmd("DATA")[0] != 354:
            return None
        # in pieces of random size, now and then pausing: the kill may land
        # with part of the content written
        pos = 0
        while pos < len(data):
            step = self.rng.choice((1500, 16384, 65536))
            c.send(data[pos:pos + step])
            pos += step
            self.ledger.phase["in-data"].set()
            if self.rng.random() < 0.1:
                time.sleep(self.rng.uniform(0, 0.002))
        c.send(b".\r\n")
        self.ledger.phase["at-eod"].set()
        code, text = c.getreply()
        if code != 250:
            return None
        self.ledger.phase["after-ack"].set()
        m = QUEUE_ID.search(text.decode(errors="replace"))
        return m.group(0) if m else "?"

    def run(self):
        try:
            while not self.stop.is_set():
                job = self.ledger.take()
                if job is None:
                    return
                n, attempt = job
                qid = None
                if self.conn is None:
                    self.conn = self.connect()
                if self.conn is not None:
                    try:
                        qid = self.transaction(n, attempt)
                    except (OSError, smtplib.SMTPException):
                        self.drop()  # killed under us: no 250, try again later
                self.ledger.done(n, attempt, qid)
        except Exception as e:  # a bug in the test itself: report, do not hide
            self.error = repr(e)
        finally:
            self.drop()


# ---------------------------------------------------------------------------
# the verdict

def scan_maildirs(home):
    """{(n, attempt, rcpt): [paths]} over new/ and cur/, the files left in
    tmp/, and the copies whose content is not what was sent."""
    copies = collections.defaultdict(list)
    leftovers, damaged = [], []
    for u in USERS:
        root = os.path.join(home, "mail", u)
        if not os.path.isdir(root):
            continue
        leftovers += [os.path.join(root, "tmp", f) for f in os.listdir(os.path.join(root, "tmp"))]
        for sub in ("new", "cur"):
            d = os.path.join(root, sub)
            for f in os.listdir(d):
                path = os.path.join(d, f)
                with open(path, "rb") as fh:
                    raw = fh.read()
                m = re.search(rb"\nX-Crash-Attempt: (\d+)\.(\d+)\n", raw)
                mid = re.search(rb"\nMessage-ID: <(\d+)\.", raw)
                to = re.search(rb"\nDelivered-To: (\S+)\n", raw)
                if not m or not to or to.group(1).decode() != u:
                    damaged.append((path, "headers"))
                    continue
                if not mid or mid.group(1) != m.group(1):
                    damaged.append((path, "Message-ID"))
                    continue
                copies[(int(m.group(1)), int(m.group(2)), u)].append((path, raw))
    return copies, leftovers, damaged


def verdict(seed, ledger, daemon, copies, leftovers, damaged):
    problems = []
    by_message = collections.Counter()
    for (n, attempt, u), files in copies.items():
        rcpts, body = message_spec(seed, n)
        if u not in rcpts:
            problems.append(f"message {n} delivered to {u}, not a recipient")
        if len(files) > 1:
            problems.append(f"message {n} attempt {attempt} delivered {len(files)} times to {u}: "
                            f"{[p for p, _ in files]}")
        for path, raw in files:
            if raw.split(b"\n\n", 1)[-1] != body.replace(b"\r\n", b"\n"):
                problems.append(f"message {n} attempt {attempt}: content differs in {path}")
        by_message[(n, u)] += len(files)
    lost = []
    for n, (attempt, qid) in sorted(ledger.acked.items()):
        rcpts, _ = message_spec(seed, n)
        for u in rcpts:
            if not copies.get((n, attempt, u)):
                lost.append(f"{n}->{u} (queue id {qid})")
    if lost:
        problems.append(f"{len(lost)} acknowledged deliveries missing: {lost[:20]}")
    duplicates = sum(len(f) - 1 for f in copies.values() if len(f) > 1)
    # An attempt that got no 250 (killed after the commit, before the reply
    # reached the client) may be delivered, and the client's retry too:
    # RFC 5321 6.1 accepts that duplicate; it is counted, not failed.
    lost_ack = sum(c - 1 for c in by_message.values() if c > 1)
    unacked_delivered = sum(1 for (n, a, u) in copies if (n, a) in ledger.unacked)
    for path, why in damaged:
        problems.append(f"unrecognised Maildir file {path} ({why})")
    if leftovers:
        problems.append(f"half-written Maildir files in tmp/: {leftovers[:10]}")
    left = daemon.queue_files()
    if left:
        problems.append(f"queue not empty at the end: {left[:10]}")
    not_acked = ledger.next_number - 1 - len(ledger.acked)
    if not_acked:
        problems.append(f"{not_acked} message(s) never acknowledged even without kills")
    return problems, {
        "messages": ledger.next_number - 1,
        "attempts": sum(ledger.attempts.values()),
        "acked": len(ledger.acked),
        "delivered": sum(len(f) for f in copies.values()),
        "duplicates": duplicates,
        "lost": len(lost),
        "unacked_delivered": unacked_delivered,
        "lost_ack_copies": lost_ack,
    }


# ---------------------------------------------------------------------------
# the run

class Result:
    def __init__(self, ok, summary, figures, problems):
        self.ok, self.summary, self.figures, self.problems = ok, summary, figures, problems


def run(binary, rounds, seed, clients=4, workdir=None, slow=1, keep=False, out=print):
    binary = os.path.abspath(binary)
    base = tempfile.mkdtemp(prefix="postern-crash-", dir=workdir or "/tmp")
    os.chmod(base, 0o755)  # the service user must reach the instance
    rng = random.Random(seed)
    names = [s[0] for s in STRATEGIES]
    weights = [s[1] for s in STRATEGIES]
    delays = {s[0]: s[2] for s in STRATEGIES}
    started = time.monotonic()
    out(f"crashtest: seed={seed} rounds={rounds} clients={clients} binary={binary} dir={base}")
    daemon = Daemon(binary, os.path.join(base, "inst"), free_port(), slow)
    daemon.setup()
    ledger, stop = Ledger(), threading.Event()
    threads = [Client(k, seed, daemon.port, ledger, stop, slow) for k in range(clients)]
    kills = collections.Counter()
    problems, figures = [], {}
    try:
        daemon.spawn()
        daemon.wait_ready()
        for t in threads:
            t.start()
        for r in range(1, rounds + 1):
            kind = rng.choices(names, weights)[0]
            delay = rng.uniform(*delays[kind])
            if kind == "recovery":
                daemon.kill9()
                daemon.spawn()
                time.sleep(delay)
            else:
                for e in ledger.phase.values():
                    e.clear()
                if kind in ledger.phase:
                    ledger.phase[kind].wait(timeout=5 * slow)
                time.sleep(delay)
            daemon.kill9()
            kills[kind] += 1
            out(f"crashtest: round {r}/{rounds} kill {kind} +{delay * 1000:.1f} ms "
                f"(acked so far {len(ledger.acked)}, queued {len(daemon.envelopes())})")
            daemon.spawn()
            daemon.wait_ready()
        # No more kills: the clients get 250 for what is still outstanding.
        ledger.new_messages = False
        deadline = time.monotonic() + 60 * slow
        while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        for t in threads:
            t.join(timeout=30 * slow)
            if t.error:
                problems.append(f"{t.name} failed: {t.error}")
        deadline = time.monotonic() + 120 * slow
        while daemon.envelopes() and time.monotonic() < deadline:
            time.sleep(0.05)
        rc = daemon.stop()
        if rc != 0:
            problems.append(f"postern exit status on SIGTERM: {rc}")
        log = daemon.log()
        for marker in SANITIZER_MARKERS:
            if marker in log:
                problems.append(f"sanitizer report in {daemon.log_path}: {marker}")
        damaged_logged = [line for line in log.splitlines() if "set aside" in line]
        if damaged_logged:
            problems.append(f"damaged envelopes: {damaged_logged[:5]}")
        copies, leftovers, damaged = scan_maildirs(daemon.home)
        more, figures = verdict(seed, ledger, daemon, copies, leftovers, damaged)
        problems += more
    finally:
        stop.set()
        if daemon.proc is not None:
            daemon.kill9()
    elapsed = time.monotonic() - started
    figures.update(rounds=rounds, seconds=round(elapsed, 1), seed=seed)
    summary = (f"rounds={rounds} messages={figures.get('messages')} "
               f"attempts={figures.get('attempts')} acked={figures.get('acked')} "
               f"delivered={figures.get('delivered')} duplicates={figures.get('duplicates')} "
               f"lost={figures.get('lost')} "
               f"unacked-but-delivered={figures.get('unacked_delivered')} "
               f"(of which copies beside the acked retry={figures.get('lost_ack_copies')}) "
               f"time={elapsed:.1f}s kills={dict(kills)} seed={seed}")
    ok = not problems
    out(f"crashtest: {'PASS' if ok else 'FAIL'} {summary}")
    for p in problems:
        out(f"crashtest: problem: {p}")
    if not ok:
        out(f"crashtest: replay with SEED={seed} (files kept in {base})")
    elif not keep:
        shutil.rmtree(base, ignore_errors=True)
    return Result(ok, summary, figures, problems)


def new_seed():
    return int.from_bytes(os.urandom(4), "big")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("binary", help="path of the postern binary")
    p.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS") or 50))
    p.add_argument("--seed", type=int, default=int(os.environ.get("SEED") or new_seed()))
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--slow", type=int, default=4 if os.environ.get("POSTERN_ASAN") == "1" else 1,
                   help="timeout factor (4 for sanitizer builds)")
    p.add_argument("--keep", action="store_true", help="keep the instance directory")
    a = p.parse_args(argv)
    result = run(a.binary, a.rounds, a.seed, a.clients, slow=a.slow, keep=a.keep,
                 out=lambda s: print(s, flush=True))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
