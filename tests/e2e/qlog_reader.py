"""An independent reader of postern's queue log (src/queue/qlog.c), for the
tests: which messages are committed, their envelopes and their content,
read straight from queue/log/*.seg with the record format and the CRC-32
checked here in Python. Written apart from the C code on purpose, so that
a change of the format shows up as a test failure, not a silent agreement.

Record: 40-byte header, little-endian:
  u32 magic "PQLG" | u32 crc32 of bytes 8.. of the record | u8 type (1 message,
  2 envelope, 3 removal) | 3 bytes zero | u32 envelope length |
  u64 content length | 16 bytes queue ID
then the envelope text and (type 1) the content. A segment's records end at
the first one that is cut short or fails its checksum, unless a whole record
follows: damage is skipped up to it, as the daemon does (by the header's
lengths when the header is sound, else to the next record found).
"""
import os
import re
import struct
import zlib

HEADER = struct.Struct("<IIB3xIQ16s")
MAGIC = 0x474C5150


def segments(queue_dir):
    log = os.path.join(queue_dir, "log")
    try:
        names = sorted(n for n in os.listdir(log) if re.fullmatch(r"[0-9a-f]{16}\.seg", n))
    except FileNotFoundError:
        return []
    return [os.path.join(log, n) for n in names]


def whole_record(data, off):
    """(end, type, id, envelope, content) of the record at off, or None."""
    if off + HEADER.size > len(data):
        return None
    magic, crc, kind, env_len, content_len, qid = HEADER.unpack_from(data, off)
    end = off + HEADER.size + env_len + content_len
    if magic != MAGIC or end > len(data) or zlib.crc32(data[off + 8:end]) != crc:
        return None
    env = data[off + HEADER.size:off + HEADER.size + env_len]
    return end, kind, qid.decode(), env, data[off + HEADER.size + env_len:end]


def header_end(data, off):
    """Where the record at off ends by its header, when the header is sound
    (only its checksum may fail), else None."""
    if off + HEADER.size > len(data):
        return None
    magic, _, kind, env_len, content_len, qid = HEADER.unpack_from(data, off)
    end = off + HEADER.size + env_len + content_len
    if magic != MAGIC or kind not in (1, 2, 3) or env_len > 1 << 20 or end > len(data) \
            or not re.fullmatch(rb"[0-9A-F]{16}", qid) or (kind != 1 and content_len):
        return None
    return end


def records(path, offsets=False):
    """(type, id, envelope bytes, content bytes) of each whole record, damage
    skipped to the next whole record; with offsets, (offset, type, ...)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:  # removed by the service meanwhile
        return
    off = 0
    while off < len(data):
        rec = whole_record(data, off)
        if rec is None:
            # a header that holds together says where the next record is;
            # only a damaged header makes the reader search
            end = header_end(data, off)
            if end is not None and (end == len(data) or whole_record(data, end)):
                off = end
                continue
            nxt = data.find(struct.pack("<I", MAGIC), off + 1)
            while nxt >= 0 and whole_record(data, nxt) is None:
                nxt = data.find(struct.pack("<I", MAGIC), nxt + 1)
            if nxt < 0:
                return
            off = nxt
            continue
        yield (off,) + rec[1:] if offsets else rec[1:]
        off = rec[0]


def live(queue_dir):
    """{queue id: (envelope bytes, content bytes)} of the committed messages."""
    msgs = {}
    for seg in segments(queue_dir):
        for kind, qid, env, content in records(seg):
            if kind == 1:
                msgs[qid] = (env, content)
            elif kind == 2 and qid in msgs:
                msgs[qid] = (env, msgs[qid][1])
            elif kind == 3:
                msgs.pop(qid, None)
    return msgs
