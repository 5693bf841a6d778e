"""Configuration mistakes: a hand-edited postern.conf that is wrong stops `run` with one
line naming the file, the line and the parameter; a cmdlet given a bad value says which
parameter and changes nothing; cmdlet syntax ($true/$false, -Param:value, aliases); and
mailbox passwords are kept only as yescrypt hashes, in a private file, never shown."""
import os
import stat
import subprocess
import warnings

import pytest

from conftest import POSTERN, SLOW, free_port


def conf_path(inst):
    return os.path.join(inst.dir, "postern.conf")


def conf_bytes(inst):
    with open(conf_path(inst), "rb") as f:
        return f.read()


@pytest.fixture
def inst(instances):
    i = instances("a")
    i.cmdlet("New-AcceptedDomain", "-Name", "a.test", "-DomainName", "a.test")
    return i


def line_of(text, needle):
    """1-based number of the line that starts with needle."""
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith(needle):
            return n
    raise AssertionError(f"{needle!r} not in postern.conf")


# ---- hand-edited postern.conf ------------------------------------------------------------

def edit_unknown_parameter(text, port):
    text = text.replace("MaxHopCount = 30\n", "MaxHopCount = 30\nFrobnicate = 1\n", 1)
    return text, [line_of(text, "Frobnicate")], ["Frobnicate"]


def edit_bad_size(text, port):
    old = "MaxMessageSize = 10 MB (10,485,760 bytes)\n"
    assert old in text
    text = text.replace(old, "MaxMessageSize = lots\n")
    return text, [line_of(text, "MaxMessageSize")], ["MaxMessageSize", "lots"]


def edit_bad_timespan(text, port):
    text = text.replace("ConnectionInactivityTimeout = 00:05:00\n",
                        "ConnectionInactivityTimeout = soon\n")
    return text, [line_of(text, "ConnectionInactivityTimeout")], ["ConnectionInactivityTimeout"]


def edit_bad_bool(text, port):
    text = text.replace("RequireTLS = False\n", "RequireTLS = perhaps\n")
    return text, [line_of(text, "RequireTLS")], ["RequireTLS"]


def edit_unknown_section(text, port):
    text += '\n[SendConnectr "Outbound"]\nAddressSpaces = *\n'
    return text, [line_of(text, "[SendConnectr")], ["SendConnectr"]


def edit_overlapping_ranges(text, port):
    old = ("RemoteIPRanges = 0.0.0.0-255.255.255.255, "
           "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\n")
    assert old in text
    text = text.replace(old, "RemoteIPRanges = 127.0.0.0/24\n")
    text += (f'\n[ReceiveConnector "Second"]\nBindings = 127.0.0.1:{port}\n'
             "RemoteIPRanges = 127.0.0.128-127.0.1.5\nPermissionGroups = AnonymousUsers\n")
    lines = [n for n, l in enumerate(text.splitlines(), 1) if l.startswith("RemoteIPRanges")]
    return text, lines, ["RemoteIPRanges", "Default mail", "Second"]


@pytest.mark.parametrize("edit", [edit_unknown_parameter, edit_bad_size, edit_bad_timespan,
                                  edit_bad_bool, edit_unknown_section, edit_overlapping_ranges],
                         ids=lambda f: f.__name__[5:])
def test_bad_hand_edit_stops_run_with_file_and_line(inst, edit):
    text, lines, words = edit(conf_bytes(inst).decode(), inst.port)
    with open(conf_path(inst), "w") as f:
        f.write(text)
    proc = subprocess.Popen([POSTERN, "-D", inst.dir, "run"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=5 * SLOW)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("postern run started (or hung) on a broken postern.conf")
    assert proc.returncode != 0
    located = [l for l in (out + err).splitlines()
               if any(f"postern.conf:{n}:" in l for n in lines)]
    assert len(located) == 1, f"expected one line naming postern.conf:{lines}:\n{out}{err}"
    for w in words:
        assert w in located[0], f"{w!r} not in {located[0]!r}"
    # and the file is left as the administrator wrote it
    assert conf_bytes(inst).decode() == text


# ---- cmdlets with bad values -------------------------------------------------------------

@pytest.mark.parametrize("args,param", [
    (["-MaxMessageSize", "abc"], "MaxMessageSize"),
    (["-MaxMessageSize", "1KB"], "MaxMessageSize"),  # below Exchange's 64 KB minimum
    (["-Bindings", "1.2.3.4:0"], "Bindings"),
    (["-Bindings", "127.0.0.1"], "Bindings"),
    (["-Bindings", "127.0.0.1:70000"], "Bindings"),
    (["-RemoteIPRanges", "10.0.0.0/33"], "RemoteIPRanges"),
    (["-RemoteIPRanges", "10.0.0.9-10.0.0.1"], "RemoteIPRanges"),
    (["-RemoteIPRanges", "10.0.0.0(255.0.255.0)"], "RemoteIPRanges"),
    (["-Foo", "1"], "Foo"),
    (["-RequireTLS", "maybe"], "RequireTLS"),
    (["-ConnectionInactivityTimeout", "00:00:00"], "ConnectionInactivityTimeout"),
    (["-PermissionGroups", "Everybody"], "PermissionGroups"),
    (["-Banner", "Welcome"], "Banner"),
    (["-Banner", "220 fine", "-MaxMessageSize", "abc"], "MaxMessageSize"),  # nothing half-set
])
def test_cmdlet_bad_value_names_parameter_and_changes_nothing(inst, args, param):
    before = conf_bytes(inst)
    shown = inst.get("Get-ReceiveConnector", "Default mail")
    r = inst.cmdlet("Set-ReceiveConnector", "Default mail", *args, check=False)
    assert r.returncode != 0
    errors = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(errors) == 1, r.stderr
    assert param in errors[0], errors[0]
    assert conf_bytes(inst) == before
    assert inst.get("Get-ReceiveConnector", "Default mail") == shown


def test_new_receive_connector_bad_value_creates_nothing(inst):
    before = conf_bytes(inst)
    r = inst.cmdlet("New-ReceiveConnector", "-Name", "Broken", "-Usage", "Custom", "-Bindings",
                    f"127.0.0.1:{free_port()}", "-RemoteIPRanges", "10.0.0.0/33", check=False)
    assert r.returncode != 0 and "RemoteIPRanges" in r.stderr
    assert conf_bytes(inst) == before
    assert [o["Name"] for o in inst.get("Get-ReceiveConnector")] == ["Default mail"]


# ---- cmdlet syntax -------------------------------------------------------------------------

def rc_field(inst, field):
    return inst.get("Get-ReceiveConnector", "Default mail")[0][field]


def test_booleans_colon_syntax_and_alias(inst):
    inst.cmdlet("Set-ReceiveConnector", "Default mail", "-Enabled:$false")
    assert rc_field(inst, "Enabled") == "False"
    inst.cmdlet("Set-ReceiveConnector", "-Identity", "Default mail", "-Enabled", "$true")
    assert rc_field(inst, "Enabled") == "True"
    inst.cmdlet("Set-ReceiveConnector", "Default mail", "-RequireTLS", "$true")
    assert rc_field(inst, "RequireTLS") == "True"
    inst.cmdlet("Set-ReceiveConnector", "Default mail", "-RequireTLS:false")
    assert rc_field(inst, "RequireTLS") == "False"
    inst.cmdlet("Set-ReceiveConnector", "Default mail", "-RequireTLS", "true")
    assert rc_field(inst, "RequireTLS") == "True"
    inst.cmdlet("Set-ReceiveConnector", "Default mail", "-MaxMessageSize:20MB",
                "-Banner:220 Colon ready")
    assert rc_field(inst, "MaxMessageSize").startswith("20 MB")
    assert rc_field(inst, "Banner") == "220 Colon ready"
    # -AuthenticationMechanism is Exchange's alias of -AuthMechanism
    inst.cmdlet("Set-ReceiveConnector", "Default mail", "-AuthenticationMechanism", "Tls")
    assert rc_field(inst, "AuthMechanism") == "Tls"
    inst.cmdlet("Set-ReceiveConnector", "Default mail", "-AuthenticationMechanism:Tls,BasicAuth")
    assert rc_field(inst, "AuthMechanism") == "Tls, BasicAuth"
    # the alias and the name together is one parameter given twice
    before = conf_bytes(inst)
    r = inst.cmdlet("Set-ReceiveConnector", "Default mail", "-AuthMechanism", "Tls",
                    "-AuthenticationMechanism", "Tls", check=False)
    assert r.returncode != 0 and "AuthMechanism" in r.stderr
    assert conf_bytes(inst) == before


# ---- mailbox passwords ---------------------------------------------------------------------

def files_under(top):
    for d, _, names in os.walk(top):
        for n in names:
            p = os.path.join(d, n)
            if os.path.isfile(p) and not os.path.islink(p):
                yield p


def password_hash_of(inst, name):
    section, found = f'[Mailbox "{name}"]', None
    in_section = False
    for line in conf_bytes(inst).decode().splitlines():
        if line.startswith("["):
            in_section = line == section
        elif in_section and line.startswith("PasswordHash"):
            found = line.split("=", 1)[1].strip().strip('"')
    assert found, f"no PasswordHash for {name}"
    return found


def crypt_check(password, hashed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    return crypt.crypt(password, hashed) == hashed


def test_mailbox_password_is_stored_as_yescrypt_hash_only(inst):
    plain = "Plain-Text-Pw-77"
    r = inst.cmdlet("New-Mailbox", "-Name", "bob", "-PrimarySmtpAddress", "bob@a.test",
                    "-Password", plain)
    assert plain not in r.stdout + r.stderr and "$y$" not in r.stdout + r.stderr
    # read from standard input with -Password -
    r = inst.cmdlet("New-Mailbox", "-Name", "carol", "-PrimarySmtpAddress", "carol@a.test",
                    "-Password", "-", input="Stdin-Pw-42\n")
    assert "Stdin-Pw-42" not in r.stdout + r.stderr

    bob, carol = password_hash_of(inst, "bob"), password_hash_of(inst, "carol")
    assert bob.startswith("$y$") and carol.startswith("$y$")
    assert crypt_check(plain, bob) and not crypt_check("plain-text-pw-77", bob)
    assert crypt_check("Stdin-Pw-42", carol)

    holders = [p for p in files_under(inst.dir) if b"$y$" in open(p, "rb").read()]
    assert holders, "the hash is stored nowhere"
    for p in holders:
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, f"{p} is readable by others"
    for p in files_under(inst.dir):
        data = open(p, "rb").read()
        assert b"Plain-Text-Pw-77" not in data and b"Stdin-Pw-42" not in data, p

    for args in ((), ("bob",), ("-Identity", "carol")):
        out = inst.cmdlet("Get-Mailbox", *args).stdout
        assert "$y$" not in out and "PasswordHash" not in out and plain not in out
    boxes = inst.get("Get-Mailbox")
    assert [(b["Name"], b["PrimarySmtpAddress"]) for b in boxes] == [
        ("bob", "bob@a.test"), ("carol", "carol@a.test")]


def test_changing_a_password_replaces_the_hash(inst):
    inst.cmdlet("New-Mailbox", "-Name", "bob", "-PrimarySmtpAddress", "bob@a.test",
                "-Password", "First-Pw-1")
    first = password_hash_of(inst, "bob")
    inst.cmdlet("Set-Mailbox", "bob", "-Password", "Second-Pw-2")
    second = password_hash_of(inst, "bob")
    assert second.startswith("$y$") and second != first
    assert crypt_check("Second-Pw-2", second) and not crypt_check("First-Pw-1", second)
    # a mailbox without a usable password value is refused, not stored empty
    before = conf_bytes(inst)
    r = inst.cmdlet("Set-Mailbox", "bob", "-Password", "-", input="\n", check=False)
    assert r.returncode != 0 and "Password" in r.stderr
    assert conf_bytes(inst) == before
