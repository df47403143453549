"""Framing of bodies in the log: a 10-byte header (length and CRC-32) before each body.

The header is the msgpack *fixext 8* ``d7 01 <u32 length> <u32 crc32>`` (big-endian), so a
segment file is also a valid msgpack stream that any msgpack tool can read.
"""

from __future__ import annotations

import mmap
import struct
import zlib
from collections.abc import Iterator

from bus import envelope, errors

HEADER = struct.Struct(">BBII")
HEADER_SIZE = HEADER.size
MAGIC = (0xD7, 0x01)
MIN_BODY = 24  # the stamp (19 bytes) and the smallest envelope: 1-char topic, id, source, {}
MAX_BODY = 64 * 1024 * 1024

Buffer = bytes | memoryview | mmap.mmap  # a segment's records: read, viewed or mapped


class CorruptLog(errors.HomelabError):
    """A record in the middle of a segment does not check out; the log is not trusted past it."""

    def __init__(self, path: str, offset: int, reason: str):
        super().__init__(f"{path}: corrupt record at byte offset {offset}: {reason}")
        self.path, self.offset, self.reason = path, offset, reason


class TornTail(Exception):
    """The last record of a segment was cut short by a crash; everything before it is good."""

    def __init__(self, path: str, offset: int, size: int, reason: str):
        super().__init__(
            f"{path}: torn last record at byte offset {offset} ({size} bytes): {reason}"
        )
        self.path, self.offset, self.size, self.reason = path, offset, size, reason
        self.count = 0  # the good records before it, for a reader that counts them


def frame(body: bytes) -> bytes:
    return HEADER.pack(0xD7, 0x01, len(body), zlib.crc32(body)) + body


def walk(
    buf: Buffer,
    path: str = "<buffer>",
    start: int = 0,
    verify: bool = True,
    first_seq: int = 0,
) -> Iterator[tuple[int, memoryview]]:
    """Yield ``(offset, body)`` for each record from ``start``; raise at the first bad one.

    A bad record with no valid record anywhere after it is a torn tail (``TornTail``);
    one followed by a valid record is corruption (``CorruptLog``). With ``first_seq`` (the
    seq of the record at ``start``), only a later record with a higher seq counts, so a copy
    of a record inside a torn payload is not mistaken for one.
    """
    expected = first_seq
    view = memoryview(buf)
    end = len(view)
    offset = start
    unpack_header = HEADER.unpack_from
    crc32 = zlib.crc32
    while offset < end:
        if end - offset < HEADER_SIZE:
            raise _bad(view, path, offset, "incomplete header", expected)
        m0, m1, length, crc = unpack_header(view, offset)
        if (m0, m1) != MAGIC:
            raise _bad(view, path, offset, "no record header", expected)
        body_end = offset + HEADER_SIZE + length
        if length < MIN_BODY or length > MAX_BODY:
            raise _bad(view, path, offset, f"implausible body length {length}", expected)
        if body_end > end:
            raise _bad(view, path, offset, f"body of {length} bytes runs past the end", expected)
        body = view[offset + HEADER_SIZE : body_end]
        if verify and crc32(body) != crc:
            raise _bad(view, path, offset, "checksum mismatch", expected)
        yield offset, body
        offset = body_end
        expected += 1 if expected else 0


def bodies(frame: bytes) -> Iterator[memoryview]:
    """The bodies of a publication frame (whole records back to back); stops at anything
    that is not a whole record."""
    view, offset, end = memoryview(frame), 0, len(frame)
    while end - offset >= HEADER_SIZE:
        m0, m1, length, _ = HEADER.unpack_from(view, offset)
        start = offset + HEADER_SIZE
        offset = start + length
        if (m0, m1) != MAGIC or offset > end:
            return
        yield view[start:offset]


def hop(buf: Buffer, start: int, count: int) -> int:
    """The offset ``count`` records after ``start``, reading headers only (no checks)."""
    offset = start
    for _ in range(count):
        offset += HEADER_SIZE + HEADER.unpack_from(buf, offset)[2]
    return offset


def _bad(view: memoryview, path: str, offset: int, reason: str, expected: int) -> Exception:
    if _valid_record_after(view, offset + 1, expected):
        return CorruptLog(path, offset, reason)
    return TornTail(path, offset, len(view) - offset, reason)


def _valid_record_after(view: memoryview, start: int, expected: int) -> bool:
    data = bytes(view[start:])
    at = data.find(b"\xd7\x01")
    while at != -1:
        if len(data) - at >= HEADER_SIZE:
            _, _, length, crc = HEADER.unpack_from(data, at)
            body = data[at + HEADER_SIZE : at + HEADER_SIZE + length]
            if (
                MIN_BODY <= length <= MAX_BODY
                and len(body) == length
                and body[0] in envelope.BODY_ARRAYS  # 6 fields (before identities) or 7
                and zlib.crc32(body) == crc
                and (not expected or int.from_bytes(body[2:10], "big") > expected)
            ):
                return True
        at = data.find(b"\xd7\x01", at + 1)
    return False
