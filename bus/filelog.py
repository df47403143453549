"""The durable event log: append-only segment files under ``events/YYYY-MM-DD/``.

Each segment is named after the sequence number of its first record
(``events/2026-11-26/00000000000000000001.log``), so finding where a sequence number lives
is a search over file names, and finding a time is a search over segments' first records;
neither reads the history. The record format is in ``records`` and ``docs/log-format.md``.

Sealed segments may be compressed (``NAME.log.zst``, ``compression``) and the oldest deleted
(``retention``): readers read both forms alike (``segments``), the log begins at its first
retained segment (``first_seq``), and a segment deleted while a reader needed it raises
``Trimmed``.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import itertools
import math
import mmap
import os
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import msgpack
import zstandard

from bus import durable, envelope, records, segments, space
from bus.log import SequenceError, Trimmed

SEGMENT_BYTES = 16 * 1024 * 1024
MARK_EVERY = 256  # remember every 256th record's offset for seeking within a segment
KEEP_DECOMPRESSED = 10.0  # seconds a decompressed segment stays in memory after its last use


@dataclasses.dataclass
class Segment:
    path: Path
    first_seq: int
    marks: list[int] = dataclasses.field(default_factory=list)  # offset of record k*MARK_EVERY
    indexed_size: int = 0  # bytes covered by ``marks``
    indexed_count: int = 0  # records covered by ``marks``

    @property
    def day(self) -> str:
        return self.path.parent.name

    @property
    def compressed(self) -> bool:
        return segments.is_compressed(self.path)


def utc_day(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")


def list_segments(events_dir: Path) -> list[Segment]:
    return [Segment(path, seq) for seq, path in segments.find(events_dir)]


class FileLog:
    """An ``EventLog`` on disk. One writer (the broker, via ``open_for_append``); any number
    of readers (``FileLog(events_dir)``, then ``refresh()`` to see what was written since)."""

    def __init__(self, events_dir: Path | str, segment_bytes: int = SEGMENT_BYTES):
        self.events_dir = Path(events_dir)
        self.segment_bytes = segment_bytes
        self.segments: list[Segment] = []
        self._last_seq = 0
        self._fd: int | None = None
        self._size = 0
        self._writer = False
        self._unpacked: tuple[Path, bytes | mmap.mmap, float] | None = (
            None  # the last decompressed one
        )
        self.refresh()

    # -- writing -------------------------------------------------------------------------

    @classmethod
    def open_for_append(
        cls, events_dir: Path | str, segment_bytes: int = SEGMENT_BYTES
    ) -> tuple[FileLog, list[str]]:
        """Open as the one writer: cut a torn tail (described in the returned report) or raise
        ``CorruptLog`` when a record before the tail is bad."""
        Path(events_dir).mkdir(parents=True, exist_ok=True)
        log = cls.__new__(cls)
        log.events_dir, log.segment_bytes = Path(events_dir), segment_bytes
        log.segments, log._fd, log._size, log._writer = list_segments(log.events_dir), None, 0, True
        log._last_seq, log._unpacked = 0, None
        report = log._recover_tail()
        return log, report

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def first_seq(self) -> int:
        """The seq of the oldest record the log still holds (retention deletes whole
        segments, oldest first); ``last_seq + 1`` when it holds none."""
        return self.segments[0].first_seq if self.segments else self._last_seq + 1

    def append(self, bodies: Sequence[bytes]) -> list[bytes]:
        """Write the bodies as framed records; return those records (the live feed reuses
        them, so subscribers get the very bytes that are on disk).

        The space is reserved first (``fallocate``), so a full file system fails the append
        before anything is written. An ``OSError`` leaves the log as it was in memory; the
        file may hold part of the batch: ``discard`` cuts it off."""
        if not bodies:
            return []
        first = envelope.body_seq(bodies[0])
        if first != self._last_seq + 1:
            raise SequenceError(f"expected seq {self._last_seq + 1}, got {first}")
        day = utc_day(envelope.body_time(bodies[0]))
        if self._fd is None or self._size >= self.segment_bytes or day != self.segments[-1].day:
            self._start_segment(first, day)
        assert self._fd is not None  # _start_segment opened one
        chunks = [records.frame(body) for body in bodies]
        data = b"".join(chunks)
        space.reserve(self._fd, self._size, len(data))
        durable.write_all(self._fd, data)
        segment = self.segments[-1]
        offset = self._size
        for chunk in chunks:  # only once it is written: a failed write leaves no marks
            if segment.indexed_count % MARK_EVERY == 0:
                segment.marks.append(offset)
            segment.indexed_count += 1
            offset += len(chunk)
        self._size = segment.indexed_size = offset
        self._last_seq = first + len(bodies) - 1
        return chunks

    def discard(self, after: int) -> None:
        """Cut the records after seq ``after`` from the open segment, and any part of a
        record a failed write left there: they were never acknowledged (an append or a sync
        failed). Raises ``OSError`` when the file cannot be cut (the broker must stop: the
        next start cuts the torn tail)."""
        if self._fd is None:  # nothing was opened for the failed append
            self._last_seq = min(self._last_seq, after)
            return
        segment = self.segments[-1]
        keep = after - segment.first_seq + 1
        if not 0 <= keep <= segment.indexed_count:
            raise ValueError(f"seq {after} is not in the open segment {segment.path}")
        offset = self._size
        if keep < segment.indexed_count:
            mark = keep // MARK_EVERY
            offset = records.hop(_mapped(segment.path), segment.marks[mark], keep % MARK_EVERY)
        os.ftruncate(self._fd, offset)
        os.fdatasync(self._fd)
        del segment.marks[-(-keep // MARK_EVERY) :]
        segment.indexed_count, segment.indexed_size, self._size = keep, offset, offset
        self._last_seq = after

    def sync(self) -> None:
        if self._fd is not None:
            os.fdatasync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None

    def _start_segment(self, first_seq: int, day: str) -> None:
        """Continue the last segment if it still fits, else seal it and start a new one.
        The new segment joins the list only once its file is open: a failure (a full file
        system) leaves the log as it was, and the next append tries again."""
        last = self.segments[-1] if self.segments else None
        if self._fd is None and last is not None:
            size = last.path.stat().st_size
            if size < self.segment_bytes and last.day == day:
                self._open(last)
                return
            if size == 0:  # an empty segment of another day: its name is the one we need
                last.path.unlink()
                self.segments.pop()
        self.close()
        day_dir = self.events_dir / day
        day_dir.mkdir(parents=True, exist_ok=True)
        durable.fsync_dir(self.events_dir)  # every time: a first try may have failed after mkdir
        segment = Segment(day_dir / f"{first_seq:020d}.log", first_seq)
        self._open(segment)
        self.segments.append(segment)
        durable.fsync_dir(day_dir)

    def _open(self, segment: Segment) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        self._fd = os.open(segment.path, flags, 0o644)
        self._size = os.fstat(self._fd).st_size
        if segment.indexed_size != self._size:
            _index(segment, _mapped(segment.path))

    def _recover_tail(self) -> list[str]:
        if not self.segments:
            return []
        segment = self.segments[-1]
        data = segment.path.read_bytes()
        report = []
        try:
            count = _check_segment(segment, data)
        except records.TornTail as torn:
            count = torn.count
            os.truncate(segment.path, torn.offset)
            with open(segment.path, "rb+") as f:
                os.fsync(f.fileno())
            data = data[: torn.offset]
            report.append(
                f"{torn}; cut it off, the log now ends at seq {segment.first_seq + count - 1}"
            )
        segment.marks, segment.indexed_count, segment.indexed_size = [], 0, 0
        _index(segment, data)
        self._last_seq = segment.first_seq + count - 1
        return report

    # -- reading -------------------------------------------------------------------------

    def refresh(self) -> None:
        """Pick up what a writer in another process has appended since the last look (and
        which segments it compressed or deleted meanwhile)."""
        if self._writer:
            return
        known = {s.first_seq: s for s in self.segments}
        self.segments = []
        for found in list_segments(self.events_dir):
            segment = known.get(found.first_seq, found)
            segment.path = found.path  # compressed, or moved to a new day when empty
            self.segments.append(segment)
        self._last_seq = self.segments[0].first_seq - 1 if self.segments else 0
        if self.segments:
            last = self.segments[-1]
            data = self._load(last)
            _index(last, data)
            self._last_seq = last.first_seq + last.indexed_count - 1
            if last.indexed_size < len(data) and not last.compressed:  # being written, torn
                _settle(data, last, last.indexed_size, False, self._last_seq + 1)

    def drop_decompressed(self, idle: float = KEEP_DECOMPRESSED) -> None:
        """Forget the decompressed segment kept for the next read once unused for ``idle``
        seconds (the broker calls this from its tick: a catch-up holds no memory after)."""
        if self._unpacked is not None and time.monotonic() - self._unpacked[2] >= idle:
            self._unpacked = None

    def read(
        self, after: int = 0, until: int | None = None, prefixes: Sequence[str] = ()
    ) -> Iterator[bytes]:
        """Bodies with ``after < seq <= until``; from ``first_seq`` when ``after`` is before it
        (that history was deleted by retention)."""
        return self._scan(after, until, prefixes, decode=False)

    def messages(
        self, after: int = 0, until: int | None = None, prefixes: Sequence[str] = ()
    ) -> Iterator[envelope.Message]:
        """Like ``read``, decoded: the replay path, kept to one tight loop per segment."""
        return self._scan(after, until, prefixes, decode=True)

    def _scan(self, after: int, until: int | None, prefixes: Sequence[str], decode: bool):
        stop = self._last_seq if until is None else min(until, self._last_seq)
        # chained in C, not with ``yield from``: one Python frame less per message
        return itertools.chain.from_iterable(self._segment_scans(after, stop, prefixes, decode))

    def _segment_scans(self, after: int, stop: int, prefixes: Sequence[str], decode: bool):
        if after >= stop:
            return
        firsts = [s.first_seq for s in self.segments]
        index = max(bisect.bisect_right(firsts, after + 1) - 1, 0)
        chosen = self.segments[index:]
        for segment, following in zip(chosen, [*chosen[1:], None], strict=True):
            if segment.first_seq > stop:
                return
            next_first = following.first_seq if following else None
            yield _scan_segment(segment, after, stop, tuple(prefixes), decode, next_first, self)

    def seq_at(self, time: float) -> int:
        """First seq stamped at or after ``time``: a search over segments, then one segment."""
        newest = self.segments[-1] if self.segments else None
        candidates = [s for s in self.segments if segments.disk_size(s.path) > 0]
        lo, hi = 0, len(candidates)
        while lo < hi:  # the last segment whose first record is before ``time``
            mid = (lo + hi) // 2
            if _first_time(candidates[mid], candidates[mid] is not newest) < time:
                lo = mid + 1
            else:
                hi = mid
        if lo == 0:
            return candidates[0].first_seq if candidates else self._last_seq + 1
        segment = candidates[lo - 1]
        seq = segment.first_seq
        walk = records.walk(self._load(segment), str(segment.path), first_seq=seq)
        try:
            for _, body in walk:
                if envelope.body_time(body) >= time:
                    return seq
                seq += 1
        except records.TornTail as torn:  # where the newest segment ends; else corruption
            if segment is not newest:
                raise records.CorruptLog(str(segment.path), torn.offset, torn.reason) from None
        return seq

    def _load(self, segment: Segment) -> bytes | mmap.mmap:
        """A segment's records: mapped when plain, decompressed when compressed (the last
        one decompressed is kept a while: a catch-up reads one segment in many fetches).
        Follows a segment compressed meanwhile; ``Trimmed`` when it was deleted."""
        unpacked = self._unpacked
        if unpacked is not None and unpacked[0] == segment.path:
            self._unpacked = (unpacked[0], unpacked[1], time.monotonic())
            return unpacked[1]
        try:
            segment.path, data = segments.load(segment.path)
        except segments.Gone:
            raise Trimmed(
                f"seq {segment.first_seq} and on were deleted by retention while being read "
                f"({segment.path.parent.name}/{segment.path.name})"
            ) from None
        except zstandard.ZstdError as err:
            raise records.CorruptLog(str(segment.path), 0, f"does not decompress: {err}") from None
        if segment.compressed:
            self._unpacked = (segment.path, data, time.monotonic())
        return data


def _scan_segment(
    segment: Segment,
    after: int,
    stop: int,
    prefixes: tuple[str, ...],
    decode: bool,
    next_first: int | None,
    log: FileLog,
) -> Iterator:
    """Bodies (or decoded messages) of one segment with ``after < seq <= stop``; ``log`` reads
    its bytes (``FileLog._load``) when the first one is asked for.

    One loop, no nested generators: this is what replay speed comes down to. Anything odd
    goes to ``_settle``: in the newest segment a torn tail is where the data ends (the
    broker may be writing it), anywhere else it is corruption. A sealed segment must also
    end exactly where the next one begins.
    """
    data = log._load(segment)
    sealed = next_first is not None or segment.compressed  # only sealed ones are compressed
    skip = max(after + 1 - segment.first_seq, 0)
    offset = 0
    if skip:  # seek: from the nearest remembered offset, hopping over headers
        if segment.indexed_size < len(data):
            _index(segment, data)
        if skip >= segment.indexed_count:
            return
        mark = skip // MARK_EVERY
        offset = records.hop(data, segment.marks[mark], skip - mark * MARK_EVERY)
    seq, end = segment.first_seq + skip, len(data)
    view = memoryview(data) if data else b""
    header, crc32, size = records.HEADER.unpack_from, zlib.crc32, records.HEADER_SIZE
    unpackb, new_message, as_message = msgpack.unpackb, tuple.__new__, envelope.message
    topic_of, message_type = envelope.body_topic, envelope.Message
    while offset < end and seq <= stop:
        if end - offset < size:
            return _settle(data, segment, offset, sealed, seq)
        m0, m1, length, crc = header(data, offset)
        start = offset + size
        offset = start + length
        if m0 != 0xD7 or m1 != 0x01 or offset > end:
            return _settle(data, segment, start - size, sealed, seq)
        body = view[start:offset]
        if crc32(body) != crc:
            return _settle(data, segment, start - size, sealed, seq)
        seq += 1
        if decode:
            fields = unpackb(body, raw=False)  # 7 but in a record from before identities
            message = new_message(message_type, fields) if len(fields) == 7 else as_message(fields)
            if not prefixes or message.topic.startswith(prefixes):
                yield message
        elif not prefixes or topic_of(body).startswith(prefixes):
            yield bytes(body)
    if sealed and seq <= stop and seq != next_first:  # ``seq`` is the next one expected
        raise records.CorruptLog(
            str(segment.path),
            offset,
            f"ends before seq {seq} but the next segment starts at {next_first}",
        )


def _settle(data, segment: Segment, offset: int, sealed: bool, seq: int) -> None:
    """A bad record (``seq`` is the one it should hold): the end of what a reader can see
    (a torn tail), or corruption (raise), by the same rule the broker applies at start."""
    try:
        for _ in records.walk(data, str(segment.path), offset, first_seq=seq):
            raise records.CorruptLog(str(segment.path), offset, "record changed while reading")
    except records.TornTail as torn:
        if sealed:
            raise records.CorruptLog(str(segment.path), offset, torn.reason) from None


def _check_segment(segment: Segment, data: bytes) -> int:
    """Count a segment's records, checking every checksum and sequence number."""
    count = 0
    try:
        walk = records.walk(data, str(segment.path), first_seq=segment.first_seq)
        for count, (offset, body) in enumerate(walk, 1):
            if envelope.body_seq(body) != segment.first_seq + count - 1:
                raise records.CorruptLog(
                    str(segment.path),
                    offset,
                    f"seq {envelope.body_seq(body)} where {segment.first_seq + count - 1} belongs",
                )
    except records.TornTail as torn:
        torn.count = count
        raise
    return count


def _index(segment: Segment, data: bytes | mmap.mmap) -> None:
    """Extend the segment's offset marks over ``data``, reading headers only.

    Stops at anything that is not a whole record (a tail being written, or torn); reading
    checks the checksums.
    """
    if segment.indexed_size > len(data):  # the file shrank (cut tail): start over
        segment.marks, segment.indexed_count, segment.indexed_size = [], 0, 0
    count, offset, end = segment.indexed_count, segment.indexed_size, len(data)
    header = records.HEADER.unpack_from
    while end - offset >= records.HEADER_SIZE:
        m0, m1, length, _ = header(data, offset)
        if m0 != 0xD7 or m1 != 0x01 or offset + records.HEADER_SIZE + length > end:
            break
        if count % MARK_EVERY == 0:
            segment.marks.append(offset)
        count += 1
        offset += records.HEADER_SIZE + length
    segment.indexed_count, segment.indexed_size = count, offset


def _first_time(segment: Segment, sealed: bool) -> float:
    """The time of a segment's first record, checked like any record: infinity when the
    newest segment has no whole record yet (a crash cut its first one: nothing is there to
    find), ``CorruptLog`` when a sealed segment's first record is bad. Reads that record
    only, compressed or not."""
    try:
        data = segments.head(segment.path, records.HEADER_SIZE)
        if len(data) == records.HEADER_SIZE:
            length = records.HEADER.unpack_from(data)[2]
            if length <= records.MAX_BODY:
                data = segments.head(segment.path, records.HEADER_SIZE + length)
    except segments.Gone:
        raise Trimmed(f"seq {segment.first_seq} and on were deleted by retention") from None
    except zstandard.ZstdError as err:
        raise records.CorruptLog(str(segment.path), 0, f"does not decompress: {err}") from None
    try:
        for _, body in records.walk(data, str(segment.path), first_seq=segment.first_seq):
            return envelope.body_time(body)
    except records.TornTail as torn:
        if sealed or segment.compressed:
            raise records.CorruptLog(str(segment.path), torn.offset, torn.reason) from None
    return math.inf


_mapped = segments.mapped  # the writer's name for it
