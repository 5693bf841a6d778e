"""The TLS grade of a Receive connector as testssl.sh (Debian package testssl.sh) sees it.

One scan of a test instance's STARTTLS on loopback with the default
TlsCipherProfile (Intermediate): protocols (-p), cipher categories (-s),
forward secrecy (-f) and the vulnerability checks (-U), read back from
testssl's flat JSON. It takes about a minute and a half, most of it testssl's
own start-up and per-check process spawning, so there is exactly one scan.

Must never: scan anything but the instance it started on 127.0.0.1, or let
testssl look anything up or phone out (--nodns none, no --phone-out).
"""
import json
import os
import shutil
import subprocess

import pytest

from conftest import ASAN, SLOW

TESTSSL = shutil.which("testssl") or "/usr/bin/testssl"

# Severities testssl gives findings, weakest first; from LOW up is a finding
# an auditor reports.
SEVERE = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
# Findings of LOW or above that this test accepts, with the reason. Empty:
# with the default profile nothing is tolerated.
TOLERATED = {}


def why_testssl_unusable():
    """None when testssl.sh can run here, else why not."""
    if not os.access(TESTSSL, os.X_OK):
        return "testssl.sh is not installed (Debian package testssl.sh, see `make deps`)"
    r = subprocess.run([TESTSSL, "--version"], capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or "testssl" not in r.stdout:
        return f"testssl.sh does not run: {r.stdout}{r.stderr}"
    return None


def scan(port, directory):
    """Runs testssl.sh against 127.0.0.1:port with STARTTLS; returns {id: finding dict}."""
    out = os.path.join(directory, "testssl.json")
    cmd = [TESTSSL, "--quiet", "--color", "0", "--warnings", "off", "--nodns", "none",
           "--starttls", "smtp", "-p", "-s", "-f", "-U", "--jsonfile", out,
           f"127.0.0.1:{port}"]
    r = subprocess.run(cmd, cwd=directory, capture_output=True, text=True,
                       timeout=300 * SLOW, env=dict(os.environ, TERM="dumb"))
    assert os.path.exists(out), f"testssl wrote no JSON ({r.returncode}):\n{r.stdout}{r.stderr}"
    with open(out) as f:
        findings = json.load(f)
    by_id = {f["id"]: f for f in findings}
    fatal = [f for f in findings if f.get("severity") == "FATAL"]
    assert not fatal, f"testssl could not scan: {fatal}\n{r.stdout}"
    return by_id, r.stdout


@pytest.mark.skipif(ASAN, reason="the grade depends on the TLS settings, not on memory safety: "
                    "the plain run checks it, the sanitized run would only repeat 80 s of scanning")
def test_default_profile_grade(instances, workdir):
    why = why_testssl_unusable()
    if why:
        pytest.skip(why)
    inst = instances("a").start()
    found, text = scan(inst.port, workdir)

    def finding(fid):
        assert fid in found, f"testssl reported no {fid}:\n{text}"
        return found[fid]["finding"]

    # Protocols: TLS 1.2 and 1.3, nothing older.
    for old in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        assert finding(old).startswith("not offered"), f"{old}: {finding(old)}"
    assert finding("TLS1_2").startswith("offered")
    assert finding("TLS1_3").startswith("offered")

    # Cipher categories: only "strong" (AEAD) suites.
    for weak in ("NULL", "aNULL", "EXPORT", "LOW", "3DES_IDEA", "AVERAGE"):
        fid = f"cipherlist_{weak}"
        assert finding(fid).startswith("not offered"), f"{fid}: {finding(fid)}\n{text}"
    assert finding("cipherlist_STRONG").startswith("offered")

    # Forward secrecy ("PFS" in testssl 3.0, "FS" from 3.1 on).
    fs = "FS" if "FS" in found else "PFS"
    assert finding(fs).startswith("offered"), f"{fs}: {finding(fs)}"
    assert found[fs]["severity"] == "OK"

    # No finding of any check at LOW or above (LUCKY13, BEAST, ROBOT,
    # SWEET32, ... all "not vulnerable").
    severe = {fid: f"{f['severity']}: {f['finding']}" for fid, f in found.items()
              if f.get("severity") in SEVERE and fid not in TOLERATED}
    assert not severe, f"testssl findings:\n{json.dumps(severe, indent=1)}\n{text}"
    for vuln in ("heartbleed", "CCS", "ROBOT", "secure_client_renego", "CRIME_TLS",
                 "POODLE_SSL", "fallback_SCSV", "SWEET32", "FREAK", "DROWN", "LOGJAM",
                 "BEAST", "LUCKY13", "RC4"):
        assert found.get(vuln, {}).get("severity") == "OK", f"{vuln}: {found.get(vuln)}"
