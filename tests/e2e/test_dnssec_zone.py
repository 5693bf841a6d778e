"""The signed DNS fixture (dnssec_zone.py) on its own, without postern.

unbound-host runs on libunbound, as postern does, configured as postern
configures it: forward everything to the fixture's server, trust only the
fixture's anchor, let "test." be resolved (an RFC 6761 default local zone
otherwise). What it reports (secure, insecure, BOGUS) is what postern's DANE
lookups will see:

  mx.dane.test, host.dane.test A, _25._tcp.host.dane.test TLSA   secure
  bad.dane.test A, _25._tcp.bad.dane.test TLSA                    BOGUS
  www.insecure.test A (a delegated child zone without DS)         insecure
  nope.test                                                        NXDOMAIN, secure
  example.com                                                      REFUSED by the server

tlsa_rdata() is checked against digests computed here from the certificate.
"""
import hashlib
import subprocess
import time

import pytest

from dnssec_zone import SignedDNS, tlsa_rdata
from peers import DNS_A, dns_query
from pki import TestCA, pem_to_der

UNBOUND_HOST = "/usr/bin/unbound-host"
REFUSED = 5


@pytest.fixture(scope="module")
def certs(pki_dir):
    ca = TestCA(pki_dir)
    return ca, ca.issue("host.dane.test", ["host.dane.test"])


def records(leaf_cert):
    return ["mx.dane.test. IN MX 10 host.dane.test.",
            "host.dane.test. IN A 127.0.0.1",
            f"_25._tcp.host.dane.test. IN TLSA {tlsa_rdata(leaf_cert, 3, 1, 1)}",
            "www.insecure.test. IN A 127.0.0.3"]


BOGUS = ["bad.dane.test. IN A 127.0.0.4",
         "_25._tcp.bad.dane.test. IN TLSA 3 1 1 " + "ab" * 32]


@pytest.fixture(scope="module")
def dns(tmp_path_factory, certs):
    base = tmp_path_factory.mktemp("dnssec")
    base.chmod(0o755)
    started = time.monotonic()
    with SignedDNS(str(base), records(certs[1].cert), bogus=BOGUS) as server:
        print(f"SignedDNS started in {time.monotonic() - started:.2f} s")
        yield server


def lookup(dns, name, qtype, anchor=None):
    """unbound-host's answer lines for name/qtype, validated with the trust anchor
    file anchor (default: the fixture's; False: none); each line ends in (secure),
    (insecure) or (BOGUS ...)."""
    conf = f"{dns.dir}/unbound-host.conf"
    with open(conf, "w") as f:
        f.write("server:\n"
                '  local-zone: "test." nodefault\n'
                "forward-zone:\n"
                '  name: "."\n'
                f"  forward-addr: {dns.server}\n")
    args = [UNBOUND_HOST, "-C", conf, "-v", "-t", qtype, name]
    if anchor is not False:
        args[1:1] = ["-f", anchor or dns.anchor]
    r = subprocess.run(args, capture_output=True, text=True, timeout=30)
    return [l for l in r.stdout.splitlines() if l.startswith((name, "Host "))]


def spki(cert):
    pem = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"],
                         capture_output=True, check=True).stdout
    return subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pem,
                          capture_output=True, check=True).stdout


def test_tlsa_rdata(certs):
    ca, leaf = certs
    assert tlsa_rdata(leaf.cert, 3, 1, 1) == "3 1 1 " + hashlib.sha256(spki(leaf.cert)).hexdigest()
    assert tlsa_rdata(leaf.cert, 3, 1, 2) == "3 1 2 " + hashlib.sha512(spki(leaf.cert)).hexdigest()
    assert tlsa_rdata(leaf.cert, 3, 1, 0) == "3 1 0 " + spki(leaf.cert).hex()
    assert tlsa_rdata(leaf.cert, 3, 0, 1) == \
        "3 0 1 " + hashlib.sha256(pem_to_der(leaf.cert)).hexdigest()
    assert tlsa_rdata(ca.cert, 2, 1, 1) == "2 1 1 " + hashlib.sha256(spki(ca.cert)).hexdigest()
    assert tlsa_rdata(ca.cert, 2, 0, 1) == \
        "2 0 1 " + hashlib.sha256(pem_to_der(ca.cert)).hexdigest()


def test_signed_records_are_secure(dns, certs):
    assert lookup(dns, "mx.dane.test", "MX") == \
        ["mx.dane.test mail is handled by 10 host.dane.test. (secure)"]
    assert lookup(dns, "host.dane.test", "A") == ["host.dane.test has address 127.0.0.1 (secure)"]
    digest = hashlib.sha256(spki(certs[1].cert)).hexdigest().upper()
    assert lookup(dns, "_25._tcp.host.dane.test", "TLSA") == \
        [f"_25._tcp.host.dane.test has TLSA record 3 1 1 {digest} (secure)"]


def test_bogus_records_fail_validation(dns):
    assert lookup(dns, "bad.dane.test", "A") == \
        ["bad.dane.test has address 127.0.0.4 (BOGUS (security failure))"]
    assert lookup(dns, "_25._tcp.bad.dane.test", "TLSA") == \
        ["_25._tcp.bad.dane.test has TLSA record 3 1 1 " + "AB" * 32 +
         " (BOGUS (security failure))"]
    # the rest of the zone still validates: only those RRsets are broken
    assert lookup(dns, "bad.dane.test", "AAAA") == ["bad.dane.test has no IPv6 address (secure)"]


def test_child_zone_without_ds_is_insecure(dns):
    assert lookup(dns, "www.insecure.test", "A") == \
        ["www.insecure.test has address 127.0.0.3 (insecure)"]
    assert lookup(dns, "nope.insecure.test", "A") == \
        ["Host nope.insecure.test not found: 3(NXDOMAIN). (insecure)"]


def test_missing_names_are_proven_absent(dns):
    assert lookup(dns, "nope.test", "A") == ["Host nope.test not found: 3(NXDOMAIN). (secure)"]
    assert lookup(dns, "host.dane.test", "TLSA") == \
        ["host.dane.test has no TLSA record (secure)"]


def test_validation_rests_on_the_anchor(dns, tmp_path):
    """secure comes from the anchor, not from anything the server says."""
    assert lookup(dns, "host.dane.test", "A", anchor=False) == \
        ["host.dane.test has address 127.0.0.1 (insecure)"]
    with open(dns.anchor) as f:
        ds = f.read().splitlines()[-1]
    wrong = tmp_path / "wrong.ds"
    wrong.write_text(ds[:-1] + ("0" if ds[-1] != "0" else "1") + "\n")
    assert lookup(dns, "host.dane.test", "A", anchor=str(wrong)) == \
        ["host.dane.test has address 127.0.0.1 (BOGUS (security failure))"]


def test_names_outside_the_zone_are_refused(dns):
    started = time.monotonic()
    assert dns_query(dns.port, "example.com", DNS_A) == (REFUSED, 0)
    assert time.monotonic() - started < 0.5
    # no query so far reached the iterator, the only part that could send one on
    assert dns.stats()["total.num.cachemiss"] == "0"


def test_replace_resigns_and_reloads(tmp_path, certs):
    tmp_path.chmod(0o755)
    with SignedDNS(str(tmp_path), ["host.dane.test. IN A 127.0.0.1"]) as dns:
        anchor = open(dns.anchor).read()
        dns.replace(["host.dane.test. IN A 127.0.0.9", "www.insecure.test. IN A 127.0.0.3"],
                    bogus=["bad.dane.test. IN TLSA 3 1 1 " + "cd" * 32])
        assert open(dns.anchor).read() == anchor
        assert lookup(dns, "host.dane.test", "A") == \
            ["host.dane.test has address 127.0.0.9 (secure)"]
        assert lookup(dns, "bad.dane.test", "TLSA")[0].endswith("(BOGUS (security failure))")
        assert lookup(dns, "www.insecure.test", "A") == \
            ["www.insecure.test has address 127.0.0.3 (insecure)"]
