"""Retention on real files: by age, by size, never the newest, never past a hold, and a
kill -9 in the middle leaves a log that every reader and the broker take as it is."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from bus import compression, envelope, retention, segments
from bus.filelog import FileLog, list_segments
from bus.log import Trimmed
from helpers import DAY, START, bodies, gapless, seqs, write_days
from plant import REPO, child_env

KEEP_ALL_RECORDS = 0  # these logs are far smaller than the broker's de-duplication window


def policy(days: float = 0, size: int = 0) -> retention.Policy:
    return retention.Policy(days=days, bytes=size, keep_records=KEEP_ALL_RECORDS)


def test_segments_older_than_the_days_go_oldest_first_counted_from_the_newest_record(tmp_path):
    events = tmp_path / "events"
    log = write_days(events, 40)
    done = retention.apply(log, policy(days=30), at_once=10_000)
    newest = retention.newest_time(log)
    assert done.deleted and done.held is None
    for gone in done.deleted:
        assert retention.day_end(gone.path.parent.name) <= newest - 30 * DAY
        assert not gone.path.exists() and "older than 30 days" in gone.why
    kept_days = sorted({s.day for s in list_segments(events)})
    assert len(kept_days) == 31 and not (events / "2027-01-15").exists()  # empty folders go
    first, last = gapless(events)
    assert first == log.first_seq == done.deleted[-1].last_seq + 1 and last == 1600
    log.append(bodies(1601, 5, time=START + 40 * DAY))  # the writer goes on
    log.close()
    assert FileLog.open_for_append(events, 1500)[0].last_seq == 1605


def test_the_oldest_go_while_the_log_is_over_its_size_but_never_the_newest(tmp_path):
    events = tmp_path / "events"
    log = write_days(events, 10)
    retention.apply(log, policy(size=20_000), at_once=10_000)
    sizes = [segments.disk_size(s.path) for s in list_segments(events)]
    assert sum(sizes) <= 20_000 < sum(sizes) + 1500
    retention.apply(log, policy(size=1), at_once=10_000)
    (only,) = list_segments(events)  # the newest stays whatever the limit
    assert gapless(events) == (only.first_seq, 400)


def test_the_last_records_the_broker_reads_back_at_start_are_kept(tmp_path):
    events = tmp_path / "events"
    log = write_days(events, 10)
    retention.apply(log, retention.Policy(days=0, bytes=1, keep_records=100), at_once=10_000)
    assert log.first_seq <= 301 and FileLog(events).first_seq == log.first_seq


def test_a_hold_keeps_every_segment_it_needs_and_says_who(tmp_path):
    events = tmp_path / "events"
    holds = tmp_path / "holds"
    log = write_days(events, 40)
    retention.hold(holds, "observer", 123, "world snapshot at seq 122")
    retention.hold(holds, "supervisor", 900)
    (holds / "broken.json").write_text("{not json")
    done = retention.apply(log, policy(days=30), holds, at_once=10_000)
    assert done.held == ("observer", 123)
    assert log.first_seq <= 123 and all(d.last_seq < 123 for d in done.deleted)
    retention.hold(holds, "observer", 2000)
    done = retention.apply(log, policy(days=30), holds, at_once=10_000)
    assert done.held is None and log.first_seq > 123


def test_at_once_bounds_a_call_and_more_says_there_is_more(tmp_path):
    log = write_days(tmp_path / "events", 40)
    done = retention.apply(log, policy(days=30), at_once=3)
    assert len(done.deleted) == 3 and done.more
    assert [d.first_seq for d in done.deleted] == sorted(d.first_seq for d in done.deleted)


def test_compressed_segments_count_as_what_they_take_and_go_in_both_forms(tmp_path):
    events = tmp_path / "events"
    log = write_days(events, 10)
    for segment in log.segments[:-1]:
        segment.path = compression.compress(segment.path)[0]
    first = log.segments[0]
    segments.plain_path(first.path).write_bytes(segments.decompress(first.path.read_bytes()))
    before = sum(segments.disk_size(s.path) for s in log.segments)
    retention.apply(log, policy(size=before // 2), at_once=10_000)
    assert not segments.plain_path(first.path).exists() and not first.path.exists()
    assert sum(segments.disk_size(s.path) for s in log.segments) <= before // 2
    gapless(events)


def test_a_reader_that_has_a_segment_open_reads_it_whole_one_that_comes_late_is_told(tmp_path):
    events = tmp_path / "events"
    log = write_days(events, 40)
    reading = FileLog(events).read()
    first = next(reading)  # the oldest segment is mapped now
    late = FileLog(events).read()  # listed, not opened yet
    retention.apply(log, policy(days=30), at_once=10_000)
    rest = [envelope.body_seq(b) for b in itertools.islice(reading, 10)]
    assert envelope.body_seq(first) == 1 and rest == list(range(2, 12))
    with pytest.raises(Trimmed, match="deleted by retention"):
        list(late)
    assert seqs(events)[0] == FileLog(events).first_seq  # a fresh look starts where it begins


def test_reading_from_before_the_first_retained_seq_reads_from_it(tmp_path):
    events = tmp_path / "events"
    log = write_days(events, 40)
    retention.apply(log, policy(days=30), at_once=10_000)
    first = log.first_seq
    assert seqs(events) == seqs(events, first - 1) == list(range(first, 1601))
    assert FileLog(events).seq_at(0) == first


KILLER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from bus import retention
    from bus.filelog import FileLog
    log, _ = FileLog.open_for_append(Path(sys.argv[1]), 1500)
    print("ready", flush=True)
    retention.apply(log, retention.Policy(days=0, bytes=1, keep_records=0), at_once=10**6)
    print("done", flush=True)
    """
)


@pytest.mark.slow
def test_kill_9_during_retention_leaves_a_gapless_log_that_the_next_run_finishes(tmp_path):
    events = tmp_path / "events"
    write_days(events, 200, per_day=60).close()  # 12,000 records in hundreds of segments
    total = len(list_segments(events))
    killed_at = []
    for delay in (0.0, 0.01, 0.03, 0.05, 0.1, 0.2):
        before = FileLog(events).first_seq
        child = subprocess.Popen(
            [sys.executable, "-c", KILLER, str(events)],
            stdout=subprocess.PIPE,
            env=child_env(),
            cwd=REPO,
            text=True,
        )
        assert child.stdout.readline().strip() == "ready"
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        first, last = gapless(events)  # a suffix of what was: nothing torn, nothing skipped
        assert first >= before and last == 12_000
        killed_at.append(len(list_segments(events)))
        reopened, report = FileLog.open_for_append(events, 1500)  # what the broker does
        assert report == [] and reopened.last_seq == 12_000
        reopened.close()
    assert any(1 < left < total for left in killed_at), killed_at  # some kill was mid-way
    log, _ = FileLog.open_for_append(events, 1500)
    retention.apply(log, policy(size=1), at_once=10**6)
    assert len(log.segments) == 1 and gapless(events)[1] == 12_000
