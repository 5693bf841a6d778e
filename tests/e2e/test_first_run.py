"""What a new administrator meets first: setup and run naming the directory
the service user cannot pass, empty results that say so at a terminal,
progress of a long pipeline, --version and -h on every subcommand."""
import os
import pty
import re
import smtplib
import subprocess
import tempfile

import pytest

from conftest import POSTERN, ROOT, SLOW, free_port, wait_for


def on_terminal(*args, timeout=60):
    """Runs postern with stdout and stderr on a pseudo-terminal; returns
    (status, what the terminal showed)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(POSTERN, [POSTERN, *args])
    shown = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


@pytest.fixture
def closed_parent():
    if os.geteuid() != 0:
        pytest.skip("root makes instances for the service user")
    base = tempfile.mkdtemp(prefix="postern-closed-", dir="/tmp")
    os.chmod(base, 0o700)
    yield base
    subprocess.run(["rm", "-rf", base], check=False)


def test_setup_refuses_a_directory_the_service_user_cannot_reach(closed_parent):
    inst = os.path.join(closed_parent, "p")
    r = subprocess.run([POSTERN, "-D", inst, "setup", "--fqdn", "mail.p.test"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert (f"user postern cannot reach {inst}: {closed_parent} (mode 0700, owner uid 0) is "
            f"not searchable for it; fix: chmod o+x {closed_parent}") in r.stderr, r.stderr
    assert not os.path.exists(inst)  # refused before anything was made
    # the fix it names works
    os.chmod(closed_parent, 0o711)
    r = subprocess.run([POSTERN, "-D", inst, "setup", "--fqdn", "mail.p.test"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_run_names_the_directory_it_cannot_reach(closed_parent):
    inst = os.path.join(closed_parent, "p")
    os.chmod(closed_parent, 0o755)
    subprocess.run([POSTERN, "-D", inst, "setup", "--fqdn", "mail.p.test", "--bind",
                    f"127.0.0.1:{free_port()}"], check=True, capture_output=True, timeout=60)
    os.chmod(closed_parent, 0o700)  # closed after setup, as a careless chmod would
    r = subprocess.run([POSTERN, "-D", inst, "run"], capture_output=True, text=True,
                       timeout=60 * SLOW)
    assert r.returncode != 0
    assert f"user postern cannot reach {inst}: {closed_parent} (mode 0700" in r.stderr, r.stderr
    assert f"chmod o+x {closed_parent}" in r.stderr


def test_empty_results_say_so_on_a_terminal_only(instances):
    a = instances("a")
    status, shown = on_terminal("-D", a.dir, "Get-Message")
    assert status == 0 and shown.strip() == "No messages.", shown
    status, shown = on_terminal("-D", a.dir, "Get-Mailbox")
    assert status == 0 and shown.strip() == "No mailboxes.", shown
    status, shown = on_terminal("-D", a.dir, "Get-MtaStsPolicy")
    assert status == 0 and shown.strip() == "No mta sts policies.", shown
    # a script reading the output gets none
    assert a.cmdlet("Get-Message").stdout == ""
    # and a Get- that finds something prints it, not the note
    status, shown = on_terminal("-D", a.dir, "Get-ReceiveConnector")
    assert status == 0 and "No " not in shown and "Default mail" in shown


def test_long_pipeline_shows_progress_then_clears_it(instances):
    """Get-Message | Remove-Message on 120 queued messages: a progress line
    on the terminal, erased at the end; every message removed."""
    a = instances("a")
    a.cmdlet("New-AcceptedDomain", "-Name", "a.test", "-DomainName", "a.test", "-LmtpServer",
             "127.0.0.1:1")
    a.cmdlet("New-Mailbox", "-Name", "alice", "-PrimarySmtpAddress", "alice@a.test")
    a.start()
    with smtplib.SMTP(a.host, a.port, timeout=30) as c:
        for i in range(120):
            c.sendmail("bob@example.org", ["alice@a.test"], f"Subject: {i}\r\n\r\nx\r\n")
    wait_for(lambda: len(a.get("Get-Message")) == 120, timeout=30, what="120 queued messages")
    status, shown = on_terminal("-D", a.dir, "Get-Message | Remove-Message -WithNDR $false -Confirm:$false",
                                timeout=120)
    assert status == 0, shown
    assert re.search(r"(^|\r\x1b\[K)Remove-Message: \d+ of 120 \(\d+%\)", shown), shown
    assert shown.endswith("\r\x1b[K"), repr(shown[-40:])
    wait_for(lambda: a.cmdlet("Get-Message").stdout == "", timeout=30, what="an empty queue")


def test_version_matches_the_build():
    r = subprocess.run([POSTERN, "--version"], capture_output=True, text=True, check=True)
    meson = open(os.path.join(ROOT, "meson.build")).read()
    version = re.search(r"version\s*:\s*'([^']+)'", meson).group(1)
    assert r.stdout == f"postern {version}\n"


@pytest.mark.parametrize("sub,words", [
    ("setup", "--fqdn NAME"), ("run", "--daemon"), ("check", "ExecStartPre"),
    ("reload", "reread postern.conf"), ("shell", "-ErrorAction"), ("console", "ConsoleBindings")])
def test_help_per_subcommand(sub, words):
    for flag in ("-h", "--help"):
        r = subprocess.run([POSTERN, sub, flag], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"usage: postern [-D DIR] {sub}"), r.stdout
        assert words in r.stdout


def test_help_of_a_cmdlet(instances):
    a = instances("a")
    r = a.cmdlet("Get-Queue", "-h")
    assert "NAME\n    Get-Queue" in r.stdout and "SYNTAX" in r.stdout
    r = a.cmdlet("Set-TransportConfig", "-?")
    assert "-LogLevel" in r.stdout


def test_setup_takes_an_empty_closed_directory_and_sees_through_links(closed_parent):
    """An empty DIR of mode 0700 (root's) is handed to the service user, as
    before; a parent reached through a symbolic link is checked as the
    processes will use it, link and all."""
    os.chmod(closed_parent, 0o755)
    empty = os.path.join(closed_parent, "empty")
    os.mkdir(empty, 0o700)
    r = subprocess.run([POSTERN, "-D", empty, "setup", "--fqdn", "mail.e.test"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    private = os.path.join(closed_parent, "private")
    os.mkdir(private, 0o700)
    public = os.path.join(closed_parent, "public")
    os.mkdir(public, 0o755)
    os.symlink(public, os.path.join(private, "link"))
    inst = os.path.join(private, "link", "inst")
    r = subprocess.run([POSTERN, "-D", inst, "setup", "--fqdn", "mail.l.test"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert f"{private} (mode 0700, owner uid 0) is not searchable" in r.stderr, r.stderr
