"""Receive connectors: which connector serves a connection (local binding, then the most
specific RemoteIPRanges entry), the RemoteIPRanges syntaxes, disabled connectors, clients
that no connector accepts, overlapping ranges, connection limits, Usage presets and
permission groups (docs/exchange-model.md).

Each connector gets its own Banner ("220 <name> ready"), so the banner a client sees says
which connector answered; where mail is sent, the Received: header must name it too."""
import base64
import os
import socket
import time

import pytest

from conftest import (SLOW, RawSMTP, banner, client_context, finish_transaction, free_port,
                      message, open_transaction, queue_id_from_reply, stored, wait_for)

ALL_IPV4 = "0.0.0.0-255.255.255.255"


@pytest.fixture
def inst(instances):
    """An instance (not started) that accepts mail for a.test, with mailbox alice@a.test;
    its default connector answers with the banner "220 Default ready"."""
    i = instances("a")
    i.cmdlet("New-AcceptedDomain", "-Name", "a.test", "-DomainName", "a.test")
    i.cmdlet("New-Mailbox", "-Name", "alice", "-PrimarySmtpAddress", "alice@a.test",
             "-Password", "Secret-1234")
    i.cmdlet("Set-ReceiveConnector", "Default mail", "-Banner", "220 Default ready")
    return i


def new_connector(inst, name, bindings, ranges, *extra, check=True):
    return inst.cmdlet("New-ReceiveConnector", "-Name", name, "-Usage", "Custom",
                       "-Bindings", bindings, "-RemoteIPRanges", ranges,
                       "-PermissionGroups", "AnonymousUsers", "-Banner", f"220 {name} ready",
                       *extra, check=check)


def served_by(host, port, source=None):
    text = banner(host, port, source)
    assert text.startswith("220"), f"{source} -> {host}:{port}: {text}"
    return text


def send_one(host, port, source=None, subject="via connector"):
    """One whole transaction from source; returns the queue id."""
    return finish_transaction(open_transaction(host, port, source=source), subject)


def ranges_shown(inst, name):
    text = inst.get("Get-ReceiveConnector", name)[0]["RemoteIPRanges"]
    assert text.startswith("{") and text.endswith("}"), text
    return [r.strip() for r in text[1:-1].split(",")]


def refused(host, port, source=None):
    try:
        s = socket.create_connection((host, port), timeout=2,
                                     source_address=(source, 0) if source else None)
    except ConnectionRefusedError:
        return True
    s.close()
    return False


# ---- selection by remote address ---------------------------------------------------------

def test_most_specific_remote_range_wins(inst):
    # Exchange's example (docs/exchange-model.md): all / a /24 / one host on one binding
    binding = f"127.0.0.1:{inst.port}"
    new_connector(inst, "Host", binding, "127.0.0.75")
    new_connector(inst, "Net", binding, "127.0.0.0/24")
    inst.start()
    assert served_by(inst.host, inst.port, "127.0.0.75") == "220 Host ready"
    assert served_by(inst.host, inst.port, "127.0.0.74") == "220 Net ready"
    assert served_by(inst.host, inst.port, "127.0.0.100") == "220 Net ready"
    assert served_by(inst.host, inst.port, "127.0.0.1") == "220 Net ready"
    assert served_by(inst.host, inst.port, "127.0.1.1") == "220 Default ready"
    # the session really runs on that connector, not just its banner
    qid = send_one(inst.host, inst.port, "127.0.0.75")
    head = stored(inst, qid)
    assert b'connector "Host"' in head and b"[127.0.0.75]" in head
    qid = send_one(inst.host, inst.port, "127.0.1.1")
    assert b'connector "Default mail"' in stored(inst, qid)


def test_remote_ip_range_forms(inst):
    binding = f"127.0.0.1:{inst.port}"
    new_connector(inst, "Single", binding, "127.0.0.2")
    new_connector(inst, "Cidr", binding, "127.0.1.0/24")
    new_connector(inst, "Mask", binding, "127.0.2.0(255.255.255.0)")
    new_connector(inst, "Span", binding, "127.0.3.10-127.0.3.20")
    # classful default mask: 127.0.0.0 is a class A network with a zero host part: /8
    new_connector(inst, "Classful", binding, "127.0.0.0")
    assert ranges_shown(inst, "Single") == ["127.0.0.2"]
    assert ranges_shown(inst, "Cidr") == ["127.0.1.0/24"]
    assert ranges_shown(inst, "Mask")[0] in ("127.0.2.0/24", "127.0.2.0(255.255.255.0)")
    assert ranges_shown(inst, "Span") == ["127.0.3.10-127.0.3.20"]
    assert ranges_shown(inst, "Classful") == ["127.0.0.0/8"]
    inst.start()
    expect = {
        "127.0.0.2": "Single",
        "127.0.0.3": "Classful",  # a single IP is one host only
        "127.0.1.0": "Cidr",
        "127.0.1.255": "Cidr",
        "127.0.2.0": "Mask",
        "127.0.2.200": "Mask",
        "127.0.3.9": "Classful",
        "127.0.3.10": "Span",
        "127.0.3.15": "Span",
        "127.0.3.20": "Span",
        "127.0.3.21": "Classful",
        "127.200.1.1": "Classful",
    }
    got = {src: served_by(inst.host, inst.port, src) for src in expect}
    assert got == {src: f"220 {name} ready" for src, name in expect.items()}


def test_classful_default_mask_shown_by_get(inst):
    inst.cmdlet("Set-ReceiveConnector", "Default mail", "-RemoteIPRanges",
                "10.0.0.0,10.1.2.3,172.16.0.0,172.16.5.0,192.168.1.0,192.168.1.7,"
                "127.0.0.0(255.255.255.0)")
    shown = ranges_shown(inst, "Default mail")
    assert shown[:6] == ["10.0.0.0/8", "10.1.2.3", "172.16.0.0/16", "172.16.5.0",
                         "192.168.1.0/24", "192.168.1.7"]
    assert shown[6] in ("127.0.0.0/24", "127.0.0.0(255.255.255.0)")
    # and it is kept that way in postern.conf (a restart reads the same thing)
    with open(os.path.join(inst.dir, "postern.conf")) as f:
        conf = f.read()
    assert "10.0.0.0/8, 10.1.2.3, 172.16.0.0/16, 172.16.5.0, 192.168.1.0/24" in conf


# ---- selection by local binding ----------------------------------------------------------

def wildcard_and_specific(inst):
    port = free_port()
    new_connector(inst, "Spec", f"127.0.0.1:{port}", "127.0.0.0/24")
    new_connector(inst, "Wild", f"0.0.0.0:{port}", ALL_IPV4)
    new_connector(inst, "WildHost", f"0.0.0.0:{port}", "127.0.0.7")
    inst.start()
    return port


def test_specific_binding_beats_wildcard(inst):
    port = wildcard_and_specific(inst)
    # to 127.0.0.1: the connector bound to 127.0.0.1 wins over the 0.0.0.0 one
    assert served_by("127.0.0.1", port, "127.0.0.5") == "220 Spec ready"
    # its ranges do not hold the client: the wildcard connectors serve it
    assert served_by("127.0.0.1", port, "127.0.1.5") == "220 Wild ready"
    # another local address: only the wildcard binding matches
    assert served_by("127.0.0.2", port, "127.0.0.5") == "220 Wild ready"
    assert served_by("127.0.0.2", port, "127.0.0.7") == "220 WildHost ready"


def test_local_binding_is_matched_before_remote_range(inst):
    # docs/exchange-model.md: the most specific local binding first, then the most specific
    # remote range: WildHost's range (one host) is narrower than Spec's, but Spec is bound to
    # the very address the client called.
    port = wildcard_and_specific(inst)
    assert served_by("127.0.0.1", port, "127.0.0.7") == "220 Spec ready"


def test_ipv6_binding(inst):
    port = free_port("::1")
    new_connector(inst, "Six", f"[::1]:{port}", "::1")
    new_connector(inst, "SixWide", f"[::1]:{port}", "::/16")
    assert ranges_shown(inst, "Six") == ["::1"]
    inst.start()
    assert served_by("::1", port) == "220 Six ready"
    qid = send_one("::1", port)
    head = stored(inst, qid)
    assert b'connector "Six"' in head and b"::1" in head
    # an IPv6 binding does not listen on IPv4
    assert refused("127.0.0.1", port)


def test_disabled_connector_is_not_used(inst):
    new_connector(inst, "Host", f"127.0.0.1:{inst.port}", "127.0.0.2", "-Enabled", "$false")
    other = free_port()
    new_connector(inst, "Off", f"127.0.0.1:{other}", ALL_IPV4, "-Enabled:$false")
    assert inst.get("Get-ReceiveConnector", "Host")[0]["Enabled"] == "False"
    inst.start()
    assert served_by(inst.host, inst.port, "127.0.0.2") == "220 Default ready"
    # a disabled connector's own port is not even listened on
    assert refused("127.0.0.1", other)


def test_client_matching_no_connector_is_refused_554(inst):
    inst.cmdlet("Set-ReceiveConnector", "Default mail", "-RemoteIPRanges", "127.0.0.1")
    inst.start()
    raw = RawSMTP(inst.host, inst.port, source="127.0.0.9")
    code, text = raw.reply()
    assert code == 554 and b"5.7.1" in text
    assert raw.closed(), "the refused client was not disconnected"
    raw.close()
    # the log says who was refused, and why
    lines = [l for l in inst.log().splitlines() if "127.0.0.9" in l]
    assert lines, "nothing about the refused client in the log"
    assert any("connector" in l.lower() for l in lines), lines
    # a client in range is still served
    assert served_by(inst.host, inst.port, "127.0.0.1") == "220 Default ready"


# ---- overlapping ranges -------------------------------------------------------------------

def test_partially_overlapping_ranges_refused_naming_both(inst):
    conf_path = os.path.join(inst.dir, "postern.conf")
    port = free_port()
    binding = f"127.0.0.1:{port}"
    new_connector(inst, "Alpha", binding, "127.0.0.0/24")
    with open(conf_path, "rb") as f:
        before = f.read()

    r = new_connector(inst, "Bravo", binding, "127.0.0.128-127.0.1.5", check=False)
    assert r.returncode != 0
    assert '"Alpha"' in r.stderr and '"Bravo"' in r.stderr, r.stderr
    assert "RemoteIPRanges" in r.stderr
    with open(conf_path, "rb") as f:
        assert f.read() == before
    assert [o["Name"] for o in inst.get("Get-ReceiveConnector")] == ["Default mail", "Alpha"]

    # nested ranges are fine, and so is the same range on another binding
    new_connector(inst, "Charlie", binding, "127.0.0.128-127.0.0.200")
    new_connector(inst, "Delta", f"127.0.0.1:{free_port()}", "127.0.0.128-127.0.1.5")

    # Set- is checked the same way
    with open(conf_path, "rb") as f:
        before = f.read()
    r = inst.cmdlet("Set-ReceiveConnector", "Charlie", "-RemoteIPRanges",
                    "127.0.0.128-127.0.1.5", check=False)
    assert r.returncode != 0
    assert '"Alpha"' in r.stderr and '"Charlie"' in r.stderr, r.stderr
    with open(conf_path, "rb") as f:
        assert f.read() == before


# ---- connection limits ----------------------------------------------------------------------

def test_max_inbound_connection_per_source(inst):
    inst.cmdlet("Set-ReceiveConnector", "Default mail", "-MaxInboundConnectionPerSource", "2")
    inst.start()
    first = [RawSMTP(inst.host, inst.port, source="127.0.0.2") for _ in range(2)]
    try:
        for raw in first:
            assert raw.reply()[0] == 220
        third = RawSMTP(inst.host, inst.port, source="127.0.0.2")
        code, text = third.reply()
        assert code == 421 and b"4.3.2" in text, text
        assert third.closed()
        third.close()
        # another source is not limited by 127.0.0.2's connections
        assert served_by(inst.host, inst.port, "127.0.0.3") == "220 Default ready"
        # the sessions that were admitted work normally
        assert first[0].cmd(b"EHLO client.test")[0] == 250
        # once one of them leaves, the source may connect again
        assert first[0].cmd(b"QUIT")[0] == 221
        assert first[0].closed()
        wait_for(lambda: banner(inst.host, inst.port, "127.0.0.2").startswith("220"), timeout=5,
                 what="a free connection slot for 127.0.0.2")
    finally:
        for raw in first:
            raw.close()


def test_max_inbound_connection_per_connector(inst):
    inst.cmdlet("Set-ReceiveConnector", "Default mail", "-MaxInboundConnection", "2")
    inst.start()
    first = [RawSMTP(inst.host, inst.port, source=src) for src in ("127.0.0.2", "127.0.0.3")]
    try:
        for raw in first:
            assert raw.reply()[0] == 220
        third = RawSMTP(inst.host, inst.port, source="127.0.0.4")
        code, text = third.reply()
        assert code == 421 and b"4.3.2" in text, text
        assert third.closed()
        third.close()
    finally:
        for raw in first:
            raw.close()
    wait_for(lambda: banner(inst.host, inst.port, "127.0.0.4").startswith("220"), timeout=5,
             what="a free connection slot on the connector")


def test_connection_inactivity_timeout(inst):
    inst.cmdlet("Set-ReceiveConnector", "Default mail", "-ConnectionInactivityTimeout",
                "00:00:02")
    inst.start()
    raw = RawSMTP(inst.host, inst.port)
    assert raw.reply()[0] == 220
    # activity keeps the session alive past the timeout
    for _ in range(4):
        time.sleep(0.8)
        assert raw.cmd(b"NOOP")[0] == 250
    idle_since = time.monotonic()
    code, text = raw.reply()
    waited = time.monotonic() - idle_since
    assert code == 421 and b"4.4.2" in text, text
    assert 1.5 <= waited <= 5 * SLOW, f"timed out after {waited:.1f} s of inactivity"
    assert raw.closed(timeout=3)
    raw.close()


# ---- usage presets and permission groups ------------------------------------------------------

def test_client_usage_preset(inst):
    port = free_port()
    inst.cmdlet("New-ReceiveConnector", "-Name", "Sub", "-Usage", "Client", "-Bindings",
                f"127.0.0.1:{port}", "-RemoteIPRanges", "127.0.0.0/8")
    rc = inst.get("Get-ReceiveConnector", "Sub")[0]
    assert rc["Usage"] == "Client"
    assert rc["PermissionGroups"] == "ExchangeUsers"
    assert {"Tls", "BasicAuth", "BasicAuthRequireTLS"} <= {
        m.strip() for m in rc["AuthMechanism"].split(",")}
    assert rc["Bindings"] == f"{{127.0.0.1:{port}}}"  # the given binding wins over 587
    inst.start()
    with inst.smtp(port=port) as c:
        c.ehlo()
        assert "auth" not in c.esmtp_features  # AUTH only after STARTTLS
        assert "starttls" in c.esmtp_features
        c.starttls(context=client_context())
        c.ehlo()
        assert {"PLAIN", "LOGIN"} <= set(c.esmtp_features["auth"].split())
        # anonymous users may not submit here
        code, text = c.docmd("MAIL FROM:<alice@a.test>")
        assert code == 530 and b"5.7.1" in text
        c.user, c.password = "alice@a.test", "Secret-1234"
        assert c.auth("PLAIN", c.auth_plain)[0] == 235
        c.mail("alice@a.test")
        assert c.rcpt("carol@elsewhere.example")[0] == 250  # relay for the mailbox user
        code, reply = c.data(message(to="carol@elsewhere.example"))
        assert code == 250
    head = stored(inst, queue_id_from_reply(reply))
    assert b'connector "Sub"' in head and b"ESMTPSA" in head


def test_anonymous_only_connector_never_relays(inst):
    port = free_port()
    inst.cmdlet("New-ReceiveConnector", "-Name", "Anon", "-Usage", "Custom", "-Bindings",
                f"127.0.0.1:{port}", "-RemoteIPRanges", "127.0.0.0/8", "-PermissionGroups",
                "AnonymousUsers", "-AuthMechanism", "Tls,BasicAuth,BasicAuthRequireTLS")
    inst.start()
    with inst.smtp(port=port) as c:
        c.ehlo()
        c.starttls(context=client_context())
        c.ehlo()
        # BasicAuth is on, but without ExchangeUsers nobody can log on
        assert "auth" not in c.esmtp_features
        code, _ = c.docmd("AUTH PLAIN " +
                          base64.b64encode(b"\0alice@a.test\0Secret-1234").decode())
        assert 500 <= code < 600
        c.mail("bob@example.org")
        assert c.rcpt("alice@a.test")[0] == 250
        code, text = c.rcpt("victim@elsewhere.example")
        assert code == 550 and b"5.7.54" in text
        # the message goes to the accepted recipient only
        assert c.data(message())[0] == 250
