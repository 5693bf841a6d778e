#!/usr/bin/python3
"""make_spool_server_seeds.py — writes the seeds of the spool_server fuzz
target (fuzz/corpus/spool_server/) in the action encoding that
fuzz_spool_server.c's header describes: an honest smtp process's
conversations (BEGIN, USE, content, COMMIT, ABORT), and a dishonest one's
(IDs it was not given, another channel's ID, a commit twice, wrong sizes,
bad envelopes, stray descriptors, a channel closed mid-commit).
No dependencies; the output is the same on every run.
Run from anywhere: /usr/bin/python3 fuzz/make_spool_server_seeds.py
Must never: write outside fuzz/corpus/spool_server/.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "spool_server")

BEGIN, USE, COMMIT, ABORT, WRITE, RAW, SYNC, CLOSE = range(8)
# message IDs (arg bits 0-2 of USE, COMMIT, ABORT)
HANDED, CHANGED, HEX, PATH, STRING, LAST = 0, 3, 4, 5, 6, 7
# COMMIT's choice octet
ENV_GOOD, ENV_STATE, ENV_NORCPT, ENV_INPUT = 0, 1, 2, 3
SIZE_FILE, SIZE_PLUS1, SIZE_ZERO, SIZE_INPUT = 0, 4, 8, 12
WERR_NONE, WERR_NOSPC, WERR_INPUT = 0, 32, 48
STRAY = 64
# RAW type octets (< 0xf0: MSG_SPOOL_BEGIN + n % 7), and others
R_BEGIN, R_BEGUN, R_COMMIT, R_COMMITTED, R_ABORT, R_ABORTED, R_USE = range(7)
R_ZERO, R_CONFIG, R_OUT_OPEN, R_KEY_SIGN, R_999 = 0xF0, 0xF1, 0xF2, 0xF3, 0xF4

CONTENT = b"Subject: seed\r\n\r\nhello\r\n"


def act(chan, kind, arg=0):
    return bytes([chan | kind << 1 | arg << 4])


def begin(chan, req=1, payload=None):
    if payload is None:
        return act(chan, BEGIN) + bytes([req])
    return act(chan, BEGIN, 1 | (len(payload) - 1) << 1) + bytes([req]) + payload


def use(chan, how=LAST, idoctets=b"", stray=False):
    return act(chan, USE, how | (8 if stray else 0)) + idoctets


def commit(chan, how=LAST, idoctets=b"", choice=0, extra=b"", req=2):
    return act(chan, COMMIT, how) + idoctets + bytes([choice]) + extra + bytes([req])


def abort(chan, how=LAST, idoctets=b"", werr=0, req=3):
    return act(chan, ABORT, how) + idoctets + bytes([werr, req])


def write(index, data=CONTENT):
    return act(0, WRITE) + bytes([index, len(data)]) + data


def raw(chan, type_octet, req, payload=b"", fd=None):
    arg = 0 if fd is None else 1 | (2 if fd == "memfd" else 0)
    return act(chan, RAW, arg) + bytes([type_octet, req, len(payload)]) + payload


def sync(chan):
    return act(chan, SYNC)


def close(chan, server_side=False):
    return act(chan, CLOSE, 1 if server_side else 0)


def ipc_str(s):
    return s + b"\0"


def main():
    os.makedirs(OUT, exist_ok=True)
    s = {}
    s["honest_one_message"] = (
        begin(0) + sync(0) + write(0) + use(0) + commit(0) + sync(0)
    )
    s["honest_no_use"] = begin(0) + sync(0) + write(0) + commit(0) + sync(0)
    s["honest_pool"] = (
        begin(0, 1) + begin(0, 2) + begin(0, 3) + begin(0, 4) + sync(0)
        + write(0) + use(0, HANDED, b"\x00") + commit(0, HANDED, b"\x00", req=10)
        + write(1, b"x\r\n") + commit(0, HANDED, b"\x01", req=11)
        + abort(0, HANDED, b"\x02", req=12) + abort(0, HANDED, b"\x03", req=0)
        + sync(0)
    )
    s["honest_both_channels"] = (
        begin(0, 1) + begin(1, 1) + sync(0) + sync(1)
        + write(0) + write(1) + commit(0, LAST) + commit(1, LAST) + sync(0) + sync(1)
    )
    s["commit_claims_delivery_state"] = (
        begin(0) + sync(0) + write(0) + commit(0, choice=ENV_STATE) + sync(0)
    )
    s["commit_no_recipients"] = (
        begin(0) + sync(0) + write(0) + commit(0, choice=ENV_NORCPT) + sync(0)
    )
    s["commit_size_wrong"] = (
        begin(0) + sync(0) + write(0) + commit(0, choice=SIZE_PLUS1) + sync(0)
    )
    s["commit_size_given"] = (
        begin(0) + sync(0) + write(0)
        + commit(0, choice=SIZE_INPUT, extra=struct.pack(">Q", len(CONTENT))) + sync(0)
    )
    s["commit_writer_error"] = (
        begin(0) + sync(0) + write(0) + commit(0, choice=WERR_NOSPC) + sync(0)
    )
    s["commit_writer_errno_odd"] = (
        begin(0) + sync(0)
        + commit(0, choice=WERR_INPUT, extra=b"\xff\xff\xff\x7f") + sync(0)
    )
    s["commit_stray_octets"] = begin(0) + sync(0) + commit(0, choice=STRAY) + sync(0)
    env = (
        b"version: 1\nid: 0000000000000001\nreceived: 1764358200\nfrom: bob@example.org\n"
        b"rcpt: ready 0 - alice@a.test\nattempts: 3\nsuspended: 1\nend\n"
    )
    s["commit_envelope_from_input"] = (
        begin(0) + sync(0)
        + commit(0, choice=ENV_INPUT, extra=bytes([len(env)]) + env) + sync(0)
    )
    s["commit_garbage_envelope"] = (
        begin(0) + sync(0)
        + commit(0, choice=ENV_INPUT, extra=b"\x0bversion: 9\n") + sync(0)
    )
    s["commit_twice"] = (
        begin(0) + sync(0) + write(0) + commit(0, req=5) + commit(0, req=5) + sync(0)
        + commit(0, req=6) + sync(0)
    )
    s["commit_after_abort"] = (
        begin(0) + sync(0) + abort(0, req=7) + commit(0) + sync(0)
    )
    s["abort_after_commit"] = (
        begin(0) + sync(0) + write(0) + commit(0) + abort(0, req=7) + sync(0)
    )
    s["commit_other_channels_id"] = (
        begin(0) + sync(0) + write(0) + commit(1, HANDED, b"\x00") + use(1, HANDED, b"\x00")
        + abort(1, HANDED, b"\x00") + sync(1) + commit(0) + sync(0)
    )
    s["commit_id_digit_changed"] = (
        begin(0) + sync(0) + commit(0, CHANGED, b"\x00\x00\x0f") + sync(0)
    )
    s["made_up_ids"] = b"".join(
        commit(0, PATH, bytes([i]), req=20 + i) + use(0, PATH, bytes([i]))
        + abort(0, PATH, bytes([i]), req=40 + i)
        for i in range(10)
    ) + commit(0, HEX, bytes(8)) + commit(0, STRING, b"\x04../x") + sync(0)
    s["use_unknown_and_stray"] = (
        begin(0) + sync(0) + use(0, HEX, b"\x01" * 8) + use(0, stray=True) + sync(0)
        + commit(0) + sync(0)
    )
    s["pipelined_use_commit_abort"] = (
        begin(0) + sync(0) + write(0) + use(0) + commit(0) + abort(0) + begin(0, 9, b"x")
        + begin(0, 0) + begin(0, 0xFF) + sync(0)
    )
    s["write_after_commit_sent"] = (
        begin(0) + sync(0) + write(0) + commit(0) + write(0, b"late") + sync(0)
    )
    s["close_client_mid_commit"] = (
        begin(0, 1) + begin(0, 2) + sync(0) + write(0) + use(0, HANDED, b"\x00")
        + commit(0, HANDED, b"\x00") + close(0) + begin(0) + sync(0) + commit(0) + sync(0)
    )
    s["close_server_mid_commit"] = (
        begin(0, 1) + begin(0, 2) + sync(0) + write(0) + commit(0, HANDED, b"\x00")
        + use(0, HANDED, b"\x01") + close(0, True) + begin(0) + sync(0)
    )
    # channel 0's BEGUN is still unread when its server's end goes: each
    # CLOSE of channel 1 runs the loop a step (read, answer, send)
    s["begun_after_server_closed"] = begin(0) + close(1) * 3 + close(0, True)
    s["close_old_ids_on_new_channel"] = (
        begin(1) + sync(1) + write(0) + close(1) + commit(1, HANDED, b"\x00") + sync(1)
    )
    s["raw_requests"] = (
        raw(0, R_BEGIN, 1) + raw(0, R_BEGIN, 2, b"junk") + raw(0, R_COMMIT, 3, b"garbage")
        + raw(0, R_ABORT, 4, ipc_str(b"0000000000000000") + b"\0\0\0\0")
        + raw(0, R_ABORT, 5, b"") + raw(0, R_USE, 0, b"\0") + sync(0)
    )
    s["raw_answers_and_other_types"] = (
        raw(0, R_BEGUN, 1, b"x") + raw(0, R_COMMITTED, 2) + raw(0, R_ABORTED, 3)
        + raw(0, R_ZERO, 4) + raw(0, R_CONFIG, 5, b"a=b\0") + raw(0, R_OUT_OPEN, 6)
        + raw(0, R_KEY_SIGN, 7) + raw(0, R_999, 8, b"??") + begin(0) + sync(0)
    )
    s["raw_with_descriptors"] = (
        raw(0, R_USE, 0, b"\0", fd="file") + raw(0, R_BEGIN, 1, fd="memfd")
        + raw(1, R_COMMIT, 2, b"", fd="file") + raw(1, R_999, 3, b"", fd="memfd")
        + sync(0) + sync(1)
    )
    s["many_begins_then_close"] = (
        b"".join(begin(i % 2, i) for i in range(1, 21)) + sync(0) + sync(1)
        + close(0, True) + close(1)
    )
    for name, data in s.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(s), OUT))


if __name__ == "__main__":
    main()
