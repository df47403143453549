"""The data root's disk use as ``homelab status`` and the dashboard show it."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from actors.readmodel import disk
from bus import envelope, housekeeping, retention
from bus.dataroot import DataRoot
from bus.filelog import FileLog
from homelab import render

DAY = 86400.0
START = 1_800_000_000.0 - 1_800_000_000.0 % DAY  # a UTC midnight (2027-01-15)


def write_days(events: Path, days: int) -> FileLog:
    """40 records a day for ``days`` days, in small segments; left open."""
    log, _ = FileLog.open_for_append(events, 1500)
    for seq in range(1, days * 40 + 1):
        wire = envelope.encode_wire("obs.node.a", f"id-{seq}", "test", {"n": seq})
        log.append([envelope.stamp(wire, seq, START + (seq - 1) // 40 * DAY)])
    return log


def test_disk_use_says_what_the_log_takes_and_where_its_history_begins(tmp_path: Path):
    data = DataRoot(tmp_path)
    log = write_days(data.events, 40)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "broker.log").write_bytes(b"x" * 10_000)
    policy = retention.Policy(days=30, bytes=0, keep_records=0)
    keeper = housekeeping.Housekeeper(log, policy, data.holds, data.history, lambda *_: None)
    keeper()
    keeper.close()
    keeper()  # the status after the compression finished
    use = disk.usage(tmp_path, keep=0)
    assert use.history is not None
    assert use.history.first_seq == log.first_seq > 1
    assert use.history.first_day == log.segments[0].day
    assert use.history.compressed == use.history.segments - 1
    assert (use.history.days, use.history.bytes, use.history.held_by) == (30, 0, None)
    assert use.parts["events"] > 0 and use.parts["logs"] >= 10_000
    assert use.root_bytes >= sum(use.parts.values())
    assert 0 < use.free_bytes <= use.total_bytes and 0 < use.free_percent <= 100


def test_a_log_held_over_its_limit_is_said_in_red_by_status(tmp_path: Path):
    data = DataRoot(tmp_path)
    write_days(data.events, 3).close()
    data.history.parent.mkdir(parents=True)
    data.history.write_text(
        json.dumps(
            {"policy": {"days": 0, "bytes": 1024}, "held_by": {"name": "observer", "seq": 7}}
        )
    )
    shown = disk.usage(tmp_path, keep=0)
    assert shown.history.held_by == "observer needs the log from seq 7"
    console = Console(record=True, width=200)
    render._disk_lines(shown.model_dump(mode="json"), console)
    text = console.export_text()
    assert "history from seq 1 (2027-01-15), kept 1.0 KiB, 0 of " in text
    assert "history over its limit but kept: observer needs the log from seq 7" in text


def test_no_event_log_yet_is_no_history(tmp_path: Path):
    use = disk.usage(tmp_path, keep=0)
    assert use.history is None and use.parts["events"] == 0
