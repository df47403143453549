"""The broker's housekeeping, called as from its tick: every sealed segment compressed, one
at a time, retention applied and published, the history's state written for the read model."""

from __future__ import annotations

import json
from pathlib import Path

from bus import housekeeping, retention, segments
from bus.filelog import FileLog
from helpers import DAY, START, bodies, gapless, write_days
from plant import wait_until


def test_sealed_segments_are_compressed_and_old_ones_deleted_and_said(tmp_path: Path):
    events, status = tmp_path / "events", tmp_path / "state" / "history.json"
    log = write_days(events, 40)
    published = []
    keeper = housekeeping.Housekeeper(
        log,
        retention.Policy(days=30, bytes=0, keep_records=0),
        tmp_path / "holds",
        status,
        lambda topic, payload: published.append((topic, payload)),
        every=0.0,
    )
    try:
        wait_until(lambda: keeper() or all(s.compressed for s in log.segments[:-1]), 30)
    finally:
        keeper.close()
    assert not log.segments[-1].compressed  # the open one never
    assert keeper.ratio < 0.5
    topics = {topic for topic, _ in published}
    assert topics == {"bus.log.retention"}
    last = published[-1][1]
    assert last["first_seq"] == log.first_seq > 1 and last["why"] == ["older than 30 days"]
    keeper()
    shown = json.loads(status.read_text())
    assert shown["first_seq"] == log.first_seq and shown["last_seq"] == 1600
    assert shown["compressed"] == shown["segments"] - 1 and shown["held_by"] is None
    assert shown["log_bytes"] == sum(segments.disk_size(s.path) for s in log.segments)
    assert gapless(events) == (log.first_seq, 1600)
    log.append(bodies(1601, 3, time=START + 40 * DAY))
    assert [m.seq for m in FileLog(events).messages(1599)] == [1600, 1601, 1602, 1603]


def test_a_hold_that_keeps_the_log_over_its_limit_is_shown(tmp_path: Path):
    events, status = tmp_path / "events", tmp_path / "history.json"
    log = write_days(events, 5)
    retention.hold(tmp_path / "holds", "observer", 1)
    keeper = housekeeping.Housekeeper(
        log,
        retention.Policy(days=0, bytes=1, keep_records=0),
        tmp_path / "holds",
        status,
        lambda *_: None,
        compress=False,
        every=0.0,
    )
    keeper()
    assert json.loads(status.read_text())["held_by"] == {"name": "observer", "seq": 1}
    assert log.first_seq == 1
    keeper.close()
