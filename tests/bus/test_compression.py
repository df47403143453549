"""Sealed segments compressed with zstd: every reader reads them as before, through the swap
and through a crash in it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from bus import compression, envelope, records, segments
from bus.filelog import FileLog, list_segments
from helpers import bodies

T0 = 1_800_000_000.0


def write_log(events: Path, count: int = 400, segment_bytes: int = 2000) -> FileLog:
    log, _ = FileLog.open_for_append(events, segment_bytes)
    for first in range(1, count + 1, 10):
        log.append(bodies(first, 10, time=T0 + first, step=0.1))
    return log


def compress_sealed(events: Path) -> int:
    sealed = list_segments(events)[:-1]
    for segment in sealed:
        if not segment.compressed:
            compression.compress(segment.path)
    return len(sealed)


def everything(events: Path, after: int = 0) -> list[bytes]:
    return [bytes(b) for b in FileLog(events).read(after)]


def test_compressed_segments_read_back_the_same_records_seeks_and_times(tmp_path: Path):
    events = tmp_path / "events"
    write_log(events).close()
    before = everything(events)
    times = [T0 + t for t in (-5, 0, 1.05, 37.3, 120, 399.9, 500)]
    seeks_before = [FileLog(events).seq_at(t) for t in times]
    assert compress_sealed(events) > 5
    names = [p.name for _, p in segments.find(events)]
    assert names[-1].endswith(".log") and all(n.endswith(".log.zst") for n in names[:-1])
    assert everything(events) == before
    for after in (0, 1, 17, 255, 256, 399):
        assert everything(events, after) == before[after:]
    assert [FileLog(events).seq_at(t) for t in times] == seeks_before
    decoded = list(FileLog(events).messages(0, None, ["obs."]))
    assert [m.seq for m in decoded] == list(range(1, 401))


def test_the_writer_goes_on_after_its_sealed_segments_were_compressed(tmp_path: Path):
    events = tmp_path / "events"
    log = write_log(events, 200)
    compress_sealed(events)
    assert [envelope.body_seq(b) for b in log.read(150, 160)] == list(range(151, 161))
    log.append(bodies(201, 50, time=T0 + 300))
    log.close()
    reopened, report = FileLog.open_for_append(events, 2000)
    assert report == [] and reopened.last_seq == 250
    assert [envelope.body_seq(b) for b in reopened.read()] == list(range(1, 251))


def test_a_reader_that_listed_the_plain_files_follows_them_into_compression(tmp_path: Path):
    events = tmp_path / "events"
    write_log(events).close()
    reader = FileLog(events)  # lists the .log files now
    before = [bytes(b) for b in reader.read()]
    compress_sealed(events)  # every .log it listed, but the newest, is gone
    assert [bytes(b) for b in reader.read()] == before
    reader.refresh()
    assert all(s.compressed for s in reader.segments[:-1])


def test_reading_while_every_segment_is_swapped_never_fails(tmp_path: Path):
    events = tmp_path / "events"
    write_log(events, 2000, segment_bytes=4000).close()
    expected = everything(events)
    stop = threading.Event()
    failures: list[BaseException] = []

    def read_again_and_again():
        while not stop.is_set():
            try:
                assert [bytes(b) for b in FileLog(events).read()] == expected
            except BaseException as err:  # noqa: BLE001 - reported below
                failures.append(err)
                return

    readers = [threading.Thread(target=read_again_and_again) for _ in range(2)]
    for thread in readers:
        thread.start()
    compress_sealed(events)
    stop.set()
    for thread in readers:
        thread.join()
    assert failures == []


def test_recover_finishes_a_swap_cut_short_either_way(tmp_path: Path):
    events = tmp_path / "events"
    write_log(events).close()
    expected = everything(events)
    first, second = list_segments(events)[:2]
    packed = compression.compress(first.path)[0]
    first.path.write_bytes(segments.decompress(packed.read_bytes()))  # killed before unlink
    tmp = second.path.with_name(second.path.name + ".zst.tmp")
    tmp.write_bytes(b"half a frame")  # killed while writing
    assert everything(events) == expected  # readers take the .zst, never the .tmp
    done = compression.recover(events)
    assert len(done) == 2 and not first.path.exists() and not tmp.exists()
    assert everything(events) == expected


def test_a_compressed_segment_that_does_not_decompress_is_corruption_naming_it(tmp_path: Path):
    events = tmp_path / "events"
    write_log(events).close()
    compress_sealed(events)
    victim = list_segments(events)[3].path
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(records.CorruptLog, match=victim.name):
        everything(events)
