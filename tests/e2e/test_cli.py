"""The command line beyond single cmdlets: the shell (scripts on standard input) and
(Get-Credential) prompting on a terminal without echo."""
import os
import pty
import select
import subprocess
import time

from conftest import POSTERN


def test_shell_runs_a_script_and_stops_at_the_failing_line(instances):
    inst = instances("a")
    script = ("# a comment\n"
              "New-AcceptedDomain -DomainName 'b.test' -DomainType InternalRelay\n"
              "Set-ReceiveConnector \"Default mail\" -MaxMessageSize 20MB\n"
              "Set-ReceiveConnector \"Default mail\" -MaxMessageSize lots\n"
              "Get-AcceptedDomain\n")
    r = inst.run_cli("shell", input=script, check=False)
    assert r.returncode == 1
    assert "line 4: Set-ReceiveConnector failed" in r.stderr and "MaxMessageSize" in r.stderr
    # a script stops at its first failure: line 5 did not show b.test again
    assert r.stdout.count("DomainName : b.test") == 1, r.stdout
    rc = inst.get("Get-ReceiveConnector")[0]
    assert rc["MaxMessageSize"].startswith("20 MB")


def run_on_pty(args, answers, timeout=20):
    """Runs args on a pseudo-terminal, answering prompts in order; returns
    (exit status, everything the terminal showed)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(args[0], args)
    shown, pending = b"", list(answers)
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                break
            shown += chunk
            while pending and pending[0][0] in shown:
                os.write(fd, pending.pop(0)[1])
                shown += b"\x00"  # mark the answer so the same prompt is not matched twice
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
    if status is None or not os.WIFEXITED(status):
        _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.WEXITSTATUS(status), shown


def test_get_credential_prompts_without_echo(instances):
    inst = instances("a")
    inst.cmdlet("New-SendConnector", "-Name", "Out", "-AddressSpaces", "*", "-SmartHosts",
                "127.0.0.1", "-DNSRoutingEnabled", "$false", "-SmartHostAuthMechanism",
                "BasicAuthRequireTLS", "-AuthenticationCredential", "old:Old-Pw-1")
    status, shown = run_on_pty(
        [POSTERN, "-D", inst.dir, "Set-SendConnector", "Out", "-AuthenticationCredential",
         "(Get-Credential)"],
        [(b"User name: ", b"relayuser\n"), (b"Password: ", b"S3cret-Pw-9\n")])
    assert status == 0, shown
    assert b"relayuser" in shown  # the user name echoes
    assert b"S3cret-Pw-9" not in shown  # the password does not
    sc = inst.get("Get-SendConnector", "Out")[0]
    assert sc["AuthenticationCredential"] == "relayuser"
    with open(os.path.join(inst.dir, "postern.conf")) as f:
        assert "relayuser:S3cret-Pw-9" in f.read()


def test_get_credential_without_terminal_is_refused(instances):
    inst = instances("a")
    r = inst.run_cli("New-SendConnector", "-Name", "Out", "-AddressSpaces", "*",
                     "-AuthenticationCredential", "(Get-Credential)", check=False)
    assert r.returncode != 0 and "terminal" in r.stderr


def test_short_mailbox_password_is_refused(instances):
    inst = instances("a")
    inst.cmdlet("New-AcceptedDomain", "-Name", "a.test", "-DomainName", "a.test")
    r = inst.cmdlet("New-Mailbox", "-Name", "bob", "-PrimarySmtpAddress", "bob@a.test",
                    "-Password", "a", check=False)
    assert r.returncode != 0 and "at least 8 characters" in r.stderr, r.stderr
    assert inst.get("Get-Mailbox") == []
    inst.cmdlet("New-Mailbox", "-Name", "bob", "-PrimarySmtpAddress", "bob@a.test",
                "-Password", "Eight-ch")
    r = inst.cmdlet("Set-Mailbox", "bob", "-Password", "-", input="short\n", check=False)
    assert r.returncode != 0 and "at least 8 characters" in r.stderr, r.stderr


def test_open_relay_connector_is_warned_about_loudly(instances):
    """ExternalAuthoritative + ExchangeServers relays for anyone its ranges
    admit: for the whole internet, every cmdlet and the service say so."""
    inst = instances("a")
    r = inst.cmdlet("New-ReceiveConnector", "-Name", "Trusted", "-Usage", "Custom", "-Bindings",
                    "127.0.0.1:" + str(inst.port + 1 if inst.port < 65535 else 2),
                    "-RemoteIPRanges", "10.0.0.0/8", "-PermissionGroups", "ExchangeServers",
                    "-AuthMechanism", "Tls,ExternalAuthoritative")
    assert "OPEN RELAY" not in r.stderr  # a private range is what the setting is for
    r = inst.cmdlet("Set-ReceiveConnector", "Trusted", "-RemoteIPRanges", "0.0.0.0/0")
    assert "WARNING" in r.stderr and "OPEN RELAY" in r.stderr and '"Trusted"' in r.stderr, r.stderr
    # any later change repeats it while the danger stays
    r = inst.cmdlet("New-AcceptedDomain", "-Name", "a.test", "-DomainName", "a.test")
    assert "OPEN RELAY" in r.stderr
    inst.start()
    assert "OPEN RELAY" in inst.log()
