"""The management console's server side, attacked with a plain HTTPS client
(Python's http.client over ssl): sign-in and its slowing, sessions, CSRF,
roles, the audit log, secrets kept out of command lines, uploads, and
malformed requests. The pages themselves are tested in a real browser
(tests/browser)."""
import base64
import concurrent.futures
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import time

import pytest

from conftest import POSTERN, SANITIZER_MARKERS, SLOW, free_port, wait_for
from pki import TestCA

PASSWORD = "correct horse 1"


class Console:
    """`postern -D DIR console` of an instance, and an HTTPS client for it."""

    def __init__(self, inst, port):
        self.inst, self.port = inst, port
        self.log_path = os.path.join(inst.dir, "..", f"console-{port}.log")
        self.proc = subprocess.Popen([POSTERN, "-D", inst.dir, "console"],
                                     stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT)
        wait_for(lambda: self.proc.poll() is not None or "serving" in self.log(),
                 what="the console to start")
        assert self.proc.poll() is None, self.log()
        self.ctx = ssl.create_default_context()
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20 * SLOW)
        log = self.log()
        assert not [m for m in SANITIZER_MARKERS if m in log], log
        return self.proc.returncode

    def request(self, method, path, body=None, cookie=None, csrf=None, raw=None, headers=None,
                source="127.0.0.1"):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx,
                                           timeout=30 * SLOW, source_address=(source, 0))
        h = dict(headers or {})
        if cookie:
            h["Cookie"] = cookie
        if csrf:
            h["X-CSRF-Token"] = csrf
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        text = r.read()
        conn.close()
        try:
            payload = json.loads(text)
        except ValueError:
            payload = text
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), payload

    def login(self, user="alice", password=PASSWORD, source="127.0.0.1"):
        status, headers, body = self.request("POST", "/api/login",
                                             {"user": user, "password": password}, source=source)
        cookie = headers.get("set-cookie", "").split(";")[0] if status == 200 else None
        return status, body, cookie

    def session(self, user="alice"):
        status, body, cookie = self.login(user)
        assert status == 200, body
        return cookie, body["csrf"]

    def cmdlet(self, cookie, csrf, name, **params):
        return self.request("POST", "/api/cmdlet", {"cmdlet": name, "params": params},
                            cookie=cookie, csrf=csrf)


@pytest.fixture
def console(instances):
    inst = instances("c", fqdn="mail.contoso.test")
    inst.cmdlet("New-AcceptedDomain", "-Name", "contoso.test", "-DomainName", "contoso.test")
    for name, role in (("alice", "OrgAdmin"), ("victor", "ViewOnlyAdmin"), ("bob", None)):
        inst.cmdlet("New-Mailbox", "-Name", name, "-PrimarySmtpAddress", f"{name}@contoso.test",
                    "-Password", "-", input=PASSWORD + "\n")
        if role:
            inst.cmdlet("Add-ExchangeAdministrator", "-Identity", name, "-Role", role)
    inst.start()
    for attempt in range(5):
        port = free_port()
        inst.cmdlet("Set-TransportConfig", "-ConsoleBindings", f"127.0.0.1:{port}",
                    "-ConsoleIdleTimeout", "00:00:05")
        try:
            c = Console(inst, port)
            break
        except AssertionError as e:
            # free_port's port can be taken before the console binds it (the
            # kernel gives it to another socket): another port, not a failure
            if "Address already in use" not in str(e) or attempt == 4:
                raise
    yield c
    assert c.stop() == 0


def test_sign_in_session_and_sign_out(console):
    status, body, cookie = console.login()
    assert status == 200 and body["user"] == "alice" and body["role"] == "OrgAdmin"
    assert body["server"] == {"fqdn": "mail.contoso.test", "name": "mail"}
    status, headers, _ = console.request("POST", "/api/login",
                                         {"user": "alice", "password": PASSWORD})
    attrs = [a.strip().lower() for a in headers["set-cookie"].split(";")]
    assert {"secure", "httponly", "samesite=strict", "path=/"} <= set(attrs)
    status, _, s = console.request("GET", "/api/session", cookie=cookie)
    assert status == 200 and s["csrf"] == body["csrf"]
    assert console.request("POST", "/api/logout", {}, cookie=cookie)[0] == 403  # no token
    assert console.request("POST", "/api/logout", {}, cookie=cookie, csrf=body["csrf"])[0] == 200
    assert console.request("GET", "/api/session", cookie=cookie)[0] == 401
    assert "alice signed in from 127.0.0.1" in console.log()
    assert "alice signed out" in console.log()


def test_wrong_password_is_slowed_and_logged(console):
    t0 = time.monotonic()
    status, body, _ = console.login(password="wrong password")
    first = time.monotonic() - t0
    assert status == 401 and body["error"] == "The user name or password is incorrect."
    assert first >= 0.45
    # a second try at once is refused without a check, whatever account it names
    status, body, _ = console.login(user="victor", password="another guess")
    assert status == 429 and "Too many failed sign-ins" in body["error"]
    # a missing account answers exactly as a wrong password does
    time.sleep(1.1)
    status, body, _ = console.login(user="nobody", password="x" * 9)
    assert status == 401 and body["error"] == "The user name or password is incorrect."
    # guesses sent side by side, for one account or several: one is checked, the others
    # are refused unchecked
    time.sleep(4.2)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(lambda i: console.login(user=("alice", "victor")[i % 2],
                                                           password=f"guess {i}")[0], range(6)))
    assert statuses == [401] + [429] * 5
    log = console.log()
    assert 'sign-in failed for "alice" from 127.0.0.1' in log
    assert "refused: too many failures" in log
    # the account's owner elsewhere is not locked out by these failures
    assert console.login(source="127.0.0.2")[0] == 200
    # however the account is typed, it is one account
    status, body, _ = console.login(user="ALICE@contoso.test", password="guess")
    assert status == 429
    # the right password after the wait works and clears the count
    time.sleep(8.2)
    assert console.login()[0] == 200
    # a user name that would write a line of its own into the log is refused
    assert console.login(user="x\ninfo console: alice signed in from 10.0.0.1")[0] == 400


def test_non_administrator_and_view_only(console):
    # a mailbox without the role: refused as a wrong password is (the log says why)
    status, body, _ = console.login(user="bob")
    assert status == 401 and body["error"] == "The user name or password is incorrect."
    assert '"bob" from 127.0.0.1 is not an Exchange administrator' in console.log()
    time.sleep(1.2)  # a refused sign-in slows this client like any failure
    cookie, csrf = console.session("victor")
    status, _, r = console.cmdlet(cookie, csrf, "Get-ReceiveConnector")
    assert status == 200 and r["ok"] and r["objects"][0]["Name"].startswith("Default")
    status, _, r = console.cmdlet(cookie, csrf, "New-AcceptedDomain", Name="x.test",
                                  DomainName="x.test")
    assert status == 403 and "ViewOnlyAdmin" in r["error"]
    assert "x.test" not in console.inst.cmdlet("Get-AcceptedDomain").stdout
    # a role taken away ends the session at its next request
    cookie, csrf = console.session("alice")
    console.inst.cmdlet("Remove-ExchangeAdministrator", "-Identity", "alice")
    assert console.request("GET", "/api/session", cookie=cookie)[0] == 401
    status, _, r = console.cmdlet(cookie, csrf, "Get-AcceptedDomain")
    assert status == 401


def test_connections_beyond_the_limit_wait(console):
    """64 connections at once; the next waits in the backlog (its handshake does not
    complete) until one of them closes."""
    held = []
    try:
        for _ in range(64):
            raw = socket.create_connection(("127.0.0.1", console.port), timeout=10)
            held.append(console.ctx.wrap_socket(raw))
        late = socket.create_connection(("127.0.0.1", console.port), timeout=10)
        late.settimeout(1.5)
        with pytest.raises((socket.timeout, TimeoutError)):
            console.ctx.wrap_socket(late)
        late.close()
        held.pop().close()
        time.sleep(0.3)
        assert console.request("GET", "/")[0] == 200
    finally:
        for s in held:
            s.close()
    time.sleep(0.5)
    assert console.request("GET", "/")[0] == 200


def test_sessions_of_one_user_do_not_end_anothers(console):
    alice, _ = console.session("alice")
    victor = [console.session("victor")[0] for _ in range(9)]
    assert console.request("GET", "/api/session", cookie=victor[0])[0] == 401  # its oldest
    assert all(console.request("GET", "/api/session", cookie=v)[0] == 200 for v in victor[1:])
    assert console.request("GET", "/api/session", cookie=alice)[0] == 200


def test_files_on_the_server_only_as_uploads(console):
    cookie, csrf = console.session()
    for name, params in (("Import-Certificate", {"FilePath": "/etc/passwd"}),
                         ("Import-ExchangeCertificate", {"FileN": "/etc/passwd"}),
                         ("Import-ExchangeCertificate", {"Path": "/etc/passwd"}),
                         ("New-ExchangeCertificate", {"GenerateRequest": True,
                                                      "SubjectName": "CN=x",
                                                      "RequestFile": "/tmp/console-x.req"})):
        status, _, r = console.cmdlet(cookie, csrf, name, **params)
        assert status == 400, (name, r)
    assert not os.path.exists("/tmp/console-x.req")
    # a huge "secret" for a cmdlet that never reads it cannot stall the console
    status, _, r = console.cmdlet(cookie, csrf, "Set-Mailbox", Identity="victor",
                                  Password="A" * 300000)
    assert status == 400
    status, _, r = console.cmdlet(cookie, csrf, "Set-Mailbox", Identity="victor",
                                  Passw="another long password")
    assert status == 200 and r["ok"], r
    assert r["command"] == "Set-Mailbox -Identity 'victor' -Password -"
    assert console.login(user="victor", password="another long password")[0] == 200


def test_idle_session_expires(console):
    cookie, csrf = console.session()
    time.sleep(3)
    assert console.request("GET", "/api/session", cookie=cookie)[0] == 200  # refreshed
    time.sleep(6)
    assert console.request("GET", "/api/session", cookie=cookie)[0] == 401
    assert console.cmdlet(cookie, csrf, "Get-AcceptedDomain")[0] == 401


def test_csrf_token_required_for_every_change(console):
    cookie, csrf = console.session()
    for token in (None, "", "0" * 64, csrf[:-1] + ("0" if csrf[-1] != "0" else "1")):
        status, _, r = console.cmdlet(cookie, token, "New-AcceptedDomain", Name="evil.test",
                                      DomainName="evil.test")
        assert status == 403, (token, r)
    assert "evil.test" not in console.inst.cmdlet("Get-AcceptedDomain").stdout
    # another session's token does not do either
    other_cookie, other_csrf = console.session()
    assert console.cmdlet(cookie, other_csrf, "Get-AcceptedDomain")[0] == 403
    assert "without the CSRF token refused" in console.log()
    # a page of another site (or a name rebound to this address) cannot post, even with
    # the token and the cookie; the console's own page can
    for origin in ("https://evil.example", "http://127.0.0.1:%d" % console.port, "null"):
        status, _, r = console.request("POST", "/api/cmdlet", {"cmdlet": "Get-AcceptedDomain"},
                                       cookie=cookie, csrf=csrf, headers={"Origin": origin})
        assert status == 403, (origin, r)
        assert console.request("POST", "/api/login", {"user": "alice", "password": PASSWORD},
                               headers={"Origin": origin})[0] == 403
    status, _, r = console.request("POST", "/api/cmdlet", {"cmdlet": "Get-AcceptedDomain"},
                                   cookie=cookie, csrf=csrf,
                                   headers={"Origin": "https://127.0.0.1:%d" % console.port})
    assert status == 200 and r["ok"]
    # a name rebound to this address is not this server's: nothing is served to it
    for host in ("evil.example", "evil.example:%d" % console.port, "mail.contoso.test.evil"):
        assert console.request("GET", "/", headers={"Host": host})[0] == 421, host
        assert console.request("GET", "/api/session", cookie=cookie,
                               headers={"Host": host})[0] == 421
    for host in ("localhost:1", "MAIL.contoso.test", "mail", "[::1]:%d" % console.port):
        assert console.request("GET", "/", headers={"Host": host})[0] == 200, host
    # no session at all
    assert console.cmdlet(None, csrf, "Get-AcceptedDomain")[0] == 401
    assert console.cmdlet("postern_session=" + "a" * 64, csrf, "Get-AcceptedDomain")[0] == 401


def test_change_is_a_cmdlet_and_audited_without_secrets(console):
    cookie, csrf = console.session()
    status, _, r = console.cmdlet(
        cookie, csrf, "New-SendConnector", Name="Smart <b>'host'</b>", Usage="Custom",
        AddressSpaces=["SMTP:*.contoso.com;1"], DNSRoutingEnabled=False,
        SmartHosts=["127.0.0.1"], SmartHostAuthMechanism="BasicAuthRequireTLS",
        AuthenticationCredential="relayuser:s3cret pass'word")
    assert status == 200 and r["ok"], r
    assert r["command"] == (
        "New-SendConnector -Name 'Smart <b>''host''</b>' -Usage 'Custom' "
        "-AddressSpaces 'SMTP:*.contoso.com;1' -DNSRoutingEnabled $false "
        "-SmartHosts '127.0.0.1' -SmartHostAuthMechanism 'BasicAuthRequireTLS' "
        "-AuthenticationCredential (Get-Credential)")
    # what the shell sees is what the console made, credential included
    sc = console.inst.get("Get-SendConnector", "Smart <b>'host'</b>")[0]
    assert sc["AuthenticationCredential"] == "relayuser"
    with open(os.path.join(console.inst.dir, "postern.conf")) as f:
        assert "relayuser:s3cret pass'word" in f.read()
    # a failing change is audited too, with the cmdlet's own message
    status, _, r = console.cmdlet(cookie, csrf, "Set-ReceiveConnector",
                                  Identity="no such connector", RequireTLS=True)
    assert status == 200 and not r["ok"] and "not found" in r["error"]
    status, _, audit = console.request("GET", "/api/audit", cookie=cookie)
    assert [(a["user"], a["ok"]) for a in audit[:2]] == [("alice", False), ("alice", True)]
    assert audit[0]["command"].startswith("Set-ReceiveConnector -Identity 'no such connector'")
    with open(os.path.join(console.inst.dir, "logs", "ConsoleAudit.log")) as f:
        text = f.read()
    assert "s3cret" not in text and "s3cret" not in console.log()
    assert "\talice\t127.0.0.1\tok\tNew-SendConnector -Name" in text
    # reads are not audited
    console.cmdlet(cookie, csrf, "Get-SendConnector")
    assert len(console.request("GET", "/api/audit", cookie=cookie)[2]) == 2


def test_values_cannot_become_command_text(console):
    cookie, csrf = console.session()
    hostile = ["x'; Remove-AcceptedDomain contoso.test; '", "-Identity", "$(Get-Queue)",
               "a | Remove-SendConnector", "`n"]
    for v in hostile:
        status, _, r = console.cmdlet(cookie, csrf, "New-AcceptedDomain", Name=v,
                                      DomainName="h.test")
        assert status == 200, r
    # quotes that would end the literal early make a second statement of the rest, which
    # would remove contoso.test after a first one that succeeds
    status, _, r = console.request("POST", "/api/cmdlet", {"cmdlet": "New-AcceptedDomain", "params": {
        "DomainName": "inj.test", "Name": "inj'; Remove-AcceptedDomain -Identity 'contoso.test"}},
        cookie=cookie, csrf=csrf)
    assert status == 200 and r["ok"], r
    domains = console.inst.get("Get-AcceptedDomain")
    assert "contoso.test" in [d["Name"] for d in domains]
    assert "inj'; Remove-AcceptedDomain -Identity 'contoso.test" in [d["Name"] for d in domains]
    for bad in ({"cmdlet": "Get-AcceptedDomain; Remove-AcceptedDomain contoso.test"},
                {"cmdlet": "Export-Csv"}, {"cmdlet": "Get-AcceptedDomain", "params": []},
                {"cmdlet": "Get-AcceptedDomain", "params": {"Identity; x": "a"}},
                {"cmdlet": "New-AcceptedDomain", "params": {"Name": "a\nb"}},
                {"cmdlet": "New-AcceptedDomain", "params": {"Name": {"x": 1}}}):
        status, _, r = console.request("POST", "/api/cmdlet", bad, cookie=cookie, csrf=csrf)
        assert status == 400, (bad, r)


def test_malformed_requests(console):
    cookie, csrf = console.session()
    for raw in (b"", b"{", b"[]", b'{"cmdlet": "Get-Queue", "cmdlet": "x"}', b"\xff\xfe"):
        status, _, r = console.request("POST", "/api/cmdlet", raw=raw, cookie=cookie, csrf=csrf)
        assert status == 400, (raw, r)
    # a body over the limit is refused from its Content-Length, before it is read
    with socket.create_connection(("127.0.0.1", console.port), timeout=10) as raw:
        tls = console.ctx.wrap_socket(raw)
        tls.sendall(b"POST /api/cmdlet HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                    % (3 * 1024 * 1024))
        assert tls.recv(4096).startswith(b"HTTP/1.1 413")
    assert console.request("PUT", "/api/cmdlet", {}, cookie=cookie, csrf=csrf)[0] == 501
    assert console.request("GET", "/static/../postern.conf")[0] == 404
    assert console.request("GET", "/static/%2e%2e/postern.conf")[0] == 404
    assert console.request("GET", "/api/audit")[0] == 401
    status, headers, page = console.request("GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    # plain HTTP on the HTTPS port gets nothing served
    with socket.create_connection(("127.0.0.1", console.port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        s.settimeout(10)
        try:
            data = s.recv(4096)
        except (ConnectionResetError, socket.timeout):
            data = b""
        assert b"200 OK" not in data
    # a client that leaves in the middle of a sign-in does not harm the console
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", console.port), timeout=10) as raw:
            tls = console.ctx.wrap_socket(raw)
            body = json.dumps({"user": "alice", "password": "wrong"}).encode()
            tls.sendall(b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                        % (len(body), body))
    time.sleep(1.5)
    assert console.proc.poll() is None
    assert console.request("GET", "/api/session", cookie=cookie)[0] == 200


def test_uploaded_certificate_is_imported(console, pki_dir):
    cookie, csrf = console.session()
    with open(TestCA(pki_dir).cert, "rb") as f:
        pem = f.read()
    status, _, r = console.cmdlet(cookie, csrf, "Import-Certificate",
                                  FilePath={"upload": base64.b64encode(pem).decode(),
                                            "name": "partner-ca.cer"},
                                  CertStoreLocation="Cert:\\LocalMachine\\Root")
    assert status == 200 and r["ok"], r
    assert r["command"] == ("Import-Certificate -FilePath 'partner-ca.cer' "
                            "-CertStoreLocation 'Cert:\\LocalMachine\\Root'")
    roots = os.listdir(os.path.join(console.inst.dir, "certs", "root"))
    assert roots, "the root was not imported"
    assert not [d for d in os.listdir("/tmp") if d.startswith("postern-console-")
                and os.path.exists(os.path.join("/tmp", d, "upload"))]
    status, _, r = console.cmdlet(cookie, csrf, "Import-Certificate",
                                  FilePath={"upload": "not base64!", "name": "x"})
    assert status == 400


def test_exchange_administrator_cmdlets(instances):
    inst = instances("adm", fqdn="mail.contoso.test")
    inst.cmdlet("New-AcceptedDomain", "-Name", "contoso.test", "-DomainName", "contoso.test")
    inst.cmdlet("New-Mailbox", "-Name", "carol", "-PrimarySmtpAddress", "carol@contoso.test")
    # a mailbox without a password could never sign in: no role for it
    r = inst.cmdlet("Add-ExchangeAdministrator", "-Identity", "carol", "-Role", "OrgAdmin",
                    check=False)
    assert r.returncode == 1 and 'Mailbox "carol" has no password' in r.stderr
    inst.cmdlet("Set-Mailbox", "carol", "-Password", "-", input=PASSWORD + "\n")
    r = inst.cmdlet("Add-ExchangeAdministrator", "carol", "-Role", "ServerAdmin", check=False)
    assert r.returncode == 2 and "ServerAdmin has no meaning" in r.stderr
    assert inst.cmdlet("Add-ExchangeAdministrator", "carol", check=False).returncode == 2
    inst.cmdlet("Add-ExchangeAdministrator", "-Identity", "carol@contoso.test", "-Role",
                "ViewOnlyAdmin")
    assert inst.get("Get-ExchangeAdministrator") == [
        {"Identity": "carol", "PrimarySmtpAddress": "carol@contoso.test",
         "Role": "ViewOnlyAdmin"}]
    # Set-Mailbox cannot grant it: only these cmdlets do
    r = inst.cmdlet("Set-Mailbox", "carol", "-ExchangeAdministratorRole", "OrgAdmin", check=False)
    assert r.returncode == 2
    r = inst.cmdlet("Remove-ExchangeAdministrator", "carol", "-Role", "OrgAdmin", check=False)
    assert r.returncode == 1 and "has the role ViewOnlyAdmin, not OrgAdmin" in r.stderr
    inst.cmdlet("Remove-ExchangeAdministrator", "carol")
    assert inst.cmdlet("Get-ExchangeAdministrator").stdout == ""
    assert inst.get("Get-Mailbox", "carol")[0]["ExchangeAdministratorRole"] == "None"
    r = inst.cmdlet("Remove-ExchangeAdministrator", "carol", check=False)
    assert r.returncode == 1 and "not an Exchange administrator" in r.stderr


def test_certificate_request_and_the_cas_answer(console, pki_dir):
    """EMC's certificate request: the request comes back as text to download, the CA's
    answer is uploaded, and the certificate can then be enabled for SMTP."""
    cookie, csrf = console.session()
    status, _, r = console.cmdlet(cookie, csrf, "New-ExchangeCertificate", GenerateRequest=True,
                                  SubjectName="CN=mail.contoso.test",
                                  DomainName=["mail.contoso.test"])
    assert status == 200 and r["ok"], r
    assert r["text"].startswith("-----BEGIN CERTIFICATE REQUEST-----")
    csr = os.path.join(pki_dir, "console.csr")
    with open(csr, "w") as f:
        f.write(r["text"])
    ca = TestCA(pki_dir, name="answer-ca")
    answer = os.path.join(pki_dir, "console-answer.pem")
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key,
                    "-days", "30", "-copy_extensions", "copy", "-out", answer], check=True,
                   capture_output=True)
    with open(answer, "rb") as f:
        data = base64.b64encode(f.read()).decode()
    status, _, r = console.cmdlet(cookie, csrf, "Import-ExchangeCertificate",
                                  FileName={"upload": data, "name": "certnew.cer"})
    assert status == 200 and r["ok"], r
    assert r["command"] == "Import-ExchangeCertificate -FileName 'certnew.cer'"
    status, _, r = console.cmdlet(cookie, csrf, "Get-ExchangeCertificate")
    issued = [c for c in r["objects"] if c["Issuer"].endswith("Postern Test Root CA")]
    assert len(issued) == 1 and issued[0]["Status"] != "PendingRequest", r["objects"]
    assert not [c for c in r["objects"] if c["Status"] == "PendingRequest"]
    status, _, r = console.cmdlet(cookie, csrf, "Enable-ExchangeCertificate",
                                  Thumbprint=issued[0]["Thumbprint"], Services="SMTP")
    assert status == 200 and r["ok"], r
