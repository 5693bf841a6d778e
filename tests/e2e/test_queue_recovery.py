"""Queue recovery at start (docs/DESIGN.md, "Durable queue"): the queue's log
(queue/log/<N>.seg, read here by tests/e2e/qlog_reader.py) with a record the
disk damaged, with the torn end a crash leaves, and a queue in the layout
before the log. Damage is skipped and logged, naming the message; a torn
end is cut; the earlier layout is moved into the log; everything whole is
delivered as usual.

The next hop is a scripted SMTP server (peers.ScriptedSMTP), down while the
messages are queued and up when the service comes back. What a stopped
instance's queue holds is read by the cmdlets themselves, in the fields the
running service shows.
Must never: touch a queue file while the service runs.
"""
import os

import qlog_reader
from conftest import free_port, message, wait_for
from peers import ScriptedSMTP, connect_refused, queue_named, relay_instance, submit, \
    wait_queue_empty


def queued_three(instances):
    """Instance a with three messages for the next hop, which is down; stopped."""
    port = free_port()
    a = relay_instance(instances, "a", port)
    assert connect_refused("127.0.0.1", port)
    ids = [submit(a, "alice@a.test", ["carol@b.test"],
                  message(subject=f"queued {i}", sender="alice@a.test", to="carol@b.test"))
           for i in range(3)]
    wait_for(lambda: (queue_named(a, "Out") or {}).get("Status") == "Retry", timeout=15,
             what="the queue to wait for the next hop")
    assert a.stop() == 0
    return a, port, ids


def delivered_subjects(peer):
    return sorted(data.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0]
                  for _, data in peer.accepted())


def test_a_record_the_disk_damaged_is_skipped_and_named(instances):
    a, port, ids = queued_three(instances)
    damaged = ids[1]
    queue = os.path.join(a.dir, "queue")
    (seg,) = qlog_reader.segments(queue)
    off, _, _, env, content = next(r for r in qlog_reader.records(seg, offsets=True)
                                   if r[2] == damaged and r[1] == 1)
    with open(seg, "r+b") as f:  # one bit of its content, as a failing disk would
        f.seek(off + qlog_reader.HEADER.size + len(env) + len(content) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x01]))
    size = os.path.getsize(seg)

    with ScriptedSMTP(port=port) as peer:
        a.start()
        wait_for(lambda: len(peer.accepted()) == 2, timeout=15,
                 what="the two whole messages at the next hop")
        wait_queue_empty(a)
        assert delivered_subjects(peer) == [b"queued 0", b"queued 2"]
    assert f"among them a record of message {damaged}" in a.log(), a.log()[-2000:]
    assert "skipped to the next whole record" in a.log()
    assert not [m for m in a.get("Get-Message") if m["Identity"].endswith(damaged)]
    # skipped, not cut: the records after it were used, and nothing comes back
    assert a.stop() == 0
    a.start()
    assert a.queued_ids() == []
    assert not os.path.exists(seg) or os.path.getsize(seg) >= size


def test_the_torn_end_a_crash_leaves_is_cut(instances):
    a, port, ids = queued_three(instances)
    queue = os.path.join(a.dir, "queue")
    (seg,) = qlog_reader.segments(queue)
    with open(seg, "rb") as f:
        first = f.read(100)
    size = os.path.getsize(seg)
    with open(seg, "ab") as f:  # half a record: a batch the crash interrupted
        f.write(first[:70])

    with ScriptedSMTP(port=port) as peer:
        a.start()
        wait_for(lambda: len(peer.accepted()) == 3, timeout=15,
                 what="all three messages at the next hop")
        wait_queue_empty(a)
        assert delivered_subjects(peer) == [b"queued 0", b"queued 1", b"queued 2"]
    assert f"at offset {size}: the end of the log is cut there (70 bytes" in a.log(), \
        a.log()[-2000:]


def test_a_queue_of_the_earlier_layout_is_moved_into_the_log(instances):
    """An upgrade from a postern whose queue was a file per message (data/<ID>
    content, env/<ID> envelope) loses nothing."""
    a, port, ids = queued_three(instances)
    queue = os.path.join(a.dir, "queue")
    live = qlog_reader.live(queue)
    for sub in ("env", "data"):
        os.makedirs(os.path.join(queue, sub), exist_ok=True)
    for qid, (env, content) in live.items():
        with open(os.path.join(queue, "env", qid), "wb") as f:
            f.write(env)
        with open(os.path.join(queue, "data", qid), "wb") as f:
            f.write(content)
    for seg in qlog_reader.segments(queue):
        os.unlink(seg)
    os.system(f"chown -R --reference={queue} {queue}")

    with ScriptedSMTP(port=port) as peer:
        a.start()
        wait_for(lambda: len(peer.accepted()) == 3, timeout=15,
                 what="all three messages at the next hop")
        wait_queue_empty(a)
        assert delivered_subjects(peer) == [b"queued 0", b"queued 1", b"queued 2"]
    assert "3 message(s) moved from" in a.log(), a.log()[-2000:]
    assert os.listdir(os.path.join(queue, "env")) == []
    assert os.listdir(os.path.join(queue, "data")) == []


def test_get_message_shows_the_same_fields_when_the_service_is_stopped(instances):
    """Get-Message is rendered once (queue/queue_show.c): the running service's answer and
    the cmdlet's own reading of a stopped instance's queue show the same fields, in the
    same order, with the same values wherever both know them."""
    port = free_port()
    a = relay_instance(instances, "a", port)
    assert connect_refused("127.0.0.1", port)
    qid = submit(a, "alice@a.test", ["carol@b.test", "dave@b.test"],
                 message(subject="shown twice", sender="alice@a.test", to="carol@b.test"))
    running = wait_for(lambda: [m for m in a.get("Get-Message", "-Identity", qid)
                                if m.get("Subject") and m.get("Status") == "Retry"],
                       timeout=15, what="the message waiting in Retry")[0]
    assert a.stop() == 0
    listed = a.get("Get-Message", "-Identity", qid)
    assert len(listed) == 1, listed
    stopped = listed[0]
    assert list(stopped) == list(running), (running, stopped)
    for field in ("FromAddress", "Size", "Subject", "InternetMessageId", "DateReceived",
                  "ExpirationTime", "SourceIP", "MessageSourceName", "DomainSecured",
                  "TlsProtocol", "Recipients"):
        assert stopped[field] == running[field], (field, running, stopped)
    assert running["Identity"] == f"mail\\Out\\{qid}", running
    assert stopped["Identity"] == f"mail\\Submission\\{qid}", stopped
    assert stopped["Subject"] == "shown twice" and stopped["FromAddress"] == "alice@a.test"
    assert stopped["Recipients"] == "{carol@b.test, dave@b.test}", stopped
    assert stopped["InternetMessageId"].startswith("<") and stopped["DateReceived"], stopped
    queues = a.get("Get-Queue")
    assert [(q["Identity"], q["MessageCount"]) for q in queues] == [("mail\\Submission", "1")]
    assert set(queues[0]) == {"Identity", "DeliveryType", "Status", "MessageCount",
                              "NextHopDomain", "NextHopConnector", "LastError", "NextRetryTime"}
