"""kill -9 of the service: every acknowledged message survives, no partial one does."""
import os
import signal
import time

from conftest import message, open_transaction, queue_id_from_reply, wait_for


def test_kill9_after_ack_and_during_data(server):
    acked = []
    for i in range(5):
        with server.smtp() as c:
            c.ehlo()
            c.mail("bob@example.org")
            c.rcpt("alice@a.test")
            code, reply = c.data(message(subject=f"m{i}"))
            assert code == 250
            acked.append(queue_id_from_reply(reply))
    # a message in the middle of DATA when the service dies
    raw = open_transaction(server.host, server.port, data=True)
    # more than the 64 KiB the smtp process buffers, so that some of it is on disk
    raw.send(b"Subject: partial\r\n\r\n" + b"half of it\r\n" * 8000)
    wait_for(lambda: len(server.data_files()) == 6, what="partial content on disk")
    server.kill9()
    raw.close()

    server.start()
    assert server.queued_ids() == sorted(acked)
    assert server.data_files() == sorted(acked)  # the partial one is gone
    for qid in acked:
        assert server.queued_content(qid).endswith(b"Hello.\r\n")
    listed = server.get("Get-Message")
    assert sorted(m["Identity"].split("\\")[-1] for m in listed) == sorted(acked)


def test_sigterm_says_goodbye_and_keeps_acknowledged_mail(server):
    raw = open_transaction(server.host, server.port, data=True)
    code, text = raw.cmd(b"Subject: before stop\r\n\r\nbody\r\n.")
    assert code == 250
    qid = queue_id_from_reply(text)
    assert server.stop() == 0
    # the open session was told, not just cut
    code, text = raw.reply()
    assert code == 421 and b"4.3.2" in text
    server.start()
    assert qid in server.queued_ids()
