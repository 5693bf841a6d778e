"""Get-MessageTrackingLog (src/admin/cmdlet_tracking.c): Exchange 2007's search of the message
tracking log, DIR/logs/MessageTracking/MSGTRKyyyymmdd-N.log. Filters AND together, results
come oldest first as Format-List objects with Exchange's property names, and a damaged line,
a file that is not one of the log's, or a symbolic link is never read as an event."""
import datetime
import json
import os
import smtplib

import pytest

from conftest import message, queue_id_from_reply, wait_for

HOSTILE = 'Re: "quotes", commas, and ""doubled"" ; semi,colons'
FIELDS = ("date-time,client-ip,client-hostname,server-ip,server-hostname,source-context,"
          "connector-id,source,event-id,internal-message-id,message-id,recipient-address,"
          "recipient-status,total-bytes,recipient-count,related-recipient-address,reference,"
          "message-subject,sender-address,return-path,message-info")


def track_dir(inst):
    return os.path.join(inst.dir, "logs", "MessageTracking")


def trk(inst, *args, check=True):
    return inst.cmdlet("Get-MessageTrackingLog", *args, check=check)


def events(inst, *args):
    return inst.get("Get-MessageTrackingLog", *args)


def send(inst, sender, subject):
    """Sends one message to alice@a.test; returns (queue id, Message-ID)."""
    msg = message(subject=subject, sender=sender)
    msgid = [l for l in msg.split("\r\n") if l.startswith("Message-ID: ")][0][12:]
    with smtplib.SMTP(inst.host, inst.port, timeout=10) as c:
        c.ehlo("client.test")
        c.mail(sender)
        c.rcpt("alice@a.test")
        code, reply = c.data(msg.encode())
        assert code == 250, reply
    return queue_id_from_reply(reply), msgid


@pytest.fixture
def tracked(instances):
    """A running instance that has received and delivered two messages from different
    senders to its mailbox alice@a.test, both in the tracking log."""
    inst = instances("a")
    inst.cmdlet("New-AcceptedDomain", "-Name", "a.test", "-DomainName", "a.test")
    inst.cmdlet("New-Mailbox", "-Name", "alice", "-PrimarySmtpAddress", "alice@a.test",
                "-Password", "Secret-1234")
    inst.start()
    first = send(inst, "bob@example.org", "first message")
    # one after the other, so that the order of the events is known
    wait_for(lambda: len(events(inst, "-EventId", "DELIVER")) == 1, timeout=10,
             what="the first DELIVER event through Get-MessageTrackingLog")
    second = send(inst, "carol@example.net", HOSTILE)
    # the cmdlet itself sees them once the service has written the log out
    wait_for(lambda: len(events(inst, "-EventId", "DELIVER")) == 2, timeout=10,
             what="both DELIVER events through Get-MessageTrackingLog")
    inst.first, inst.second = first, second
    return inst


def test_filters(tracked):
    (q1, id1), (q2, id2) = tracked.first, tracked.second
    every = events(tracked)
    assert [(e["EventId"], e["InternalMessageId"]) for e in every] == [
        ("RECEIVE", q1), ("DELIVER", q1), ("RECEIVE", q2), ("DELIVER", q2)]
    assert every == sorted(every, key=lambda e: e["Timestamp"])  # oldest first

    # -Sender: exactly the first message's events, the address compared without case
    mine = events(tracked, "-Sender", "BOB@Example.ORG")
    assert [e["EventId"] for e in mine] == ["RECEIVE", "DELIVER"]
    assert {e["InternalMessageId"] for e in mine} == {q1}
    assert {e["Sender"] for e in mine} == {"bob@example.org"}
    assert events(tracked, "-Sender", "<carol@example.net>")[0]["InternalMessageId"] == q2
    assert events(tracked, "-Sender", "bob@example") == []

    # -Recipients: any of those given equals any of the event's
    assert len(events(tracked, "-Recipients", "Alice@A.test")) == 4
    assert len(events(tracked, "-Recipients", "nobody@a.test,alice@a.test")) == 4
    assert events(tracked, "-Recipients", "nobody@a.test") == []
    assert every[0]["Recipients"] == "{alice@a.test}"

    # -MessageId with or without its angle brackets
    assert id2.startswith("<") and id2.endswith(">")
    for given in (id2, id2[1:-1]):
        found = events(tracked, "-MessageId", given)
        assert [e["InternalMessageId"] for e in found] == [q2, q2], given
        assert found[0]["MessageId"] == id2

    assert [e["EventId"] for e in events(tracked, "-InternalMessageId", q1.lower())] == [
        "RECEIVE", "DELIVER"]

    # -EventId, and filters AND together
    delivered = events(tracked, "-EventId", "deliver")
    assert [(e["EventId"], e["InternalMessageId"]) for e in delivered] == [
        ("DELIVER", q1), ("DELIVER", q2)]
    assert [e["InternalMessageId"] for e in events(tracked, "-EventId", "RECEIVE", "-Sender",
                                                      "carol@example.net")] == [q2]
    assert events(tracked, "-EventId", "FAIL") == []
    assert events(tracked, "-EventId", "DELIVER", "-Sender", "bob@example.org",
                  "-MessageId", id2) == []


def test_time_window_and_result_size(tracked):
    now = datetime.datetime.now(datetime.timezone.utc)
    before = (now - datetime.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    after = (now + datetime.timedelta(minutes=10)).strftime("%Y-%m-%d %H:%M")
    assert len(events(tracked, "-Start", before, "-End", after)) == 4
    assert len(events(tracked, "-Start", now.strftime("%Y-%m-%d"))) == 4
    # a window that holds nothing: no output at all, and success
    for window in (("-End", before), ("-Start", after), ("-End", "2001-01-01"),
                   ("-Start", "2001-01-01", "-End", "2001-01-02")):
        r = trk(tracked, *window)
        assert r.returncode == 0 and r.stdout == "" and r.stderr == "", window
    # split at the second message's RECEIVE: -Start includes it, -End excludes it
    every = events(tracked)
    at = every[2]["Timestamp"]
    assert [e["Timestamp"] for e in events(tracked, "-Start", at)] == [
        e["Timestamp"] for e in every if e["Timestamp"] >= at]
    assert [e["Timestamp"] for e in events(tracked, "-End", at)] == [
        e["Timestamp"] for e in every if e["Timestamp"] < at]

    one = events(tracked, "-ResultSize", "1")
    assert len(one) == 1 and one[0]["EventId"] == "RECEIVE"
    assert one[0]["InternalMessageId"] == tracked.first[0]
    assert len(events(tracked, "-ResultSize", "Unlimited")) == 4

    for bad in (("-Start", "yesterday"), ("-End", "2026-13-01"), ("-ResultSize", "0"),
                ("-ResultSize", "-3"), ("-ResultSize", "lots"), ("-Server", "mail"),
                ("-Sender",)):
        r = trk(tracked, *bad, check=False)
        assert r.returncode == 2 and r.stdout == "", (bad, r.stdout, r.stderr)
        assert r.stderr.startswith("Get-MessageTrackingLog: "), r.stderr


def test_properties_json_and_hostile_subject(tracked):
    (q1, _), (q2, id2) = tracked.first, tracked.second
    e = events(tracked, "-InternalMessageId", q2, "-EventId", "RECEIVE")[0]
    assert list(e) == ["Timestamp", "ClientIp", "ClientHostname", "ServerIp", "ServerHostname",
                       "SourceContext", "ConnectorId", "Source", "EventId", "InternalMessageId",
                       "MessageId", "Recipients", "RecipientStatus", "TotalBytes",
                       "RecipientCount", "RelatedRecipientAddress", "Reference",
                       "MessageSubject", "Sender", "ReturnPath", "MessageInfo"]
    assert e["MessageSubject"] == HOSTILE
    assert e["ClientIp"] == "127.0.0.1" and e["ClientHostname"] == "client.test"
    assert e["Source"] == "SMTP" and e["RecipientCount"] == "1" and int(e["TotalBytes"]) > 0

    r = tracked.cmdlet("Get-MessageTrackingLog | ConvertTo-Json")
    data = json.loads(r.stdout)
    assert isinstance(data, list) and len(data) == 4
    assert data[0]["Recipients"] == ["alice@a.test"]
    assert data[0]["RecipientCount"] == 1 and isinstance(data[0]["TotalBytes"], int)
    assert [d["MessageSubject"] for d in data] == ["first message"] * 2 + [HOSTILE] * 2
    assert data[3]["MessageId"] == id2 and data[3]["EventId"] == "DELIVER"

    # the pipeline reads the objects back: Where-Object and Format-Table work on them
    r = tracked.cmdlet("Get-MessageTrackingLog | Where-Object {$_.Sender -eq "
                       "'carol@example.net'} | ft EventId,InternalMessageId")
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["EventId", "InternalMessageId"]
    assert [l.split() for l in lines[2:]] == [["RECEIVE", q2], ["DELIVER", q2]]


def test_damaged_lines_and_foreign_files_are_skipped(tracked):
    expected = events(tracked)
    d = track_dir(tracked)
    today = [n for n in os.listdir(d) if n.startswith("MSGTRK")]
    assert len(today) == 1, today
    good_row = (datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z") +
                ",,,,,,,SMTP,RECEIVE,FFFF000000000001,<x@y>,alice@a.test,,1,1,,,forged,"
                "bob@example.org,bob@example.org,")
    with open(os.path.join(d, today[0]), "ab") as f:
        f.write(b'2026-01-01T00:00:00.000Z,"unterminated quote,RECEIVE\n')
        f.write(b"not,enough,fields\n")
        f.write(b"2026-01-01T00:00:00.000Z" + b",x" * 60 + b"\n")  # too many
        f.write(good_row.replace("SMTP", "SM\0TP").encode() + b"\n")  # a NUL byte
        f.write(good_row.replace(good_row[:24], "2026-02-30T00:00:00.000Z").encode() + b"\n")
        f.write(b'a,"b"c,d\n' + b"\xff\xfe\n" + b"\n" + b"," * 20 + b"\n")
        f.write(b"#Fields: " + FIELDS.encode() + b"\n")
    # files that are not the log's, with rows that would match, are not read
    for name in ("notes.log", today[0] + ".bak", "msgtrk20010101-1.log", "MSGTRK2001010-1.log"):
        with open(os.path.join(d, name), "w") as f:
            f.write(good_row + "\n")
    other = os.path.join(tracked.dir, "elsewhere.log")
    with open(other, "w") as f:
        f.write(good_row + "\n")
    os.symlink(other, os.path.join(d, "MSGTRK20010101-1.log"))
    os.mkdir(os.path.join(d, "MSGTRK20010102-1.log"))

    r = trk(tracked)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert events(tracked) == expected
    assert "forged" not in r.stdout and "FFFF" not in r.stdout

    # a good row after the damage is read: the damage costs only its own lines
    with open(os.path.join(d, today[0]), "a") as f:
        f.write(good_row + "\n")
    assert events(tracked)[-1]["MessageSubject"] == "forged"
    # and the last line, not ended yet, waits until it is whole
    with open(os.path.join(d, today[0]), "a") as f:
        f.write(good_row.replace("forged", "partial"))
    assert "partial" not in trk(tracked).stdout


def test_daily_files_order_and_default_limit(instances):
    """Without a service: rows out of order within a day come sorted, the days' files are
    read oldest first and only those of the window, and the default of 1000 results warns
    when it cuts the search short."""
    inst = instances("a")
    r = trk(inst)  # no log directory yet: nothing, and success
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    d = track_dir(inst)
    os.makedirs(d, exist_ok=True)

    def row(ts, event, subject):
        return (f"{ts},,,,,,,SMTP,{event},ABC,<m@x>,alice@a.test;Bob@B.test,"
                f"250 ok;250 fine,10,2,,,\"{subject}\",s@x,s@x,\n")

    header = ("#Software: postern\n#Version: 0.1.0\n#Log-type: Message Tracking Log\n"
              "#Date: 2001-01-01T00:00:00.000Z\n#Fields: " + FIELDS + "\n")
    with open(os.path.join(d, "MSGTRK20010102-1.log"), "w") as f:
        f.write(header + row("2001-01-02T00:00:00.000Z", "SEND", "day two"))
    with open(os.path.join(d, "MSGTRK20010101-1.log"), "w") as f:
        f.write(header)
        f.write(row("2001-01-01T10:00:00.500Z", "DELIVER", "second"))
        f.write(row("2001-01-01T10:00:00.100Z", "RECEIVE", "first"))
        f.write(row("2001-01-01T10:00:00.500Z", "DEFER", "third"))
    got = events(inst)
    assert [e["MessageSubject"] for e in got] == ["first", "second", "third", "day two"]
    assert got[0]["Recipients"] == "{alice@a.test, Bob@B.test}"
    assert got[0]["RecipientStatus"] == "{250 ok, 250 fine}"
    assert [e["MessageSubject"] for e in events(inst, "-Recipients", "bob@b.test",
                                                "-Start", "2001-01-02")] == ["day two"]
    assert [e["MessageSubject"] for e in events(inst, "-End", "2001-01-01T10:00:00.5Z")] == [
        "first"]

    # a file whose #Fields are in another order is read by its header
    fields = FIELDS.split(",")
    moved = [fields[8]] + fields[:8] + fields[9:]
    with open(os.path.join(d, "MSGTRK20010103-1.log"), "w") as f:
        f.write("#Fields: " + ",".join(moved) + "\n")
        f.write("FAIL,2001-01-03T00:00:00.000Z,,,,,,,SMTP,ABC,<m@x>,c@x,550 no,1,1,,,moved,"
                "s@x,s@x,\n")
    assert [e["EventId"] for e in events(inst, "-Start", "2001-01-03")] == ["FAIL"]

    # day four: 1000 RECEIVE and one SEND; day five: one RECEIVE more
    with open(os.path.join(d, "MSGTRK20010104-1.log"), "w") as f:
        f.write(header + "".join(row("2001-01-04T00:00:%02d.%03dZ" % (i // 1000, i % 1000),
                                     "RECEIVE" if i < 1000 else "SEND", f"n{i}")
                                 for i in range(1001)))
    with open(os.path.join(d, "MSGTRK20010105-1.log"), "w") as f:
        f.write(header + row("2001-01-05T00:00:00.000Z", "RECEIVE", "day five"))

    def count(*args):
        r = trk(inst, *args)
        assert r.returncode == 0, r.stderr
        return r.stdout.count("\nMessageSubject ") + r.stdout.startswith("MessageSubject "), \
            r.stderr

    day4 = ("-Start", "2001-01-04", "-End", "2001-01-05")
    n, err = count(*day4)
    assert n == 1000 and "WARNING: By default, only the first 1000 items are returned" in err
    assert count(*day4, "-ResultSize", "Unlimited") == (1001, "")
    assert count(*day4, "-ResultSize", "1000") == (1000, "")  # asked for: no warning
    assert count(*day4, "-EventId", "RECEIVE") == (1000, "")  # exactly 1000: no warning
    # the 1000 end with a file and the next one has more: the warning too
    n, err = count("-Start", "2001-01-04", "-EventId", "RECEIVE")
    assert n == 1000 and "WARNING" in err
    # everything: 3 + 1 + 1 + 1001 + 1
    assert count("-ResultSize", "Unlimited") == (1007, "")
    assert count("-End", "2001-01-04T00:00:00.995Z") == (1000, "")


def test_a_small_result_size_keeps_the_oldest_of_a_big_day(instances):
    """-ResultSize N over a day of many rows, newest first in the file: the N oldest, in
    order (the search keeps only what it could still show, not the whole day)."""
    inst = instances("a")
    d = track_dir(inst)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "MSGTRK20010101-1.log"), "w") as f:
        f.write("#Software: postern\n#Fields: " + FIELDS + "\n")
        for i in range(3000, 0, -1):
            ts = f"2001-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000Z"
            f.write(f"{ts},,,,,,,SMTP,RECEIVE,ID{i},<m{i}@x>,a@a.test,,10,1,,,s{i},s@x,s@x,\n")
    got = events(inst, "-ResultSize", "3")
    assert [e["InternalMessageId"] for e in got] == ["ID1", "ID2", "ID3"]
    assert len(events(inst, "-ResultSize", "Unlimited")) == 3000
