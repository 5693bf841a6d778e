#!/usr/bin/env python3
"""Memory per idle connection: RSS of a running postern before and after N
idle sessions (plain, then TLS after STARTTLS), and the time one ordinary
client takes to deliver one message (connect to QUIT, bench/eod_latency.py
-n 1) while they are held. Loopback only; bounded; a private instance in a
temp dir (accepted domain dst.test parked on a down LMTP server, as
bench/lib.sh sets it up), never any other.

The descriptor limit (soft) of the daemon and of this client is raised to
the hard limit; N must fit under it (both ends hold N sockets). The Receive
connector's MaxInboundConnection and per-source limit are set to Unlimited
and its inactivity timeout to 30 minutes, so that the sessions stay open.

usage: bench/idle_memory.py [N [TLS_N]]   (default 2000, TLS_N = N // 4;
                                           POSTERN_BIN, default build/postern)
Prints a readable report, then one line for bench/run.sh:
  idle_memory plain_n= plain_bytes= plain_deliver_ms= tls_n= tls_bytes= tls_deliver_ms= ok=
"""
import os
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
POSTERN = os.environ.get("POSTERN_BIN", os.path.join(ROOT, "build", "postern"))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
TLS_N = int(sys.argv[2]) if len(sys.argv) > 2 else N // 4


def smtp_pid(daemon):
    """The daemon's smtp process (named postern-smtp)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status") as f:
                status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
        except OSError:
            continue
        if status.get("Name") == "postern-smtp" and int(status.get("PPid", 0)) == daemon:
            return int(pid)
    raise SystemExit("no smtp process found")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deliver_ms(port):
    """One message by an ordinary client while the idle sessions are held: ms, or None."""
    r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "eod_latency.py"), "-n", "1",
                        f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=120)
    line = r.stdout.strip()
    if r.returncode != 0:
        print(f"delivery failed: {line} {r.stderr.strip()}", file=sys.stderr)
        return None
    return float(dict(kv.split("=") for kv in line.split()[1:])["session_ms"])


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if max(N, TLS_N) + 256 > hard:
        raise SystemExit(f"{max(N, TLS_N)} sessions do not fit under the hard limit of {hard} "
                         "descriptors")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    base = tempfile.mkdtemp(prefix="postern-bench-", dir="/tmp")
    os.chmod(base, 0o755)
    d = os.path.join(base, "i")
    port = free_port()
    pm = [POSTERN, "-D", d]
    subprocess.run(pm + ["setup", "--fqdn", "mail.bench.test", "--bind", f"127.0.0.1:{port}"],
                   check=True, capture_output=True)
    subprocess.run(pm + ["New-AcceptedDomain", "-Name", "dst.test", "-DomainName", "dst.test",
                         "-LmtpServer", "127.0.0.1:1"], check=True, capture_output=True)
    subprocess.run(pm + ["New-Mailbox", "-Name", "b", "-PrimarySmtpAddress", "b@dst.test",
                         "-Password", "Bench-Secret-1"], check=True, capture_output=True)
    subprocess.run(pm + ["Set-ReceiveConnector", "Default mail", "-MaxInboundConnectionPerSource",
                         "Unlimited", "-MaxInboundConnection", "Unlimited",
                         "-ConnectionInactivityTimeout", "00:30:00", "-ConnectionTimeout",
                         "01:00:00"], check=True, capture_output=True)
    log = open(os.path.join(base, "log"), "w")
    # the daemon needs descriptors too: raise its limit through prlimit
    proc = subprocess.Popen(["prlimit", f"--nofile={hard}:{hard}", *pm, "run"], stderr=log)
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(0.3)
        smtp = smtp_pid(proc.pid)  # the process that holds the sessions
        before = rss_kib(smtp)
        plain = []
        for _ in range(N):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            greeting = s.recv(512)
            if not greeting.startswith(b"220"):
                raise SystemExit(f"session {len(plain) + 1} refused: {greeting!r}")
            plain.append(s)
        time.sleep(0.5)
        after_plain = rss_kib(smtp)
        plain_deliver = deliver_ms(port)
        for s in plain:
            s.close()
        time.sleep(0.5)
        base_tls = rss_kib(smtp)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        tls = []
        for _ in range(TLS_N):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            greeting = s.recv(512)
            if not greeting.startswith(b"220"):
                raise SystemExit(f"TLS session {len(tls) + 1} refused: {greeting!r}")
            s.sendall(b"EHLO bench.test\r\n")
            buf = b""
            while b"250 " not in buf:
                buf += s.recv(4096)
            s.sendall(b"STARTTLS\r\n")
            s.recv(512)
            tls.append(ctx.wrap_socket(s))
        time.sleep(0.5)
        after_tls = rss_kib(smtp)
        tls_deliver = deliver_ms(port)
        print(f"date: {time.strftime('%Y-%m-%d', time.gmtime())}")
        print(f"plain: {N} idle sessions: RSS {before} -> {after_plain} KiB = "
              f"{(after_plain - before) * 1024 / N:.0f} bytes/session")
        print(f"tls:   {TLS_N} idle TLS sessions: RSS {base_tls} -> {after_tls} KiB = "
              f"{(after_tls - base_tls) * 1024 / TLS_N:.0f} bytes/session")
        print(f"one message delivered while they were held: {plain_deliver} ms (plain), "
              f"{tls_deliver} ms (TLS)")
        ok = int(plain_deliver is not None and tls_deliver is not None)
        print(f"idle_memory plain_n={N} plain_bytes={(after_plain - before) * 1024 / N:.0f} "
              f"plain_deliver_ms={plain_deliver or 0:.1f} tls_n={TLS_N} "
              f"tls_bytes={(after_tls - base_tls) * 1024 / TLS_N:.0f} "
              f"tls_deliver_ms={tls_deliver or 0:.1f} ok={ok}", flush=True)
        for s in tls:
            s.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
