"""The Debian package, installed and run under a real systemd: `make deb`'s .deb (lintian
clean, or make deb fails) goes into a Debian 12 container booted with systemd-nspawn (this
machine's PID 1 is not systemd), where apt installs it, systemd starts the unit (Type=notify,
the hardening of debian/postern.service, with the smtp process still in its Landlock
sandbox), swaks sends mail to 127.0.0.1:25 (STARTTLS, AUTH), journalctl QUEUE_ID= finds it,
and reload, a crash (Restart=on-failure), stop, logrotate, remove (the instance stays), a
reinstallation (nothing overwritten) and purge (the instance goes, and apt says so) are
each checked, with systemd-analyze verify and security on the unit.

The container's tree (debootstrap, then the package's dependencies) is cached in
$POSTERN_NSPAWN_CACHE (default build-nspawn/ in the repository) and never changed by a run:
the container boots with --volatile=overlay (its changes live in memory) and
--private-network (its loopback only). POSTERN_DEB=path tests that .deb instead of running
`make deb`. Needs root, systemd-nspawn (systemd-container) and debootstrap; skips otherwise,
saying why.
Must never: install anything on the host itself, or leave the container running.
"""
import ctypes
import glob
import os
import re
import shutil
import signal
import subprocess
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CACHE = os.environ.get("POSTERN_NSPAWN_CACHE", os.path.join(ROOT, "build-nspawn"))
BASE = os.path.join(CACHE, "bookworm")
UNIT = os.path.join(ROOT, "debian", "postern.service")
INSTANCE = "/var/lib/postern"
FQDN = "mail.example.test"
# the init debootstrap adds; then apt (which, unlike debootstrap, resolves virtual
# packages) adds what the tests use and the package's own dependencies
BOOT = ["systemd", "systemd-sysv", "dbus"]
EXTRA = ["swaks", "libnet-ssleay-perl", "ca-certificates", "man-db", "logrotate"]
# systemd-analyze security's score of the unit may not get worse than this
MAX_EXPOSURE = 3.0


def run(cmd, timeout=600, check=True, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def mirror():
    """The Debian mirror apt is configured with (deb822 or one-line sources)."""
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")) + ["/etc/apt/sources.list"]:
        try:
            text = open(path).read()
        except OSError:
            continue
        m = re.search(r"^URIs:\s*(\S+/debian)/?\s*$", text, re.M) or \
            re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s+bookworm\b", text, re.M)
        if m:
            return m.group(1)
    return "http://deb.debian.org/debian"


def version():
    with open(os.path.join(ROOT, "debian", "changelog")) as f:
        return re.match(r"postern \(([^)]+)\)", f.readline()).group(1)


def build_deb():
    deb = os.environ.get("POSTERN_DEB")
    if deb:
        return os.path.abspath(deb)
    env = {**os.environ, "DEB_BUILD_OPTIONS": "nocheck"}  # `make test` runs the unit tests
    run(["make", "-C", ROOT, "deb"], timeout=1200, env=env)
    debs = glob.glob(os.path.join(ROOT, f"postern_{version()}_*.deb"))
    assert len(debs) == 1, debs
    return debs[0]


def depends(deb):
    """The package's dependencies (the first of each alternative)."""
    text = run(["dpkg-deb", "-f", deb, "Depends"]).stdout
    return [re.split(r"[\s(]", alt.split("|")[0].strip())[0] for alt in text.split(",")]


def base_tree(deb):
    """The cached Debian 12 tree with what the package and the test need."""
    if not os.path.exists(os.path.join(BASE, ".complete")):
        tmp = BASE + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(CACHE, exist_ok=True)
        run(["debootstrap", "--variant=minbase", "--include=" + ",".join(BOOT), "bookworm", tmp,
             mirror()], timeout=1200)
        shutil.rmtree(BASE, ignore_errors=True)
        os.rename(tmp, BASE)
        open(os.path.join(BASE, ".complete"), "w").close()
    # debootstrap copied the host's name; setup names the instance after this one
    with open(os.path.join(BASE, "etc", "hostname"), "w") as f:
        f.write(FQDN + "\n")
    admindir = os.path.join(BASE, "var", "lib", "dpkg")
    missing = [p for p in depends(deb) + EXTRA
               if "install ok installed" not in run(["dpkg-query", "--admindir", admindir, "-W",
                                                     "-f", "${Status}", p], check=False).stdout]
    if missing:  # with the host's network, once: the runs themselves have none
        nspawn = ["systemd-nspawn", "-q", "-D", BASE, "--register=no", "--keep-unit",
                  "--setenv=DEBIAN_FRONTEND=noninteractive"]
        run(nspawn + ["apt-get", "update", "-q"], timeout=600)
        run(nspawn + ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
            timeout=1200)
        run(nspawn + ["apt-get", "clean"])
    return BASE


class Container:
    """A booted systemd in the cached tree; commands run inside with nsenter."""

    def __init__(self, tree, deb):
        self.log_path = os.path.join(CACHE, "boot.log")
        self.log = open(self.log_path, "w")
        # only the package is shared with the container, read-only
        pkg = os.path.join(CACHE, "pkg")
        shutil.rmtree(pkg, ignore_errors=True)
        os.makedirs(pkg)
        shutil.copy(deb, pkg)
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "-q", "-D", tree, "--boot", "--volatile=overlay",
             "--private-network", "--register=no", "--keep-unit", "--hostname=" + FQDN,
             "--console=passive", f"--bind-ro={pkg}:/mnt/pkg",
             # nspawn's own seccomp list (systemd 252) predates Landlock: without these the
             # unit's SystemCallFilter could not be seen to let the smtp process use it
             "--system-call-filter=landlock_create_ruleset landlock_add_rule "
             "landlock_restrict_self"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self.wait_booted()
        except BaseException:
            self.stop()
            raise

    def wait_booted(self):
        self.leader = None
        deadline = time.monotonic() + 60
        while self.leader is None and time.monotonic() < deadline:
            assert self.proc.poll() is None, self.boot_log()
            self.leader = self.init_pid()
            time.sleep(0.05)
        assert self.leader, "the container's init did not start:\n" + self.boot_log()
        # until its bus socket exists, systemctl cannot even ask
        while True:
            state = self.sh("systemctl is-system-running --wait", check=False, timeout=120)
            if state.stdout.strip() or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert state.stdout.strip() in ("running", "degraded"), \
            f"{state.stdout}\n{self.sh('systemctl --failed --no-pager', check=False).stdout}"

    def init_pid(self):
        for task in glob.glob(f"/proc/{self.proc.pid}/task/*/children"):
            for pid in open(task).read().split():
                try:
                    if open(f"/proc/{pid}/comm").read().strip() == "systemd":
                        return int(pid)
                except OSError:
                    pass
        return None

    def boot_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-4000:]

    def sh(self, script, check=True, timeout=120):
        env = ["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
               "DEBIAN_FRONTEND=noninteractive", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"]
        return run(["nsenter", "-t", str(self.leader), "-a", *env, "sh", "-c", script],
                   timeout=timeout, check=check)

    def unit(self, *names):
        """The unit's properties (systemctl show), as a dict."""
        out = self.sh(f"systemctl show -p {','.join(names)} postern").stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # nspawn powers the container off
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        self.log.close()


@pytest.fixture(scope="module")
def deb():
    if os.geteuid() != 0:
        pytest.skip("installs a package and boots a container: needs root")
    for tool in ("systemd-nspawn", "debootstrap", "dpkg-deb"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is missing (make test-package installs systemd-container, "
                        "debootstrap and dpkg-dev)")
    return build_deb()


@pytest.fixture(scope="module")
def box(deb):
    c = Container(base_tree(deb), deb)
    try:
        yield c
    finally:
        c.stop()


def host_has_landlock():
    """Does this kernel offer Landlock (landlock_create_ruleset's ABI version query)?"""
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.syscall(444, None, 0, 1) > 0  # x86_64 and arm64 share the number


def exposure(text):
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", text)
    assert m, text
    return float(m.group(1))


def test_unit_security_offline():
    """systemd-analyze security on the unit file as shipped."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is missing")
    r = run(["systemd-analyze", "security", "--offline=true", "--no-pager", UNIT], check=False)
    score = exposure(r.stdout + r.stderr)
    print(f"systemd-analyze security: {score}")
    assert score <= MAX_EXPOSURE, r.stdout


def test_version_agrees(deb):
    """debian/changelog, meson.build and the package say the same version."""
    meson = re.search(r"version\s*:\s*'([^']+)'", open(os.path.join(ROOT, "meson.build")).read())
    assert meson.group(1) == version()
    assert run(["dpkg-deb", "-f", deb, "Version"]).stdout.strip() == version()


def test_install_run_remove_purge(box, deb):
    name = os.path.basename(deb)
    r = box.sh(f"apt-get install -y -q /mnt/pkg/{name}", timeout=300)
    out = r.stdout + r.stderr
    assert f"Instance created in {INSTANCE}" in out, out

    # what the package put in place, with the modes and owners it promises
    box.sh("test -x /usr/sbin/postern && test -f /usr/share/man/man8/postern.8.gz && "
           "test -f /usr/share/man/man5/postern.conf.5.gz && "
           "test -f /lib/systemd/system/postern.service && test -f /etc/logrotate.d/postern")
    assert box.sh("postern --version").stdout.strip() == f"postern {version()}"
    user = box.sh("getent passwd postern").stdout.strip().split(":")
    assert user[5] == "/nonexistent" and user[6] == "/usr/sbin/nologin", user
    modes = box.sh(f"stat -c '%U %a %n' {INSTANCE} {INSTANCE}/postern.conf "
                   f"{INSTANCE}/certs/*.key").stdout.splitlines()
    assert modes[0] == f"postern 755 {INSTANCE}", modes
    assert modes[1] == f"postern 600 {INSTANCE}/postern.conf", modes
    assert len(modes) > 2 and all(m.startswith("postern 600 ") for m in modes[2:]), modes

    # systemd started it at installation (Type=notify: started means accepting)
    assert box.sh("systemctl is-active postern", check=False).stdout.strip() == "active", \
        box.sh("systemctl status postern --no-pager; journalctl -u postern --no-pager",
               check=False).stdout
    box.sh("systemctl is-enabled postern")
    verify = box.sh("systemd-analyze verify /lib/systemd/system/postern.service 2>&1",
                    check=False).stdout
    assert verify.strip() == "", verify  # also: man finds postern(8) and postern.conf(5)
    online = exposure(box.sh("systemd-analyze security --no-pager postern.service").stdout)
    print(f"systemd-analyze security (loaded unit): {online}")
    assert online <= MAX_EXPOSURE
    journal = box.sh("journalctl -u postern --no-pager").stdout
    assert "postern ready" in journal, journal
    # the hardening left the smtp process its sandbox: Landlock where the kernel has it
    # (the unit allows its calls), else the chroot fallback (RuntimeDirectory, SYS_CHROOT)
    sandbox = "landlock abi" if host_has_landlock() else "chroot"
    assert f"smtp process: no file access ({sandbox}" in journal, journal
    assert f"Fqdn:        {FQDN}" in out and f"fqdn {FQDN}" in journal

    P = f"postern -D {INSTANCE}"
    box.sh(f"{P} New-AcceptedDomain -DomainName example.test")
    box.sh(f"echo Secret-12345 | {P} New-Mailbox -Name alice "
           "-PrimarySmtpAddress alice@example.test -Password -")

    def send(subject, auth=""):
        r = box.sh(f"swaks --server 127.0.0.1:25 -tls {auth} --from bob@example.org "
                   f"--to alice@example.test --header 'Subject: {subject}'", check=False)
        m = re.search(r"250 2\.6\.0 ([0-9A-F]{16}) ", r.stdout)
        assert r.returncode == 0 and m, r.stdout + r.stderr
        return m.group(1)

    def delivered():
        return box.sh(f"cat {INSTANCE}/mail/alice@example.test/new/* 2>/dev/null",
                      check=False).stdout

    # STARTTLS (the keys process signs) and AUTH (yescrypt) under the unit's hardening
    qid = send("first", auth="--auth PLAIN --auth-user alice --auth-password Secret-12345")
    # a message's whole life in the journal, by its structured field
    deadline = time.monotonic() + 10
    while "delivered" not in box.sh(f"journalctl --no-pager QUEUE_ID={qid}").stdout:
        assert time.monotonic() < deadline, box.sh("journalctl -u postern --no-pager").stdout
        time.sleep(0.2)
    assert "queued" in box.sh(f"journalctl --no-pager QUEUE_ID={qid}").stdout
    main_pid = box.unit("MainPID")["MainPID"]

    # reload: the same process, the new configuration in force (metrics on)
    box.sh("postern -D /var/lib/postern Set-TransportConfig -MetricsBindings 127.0.0.1:9125")
    box.sh("systemctl reload postern")
    assert box.unit("ActiveState", "SubState", "MainPID") == \
        {"ActiveState": "active", "SubState": "running", "MainPID": main_pid}
    assert "configuration reloaded" in box.sh("journalctl -u postern --no-pager").stdout
    send("after reload")
    # a scrape of /metrics under the unit's hardening (bash's /dev/tcp: no curl in the box)
    raw = box.sh(r"""bash -c 'exec 3<>/dev/tcp/127.0.0.1/9125; """
                 r"""printf "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" >&3; cat <&3'""").stdout
    head, _, body = raw.replace("\r\n", "\n").partition("\n\n")  # text mode may have kept CR
    assert head.startswith("HTTP/1.1 200"), head
    values = {(s.name, tuple(sorted(s.labels.items()))): s.value
              for f in text_string_to_metric_families(body) for s in f.samples}
    received = sum(v for (n, _), v in values.items() if n == "postern_messages_received_total")
    assert received >= 2, body  # "first" and "after reload" since the start

    # a crash: systemd starts it again (Restart=on-failure, RestartSec=2s)
    box.sh(f"kill -KILL {main_pid}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = box.unit("ActiveState", "MainPID")
        if state["ActiveState"] == "active" and state["MainPID"] not in ("0", main_pid):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"not restarted after a crash: {state}")
    send("after restart")

    # stop: a clean exit, nothing lost
    box.sh("systemctl stop postern")
    assert box.unit("ActiveState", "Result", "ExecMainStatus") == \
        {"ActiveState": "inactive", "Result": "success", "ExecMainStatus": "0"}
    for subject in ("first", "after reload", "after restart"):
        deadline = time.monotonic() + 10
        while f"Subject: {subject}\n" not in delivered().replace("\r\n", "\n"):
            assert time.monotonic() < deadline, f"message {subject!r} lost:\n{delivered()}"
            time.sleep(0.2)

    # the plain log file (`run --daemon` without syslog) rotates as the service user
    box.sh(f"runuser -u postern -- sh -c 'echo line >> {INSTANCE}/logs/postern.log' && "
           f"logrotate -f /etc/logrotate.d/postern && test -s {INSTANCE}/logs/postern.log.1 && "
           f"test ! -s {INSTANCE}/logs/postern.log")

    # remove: the instance (queue, mail, keys, configuration) stays
    r = box.sh("apt-get remove -y -q postern")
    assert f"postern: {INSTANCE} (queue, mail, logs, keys) is kept" in r.stdout, r.stdout
    box.sh(f"test ! -e /usr/sbin/postern && test -f {INSTANCE}/postern.conf")
    assert "Subject: first" in delivered()

    # installed again: nothing of the instance is overwritten, and it runs again
    r = box.sh(f"apt-get install -y -q /mnt/pkg/{name}", timeout=300)
    assert "Instance created" not in r.stdout + r.stderr, r.stdout
    assert box.sh("systemctl is-active postern", check=False).stdout.strip() == "active"
    assert "example.test" in box.sh(f"{P} Get-AcceptedDomain").stdout
    send("after reinstall")

    # purge: the instance goes, and apt's output says what went
    r = box.sh("apt-get purge -y -q postern")
    assert f"postern: removing {INSTANCE} (queue, mail, logs, keys)" in r.stdout, r.stdout
    box.sh(f"test ! -e {INSTANCE} && test ! -e /etc/logrotate.d/postern")
    assert box.sh("systemctl is-active postern", check=False).stdout.strip() != "active"
    # the system user stays (Debian's practice: files it owned may remain elsewhere)
    box.sh("getent passwd postern")
