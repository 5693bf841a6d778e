"""Protocol logging on Receive connectors (docs/exchange-model.md): Exchange's file names,
header and fields, one line per event, flushed promptly, and never a credential."""
import base64
import csv
import datetime
import os
import re

import pytest

from conftest import RawSMTP, client_context, free_port, message, queue_id_from_reply, wait_for

FIELDS = ["date-time", "connector-id", "session-id", "sequence-number", "local-endpoint",
          "remote-endpoint", "event", "data", "context"]
PASSWORD = "Secret-1234"


@pytest.fixture
def logged(instances):
    """A running instance whose default connector logs verbosely."""
    inst = instances("a")
    inst.cmdlet("New-AcceptedDomain", "-Name", "a.test", "-DomainName", "a.test")
    inst.cmdlet("New-Mailbox", "-Name", "alice", "-PrimarySmtpAddress", "alice@a.test",
                "-Password", PASSWORD)
    inst.cmdlet("Set-ReceiveConnector", "Default mail", "-ProtocolLoggingLevel", "Verbose")
    return inst


def log_dir(inst):
    return os.path.join(inst.dir, "logs", "ProtocolLog", "SmtpReceive")


def log_files(inst):
    try:
        return sorted(os.path.join(log_dir(inst), n) for n in os.listdir(log_dir(inst)))
    except FileNotFoundError:
        return []


def read_log(inst):
    """(header lines, rows as dicts) of every protocol log file."""
    headers, rows = [], []
    for path in log_files(inst):
        with open(path, newline="") as f:
            text = f.read()
        # a line still being written is not there yet
        lines = text[:text.rfind("\n") + 1].splitlines()
        headers += [l for l in lines if l.startswith("#")]
        body = [l for l in lines if l and not l.startswith("#")]
        for rec in csv.reader(body):
            assert len(rec) == len(FIELDS), f"{path}: {rec}"
            rows.append(dict(zip(FIELDS, rec)))
    return headers, rows


def raw_text(inst):
    out = ""
    for path in log_files(inst):
        with open(path, errors="replace") as f:
            out += f.read()
    return out


def session_rows(rows, remote):
    return [r for r in rows if r["remote-endpoint"] == remote]


def test_verbose_log_layout_and_events(logged):
    logged.start()
    today = [datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")]
    raw = RawSMTP(logged.host, logged.port)
    remote = "127.0.0.1:%d" % raw.sock.getsockname()[1]
    assert raw.reply()[0] == 220
    assert raw.cmd(b"EHLO client.test")[0] == 250
    assert raw.cmd(b"MAIL FROM:<bob@example.org>")[0] == 250
    # flushed within about a second, while the session is still open
    wait_for(lambda: any(r["event"] == "<" and r["data"] == "MAIL FROM:<bob@example.org>"
                         for r in session_rows(read_log(logged)[1], remote)),
             timeout=2.5, what="the MAIL command in the protocol log")
    assert raw.cmd(b"RCPT TO:<alice@a.test>")[0] == 250
    assert raw.cmd(b"DATA")[0] == 354
    code, text = raw.cmd(message(body="Very private body text.\r\n").encode() + b".")
    assert code == 250
    qid = queue_id_from_reply(text)
    assert raw.cmd(b"QUIT")[0] == 221
    assert raw.closed()
    raw.close()
    today.append(datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d"))

    wait_for(lambda: any(r["event"] == "-" for r in session_rows(read_log(logged)[1], remote)),
             timeout=2.5, what="the disconnect in the protocol log")
    names = [os.path.basename(p) for p in log_files(logged)]
    assert any(n in names for n in {f"RECV{d}-1.log" for d in today}), names

    headers, rows = read_log(logged)
    keys = [h.split(":", 1)[0] for h in headers[:5]]
    assert keys == ["#Software", "#Version", "#Log-type", "#Date", "#Fields"], headers
    assert headers[2] == "#Log-type: SMTP Receive Protocol Log"
    assert headers[4] == "#Fields: " + ",".join(FIELDS)

    mine = session_rows(rows, remote)
    assert mine[0]["event"] == "+" and mine[-1]["event"] == "-"
    assert [int(r["sequence-number"]) for r in mine] == list(range(len(mine)))
    assert len({r["session-id"] for r in mine}) == 1 and mine[0]["session-id"]
    for r in mine:
        assert r["connector-id"].endswith("Default mail"), r
        assert r["local-endpoint"] == f"127.0.0.1:{logged.port}", r
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["date-time"]), r
    received = [r["data"] for r in mine if r["event"] == "<"]
    sent = [r["data"] for r in mine if r["event"] == ">"]
    assert received[:4] == ["EHLO client.test", "MAIL FROM:<bob@example.org>",
                            "RCPT TO:<alice@a.test>", "DATA"]
    assert received[-1] == "QUIT"
    assert sent[0].startswith("220 mail.a.test")
    assert any(s.startswith("250 2.6.0 " + qid) for s in sent), sent
    assert any(s.startswith("221 ") for s in sent)
    # the protocol log records the dialogue, not the message
    assert "Very private body text" not in raw_text(logged)

    # a second session: its own id, its own sequence from 0
    with logged.smtp() as c:
        c.noop()
        second = "127.0.0.1:%d" % c.sock.getsockname()[1]
    wait_for(lambda: any(r["event"] == "-" for r in session_rows(read_log(logged)[1], second)),
             timeout=2.5, what="the second session in the protocol log")
    other = session_rows(read_log(logged)[1], second)
    assert other[0]["session-id"] != mine[0]["session-id"]
    assert [int(r["sequence-number"]) for r in other] == list(range(len(other)))


def test_credentials_never_logged(logged):
    logged.start()
    plain_blob = base64.b64encode(b"\0alice@a.test\0" + PASSWORD.encode()).decode()
    bad_blob = base64.b64encode(b"\0alice@a.test\0Wrong-Pass-9876").decode()
    pw_b64 = base64.b64encode(PASSWORD.encode()).decode()
    bad_pw_b64 = base64.b64encode(b"Other-Wrong-5555").decode()
    remotes = []

    def tls_session():
        raw = RawSMTP(logged.host, logged.port)
        remotes.append("127.0.0.1:%d" % raw.sock.getsockname()[1])
        raw.reply()
        raw.cmd(b"EHLO client.test")
        assert raw.cmd(b"STARTTLS")[0] == 220
        raw.sock = client_context().wrap_socket(raw.sock)
        assert raw.cmd(b"EHLO client.test")[0] == 250
        return raw

    raw = tls_session()  # PLAIN with an initial response, a wrong one first
    assert raw.cmd(b"AUTH PLAIN " + bad_blob.encode())[0] == 535
    assert raw.cmd(b"AUTH PLAIN " + plain_blob.encode())[0] == 235
    raw.cmd(b"QUIT")
    raw.close()

    raw = tls_session()  # PLAIN, response on its own line
    assert raw.cmd(b"AUTH PLAIN")[0] == 334
    assert raw.cmd(plain_blob.encode())[0] == 235
    raw.cmd(b"QUIT")
    raw.close()

    raw = tls_session()  # LOGIN, a wrong password first
    assert raw.cmd(b"AUTH LOGIN")[0] == 334
    assert raw.cmd(base64.b64encode(b"alice@a.test"))[0] == 334
    assert raw.cmd(bad_pw_b64.encode())[0] == 535
    assert raw.cmd(b"AUTH LOGIN " + base64.b64encode(b"alice@a.test"))[0] == 334
    assert raw.cmd(pw_b64.encode())[0] == 235
    raw.cmd(b"QUIT")
    raw.close()

    wait_for(lambda: all(any(r["event"] == "-" for r in session_rows(read_log(logged)[1], rm))
                         for rm in remotes),
             timeout=2.5, what="the three sessions in the protocol log")
    _, rows = read_log(logged)
    # the AUTH exchanges are there (so the log was looked at) ...
    auth_rows = [r for rm in remotes for r in session_rows(rows, rm)
                 if r["event"] == "<" and r["data"].upper().startswith("AUTH")]
    assert len(auth_rows) >= 5, auth_rows
    # ... but no secret, neither in the protocol log nor in the service's own log
    for where, text in (("protocol log", raw_text(logged)), ("service log", logged.log())):
        for secret in (PASSWORD, "Wrong-Pass-9876", "Other-Wrong-5555", plain_blob, bad_blob,
                       pw_b64, bad_pw_b64):
            assert secret not in text, f"{secret!r} appears in the {where}"


def test_logging_level_none_writes_nothing_for_that_connector(logged):
    port = free_port()
    logged.cmdlet("New-ReceiveConnector", "-Name", "Quiet", "-Usage", "Custom", "-Bindings",
                  f"127.0.0.1:{port}", "-RemoteIPRanges", "127.0.0.0/8", "-PermissionGroups",
                  "AnonymousUsers", "-ProtocolLoggingLevel", "None")
    logged.start()
    with logged.smtp(port=port) as c:
        c.ehlo()
        c.mail("bob@example.org")
        c.rcpt("alice@a.test")
        assert c.data(message())[0] == 250
        quiet = "127.0.0.1:%d" % c.sock.getsockname()[1]
    # a session on the verbose connector afterwards: once it is in the log, anything
    # the quiet session had written would be there too
    with logged.smtp() as c:
        c.ehlo()
        loud = "127.0.0.1:%d" % c.sock.getsockname()[1]
    wait_for(lambda: any(r["event"] == "-" for r in session_rows(read_log(logged)[1], loud)),
             timeout=2.5, what="the verbose connector's session in the protocol log")
    _, rows = read_log(logged)
    assert session_rows(rows, quiet) == []
    assert not [r for r in rows if r["connector-id"].endswith("Quiet")]


def test_logging_switched_on_while_running(logged):
    logged.cmdlet("Set-ReceiveConnector", "Default mail", "-ProtocolLoggingLevel", "None")
    logged.start()
    with logged.smtp() as c:
        c.noop()
        before = "127.0.0.1:%d" % c.sock.getsockname()[1]
    logged.cmdlet("Set-ReceiveConnector", "Default mail", "-ProtocolLoggingLevel", "Verbose")
    with logged.smtp() as c:
        c.noop()
        after = "127.0.0.1:%d" % c.sock.getsockname()[1]
    wait_for(lambda: any(r["event"] == "-" for r in session_rows(read_log(logged)[1], after)),
             timeout=2.5, what="the session after the change in the protocol log")
    assert session_rows(read_log(logged)[1], before) == []
