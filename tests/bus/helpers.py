"""Building bodies for tests without a broker."""

from __future__ import annotations

from pathlib import Path

from bus import envelope
from bus.filelog import FileLog


def body(seq: int, topic: str = "obs.node.a", time: float = 1_800_000_000.0, **payload) -> bytes:
    wire = envelope.encode_wire(topic, f"id-{seq}", "test", payload or {"n": seq})
    return envelope.stamp(wire, seq, time)


def bodies(
    first: int,
    count: int,
    topic: str = "obs.node.a",
    time: float = 1_800_000_000.0,
    step: float = 0.0,
) -> list[bytes]:
    return [body(s, topic, time + (s - first) * step) for s in range(first, first + count)]


DAY = 86400.0
START = 1_800_000_000.0 - 1_800_000_000.0 % DAY  # a UTC midnight (2027-01-15)


def write_days(events: Path, days: int, per_day: int = 40, segment_bytes: int = 1500) -> FileLog:
    """A log of ``per_day`` records a day for ``days`` days, in appends of 10, in small
    segments; left open for appending."""
    log, _ = FileLog.open_for_append(events, segment_bytes)
    seq = 1
    for day in range(days):
        for step in range(per_day // 10):
            log.append(bodies(seq, 10, time=START + day * DAY + step * 3600))
            seq += 10
    return log


def seqs(events: Path, after: int = 0) -> list[int]:
    return [envelope.body_seq(b) for b in FileLog(events).read(after)]


def gapless(events: Path) -> tuple[int, int]:
    """Read from its first seq, the log has every seq once, in order: (first, last)."""
    log = FileLog(events)
    assert seqs(events) == list(range(log.first_seq, log.last_seq + 1))
    return log.first_seq, log.last_seq
