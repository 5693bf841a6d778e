"""The service's own log lines: journald (with fields journalctl matches),
syslog's mail facility, stderr, -LogLevel; and the deletion of old protocol
and tracking log files (-MessageTrackingLogMaxAge and friends).

Journald is Debian's real systemd-journald: the one of the machine when
systemd runs it, else started here by hand (it needs no systemd around it);
postern's stderr is connected to journald's stdout stream as systemd
connects a service's (the stream header, then $JOURNAL_STREAM naming it),
and the test reads back with journalctl.
"""
import json
import os
import shutil
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import POSTERN, SLOW, wait_for

JOURNALD = "/lib/systemd/systemd-journald"
JOURNAL_DIR = "/run/systemd/journal"
JOURNALCTL = shutil.which("journalctl")


def journald_answers():
    try:
        journal_stream("postern-probe")[0].close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def journald():
    if os.geteuid() != 0 or JOURNALCTL is None or not os.path.exists(JOURNALD):
        pytest.skip("needs root, systemd-journald and journalctl")
    proc = None
    if not journald_answers():
        proc = subprocess.Popen([JOURNALD], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(journald_answers, what="journald")
    yield
    if proc is not None:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def instance(instances):
    """An instance (not started) taking mail for alice@a.test into its Maildir."""
    inst = instances("a")
    inst.cmdlet("New-AcceptedDomain", "-Name", "a.test", "-DomainName", "a.test")
    inst.cmdlet("New-Mailbox", "-Name", "alice", "-PrimarySmtpAddress", "alice@a.test")
    return inst


def journal_stream(identifier):
    """A stream to journald as systemd gives a service for its stderr."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(os.path.join(JOURNAL_DIR, "stdout"))
    # identifier, unit, priority, level prefix, to syslog, to kmsg, to console
    s.sendall(f"{identifier}\n\n6\n0\n0\n0\n0\n".encode())
    st = os.fstat(s.fileno())
    return s, f"{st.st_dev}:{st.st_ino}"


def cursor():
    """Where the journal ends now: journal(since=cursor()) reads only what follows."""
    r = subprocess.run([JOURNALCTL, "--no-pager", "-n", "0", "--show-cursor"], capture_output=True,
                       text=True, timeout=30)
    return r.stdout.strip().split("cursor: ", 1)[1]


def journal(*matches, since=None):
    args = [JOURNALCTL, "--no-pager", "-o", "json", "--quiet", *matches]
    if since:
        args += ["--after-cursor", since]
    r = subprocess.run(args, capture_output=True, text=True, timeout=30)
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]


def start_under_journal(inst, extra_env=None):
    stream, ident = journal_stream("postern-test")
    env = {**os.environ, "JOURNAL_STREAM": ident, **(extra_env or {})}
    env.pop("NOTIFY_SOCKET", None)
    proc = subprocess.Popen([POSTERN, "-D", inst.dir, "run"], stdout=stream.fileno(),
                            stderr=stream.fileno(), env=env)
    stream.close()  # postern holds it now
    return proc


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=20 * SLOW)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def send(inst, to="alice@a.test"):
    with smtplib.SMTP(inst.host, inst.port, timeout=10) as c:
        c.sendmail("sender@example.net", [to], b"Subject: journal\r\n\r\nhello\r\n")


def test_message_life_found_by_queue_id(journald, instance):
    """journalctl QUEUE_ID=... finds the reception and the delivery of one
    message, with its session, connector and client as fields; nothing goes
    to stderr's stream without fields."""
    start = cursor()
    proc = start_under_journal(instance)
    try:
        wait_for(lambda: journal(f"_PID={proc.pid}", "SYSLOG_IDENTIFIER=postern", since=start) and
                 any("postern ready" in e.get("MESSAGE", "")
                     for e in journal(f"_PID={proc.pid}", since=start)),
                 timeout=20, what="postern ready in the journal")
        send(instance)
        queued = wait_for(lambda: [e for e in journal("SYSLOG_IDENTIFIER=postern", since=start)
                                   if " smtp queued id=" in e.get("MESSAGE", "")],
                          timeout=20, what="the queued line")
        e = queued[0]
        qid = e["QUEUE_ID"]
        assert e["SESSION_ID"] and len(e["SESSION_ID"]) == 16
        assert e["CONNECTOR"] == "Default mail"
        assert e["CLIENT"].startswith("127.0.0.1")
        assert e["SYSLOG_FACILITY"] == "2" and e["PRIORITY"] == "6"
        assert e["POSTERN_PROCESS"] == "smtp"
        life = wait_for(lambda: [x for x in journal(f"QUEUE_ID={qid}")
                                 if "delivered" in x["MESSAGE"]] and journal(f"QUEUE_ID={qid}"),
                        timeout=20, what="the delivery line")
        texts = [x["MESSAGE"] for x in life]
        assert any("smtp queued" in t for t in texts), texts
        assert any("queue: delivered" in t and "to=<alice@a.test>" in t for t in texts), texts
        assert {x["POSTERN_PROCESS"] for x in life} == {"smtp", "queue"}
        session = journal(f"SESSION_ID={e['SESSION_ID']}")
        assert any("smtp connected" in x["MESSAGE"] for x in session)
        assert any("smtp disconnected" in x["MESSAGE"] for x in session)
        # the stream (stderr) carried nothing: every line went as fields
        assert not journal("SYSLOG_IDENTIFIER=postern-test", since=start)
    finally:
        stop(proc)


def test_log_level(journald, instance):
    """-LogLevel Warning drops the per-session lines, Verbose adds the state
    changes; a reload applies it to every process."""
    start = cursor()
    instance.cmdlet("Set-TransportConfig", "-LogLevel", "Warning")
    proc = start_under_journal(instance)
    try:
        wait_for(lambda: os.path.exists(os.path.join(instance.dir, "run", "control.sock")),
                 timeout=20, what="the control socket")
        time.sleep(0.5 * SLOW)
        send(instance)
        time.sleep(1 * SLOW)
        mine = [x["MESSAGE"] for x in journal(f"_PID={proc.pid}", since=start)]
        lines = [x["MESSAGE"] for x in journal("SYSLOG_IDENTIFIER=postern", since=start)]
        assert not any(" smtp connected " in t for t in lines), lines
        assert not any("postern ready" in t for t in mine)
        instance.cmdlet("Set-TransportConfig", "-LogLevel", "Verbose")
        instance.cmdlet("reload")
        send(instance)
        wait_for(lambda: any(" smtp state " in x["MESSAGE"]
                             for x in journal("SYSLOG_IDENTIFIER=postern", "PRIORITY=7",
                                              since=start)),
                 timeout=20, what="a debug state line")
    finally:
        stop(proc)


def test_bad_level_refused(instance):
    r = instance.cmdlet("Set-TransportConfig", "-LogLevel", "Loud", check=False)
    assert r.returncode != 0
    assert "Warning" in r.stderr and "Verbose" in r.stderr


def test_syslog_mail_facility(journald, instance):
    """run --daemon logs to syslog's mail facility (journald's syslog socket
    here, as /dev/log is on a systemd machine), and says so."""
    if os.path.exists("/dev/log") and not os.path.islink("/dev/log"):
        pytest.skip("/dev/log belongs to this machine's syslog")
    made = False
    if not os.path.exists("/dev/log"):
        os.symlink(os.path.join(JOURNAL_DIR, "dev-log"), "/dev/log")
        made = True
    start = cursor()
    try:
        r = subprocess.run([POSTERN, "-D", instance.dir, "run", "--daemon"], capture_output=True,
                           text=True, timeout=60 * SLOW)
        assert r.returncode == 0, r.stderr
        assert "logging to syslog (mail facility)" in r.stderr
        send(instance)
        lines = wait_for(lambda: [x for x in journal("SYSLOG_FACILITY=2", since=start)
                                  if " smtp queued id=" in x.get("MESSAGE", "")],
                         timeout=20, what="the queued line in syslog")
        assert lines[0]["SYSLOG_IDENTIFIER"] == "postern/smtp"
        assert lines[0]["PRIORITY"] == "6"
        # the file takes only what syslog could not
        with open(os.path.join(instance.dir, "logs", "postern.log")) as f:
            assert " smtp queued id=" not in f.read()
    finally:
        subprocess.run([POSTERN, "-D", instance.dir, "Stop-Service"], capture_output=True,
                       timeout=60)
        pid_file = os.path.join(instance.dir, "run", "postern.pid")
        if os.path.exists(pid_file):
            try:
                os.kill(int(open(pid_file).read()), 15)
            except (ProcessLookupError, ValueError):
                pass
        if made:
            os.unlink("/dev/log")


def test_old_log_files_deleted(instance):
    """Files older than their MaxAge go at start (and hourly); today's, a
    young one, files of other names and a symbolic link stay; MaxAge
    00:00:00 keeps everything."""
    logs = os.path.join(instance.dir, "logs")
    track = os.path.join(logs, "MessageTracking")
    recv = os.path.join(logs, "ProtocolLog", "SmtpReceive")
    send_dir = os.path.join(logs, "ProtocolLog", "SmtpSend")
    for d in (track, recv, send_dir):
        os.makedirs(d, exist_ok=True)
    day = lambda days_ago: time.strftime("%Y%m%d", time.gmtime(time.time() - days_ago * 86400))
    victim = os.path.join(instance.dir, "keep-me")
    with open(victim, "w") as f:
        f.write("not a log\n")
    files = {
        os.path.join(track, f"MSGTRK{day(40)}-1.log"): False,
        os.path.join(track, f"MSGTRK{day(12)}-1.log"): True,
        os.path.join(track, f"MSGTRK{day(0)}-1.log"): True,
        os.path.join(track, "notes.txt"): True,
        os.path.join(recv, f"RECV{day(11)}-1.log"): False,
        os.path.join(recv, f"RECV{day(3)}-1.log"): True,
        os.path.join(send_dir, f"SEND{day(400)}-1.log"): True,  # SendProtocolLogMaxAge 0
    }
    for path in files:
        with open(path, "w") as f:
            f.write("#Software: postern\n")
    link = os.path.join(recv, f"RECV{day(50)}-1.log")
    os.symlink(victim, link)
    subprocess.run(["chown", "-R", "postern:", logs], check=False)
    instance.cmdlet("Set-TransportConfig", "-MessageTrackingLogMaxAge", "30.00:00:00",
                    "-ReceiveProtocolLogMaxAge", "10.00:00:00", "-SendProtocolLogMaxAge",
                    "00:00:00")
    instance.start()
    try:
        wait_for(lambda: not os.path.exists(next(p for p, keep in files.items() if not keep)),
                 timeout=15, what="the old tracking file to go")
        wait_for(lambda: "deleted 1 file(s) older than 10.0 day(s)" in instance.log(), timeout=15,
                 what="the protocol log sweep")
        for path, keep in files.items():
            assert os.path.exists(path) == keep, path
        assert os.path.islink(link)  # not a regular file: left alone
        assert open(victim).read() == "not a log\n"
    finally:
        instance.stop()


def test_max_age_validated(instance):
    r = instance.cmdlet("Set-TransportConfig", "-MessageTrackingLogMaxAge", "-1", check=False)
    assert r.returncode != 0
    r = instance.cmdlet("Get-TransportConfig")
    assert "MessageTrackingLogMaxAge" in r.stdout and "30.00:00:00" in r.stdout


def test_syslog_restart_is_followed(instance, workdir):
    """A syslog daemon that restarts (its socket made anew) gets the lines
    again: postern connects its descriptor once more, even in the sandboxed
    smtp process, and nothing waits on the way."""
    if os.geteuid() != 0:
        pytest.skip("needs root for /dev/log")
    if os.path.exists("/dev/log") and not os.path.islink("/dev/log"):
        pytest.skip("/dev/log belongs to this machine's syslog")
    saved = os.readlink("/dev/log") if os.path.islink("/dev/log") else None
    path = os.path.join(workdir, "syslog.sock")

    def listen():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        os.chmod(path, 0o666)
        s.settimeout(0.2)
        return s

    def lines(s, want, timeout=20):
        got = []
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline and not any(want in g for g in got):
            try:
                got.append(s.recv(65536).decode(errors="replace"))
            except socket.timeout:
                pass
        return got

    if saved is not None:
        os.unlink("/dev/log")
    os.symlink(path, "/dev/log")
    sock = listen()
    try:
        r = subprocess.run([POSTERN, "-D", instance.dir, "run", "--daemon"], capture_output=True,
                           text=True, timeout=60 * SLOW)
        assert r.returncode == 0, r.stderr
        send(instance)
        got = lines(sock, " smtp queued id=")
        assert any(g.startswith("<22>") and "postern/smtp[" in g and " smtp queued id=" in g
                   for g in got), got
        # the syslog daemon restarts: a new socket at the same path
        sock.close()
        os.unlink(path)
        sock = listen()
        send(instance)  # its first lines may meet the closed socket: postern reconnects
        time.sleep(1.1)
        send(instance)
        got = lines(sock, " smtp queued id=")
        assert any(" smtp queued id=" in g for g in got), got
    finally:
        pid_file = os.path.join(instance.dir, "run", "postern.pid")
        if os.path.exists(pid_file):
            pid = int(open(pid_file).read())
            os.kill(pid, 15)
            wait_for(lambda: not os.path.exists(f"/proc/{pid}"), timeout=20, what="the stop")
        sock.close()
        os.unlink("/dev/log")
        if saved is not None:
            os.symlink(saved, "/dev/log")
