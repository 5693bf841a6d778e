"""The command language as an Exchange administrator types it (issue 9): the
seed's lines unchanged, PowerShell's syntax forms on the command line (split into
words or as one argument) and in `postern shell`, the pipeline commands, and one
clear line for what is not supported. Each change is checked with Get- output or
the file itself; a refused line leaves postern.conf byte for byte as it was."""
import csv
import json
import os
import pty
import re
import select
import socket
import subprocess
import time

import pytest

from conftest import POSTERN, SANITIZER_MARKERS
from peers import Unbound

SEED_LINE = "Set-TransportConfig -TLSReceiveDomainSecureList contoso.com, contoso.net"


@pytest.fixture
def inst(instances):
    i = instances("a")
    i.cmdlet("New-ReceiveConnector", "-Name", "Partners", "-Usage", "Custom", "-Bindings",
             "127.0.0.1:2526", "-RemoteIPRanges", "192.0.2.0/24")
    return i


def conf(inst):
    with open(f"{inst.dir}/postern.conf", "rb") as f:
        return f.read()


def shell(inst, script, check=True):
    r = inst.run_cli("shell", input=script, check=False)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def domain_secure_list(inst):
    return inst.get("Get-TransportConfig")[0]["TLSReceiveDomainSecureList"]


@pytest.mark.parametrize("how", ["words", "one argument", "shell"])
def test_the_seed_line_runs_as_written(inst, how):
    if how == "words":  # as typed at a POSIX prompt without quotes
        inst.cmdlet(*SEED_LINE.split(" "))
    elif how == "one argument":
        inst.cmdlet(SEED_LINE)
    else:
        shell(inst, SEED_LINE + "\n")
    assert domain_secure_list(inst) == "{contoso.com, contoso.net}"


@pytest.mark.parametrize("value", [
    "contoso.com,contoso.net", "contoso.com , contoso.net", '"contoso.com","contoso.net"',
    "'contoso.com', 'contoso.net'", '@("contoso.com","contoso.net")',
    "@('contoso.com'\n  'contoso.net')", "contoso.com,`\n  contoso.net", "contoso.com,\n contoso.net",
])
def test_every_list_form(inst, value):
    shell(inst, f"Set-TransportConfig -TLSReceiveDomainSecureList {value}\n")
    assert domain_secure_list(inst) == "{contoso.com, contoso.net}"


def test_parameter_forms_quotes_and_positional_identity(inst):
    shell(inst, "\n".join([
        "# comments and blank lines are skipped",
        "",
        "Set-ReceiveConnector \"Partners\" -RequireTLS:$true -Enabled:$false  # trailing comment",
        "set-receiveconnector -identity 'Partners' -Banner '220 costs $5; no `escape'",
        "Set-ReceiveConnector Partners -Comment \"say `\"hi`\" \"\"quoted\"\"\"; "
        "Set-ReceiveConnector Partners -MaxMessageSize 20MB",
    ]) + "\n")
    rc = inst.get("Get-ReceiveConnector", "Partners")[0]
    assert rc["RequireTLS"] == "True" and rc["Enabled"] == "False"
    assert rc["Banner"] == "220 costs $5; no `escape"
    assert rc["MaxMessageSize"].startswith("20 MB")
    out = inst.cmdlet("Get-ReceiveConnector Partners | Select-Object Comment").stdout
    assert out.strip() == 'Comment : say "hi" "quoted"'


def test_multi_valued_update(inst):
    inst.cmdlet("Set-ReceiveConnector", "Partners", "-RemoteIPRanges",
                '@{Add="10.0.0.0/8","172.16.0.0/12"; Remove="192.0.2.0/24"}')
    assert inst.get("Get-ReceiveConnector", "Partners")[0]["RemoteIPRanges"] == \
        "{10.0.0.0/8, 172.16.0.0/12}"
    shell(inst, "Set-ReceiveConnector Partners -RemoteIPRanges @{\n"
                "  Remove = '10.0.0.0/8'\n}\n")
    assert inst.get("Get-ReceiveConnector", "Partners")[0]["RemoteIPRanges"] == "{172.16.0.0/12}"


def test_format_list_and_table(inst):
    out = inst.cmdlet("Get-ReceiveConnector | fl Name,Bindings").stdout
    assert out.splitlines() == ["Name     : Default mail", f"Bindings : {{{bindings(inst)}}}", "",
                                "Name     : Partners", "Bindings : {127.0.0.1:2526}"]
    out = inst.cmdlet("Get-ReceiveConnector", "|", "Format-Table", "Name,RequireTLS",
                      "-AutoSize").stdout.splitlines()
    assert out[0].split() == ["Name", "RequireTLS"] and set(out[1]) <= {"-", " "}
    assert out[2].split() == ["Default", "mail", "False"]
    assert out[3].split() == ["Partners", "False"]
    every = inst.cmdlet("Get-TransportConfig | fl *").stdout
    assert every == inst.cmdlet("Get-TransportConfig").stdout


def bindings(inst):
    return inst.get("Get-ReceiveConnector", "Default mail")[0]["Bindings"].strip("{}")


def test_select_where_and_pipe_into_set(inst):
    out = inst.cmdlet("Get-ReceiveConnector | Where-Object {$_.RemoteIPRanges -contains "
                      "'192.0.2.0/24'} | Select-Object Name").stdout
    assert out.strip() == "Name : Partners"
    out = inst.cmdlet("Get-ReceiveConnector | ? Name -like 'part*' | select Name").stdout
    assert out.strip() == "Name : Partners"
    out = inst.cmdlet("Get-ReceiveConnector | where {$_.MaxMessageSize -gt 5MB -and "
                      "-not ($_.Name -eq 'Partners')} | select Name").stdout
    assert out.strip() == "Name : Default mail"
    # every connector, changed through the pipeline by its Identity
    inst.cmdlet("Get-ReceiveConnector | Set-ReceiveConnector -RequireTLS $true")
    assert [r["RequireTLS"] for r in inst.get("Get-ReceiveConnector")] == ["True", "True"]
    out = inst.cmdlet("Get-ReceiveConnector | Where-Object {$_.RequireTLS -eq $false}").stdout
    assert out == ""


def test_json_and_csv_for_scripts(inst, tmp_path):
    data = json.loads(inst.cmdlet("Get-ReceiveConnector | Select-Object Name,Enabled,"
                                  "RemoteIPRanges,MaxRecipientsPerMessage | ConvertTo-Json").stdout)
    assert data[1] == {"Name": "Partners", "Enabled": True, "RemoteIPRanges": ["192.0.2.0/24"],
                       "MaxRecipientsPerMessage": 200}
    path = f"{inst.dir}/connectors.csv"  # cmdlets run with the instance owner's rights
    inst.cmdlet(f"Get-ReceiveConnector | Select-Object Name,Bindings | Export-Csv -Path {path} "
                "-NoTypeInformation")
    rows = list(csv.DictReader(open(path, newline="")))
    assert [r["Name"] for r in rows] == ["Default mail", "Partners"]
    assert rows[1]["Bindings"] == "{127.0.0.1:2526}"


@pytest.mark.parametrize("line,says", [
    ("Set-ReceiveConnector Partners -Comment $x", "variables are not supported"),
    ('Set-ReceiveConnector Partners -Comment "costs $price"', "use '...'"),
    ("Get-ReceiveConnector | ForEach-Object {$_.Name}", "ForEach-Object: unknown cmdlet"),
    ("fl Name", "works on objects from a pipeline"),
    ("Get-ReceiveConnector | fl | ft", "cannot be piped on"),
    ("Get-ReceiveConnector | Where-Object {$_.Name.Length -gt 3}", "only $_.Property"),
    ("Get-ReceiveConnector | Where-Object {Get-Date}", "Where-Object:"),
    ("Get-ReceiveConnector Partners | Set-ReceiveConnector Partners -Enabled $false",
     "takes its Identity from the pipeline"),
    ("Set-ReceiveConnector Partners -Comment 'unterminated", "no closing '"),
    ("Set-ReceiveConnector Partners -Comment (Get-Date)", "only (Get-Credential)"),
])
def test_what_is_not_supported_says_so_and_changes_nothing(inst, line, says):
    before = conf(inst)
    r = inst.cmdlet(line, check=False)
    assert r.returncode == 2, r.stderr
    errors = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(errors) == 1 and says in errors[0], r.stderr
    assert conf(inst) == before


def test_a_script_stops_at_its_first_failure_with_the_line(inst):
    before = conf(inst)
    r = shell(inst, "Get-AcceptedDomain\n"
                    "Set-ReceiveConnector Partners `\n"
                    "  -MaxMessageSize lots\n"
                    "Set-ReceiveConnector Partners -Enabled $false\n", check=False)
    assert r.returncode == 1
    assert "line 2: Set-ReceiveConnector failed" in r.stderr
    assert conf(inst) == before  # line 4 did not run
    r = shell(inst, "Get-AcceptedDomain\nSet-ReceiveConnector Partners -Comment 'open\n",
              check=False)
    assert r.returncode == 2 and "line 2, column" in r.stderr


@pytest.mark.parametrize("line,says", [
    ("Set-ReceiveConnector Partners -RequireTLS $true -Banner '220 hi' -WhatIf",
     ['What if: ReceiveConnector "Partners": Banner: $null -> 220 hi',
      'What if: ReceiveConnector "Partners": RequireTLS: False -> True']),
    ("New-AcceptedDomain c.test -DomainName c.test -DomainType InternalRelay -WhatIf",
     ['What if: creating AcceptedDomain "c.test"']),
    ("Remove-ReceiveConnector Partners -WhatIf", ['What if: removing ReceiveConnector "Partners"']),
    (SEED_LINE + " -WhatIf",
     ["What if: TransportConfig: TLSReceiveDomainSecureList: {} -> {contoso.com, contoso.net}"]),
    ("Get-ReceiveConnector | Set-ReceiveConnector -MaxMessageSize 20MB -WhatIf",
     ['What if: ReceiveConnector "Default mail": MaxMessageSize: 10 MB (10,485,760 bytes) -> '
      '20 MB (20,971,520 bytes)',
      'What if: ReceiveConnector "Partners": MaxMessageSize: 10 MB (10,485,760 bytes) -> '
      '20 MB (20,971,520 bytes)']),
    ("Set-ReceiveConnector Partners -Enabled $true -WhatIf", ["What if: nothing would change"]),
    ("Remove-Message 'a\\1' -WhatIf", ['What if: Remove-Message "a\\1" would run; nothing was '
                                       'changed.']),
])
def test_whatif_says_what_would_change_and_changes_nothing(inst, line, says):
    path = f"{inst.dir}/postern.conf"
    before, stat = conf(inst), os.stat(path)
    out = inst.cmdlet(line).stdout.splitlines()
    for s in says:
        assert s in out, out
    assert all(l.startswith("What if:") or l.startswith("(-WhatIf") for l in out), out
    assert conf(inst) == before and os.stat(path).st_mtime_ns == stat.st_mtime_ns


def test_whatif_still_refuses_a_bad_value_and_get_has_no_whatif(inst):
    r = inst.cmdlet("Set-ReceiveConnector Partners -MaxMessageSize lots -WhatIf", check=False)
    assert r.returncode == 1 and "MaxMessageSize" in r.stderr and "What if" not in r.stdout
    r = inst.cmdlet("Get-ReceiveConnector -WhatIf", check=False)
    assert r.returncode == 2 and "WhatIf: unknown parameter" in r.stderr


def test_remove_asks_on_a_terminal_unless_confirm_false(inst):
    from test_cli import run_on_pty
    cmd = [POSTERN, "-D", inst.dir, "Remove-ReceiveConnector", "Partners"]
    status, shown = run_on_pty(cmd, [(b"(default is \"Y\"):", b"n\n")])
    assert status == 0 and b"Are you sure you want to perform this action?" in shown
    assert [r["Name"] for r in inst.get("Get-ReceiveConnector")] == ["Default mail", "Partners"]
    status, shown = run_on_pty(cmd, [(b"(default is \"Y\"):", b"y\n")])
    assert status == 0
    assert [r["Name"] for r in inst.get("Get-ReceiveConnector")] == ["Default mail"]
    status, shown = run_on_pty([POSTERN, "-D", inst.dir, "Remove-ReceiveConnector",
                                "Default mail", "-Confirm:$false"], [])
    assert status == 0 and b"Are you sure" not in shown
    assert inst.get("Get-ReceiveConnector") == []


def test_get_service_and_restart_service_as_the_seed_ends(inst):
    def status():
        return inst.get("Get-Service", "MSExchangeTransport")[0]["Status"]

    assert status() == "Stopped"
    r = inst.cmdlet("Restart-Service MSExchangeTransport", check=False)
    assert r.returncode == 1 and "not running" in r.stderr
    inst.start()
    assert status() == "Running"
    assert inst.get("Get-Service postern")[0]["Status"] == "Running"
    r = inst.cmdlet("Restart-Service", "MSExchangeTransport")
    assert "reloaded" in r.stdout
    assert inst.cmdlet("Restart-Service nosuch", check=False).returncode == 1


def cmdlets(inst):
    return [o["Name"] for o in inst.get("Get-Command")]


def test_get_command_lists_every_cmdlet_and_filters(inst):
    names = cmdlets(inst)
    assert "Set-ReceiveConnector" in names and "Get-Help" in names and len(names) >= 30
    assert [o["Name"] for o in inst.get("Get-Command", "-Noun", "ReceiveConnector")] == [
        "New-ReceiveConnector", "Set-ReceiveConnector", "Get-ReceiveConnector",
        "Remove-ReceiveConnector", "Test-ReceiveConnector"]
    assert {o["Name"] for o in inst.get("Get-Command Set-*Connector")} == {
        "Set-ReceiveConnector", "Set-SendConnector"}
    assert all(o["Verb"] == "Remove" for o in inst.get("Get-Command -Verb remove"))


def test_help_covers_every_cmdlet_and_parameter_the_binder_takes(inst):
    """Every cmdlet has a synopsis, a syntax and a meaning for each parameter;
    each parameter Get-Help lists is one the binder resolves, by its name and by
    a prefix that help shows is unique."""
    for name in cmdlets(inst):
        out = inst.cmdlet("Get-Help", name).stdout
        assert out.startswith(f"NAME\n    {name}\n\nSYNOPSIS\n"), out[:200]
        assert "\nSYNTAX\n    " + name in out
        params = re.findall(r"^    -(\w+)(?: <([^>]+)>)?\n        (\S.*)$", out, re.M)
        assert params or name in ("Get-Queue",), name
        for pname, ptype, meaning in params:
            assert meaning.strip(), f"{name} -{pname} has no meaning"
            one = inst.cmdlet("Get-Help", name, "-Parameter", pname).stdout
            assert one.startswith(f"    -{pname}"), one
    # the seed's parameters, with their table's values and defaults
    out = inst.cmdlet("Get-Help Set-ReceiveConnector -Parameter RequireTLS").stdout
    assert "-RequireTLS <Boolean>" in out and "Default: False" in out
    out = inst.cmdlet("Get-Help Set-ReceiveConnector -Parameter AuthMechanism").stdout
    assert "Values: None, Tls," in out and "Alias: AuthenticationMechanism" in out
    out = inst.cmdlet("Get-Help Set-TransportConfig -Examples").stdout
    assert "PS> Set-TransportConfig -TLSReceiveDomainSecureList contoso.com, contoso.net" in out
    r = inst.cmdlet("Get-Help Set-Nothing", check=False)
    assert r.returncode == 1 and "Get-Command lists them" in r.stderr


def test_parameter_prefixes_and_aliases(inst):
    inst.cmdlet("Set-ReceiveConnector -iden Partners -RequireT $true -AuthenticationMechanism TLS")
    rc = inst.get("Get-ReceiveConnector", "Partners")[0]
    assert rc["RequireTLS"] == "True" and rc["AuthMechanism"] == "Tls"
    before = conf(inst)
    r = inst.cmdlet("Set-ReceiveConnector Partners -Max 5", check=False)
    assert r.returncode == 2 and "-Max is ambiguous: it may be MaxMessageSize" in r.stderr
    assert conf(inst) == before


def test_the_seeds_first_line_runs_as_written(inst):
    inst.cmdlet("Set-ReceiveConnector  -identity  Partners -RequireTLS $true "
                "-AuthenticationMechanism TLS")
    rc = inst.get("Get-ReceiveConnector", "Partners")[0]
    assert rc["RequireTLS"] == "True" and rc["AuthMechanism"] == "Tls"


def shell_on_pty(inst, keys, pause=0.4):
    """Types keys (a list of byte strings, one write each) into `postern shell`
    on a pseudo-terminal; returns (exit status, what the terminal showed)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm"
        os.execv(POSTERN, [POSTERN, "-D", inst.dir, "shell"])
    shown = b""

    def pump(seconds):
        nonlocal shown
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    return
                if not chunk:
                    return
                shown += chunk

    pump(1)
    for k in keys:
        os.write(fd, k)
        pump(pause)
    pump(1)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        pump(0.2)
    else:
        os.kill(pid, 9)
        _, status = os.waitpid(pid, 0)
    os.close(fd)
    report = [m for m in SANITIZER_MARKERS if m.encode() in shown]
    assert not report, shown.decode(errors="replace")
    return os.WEXITSTATUS(status), shown


def test_interactive_shell_completes_remembers_and_survives_ctrl_c(inst):
    # a cmdlet, an identity (quoted, it has a blank), a parameter, a value
    status, shown = shell_on_pty(inst, [
        b"Set-Recei\t", b"Def\t", b"-RequireT\t", b"$true\n",
        b"Set-ReceiveConnector Partners -ProtocolLoggingLevel Verb\t\n",
        b"Remove-ReceiveConnector Partners", b"\x03",  # Ctrl-C drops the line
        b"Set-ReceiveConnector Partners -Comment 'from history'\n",
        b"Set-Mailbox x -Password 'not kept'\n",
        b"exit\n"])
    assert status == 0, shown
    assert b"[PS] a> " in shown  # the prompt names the instance
    rc = {r["Name"]: r for r in inst.get("Get-ReceiveConnector")}
    assert rc["Default mail"]["RequireTLS"] == "True"
    assert rc["Partners"]["ProtocolLoggingLevel"] == "Verbose"  # and not removed
    history = f"{inst.dir}/shell_history"
    assert os.stat(history).st_mode & 0o777 == 0o600
    with open(history, "rb") as f:
        kept = f.read()
    assert b"not\\040kept" not in kept and b"Password" not in kept
    # a second session recalls the last line with the Up arrow
    inst.cmdlet("Set-ReceiveConnector", "Partners", "-Comment", "changed")
    status, shown = shell_on_pty(inst, [b"\x1b[A", b"\n", b"exit\n"])
    assert status == 0, shown
    assert inst.get("Get-ReceiveConnector", "Partners")[0]["Comment"] == "from history"


def test_error_action_continue_lets_a_script_go_on(inst):
    r = shell(inst, "Set-ReceiveConnector Partners -MaxMessageSize lots -ErrorAction Continue\n"
                    "Set-ReceiveConnector Partners -Comment 'after the failure'\n", check=False)
    assert r.returncode == 1  # the script still says that something failed
    assert "line 1: Set-ReceiveConnector failed" in r.stderr
    assert inst.get("Get-ReceiveConnector", "Partners")[0]["Comment"] == "after the failure"


THREE_LINES = ("Get-AcceptedDomain\n"
               "Set-ReceiveConnector Partners -MaxMessageSize lots\n"
               "Set-ReceiveConnector Partners -Comment 'line 3 ran'\n")


def comment(inst):
    return inst.get("Get-ReceiveConnector", "Partners")[0].get("Comment")


def test_a_script_stops_at_a_failing_line_without_error_action(inst):
    r = inst.run_cli("shell", input=THREE_LINES, check=False)
    assert r.returncode == 1
    assert "line 2: Set-ReceiveConnector failed" in r.stderr
    assert comment(inst) != "line 3 ran"


@pytest.mark.parametrize("options", [
    ["-ErrorAction", "Continue"], ["-ea", "Continue"], ["-ErrorAction:Continue"],
    ["-erroraction", "continue"], ["-EA:CONTINUE"], ["-ErrorAction", "SilentlyContinue"],
])
def test_shell_error_action_continue_runs_every_line(inst, options):
    r = inst.run_cli("shell", *options, input=THREE_LINES, check=False)
    assert r.returncode == 1, r.stderr  # the script still says that something failed
    assert "line 2: Set-ReceiveConnector failed" in r.stderr
    assert comment(inst) == "line 3 ran"


def test_shell_error_action_continue_goes_past_a_line_it_cannot_read(inst):
    r = inst.run_cli("shell", "-ErrorAction", "Continue", check=False, input=(
        "Get-AcceptedDomain\n"
        "Set-ReceiveConnector Partners }\n"
        "Set-ReceiveConnector Partners -MaxMessageSize lots\n"
        "Set-ReceiveConnector Partners -Comment 'line 4 ran'\n"))
    assert r.returncode == 2, r.stderr  # the first failure's status: a usage error
    assert "line 2, column" in r.stderr
    assert "line 3: Set-ReceiveConnector failed" in r.stderr
    assert comment(inst) == "line 4 ran"


@pytest.mark.parametrize("options", [[], ["-ErrorAction", "Continue"], ["-ea", "Stop"]])
def test_a_script_that_succeeds_exits_0(inst, options):
    r = inst.run_cli("shell", *options, check=False, input=(
        "Get-AcceptedDomain\nSet-ReceiveConnector Partners -Comment 'all ran'\n"))
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert comment(inst) == "all ran"


def test_shell_error_action_stop_is_the_default(inst):
    r = inst.run_cli("shell", "-ErrorAction:Stop", input=THREE_LINES, check=False)
    assert r.returncode == 1
    assert "line 2: Set-ReceiveConnector failed" in r.stderr
    assert comment(inst) != "line 3 ran"


@pytest.mark.parametrize("options,says", [
    (["-Verbose"], "unknown option '-Verbose'"),
    (["Continue"], "unknown option 'Continue'"),
    (["-ErrorAction"], "-ErrorAction needs a value"),
    (["-ea:"], "-ea needs a value"),
    (["-ErrorAction", "Inquire"], "-ErrorAction Inquire: not supported"),
])
def test_a_bad_shell_option_exits_2_and_runs_nothing(inst, options, says):
    before = conf(inst)
    r = inst.run_cli("shell", *options, check=False,
                     input="Set-ReceiveConnector Partners -Comment 'ran'\n")
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("postern: shell: ") and says in lines[0]
    assert conf(inst) == before


def test_test_receive_connector_explains_the_choice_the_service_makes(inst):
    local = f"{inst.host}:{inst.port}"
    inst.cmdlet("New-ReceiveConnector", "-Name", "Trusted host", "-Usage", "Custom", "-Bindings",
                local, "-RemoteIPRanges", "127.0.0.2", "-PermissionGroups",
                "AnonymousUsers,ExchangeServers", "-AuthMechanism", "Tls,ExternalAuthoritative",
                "-Banner", "220 trusted host connector")
    out = inst.get("Test-ReceiveConnector", "-RemoteIPAddress", "127.0.0.2", "-LocalEndPoint",
                   local)[0]
    assert out["Connector"] == "Trusted host"
    assert "range 127.0.0.2" in out["Why"]
    assert "Default mail: matches, but less specifically" in out["Considered"]
    assert "Partners: no binding matches the local endpoint" in out["Considered"]
    assert out["AnonymousMayRelay"] == "True"  # ExternalAuthoritative: relay for everyone there
    other = inst.get(f"Test-ReceiveConnector -RemoteIPAddress 127.0.0.3 -LocalEndPoint {local}")[0]
    assert other["Connector"] == "Default mail"
    assert other["AnonymousMaySubmit"] == "True" and other["AnonymousMayRelay"] == "False"
    assert other["AuthenticatedMayRelay"] == "True"
    none = inst.get("Test-ReceiveConnector -RemoteIPAddress 10.0.0.1 -LocalEndPoint 10.9.9.9:25")
    assert none[0]["Connector"].startswith("(none")
    # the service chooses the same: its greeting is the chosen connector's
    inst.start()

    def greeting(source):
        with socket.create_connection((inst.host, inst.port), timeout=10,
                                      source_address=(source, 0)) as sock:
            return sock.recv(512)

    assert greeting("127.0.0.2") == b"220 trusted host connector\r\n"
    assert b"trusted host" not in greeting("127.0.0.3")


@pytest.fixture
def contoso_dns(workdir):
    """contoso.com's MX on a loopback resolver: Test-MailRoute looks it up."""
    zone = ["contoso.com. IN MX 10 mx1.contoso.com.", "mx1.contoso.com. IN A 127.0.0.5"]
    with Unbound(workdir, zone, zones=(("contoso.com.", "static"), ("test.", "static"))) as ub:
        yield ub


def test_test_mail_route_explains_connector_choice_and_policy(inst, contoso_dns):
    # a private resolver without DNSSEC (no root keys to validate contoso.com
    # with): a deployment like that turns DANE off, or its answers all fail
    inst.cmdlet("Set-TransportConfig", "-ExternalDNSServers", contoso_dns.server,
                "-UseExternalDNSServersEnabled", "$true", "-DaneEnabled", "$false")
    inst.cmdlet("New-AcceptedDomain", "a.test", "-DomainName", "a.test")
    inst.cmdlet("New-Mailbox", "-Name", "alice", "-PrimarySmtpAddress", "alice@a.test",
                "-Password", "Secret-1234")
    inst.cmdlet("New-SendConnector", "-Name", "To Contoso", "-Usage", "Partner", "-AddressSpaces",
                "contoso.com")
    inst.cmdlet("New-SendConnector", "-Name", "Out", "-AddressSpaces", "*", "-SmartHosts",
                "relay.isp.test", "-DNSRoutingEnabled:$false", "-MaxMessageSize", "1MB")
    inst.cmdlet(SEED_LINE.replace("Receive", "Send"))  # TLSSendDomainSecureList
    r = inst.get("Test-MailRoute -Recipient bob@contoso.com")[0]
    assert r["Route"] == 'Send connector "To Contoso" (DNS: the MX of the domain)'
    assert "To Contoso: chosen (address space contoso.com" in r["Considered"]
    assert "Out: a more specific address space wins" in r["Considered"]
    assert r["Hosts"] == "{MX of contoso.com}" and r["Port"] == "25"
    assert r["Addresses"] == "mx1.contoso.com[127.0.0.5]"
    assert r["Tls"].startswith("required") and "mutual TLS" in r["Tls"]
    assert r["CertificateNames"] == "{contoso.com}"
    r = inst.get("Test-MailRoute -Recipient x@other.org -Sender a@a.test")[0]
    assert r["Route"] == 'Send connector "Out" (smart hosts)' and r["Hosts"] == "{relay.isp.test}"
    assert "relay.isp.test" in r["Addresses"] and "127." not in r["Addresses"]
    assert r["Tls"].startswith("opportunistic")
    # too big for Out: nothing takes it
    r = inst.get("Test-MailRoute -Recipient x@other.org -MessageSize 2000000")[0]
    assert r["Route"].startswith("the Unreachable queue")
    assert "Out: its MaxMessageSize is smaller than the message" in r["Considered"]
    assert inst.get("Test-MailRoute -Recipient alice@a.test")[0]["Route"] == \
        "local delivery to the Maildir of alice"
    assert "550 5.1.1" in inst.get("Test-MailRoute -Recipient nobody@a.test")[0]["Route"]


def test_man_pages_cover_every_cmdlet_and_every_setting(inst):
    """postern(8) and postern.conf(5), written by the binary from the same tables,
    render with man -l and name every cmdlet and every configuration parameter."""
    pages = {}
    for section in ("8", "5"):
        roff = subprocess.run([POSTERN, "--man", section], capture_output=True, check=True).stdout
        page = os.path.join(inst.dir, f"page.{section}")
        with open(page, "wb") as f:
            f.write(roff)
        r = subprocess.run(["man", "-l", "-P", "cat", page], capture_output=True, text=True,
                           env={**os.environ, "MANWIDTH": "100"}, check=True)
        assert "warning" not in r.stderr.lower(), r.stderr
        pages[section] = r.stdout
    for name in cmdlets(inst):
        assert f"\n   {name}\n" in pages["8"], name
    assert "Set-TransportConfig -TLSReceiveDomainSecureList contoso.com, contoso.net" in pages["8"]
    for kind in ("TransportConfig", "ReceiveConnector", "SendConnector", "AcceptedDomain",
                 "Mailbox"):
        assert f"\n{kind}\n" in pages["5"], kind
    conf_text = conf(inst).decode()
    for param in re.findall(r"^(\w+) = ", conf_text, re.M):
        assert re.search(rf"^       {param}\b", pages["5"], re.M), param
