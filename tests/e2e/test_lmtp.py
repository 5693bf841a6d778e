"""Local delivery over LMTP (RFC 2033) to Dovecot, as Postfix hands mail to Dovecot:
a domain or a single mailbox names an LmtpServer, over TCP or a Unix socket."""
import glob
import os
import shutil
import signal
import subprocess
import tempfile

import pytest

from conftest import free_port, message, wait_for

DOVECOT = "/usr/sbin/dovecot"


class Dovecot:
    """A private Dovecot that only speaks LMTP and stores Maildirs in its own dir."""

    def __init__(self, port):
        self.dir = tempfile.mkdtemp(prefix="postern-dovecot-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.port = port
        self.socket = os.path.join(self.dir, "run", "lmtp")
        self.conf = os.path.join(self.dir, "dovecot.conf")
        for sub in ("run", "state", "mail"):
            os.makedirs(os.path.join(self.dir, sub))
        with open(self.conf, "w") as f:
            f.write(f"""protocols = lmtp
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.dir}/dovecot.log
ssl = no
default_login_user = postern
default_internal_user = postern
default_internal_group = postern
mail_location = maildir:{self.dir}/mail/%u
passdb {{
  driver = static
  args = nopassword=y
}}
userdb {{
  driver = static
  args = uid=postern gid=postern home={self.dir}/mail/%u
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {port}
  }}
  unix_listener lmtp {{
    mode = 0666
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
}}
""")
        subprocess.run(["chown", "-R", "postern:", self.dir], check=True)
        subprocess.run([DOVECOT, "-c", self.conf], check=True)
        wait_for(lambda: os.path.exists(self.socket), what="dovecot to start")

    def stop(self):
        subprocess.run([DOVECOT, "-c", self.conf, "stop"], capture_output=True)
        pidfile = os.path.join(self.dir, "run", "master.pid")
        if os.path.exists(pidfile):
            try:
                os.kill(int(open(pidfile).read()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def mailbox(self, user):
        return sorted(glob.glob(os.path.join(self.dir, "mail", user, "new", "*")))


@pytest.fixture
def dovecot():
    if not os.path.exists(DOVECOT):
        pytest.skip("dovecot-lmtpd is not installed (make test installs it)")
    d = Dovecot(free_port())
    yield d
    d.stop()


def lmtp_instance(instances, dovecot, domain_server=None, mailbox_server=None):
    inst = instances("a")
    args = ["New-AcceptedDomain", "-DomainName", "lmtp.test"]
    if domain_server:
        args += ["-LmtpServer", domain_server]
    inst.cmdlet(*args)
    for user in ("carol", "dave"):
        args = ["New-Mailbox", "-Name", user, "-PrimarySmtpAddress", f"{user}@lmtp.test",
                "-Password", "Pw-12345678"]
        if mailbox_server and user == "dave":
            args += ["-LmtpServer", mailbox_server]
        inst.cmdlet(*args)
    inst.start()
    return inst


def send(inst, rcpts, subject):
    with inst.smtp() as c:
        c.sendmail("sender@example.org", rcpts, message(subject=subject, to=rcpts[0]))


def test_domain_delivered_to_dovecot_over_tcp(instances, dovecot):
    inst = lmtp_instance(instances, dovecot, domain_server=f"127.0.0.1:{dovecot.port}")
    send(inst, ["carol@lmtp.test", "dave@lmtp.test"], "to dovecot")
    wait_for(lambda: dovecot.mailbox("carol@lmtp.test") and dovecot.mailbox("dave@lmtp.test"),
             what="both mailboxes in dovecot")
    with open(dovecot.mailbox("carol@lmtp.test")[0], "rb") as f:
        stored = f.read()
    assert b"Subject: to dovecot" in stored
    assert b"by mail.a.test (postern)" in stored
    wait_for(lambda: inst.queued_ids() == [], what="the queue to empty")
    # nothing went to postern's own Maildir store
    assert not glob.glob(os.path.join(inst.dir, "mail", "*", "new", "*"))


def test_one_mailbox_over_a_unix_socket(instances, dovecot):
    inst = lmtp_instance(instances, dovecot, mailbox_server=dovecot.socket)
    send(inst, ["carol@lmtp.test", "dave@lmtp.test"], "mixed")
    # dave's mailbox names the LMTP server; carol stays in postern's Maildir
    wait_for(lambda: dovecot.mailbox("dave@lmtp.test"), what="dave in dovecot")
    wait_for(lambda: glob.glob(os.path.join(inst.dir, "mail", "carol@lmtp.test", "new", "*")),
             what="carol in postern's Maildir")
    assert dovecot.mailbox("carol@lmtp.test") == []


def test_lmtp_server_down_defers_then_delivers(instances, dovecot):
    port = free_port()
    inst = lmtp_instance(instances, dovecot, domain_server=f"127.0.0.1:{port}")
    inst.cmdlet("Set-TransportConfig", "-QueueGlitchRetryInterval", "00:00:01")
    send(inst, ["carol@lmtp.test"], "later")
    wait_for(lambda: any(q.get("Status") == "Retry" and "refused" in q.get("LastError", "")
                         for q in inst.get("Get-Queue")), what="the LMTP queue in Retry")
    # the mailbox server comes back (the domain now points at the running dovecot)
    inst.cmdlet("Set-AcceptedDomain", "lmtp.test", "-LmtpServer", f"127.0.0.1:{dovecot.port}")
    wait_for(lambda: dovecot.mailbox("carol@lmtp.test"), timeout=20, what="delivery after retry")
    wait_for(lambda: inst.queued_ids() == [], what="the queue to empty")
