"""Root and the service user: the privilege drop, and nothing the service user
plants in the instance (which it owns) can make root write, chown or read a
file outside it.

Run as root only (the drop needs it), with the `postern` service user that
`make deps` creates. The "attacks" are done here as root on the service
user's behalf: each planted link is what that user could create, since it
owns every directory involved.
"""
import os
import pwd
import signal
import subprocess

import pytest

from conftest import POSTERN, SLOW, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="privilege tests need root")


def service_user():
    return pwd.getpwnam("postern")


def owned_instance(instances):
    """An instance the service has run once, so the tree belongs to postern."""
    inst = instances("a")
    inst.start()
    assert inst.stop() == 0
    assert os.stat(inst.dir).st_uid == service_user().pw_uid
    return inst


def plant(link, target):
    """A symbolic link made as the service user would make it."""
    if os.path.lexists(link):
        if os.path.isdir(link) and not os.path.islink(link):
            subprocess.run(["rm", "-rf", link], check=True)
        else:
            os.unlink(link)
    os.symlink(target, link)
    os.lchown(link, service_user().pw_uid, service_user().pw_gid)


def victim(workdir, name="victim", content=b"root's file\n"):
    path = os.path.join(workdir, name)
    with open(path, "wb") as f:
        f.write(content)
    os.chmod(path, 0o644)
    return path


def daemon_pid(inst):
    with open(os.path.join(inst.dir, "run", "postern.pid")) as f:
        return int(f.read())


def proc_ids(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return [int(x) for x in line.split()[1:]]
    raise AssertionError(field)


def run_daemon(inst):
    return subprocess.run([POSTERN, "-D", inst.dir, "run", "--daemon"], capture_output=True,
                          text=True, timeout=30 * SLOW)


def stop_daemon(pid):
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), timeout=20, what="the daemon to stop")


def child_pids(pid):
    """{name: pid} of the processes whose parent is pid."""
    found = {}
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{p}/status") as f:
                status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
        except OSError:
            continue
        if int(status.get("PPid", 0)) == pid:
            found[status["Name"]] = int(p)
    return found


def test_only_the_daemon_stays_root_and_all_log_as_the_service_user(instances):
    """The daemon (which reads nothing from the network) keeps root to bind
    and supervise; its three processes run as the service user; the log file
    all of them write is the service user's."""
    inst = owned_instance(instances)
    r = run_daemon(inst)
    assert r.returncode == 0, r.stderr
    pid = daemon_pid(inst)
    try:
        uid = service_user().pw_uid
        assert proc_ids(pid, "Uid") == [0] * 4
        kids = child_pids(pid)
        assert sorted(kids) == ["postern-keys", "postern-queue", "postern-smtp"], kids
        for name, child in kids.items():
            assert proc_ids(child, "Uid") == [uid] * 4, name  # real, effective, saved, fs
            assert proc_ids(child, "Gid")[:3] == [service_user().pw_gid] * 3, name
        log = os.path.join(inst.dir, "logs", "postern.log")
        wait_for(lambda: os.path.exists(log) and b"postern ready" in open(log, "rb").read(),
                 what="the daemon's log")
        assert os.stat(log).st_uid == uid
        # the children's lines are in it too
        assert b"smtp process: no file access" in open(log, "rb").read()
        # only the service user (the keys process) can read the keys
        keys = [os.path.join(inst.dir, "certs", n) for n in os.listdir(os.path.join(
            inst.dir, "certs")) if n.endswith(".key")]
        assert keys and all(os.stat(k).st_uid == uid and os.stat(k).st_mode & 0o077 == 0
                            for k in keys)
    finally:
        stop_daemon(pid)


def test_planted_daemon_log_link_is_not_followed(instances, workdir):
    """The review's finding: root opened logs/postern.log, following a link
    the service user planted, and appended client-chosen text to any file."""
    inst = owned_instance(instances)
    target = victim(workdir)
    plant(os.path.join(inst.dir, "logs", "postern.log"), target)
    r = run_daemon(inst)
    assert r.returncode != 0, "started with its log redirected into a root file"
    assert "postern.log" in r.stderr, r.stderr
    assert open(target, "rb").read() == b"root's file\n"
    # a planted logs directory link is no better
    os.unlink(os.path.join(inst.dir, "logs", "postern.log"))
    elsewhere = os.path.join(workdir, "rootdir")
    os.mkdir(elsewhere, 0o700)
    plant(os.path.join(inst.dir, "logs"), elsewhere)
    r = run_daemon(inst)
    if r.returncode == 0:
        stop_daemon(daemon_pid(inst))
    assert os.listdir(elsewhere) == [], "root wrote into a directory the link pointed at"


def test_start_does_not_chown_through_links(instances, workdir):
    inst = owned_instance(instances)
    target = victim(workdir)
    outside = os.path.join(workdir, "outside")
    os.mkdir(outside)
    inside_outside = victim(outside, "inner")
    plant(os.path.join(inst.dir, "queue", "evil-file"), target)
    plant(os.path.join(inst.dir, "queue", "evil-dir"), outside)
    inst.start()
    inst.stop()
    for path in (target, outside, inside_outside):
        assert os.stat(path).st_uid == 0, f"{path} was given to the service user"


def test_root_cmdlets_work_with_the_owners_rights(instances, workdir):
    """Cmdlets run as root on an instance the service user owns act with that
    user's rights: what they create belongs to it, and a planted certs/ link
    into a root-only directory leads nowhere."""
    inst = owned_instance(instances)
    uid = service_user().pw_uid
    inst.cmdlet("New-AcceptedDomain", "-Name", "x.test", "-DomainName", "x.test")
    assert os.stat(os.path.join(inst.dir, "postern.conf")).st_uid == uid
    inst.cmdlet("New-ExchangeCertificate", "-SubjectName", "CN=second.a.test", "-DomainName",
                "second.a.test")
    certs = os.path.join(inst.dir, "certs")
    assert all(os.stat(os.path.join(certs, n)).st_uid == uid for n in os.listdir(certs)
               if not os.path.isdir(os.path.join(certs, n)))
    # a file the administrator names is still read with root's rights
    private = os.path.join(workdir, "root-only")
    os.mkdir(private, 0o700)
    ca_key, ca_cert = os.path.join(private, "ca.key"), os.path.join(private, "ca.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key,
                    "-out", ca_cert, "-days", "2", "-subj", "/CN=Test Root"], check=True,
                   capture_output=True)
    os.chmod(ca_cert, 0o600)
    r = inst.cmdlet("Import-Certificate", "-FilePath", ca_cert, "-CertStoreLocation",
                    "Cert:\\LocalMachine\\Root")
    assert "Test Root" in r.stdout
    # the planted link
    rootdir = os.path.join(workdir, "rootdir")
    os.mkdir(rootdir, 0o700)
    plant(certs, rootdir)
    r = inst.cmdlet("New-ExchangeCertificate", "-SubjectName", "CN=third.a.test", "-DomainName",
                    "third.a.test", check=False)
    assert r.returncode != 0
    assert os.listdir(rootdir) == []
