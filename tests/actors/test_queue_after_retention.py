"""The action queue and the executor start right from a log whose beginning retention
deleted: the supervisor from ``actions/*.json`` of the actions recommended before it plus the
log after, the executor from the same files (``queue_files``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actors import executor
from actors.domain import queue_files
from bus import retention
from bus.dataroot import DataRoot
from bus.filelog import FileLog
from bus.stub import StubBus
from supervisor_loop import Loop


@pytest.fixture
def loop(tmp_path):
    made = Loop(tmp_path)
    yield made
    made.close()


def trim_before(loop: Loop, keep_from: int) -> int:
    """Retention deletes every segment before ``keep_from`` (the log re-cut in small
    segments, as the broker's are 16 MiB); the log's first seq after it."""
    events = DataRoot(loop.root).events
    loop.bus.log.close()
    old = events.with_name("events-whole")
    events.rename(old)
    log, _ = FileLog.open_for_append(events, 600)
    for body in FileLog(old).read():
        log.append([bytes(body)])
    retention.hold(DataRoot(loop.root).holds, "test", keep_from)
    policy = retention.Policy(days=0, bytes=1, keep_records=0)
    retention.apply(log, policy, DataRoot(loop.root).holds, at_once=10**6)
    loop.bus.log = log  # the same records: the bus goes on from its last seq
    return log.first_seq


def files(root: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in DataRoot(root).actions.glob("a-*.json")}


def a_running_fix_and_an_old_rejection(loop: Loop) -> tuple[str, str]:
    """An action rejected long ago (it holds the drift), and one running since, the log
    then going on for a while."""
    loop.observe("inactive", "fail")
    loop.evaluate()
    [rejected] = loop.recommended()
    loop.reject(rejected)
    loop.observe("active", "ok")
    loop.evaluate()
    loop.observe("inactive", "fail")  # the drift ends and comes back: a new occurrence
    mark = loop.evaluate()
    [running] = loop.recommended(mark)
    loop.approve(running)
    loop.feed("action.running", {"id": running, "timeout": 300.0}, "executor")
    for _ in range(40):
        loop.heartbeat()
    return rejected, running


def test_the_queue_rebuilds_from_its_files_and_the_log_after_them(loop):
    rejected, running = a_running_fix_and_an_old_rejection(loop)
    before = files(loop.root)
    attempts_before, rejections_before = loop.supervisor.tried, loop.supervisor.rejected
    first = trim_before(loop, loop.seq - 20)
    assert first > max(r["history"][-1]["seq"] for r in before.values())  # all of it gone
    loop.restart()
    queue = loop.supervisor.queue
    assert {i: r.to_dict() for i, r in queue.records.items()} == before
    assert files(loop.root) == before  # written back unchanged
    assert loop.supervisor.tried == attempts_before
    assert loop.supervisor.rejected == rejections_before
    loop.feed("action.succeeded", {"id": running, "exit_code": 0}, "executor")
    assert loop.state(running) == "succeeded" and loop.state(rejected) == "rejected"


def test_without_its_files_the_trimmed_log_alone_would_lose_them(loop):
    """What the files are for: the log after retention knows nothing of either."""
    a_running_fix_and_an_old_rejection(loop)
    trim_before(loop, loop.seq - 20)
    for path in DataRoot(loop.root).actions.glob("a-*.json"):
        path.unlink()
    loop.restart()
    assert loop.supervisor.queue.records == {}


def test_actions_recommended_within_the_retained_log_are_rebuilt_from_the_log_alone(loop):
    rejected, running = a_running_fix_and_an_old_rejection(loop)
    recommended_at = files(loop.root)[running]["history"][0]["seq"]
    trim_before(loop, recommended_at)  # the running one's recommendation is kept
    kept = FileLog(DataRoot(loop.root).events).first_seq
    assert kept <= recommended_at
    assert not queue_files.begun_before(files(loop.root)[running], kept)
    assert queue_files.begun_before(files(loop.root)[rejected], kept)
    loop.restart()
    assert loop.state(running) == "running" and loop.state(rejected) == "rejected"


def test_the_executor_takes_from_the_files_what_the_deleted_log_said(tmp_path: Path):
    root = DataRoot(tmp_path)
    root.actions.mkdir(parents=True)
    loop = Loop(tmp_path)
    try:
        loop.observe("inactive", "fail")
        loop.evaluate()
        [approved] = loop.recommended()
        loop.approve(approved)
        first = trim_before(loop, loop.seq + 1)
    finally:
        loop.close()
    record = files(tmp_path)[approved]
    ended = dict(record, id="a-00000000000000e1", state="failed")
    running = dict(record, id="a-00000000000000e2", state="running")
    for extra in (ended, running):
        (root.actions / f"{extra['id']}.json").write_text(json.dumps(extra))
    bus = StubBus()
    worker = executor.Executor(tmp_path, bus.outbox("executor"), bus)
    worker.seed(first)
    assert worker.finished == {ended["id"]}
    assert worker.started == {running["id"]}
    assert [a["id"] for a in worker.backlog] == [approved]
    (approval,) = worker.backlog
    assert executor.matches(approval, worker.recommended[approved]) == ""
    assert executor.check(approval) == ""  # what the queue approved, hash and all
    nothing = executor.Executor(tmp_path, bus.outbox("executor"), bus)
    nothing.seed(1)  # a log that begins at seq 1 says it all itself
    assert nothing.backlog == [] and nothing.started == nothing.finished == set()


def test_a_record_read_back_writes_the_same_file(loop):
    a_running_fix_and_an_old_rejection(loop)
    for data in files(loop.root).values():
        assert queue_files.record(data).to_dict() == data
    with pytest.raises(ValueError, match="not an action's record"):
        queue_files.record({"id": "a-1"})
    tampered = dict(next(iter(files(loop.root).values())), commands=[["rm", "-rf", "/"]])
    with pytest.raises(ValueError, match="hash"):
        queue_files.record(tampered)
