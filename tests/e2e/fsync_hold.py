"""A slow disk for one test: holds a running process's fsync(2)/fdatasync(2) of
chosen files until the test lets them go, so that a commit stays "in flight"
for as long as the test needs (test_graceful_stop.py, test_session_limits.py).

It is a ptrace(2) tracer of a process's threads (the queue process, which
commits) other than the main one: the event loop (main thread) is never
traced and keeps serving its channels and timers; the committer and its sync
threads stop at the entry of an fsync whose descriptor names a path under
`prefix` (read from /proc/PID/fd). Linux on x86_64 only (PTRACE_GET_SYSCALL_INFO, Linux 5.3).

Must never: trace the main thread, change what any system call does or
returns, or leave a thread traced or stopped when the test ends: every
tracee is detached on exit (and the kernel detaches them all should the
tracer thread die).
"""
import ctypes
import os
import platform
import queue
import signal
import threading
import time

import pytest

_PTRACE_SYSCALL = 24
_PTRACE_DETACH = 17
_PTRACE_GETEVENTMSG = 0x4201
_PTRACE_SEIZE = 0x4206
_PTRACE_INTERRUPT = 0x4207
_PTRACE_GET_SYSCALL_INFO = 0x420E
_PTRACE_O_TRACESYSGOOD = 0x01
_PTRACE_O_TRACECLONE = 0x08
_PTRACE_EVENT_CLONE = 3
_SYSCALL_INFO_ENTRY = 1
_WALL = 0x40000000
_FSYNC_CALLS = {74, 75}  # x86_64: fsync, fdatasync


class _SyscallInfo(ctypes.Structure):
    _fields_ = [("op", ctypes.c_uint8), ("pad", ctypes.c_uint8 * 3), ("arch", ctypes.c_uint32),
                ("ip", ctypes.c_uint64), ("sp", ctypes.c_uint64), ("nr", ctypes.c_uint64),
                ("args", ctypes.c_uint64 * 6), ("spare", ctypes.c_uint64)]


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    libc.ptrace.restype = ctypes.c_long
    return libc


def skip_unless_supported():
    if platform.machine() != "x86_64":
        pytest.skip("fsync_hold knows x86_64 system call numbers only")
    if os.geteuid() != 0:
        pytest.skip("tracing the daemon (it runs as the service user) needs root")


class FsyncHold:
    """with FsyncHold(pid, prefix) as hold: ... hold.wait_held() ... hold.release()

    Held until release() (or the end of the with block): every fsync/fdatasync
    on a path starting with prefix, made by a thread other than the main one."""

    def __init__(self, pid, prefix):
        skip_unless_supported()
        self.pid = pid
        self.prefix = prefix
        self.held_paths = []  # every path whose fsync was held, in order
        self._held = set()  # tids stopped at an fsync entry
        self._armed = True
        self._lock = threading.Lock()
        self._commands = queue.Queue()
        self._event = threading.Condition(self._lock)
        self._ready = threading.Event()
        self._error = None
        self._thread = None

    # -- the test's side ----------------------------------------------------
    def __enter__(self):
        self._thread = threading.Thread(target=self._run, name="fsync-hold", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise AssertionError("fsync_hold: the tracer did not start")
        if self._error:
            if "Operation not permitted" in self._error:
                pytest.skip(f"fsync_hold: ptrace is not permitted here ({self._error})")
            raise AssertionError(f"fsync_hold: {self._error}")
        return self

    def __exit__(self, *exc):
        if self._thread.is_alive():
            self.release()

    def wait_held(self, timeout=10):
        """Waits until some fsync is being held; returns its path."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not self._held:
                left = deadline - time.monotonic()
                if left <= 0 or self._error:
                    raise AssertionError(f"no fsync under {self.prefix} was reached "
                                         f"({self._error or 'timed out'})")
                self._event.wait(left)
            return self.held_paths[-1]

    def holding(self):
        with self._lock:
            return bool(self._held)

    def release(self):
        """Lets the held fsyncs go and stops tracing (a sanitizer's leak check at the
        daemon's exit needs to trace the threads itself). Holds nothing after this."""
        self._commands.put("release")
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "fsync_hold: the tracer did not let go"

    # -- the tracer thread: every ptrace call comes from it ----------------
    def _ptrace(self, req, tid, addr=0, data=0):
        r = self._libc.ptrace(req, tid, ctypes.c_void_p(addr), ctypes.c_void_p(data))
        if r == -1:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        return r

    def _fd_path(self, tid, fd):
        try:
            return os.readlink(f"/proc/{self.pid}/fd/{fd}")
        except OSError:
            return ""

    def _syscall_stop(self, tid):
        info = _SyscallInfo()
        self._ptrace(_PTRACE_GET_SYSCALL_INFO, tid, ctypes.sizeof(info), ctypes.addressof(info))
        if info.op == _SYSCALL_INFO_ENTRY and info.nr in _FSYNC_CALLS and self._armed:
            path = self._fd_path(tid, info.args[0])
            if path.startswith(self.prefix):
                with self._lock:
                    self._held.add(tid)
                    self.held_paths.append(path)
                    self._event.notify_all()
                return  # stays stopped: the fsync is "slow"
        self._ptrace(_PTRACE_SYSCALL, tid)

    def _handle(self, tid, status):
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            self._tracees.discard(tid)
            return
        sig, event = os.WSTOPSIG(status), status >> 16
        plain_signal = sig != (signal.SIGTRAP | 0x80) and event == 0
        if tid in self._detaching:
            self._ptrace(_PTRACE_DETACH, tid, 0, sig if plain_signal else 0)
            self._tracees.discard(tid)
        elif sig == (signal.SIGTRAP | 0x80):
            self._syscall_stop(tid)
        elif event == _PTRACE_EVENT_CLONE:
            new = ctypes.c_ulong()
            self._ptrace(_PTRACE_GETEVENTMSG, tid, 0, ctypes.addressof(new))
            self._tracees.add(new.value)
            self._ptrace(_PTRACE_SYSCALL, tid)
        elif event:  # PTRACE_EVENT_STOP (128): our interrupt, or a group stop
            self._ptrace(_PTRACE_SYSCALL, tid)
        else:  # a signal for the thread: deliver it
            self._ptrace(_PTRACE_SYSCALL, tid, 0, sig)

    def _poll(self):
        """Handles the stops that are there; True when there was one."""
        progressed = False
        for tid in list(self._tracees):
            try:
                got, status = os.waitpid(tid, os.WNOHANG | _WALL)
            except ChildProcessError:
                self._tracees.discard(tid)
                continue
            if got == 0:
                continue
            progressed = True
            try:
                self._handle(tid, status)
            except OSError:  # the thread is gone meanwhile
                self._tracees.discard(tid)
        return progressed

    def _detach_all(self):
        """The running threads first (interrupted, then detached at their stop), the
        held ones last, so that nothing finishes a commit while we still trace."""
        self._armed = False
        with self._lock:
            held = set(self._held)
        for tid in self._tracees - held:
            self._detaching.add(tid)
            try:
                self._ptrace(_PTRACE_INTERRUPT, tid)
            except OSError:
                self._tracees.discard(tid)
        deadline = time.monotonic() + 10
        while self._tracees - held and time.monotonic() < deadline:
            if not self._poll():
                time.sleep(0.001)
        for tid in held:
            try:
                self._ptrace(_PTRACE_DETACH, tid)
            except OSError:
                pass
            self._tracees.discard(tid)
        with self._lock:
            self._held.clear()
            self._event.notify_all()

    def _run(self):
        self._libc = _libc()
        self._tracees, self._detaching = set(), set()
        try:
            for name in os.listdir(f"/proc/{self.pid}/task"):
                tid = int(name)
                if tid == self.pid:
                    continue
                try:
                    self._ptrace(_PTRACE_SEIZE, tid, 0,
                                 _PTRACE_O_TRACESYSGOOD | _PTRACE_O_TRACECLONE)
                except ProcessLookupError:
                    continue  # the thread ended meanwhile
                self._tracees.add(tid)
                self._ptrace(_PTRACE_INTERRUPT, tid)
        except OSError as e:
            self._error = f"cannot trace {self.pid}: {e}"
        self._ready.set()
        # (should this thread die, the kernel detaches every tracee)
        while self._tracees:
            try:
                self._commands.get_nowait()
                break  # "release"
            except queue.Empty:
                pass
            if not self._poll():
                time.sleep(0.001)
        self._detach_all()
