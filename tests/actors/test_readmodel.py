"""The read model from real files in a data root, no sockets: what the CLI and the UI show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actors import atomic
from actors.domain import lifecycle
from actors.readmodel import queue, summary, world
from actors.readmodel.models import BusStatus
from bus.dataroot import DataRoot, NoDataRoot

COMMANDS = [["systemctl", "start", "--", "db.service"]]


def action(action_id: str, state: str, at: float, **extra) -> dict:
    record = {
        "id": action_id,
        "state": state,
        "type": "start",
        "target": "unit:db.service",
        "commands": COMMANDS,
        "revision": "r1",
        "hash": lifecycle.run_hash("start", "unit:db.service", COMMANDS, "r1"),
        "approved_by": "",
        "approved_at": None,
        "service": "db",
        "reason": "stopped: inactive",
        "result": {},
        "history": [
            {
                "kind": "queue",
                "at": at,
                "by": "queue",
                "reason": "",
                "approval_hash": "",
                "seq": 3,
                "clock": at,
            }
        ],
    }
    return record | extra


@pytest.fixture
def data(tmp_path: Path) -> DataRoot:
    root = DataRoot(tmp_path / "root")
    for folder in (root.events, root.actions, root.world, root.action_logs):
        folder.mkdir(parents=True)
    return root


def test_a_folder_without_an_event_log_is_not_a_data_root(tmp_path):
    with pytest.raises(NoDataRoot, match="no data root at"):
        DataRoot(tmp_path / "absent").require()
    with pytest.raises(NoDataRoot, match="no event log at"):
        DataRoot(tmp_path).require()


def test_the_queue_splits_pending_running_and_history_newest_first(data):
    for record in (
        action("a-0000000000000001", "succeeded", 1.0),
        action("a-0000000000000002", "pending", 2.0),
        action("a-0000000000000003", "running", 3.0),
        action("a-0000000000000004", "pending", 4.0),
        action("a-0000000000000005", "approved", 5.0),
    ):
        atomic.write_json(data.action_file(record["id"]), record)
    (data.actions / "a-zzz.json").write_text("{}")  # not an action's file: not listed
    found = queue.read(data.path)
    assert [a.id[-1] for a in found.pending] == ["4", "2"]
    assert [a.id[-1] for a in found.running] == ["5", "3"]
    assert [a.id[-1] for a in found.history] == ["1"]
    assert found.pending[0].command_text == "systemctl start -- db.service"


def ended(action_id: str, created: float, state: str, kind: str, at: float) -> dict:
    record = action(action_id, state, created)
    event = {"kind": kind, "at": at, "by": "oskar", "reason": "", "approval_hash": ""}
    return record | {"history": [*record["history"], event]}


def test_history_lists_ended_actions_by_when_they_ended_newest_first(data):
    # recommended 03:40, rejected 03:42:36; recommended 03:41, rejected 03:43:50
    for record in (
        ended("a-0000000000000001", 1_000.0, "rejected", "reject", 1_156.0),
        ended("a-0000000000000002", 1_060.0, "rejected", "reject", 1_230.0),
        ended("a-0000000000000003", 1_120.0, "expired", "expire", 1_150.0),
    ):
        atomic.write_json(data.action_file(record["id"]), record)
    found = queue.read(data.path)
    assert [a.id[-1] for a in found.history] == ["2", "1", "3"]
    assert [a.id[-1] for a in queue.records(data.path)] == ["2", "1", "3"]


def test_an_action_is_read_only_by_a_well_formed_id(data):
    atomic.write_json(
        data.action_file("a-0000000000000001"), action("a-0000000000000001", "pending", 1.0)
    )
    assert queue.action(data.path, "a-0000000000000001").state == "pending"
    with pytest.raises(queue.BadActionId):
        queue.action(data.path, "../../etc/passwd")
    with pytest.raises(queue.NoSuchAction, match="no action 'a-0000000000000009'"):
        queue.action(data.path, "a-0000000000000009")


def test_an_actions_detail_carries_the_end_of_its_output(data):
    action_id = "a-0000000000000001"
    atomic.write_json(data.action_file(action_id), action(action_id, "succeeded", 1.0))
    assert queue.detail(data.path, action_id).output == ""
    data.action_log(action_id).write_text("x" * (queue.OUTPUT_SHOWN + 10) + "done\n")
    detail = queue.detail(data.path, action_id)
    assert detail.output.endswith("done\n") and len(detail.output) == queue.OUTPUT_SHOWN


def test_the_list_as_json_is_each_actions_file(data):
    record = action("a-0000000000000001", "pending", 1.0, drift={"key": "db/stopped", "seqs": [4]})
    atomic.write_json(data.action_file(record["id"]), record)
    [found] = queue.records(data.path)
    assert json.dumps(found.model_dump(mode="json"), sort_keys=True) == json.dumps(
        record, sort_keys=True
    )


def test_the_summary_says_whether_anything_was_observed(data):
    down = BusStatus(endpoint="tcp://127.0.0.1:9", reachable=False, error="no answer")
    empty = summary.build(data.path, down)
    assert not empty.observed and empty.counts["services"].healthy == 0
    atomic.write_json(data.world / "summary.json", {"seq": 7, "time": 1.0})
    atomic.write_json(
        data.world / "services.json",
        {"db": {"node": "vps", "health": "down", "reason": "inactive", "since": 5.0}},
    )
    seen = summary.build(data.path, down)
    assert seen.observed and seen.world_seq == 7 and seen.counts["services"].down == 1
    assert seen.services["db"].reason == "inactive"
    dumped = seen.model_dump(mode="json")["bus"]
    assert dumped == {"endpoint": "tcp://127.0.0.1:9", "reachable": False, "error": "no answer"}


def test_the_world_lists_nodes_and_services_with_their_checks(data):
    check = {
        "outcome": "fail",
        "detail": "inactive",
        "facts": {"state": "inactive"},
        "latency_ms": None,
        "observed_at": 1.0,
        "since": 2.0,
        "since_seq": 3,
        "last_seen": 4.0,
        "last_seq": 5,
    }
    atomic.write_json(data.world / "summary.json", {"seq": 5, "time": 4.0})
    atomic.write_json(
        data.world / "services.json",
        {
            "db": {
                "node": "vps",
                "health": "down",
                "reason": "r",
                "since": 2.0,
                "checks": {"state": check},
            }
        },
    )
    view = world.read(data.path)
    assert view.seq == 5 and [s.name for s in view.services] == ["db"]
    assert view.services[0].checks["state"].since_seq == 3


def test_services_carry_their_desired_state_to_the_summary_and_the_world(data):
    atomic.write_json(data.world / "summary.json", {"seq": 5, "time": 4.0})
    stopped = {"node": "vps", "desired": "stopped", "health": "healthy", "since": 2.0}
    atomic.write_json(
        data.world / "services.json",
        {
            "api": stopped | {"reason": "stopped, as desired"},
            "stray": {"node": "vps", "desired": None, "health": "down", "reason": "r"},
        },
    )
    down = BusStatus(endpoint="tcp://127.0.0.1:9", reachable=False, error="no answer")
    brief = summary.build(data.path, down)
    assert brief.services["api"].desired == "stopped" and brief.services["stray"].desired is None
    assert brief.counts["services"].healthy == 1
    assert {s.name: s.desired for s in world.read(data.path).services} == {
        "api": "stopped",
        "stray": None,
    }


def test_the_summary_counts_open_actions_and_says_where_the_supervisor_gave_up(data):
    down = BusStatus(endpoint="tcp://127.0.0.1:9", reachable=False, error="no answer")
    atomic.write_json(
        data.actions / "a-0000000000000001.json", action("a-0000000000000001", "pending", 1.0)
    )
    atomic.write_json(
        data.actions / "a-0000000000000002.json", action("a-0000000000000002", "running", 2.0)
    )
    gave_up = {"drift": "db/stopped", "service": "db", "kind": "stopped", "attempts": 3}
    data.drift.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json(
        data.drift, {"drifted": 1, "drifts": [], "recommended": [], "gave_up": [gave_up]}
    )
    found = summary.build(data.path, down)
    assert found.actions.pending == 1 and found.actions.running == 1
    assert found.drift.gave_up == ["db: 3 fixes had no effect"]
    public = summary.public(found)
    assert public["actions"] == {"pending": 1, "running": 1}
    assert public["drift"] == {"count": 1, "gave_up": 1}
    assert "db" not in str(public)


def test_only_the_read_model_of_the_world_reads_its_files():
    """``world/*.json``: the codec names them, the observer writes them, and one module of
    the read model reads them for everyone (the summary, ``homelab drift``, the pages)."""
    import re

    repo = Path(__file__).resolve().parents[2]
    allowed = {"actors/domain/world_codec.py", "actors/observer.py", "actors/readmodel/world.py"}
    touching = re.compile(r"nodes\.json|services\.json|summary\.json|\.world /|data\.world\b")
    found = {
        path.relative_to(repo).as_posix()
        for package in ("actors", "gui", "homelab")
        for path in (repo / package).rglob("*.py")
        if touching.search(path.read_text())
    }
    assert found == allowed
