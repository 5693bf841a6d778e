"""A full queue disk: 452 4.3.1, nothing lost, nothing half-written, and recovery.

The queue directory is a 2 MiB tmpfs (mounted as root, owned by the service user) that a
filler file fills to a chosen number of free pages. The messages stay queued (their mailbox
server is down), so the delivery side also runs into the full disk when it records its
retries.
"""
import os
import pwd
import smtplib
import subprocess
import time

import pytest

from conftest import RawSMTP, message, queue_id_from_reply, wait_for

PAGE = 4096
TMPFS_SIZE = 2 * 1024 * 1024
SERVICE_USER = "postern"
# alice's mailbox is on an LMTP server that is down (as in conftest's server fixture), so
# acknowledged messages stay in the queue, in Retry, where this test looks at them.
DOWN_LMTP = "127.0.0.1:1"


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def set_free(qdir, filler, want):
    """Grows or shrinks the filler until `want` bytes (a multiple of the page size) are
    free on the tmpfs. tmpfs allocates whole pages, so this is exact."""
    for _ in range(4):
        delta = free_bytes(qdir) - want
        if delta == 0:
            return
        size = os.path.getsize(filler) if os.path.exists(filler) else 0
        with open(filler, "r+b" if size else "wb") as f:
            if delta > 0:
                f.seek(size)
                chunk = b"\0" * 65536
                while delta > 0:  # real data: a sparse file would take no pages
                    n = f.write(chunk[:min(delta, len(chunk))])
                    delta -= n
                f.flush()
                os.fsync(f.fileno())
            else:
                f.truncate(max(0, size + delta))
    assert free_bytes(qdir) == want, (free_bytes(qdir), want)


def mount_tmpfs(path, uid, gid):
    r = subprocess.run(["mount", "-t", "tmpfs", "-o",
                        f"size={TMPFS_SIZE},mode=0700,uid={uid},gid={gid}", "tmpfs", path],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip() or r.returncode}")


def unmount(path):
    for _ in range(50):
        r = subprocess.run(["umount", path], capture_output=True, text=True, timeout=30)
        if r.returncode == 0 or "not mounted" in r.stderr:
            return
        time.sleep(0.1)
    subprocess.run(["umount", "-l", path], capture_output=True, timeout=30)
    raise AssertionError(f"could not unmount {path}: {r.stderr}")


def send(server, msg, size=None):
    """One transaction; returns the final reply (code, text) of MAIL or of the data."""
    with server.smtp(timeout=30) as c:
        c.ehlo()
        code, text = c.mail("bob@example.org", [f"SIZE={size}"] if size else [])
        if code != 250:
            return code, text
        assert c.rcpt("alice@a.test")[0] == 250
        return c.data(msg)


def assert_nothing_partial(server, acked):
    ids = server.queued_ids()
    assert ids == sorted(acked)
    assert server.data_files() == ids, "a content file of a refused message was left behind"


def test_full_disk_gives_452_and_loses_nothing(instances):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    try:
        pw = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        pytest.skip(f"service user {SERVICE_USER} does not exist")
    server = instances("a")
    server.cmdlet("New-AcceptedDomain", "-Name", "a.test", "-DomainName", "a.test",
                  "-LmtpServer", DOWN_LMTP)
    server.cmdlet("New-Mailbox", "-Name", "alice", "-PrimarySmtpAddress", "alice@a.test",
                  "-Password", "Secret-1234")
    qdir = os.path.join(server.dir, "queue")
    os.makedirs(qdir, exist_ok=True)
    mount_tmpfs(qdir, pw.pw_uid, pw.pw_gid)
    filler = os.path.join(qdir, "filler")
    try:
        server.start()
        assert os.statvfs(qdir).f_blocks * PAGE == TMPFS_SIZE  # really on the tmpfs

        # acknowledged before the disk fills
        acked = []
        for i in range(3):
            code, reply = send(server, message(subject=f"before {i}", body="kept\r\n" * 100))
            assert code == 250, reply
            acked.append(queue_id_from_reply(reply))
        before = {qid: server.queued_content(qid) for qid in acked}

        # 300 pages (1.17 MiB) free: more than the 1 MiB reserve, so MAIL without SIZE is
        # accepted, but not room for a 1.5 MiB message.
        set_free(qdir, filler, 300 * PAGE)

        # (a1) SIZE= announces a message that will not fit: refused at MAIL
        code, text = send(server, message(), size=600000)
        assert code == 452 and text.startswith(b"4.3.1"), (code, text)

        # (a2) no SIZE=: the disk fills during DATA; 452 4.3.1 at the end of the data,
        # the partial content file is removed, and the session goes on.
        big = message(subject="too big", body=("y" * 998 + "\r\n") * 1500)  # 1.5 MB
        with server.smtp(timeout=30) as c:
            c.ehlo()
            assert c.mail("bob@example.org")[0] == 250
            assert c.rcpt("alice@a.test")[0] == 250
            code, text = c.data(big)
            assert code == 452 and text.startswith(b"4.3.1"), (code, text)
            assert_nothing_partial(server, acked)
            assert c.noop()[0] == 250
            assert c.rset()[0] == 250
        assert free_bytes(qdir) == 300 * PAGE, "the refused message's pages were not freed"

        # (a3) content that takes exactly every free page: the content fits, the
        # envelope does not; the commit must fail with 452 4.3.1, not 250, and take the
        # content file and the envelope .tmp back.
        body_len = 300 * PAGE - 1500  # the Received: header and headers fill the rest
        body = ("z" * 998 + "\r\n") * (body_len // 1000)
        body += "z" * (body_len - len(body) - 2) + "\r\n"
        code, text = send(server, message(subject="exact", body=body))
        assert code == 452 and text.startswith(b"4.3.1"), (code, text)
        assert_nothing_partial(server, acked)
        assert free_bytes(qdir) == 300 * PAGE

        # (a4) the disk is really full (less than the reserve): refused at MAIL
        set_free(qdir, filler, 8 * PAGE)
        code, text = send(server, message(subject="small"))
        assert code == 452 and text.startswith(b"4.3.1"), (code, text)
        # a transaction that got past MAIL before the disk filled still gets 452 4.3.1
        raw = RawSMTP(server.host, server.port, timeout=30)
        try:
            raw.reply()
            raw.cmd(b"EHLO client.test")
            set_free(qdir, filler, 300 * PAGE)
            assert raw.cmd(b"MAIL FROM:<bob@example.org>")[0] == 250
            assert raw.cmd(b"RCPT TO:<alice@a.test>")[0] == 250
            assert raw.cmd(b"DATA")[0] == 354
            raw.send(b"Subject: racing\r\n\r\n" + b"r" * 998 + b"\r\n")
            set_free(qdir, filler, 0)
            raw.send((b"r" * 998 + b"\r\n") * 200)
            code, text = raw.cmd(b".")
            assert code == 452 and b"4.3.1" in text, (code, text)
            assert raw.cmd(b"QUIT")[0] == 221
        finally:
            raw.close()
        assert_nothing_partial(server, acked)

        # (b) what was acknowledged is untouched
        for qid in acked:
            assert server.queued_content(qid) == before[qid]
        assert server.proc.poll() is None

        # (c) room again: mail is accepted
        os.unlink(filler)
        code, reply = send(server, message(subject="after", body="after\r\n"))
        assert code == 250, reply
        acked.append(queue_id_from_reply(reply))
        assert_nothing_partial(server, acked)
        assert server.queued_content(acked[-1]).endswith(b"\r\n\r\nafter\r\n")

        # and a restart recovers exactly the acknowledged messages
        assert server.stop() == 0
        server.start()
        assert_nothing_partial(server, acked)
        listed = server.get("Get-Message")
        assert sorted(m["Identity"].split("\\")[-1] for m in listed) == sorted(acked)
    finally:
        server.stop()
        unmount(qdir)
