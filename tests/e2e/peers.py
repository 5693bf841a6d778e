"""Real peers for the delivery tests, and helpers to read what postern did.

Peers (each a context manager that stops what it started, by PID):
  Unbound       unbound serving a static "test." zone on 127.0.0.1:<port>
  Postfix       a private Postfix instance (own config dir, spool, TLS
                certificate, virtual Maildirs), never the system one
  SmtpSink      Postfix's smtp-sink, dumping each message to a file
  ScriptedSMTP  a small threaded SMTP server whose replies a test scripts
                (451 first then 250, slow final reply, ...)

Bases for peers written elsewhere: ProcessPeer (a program started by PID and
stopped on leaving its block) and LoopbackServer (a listening socket on
loopback whose connections a subclass's serve() scripts).

Helpers read postern's Maildirs, message tracking and protocol logs, its
queues (Get-Queue / Get-Message) and parse RFC 3464 reports.
"""
import csv
import email
import email.policy
import glob
import io
import ipaddress
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

from conftest import SLOW, free_port, wait_for

UNBOUND = "/usr/sbin/unbound"
POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
SMTP_SINK = "/usr/sbin/smtp-sink"

# Short timers for retry tests (all accepted by Set-TransportConfig: >= 1 s).
FAST_TIMERS = {
    "QueueGlitchRetryInterval": "00:00:01",
    "TransientFailureRetryInterval": "00:00:01",
    "OutboundConnectionFailureRetryInterval": "00:00:01",
    "MessageRetryInterval": "00:00:01",
}


# How long a test watches for something that must NOT happen (a retry, a
# report): past the daemon's 1 s scheduler beat, a little longer under ASan.
# Such waits are not scaled by SLOW: they bound run time, not correctness.
def stop_process(proc, sig=signal.SIGTERM, timeout=10):
    """Stops a Popen we started, by its PID: sig, then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, sig)
        proc.wait(timeout=timeout * SLOW)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours still "exists": look at its state
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def connect_refused(host, port):
    """True when nothing listens on host:port (a precondition of some tests)."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return False
    except OSError:
        return True


class ProcessPeer:
    """A peer program a test starts: start() sets proc (a Popen) and out (the file
    its output goes to); stop() ends the process by its PID and closes the file. As a
    context manager it is started on entry and stopped on exit, also when start()
    fails half way. A program that stops another way overrides stop()."""

    proc = None
    out = None

    def start(self):
        raise NotImplementedError

    def stop(self):
        stop_process(self.proc)
        self.proc = None
        if self.out:
            self.out.close()
            self.out = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()


class LoopbackServer:
    """A listening TCP socket on loopback for the scripted servers tests write: an
    accept loop in a thread, each connection handed to serve(conn), which a subclass
    implements, in a thread of its own. port 0 takes a free port; self.port is the
    one bound once started. A serve() that ends with OSError or ValueError (the
    client left, or stop() closed the connection under a read) just ends.
    stop() (or leaving the with block) closes the listener and every connection
    still open, so that no serve() stays blocked, and joins the threads.
    Records: connections, how many were accepted.
    Must never: listen beyond loopback, or leave a thread or socket open after stop().
    """

    def __init__(self, host="127.0.0.1", port=0):
        assert ipaddress.ip_address(host).is_loopback, f"{host} is not a loopback address"
        self.host = host
        self.port = port
        self.lock = threading.Lock()
        self.connections = 0
        self.stopping = threading.Event()
        self._listener = None
        self._acceptor = None
        self._threads = []
        self._socks = []

    def serve(self, conn):
        raise NotImplementedError

    def track(self, sock):
        """Has stop() close sock too (a connection wrapped in TLS is a new socket)."""
        with self.lock:
            self._socks.append(sock)
        return sock

    def start(self):
        ls = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((self.host, self.port))
        ls.listen(50)
        ls.settimeout(0.2)  # how soon the accept loop sees stop()
        self.port = ls.getsockname()[1]
        self._listener = ls
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()
        return self

    def stop(self):
        self.stopping.set()
        if self._listener:
            self._listener.close()
        if self._acceptor:
            self._acceptor.join(timeout=5)  # no connection is added after this
        with self.lock:
            socks, threads = list(self._socks), list(self._threads)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        for t in threads:
            t.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._run, args=(conn,), daemon=True)
            with self.lock:
                self.connections += 1
                self._socks.append(conn)
                self._threads.append(t)
            t.start()

    def _run(self, conn):
        try:
            self.serve(conn)
        except (OSError, ValueError):
            pass
        finally:
            conn.close()


# ---------------------------------------------------------------------------
# DNS: unbound on loopback


def dns_query(port, name, qtype, host="127.0.0.1", timeout=1.0):
    """One UDP query; returns (rcode, answer count) or None without an answer."""
    qid = random.randrange(65536)
    labels = [l for l in name.rstrip(".").split(".") if l]
    qname = b"".join(bytes([len(l)]) + l.encode() for l in labels) + b"\0"
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, (host, port))
        try:
            data, _ = s.recvfrom(4096)
        except socket.timeout:
            return None
    rid, flags, _, ancount, _, _ = struct.unpack(">HHHHHH", data[:12])
    if rid != qid:
        return None
    return flags & 0xF, ancount


DNS_A, DNS_MX = 1, 15
NOERROR, NXDOMAIN = 0, 3


class Unbound(ProcessPeer):
    """unbound -d serving local-data for "test." (static) on 127.0.0.1:port."""

    def __init__(self, base, local_data, zones=(("test.", "static"),)):
        self.dir = os.path.join(base, "unbound")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.local_data = list(local_data)
        self.zones = zones
        self.log_path = os.path.join(self.dir, "unbound.log")

    @property
    def server(self):
        return f"127.0.0.1@{self.port}"

    def start(self):
        conf = os.path.join(self.dir, "unbound.conf")
        lines = ["server:",
                 "  interface: 127.0.0.1",
                 f"  port: {self.port}",
                 "  do-daemonize: no",
                 "  use-syslog: no",
                 f'  logfile: "{self.log_path}"',
                 "  verbosity: 1",
                 '  chroot: ""',
                 '  username: ""',
                 f'  directory: "{self.dir}"',
                 f'  pidfile: "{os.path.join(self.dir, "unbound.pid")}"',
                 "  access-control: 127.0.0.0/8 allow",
                 "  do-ip6: no",
                 '  module-config: "iterator"',
                 # loopback only: names outside the test zones are refused at
                 # once (postern's resolver asks for the root's DNSKEY records
                 # to see whether DNSSEC works), and nothing is ever asked of
                 # another server
                 '  local-zone: "." refuse',
                 "  do-not-query-address: 0.0.0.0/0",
                 "  outgoing-interface: 127.0.0.1"]
        for zone, kind in self.zones:
            lines.append(f'  local-zone: "{zone}" {kind}')
        for rr in self.local_data:
            lines.append(f'  local-data: "{rr}"')
        lines += ["remote-control:", "  control-enable: no", ""]
        with open(conf, "w") as f:
            f.write("\n".join(lines))
        check = subprocess.run(["/usr/sbin/unbound-checkconf", conf], capture_output=True,
                               text=True)
        assert check.returncode == 0, f"bad unbound config:\n{check.stdout}{check.stderr}"
        self.out = open(os.path.join(self.dir, "unbound.stderr"), "wb")
        self.proc = subprocess.Popen([UNBOUND, "-d", "-c", conf], stdout=self.out,
                                     stderr=subprocess.STDOUT)
        wait_for(lambda: self.proc.poll() is not None or dns_query(self.port, "test.", DNS_A,
                                                                   timeout=0.2),
                 what="unbound to answer")
        assert self.proc.poll() is None, f"unbound exited: {self.log()}"
        return self

    def log(self):
        text = ""
        for p in (self.log_path, os.path.join(self.dir, "unbound.stderr")):
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    text += f.read()
        return text


# ---------------------------------------------------------------------------
# A scripted SMTP server


class ScriptedSMTP(LoopbackServer):
    """A small scripted SMTP server on a real loopback socket, one thread per connection.

    rcpt_reply(address, attempt) -> reply line for RCPT TO (attempt counts
        RCPTs of that address from 1); default 250.
    data_reply(number) -> reply line after the final "." (number counts
        message contents received from 1); default 250.
    final_delay(number) -> seconds to wait before that reply (the wait ends
        early when the server stops).
    Records: connections, every command line, the messages received with the
    final reply sent for each (accepted: the reply was 2xx and was written).
    """

    def __init__(self, host="127.0.0.1", port=0, rcpt_reply=None, data_reply=None,
                 final_delay=None, extensions=("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES",
                                               "DSN")):
        super().__init__(host, port)
        self.rcpt_reply = rcpt_reply or (lambda addr, n: "250 2.1.5 Ok")
        self.data_reply = data_reply or (lambda n: "250 2.0.0 Ok: queued")
        self.final_delay = final_delay or (lambda n: 0)
        self.extensions = extensions
        self.commands = []
        self.messages = []  # dicts: mail_from, rcpts, data, reply, sent
        self.rcpt_attempts = {}
        self.data_seen = threading.Event()  # a content's final "." arrived

    def accepted(self):
        """Messages whose 2xx final reply was sent: list of (rcpts, data)."""
        with self.lock:
            return [(m["rcpts"], m["data"]) for m in self.messages
                    if m["sent"] and m["reply"].startswith("2")]

    def serve(self, conn):
        conn.settimeout(30)
        f = conn.makefile("rb")

        def send(line):
            conn.sendall(line.encode() + b"\r\n")

        try:
            send("220 scripted.test ESMTP ready")
            mail_from, rcpts = None, []
            while not self.stopping.is_set():
                raw = f.readline()
                if not raw:
                    return
                line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
                with self.lock:
                    self.commands.append(line)
                verb = line.split(" ", 1)[0].upper()
                if verb in ("EHLO", "LHLO"):
                    exts = list(self.extensions)
                    send("\r\n".join(["250-scripted.test"] +
                                     [f"250-{e}" for e in exts[:-1]] +
                                     [f"250 {exts[-1]}"] if exts else ["250 scripted.test"]))
                elif verb == "HELO":
                    send("250 scripted.test")
                elif verb == "MAIL":
                    m = re.match(r"MAIL FROM:<([^>]*)>", line, re.I)
                    mail_from, rcpts = (m.group(1) if m else ""), []
                    send("250 2.1.0 Ok")
                elif verb == "RCPT":
                    m = re.match(r"RCPT TO:<([^>]*)>", line, re.I)
                    addr = m.group(1) if m else ""
                    with self.lock:
                        n = self.rcpt_attempts[addr] = self.rcpt_attempts.get(addr, 0) + 1
                    reply = self.rcpt_reply(addr, n)
                    if reply.startswith("2"):
                        rcpts.append(addr)
                    send(reply)
                elif verb == "DATA":
                    if mail_from is None or not rcpts:
                        send("554 5.5.1 no valid recipients")
                        continue
                    send("354 End data with <CR><LF>.<CR><LF>")
                    lines = []
                    while True:
                        raw = f.readline()
                        if not raw:
                            return
                        if raw == b".\r\n":
                            break
                        lines.append(raw[1:] if raw.startswith(b".") else raw)
                    record = {"mail_from": mail_from, "rcpts": list(rcpts),
                              "data": b"".join(lines), "reply": "", "sent": False}
                    with self.lock:
                        self.messages.append(record)
                        number = len(self.messages)
                    self.data_seen.set()
                    delay = self.final_delay(number)
                    if delay and self.stopping.wait(delay):
                        return
                    record["reply"] = self.data_reply(number)
                    send(record["reply"])
                    record["sent"] = True
                    mail_from, rcpts = None, []
                elif verb == "RSET":
                    mail_from, rcpts = None, []
                    send("250 2.0.0 Ok")
                elif verb == "NOOP":
                    send("250 2.0.0 Ok")
                elif verb == "QUIT":
                    send("221 2.0.0 Bye")
                    return
                else:
                    send("502 5.5.2 command not implemented")
        finally:
            f.close()


# ---------------------------------------------------------------------------
# Postfix's smtp-sink


class SmtpSink(ProcessPeer):
    """smtp-sink on 127.0.0.1:port, one dump file per message in self.dump_dir."""

    def __init__(self, base, port=None, name="sink"):
        self.dir = os.path.join(base, name)
        self.dump_dir = os.path.join(self.dir, "dump")
        os.makedirs(self.dump_dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        os.chmod(self.dump_dir, 0o777)  # smtp-sink writes as "nobody"
        self.port = port or free_port()

    def start(self):
        self.out = open(os.path.join(self.dir, "sink.out"), "wb")
        self.proc = subprocess.Popen([SMTP_SINK, "-u", "nobody", "-d",
                                      os.path.join(self.dump_dir, "m."), "-c",
                                      f"127.0.0.1:{self.port}", "100"],
                                     stdout=self.out, stderr=subprocess.STDOUT)
        wait_for(lambda: self.proc.poll() is not None or not connect_refused("127.0.0.1",
                                                                            self.port),
                 what="smtp-sink to listen")
        assert self.proc.poll() is None, "smtp-sink exited"
        return self

    def messages(self):
        out = []
        for p in sorted(glob.glob(os.path.join(self.dump_dir, "*"))):
            with open(p, "rb") as f:
                out.append(f.read())
        return out


# ---------------------------------------------------------------------------
# A private Postfix instance


def make_certificate(directory, cn):
    key = os.path.join(directory, "key.pem")
    cert = os.path.join(directory, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", f"/CN={cn}", "-addext",
                    f"subjectAltName=DNS:{cn}"], check=True, capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


class Postfix(ProcessPeer):
    """A Postfix of our own: config dir, spool, data and Maildirs under base.

    Accepts mail for `domain` into virtual Maildirs <vmail>/<domain>/<user>/
    for the users given; smtpd on 127.0.0.1:port with its own self-signed
    certificate (smtpd_tls_security_level=may, TLS noted in Received:), or
    no STARTTLS at all with tls=False. sasl_users ({name: password}) turns
    on AUTH PLAIN/LOGIN through Cyrus SASL with a sasldb of those users.
    """

    def __init__(self, base, domain="peer.test", users=("user",), port=None, tls=True,
                 sasl_users=None):
        import pwd
        self.dir = os.path.join(base, "postfix")
        self.etc = os.path.join(self.dir, "etc")
        self.spool = os.path.join(self.dir, "spool")
        self.data = os.path.join(self.dir, "data")
        self.vmail = os.path.join(self.dir, "vmail")
        self.maillog = os.path.join(self.dir, "maillog")
        self.domain = domain
        self.users = users
        self.port = port or free_port()
        self.hostname = f"mx.{domain}"
        self.pw = pwd.getpwnam("postfix")
        self.master_pid = None
        self.tls = tls
        self.sasl_users = sasl_users or {}

    def postconf(self, *args):
        r = subprocess.run([POSTCONF, "-c", self.etc, *args], capture_output=True, text=True)
        assert r.returncode == 0, f"postconf {args}: {r.stderr}"
        return r.stdout

    def start(self):
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        # a copy of the packaged configuration; symlinks (makedefs.out) become files
        shutil.copytree("/etc/postfix", self.etc, symlinks=False)
        for d in (self.spool, self.data, self.vmail):
            os.makedirs(d)
        for d in (self.data, self.vmail):
            os.chown(d, self.pw.pw_uid, self.pw.pw_gid)
        cert, key = make_certificate(self.dir, self.hostname)
        self.cert = cert
        with open(os.path.join(self.etc, "vmailbox"), "w") as f:
            for u in self.users:
                f.write(f"{u}@{self.domain} {self.domain}/{u}/\n")
        self.postconf(
            "-e",
            f"queue_directory={self.spool}",
            f"data_directory={self.data}",
            "inet_interfaces=127.0.0.1",
            "inet_protocols=ipv4",
            f"myhostname={self.hostname}",
            f"mydomain={self.domain}",
            f"myorigin={self.domain}",
            "mydestination=localhost",
            "mynetworks=127.0.0.0/8",
            "alias_maps=",
            "alias_database=",
            "relayhost=",
            f"virtual_mailbox_domains={self.domain}",
            f"virtual_mailbox_base={self.vmail}",
            f"virtual_mailbox_maps=texthash:{self.etc}/vmailbox",
            f"virtual_uid_maps=static:{self.pw.pw_uid}",
            f"virtual_gid_maps=static:{self.pw.pw_gid}",
            f"smtpd_tls_cert_file={cert}",
            f"smtpd_tls_key_file={key}",
            "smtpd_tls_security_level=" + ("may" if self.tls else "none"),
            "smtpd_tls_received_header=yes",
            "smtpd_tls_loglevel=1",
            f"maillog_file={self.maillog}",
            f"maillog_file_prefixes={self.dir}",
        )
        if self.sasl_users:
            self._sasl()
        # a private instance: no chroot (that would need a copy of /etc in the spool)
        self.postconf("-F", "*/*/chroot=n")
        self.postconf("-M", f"smtp/inet=127.0.0.1:{self.port} inet n - n - - smtpd")
        self.postconf("-M", "postlog/unix-dgram=postlog unix-dgram n - n - 1 postlogd")
        r = subprocess.run([POSTFIX, "-c", self.etc, "check"], capture_output=True, text=True)
        assert r.returncode == 0, f"postfix check: {r.stdout}{r.stderr}"
        r = subprocess.run([POSTFIX, "-c", self.etc, "start"], capture_output=True, text=True)
        self._read_pid()
        assert r.returncode == 0, f"postfix start: {r.stdout}{r.stderr}\n{self.log()}"
        wait_for(lambda: not connect_refused("127.0.0.1", self.port), what="postfix smtpd")
        self._read_pid()
        assert self.master_pid, "no master.pid"
        return self

    def _sasl(self):
        """Cyrus SASL for smtpd: its own smtpd.conf and sasldb, readable by postfix."""
        sasl_dir = os.path.join(self.etc, "sasl")
        os.makedirs(sasl_dir, exist_ok=True)
        db = os.path.join(sasl_dir, "sasldb2")
        for name, password in self.sasl_users.items():
            subprocess.run(["saslpasswd2", "-f", db, "-c", "-p", "-u", self.domain, name],
                           input=password, text=True, check=True, capture_output=True)
        os.chown(db, self.pw.pw_uid, self.pw.pw_gid)
        with open(os.path.join(sasl_dir, "smtpd.conf"), "w") as f:
            f.write(f"pwcheck_method: auxprop\nauxprop_plugin: sasldb\n"
                    f"mech_list: PLAIN LOGIN\nsasldb_path: {db}\n")
        self.postconf("-e", "smtpd_sasl_auth_enable=yes", "smtpd_sasl_type=cyrus",
                      "smtpd_sasl_path=smtpd", f"cyrus_sasl_config_path={sasl_dir}",
                      f"smtpd_sasl_local_domain={self.domain}")

    def _read_pid(self):
        try:
            with open(os.path.join(self.spool, "pid", "master.pid")) as f:
                self.master_pid = int(f.read().strip() or 0) or self.master_pid
        except (FileNotFoundError, ValueError):
            pass

    def log(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def mailbox(self, user):
        """Messages (bytes) in user's Maildir, new and cur."""
        out = []
        for sub in ("new", "cur"):
            for p in sorted(glob.glob(os.path.join(self.vmail, self.domain, user, sub, "*"))):
                with open(p, "rb") as f:
                    out.append(f.read())
        return out

    def stop(self):
        self._read_pid()
        if os.path.isdir(self.etc):
            subprocess.run([POSTFIX, "-c", self.etc, "stop"], capture_output=True, timeout=60)
        pid = self.master_pid
        if pid:
            deadline = time.monotonic() + 10 * SLOW
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------------------
# postern instances: setup and what they wrote


def set_timers(inst, **values):
    args = []
    for k, v in values.items():
        args += [f"-{k}", v]
    inst.cmdlet("Set-TransportConfig", *args)


def relay_instance(instances, name, peer_port, relay_domains=("b.test",), connector=(),
                   smart_hosts="127.0.0.1", timers=None, start=True):
    """An instance that accepts mail for <name>.test (mailbox alice@<name>.test, the
    sender whose reports the tests read) and relays relay_domains (ExternalRelay)
    through Send connector "Out" to smart_hosts:peer_port."""
    inst = instances(name)
    local = f"{name}.test"
    inst.cmdlet("New-AcceptedDomain", "-Name", local, "-DomainName", local)
    inst.cmdlet("New-Mailbox", "-Name", "alice", "-PrimarySmtpAddress", f"alice@{local}",
                "-Password", "Secret-1234")
    for d in relay_domains:
        inst.cmdlet("New-AcceptedDomain", "-Name", d, "-DomainName", d, "-DomainType",
                    "ExternalRelay")
    inst.cmdlet("New-SendConnector", "-Name", "Out", "-AddressSpaces", "*", "-SmartHosts",
                smart_hosts, "-DNSRoutingEnabled", "$false", "-Port", str(peer_port),
                "-ProtocolLoggingLevel", "Verbose", *connector)
    set_timers(inst, **(FAST_TIMERS if timers is None else timers))
    if start:
        inst.start()
    return inst


def receiver_instance(instances, name, domains, users, start=True):
    """An instance that accepts domains (Authoritative) with mailboxes users (addresses),
    receive protocol log on."""
    inst = instances(name)
    for d in domains:
        inst.cmdlet("New-AcceptedDomain", "-Name", d, "-DomainName", d)
    for u in users:
        inst.cmdlet("New-Mailbox", "-Name", u.split("@")[0] + "-" + u.split("@")[1],
                    "-PrimarySmtpAddress", u, "-Password", "Pass-Word-1")
    inst.cmdlet("Set-ReceiveConnector", "Default mail", "-ProtocolLoggingLevel", "Verbose")
    if start:
        inst.start()
    return inst


def submit(inst, sender, rcpts, msg, rcpt_options=(), mail_options=()):
    """Submits one message over SMTP; returns postern's queue ID."""
    with inst.smtp() as c:
        c.ehlo("client.test")
        code, _ = c.mail(sender, list(mail_options))
        assert code == 250, f"MAIL FROM:<{sender}> refused: {code}"
        for r in rcpts:
            code, text = c.rcpt(r, list(rcpt_options))
            assert code == 250, f"RCPT TO:<{r}> refused: {code} {text}"
        code, reply = c.data(msg)
        assert code == 250, f"DATA refused: {code} {reply}"
    m = re.search(rb"([0-9A-F]{16})", reply)
    assert m, f"no queue id in {reply!r}"
    return m.group(1).decode()


def maildir(inst, address):
    """Files (path, bytes) in DIR/mail/<address>/new, sorted by name."""
    d = os.path.join(inst.dir, "mail", address.lower(), "new")
    out = []
    for p in sorted(glob.glob(os.path.join(d, "*"))):
        with open(p, "rb") as f:
            out.append((p, f.read()))
    return out


def read_csv_log(paths):
    rows = []
    for p in sorted(paths):
        with open(p, newline="", errors="replace") as f:
            fields = None
            lines = []
            for line in f:
                if not line.endswith("\n"):
                    break  # a line the daemon is writing out right now
                if line.startswith("#Fields:"):
                    fields = line[len("#Fields:"):].strip().split(",")
                elif not line.startswith("#"):
                    lines.append(line)
            if fields:
                for rec in csv.reader(io.StringIO("".join(lines))):
                    if len(rec) == len(fields):
                        rows.append(dict(zip(fields, rec)))
    return rows


def tracking(inst):
    return read_csv_log(glob.glob(os.path.join(inst.dir, "logs", "MessageTracking",
                                               "MSGTRK*.log")))


def tracking_events(inst, qid=None):
    """(event-id, recipient-address) pairs, for message qid when given."""
    return [(r.get("event-id"), r.get("recipient-address")) for r in tracking(inst)
            if qid is None or r.get("internal-message-id") == qid]


def send_log(inst):
    return read_csv_log(glob.glob(os.path.join(inst.dir, "logs", "ProtocolLog", "SmtpSend",
                                               "SEND*.log")))


def receive_log(inst):
    return read_csv_log(glob.glob(os.path.join(inst.dir, "logs", "ProtocolLog", "SmtpReceive",
                                               "RECV*.log")))


def queues(inst):
    return inst.get("Get-Queue")


def queue_named(inst, hop):
    for q in queues(inst):
        if q.get("NextHopDomain", "").lower() == hop.lower():
            return q
    return None


def queue_failed(inst, hop, timeout=15, what=None):
    """Waits until queue hop records a failure (a LastError); returns the queue."""
    def failed():
        q = queue_named(inst, hop)
        return q if q and q.get("LastError") else None
    return wait_for(failed, timeout=timeout, what=what or f"queue {hop} to record a failure")


def messages_in_queues(inst):
    return sum(int(q.get("MessageCount") or 0) for q in queues(inst))


def wait_queue_empty(inst, timeout=15):
    """Waits until nothing is queued: no envelope on disk."""
    wait_for(lambda: not inst.queued_ids(), timeout=timeout,
             what=f"{inst.dir}'s queue to empty (left: {inst.queued_ids()})")


# ---------------------------------------------------------------------------
# RFC 3464 reports


def parse_message(raw):
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def dsn_parts(raw):
    """Checks the RFC 6522/3464 structure; returns (message, per-message fields,
    [per-recipient field dicts], third part or None)."""
    msg = parse_message(raw)
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    assert isinstance(parts, list) and len(parts) >= 2, "a report has at least two parts"
    status = parts[1]
    assert status.get_content_type() == "message/delivery-status", status.get_content_type()
    # the delivery-status body is a sequence of header blocks (email parses
    # them as sub-messages)
    blocks = status.get_payload()
    if isinstance(blocks, list):
        fields = [dict((k.lower(), str(v)) for k, v in b.items()) for b in blocks]
    else:
        fields = []
        for chunk in re.split(r"\r?\n\r?\n", blocks.strip()):
            d = {}
            for line in re.sub(r"\r?\n[ \t]+", " ", chunk).splitlines():
                k, _, v = line.partition(":")
                d[k.strip().lower()] = v.strip()
            fields.append(d)
    per_message, per_rcpt = fields[0], fields[1:]
    third = parts[2] if len(parts) > 2 else None
    return msg, per_message, per_rcpt, third


def reports(inst, address, action=None):
    """Reports (DSNs) in a local Maildir: list of (raw, per-recipient blocks),
    optionally only those with a block whose Action is action."""
    out = []
    for _, raw in maildir(inst, address):
        msg = parse_message(raw)
        if msg.get_content_type() != "multipart/report":
            continue
        _, _, blocks, _ = dsn_parts(raw)
        if action is None or any(b.get("action", "").lower() == action for b in blocks):
            out.append((raw, blocks))
    return out
