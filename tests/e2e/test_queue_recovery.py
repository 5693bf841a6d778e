"""Queue recovery at start (docs/DESIGN.md, "Durable queue"): an envelope whose
content file is gone (queue/env/<ID> without queue/data/<ID>) is renamed
<ID>.damaged and logged, and the rest of the queue is delivered as usual.

The next hop is a scripted SMTP server (peers.ScriptedSMTP), down while the
messages are queued and up when the service comes back. What a stopped
instance's queue holds is read by the cmdlets themselves, in the fields the
running service shows.
Must never: touch a queue file while the service runs.
"""
import os

from conftest import free_port, message, wait_for
from peers import ScriptedSMTP, connect_refused, queue_named, relay_instance, submit, \
    wait_queue_empty


def test_envelope_without_content_is_set_aside_and_the_rest_delivered(instances):
    port = free_port()
    a = relay_instance(instances, "a", port)
    assert connect_refused("127.0.0.1", port)
    ids = [submit(a, "alice@a.test", ["carol@b.test"],
                  message(subject=f"queued {i}", sender="alice@a.test", to="carol@b.test"))
           for i in range(3)]
    wait_for(lambda: (queue_named(a, "Out") or {}).get("Status") == "Retry", timeout=15,
             what="the queue to wait for the next hop")
    assert a.stop() == 0
    damaged = ids[1]
    os.unlink(os.path.join(a.dir, "queue", "data", damaged))

    with ScriptedSMTP(port=port) as peer:
        a.start()
        wait_for(lambda: len(peer.accepted()) == 2, timeout=15,
                 what="the two whole messages at the next hop")
        wait_queue_empty(a)  # env/<ID> of the damaged one is gone too
        subjects = sorted(data.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0]
                          for _, data in peer.accepted())
        assert subjects == [b"queued 0", b"queued 2"], subjects
    env = os.path.join(a.dir, "queue", "env")
    assert os.path.exists(os.path.join(env, damaged + ".damaged")), os.listdir(env)
    assert f"message {damaged} has an envelope but no content" in a.log(), a.log()[-2000:]
    assert f"{damaged}.damaged" in a.log()
    assert not [m for m in a.get("Get-Message") if m["Identity"].endswith(damaged)]
    # set aside, not deleted: still there after the next start
    assert a.stop() == 0
    a.start()
    assert os.path.exists(os.path.join(env, damaged + ".damaged"))
    assert a.queued_ids() == []


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
