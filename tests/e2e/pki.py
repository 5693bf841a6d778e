"""A throw-away PKI for the domain security tests, made with the openssl command.

    ca = TestCA(workdir)                      # a CA with its own `openssl ca` database
    leaf = ca.issue("mail.b.test", ["mail.b.test", "b.test"])
    leaf.cert, leaf.key, leaf.bundle          # PEM files; bundle = cert + CA + key
    ca.issue(..., startdate="20200101000000Z", enddate="20200102000000Z")   # expired
    ca.revoke(leaf); ca.crl()                 # a CRL (PEM file) that lists it
    self_signed(directory, "mail.b.test", [...])

Every certificate carries subjectAltName DNS names and extendedKeyUsage
serverAuth,clientAuth (a domain-secured MTA is client and server), unless
asked otherwise. OpenSSL 3.0's `openssl x509 -req` cannot backdate, so every
leaf is issued with `openssl ca -startdate/-enddate`, which also keeps the
index that `openssl ca -revoke` and `-gencrl` need.
"""
import base64
import datetime
import hashlib
import os
import subprocess
import threading

OPENSSL = "openssl"

_CA_CONF = """\
[ ca ]
default_ca = testca

[ testca ]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
crlnumber = $dir/crlnumber
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
default_days = 30
default_crl_days = 30
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no

[ policy_any ]
commonName = supplied
organizationName = optional

[ req ]
distinguished_name = req_dn
prompt = no

[ req_dn ]
CN = unused

[ ca_ext ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""


def openssl(*args, cwd=None, input=None):
    r = subprocess.run([OPENSSL, *args], capture_output=True, text=True, cwd=cwd, input=input,
                       timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed:\n{r.stdout}{r.stderr}")
    return r.stdout


def utc_stamp(delta):
    """A `openssl ca` date (YYYYMMDDHHMMSSZ) delta from now."""
    t = datetime.datetime.now(datetime.timezone.utc) + delta
    return t.strftime("%Y%m%d%H%M%SZ")


def pem_to_der(path):
    with open(path) as f:
        text = f.read()
    body = text.split("-----BEGIN CERTIFICATE-----", 1)[1].split("-----END CERTIFICATE-----")[0]
    return base64.b64decode("".join(body.split()))


def thumbprint(path):
    """SHA-1 of the DER form, upper-case hex: Exchange's Thumbprint."""
    return hashlib.sha1(pem_to_der(path)).hexdigest().upper()


def der_thumbprint(der):
    return hashlib.sha1(der).hexdigest().upper()


class Leaf:
    def __init__(self, directory, name):
        self.dir = directory
        self.name = name
        self.key = os.path.join(directory, f"{name}.key")
        self.cert = os.path.join(directory, f"{name}.pem")
        self.bundle = os.path.join(directory, f"{name}.bundle.pem")  # cert + chain + key
        self.chain = []  # CA certificate files, leaf's issuer first

    @property
    def thumbprint(self):
        return thumbprint(self.cert)

    def write_bundle(self, key=None):
        """cert, chain, then key (another key file for a mismatched bundle)."""
        parts = [self.cert, *self.chain, key or self.key]
        with open(self.bundle, "w") as out:
            for p in parts:
                with open(p) as f:
                    out.write(f.read())
        os.chmod(self.bundle, 0o600)
        return self.bundle

    def pkcs12(self, password):
        path = os.path.join(self.dir, f"{self.name}.p12")
        args = ["pkcs12", "-export", "-inkey", self.key, "-in", self.cert, "-out", path,
                "-passout", f"pass:{password}"]
        for c in self.chain:
            args += ["-certfile", c]
        openssl(*args)
        return path

    def text(self):
        return openssl("x509", "-in", self.cert, "-noout", "-text")


def _new_key(path):
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path)
    os.chmod(path, 0o600)


def _ext_file(path, sans, eku):
    lines = ["basicConstraints = critical, CA:false",
             "keyUsage = critical, digitalSignature, keyEncipherment",
             "subjectKeyIdentifier = hash",
             "authorityKeyIdentifier = keyid"]
    if sans:
        lines.append("subjectAltName = " + ", ".join(f"DNS:{n}" for n in sans))
    if eku:
        lines.append(f"extendedKeyUsage = {eku}")
    with open(path, "w") as f:
        f.write("[ leaf ]\n" + "\n".join(lines) + "\n")


class TestCA:
    """A root CA in base/<name>/ with an `openssl ca` database (index.txt, serial,
    crlnumber) so that leaves can be backdated and revoked; with parent, an
    intermediate CA that parent signed (its leaves' chains hold both)."""

    __test__ = False  # not a pytest class

    def __init__(self, base, name="ca", cn="Postern Test Root CA", parent=None):
        self.dir = os.path.join(base, name)
        os.makedirs(os.path.join(self.dir, "newcerts"))
        self.conf = os.path.join(self.dir, "ca.cnf")
        self.key = os.path.join(self.dir, "ca.key")
        self.cert = os.path.join(self.dir, "ca.pem")
        self._lock = threading.Lock()  # `openssl ca` updates one database
        with open(self.conf, "w") as f:
            f.write(_CA_CONF.format(dir=self.dir))
        open(os.path.join(self.dir, "index.txt"), "w").close()
        with open(os.path.join(self.dir, "index.txt.attr"), "w") as f:
            f.write("unique_subject = no\n")
        with open(os.path.join(self.dir, "serial"), "w") as f:
            f.write(os.urandom(8).hex().upper() + "\n")
        with open(os.path.join(self.dir, "crlnumber"), "w") as f:
            f.write("01\n")
        _new_key(self.key)
        # the root's validity starts a year back, so that backdated leaves
        # lie within it (an expired leaf must fail as expired, nothing else)
        csr = os.path.join(self.dir, "ca.csr")
        openssl("req", "-config", self.conf, "-new", "-key", self.key, "-subj", f"/CN={cn}",
                "-out", csr)
        if parent is None:
            openssl("ca", "-config", self.conf, "-batch", "-selfsign", "-keyfile", self.key,
                    "-in", csr, "-out", self.cert, "-notext", "-extensions", "ca_ext",
                    "-extfile", self.conf, "-startdate",
                    utc_stamp(datetime.timedelta(days=-3650)),
                    "-enddate", utc_stamp(datetime.timedelta(days=3650)), "-subj", f"/CN={cn}")
            self.above = []
        else:
            with parent._lock:
                openssl("ca", "-config", parent.conf, "-batch", "-in", csr, "-out", self.cert,
                        "-notext", "-extensions", "ca_ext", "-extfile", parent.conf,
                        "-startdate", utc_stamp(datetime.timedelta(days=-365)),
                        "-enddate", utc_stamp(datetime.timedelta(days=365)), "-subj", f"/CN={cn}")
            self.above = [parent.cert] + parent.above
        self.count = 0

    @property
    def thumbprint(self):
        return thumbprint(self.cert)

    def issue(self, cn, sans=None, eku="serverAuth,clientAuth", startdate=None, enddate=None,
              name=None, key=None):
        """A leaf signed by this CA; valid from an hour ago for 30 days unless dates
        (openssl ca format, or utc_stamp()) are given. key: reuse a key file."""
        with self._lock:
            self.count += 1
            name = name or f"{cn}-{self.count}"
        leaf = Leaf(self.dir, name)
        if key:
            with open(key) as src, open(leaf.key, "w") as dst:
                dst.write(src.read())
            os.chmod(leaf.key, 0o600)
        else:
            _new_key(leaf.key)
        csr = os.path.join(self.dir, f"{name}.csr")
        ext = os.path.join(self.dir, f"{name}.ext")
        openssl("req", "-config", self.conf, "-new", "-key", leaf.key, "-subj", f"/CN={cn}",
                "-out", csr)
        _ext_file(ext, sans if sans is not None else [cn], eku)
        startdate = startdate or utc_stamp(datetime.timedelta(hours=-1))
        enddate = enddate or utc_stamp(datetime.timedelta(days=30))
        with self._lock:
            openssl("ca", "-config", self.conf, "-batch", "-in", csr, "-out", leaf.cert,
                    "-notext", "-extfile", ext, "-extensions", "leaf", "-startdate", startdate,
                    "-enddate", enddate, "-subj", f"/CN={cn}")
        leaf.chain = [self.cert] + self.above
        leaf.write_bundle()
        return leaf

    def issue_expired(self, cn, sans=None, **kw):
        return self.issue(cn, sans, startdate=utc_stamp(datetime.timedelta(days=-30)),
                          enddate=utc_stamp(datetime.timedelta(days=-1)), **kw)

    def revoke(self, leaf):
        with self._lock:
            openssl("ca", "-config", self.conf, "-batch", "-revoke", leaf.cert,
                    "-crl_reason", "keyCompromise")

    def crl(self, name="ca.crl.pem"):
        """A CRL (PEM) of everything revoked so far."""
        path = os.path.join(self.dir, name)
        with self._lock:
            openssl("ca", "-config", self.conf, "-batch", "-gencrl", "-out", path)
        return path


def self_signed(directory, cn, sans=None, name=None, eku="serverAuth,clientAuth"):
    """A self-signed leaf (no CA behind it): its bundle is cert + key."""
    os.makedirs(directory, exist_ok=True)
    leaf = Leaf(directory, name or f"selfsigned-{cn}")
    _new_key(leaf.key)
    args = ["req", "-x509", "-new", "-key", leaf.key, "-subj", f"/CN={cn}", "-days", "30",
            "-out", leaf.cert, "-addext",
            "subjectAltName=" + ", ".join(f"DNS:{n}" for n in (sans or [cn]))]
    if eku:
        args += ["-addext", f"extendedKeyUsage={eku}"]
    openssl(*args)
    leaf.write_bundle()
    return leaf


class TwoDomains:
    """A test CA (in base) and the certificates of the two MTAs of the domain security
    tests: mail.a.test (also a.test) and mail.b.test (also b.test)."""

    def __init__(self, base):
        self.base = base
        self.ca = TestCA(base)
        self.a = self.ca.issue("mail.a.test", ["mail.a.test", "a.test"], name="a")
        self.b = self.ca.issue("mail.b.test", ["mail.b.test", "b.test"], name="b")
