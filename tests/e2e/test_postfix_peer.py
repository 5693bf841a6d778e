"""postern delivering to other MTAs: a private Postfix instance with its own
TLS certificate, and Postfix's smtp-sink as a bulk sink."""
import re

import pytest

from conftest import message, wait_for
from peers import (Postfix, SmtpSink, connect_refused, queue_failed, queue_named, relay_instance,
                   send_log, submit, tracking, wait_queue_empty)


@pytest.fixture
def postfix(workdir):
    with Postfix(workdir, domain="peer.test", users=("user",)) as pf:
        yield pf


def test_delivery_to_postfix_over_tls(instances, postfix):
    a = relay_instance(instances, "a", postfix.port, relay_domains=("peer.test",))
    qid = submit(a, "alice@a.test", ["user@peer.test"],
                 message(subject="to postfix", sender="alice@a.test", to="user@peer.test",
                         body="Hello Postfix.\r\n.leading dot\r\n"))
    mails = wait_for(lambda: postfix.mailbox("user"), timeout=20,
                     what="the message in Postfix's Maildir")
    assert len(mails) == 1
    raw = mails[0]
    head, body = raw.split(b"\n\n", 1)
    assert b"Subject: to postfix" in head
    assert body == b"Hello Postfix.\n.leading dot\n"
    # Postfix's Received: records the TLS session postern opened
    received = re.split(rb"\n(?=\S)", head)
    mine = [h for h in received if h.startswith(b"Received:") and b"mx.peer.test" in h]
    assert mine, head
    assert re.search(rb"\(using TLSv1\.[23] with cipher \S+", mine[0]), mine[0]
    assert b"mail.a.test" in mine[0]  # postern's EHLO name
    assert b"Return-Path: <alice@a.test>" in head
    # Postfix's own log agrees
    wait_for(lambda: re.search(r"TLS connection established from \S*\[127\.0\.0\.1\]",
                               postfix.log()), what="Postfix's TLS log line")
    wait_queue_empty(a)
    row = wait_for(lambda: [r for r in tracking(a) if r["internal-message-id"] == qid and
                            r["event-id"] == "SEND"], what="A's SEND event")[0]
    m = re.search(r"queued as ([0-9A-Za-z]+)", row["recipient-status"])
    assert m, row
    assert m.group(1) in postfix.log()


def test_certificate_validation_against_postfix_certificate(instances, postfix):
    """TlsAuthLevel CertificateValidation: Postfix's self-signed certificate
    does not chain to a trusted root, so nothing is sent; trusted, it goes."""
    a = relay_instance(instances, "a", postfix.port, relay_domains=("peer.test",),
                       connector=["-RequireTLS", "$true", "-TlsAuthLevel",
                                  "CertificateValidation"])
    qid = submit(a, "alice@a.test", ["user@peer.test"],
                 message(subject="must not go", sender="alice@a.test", to="user@peer.test"))

    q = queue_failed(a, "Out", timeout=20, what="the queue to record the certificate failure")
    assert re.search(r"certif|verif|TLS", q["LastError"], re.I), q
    assert qid in a.queued_ids()
    # the session that met the certificate is over and logged: whatever was sent in it
    # is in the protocol log before its end
    wait_for(lambda: [r for r in send_log(a) if r["event"] == "-"], timeout=5,
             what="the end of the session in A's protocol log")
    assert not postfix.mailbox("user")
    assert "queued as" not in postfix.log() and not re.search(r"postfix/cleanup", postfix.log())
    assert not [r for r in send_log(a) if r["event"] == ">" and
                r["data"].upper().startswith("MAIL FROM")]
    # once Postfix's certificate is a trusted root on A, the same connector delivers
    a.cmdlet("Import-Certificate", "-FilePath", postfix.cert, "-CertStoreLocation",
             "Cert:\\LocalMachine\\Root")
    a.cmdlet("Retry-Queue", "-Identity", "Out")
    mails = wait_for(lambda: postfix.mailbox("user"), timeout=20,
                     what="delivery once the certificate is trusted")
    assert b"Subject: must not go" in mails[0]
    assert re.search(rb"\(using TLSv1\.[23] with cipher", mails[0])
    wait_queue_empty(a)


def test_bulk_delivery_to_smtp_sink_reuses_connections(instances, workdir):
    n = 200
    sink = SmtpSink(workdir)
    assert connect_refused("127.0.0.1", sink.port)
    a = relay_instance(instances, "a", sink.port, relay_domains=("sink.test",),
                       timers={"QueueGlitchRetryInterval": "00:01:00",
                               "TransientFailureRetryInterval": "00:01:00",
                               "OutboundConnectionFailureRetryInterval": "00:01:00",
                               "MessageRetryInterval": "00:01:00"})
    # queue them all while the sink is down
    with a.smtp() as c:
        for i in range(n):
            c.sendmail("alice@a.test", [f"r{i % 7}@sink.test"],
                       message(subject=f"bulk {i}", sender="alice@a.test",
                               to=f"r{i % 7}@sink.test"))
    wait_for(lambda: (queue_named(a, "Out") or {}).get("Status") == "Retry", timeout=15,
             what="the queue to wait for the sink")
    assert len(a.queued_ids()) == n
    with sink:
        a.cmdlet("Retry-Queue", "-Identity", "Out")
        wait_for(lambda: len(sink.messages()) >= n, timeout=60, interval=0.2,
                 what=f"{n} messages at smtp-sink")
        wait_queue_empty(a, timeout=30)

        # every session A opened has ended, as its protocol log shows: nothing more
        # can arrive at the sink
        def all_sessions_ended():
            rows = send_log(a)
            opened = {r["session-id"] for r in rows if r["event"] == "+"}
            ended = {r["session-id"] for r in rows if r["event"] == "-"}
            return opened and opened <= ended and rows

        rows = wait_for(all_sessions_ended, timeout=10, what="A's sessions to end")
        dumps = wait_for(lambda: len(sink.messages()) >= n and sink.messages(),
                         what="the sink's dump files")
    assert len(dumps) == n
    subjects = sorted(int(re.search(rb"Subject: bulk (\d+)", d).group(1)) for d in dumps)
    assert subjects == list(range(n)), "every message once"
    # connection reuse: far fewer sessions than messages
    sessions = {r["session-id"] for r in rows if r["event"] == "+"}
    mails = [r for r in rows if r["event"] == ">" and r["data"].upper().startswith("MAIL FROM")]
    assert len(mails) == n, len(mails)
    assert 1 <= len(sessions) <= 20, f"{len(sessions)} sessions for {n} messages"
