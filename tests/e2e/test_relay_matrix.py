"""Relay matrix: every Receive connector Usage preset and the PermissionGroups x
AuthMechanism combinations that matter, each seen by four kinds of client (anonymous in
clear, anonymous over STARTTLS, AUTH over TLS, AUTH in clear), against recipients that
probe every path to relaying: accepted domains of each type, a foreign domain, routing
characters in the local part, source routes, address literals, trailing dots.

One daemon serves all the connectors (one port each); one SMTP session per client state
and connector, with MAIL / RCPT / RSET per recipient. The whole table is built before
anything is asserted, so a failure prints the entire matrix with the wrong cells marked.

The rules (docs/DESIGN.md "Receive connectors", docs/exchange-model.md): AnonymousUsers
may submit to accepted domains; ExchangeUsers after AUTH may submit and relay;
ExchangeServers on an ExternalAuthoritative connector may submit and relay; Partners only
for domain-secured mail (not exercised here, so Partners grants nothing). Without relay a
foreign domain is 550 5.7.54; an Authoritative domain's unknown mailbox is 550 5.1.1,
postmaster always passes. Routing characters in the local part of a relay domain's
address (user%foreign@relay, foreign!user@relay, "user@foreign"@relay) would let a
downstream host relay for us, so they are refused unless the session may relay.
Must never: accept a row as passing when the session had no relay right and the
recipient leaves the organisation.
"""
import base64
import smtplib

from conftest import SLOW, client_context, free_port

PASSWORD = "Matrix-Secret-1"

# -- connectors: (name, Usage, extra New-ReceiveConnector parameters) -----------------------
# Presets first, as New-ReceiveConnector applies them (the binding is always ours), then the
# Custom combinations of groups and mechanisms whose rights differ.
CONNECTORS = [
    ("Custom", "Custom", {}),
    ("Internet", "Internet", {}),
    ("Internal", "Internal", {}),
    ("Internal+ExtAuth", "Internal", {"AuthMechanism": "Tls, ExternalAuthoritative"}),
    ("Client", "Client", {}),
    ("Client-clearAuth", "Client", {"AuthMechanism": "Tls, BasicAuth"}),
    ("Partner", "Partner", {}),
    ("Anon/None", "Custom", {"PermissionGroups": "AnonymousUsers", "AuthMechanism": "None"}),
    ("Anon/Basic", "Custom", {"PermissionGroups": "AnonymousUsers",
                              "AuthMechanism": "Tls, BasicAuth, BasicAuthRequireTLS"}),
    ("Anon+Users/BasicTLS", "Custom", {"PermissionGroups": "AnonymousUsers, ExchangeUsers",
                                       "AuthMechanism": "Tls, BasicAuth, BasicAuthRequireTLS"}),
    ("Anon+Users/Basic", "Custom", {"PermissionGroups": "AnonymousUsers, ExchangeUsers",
                                    "AuthMechanism": "Tls, BasicAuth"}),
    ("Users/BasicNoTls", "Custom", {"PermissionGroups": "ExchangeUsers",
                                    "AuthMechanism": "BasicAuth"}),
    ("Users/TlsOnly", "Custom", {"PermissionGroups": "ExchangeUsers", "AuthMechanism": "Tls"}),
    ("Anon+Servers/Tls", "Custom", {"PermissionGroups": "AnonymousUsers, ExchangeServers",
                                    "AuthMechanism": "Tls"}),
    ("Anon+Servers/ExtAuth", "Custom", {"PermissionGroups": "AnonymousUsers, ExchangeServers",
                                        "AuthMechanism": "Tls, ExternalAuthoritative"}),
    ("Servers/ExtAuth", "Custom", {"PermissionGroups": "ExchangeServers",
                                   "AuthMechanism": "Tls, ExternalAuthoritative"}),
    ("Anon+Partners", "Custom", {"PermissionGroups": "AnonymousUsers, Partners",
                                 "AuthMechanism": "Tls"}),
    ("All/BasicTLS", "Custom", {
        "PermissionGroups": "AnonymousUsers, ExchangeUsers, ExchangeServers, Partners",
        "AuthMechanism": "Tls, BasicAuth, BasicAuthRequireTLS"}),
]

STATES = ["anon-clear", "anon-tls", "auth-tls", "auth-clear"]

# -- recipients: (column, path as sent, kind) -----------------------------------------------
# a.test is Authoritative (mailbox alice), int.test InternalRelay, ext.test ExternalRelay.
RECIPIENTS = [
    ("mailbox", "<alice@a.test>", "accepted"),
    ("unknown", "<nobody@a.test>", "unknown"),
    ("postmstr", "<postmaster@a.test>", "accepted"),
    ("intrelay", "<someone@int.test>", "accepted"),
    ("extrelay", "<someone@ext.test>", "accepted"),
    ("foreign", "<someone@foreign.example>", "foreign"),
    ("%@int", "<user%foreign.example@int.test>", "routing"),
    ("!@int", "<foreign.example!user@int.test>", "routing"),
    ('"@"@int', '<"user@foreign.example"@int.test>', "routing"),
    ("%@ext", "<user%foreign.example@ext.test>", "routing"),
    ("!@ext", "<foreign.example!user@ext.test>", "routing"),
    ('"@"@ext', '<"user@foreign.example"@ext.test>', "routing"),
    ("srcroute", "<@a.example,@b.example:user@foreign.example>", "ambiguous"),
    ("[ip]", "<user@[127.0.0.1]>", "ambiguous"),
    ("foreign.", "<user@foreign.example.>", "ambiguous"),
    ("a.test.", "<alice@a.test.>", "accepted-ambiguous"),
]


def flags(text):
    return {f.strip() for f in text.split(",") if f.strip()}


def effective(usage, extra):
    """(PermissionGroups, AuthMechanism) of a connector as the preset and the given
    parameters make it (docs/exchange-model.md; the given parameters win)."""
    preset = {
        "Custom": ("None", "Tls"),
        "Internet": ("AnonymousUsers", "Tls"),
        "Internal": ("ExchangeServers, ExchangeLegacyServers", "Tls, ExchangeServer"),
        "Client": ("ExchangeUsers", "Tls, BasicAuth, BasicAuthRequireTLS"),
        "Partner": ("Partners", "Tls"),
    }[usage]
    return (flags(extra.get("PermissionGroups", preset[0])),
            flags(extra.get("AuthMechanism", preset[1])))


def auth_offered(groups, mechs, tls):
    return ("BasicAuth" in mechs and "ExchangeUsers" in groups
            and (tls or "BasicAuthRequireTLS" not in mechs))


def rights(groups, mechs, authenticated):
    submit = relay = False
    if not authenticated and "AnonymousUsers" in groups:
        submit = True
    if authenticated and "ExchangeUsers" in groups:
        submit = relay = True
    if "ExternalAuthoritative" in mechs and "ExchangeServers" in groups:
        submit = relay = True
    return submit, relay


def expected(kind, submit, relay):
    """A predicate on (code, text) and its description for one cell."""
    if not submit:
        return (lambda c, t: c >= 500), "refused (no Submit: MAIL fails)"
    if kind == "accepted":
        return (lambda c, t: c == 250), "250"
    if kind == "unknown":
        return (lambda c, t: c == 550 and "5.1.1" in t), "550 5.1.1"
    if kind == "foreign":
        if relay:
            return (lambda c, t: c == 250), "250 (relay)"
        return (lambda c, t: c == 550 and "5.7.54" in t), "550 5.7.54"
    if kind == "routing":
        if relay:
            return (lambda c, t: c == 250), "250 (relay)"
        return (lambda c, t: 500 <= c < 600), "5xx (routing without relay right)"
    if kind == "ambiguous":
        if relay:
            return (lambda c, t: True), "any (relay right)"
        return (lambda c, t: not 200 <= c < 300), "not accepted (no relay right)"
    return (lambda c, t: True), "any (accepted domain)"


def short(code, text):
    if text.startswith("MAIL "):
        return f"MAIL {code}"
    words = text.split()
    enh = words[0] if words and words[0][:1].isdigit() and "." in words[0] else ""
    return f"{code} {enh}".strip()


def run_state(inst, port, state, groups, mechs):
    """One session in the given client state. Returns (notes, cells): notes are failures of
    the session set-up checks (STARTTLS / AUTH offered and answered as the rules say);
    cells maps each recipient column to (code, text), or is a string saying why the state
    cannot be reached on this connector."""
    notes = []
    want_tls = state in ("anon-tls", "auth-tls")
    want_auth = state.startswith("auth")
    tls_possible = "Tls" in mechs
    c = smtplib.SMTP(inst.host, port, local_hostname="client.test", timeout=10 * SLOW)
    try:
        c.ehlo()
        if ("starttls" in c.esmtp_features) != tls_possible:
            notes.append(f"STARTTLS advertised={'starttls' in c.esmtp_features}, "
                         f"expected {tls_possible}")
        if want_tls:
            if not tls_possible:
                code, text = c.docmd("STARTTLS")
                if code == 220:
                    notes.append("STARTTLS accepted where AuthMechanism lacks Tls")
                return notes, f"no STARTTLS ({code} {short(code, text.decode())})"
            code, text = c.starttls(context=client_context())
            if code != 220:
                notes.append(f"STARTTLS refused: {code} {text.decode(errors='replace')}")
                return notes, "STARTTLS failed"
            c.ehlo()
        offered = auth_offered(groups, mechs, want_tls)
        if ("auth" in c.esmtp_features) != offered:
            notes.append(f"AUTH advertised={'auth' in c.esmtp_features}, expected {offered}")
        authenticated = False
        if want_auth:
            token = base64.b64encode(f"\0alice@a.test\0{PASSWORD}".encode()).decode()
            code, text = c.docmd("AUTH", "PLAIN " + token)
            authenticated = code == 235
            if authenticated != offered:
                notes.append(f"AUTH answered {code} {text.decode(errors='replace')}, "
                             f"expected {'235' if offered else 'a refusal'}")
            if not authenticated:
                return notes, f"AUTH refused: {text.decode(errors='replace')}"
        cells = {}
        for column, path, _ in RECIPIENTS:
            mcode, mtext = c.docmd("MAIL FROM:<bob@example.org>")
            if mcode != 250:
                cells[column] = (mcode, "MAIL " + mtext.decode(errors="replace"))
                continue
            code, text = c.docmd(f"RCPT TO:{path}")
            cells[column] = (code, text.decode(errors="replace"))
            c.docmd("RSET")
        return notes, cells
    finally:
        try:
            c.quit()
        except (smtplib.SMTPException, OSError):
            c.close()


def render(table, notes, bad):
    cols = [r[0] for r in RECIPIENTS]
    width = 12
    head = f"{'connector':22} {'state':10} " + " ".join(f"{c:>{width}}" for c in cols)
    lines = [head, "-" * len(head)]
    for (name, state), cells in table.items():
        if isinstance(cells, str):
            row = f"{'n/a':>{width}}  ({cells})"
        else:
            row = " ".join(
                f"{('!' if (name, state, col) in bad else '') + short(*cells[col]):>{width}}"
                for col in cols)
        lines.append(f"{name:22} {state:10} {row}")
    lines.append("")
    lines.append("'!' marks a cell that breaks the rules; MAIL 530: no Submit right, so MAIL "
                 "(and every RCPT) is refused; n/a: the client state cannot be reached.")
    for (name, state, col), (got, want) in bad.items():
        lines.append(f"  {name} / {state} / {col}: got {got!r}, expected {want}")
    for key, msgs in notes.items():
        for m in msgs:
            lines.append(f"  {key[0]} / {key[1]}: {m}")
    return "\n".join(lines)


def test_relay_matrix(instances):
    inst = instances("a", fqdn="mail.a.test")
    inst.cmdlet("New-AcceptedDomain", "-Name", "a.test", "-DomainName", "a.test")
    inst.cmdlet("New-AcceptedDomain", "-Name", "int.test", "-DomainName", "int.test",
                "-DomainType", "InternalRelay")
    inst.cmdlet("New-AcceptedDomain", "-Name", "ext.test", "-DomainName", "ext.test",
                "-DomainType", "ExternalRelay")
    inst.cmdlet("New-Mailbox", "-Name", "alice", "-PrimarySmtpAddress", "alice@a.test",
                "-Password", PASSWORD)
    ports = {}
    for name, usage, extra in CONNECTORS:
        port = free_port()
        ports[name] = port
        args = ["New-ReceiveConnector", "-Name", name, "-Usage", usage,
                "-Bindings", f"127.0.0.1:{port}",
                # a refused RCPT is a protocol error; the matrix needs the session to last
                "-MaxProtocolErrors", "unlimited"]
        if usage != "Internet":  # Internet fixes RemoteIPRanges to everything
            args += ["-RemoteIPRanges", "127.0.0.0/8"]
        for param, value in extra.items():
            args += [f"-{param}", value]
        inst.cmdlet(*args)
    inst.start()

    table, notes, bad = {}, {}, {}
    for name, usage, extra in CONNECTORS:
        groups, mechs = effective(usage, extra)
        shown = inst.get("Get-ReceiveConnector", name)[0]
        assert flags(shown["PermissionGroups"]) == groups, (name, shown["PermissionGroups"])
        assert flags(shown["AuthMechanism"]) == mechs, (name, shown["AuthMechanism"])
        for state in STATES:
            n, cells = run_state(inst, ports[name], state, groups, mechs)
            table[(name, state)] = cells
            if n:
                notes[(name, state)] = n
            if isinstance(cells, str):
                continue
            submit, relay = rights(groups, mechs, state.startswith("auth"))
            for column, _, kind in RECIPIENTS:
                ok, want = expected(kind, submit, relay)
                code, text = cells[column]
                if not ok(code, text):
                    bad[(name, state, column)] = (f"{code} {text}", want)
    print(render(table, notes, {}))
    assert not bad and not notes, "relay matrix:\n" + render(table, notes, bad)
