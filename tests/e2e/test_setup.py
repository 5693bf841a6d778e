"""Instance setup: directories, default configuration, self-signed certificate."""
import os
import stat
import subprocess

from conftest import POSTERN


def openssl_text(path):
    return subprocess.run(["openssl", "x509", "-in", path, "-noout", "-text", "-dates",
                           "-subject"], capture_output=True, text=True, check=True).stdout


def test_setup_creates_instance_with_self_signed_certificate(instances):
    inst = instances("a", fqdn="mail.a.test")
    for sub in ("certs", "queue", "logs", "mail", "run"):
        assert os.path.isdir(os.path.join(inst.dir, sub))
    conf = os.path.join(inst.dir, "postern.conf")
    assert stat.S_IMODE(os.stat(conf).st_mode) == 0o600

    certs = os.listdir(os.path.join(inst.dir, "certs"))
    pems = [c for c in certs if c.endswith(".pem")]
    keys = [c for c in certs if c.endswith(".key")]
    assert len(pems) == 1 and len(keys) == 1
    key_path = os.path.join(inst.dir, "certs", keys[0])
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    text = openssl_text(os.path.join(inst.dir, "certs", pems[0]))
    assert "CN = mail.a.test" in text
    assert "DNS:mail.a.test" in text and "DNS:mail" in text
    # five years, as Exchange 2010's Setup
    years = [int(line.split()[-2]) for line in text.splitlines()
             if line.startswith(("notBefore=", "notAfter="))]
    assert years[1] - years[0] == 5
    # the thumbprint in the file name is the SHA-1 of the DER, as Exchange shows it
    fp = subprocess.run(["openssl", "x509", "-in", os.path.join(inst.dir, "certs", pems[0]),
                         "-noout", "-fingerprint", "-sha1"], capture_output=True, text=True,
                        check=True).stdout
    assert fp.strip().split("=")[1].replace(":", "") == pems[0][:-4]


def test_setup_default_connector_and_no_accepted_domain(instances):
    inst = instances("a", fqdn="mail.a.test")
    rcs = inst.get("Get-ReceiveConnector")
    assert len(rcs) == 1
    rc = rcs[0]
    assert rc["Name"] == "Default mail"
    assert f"127.0.0.1:{inst.port}" in rc["Bindings"]
    assert "Tls" in rc["AuthMechanism"]
    assert "AnonymousUsers" in rc["PermissionGroups"]
    assert inst.get("Get-AcceptedDomain") == []


def test_setup_refuses_existing_instance(instances):
    inst = instances("a")
    r = inst.run_cli("setup", "--fqdn", "other.test", check=False)
    assert r.returncode != 0
    assert "already" in r.stderr


def test_setup_rejects_bad_binding(workdir):
    r = subprocess.run([POSTERN, "-D", os.path.join(workdir, "x"), "setup", "--bind",
                        "127.0.0.1:99999"], capture_output=True, text=True)
    assert r.returncode == 2
    assert "99999" in r.stderr and "port" in r.stderr
