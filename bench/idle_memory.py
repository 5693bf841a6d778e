#!/usr/bin/env python3
"""Memory per idle connection: RSS of a running postern before and after N
idle sessions (plain, then TLS after STARTTLS). Loopback only; bounded.

usage: bench/idle_memory.py [N]      (default 2000; needs build/postern)
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


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * N + 1024), hard))
    base = tempfile.mkdtemp(prefix="postern-bench-", dir="/tmp")
    os.chmod(base, 0o755)
    d = os.path.join(base, "i")
    port = free_port()
    pm = [POSTERN, "-D", d]
    subprocess.run(pm + ["setup", "--fqdn", "mail.bench.test", "--bind", f"127.0.0.1:{port}"],
                   check=True, capture_output=True)
    subprocess.run(pm + ["Set-ReceiveConnector", "Default mail", "-MaxInboundConnectionPerSource",
                         "Unlimited", "-MaxInboundConnection", "Unlimited"], check=True,
                   capture_output=True)
    log = open(os.path.join(base, "log"), "w")
    # the daemon needs descriptors too: raise its limit through prlimit
    proc = subprocess.Popen(["prlimit", f"--nofile={4 * N + 1024}", *pm, "run"], stderr=log)
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
            s.recv(512)
            plain.append(s)
        time.sleep(0.5)
        after_plain = rss_kib(smtp)
        for s in plain:
            s.close()
        time.sleep(0.5)
        base_tls = rss_kib(smtp)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        tls = []
        for _ in range(N // 4):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.recv(512)
            s.sendall(b"EHLO bench.test\r\n")
            buf = b""
            while b"250 " not in buf:
                buf += s.recv(4096)
            s.sendall(b"STARTTLS\r\n")
            s.recv(512)
            tls.append(ctx.wrap_socket(s))
        time.sleep(0.5)
        after_tls = rss_kib(smtp)
        print(f"date: {time.strftime('%Y-%m-%d', time.gmtime())}")
        print(f"plain: {N} idle sessions: RSS {before} -> {after_plain} KiB = "
              f"{(after_plain - before) * 1024 / N:.0f} bytes/session")
        print(f"tls:   {N // 4} idle TLS sessions: RSS {base_tls} -> {after_tls} KiB = "
              f"{(after_tls - base_tls) * 1024 / (N // 4):.0f} bytes/session")
        for s in tls:
            s.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
