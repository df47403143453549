"""What only the file log does: segments, days, reopening, torn tails, corruption."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import msgpack
import pytest

from bus import envelope, records, space
from bus.filelog import FileLog
from helpers import bodies

DAY = 86400.0
T0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC


def test_segments_are_named_by_first_seq_in_utc_day_folders(tmp_path: Path):
    log, _ = FileLog.open_for_append(tmp_path, segment_bytes=300)
    for item in bodies(1, 10, time=T0):  # a batch stays in one segment; rotation is between
        log.append([item])
    log.append(bodies(11, 5, time=T0 + DAY))
    log.close()
    names = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.glob("*/*.log"))
    assert names[0] == "2027-01-15/00000000000000000001.log"
    assert any(n.startswith("2027-01-16/00000000000000000011") for n in names)
    assert len(names) > 2  # 300-byte segments rotate within the day too


def test_a_reopened_log_continues_where_it_ended(tmp_path: Path):
    log, _ = FileLog.open_for_append(tmp_path)
    log.append(bodies(1, 5, time=T0))
    log.close()
    log, report = FileLog.open_for_append(tmp_path)
    assert report == [] and log.last_seq == 5
    log.append(bodies(6, 5, time=T0))
    log.close()
    assert len(list(tmp_path.glob("*/*.log"))) == 1
    assert [envelope.body_seq(b) for b in FileLog(tmp_path).read()] == list(range(1, 11))


def test_a_reader_sees_what_the_writer_appended_after_refresh(tmp_path: Path):
    writer, _ = FileLog.open_for_append(tmp_path, segment_bytes=1500)
    writer.append(bodies(1, 5, time=T0))
    reader = FileLog(tmp_path)
    assert reader.last_seq == 5
    writer.append(bodies(6, 20, time=T0))
    reader.refresh()
    assert [envelope.body_seq(b) for b in reader.read(after=3)] == list(range(4, 26))


def test_a_torn_last_record_is_cut_and_reported(tmp_path: Path):
    log, _ = FileLog.open_for_append(tmp_path)
    log.append(bodies(1, 3, time=T0))
    log.close()
    segment = next(tmp_path.glob("*/*.log"))
    segment.write_bytes(segment.read_bytes()[:-7])
    log, report = FileLog.open_for_append(tmp_path)
    assert log.last_seq == 2
    assert len(report) == 1 and "torn" in report[0] and str(segment) in report[0]
    log.append(bodies(3, 1, time=T0))
    assert [envelope.body_seq(b) for b in log.read()] == [1, 2, 3]


def test_corruption_before_the_tail_stops_the_writer_naming_file_and_offset(tmp_path: Path):
    log, _ = FileLog.open_for_append(tmp_path)
    log.append(bodies(1, 3, time=T0))
    log.close()
    segment = next(tmp_path.glob("*/*.log"))
    data = bytearray(segment.read_bytes())
    second = records.HEADER_SIZE + records.HEADER.unpack_from(data, 0)[2]
    data[second + records.HEADER_SIZE + 5] ^= 0xFF
    segment.write_bytes(bytes(data))
    with pytest.raises(records.CorruptLog) as caught:
        FileLog.open_for_append(tmp_path)
    assert caught.value.offset == second and str(segment) in str(caught.value)


def test_a_segment_file_is_also_a_plain_msgpack_stream(tmp_path: Path):
    import msgpack

    log, _ = FileLog.open_for_append(tmp_path)
    log.append(bodies(1, 3, time=T0))
    log.close()
    items = list(msgpack.Unpacker(open(next(tmp_path.glob("*/*.log")), "rb"), raw=False))
    assert [item[0] for item in items[1::2]] == [1, 2, 3]
    assert all(isinstance(item, msgpack.ExtType) and item.code == 1 for item in items[::2])


def test_damage_at_the_end_of_an_older_segment_is_corruption_not_a_torn_tail(tmp_path: Path):
    log, _ = FileLog.open_for_append(tmp_path, segment_bytes=300)
    for item in bodies(1, 12, time=T0):
        log.append([item])
    log.close()
    first = sorted(tmp_path.glob("*/*.log"))[0]
    first.write_bytes(first.read_bytes()[:-5])
    with pytest.raises(records.CorruptLog) as caught:
        list(FileLog(tmp_path).read())
    assert str(first) in str(caught.value)


def test_an_empty_looking_record_inside_a_torn_tail_does_not_count_as_data(tmp_path: Path):
    log, _ = FileLog.open_for_append(tmp_path)
    log.append(bodies(1, 2, time=T0))
    log.close()
    segment = next(tmp_path.glob("*/*.log"))
    torn = records.HEADER.pack(0xD7, 1, 500, 0) + b"\x96" + b"\xd7\x01" + b"\0" * 8
    segment.write_bytes(segment.read_bytes() + torn)
    log, report = FileLog.open_for_append(tmp_path)
    assert log.last_seq == 2 and "torn" in report[0]


def test_a_batch_written_half_way_is_cut_off_and_the_log_goes_on(tmp_path: Path, monkeypatch):
    log, _ = FileLog.open_for_append(tmp_path)
    log.append(bodies(1, 300, time=T0))
    segment = next(tmp_path.glob("*/*.log"))
    size = segment.stat().st_size
    real_write = os.write

    def half_then_full(fd, data):  # what a file system without room left does
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError):
        log.append(bodies(301, 10, time=T0))
    monkeypatch.setattr(os, "write", real_write)
    assert segment.stat().st_size > size  # a torn tail, for now: readers stop there
    seen = [envelope.body_seq(b) for b in FileLog(tmp_path).read()]
    assert seen == list(range(1, len(seen) + 1)) and 300 <= len(seen) < 310
    log.discard(300)
    assert [envelope.body_seq(b) for b in FileLog(tmp_path).read()] == list(range(1, 301))
    assert segment.stat().st_size == size and log.last_seq == 300
    log.append(bodies(301, 10, time=T0))
    log.close()
    reopened, report = FileLog.open_for_append(tmp_path)
    assert report == [] and reopened.last_seq == 310  # nothing torn was left


def test_a_segment_that_cannot_be_created_leaves_the_log_as_it_was(tmp_path: Path, monkeypatch):
    log, _ = FileLog.open_for_append(tmp_path)
    log.append(bodies(1, 3, time=T0))
    real_open = os.open

    def no_new_files(path, flags, *args):
        if flags & os.O_CREAT and str(path).endswith(".log"):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", no_new_files)
    with pytest.raises(OSError):
        log.append(bodies(4, 2, time=T0 + DAY))  # a new day: a new segment
    log.discard(3)
    monkeypatch.setattr(os, "open", real_open)
    assert log.last_seq == 3 and len(log.segments) == 1
    log.append(bodies(4, 2, time=T0 + DAY))
    assert [envelope.body_seq(b) for b in FileLog(tmp_path).read()] == [1, 2, 3, 4, 5]


def test_the_space_is_taken_before_the_write_so_a_full_disk_writes_nothing(
    tmp_path: Path, monkeypatch
):
    log, _ = FileLog.open_for_append(tmp_path)
    log.append(bodies(1, 3, time=T0))
    segment = next(tmp_path.glob("*/*.log"))
    size = segment.stat().st_size

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(space, "reserve", full)
    with pytest.raises(OSError):
        log.append(bodies(4, 2, time=T0))
    assert segment.stat().st_size == size and log.last_seq == 3


def test_a_body_with_fields_a_later_broker_appended_reads_as_the_fields_it_knows(tmp_path: Path):
    log, _ = FileLog.open_for_append(tmp_path)
    seven = envelope.stamp(envelope.encode_wire("obs.a", "a", "t", {"k": 1}), 1, 2.5, "tool:t")
    later = bytes([0x98]) + seven[1:] + msgpack.packb("what comes next")  # an eighth field
    log.append([later])
    log.sync()
    assert list(log.messages()) == [envelope.Message(1, 2.5, "obs.a", "a", "t", {"k": 1}, "tool:t")]
