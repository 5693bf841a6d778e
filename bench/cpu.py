#!/usr/bin/python3
"""CPU accounting helpers for bench/accept.sh and bench/starttls.sh (read-only; /proc only).

  cpu.py tree PID    CPU seconds used so far by PID, its reaped children (cutime/cstime)
                     and all its live descendants, threads included: for postern (the
                     daemon and every process it runs, e.g. postern-smtp, -queue, -keys)
                     and for Postfix's master and every daemon it spawned. A descendant
                     that outlives its parent is reparented away and no longer counted.
  cpu.py machine     busy CPU seconds of the whole machine (all cores, from /proc/stat).
  cpu.py port        a free TCP port on 127.0.0.1.
"""
import os
import socket
import sys

TICK = os.sysconf("SC_CLK_TCK")


def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    # after the command: state ppid ... utime(12) stime(13) cutime(14) cstime(15)
    return int(rest[1]), [int(x) for x in rest[11:15]]


def tree(root):
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            ppid, _ = stat(name)
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(name))
    total, todo = 0, [int(root)]
    while todo:
        pid = todo.pop()
        try:
            _, (ut, st, cut, cst) = stat(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
        # reaped children of the root are in its cutime/cstime; below the root they are
        # counted the same way, once, by their own parent
        total += ut + st + cut + cst
        todo.extend(children.get(pid, []))
    return total / TICK


def machine():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / TICK


def port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "tree":
        print(f"{tree(sys.argv[2]):.2f}")
    elif what == "machine":
        print(f"{machine():.2f}")
    elif what == "port":
        print(port())
    else:
        sys.exit(__doc__)
