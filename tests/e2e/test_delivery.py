"""Delivery end to end: two postern instances on loopback, A relaying to B
through a Send connector (smart host), B delivering into Maildirs.

A accepts mail for b.test because b.test is one of its accepted domains of
type ExternalRelay; B is authoritative for b.test. Every test checks what
the receiving side really got (Maildir files, B's protocol log), not only
what the sender says.
"""
import base64
import os
import re

from conftest import message, wait_for
from peers import (LoopbackServer, ScriptedSMTP, connect_refused, maildir, queue_failed,
                   queue_named, receive_log, receiver_instance, relay_instance, reports, send_log,
                   submit, tracking, tracking_events, wait_queue_empty)


def b_instance(instances, auth_user=False):
    users = ["carol@b.test"] + (["bob@b.test"] if auth_user else [])
    return receiver_instance(instances, "b", ["b.test"], users)


def body_of(raw):
    return raw.split(b"\n\n", 1)[1]


def headers_of(raw):
    return raw.split(b"\n\n", 1)[0]


def test_relay_through_send_connector_to_maildir_over_tls(instances):
    b = b_instance(instances)
    a = relay_instance(instances, "a", b.port)
    qid = submit(a, "alice@a.test", ["carol@b.test"],
                 message(subject="relayed", body="Body line one.\r\n.dot line\r\n",
                         sender="alice@a.test", to="carol@b.test"))
    files = wait_for(lambda: maildir(b, "carol@b.test"), timeout=15, what="B's Maildir copy")
    assert len(files) == 1
    path, raw = files[0]
    # DIR/mail/<address>/new/<QUEUEID>.<rcptindex>.<hostname>
    assert re.fullmatch(r"[0-9A-F]{16}\.0\.[^/]+", os.path.basename(path)), path
    assert b"\r\n" not in raw, "Maildir files have LF line endings"
    assert raw.startswith(b"Return-Path: <alice@a.test>\n"), raw[:200]
    assert b"\nDelivered-To: carol@b.test\n" in headers_of(raw)
    assert b"Subject: relayed" in headers_of(raw)
    # the content arrived intact, dot-stuffing undone
    assert body_of(raw) == b"Body line one.\n.dot line\n"
    # B's Received: says A came in over TLS (opportunistic STARTTLS by default)
    received_b = [h for h in re.split(rb"\n(?=\S)", headers_of(raw))
                  if h.startswith(b"Received:") and b"mail.b.test" in h]
    assert received_b, headers_of(raw)
    assert b"with ESMTPS" in received_b[0], received_b[0]
    # A's queue is empty, its tracking log has RECEIVE and SEND, B's DELIVER
    wait_queue_empty(a)
    assert queue_named(a, "Out") is None or queue_named(a, "Out")["MessageCount"] == "0"
    wait_for(lambda: ("SEND", "carol@b.test") in tracking_events(a, qid), what="A's SEND event")
    assert ("RECEIVE", "carol@b.test") in tracking_events(a, qid)
    # the tracking log reads Subject and Message-ID from the queued message's head
    rows = [r for r in tracking(a) if r["internal-message-id"] == qid]
    assert {r["message-subject"] for r in rows} == {"relayed"}, rows
    assert all(r["message-id"].startswith("<") for r in rows), rows
    wait_for(lambda: ("DELIVER", "carol@b.test") in tracking_events(b), what="B's DELIVER event")
    assert ("RECEIVE", "carol@b.test") in tracking_events(b)
    # A's protocol log shows the STARTTLS it did
    # (protocol logs are written out once a second)
    wait_for(lambda: [r for r in send_log(a) if r["event"] == "-"], what="A's protocol log")
    sent = [r["data"] for r in send_log(a) if r["event"] == ">"]
    assert "STARTTLS" in sent, sent
    wait_queue_empty(b)


def test_large_message_with_dot_lines_arrives_byte_exact(instances):
    """A 3 MB content over TLS: streamed in chunks, dot-stuffed across chunk
    boundaries, unstuffed by B; the Maildir copy has exactly the body sent."""
    b = b_instance(instances)
    a = relay_instance(instances, "a", b.port)
    lines = []
    for i in range(60000):
        # lines that start with dots, at varying offsets from any buffer size
        lines.append(("." * (i % 3)) + f"line {i} " + "x" * (i % 61))
    body = "\r\n".join(lines) + "\r\n"
    submit(a, "alice@a.test", ["carol@b.test"],
           message(subject="large", sender="alice@a.test", to="carol@b.test", body=body))
    files = wait_for(lambda: maildir(b, "carol@b.test"), timeout=30, what="the large message")
    raw = files[0][1]
    assert b"with ESMTPS" in headers_of(raw)
    assert body_of(raw) == body.replace("\r\n", "\n").encode()
    wait_queue_empty(a)


def test_smart_host_basic_auth_over_tls(instances):
    b = b_instance(instances, auth_user=True)
    a = relay_instance(instances, "a", b.port,
                       connector=["-SmartHostAuthMechanism", "BasicAuthRequireTLS",
                                  "-AuthenticationCredential", "bob@b.test:Pass-Word-1"])
    submit(a, "alice@a.test", ["carol@b.test"], message(sender="alice@a.test", to="carol@b.test"))
    files = wait_for(lambda: maildir(b, "carol@b.test"), timeout=15, what="delivery to B")
    head = headers_of(files[0][1])
    received_b = [h for h in re.split(rb"\n(?=\S)", head)
                  if h.startswith(b"Received:") and b"mail.b.test" in h][0]
    # authenticated over TLS
    assert b"with ESMTPSA" in received_b, received_b
    wait_queue_empty(a)
    # B saw AUTH only after STARTTLS; the password never appears in any log
    wait_for(lambda: [r for r in receive_log(b) if r["event"] == "-"], what="B's protocol log")
    rlog = [(r["event"], r["data"]) for r in receive_log(b)]
    cmds = [d for e, d in rlog if e == "<"]
    auth_at = [i for i, d in enumerate(cmds) if d.upper().startswith("AUTH")]
    tls_at = [i for i, d in enumerate(cmds) if d.upper() == "STARTTLS"]
    assert auth_at and tls_at and tls_at[0] < auth_at[0], cmds
    for inst in (a, b):
        for root, _, names in os.walk(os.path.join(inst.dir, "logs")):
            for n in names:
                with open(os.path.join(root, n), "rb") as f:
                    text = f.read()
                assert b"Pass-Word-1" not in text, n
                assert base64.b64encode(b"\0bob@b.test\0Pass-Word-1") not in text, n


def test_basic_auth_require_tls_withholds_credentials_without_tls(instances):
    b = b_instance(instances, auth_user=True)
    # AUTH offered without TLS: BasicAuth only, no Tls, so no STARTTLS
    b.cmdlet("Set-ReceiveConnector", "Default mail", "-AuthMechanism", "BasicAuth",
             "-PermissionGroups", "ExchangeUsers")
    a = relay_instance(instances, "a", b.port,
                       connector=["-SmartHostAuthMechanism", "BasicAuthRequireTLS",
                                  "-AuthenticationCredential", "bob@b.test:Pass-Word-1"])
    qid = submit(a, "alice@a.test", ["carol@b.test"],
                 message(sender="alice@a.test", to="carol@b.test"))

    q = queue_failed(a, "Out", what="A's queue to record the failure")
    assert re.search(r"TLS|credentials", q["LastError"]), q
    # the EHLO really offered AUTH in clear text, and A did not use it
    wait_for(lambda: any(r["event"] == "<" and r["data"].upper().startswith("EHLO")
                         for r in receive_log(b)), what="B's protocol log of A's session")
    rlog = receive_log(b)
    offered = [r["data"] for r in rlog if r["event"] == ">" and "AUTH" in r["data"].upper()]
    assert offered, "B should offer AUTH without TLS in this configuration"
    assert not [r for r in rlog if r["event"] == "<" and r["data"].upper().startswith("AUTH")]
    wait_for(lambda: [r for r in send_log(a) if r["event"] == "-"], what="A's protocol log")
    assert not [r for r in send_log(a) if r["event"] == ">" and r["data"].upper().startswith("AUTH")]
    assert not maildir(b, "carol@b.test")
    assert qid in a.queued_ids()


def test_require_tls_defers_instead_of_sending_in_clear(instances):
    b = b_instance(instances)
    b.cmdlet("Set-ReceiveConnector", "Default mail", "-AuthMechanism", "None")
    a = relay_instance(instances, "a", b.port, connector=["-RequireTLS", "$true"])
    qid = submit(a, "alice@a.test", ["carol@b.test"],
                 message(subject="secret", sender="alice@a.test", to="carol@b.test"))

    q = queue_failed(a, "Out", what="A's queue to record the failure")
    assert "TLS" in q["LastError"], q
    assert q["Status"] in ("Retry", "Active", "Ready"), q
    msgs = a.get("Get-Message", "-Queue", "Out")
    assert [m for m in msgs if m["Identity"].endswith(qid)], msgs
    # B got nothing: no MAIL FROM in its protocol log, no Maildir file
    rlog = wait_for(lambda: [r for r in receive_log(b) if r["event"] == "-"] and receive_log(b),
                    what="B's protocol log of A's connection")
    assert not [r for r in rlog if r["event"] == "<" and r["data"].upper().startswith("MAIL")]
    assert not maildir(b, "carol@b.test")
    assert qid in a.queued_ids()
    # once B offers TLS again the message goes, over TLS
    b.cmdlet("Set-ReceiveConnector", "Default mail", "-AuthMechanism", "Tls")
    files = wait_for(lambda: maildir(b, "carol@b.test"), timeout=20, what="delivery over TLS")
    assert b"with ESMTPS" in headers_of(files[0][1])
    wait_queue_empty(a)


def test_smart_host_failover_to_second_host(instances):
    b = b_instance(instances)
    assert connect_refused("127.0.0.9", b.port)
    a = relay_instance(instances, "a", b.port, smart_hosts="127.0.0.9,127.0.0.1")
    submit(a, "alice@a.test", ["carol@b.test"], message(sender="alice@a.test", to="carol@b.test"))
    wait_for(lambda: maildir(b, "carol@b.test"), timeout=15, what="delivery via 127.0.0.1")
    wait_queue_empty(a)
    # the first smart host was tried first, then the second
    # (the protocol log is written out once a second)
    wait_for(lambda: any(r["event"] == "-" and r["remote-endpoint"].startswith("127.0.0.1:")
                         for r in send_log(a)), what="A's protocol log of the session")
    remotes = [r["remote-endpoint"] for r in send_log(a)]
    assert any(x.startswith("127.0.0.9:") for x in remotes), remotes
    first9 = min(i for i, x in enumerate(remotes) if x.startswith("127.0.0.9:"))
    first1 = min(i for i, x in enumerate(remotes) if x.startswith("127.0.0.1:"))
    assert first9 < first1, remotes
    assert len(maildir(b, "carol@b.test")) == 1


def test_local_delivery_multiple_recipients_postmaster_and_success_dsn(instances):
    b = receiver_instance(instances, "b", ["b.test"],
                          ["alice@b.test", "carol@b.test", "dave@b.test"])
    rcpts = ["carol@b.test", "dave@b.test", "postmaster@b.test"]
    qid = submit(b, "alice@b.test", rcpts,
                 message(subject="to three", sender="alice@b.test", to=", ".join(rcpts)),
                 rcpt_options=["NOTIFY=SUCCESS"])

    def postmaster_files():
        # postmaster has no mailbox: its mail goes to the instance's postmaster Maildir
        return maildir(b, "postmaster@b.test") + maildir(b, "postmaster")

    wait_for(lambda: maildir(b, "carol@b.test") and maildir(b, "dave@b.test") and
             postmaster_files(), timeout=15, what="three local deliveries")
    for addr, files in (("carol@b.test", maildir(b, "carol@b.test")),
                        ("dave@b.test", maildir(b, "dave@b.test")),
                        ("postmaster@b.test", postmaster_files())):
        assert len(files) == 1, (addr, files)
        raw = files[0][1]
        assert f"\nDelivered-To: {addr}\n".encode() in headers_of(raw), raw[:300]
        assert b"Subject: to three" in raw
        assert re.match(rf"{qid}\.\d\.", os.path.basename(files[0][0])), files[0][0]
    # the success report goes back to the sender's mailbox
    reps = wait_for(lambda: reports(b, "alice@b.test", "delivered"), timeout=15,
                    what="success DSN in alice's Maildir")
    blocks = [blk for _, bl in reps for blk in bl]
    finals = sorted(blk["final-recipient"].split(";", 1)[1].strip().lower() for blk in blocks)
    assert finals == sorted(rcpts), blocks
    for blk in blocks:
        assert blk["action"].lower() == "delivered"
        assert re.fullmatch(r"2\.\d{1,3}\.\d{1,3}", blk["status"]), blk
    raw = reps[0][0]
    assert raw.startswith(b"Return-Path: <>\n"), raw[:100]
    wait_queue_empty(b)
    # one report for one message, no more
    assert len(reports(b, "alice@b.test")) == len(reps)


class BrokenTLSPeer(LoopbackServer):
    """A scripted SMTP peer (written here): advertises STARTTLS, answers it 220, then
    breaks the handshake; takes mail in clear text. Records whether each connection
    asked for STARTTLS (sessions, in the order they asked or ended) and the messages."""

    def __init__(self, mail_reply=b"250 ok"):
        super().__init__()
        self.mail_reply = mail_reply
        self.sessions = []  # per connection: "starttls" or "plain"
        self.messages = []

    def serve(self, conn):
        conn.settimeout(10)
        f = conn.makefile("rb")
        conn.sendall(b"220 broken.test ESMTP\r\n")
        kind = "plain"
        try:
            while True:
                line = f.readline().strip().upper()
                if not line:
                    break
                if line.startswith(b"EHLO"):
                    conn.sendall(b"250-broken.test\r\n250-8BITMIME\r\n250 STARTTLS\r\n")
                elif line == b"STARTTLS":
                    # recorded before the client can see the handshake fail and come back
                    kind = "starttls"
                    self.sessions.append(kind)
                    conn.sendall(b"220 go ahead\r\n")
                    f.read(10)  # the ClientHello, answered with garbage
                    conn.sendall(b"this is not TLS\r\n" * 4)
                    break
                elif line.startswith(b"MAIL"):
                    conn.sendall(self.mail_reply + b"\r\n")
                elif line.startswith(b"RCPT"):
                    conn.sendall(b"250 ok\r\n")
                elif line == b"DATA":
                    conn.sendall(b"354 go\r\n")
                    data = b""
                    while not data.endswith(b"\r\n.\r\n"):
                        chunk = f.readline()
                        if not chunk:
                            break
                        data += chunk
                    self.messages.append(data)
                    conn.sendall(b"250 2.0.0 taken in clear\r\n")
                elif line == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    break
        except OSError:
            pass
        if kind == "plain":
            self.sessions.append(kind)


def test_opportunistic_tls_falls_back_to_clear_text_after_a_failed_handshake(instances):
    with BrokenTLSPeer() as peer:
        a = relay_instance(instances, "a", peer.port)
        submit(a, "alice@a.test", ["bob@b.test"], message(subject="fallback"))
        wait_queue_empty(a)
        assert len(peer.messages) == 1 and b"Subject: fallback" in peer.messages[0]
        # the peer records a session once it has answered QUIT, which may be
        # after postern removed the delivered message
        wait_for(lambda: peer.sessions[:2] == ["starttls", "plain"],
                 what=f"a failed TLS session, then one in clear text ({peer.sessions})")
        # where TLS is required there is no such fallback
        a.cmdlet("Set-SendConnector", "Out", "-RequireTLS", "$true")
        submit(a, "alice@a.test", ["bob@b.test"], message(subject="required"))
        wait_for(lambda: any("TLS negotiation" in q.get("LastError", "")
                             for q in a.get("Get-Queue")), what="the TLS failure as LastError")
        assert len(peer.messages) == 1


def test_peer_demanding_tls_in_the_clear_retry_is_a_temporary_failure(instances):
    """After the handshake failed, the clear-text retry meets "530 Must issue a
    STARTTLS command first": that describes this hop, so the message waits and
    retries with the TLS error in LastError; nobody gets a bounce."""
    with BrokenTLSPeer(mail_reply=b"530 5.7.0 Must issue a STARTTLS command first") as peer:
        a = relay_instance(instances, "a", peer.port)
        qid = submit(a, "alice@a.test", ["bob@b.test"], message(subject="tls wanted"))
        m = wait_for(lambda: [m for m in a.get("Get-Message")
                              if "530" in m.get("LastError", "")],
                     timeout=20, what="the 530 as the message's LastError")[0]
        # both halves of the story: the handshake that failed, the peer's demand
        assert "requires TLS, which failed: TLS negotiation" in m["LastError"], m
        assert m["Identity"].endswith(qid) and m["Status"] != "Failed", m
        assert qid in a.queued_ids()
        assert "starttls" in peer.sessions and "plain" in peer.sessions
        assert not reports(a, "alice@a.test"), "a 530 after a TLS failure is not permanent"
        assert not peer.messages


def test_reply_whose_lines_disagree_on_the_code_is_malformed(instances):
    """RFC 5321 4.2.1: all lines of a reply carry one code. A scripted next hop
    (peers.ScriptedSMTP) answers RCPT with "250-..." then "550 ...": postern
    neither delivers nor bounces on that guess; the message waits."""
    with ScriptedSMTP(rcpt_reply=lambda addr, n: "250-looks fine\r\n550 5.1.1 but is not") as peer:
        a = relay_instance(instances, "a", peer.port)
        qid = submit(a, "alice@a.test", ["bob@b.test"], message(subject="mixed codes"))
        m = wait_for(lambda: [m for m in a.get("Get-Message")
                              if "disagree on the code" in m.get("LastError", "")],
                     timeout=20, what="the malformed reply as LastError")[0]
        assert m["Identity"].endswith(qid)
        assert not peer.accepted()
        assert not reports(a, "alice@a.test")
