"""Readers fail loudly on corruption before the last record, like the broker at start; a
torn last record (what a crash leaves) is only where the data ends."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from bus import filelog, records
from conftest import child_env
from helpers import bodies, body


def write_log(events: Path, count: int = 200) -> Path:
    log, _ = filelog.FileLog.open_for_append(events)
    log.append(bodies(1, count))
    log.sync()
    log.close()
    return sorted(events.rglob("*.log"))[-1]


def offset_of(data: bytes, index: int) -> int:
    offset = 0
    for _ in range(index):
        offset += records.HEADER_SIZE + struct.unpack_from(">BBII", data, offset)[2]
    return offset


def damage(segment: Path, index: int, how: str) -> None:
    data = bytearray(segment.read_bytes())
    at = offset_of(bytes(data), index)
    if how == "magic":
        data[at] = 0
    elif how == "length":
        struct.pack_into(">I", data, at + 2, 0xFFFFFF)
    elif how == "checksum":
        data[at + 6] ^= 0xFF
    segment.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["magic", "length", "checksum"])
def test_a_damaged_record_in_the_newest_segment_is_corruption_for_readers(tmp_path, how):
    events = tmp_path / "events"
    damage(write_log(events), 99, how)
    with pytest.raises(records.CorruptLog, match="corrupt record at byte offset"):
        list(filelog.FileLog(events).messages())


def test_a_torn_last_record_is_where_a_reader_stops(tmp_path):
    events = tmp_path / "events"
    segment = write_log(events)
    data = segment.read_bytes()
    segment.write_bytes(data[: offset_of(data, 199) + 7])  # the crash cut the last record
    assert [m.seq for m in filelog.FileLog(events).messages()] == list(range(1, 200))


def test_replay_says_the_log_is_corrupt_and_exits_non_zero(tmp_path):
    root = tmp_path / "root"
    damage(write_log(root / "events"), 99, "magic")
    done = subprocess.run(
        [sys.executable, "-m", "homelab", "replay", "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "corrupt record at byte offset" in done.stderr


def test_a_torn_last_record_carrying_a_copy_of_an_earlier_record_is_still_torn(tmp_path):
    """The copy's seq is not higher than the torn record's, so it is not a valid record
    after it (docs/log-format.md): readers stop there, as the broker cuts there."""
    events = tmp_path / "events"
    log, _ = filelog.FileLog.open_for_append(events)
    first = bodies(1, 2)
    copy = records.frame(first[0])
    log.append([*first, body(3, blob="x" * 10, copy=copy.hex(), raw=list(copy))])
    log.close()
    segment = sorted(events.rglob("*.log"))[-1]
    data = bytearray(segment.read_bytes())
    at = offset_of(bytes(data), 2) + records.HEADER_SIZE + 40
    data[at:] = b"\0" * 8 + copy + b"\0" * (len(data) - at - 8 - len(copy))  # a power loss
    segment.write_bytes(bytes(data))
    assert [m.seq for m in filelog.FileLog(events).messages()] == [1, 2]
