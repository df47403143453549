"""One contract, every log: MemoryLog and FileLog must behave the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus import compression, envelope
from bus.filelog import FileLog
from bus.log import MemoryLog, SequenceError
from helpers import bodies, body


class CompressingLog(FileLog):
    """A file log whose sealed segments are compressed after every append, as the broker's
    housekeeping does a moment later."""

    def append(self, items):
        framed = super().append(items)
        for segment in self.segments[:-1]:
            if not segment.compressed:
                segment.path = compression.compress(segment.path)[0]
        return framed


@pytest.fixture(params=["memory", "file", "file-small-segments", "file-compressed"])
def log(request, tmp_path: Path):
    if request.param == "memory":
        yield MemoryLog()
        return
    segment_bytes = 16 * 1024 * 1024 if request.param == "file" else 2000
    kind = CompressingLog if request.param == "file-compressed" else FileLog
    opened, report = kind.open_for_append(tmp_path / "events", segment_bytes)
    assert report == []
    yield opened
    opened.close()


def seqs(items) -> list[int]:
    return [envelope.body_seq(b) for b in items]


def test_an_empty_log_has_last_seq_zero_and_reads_nothing(log):
    assert log.last_seq == 0
    assert list(log.read()) == []


def test_appended_bodies_are_read_back_in_order_byte_for_byte(log):
    written = bodies(1, 50)
    log.append(written[:20])
    log.append(written[20:])
    assert log.last_seq == 50
    assert [bytes(b) for b in log.read()] == written


def test_read_after_and_until_bound_the_range(log):
    log.append(bodies(1, 30))
    assert seqs(log.read(after=10, until=15)) == [11, 12, 13, 14, 15]
    assert seqs(log.read(after=28)) == [29, 30]
    assert seqs(log.read(after=30)) == []
    assert seqs(log.read(after=5, until=2)) == []


def test_read_filters_by_topic_prefix(log):
    log.append([body(1, "obs.a"), body(2, "world.a"), body(3, "obs.b"), body(4, "bus.stats")])
    assert seqs(log.read(prefixes=["obs."])) == [1, 3]
    assert seqs(log.read(prefixes=["world.", "bus."])) == [2, 4]


def test_an_append_that_skips_or_repeats_a_seq_is_refused(log):
    log.append(bodies(1, 3))
    with pytest.raises(SequenceError):
        log.append([body(5)])
    with pytest.raises(SequenceError):
        log.append([body(3)])
    assert log.last_seq == 3


def test_seq_at_finds_the_first_message_at_or_after_a_time(log):
    log.append(bodies(1, 100, time=1_800_000_000.0, step=1.0))
    assert log.seq_at(0) == 1
    assert log.seq_at(1_800_000_000.0) == 1
    assert log.seq_at(1_800_000_010.5) == 12
    assert log.seq_at(1_800_000_099.0) == 100
    assert log.seq_at(1_900_000_000.0) == 101


def test_the_first_seq_is_1_until_retention_deletes_history(log):
    assert log.first_seq == 1
    log.append(bodies(1, 30))
    assert log.first_seq == 1


def test_reading_is_repeatable_and_does_not_consume(log):
    log.append(bodies(1, 10))
    assert seqs(log.read()) == seqs(log.read()) == list(range(1, 11))


def test_discard_forgets_what_was_appended_after_a_seq(log):
    log.append(bodies(1, 300))
    log.append(bodies(301, 5))
    log.discard(300)
    assert log.last_seq == 300
    log.append(bodies(301, 2))
    assert seqs(log.read(after=295)) == [296, 297, 298, 299, 300, 301, 302]
