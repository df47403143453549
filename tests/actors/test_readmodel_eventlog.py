"""Reading the event log back for the pages, from a real log on disk (no broker): one record,
ranges by sequence and by time, a service's recent observations, the last revision, and an
action's stored output."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.readmodel import eventlog
from bus import envelope, filelog
from bus.dataroot import DataRoot

T0 = 1_790_000_000.0  # every record i is stamped T0 + i


def owner(topic: str) -> str:
    """The part of the control plane that publishes ``topic`` (``emit`` for anyone's)."""
    if topic.startswith("obs.node."):
        return "agent:" + topic.split(".")[2]
    if topic.startswith(("desired.", "drift.")):
        return "supervisor"
    if topic.startswith("action."):
        return "executor"
    return "broker" if topic.startswith("bus.") else "emit"


def write(root: Path, messages: list[tuple], segment_bytes: int = 4096) -> None:
    """Append ``(topic, payload)`` as its owner sends it, or ``(topic, payload, source)``."""
    log, _ = filelog.FileLog.open_for_append(DataRoot(root).events, segment_bytes)
    start = log.last_seq
    for i, (topic, payload, *source) in enumerate(messages, start + 1):
        wire = envelope.encode_wire(topic, f"m{i}", source[0] if source else owner(topic), payload)
        log.append([envelope.stamp(wire, i, T0 + i)])
    log.close()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    data = DataRoot(tmp_path / "root")
    for folder in (data.events, data.actions, data.action_logs):
        folder.mkdir(parents=True)
    return data.path


def test_one_record_by_its_sequence_number(root):
    write(root, [("obs.node.n1.check", {"n": i}) for i in range(1, 11)])
    found = eventlog.record(root, 7)
    assert (found.seq, found.topic, found.payload) == (7, "obs.node.n1.check", {"n": 7})
    assert eventlog.record(root, 11) is None
    assert eventlog.record(root, 0) is None


def test_ranges_by_sequence_and_by_time_are_bounded(root):
    write(root, [("a.x" if i % 2 else "b.x", {"i": i}) for i in range(1, 301)])
    assert [m.seq for m in eventlog.by_seq(root, 10, 14, "", 100)] == [10, 11, 12, 13, 14]
    assert [m.seq for m in eventlog.by_seq(root, 10, 20, "a.", 3)] == [11, 13, 15]
    # by time: T0 + 100 up to (not including) T0 + 105, over many segments
    assert [m.seq for m in eventlog.by_time(root, T0 + 100, T0 + 105, "", 100)] == [
        100,
        101,
        102,
        103,
        104,
    ]
    assert len(eventlog.by_time(root, 0, T0 + 10_000, "", 50)) == 50
    assert eventlog.by_time(root, T0 + 1000, T0 + 2000, "", 50) == []


def test_a_services_observations_newest_first_exact_topic_and_bounded_scan(root):
    messages = []
    for i in range(60):
        messages.append(("obs.node.n1.service.web", {"i": i}))
        messages.append(("obs.node.n1.service.web1", {"i": i}))  # same prefix, other service
        messages.append(("bus.stats", {"rate": 1.0}))
    write(root, messages)
    found = eventlog.observations(root, "n1", "web", limit=20)
    assert [m.payload["i"] for m in found] == list(range(59, 39, -1))
    assert {m.topic for m in found} == {"obs.node.n1.service.web"}
    # only the last 30 records are read: 10 of them are web's
    assert len(eventlog.observations(root, "n1", "web", limit=20, scan=30)) == 10


def test_the_last_revision_says_whether_it_was_a_rollback(root):
    assert eventlog.last_revision(root) is None
    write(
        root,
        [
            ("desired.revision", {"revision": "r1", "rollback": False}),
            ("desired.errors", {"problems": []}),
            ("desired.revision", {"revision": "r0", "rollback": True}),
            ("bus.stats", {}),
        ],
    )
    assert eventlog.last_revision(root) == {"revision": "r0", "rollback": True}


def test_a_running_actions_output_so_far_and_where_the_live_part_begins(root):
    messages = [("bus.stats", {}) for _ in range(10)]  # before it was approved
    for i in range(1, 6):
        messages.append(("action.output", {"id": "a-1", "chunk": f"line {i}\npart"}))
        messages.append(("action.output", {"id": "a-2", "chunk": "other action\n"}))
        messages.append(("action.output", {"id": "a-1", "chunk": f" {i}\n"}))
    write(root, messages)
    lines, last = eventlog.action_output(root, "a-1", since=T0 + 11, lines=4)
    assert lines == ["line 4", "part 4", "line 5", "part 5"]
    assert last == 25
    assert eventlog.action_output(root, "a-1", since=T0 + 11, lines=100)[0][0] == "line 1"
    # bounded: only the last 3 records are read
    assert eventlog.action_output(root, "a-1", since=0, lines=100, scan=3) == (
        ["line 5", "part 5"],
        25,
    )
    assert eventlog.action_output(root, "a-3", since=0, lines=10) == ([], 25)


def test_a_forged_observation_is_not_shown_as_the_services(root):
    write(
        root,
        [
            ("obs.node.n1.service.web", {"i": 1}),
            ("obs.node.n1.service.web", {"i": 2}, "emit"),  # any tool can send this topic
            ("obs.node.n1.service.web", {"i": 3}, "agent:n2"),  # another node's agent
        ],
    )
    found = eventlog.observations(root, "n1", "web")
    assert [(m.payload["i"], m.source) for m in found] == [(1, "agent:n1")]


def test_a_forged_rollback_does_not_become_the_last_revision(root):
    write(
        root,
        [
            ("desired.revision", {"revision": "r1", "rollback": False}),
            ("desired.revision", {"revision": "r1", "rollback": True, "previous": "X"}, "emit"),
            ("desired.revision", {"revision": "r9", "rollback": True}, "inbox"),
        ],
    )
    assert eventlog.last_revision(root) == {"revision": "r1", "rollback": False}


def test_forged_output_lines_are_not_part_of_a_running_actions_output(root):
    write(
        root,
        [
            ("action.output", {"id": "a-1", "chunk": "real\n"}),
            ("action.output", {"id": "a-1", "chunk": "rm -rf done\n"}, "emit"),
            ("action.output", {"id": "a-1", "chunk": "from the queue\n"}, "supervisor"),
            ("action.output", {"id": "a-1", "chunk": "more\n"}),
        ],
    )
    assert eventlog.action_output(root, "a-1", since=0, lines=10) == (["real", "more"], 4)
