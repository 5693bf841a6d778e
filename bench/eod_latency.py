#!/usr/bin/python3
"""bench/eod_latency.py — latency from end of DATA to the 250 reply, for bench/run.sh.

One client, one SMTP connection (clear text), N messages one after another:
MAIL, RCPT, DATA, the message without its final ".", then a timestamp, the
final ".\\r\\n", and a second timestamp when the whole 250 reply has arrived.
The difference is the time the server needs to commit the message (queue
write and fsyncs) and answer. Prints one line of key=value pairs:

  eod_latency n=N ok=OK p50_ms=.. p99_ms=.. max_ms=.. session_ms=..

session_ms is the whole time from connect to the reply to QUIT (with -n 1: the
time one client takes to deliver one message). Exit status 0 only if every
message got 250.

It is a measuring instrument for loopback servers of one's own: it never
retries, never uses TLS, and sends only to the address it is given.

usage: eod_latency.py [-n N] [-l BYTES] [-f FROM] [-r RCPT] HOST:PORT
"""
import argparse
import socket
import sys
import time


def reply(sock, buf):
    """Reads one complete SMTP reply; returns (code, rest of the buffer)."""
    while True:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3] or 0), buf
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        buf += data


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("-l", type=int, default=1024, help="message size before the final dot")
    ap.add_argument("-f", default="a@src.test")
    ap.add_argument("-r", default="b@dst.test")
    ap.add_argument("target")
    a = ap.parse_args()
    host, port = a.target.rsplit(":", 1)
    head = f"From: <{a.f}>\r\nTo: <{a.r}>\r\nSubject: latency\r\n\r\n".encode()
    body = b""
    while len(head) + len(body) + 78 <= a.l:
        body += b"x" * 76 + b"\r\n"
    message = head + body
    lat, ok = [], 0
    t_start = time.monotonic()
    try:
        s = socket.create_connection((host, int(port)), timeout=60)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        code, buf = reply(s, buf)
        if code != 220:
            raise RuntimeError(f"greeting {code}")
        s.sendall(b"EHLO latency.bench.test\r\n")
        code, buf = reply(s, buf)
        for _ in range(a.n):
            for cmd, want in ((f"MAIL FROM:<{a.f}>", 250), (f"RCPT TO:<{a.r}>", 250),
                              ("DATA", 354)):
                s.sendall(cmd.encode() + b"\r\n")
                code, buf = reply(s, buf)
                if code != want:
                    raise RuntimeError(f"{cmd}: {code}")
            s.sendall(message)
            t0 = time.monotonic()
            s.sendall(b".\r\n")
            code, buf = reply(s, buf)
            t1 = time.monotonic()
            if code != 250:
                raise RuntimeError(f"end of data: {code}")
            lat.append((t1 - t0) * 1000)
            ok += 1
        s.sendall(b"QUIT\r\n")
        reply(s, buf)
        s.close()
    except (OSError, RuntimeError, ValueError) as e:
        print(f"eod_latency: message {ok + 1}: {e}", file=sys.stderr)
    session = (time.monotonic() - t_start) * 1000
    lat.sort()

    def pct(p):  # nearest rank
        return lat[min(len(lat) - 1, max(0, int(p * len(lat) + 0.999999) - 1))] if lat else 0

    print(f"eod_latency n={a.n} ok={ok} p50_ms={pct(0.5):.2f} p99_ms={pct(0.99):.2f} "
          f"max_ms={(lat[-1] if lat else 0):.2f} session_ms={session:.2f}")
    return 0 if ok == a.n else 1


if __name__ == "__main__":
    sys.exit(main())
