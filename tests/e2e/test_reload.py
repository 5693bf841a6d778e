"""Changing the configuration of a running service: cmdlets, `postern reload` and SIGHUP
apply a change without a restart, lose no session and no queued message, and a broken
postern.conf is refused while the service keeps running on its old configuration."""
import os
import signal
import socket
import threading

import pytest

from conftest import (SLOW, accepting, banner, client_context, finish_transaction, free_port,
                      message, open_transaction, queue_id_from_reply, stored, wait_for)
from peers import ScriptedSMTP, relay_instance, submit, tracking_events, wait_queue_empty


def conf_path(inst):
    return os.path.join(inst.dir, "postern.conf")


def read_conf(inst):
    with open(conf_path(inst)) as f:
        return f.read()


def write_conf(inst, text):
    # in place, as an editor run by the administrator would: owner and mode are kept
    with open(conf_path(inst), "w") as f:
        f.write(text)


def hand_edit(inst, old, new):
    text = read_conf(inst)
    assert text.count(old) == 1, f"{old!r} is not once in postern.conf:\n{text}"
    write_conf(inst, text.replace(old, new))
    return text


def same_service(inst, pid):
    assert inst.proc.poll() is None, "the service exited"
    assert inst.proc.pid == pid
    with open(os.path.join(inst.dir, "run", "postern.pid")) as f:
        assert int(f.read()) == pid
    assert inst.log().count("postern ready") == 1, "the service restarted"


# ---- cmdlets against the running service ----------------------------------------------------

def test_set_receive_connector_applies_to_running_service(server):
    pid = server.proc.pid
    old = open_transaction(server.host, server.port)
    r = server.cmdlet("Set-ReceiveConnector", "Default mail", "-Banner", "220 Reloaded ready",
                      "-MaxMessageSize", "5MB")
    assert "WARNING" not in r.stderr, r.stderr
    # the session opened before the change finishes its transaction
    qid = finish_transaction(old, "across the reload")
    assert b"Subject: across the reload" in stored(server, qid)
    # a new session sees the change
    assert banner(server.host, server.port) == "220 Reloaded ready"
    with server.smtp() as c:
        c.ehlo()
        # (below the organisation's MaxReceiveSize of 10 MB, which also caps SIZE)
        assert c.esmtp_features["size"] == str(5 * 1024 * 1024)
    same_service(server, pid)


def test_require_tls_set_while_a_session_is_open(server):
    pid = server.proc.pid
    old = open_transaction(server.host, server.port)
    server.cmdlet("Set-ReceiveConnector", "Default mail", "-RequireTLS", "$true")
    assert stored(server, finish_transaction(old, "before RequireTLS"))
    with server.smtp() as c:
        c.ehlo()
        code, text = c.docmd("MAIL FROM:<bob@example.org>")
        assert code == 530 and b"5.7.0" in text
        c.starttls(context=client_context())
        c.ehlo()
        assert c.docmd("MAIL FROM:<bob@example.org>")[0] == 250
    same_service(server, pid)


def test_new_and_removed_connector_bindings(server):
    pid = server.proc.pid
    port = free_port()
    assert not accepting("127.0.0.1", port)
    server.cmdlet("New-ReceiveConnector", "-Name", "Second", "-Usage", "Custom", "-Bindings",
                  f"127.0.0.1:{port}", "-RemoteIPRanges", "127.0.0.0/8", "-PermissionGroups",
                  "AnonymousUsers", "-Banner", "220 Second ready")
    wait_for(lambda: accepting("127.0.0.1", port), timeout=3, what="the new binding")
    assert banner("127.0.0.1", port) == "220 Second ready"

    # a session on the connector, mid-transaction, while the connector is removed
    raw = open_transaction("127.0.0.1", port)
    server.cmdlet("Remove-ReceiveConnector", "Second")
    wait_for(lambda: not accepting("127.0.0.1", port), timeout=3,
             what="the removed connector's port to close")
    qid = finish_transaction(raw, "on a removed connector")
    assert b'connector "Second"' in stored(server, qid)
    # the other connector is untouched
    assert banner(server.host, server.port).startswith("220 mail.a.test")
    same_service(server, pid)


def test_changed_binding_moves_the_listener(server):
    pid = server.proc.pid
    old_port, new_port = server.port, free_port()
    server.cmdlet("Set-ReceiveConnector", "Default mail", "-Bindings", f"127.0.0.1:{new_port}")
    wait_for(lambda: accepting("127.0.0.1", new_port), timeout=3, what="the new port")
    wait_for(lambda: not accepting("127.0.0.1", old_port), timeout=3,
             what="the old port to close")
    assert banner("127.0.0.1", new_port).startswith("220 mail.a.test")
    same_service(server, pid)


def test_tls_session_survives_reload(server):
    """A reload reloads the certificates too; a session already in TLS goes on."""
    pid = server.proc.pid
    with server.smtp() as c:
        c.ehlo()
        c.starttls(context=client_context())
        c.ehlo()
        c.mail("bob@example.org")
        c.rcpt("alice@a.test")
        server.cmdlet("Set-ReceiveConnector", "Default mail", "-Banner", "220 After TLS reload")
        server.run_cli("reload")
        code, reply = c.data(message(subject="TLS across reloads"))
        assert code == 250
        assert c.noop()[0] == 250
    assert b"with ESMTPS" in stored(server, queue_id_from_reply(reply))
    # and new sessions still get STARTTLS with the reloaded certificates
    with server.smtp() as c:
        c.ehlo()
        assert c.starttls(context=client_context())[0] == 220
        c.ehlo()
        c.mail("bob@example.org")
        c.rcpt("alice@a.test")
        assert c.data(message(subject="TLS after reload"))[0] == 250
    same_service(server, pid)


def test_wildcard_binding_added_on_a_port_in_use(server):
    """Adding 0.0.0.0:PORT where 127.0.0.1:PORT already listens must keep both
    connectors reachable (one socket on 0.0.0.0 serves both)."""
    pid = server.proc.pid
    r = server.cmdlet("New-ReceiveConnector", "-Name", "Wild", "-Usage", "Custom", "-Bindings",
                      f"0.0.0.0:{server.port}", "-RemoteIPRanges", "0.0.0.0-255.255.255.255",
                      "-PermissionGroups", "AnonymousUsers", "-Banner", "220 Wild ready")
    ok = wait_for(lambda: accepting("127.0.0.1", server.port) or "gave up", timeout=2)
    assert ok is True, ("the existing connector's port stopped accepting; cmdlet said: "
                        f"{r.stderr!r}; service log:\n{server.log()}")
    assert banner("127.0.0.1", server.port).startswith("220 mail.a.test")
    assert banner("127.0.0.2", server.port) == "220 Wild ready"
    same_service(server, pid)


def privileged_free_port():
    for port in range(600, 1024):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port below 1024")


@pytest.mark.skipif(os.geteuid() != 0, reason="binding a port below 1024 needs root")
def test_new_connector_on_privileged_port_while_running(server):
    """Started as root, the service drops privileges; a connector on a port below 1024
    (25, 587 ...) added later must still start accepting, as one added before start does."""
    pid = server.proc.pid
    port = privileged_free_port()
    r = server.cmdlet("New-ReceiveConnector", "-Name", "Submission", "-Usage", "Custom",
                      "-Bindings", f"127.0.0.1:{port}", "-RemoteIPRanges", "127.0.0.0/8",
                      "-PermissionGroups", "AnonymousUsers", "-Banner", "220 Submission ready")
    ok = wait_for(lambda: accepting("127.0.0.1", port) or "gave up", timeout=2)
    assert ok is True, (f"127.0.0.1:{port} is not accepting; cmdlet exit {r.returncode}, "
                        f"stderr {r.stderr!r}; service log:\n{server.log()}")
    assert banner("127.0.0.1", port) == "220 Submission ready"
    same_service(server, pid)


# ---- hand edits ----------------------------------------------------------------------------

def test_reload_command_after_hand_edit(server):
    pid = server.proc.pid
    old = open_transaction(server.host, server.port)
    hand_edit(server, "Banner =\n", 'Banner = "220 Hand edited"\n')
    r = server.run_cli("reload")
    assert r.returncode == 0
    assert banner(server.host, server.port) == "220 Hand edited"
    assert stored(server, finish_transaction(old, "across postern reload"))
    same_service(server, pid)


def test_sighup_after_hand_edit(server):
    pid = server.proc.pid
    old = open_transaction(server.host, server.port)
    hand_edit(server, "Banner =\n", 'Banner = "220 After SIGHUP"\n')
    os.kill(pid, signal.SIGHUP)
    wait_for(lambda: banner(server.host, server.port) == "220 After SIGHUP", timeout=5,
             what="SIGHUP to apply the new banner")
    assert stored(server, finish_transaction(old, "across SIGHUP"))
    same_service(server, pid)


def test_broken_hand_edit_is_refused_and_service_keeps_running(server):
    pid = server.proc.pid
    good = hand_edit(server, "Banner =\n", 'Banner = "220 Never applied"\n')
    text = read_conf(server)
    size_line = "MaxMessageSize = 10 MB (10,485,760 bytes)\n"
    lineno = text[:text.index(size_line)].count("\n") + 1
    write_conf(server, text.replace(size_line, "MaxMessageSize = lots\n"))

    r = server.run_cli("reload", check=False)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert f"postern.conf:{lineno}" in out and "MaxMessageSize" in out, out
    # SIGHUP with the same file must not stop the service either
    seen = server.log().count("reload")
    os.kill(pid, signal.SIGHUP)
    wait_for(lambda: server.log().count("reload") > seen, timeout=3, what="the SIGHUP reload")

    # the old configuration is still in force, and mail is still accepted
    assert server.proc.poll() is None
    assert banner(server.host, server.port).startswith("220 mail.a.test")
    raw = open_transaction(server.host, server.port)
    assert stored(server, finish_transaction(raw, "while postern.conf is broken"))

    # once the file is fixed, reload works again
    write_conf(server, good.replace("Banner =\n", 'Banner = "220 Fixed"\n'))
    server.run_cli("reload")
    assert banner(server.host, server.port) == "220 Fixed"
    same_service(server, pid)


def test_messages_in_delivery_across_reloads_are_delivered_once(instances):
    """Three messages in delivery while the configuration is reloaded three times (a
    cmdlet, `postern reload`, SIGHUP). The next hop is a scripted SMTP server
    (peers.ScriptedSMTP) that takes each message's content but holds its final reply
    until the reloads are over, so every message is in flight or queued meanwhile;
    each then arrives there exactly once, whole."""
    reloads_done = threading.Event()

    def hold_final_reply(n):
        reloads_done.wait(30 * SLOW)
        return 0

    with ScriptedSMTP(final_delay=hold_final_reply) as peer:
        try:
            a = relay_instance(instances, "a", peer.port)
            pid = a.proc.pid
            subjects = [f"queued {i}" for i in range(3)]
            ids = [submit(a, "alice@a.test", ["carol@b.test"],
                          message(subject=s, sender="alice@a.test", to="carol@b.test"))
                   for s in subjects]
            assert peer.data_seen.wait(15 * SLOW), "no delivery started"
            a.cmdlet("Set-ReceiveConnector", "Default mail", "-MaxRecipientsPerMessage", "50")
            a.run_cli("reload")
            seen = a.log().count("reload")
            os.kill(pid, signal.SIGHUP)
            wait_for(lambda: a.log().count("reload") > seen, timeout=3,
                     what="the SIGHUP reload")
        finally:
            reloads_done.set()  # also when a step failed: the peer's threads must end
        wait_for(lambda: len(peer.accepted()) >= len(ids), timeout=15,
                 what="every message at the next hop")
        wait_queue_empty(a)
        # delivery is over once every connection to the peer has said QUIT: a second
        # copy of anything would have been sent by then
        wait_for(lambda: peer.commands.count("QUIT") == peer.connections, timeout=10,
                 what="postern to end its connections to the peer")
        received = [m["data"] for m in peer.messages]
    for s in subjects:
        copies = [d for d in received if f"Subject: {s}\r\n".encode() in d]
        assert len(copies) == 1, f"{s!r} reached the next hop {len(copies)} times"
        assert copies[0].endswith(b"\r\n\r\nHello.\r\n"), copies[0][-200:]
    # the tracking log (written out once a second) has one SEND per message
    for qid in ids:
        sends = wait_for(lambda: [e for e, _ in tracking_events(a, qid) if e == "SEND"],
                         timeout=5, what=f"the SEND event of {qid}")
        assert sends == ["SEND"], tracking_events(a, qid)
    same_service(a, pid)
