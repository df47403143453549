"""Readers fail loudly on corruption before the last record, like the broker at start; a
torn last record (what a crash leaves) is only where the data ends."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from bus import filelog, records
from helpers import bodies, body
from plant import child_env


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


def rolled_log(events: Path) -> list[Path]:
    """60 records a second apart in small segments, and a newest segment whose first record
    a crash cut after 5 bytes (the broker had just started it)."""
    log, _ = filelog.FileLog.open_for_append(events, segment_bytes=1500)
    for one in bodies(1, 60, step=1.0):
        log.append([one])
    log.close()
    segments = sorted(events.rglob("*.log"))
    torn = segments[-1].with_name(f"{61:020d}.log")
    torn.write_bytes(records.frame(body(61))[:5])
    return [*segments, torn]


def test_a_time_search_over_a_torn_first_record_is_where_the_log_ends(tmp_path):
    events = tmp_path / "events"
    rolled_log(events)
    log = filelog.FileLog(events)
    assert log.seq_at(1_800_000_029.5) == 31
    assert log.seq_at(1_800_000_100.0) == 61  # after everything: where the next one goes
    assert [m.seq for m in log.messages(log.seq_at(1_800_000_058.5) - 1)] == [60]


def test_a_time_search_through_a_sealed_segment_whose_first_record_is_bad_raises(tmp_path):
    events = tmp_path / "events"
    segments = rolled_log(events)
    damage(segments[len(segments) // 2], 0, "checksum")
    with pytest.raises(records.CorruptLog, match="corrupt record at byte offset 0"):
        for when in range(0, 70, 5):
            filelog.FileLog(events).seq_at(1_800_000_000.0 + when)


def test_replay_from_a_time_over_a_torn_first_record_answers_without_a_traceback(tmp_path):
    root = tmp_path / "root"
    rolled_log(root / "events")

    def replay_from(when: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "homelab", "replay", "--root", str(root), "--from", when],
            capture_output=True,
            text=True,
            timeout=60,
            env=child_env(),
        )

    last = replay_from("2027-01-15T08:00:58.5Z")
    assert last.returncode == 0 and last.stdout.split()[0] == "60" and last.stderr == ""
    after = replay_from("2027-01-15T09:00:00Z")
    assert after.returncode == 1 and after.stdout == ""
    assert after.stderr == "homelab: nothing in range: the log ends at seq 60\n"
