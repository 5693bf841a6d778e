"""A private Exim for the interop tests: Debian's exim4 binary, unpacked by
tests/e2e/fetch_exim.sh (`make deps`) rather than installed (the exim4
packages conflict with postfix), run unprivileged with a configuration file
of its own (-C): own spool, log files, pid file and Maildirs under the test's
directory, a listener on a private loopback port.

    with Exim(base, port, postern_port=..., tls=True, ...) as exim:
        exim.mailbox("user")      # messages in its Maildir for user@exim.test
        exim.mainlog()            # text of its main log

It accepts mail for exim.test into Maildirs, relays mail from 127.0.0.1 for
a.test to postern on 127.0.0.1:postern_port, and retries every few seconds.

Must never: use the system's Exim configuration, spool or logs, run Exim as
root, listen anywhere but 127.0.0.1, or stop a process it did not start.
"""
import glob
import grp
import os
import pwd
import shutil
import subprocess

from conftest import wait_for
from peers import ProcessPeer, connect_refused

EXIM_DIR = os.environ.get("POSTERN_EXIM_DIR", "/var/cache/postern-tests/exim4")
EXIM = os.path.join(EXIM_DIR, "root", "usr", "sbin", "exim4")
# The Debian binary looks this user up before it reads any configuration;
# fetch_exim.sh creates it, as the package would.
EXIM_USER = "Debian-exim"

# Lines that mean a TLS session was not closed or run as it should have
# been (GnuTLS and Exim wording).
TLS_COMPLAINTS = ("TLS error", "non-properly terminated", "unexpected", "TLS session",
                  "gnutls", "handshake failed", "SSL_")

_CONF = """\
# A private test Exim (tests/e2e/exim_peer.py); never the system's.
exim_path = {exim}
primary_hostname = mx.exim.test
qualify_domain = exim.test
exim_user = {user}
exim_group = {group}
never_users = root
spool_directory = {dir}/spool
log_file_path = {dir}/log/%slog
pid_file_path = {dir}/exim.pid
daemon_smtp_ports = {port}
local_interfaces = <; 127.0.0.1
keep_environment =
host_lookup =
rfc1413_hosts =
deliver_drop_privilege = true
log_selector = +tls_peerdn +tls_certificate_verified +smtp_protocol_error \\
  +smtp_syntax_error +smtp_connection +incoming_port +outgoing_port +received_recipients

domainlist local_domains = exim.test
domainlist postern_domains = a.test
hostlist relay_from_hosts = <; 127.0.0.1
acl_smtp_rcpt = acl_check_rcpt

# TLS as a server: STARTTLS {server_tls}.
tls_advertise_hosts = {advertise}
tls_certificate = {cert}
tls_privatekey = {key}
tls_verify_certificates = {ca}
{verify_clients}

begin acl

acl_check_rcpt:
  accept domains = +local_domains
  accept hosts = +relay_from_hosts
         domains = +postern_domains
  deny   message = relay not permitted

begin routers

to_postern:
  driver = manualroute
  domains = +postern_domains
  route_list = * 127.0.0.1
  self = send
  transport = to_postern

local_user:
  driver = accept
  domains = +local_domains
  # a listed local part is untainted ($local_part_data), so it may name a directory
  local_parts = user : bob
  transport = maildir

begin transports

to_postern:
  driver = smtp
  port = {postern_port}
  allow_localhost = true
  tls_verify_certificates = {ca}
  # postern is reached by address: its certificate names a host name
  tls_verify_cert_hostnames =
{client_tls}

maildir:
  driver = appendfile
  directory = {dir}/mail/$local_part_data
  maildir_format
  create_directory
  envelope_to_add
  return_path_add
  user = {user}
  mode = 0600

begin retry

*  *  F,10m,2s
"""


class Exim(ProcessPeer):
    """Exim on 127.0.0.1:port (see the module docstring).

    tls: offer STARTTLS with server_cert (a pki.Leaf); require_client_cert:
    refuse clients without a certificate from the test CA (ca, a file).
    to_postern: "plain" (never STARTTLS), "tls" (STARTTLS required) or
    "mutual" (STARTTLS required, client_cert presented, postern's
    certificate verified against ca).
    """

    def __init__(self, base, port, postern_port=1, tls=False, server_cert=None, ca=None,
                 require_client_cert=False, to_postern="plain", client_cert=None):
        self.dir = os.path.join(base, "exim")
        self.port = port
        self.postern_port = postern_port
        self.tls = tls
        self.server_cert = server_cert
        self.ca = ca
        self.require_client_cert = require_client_cert
        self.to_postern = to_postern
        self.client_cert = client_cert
        # Run as Debian-exim when we may switch users, else as ourselves.
        self.pw = pwd.getpwnam(EXIM_USER) if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())

    @staticmethod
    def available():
        """None when the unpacked Exim can run, else why not."""
        if not os.access(EXIM, os.X_OK):
            return f"no Exim at {EXIM}: run `make deps` (tests/e2e/fetch_exim.sh)"
        try:
            pwd.getpwnam(EXIM_USER)
        except KeyError:
            return f"no user {EXIM_USER}: run `make deps` (tests/e2e/fetch_exim.sh)"
        r = subprocess.run([EXIM, "-C", "/dev/null", "-bV"], capture_output=True, text=True,
                           timeout=30)
        if r.returncode != 0:
            return f"{EXIM} does not run: {r.stdout}{r.stderr}"
        return None

    def _own(self, path):
        os.chown(path, self.pw.pw_uid, self.pw.pw_gid)

    def _copy(self, src, name):
        """A copy of src in our directory that only the Exim user reads."""
        dst = os.path.join(self.dir, name)
        shutil.copyfile(src, dst)
        os.chmod(dst, 0o600)
        self._own(dst)
        return dst

    def write_config(self):
        for d in ("", "spool", "log", "mail", "tls"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
            os.chmod(os.path.join(self.dir, d), 0o750 if d else 0o755)
            self._own(os.path.join(self.dir, d))
        cert = key = ca = ""
        if self.server_cert is not None:
            cert = self._copy(self.server_cert.cert, "tls/server.pem")
            key = self._copy(self.server_cert.key, "tls/server.key")
        if self.ca is not None:
            ca = self._copy(self.ca, "tls/ca.pem")
        if self.require_client_cert:
            verify_clients = "tls_verify_hosts = *"
        else:
            verify_clients = "tls_try_verify_hosts = *" if ca else ""
        client = []
        if self.to_postern == "plain":
            client.append("  hosts_avoid_tls = *")
        else:
            client.append("  hosts_require_tls = *")
        if self.to_postern == "mutual":
            client.append("  tls_certificate = " +
                          self._copy(self.client_cert.cert, "tls/client.pem"))
            client.append("  tls_privatekey = " +
                          self._copy(self.client_cert.key, "tls/client.key"))
            client.append("  tls_verify_hosts = *")
        conf = _CONF.format(
            exim=EXIM, user=self.pw.pw_name, group=grp.getgrgid(self.pw.pw_gid).gr_name,
            dir=self.dir, port=self.port,
            postern_port=self.postern_port, server_tls="offered" if self.tls else "not offered",
            advertise="*" if self.tls else "", cert=cert, key=key, ca=ca,
            verify_clients=verify_clients, client_tls="\n".join(client))
        self.conf = os.path.join(self.dir, "exim.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        os.chmod(self.conf, 0o644)
        r = subprocess.run([EXIM, "-C", self.conf, "-bV"], capture_output=True, text=True,
                           timeout=30, **self._as_user())
        assert r.returncode == 0, f"exim -bV refused the configuration:\n{r.stdout}{r.stderr}"

    def _as_user(self):
        if os.geteuid() != 0:
            return {}
        return {"user": self.pw.pw_uid, "group": self.pw.pw_gid, "extra_groups": []}

    def start(self):
        self.write_config()
        self.out = open(os.path.join(self.dir, "exim.stderr"), "wb")
        # -bdf: the listening daemon in the foreground (we stop it by PID);
        # -q2s: a queue runner, so that deferred mail is retried.
        self.proc = subprocess.Popen([EXIM, "-C", self.conf, "-bdf", "-q2s"], stdout=self.out,
                                     stderr=subprocess.STDOUT, cwd=self.dir, **self._as_user())
        wait_for(lambda: self.proc.poll() is not None or not connect_refused("127.0.0.1",
                                                                            self.port),
                 what="exim to listen")
        assert self.proc.poll() is None, f"exim exited:\n{self.stderr()}{self.mainlog()}"
        return self

    # -- what it did ------------------------------------------------------
    def _read(self, path):
        try:
            with open(path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def mainlog(self):
        return self._read(os.path.join(self.dir, "log", "mainlog"))

    def paniclog(self):
        return self._read(os.path.join(self.dir, "log", "paniclog"))

    def stderr(self):
        return self._read(os.path.join(self.dir, "exim.stderr"))

    def tls_complaints(self):
        """Main and panic log lines that complain about TLS."""
        lines = (self.mainlog() + self.paniclog()).splitlines()
        return [l for l in lines if any(c.lower() in l.lower() for c in TLS_COMPLAINTS)]

    def mailbox(self, user):
        """Messages (bytes) in the Maildir of user@exim.test."""
        out = []
        for sub in ("new", "cur"):
            for p in sorted(glob.glob(os.path.join(self.dir, "mail", user, sub, "*"))):
                with open(p, "rb") as f:
                    out.append(f.read())
        return out

    def wait_mail(self, user, count=1, timeout=20):
        try:
            return wait_for(lambda: len(self.mailbox(user)) >= count and self.mailbox(user),
                            timeout=timeout)
        except AssertionError:
            raise AssertionError(f"no {count} message(s) for {user}@exim.test in Exim's "
                                 f"Maildir; mainlog:\n{self.mainlog()}") from None
