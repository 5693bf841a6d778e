"""Retries, reports and queue cmdlets, with shortened timers and real peers.

Instance A accepts mail for a.test (mailbox alice@a.test: the sender, whose
Maildir receives the reports) and relays b.test through Send connector
"Out" (smart host 127.0.0.1:<peer port>). The peer is a scripted SMTP
server (peers.ScriptedSMTP), another postern, or nothing at all.
"""
import datetime
import glob
import os
import re
import smtplib
import threading
import time

from conftest import SLOW, free_port, message, wait_for
from peers import (FAST_TIMERS, ScriptedSMTP, connect_refused, dsn_parts, maildir, queue_named,
                   receiver_instance, relay_instance, reports, send_log, submit,
                   tracking_events, wait_queue_empty)

SLOW_TIMERS = {k: "00:01:00" for k in FAST_TIMERS}  # nothing retries by itself in a test


def msg(subject, to="carol@b.test", sender="alice@a.test", body="Hello.\r\n"):
    return message(subject=subject, sender=sender, to=to, body=body)


def rcpt_of(block):
    return block["final-recipient"].split(";", 1)[1].strip().lower()


def no_reports(inst, address):
    """Nothing reached address's Maildir. Conclusive once the message concerned has left
    the queue: a report is queued before the message's own removal (deliver.c,
    apply_results then deliver_persist_message; the committer keeps that order), so an
    empty queue means any report was delivered already."""
    assert not inst.queued_ids(), "call it once the queue is empty"
    assert not maildir(inst, address), [r for _, r in maildir(inst, address)]


def test_transient_failure_is_retried_and_delivered_once(instances):
    with ScriptedSMTP(rcpt_reply=lambda addr, n: "451 4.7.1 try again later" if n == 1
                      else "250 2.1.5 Ok") as peer:
        a = relay_instance(instances, "a", peer.port)
        qid = submit(a, "alice@a.test", ["carol@b.test"], msg("retried"))
        wait_for(lambda: peer.accepted(), timeout=15, what="the second attempt to succeed")
        wait_queue_empty(a)
        assert peer.rcpt_attempts["carol@b.test"] == 2
        accepted = peer.accepted()
        assert len(accepted) == 1 and accepted[0][0] == ["carol@b.test"]
        assert b"Subject: retried" in accepted[0][1]
        events = wait_for(lambda: ("SEND", "carol@b.test") in tracking_events(a, qid) and
                          tracking_events(a, qid), what="A's SEND event")
        assert ("DEFER", "carol@b.test") in events
        assert events.index(("DEFER", "carol@b.test")) < events.index(("SEND", "carol@b.test"))
        # a deferral is not worth a report before DelayNotificationTimeout
        no_reports(a, "alice@a.test")
        assert len(peer.accepted()) == 1


def test_retry_schedule_holds_under_a_burst_of_arrivals(instances):
    """Many arrivals at once must not push the scheduler's retry beat away:
    with QueueGlitchRetryInterval 1 s, a next hop that comes back is used
    within a few seconds."""
    port = free_port()
    a = relay_instance(instances, "a", port)
    n = 15
    with a.smtp() as c:
        for i in range(n):
            c.sendmail("alice@a.test", ["carol@b.test"], msg(f"burst {i}"))
    wait_retry_state(a)
    with ScriptedSMTP(port=port) as peer:
        up = time.monotonic()
        wait_for(lambda: len(peer.accepted()) == n, timeout=6,
                 what=f"{n} messages within a few retry intervals of the peer coming back")
        assert time.monotonic() - up < 6 * SLOW
        wait_queue_empty(a)


def connection_failures(a):
    """Times (seconds, from the SmtpSend protocol log) of A's failed connection attempts."""
    times = []
    for r in send_log(a):
        if r["event"] == "-" and re.search(r"connection to .* failed", r["context"]):
            stamp = datetime.datetime.strptime(r["date-time"], "%Y-%m-%dT%H:%M:%S.%fZ")
            times.append(stamp.replace(tzinfo=datetime.timezone.utc).timestamp())
    return sorted(times)


def test_connection_failure_retry_tiers(instances):
    """Connection failures are retried QueueGlitchRetryCount times after
    QueueGlitchRetryInterval, then TransientFailureRetryCount times after
    TransientFailureRetryInterval, then every OutboundConnectionFailureRetryInterval
    (docs/DESIGN.md, Delivery). Intervals 1, 4 and 7 s tell the tiers apart: the
    scheduler's one-second beat puts each gap within a second of its interval."""
    tiers = [("glitch", 1), ("glitch", 1), ("transient", 4), ("outbound", 7)]
    port = free_port()
    a = relay_instance(instances, "a", port, timers=dict(
        FAST_TIMERS, QueueGlitchRetryCount="2", QueueGlitchRetryInterval="00:00:01",
        TransientFailureRetryCount="1", TransientFailureRetryInterval="00:00:04",
        OutboundConnectionFailureRetryInterval="00:00:07"))
    assert connect_refused("127.0.0.1", port)
    submit(a, "alice@a.test", ["carol@b.test"], msg("nobody listens"))
    attempts = wait_for(lambda: len(connection_failures(a)) > len(tiers) and
                        connection_failures(a), timeout=sum(w for _, w in tiers) + 8,
                        interval=0.2, what=f"{len(tiers) + 1} failed connection attempts")
    gaps = [b - t for t, b in zip(attempts, attempts[1:])][:len(tiers)]
    slack = 0.5 * SLOW  # time(2)-based deadlines, the beat, and the attempt itself
    for n, ((tier, wait), gap) in enumerate(zip(tiers, gaps)):
        assert wait - 1 < gap < wait + 1 + slack, (
            f"retry {n + 1} came {gap:.2f} s after the failure before it; the {tier} tier "
            f"waits {wait} s (gaps: {[round(g, 2) for g in gaps]})")
    print(f"gaps between attempts: {[round(g, 2) for g in gaps]}")
    q = queue_named(a, "Out")
    assert q["Status"] == "Retry" and re.search(r"refused", q["LastError"], re.I), q


def test_permanent_failure_sends_rfc3464_bounce(instances):
    def rcpt(addr, n):
        return "550 5.1.1 <nobody@b.test>: user unknown" if addr == "nobody@b.test" \
            else "250 2.1.5 Ok"

    with ScriptedSMTP(rcpt_reply=rcpt) as peer:
        a = relay_instance(instances, "a", peer.port)
        qid = submit(a, "alice@a.test", ["carol@b.test", "nobody@b.test"],
                     msg("will bounce", body="Original body text.\r\n"))
        reps = wait_for(lambda: reports(a, "alice@a.test", "failed"), timeout=15,
                        what="a bounce in alice's Maildir")
        wait_queue_empty(a)
        assert len(reps) == 1
        raw, blocks = reps[0]
        assert raw.startswith(b"Return-Path: <>\n"), raw[:100]
        report, per_message, per_rcpt, original = dsn_parts(raw)
        assert report["To"] and "alice@a.test" in report["To"]
        assert per_message.get("reporting-mta", "").lower().startswith("dns;"), per_message
        # only the failed recipient is reported; carol was delivered
        assert [rcpt_of(b) for b in per_rcpt] == ["nobody@b.test"], per_rcpt
        blk = per_rcpt[0]
        assert blk["action"].lower() == "failed"
        assert blk["status"] == "5.1.1"
        assert blk["diagnostic-code"].lower().startswith("smtp;")
        assert "550 5.1.1" in blk["diagnostic-code"] and "user unknown" in blk["diagnostic-code"]
        # RFC 3464 2.3.5: Remote-MTA is "mta-name-type; mta-name" (e.g. "dns; host")
        if "remote-mta" in blk:
            assert re.fullmatch(r"[A-Za-z0-9-]+;\s*\S.*", blk["remote-mta"]), blk["remote-mta"]
        # the original is attached (message/rfc822, or its headers)
        assert original is not None
        assert original.get_content_type() in ("message/rfc822", "text/rfc822-headers")
        assert b"Subject: will bounce" in original.as_bytes()
        events = wait_for(lambda: ("FAIL", "nobody@b.test") in tracking_events(a, qid) and
                          tracking_events(a, qid), what="A's tracking log")
        assert ("SEND", "carol@b.test") in events
        assert [r for r, _ in peer.accepted()] == [["carol@b.test"]]


def test_notify_never_means_no_bounce(instances):
    with ScriptedSMTP(rcpt_reply=lambda addr, n: "550 5.1.1 user unknown") as peer:
        a = relay_instance(instances, "a", peer.port)
        qid = submit(a, "alice@a.test", ["nobody@b.test"], msg("quiet failure"),
                     rcpt_options=["NOTIFY=NEVER"])
        wait_for(lambda: ("FAIL", "nobody@b.test") in tracking_events(a, qid), timeout=15,
                 what="the recipient to fail")
        wait_queue_empty(a)
        no_reports(a, "alice@a.test")
        # (a DSN event would be logged with the FAIL event waited for above)
        assert not [e for e, _ in tracking_events(a) if e == "DSN"]
        assert peer.rcpt_attempts == {"nobody@b.test": 1}
        # RFC 3461 5.2: the NOTIFY parameter is relayed to a DSN-capable next hop
        rcpts = [c for c in peer.commands if c.upper().startswith("RCPT")]
        assert rcpts and "NOTIFY=NEVER" in rcpts[0].upper(), rcpts


def test_delay_notice_then_expiry_bounce(instances):
    """Peer answers 451 forever (b.test) and nothing listens at all (dead.test):
    a delay notice after DelayNotificationTimeout, then a bounce at expiry."""
    dead_port = free_port()
    with ScriptedSMTP(rcpt_reply=lambda addr, n: "451 4.3.0 mailbox busy, come back") as peer:
        a = relay_instance(instances, "a", peer.port, relay_domains=("b.test", "dead.test"),
                           timers=dict(FAST_TIMERS, DelayNotificationTimeout="00:00:02",
                                       MessageExpirationTimeout="00:00:06"))
        a.cmdlet("New-SendConnector", "-Name", "Dead", "-AddressSpaces", "dead.test",
                 "-SmartHosts", "127.0.0.1", "-DNSRoutingEnabled", "$false", "-Port",
                 str(dead_port))
        assert connect_refused("127.0.0.1", dead_port)
        start = time.monotonic()
        submit(a, "alice@a.test", ["carol@b.test"], msg("busy peer"))
        submit(a, "alice@a.test", ["dan@dead.test"], msg("dead peer", to="dan@dead.test"))
        delays = wait_for(lambda: len(reports(a, "alice@a.test", "delayed")) == 2 and
                          reports(a, "alice@a.test", "delayed"), timeout=10,
                          what="two delay notices")
        assert time.monotonic() - start > 1.0, "delay notice before DelayNotificationTimeout"
        assert not reports(a, "alice@a.test", "failed"), "bounce before expiry"
        by_rcpt = {rcpt_of(b): b for _, blocks in delays for b in blocks}
        assert set(by_rcpt) == {"carol@b.test", "dan@dead.test"}
        for blk in by_rcpt.values():
            assert blk["action"].lower() == "delayed"
            assert blk["status"].startswith("4."), blk
            assert "will-retry-until" in blk, blk
        assert "451 4.3.0" in by_rcpt["carol@b.test"].get("diagnostic-code", ""), by_rcpt
        # still queued until expiry
        assert a.queued_ids()
        fails = wait_for(lambda: len(reports(a, "alice@a.test", "failed")) == 2 and
                         reports(a, "alice@a.test", "failed"), timeout=15,
                         what="two expiry bounces")
        assert time.monotonic() - start >= 5, "bounce before MessageExpirationTimeout"
        wait_queue_empty(a)
        by_rcpt = {rcpt_of(b): b for _, blocks in fails for b in blocks}
        assert set(by_rcpt) == {"carol@b.test", "dan@dead.test"}
        for rcpt, blk in by_rcpt.items():
            assert blk["action"].lower() == "failed"
            # RFC 3463 X.4.7: delivery time expired
            assert re.fullmatch(r"[45]\.4\.7", blk["status"]), blk
            assert "expired" in blk.get("diagnostic-code", "").lower(), blk
        # the reason includes what went wrong last
        assert "451 4.3.0" in by_rcpt["carol@b.test"]["diagnostic-code"]
        assert re.search(r"refused|connect", by_rcpt["dan@dead.test"]["diagnostic-code"], re.I)
        assert not peer.accepted()
        # exactly one notice and one bounce per message
        assert len(reports(a, "alice@a.test")) == 4


def test_no_report_to_the_null_sender(instances):
    with ScriptedSMTP(rcpt_reply=lambda addr, n: "550 5.1.1 user unknown") as peer:
        a = relay_instance(instances, "a", peer.port)
        qid = submit(a, "", ["nobody@b.test"],
                     msg("a bounce that bounces", sender="mailer-daemon@elsewhere.test"))
        wait_for(lambda: ("FAIL", "nobody@b.test") in tracking_events(a, qid), timeout=15,
                 what="the recipient to fail")
        wait_queue_empty(a)
        # nothing new was queued (it would have been before the message left the queue),
        # and no report event was logged (it would have been with the FAIL event)
        assert not [e for e, _ in tracking_events(a) if e == "DSN"], tracking_events(a)
        assert len(peer.messages) == 0 and peer.rcpt_attempts == {"nobody@b.test": 1}
        delivered = [f for f in glob.glob(os.path.join(a.dir, "mail", "*", "*", "*"))]
        assert not delivered, delivered


def wait_retry_state(a, hop="Out"):
    def retrying():
        q = queue_named(a, hop)
        return q if q and q.get("Status") == "Retry" and q.get("LastError") else None
    return wait_for(retrying, timeout=15, what=f"queue {hop} in Retry with a LastError")


def test_get_queue_retry_state_and_retry_queue(instances):
    port = free_port()
    a = relay_instance(instances, "a", port, timers=SLOW_TIMERS)
    qid = submit(a, "alice@a.test", ["carol@b.test"], msg("waiting"))
    q = wait_retry_state(a)
    assert q["Identity"] == "mail\\Out", q
    assert q["DeliveryType"] == "SmartHostConnectorDelivery"
    assert q["MessageCount"] == "1"
    assert re.search(r"refused|connect", q["LastError"], re.I), q
    retry_at = datetime.datetime.strptime(q["NextRetryTime"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert now + datetime.timedelta(seconds=30) < retry_at <= now + datetime.timedelta(seconds=61)
    m = a.get("Get-Message", "-Identity", qid)
    assert len(m) == 1 and m[0]["Status"] == "Retry", m
    assert m[0]["Queue"] == "mail\\Out" and m[0]["LastError"], m
    with ScriptedSMTP(port=port) as peer:
        # (that no attempt comes before NextRetryTime is test_connection_failure_retry_tiers's)
        assert not peer.connections
        # the pipeline form of the README: each queue with mail, by its Identity
        a.cmdlet("Get-Queue | Where-Object {$_.MessageCount -gt 0} | Retry-Queue")
        wait_for(lambda: peer.accepted(), timeout=10, what="Retry-Queue to force an attempt")
        wait_queue_empty(a)
    assert len(peer.accepted()) == 1


def test_suspend_and_resume_queue(instances):
    """A suspended queue is not retried. The witness: a second queue ("Witness", to
    the same port, same one-second retry) whose connection failed after Out's, so its
    retry falls on the same scheduler beat as Out's would, or a later one."""
    port = free_port()
    a = relay_instance(instances, "a", port, relay_domains=("b.test", "c.test"))
    a.cmdlet("New-SendConnector", "-Name", "Witness", "-AddressSpaces", "c.test",
             "-SmartHosts", "127.0.0.1", "-DNSRoutingEnabled", "$false", "-Port", str(port))
    submit(a, "alice@a.test", ["carol@b.test"], msg("held"))
    wait_retry_state(a)
    a.cmdlet("Suspend-Queue", "-Identity", "mail\\Out")
    assert queue_named(a, "Out")["Status"] == "Suspended"
    submit(a, "alice@a.test", ["dan@c.test"], msg("witness", to="dan@c.test"))
    wait_retry_state(a, "Witness")
    with ScriptedSMTP(port=port) as peer:
        # retries every second, but not while suspended
        wait_for(lambda: peer.accepted() and "QUIT" in peer.commands, timeout=10,
                 what="the witness queue's retry to deliver and end its connection")
        assert [r for r, _ in peer.accepted()] == [["dan@c.test"]]
        assert peer.connections == 1, "the suspended queue was tried"
        assert queue_named(a, "Out")["Status"] == "Suspended"
        a.cmdlet("Resume-Queue", "-Identity", "mail\\Out")
        wait_for(lambda: peer.accepted(), timeout=10, what="delivery after Resume-Queue")
        wait_queue_empty(a)


def test_suspend_and_resume_message(instances):
    port = free_port()
    a = relay_instance(instances, "a", port)
    held = submit(a, "alice@a.test", ["carol@b.test"], msg("held message"))
    other = submit(a, "alice@a.test", ["carol@b.test"], msg("other message"))
    wait_retry_state(a)
    a.cmdlet("Suspend-Message", "-Identity", f"mail\\Out\\{held}")
    m = a.get("Get-Message", "-Identity", held)
    assert m[0]["Status"] == "Suspended", m
    with ScriptedSMTP(port=port) as peer:
        # the connection that took the other message ends once nothing else may go on it
        wait_for(lambda: peer.accepted() and "QUIT" in peer.commands, timeout=10,
                 what="the other message to go and the connection to end")
        subjects = [d for _, d in peer.accepted()]
        assert len(subjects) == 1 and b"Subject: other message" in subjects[0]
        # the delivered one leaves the queue a moment after its 250
        wait_for(lambda: a.queued_ids() == [held], what="only the held message queued")
        a.cmdlet("Resume-Message", "-Identity", held)
        wait_for(lambda: len(peer.accepted()) == 2, timeout=10,
                 what="the resumed message to go")
        assert b"Subject: held message" in peer.accepted()[1][1]
        wait_queue_empty(a)
    assert other not in a.queued_ids()


def test_remove_message_with_and_without_ndr(instances):
    port = free_port()
    a = relay_instance(instances, "a", port, timers=SLOW_TIMERS)
    with_ndr = submit(a, "alice@a.test", ["carol@b.test"], msg("removed with report"))
    without = submit(a, "alice@a.test", ["carol@b.test"], msg("removed quietly"))
    wait_retry_state(a)
    a.cmdlet("Remove-Message", "-Identity", f"mail\\Out\\{with_ndr}", "-WithNDR", "$true")
    a.cmdlet("Remove-Message", "-Identity", without, "-WithNDR", "$false")
    reps = wait_for(lambda: reports(a, "alice@a.test", "failed"), timeout=10,
                    what="the report about the removed message")
    wait_queue_empty(a)
    # both removals logged: a report for either would be logged (DSN) with its FAIL event,
    # and would have been delivered before the queue emptied
    wait_for(lambda: all(("FAIL", "carol@b.test") in tracking_events(a, q)
                         for q in (with_ndr, without)),
             what="the FAIL events of both removed messages")
    reps = reports(a, "alice@a.test")
    assert len(reps) == 1, "only the message removed -WithNDR $true is reported"
    raw, blocks = reps[0]
    _, _, per_rcpt, original = dsn_parts(raw)
    assert [rcpt_of(b) for b in per_rcpt] == ["carol@b.test"]
    assert per_rcpt[0]["status"].startswith("5.")
    assert b"Subject: removed with report" in original.as_bytes()
    events = tracking_events(a)
    assert not [e for e in tracking_events(a, without) if e[0] in ("SEND", "DELIVER", "DSN")]
    assert len([e for e, _ in events if e == "DSN"]) == 1, events


def test_kill9_while_peer_holds_the_final_reply(instances):
    """postern dies after sending the content, before the peer's reply: after a
    restart every recipient is delivered (again: SMTP allows the duplicate)."""
    with ScriptedSMTP(final_delay=lambda n: 60 if n == 1 else 0) as peer:
        a = relay_instance(instances, "a", peer.port)
        qid = submit(a, "alice@a.test", ["carol@b.test", "dave@b.test"], msg("in flight"))
        assert peer.data_seen.wait(15 * SLOW), "the content never reached the peer"
        a.kill9()
        assert qid in a.queued_ids(), "the unacknowledged message must still be queued"
        a.start()
        wait_for(lambda: peer.accepted(), timeout=15, what="delivery after the restart")
        wait_queue_empty(a)
        accepted = peer.accepted()
        assert len(accepted) == 1
        assert sorted(accepted[0][0]) == ["carol@b.test", "dave@b.test"]
        assert b"Subject: in flight" in accepted[0][1]
        assert not reports(a, "alice@a.test")


def test_kill9_during_local_delivery_delivers_each_recipient_once(instances):
    """kill -9 while messages arrive and are written to Maildirs: after the
    restart every acknowledged message is in every recipient's Maildir, and
    no message is there twice."""
    users = ["u1@b.test", "u2@b.test", "u3@b.test"]
    b = receiver_instance(instances, "b", ["b.test"], users)
    acked, stop = [], threading.Event()

    def sender():
        try:
            with b.smtp() as c:
                for i in range(400):
                    if stop.is_set():
                        return
                    c.sendmail("sender@elsewhere.test", users,
                               message(subject=f"crash {i}", sender="sender@elsewhere.test",
                                       to=", ".join(users)))
                    acked.append(f"crash {i}".encode())
        except (OSError, smtplib.SMTPException):
            return  # the server died under us

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    try:
        # kill -9 in the middle of the flow: some copies written, more coming
        wait_for(lambda: sum(len(maildir(b, u)) for u in users) >= 30, timeout=30,
                 interval=0.005, what="the first Maildir copies")
        b.kill9()
    finally:
        stop.set()
        t.join(timeout=30)
    written_before = sum(len(maildir(b, u)) for u in users)
    assert acked, "no message was acknowledged before the kill"
    b.start()
    wait_queue_empty(b, timeout=30)  # Maildir copies are written before the removal
    for u in users:
        subjects = [re.search(rb"\nSubject: (crash \d+)\n", raw).group(1)
                    for _, raw in maildir(b, u)]
        dups = {x for x in subjects if subjects.count(x) > 1}
        assert not dups, f"{u}: delivered twice: {sorted(dups)}"
        missing = set(acked) - set(subjects)
        assert not missing, f"{u}: acknowledged but never delivered: {sorted(missing)}"
    print(f"{len(acked)} acknowledged; {written_before} copies written before the kill")
