"""A DNSSEC-signed "test." zone on loopback, for the DANE tests.

    with SignedDNS(base, records, bogus=[...]) as dns:
        dns.server        # "127.0.0.1@PORT": postern's -ExternalDNSServers
        dns.anchor        # trust anchor file (the KSK's DS): -DnssecTrustAnchorFile
        dns.insecure      # "insecure.test.": a delegated child zone without DS
        dns.replace(records, bogus=[...])   # new records, re-signed, served at once
        dns.stats()["total.num.cachemiss"]  # "0": no query went past the zones

At start SignedDNS makes a KSK and a ZSK (ldns-keygen, ECDSAP256SHA256), signs
the zone with ldns-signzone (NSEC; signatures valid from an hour ago for 30
days) and serves it with unbound as an auth-zone on 127.0.0.1:<free port>. A
validating resolver given the anchor and forwarding to that port sees:

  records   secure: signed normally
  bogus     BOGUS: signed, then their RRSIG's signature bytes changed, so that
            the whole RRset (owner and type) fails validation
  names under insecure.test.   INSECURE: the signed parent delegates
            insecure.test. (NS, glue 127.0.0.1) and its NSEC proves there is no
            DS; the same unbound serves the child, unsigned, as a second auth-zone
  other names under test.      NXDOMAIN or NODATA, proven by NSEC (secure)
  names outside test.          REFUSED, at once

Records are zone-file lines with absolute owner names, e.g.
"mx.dane.test. IN MX 10 host.dane.test."; those at or under insecure.test. go
to the child zone. Without a TTL of their own they get 5 s, so that a
resolver's cache forgets replaced records quickly.

unbound answers DS queries for insecure.test. from the parent zone (an
authority serves DS from the zone above the cut), so one server serves both
zones and the forwarding resolver never needs another address. It never
sends a query: names outside the zones are refused by a local-zone, and the
iterator it runs behind the zones may not query any address
(do-not-query-address 0.0.0.0/0) and may only send from 127.0.0.1.

tlsa_rdata(cert, usage, selector, mtype) makes a TLSA record's rdata for a
certificate file with ldns-dane, which with -c reads the certificate instead
of connecting anywhere.
"""
import base64
import datetime
import os
import subprocess

from conftest import free_port, wait_for
from peers import DNS_A, UNBOUND, ProcessPeer, dns_query

UNBOUND_CHECKCONF = "/usr/sbin/unbound-checkconf"
UNBOUND_CONTROL = "/usr/sbin/unbound-control"
TTL = 5


def _run(*args, cwd=None):
    r = subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


def tlsa_rdata(cert, usage, selector, mtype):
    """The rdata ("3 1 1 <hex>") of a TLSA record for the certificate in the PEM file
    cert (a file holding that one certificate: the server's for usage 1 and 3, the
    issuing CA's for usage 0 and 2)."""
    # -n: the name given need not be in the certificate; -s: no PKIX check for
    # usage 0 and 1; -o 0: for usage 2, the certificate given, self-signed or not.
    out = _run("ldns-dane", "-n", "-s", "-o", "0", "-c", cert, "create", "tlsa.invalid", "25",
               str(usage), str(selector), str(mtype))
    fields = out.split()
    assert fields[3] == "TLSA", f"unexpected ldns-dane output: {out}"
    return " ".join(fields[4:])


def _owner(rr):
    owner = rr.split()[0].lower()
    assert owner.endswith("."), f"owner name not absolute: {rr}"
    return owner


def _rrset(rr):
    """(owner, type) of a zone-file line "owner [TTL] [class] TYPE rdata"."""
    rest = [f for f in rr.split()[1:] if not f.isdigit() and f.upper() not in ("IN", "CH")]
    return _owner(rr), rest[0].upper()


def _under(name, zone):
    return name == zone or name.endswith("." + zone)


def _stamp(delta):
    """An ldns-signzone date (YYYYMMDDhhmmss, UTC) delta from now."""
    t = datetime.datetime.now(datetime.timezone.utc) + delta
    return t.strftime("%Y%m%d%H%M%S")


class SignedDNS(ProcessPeer):
    """unbound -d serving the signed zone `zone` and its unsigned child `insecure`
    on 127.0.0.1:port (see the module docstring)."""

    def __init__(self, base, records, bogus=(), zone="test.", insecure="insecure.test."):
        assert _under(insecure, zone) and insecure != zone
        self.dir = os.path.join(base, "signed-dns")
        os.makedirs(self.dir, exist_ok=True)
        self.zone = zone
        self.insecure = insecure
        self.port = free_port()
        self.anchor = os.path.join(self.dir, "anchor.ds")
        self.conf = os.path.join(self.dir, "unbound.conf")
        self.log_path = os.path.join(self.dir, "unbound.log")
        self.records, self.bogus = list(records), list(bogus)
        self.serial = 0
        self.keys = []

    @property
    def server(self):
        return f"127.0.0.1@{self.port}"

    def _path(self, name):
        return os.path.join(self.dir, name)

    def _make_keys(self):
        """A KSK and a ZSK; the anchor file holds the KSK's DS."""
        ksk = _run("ldns-keygen", "-a", "ECDSAP256SHA256", "-k", self.zone, cwd=self.dir).strip()
        zsk = _run("ldns-keygen", "-a", "ECDSAP256SHA256", self.zone, cwd=self.dir).strip()
        self.keys = [self._path(ksk), self._path(zsk)]
        ds = _run("ldns-key2ds", "-n", "-2", self._path(ksk + ".key"))
        with open(self.anchor, "w") as f:
            f.write(f"; trust anchor for {self.zone}: the DS (SHA-256) of its KSK\n{ds}")
        os.chmod(self.anchor, 0o644)  # postern's service user reads it

    def _write_zones(self):
        """The parent zone file (signed, with the bogus RRsets' signatures broken)
        and the child zone file (unsigned), from records and bogus."""
        records, bogus = self.records, self.bogus
        for rr in [*records, *bogus]:
            assert _under(_owner(rr), self.zone), f"{rr} is not in {self.zone}"
        child = [rr for rr in records if _under(_owner(rr), self.insecure)]
        parent = [rr for rr in records if not _under(_owner(rr), self.insecure)]
        assert not any(_under(_owner(rr), self.insecure) for rr in bogus), \
            "bogus records must be in the signed zone"
        # a new serial on each change, as a real zone would have
        self.serial += 1
        ns, child_ns = f"ns.{self.zone}", f"ns.{self.insecure}"
        parent += [f"{self.zone} IN NS {ns}", f"{ns} IN A 127.0.0.1",
                   f"{self.insecure} IN NS {child_ns}", f"{child_ns} IN A 127.0.0.1", *bogus]
        child += [f"{self.insecure} IN NS {child_ns}", f"{child_ns} IN A 127.0.0.1"]
        self._zone_file("parent.zone", self.zone, parent)
        self._zone_file("child.zone", self.insecure, child)
        _run("ldns-signzone", "-i", _stamp(datetime.timedelta(hours=-1)),
             "-e", _stamp(datetime.timedelta(days=30)), "-f", self._path("parent.signed"),
             self._path("parent.zone"), *self.keys)
        self._break_signatures({_rrset(rr) for rr in bogus})

    def _zone_file(self, name, origin, records):
        lines = [f"$ORIGIN {origin}", f"$TTL {TTL}",
                 f"{origin} IN SOA ns.{origin} hostmaster.{origin} {self.serial} 3600 600 86400 "
                 f"{TTL}", *records]
        with open(self._path(name), "w") as f:
            f.write("\n".join(lines) + "\n")

    def _break_signatures(self, rrsets):
        """Flips a bit of the signature of the RRSIGs over rrsets, (owner, type) pairs.
        ldns-signzone writes one RR a line: owner TTL class RRSIG covered ... signature."""
        path = self._path("parent.signed")
        with open(path) as f:
            lines = f.read().splitlines()
        broken = set()
        for i, line in enumerate(lines):
            fields = line.split()
            if len(fields) > 4 and fields[3] == "RRSIG" and \
                    (fields[0].lower(), fields[4].upper()) in rrsets:
                sig = bytearray(base64.b64decode(fields[-1]))
                sig[0] ^= 1
                lines[i] = " ".join(fields[:-1] + [base64.b64encode(sig).decode()])
                broken.add((fields[0].lower(), fields[4].upper()))
        assert broken == rrsets, f"no signature found for {rrsets - broken}"
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        self._make_keys()
        self._write_zones()
        control = self._path("control.sock")
        lines = ["server:",
                 "  interface: 127.0.0.1",
                 f"  port: {self.port}",
                 "  do-daemonize: no",
                 "  use-syslog: no",
                 f'  logfile: "{self.log_path}"',
                 "  verbosity: 1",
                 "  log-queries: yes",  # what the resolver under test asked
                 '  chroot: ""',
                 '  username: ""',
                 f'  directory: "{self.dir}"',
                 f'  pidfile: "{self._path("unbound.pid")}"',
                 "  access-control: 127.0.0.0/8 allow",
                 "  do-ip6: no",
                 '  module-config: "iterator"',
                 # test. is one of unbound's default local zones (RFC 6761, static:
                 # NXDOMAIN for all); transparent lets the auth-zones answer it
                 f'  local-zone: "{self.zone}" transparent',
                 # everything else: REFUSED here, never resolved
                 '  local-zone: "." refuse',
                 # a query that neither zone nor local-zone answered would go to the
                 # iterator, and from there to the root servers: it may query no
                 # address, and send from loopback only
                 "  do-not-query-address: 0.0.0.0/0",
                 "  outgoing-interface: 127.0.0.1",
                 "auth-zone:",
                 f'  name: "{self.zone}"',
                 f'  zonefile: "{self._path("parent.signed")}"',
                 "  for-downstream: yes",
                 "  for-upstream: no",
                 "auth-zone:",
                 f'  name: "{self.insecure}"',
                 f'  zonefile: "{self._path("child.zone")}"',
                 "  for-downstream: yes",
                 "  for-upstream: no",
                 # replace() reloads the zones through a socket only we can reach
                 "remote-control:",
                 "  control-enable: yes",
                 f'  control-interface: "{control}"',
                 "  control-use-cert: no",
                 ""]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines))
        check = subprocess.run([UNBOUND_CHECKCONF, self.conf], capture_output=True, text=True)
        assert check.returncode == 0, f"bad unbound config:\n{check.stdout}{check.stderr}"
        self.out = open(self._path("unbound.stderr"), "wb")
        self.proc = subprocess.Popen([UNBOUND, "-d", "-c", self.conf], stdout=self.out,
                                     stderr=subprocess.STDOUT)
        wait_for(lambda: self.proc.poll() is not None or dns_query(self.port, self.zone, DNS_A,
                                                                   timeout=0.2),
                 what="unbound to answer")
        assert self.proc.poll() is None, f"unbound exited: {self.log()}"
        return self

    def replace(self, records, bogus=()):
        """Serves new records (same keys, anchor and port): rewrites and re-signs the
        zones, then has the running unbound reload them."""
        self.records, self.bogus = list(records), list(bogus)
        self._write_zones()
        for zone in (self.zone, self.insecure):
            _run(UNBOUND_CONTROL, "-c", self.conf, "auth_zone_reload", zone)

    def stats(self):
        """unbound's counters (unbound-control stats_noreset) as a dict of strings;
        total.num.cachemiss counts the queries neither zone nor local-zone answered,
        which went to the iterator."""
        out = _run(UNBOUND_CONTROL, "-c", self.conf, "stats_noreset")
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def log(self):
        text = ""
        for p in (self.log_path, self._path("unbound.stderr")):
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    text += f.read()
        return text
