"""The dashboard's fold: what it counts changes with the message that says so."""

from __future__ import annotations

from pathlib import Path

from actors.readmodel.live.dashboard import DashboardFold
from actors.readmodel.live.queue import QueueFold
from actors.readmodel.live.world import WorldFold
from actors.readmodel.models import DriftBrief, ServiceView, WorldView
from bus.envelope import Message

NOW = 1_790_000_000.0


def message(seq: int, topic: str, source: str, payload: dict) -> Message:
    return Message(seq, NOW + seq, topic, f"m{seq}", source, payload)


def fold(tmp_path: Path) -> DashboardFold:
    db = ServiceView(
        name="db", node="n1", health="healthy", reason="ok", since=NOW, since_seq=1,
        last_seen=NOW, checks={},
    )  # fmt: skip
    world = WorldFold(WorldView(seq=2, time=NOW, nodes=[], services=[db]))
    drift = DriftBrief(count=0, items=[], recommended=0)
    return DashboardFold(world, QueueFold(tmp_path), drift, {"revision": "r1", "problems": []})


def test_counts_follow_the_observers_changes(tmp_path: Path):
    shown = fold(tmp_path)
    assert (shown.counts("services").healthy, shown.counts("services").down) == (1, 0)
    change = {"name": "db", "health": "down", "reason": "exited", "since": NOW, "cause_seq": 3}
    assert shown.apply(message(4, "world.service.db", "observer", change))
    assert (shown.counts("services").healthy, shown.counts("services").down) == (0, 1)
    assert shown.counts("nodes").model_dump() == dict.fromkeys(
        ("healthy", "degraded", "down", "unknown"), 0
    )


def test_the_drift_is_the_last_report_and_the_revision_the_last_announced(tmp_path: Path):
    shown = fold(tmp_path)
    report = {"drifted": 1, "drifts": [{"service": "db", "kind": "not_running", "managed": True}]}
    assert shown.apply(message(5, "drift.report", "supervisor", report))
    assert (shown.drift.count, shown.drift.items) == (1, ["db: not_running"])
    problem = {"file": "inventory.yaml", "line": 3, "message": "bad"}
    assert shown.apply(message(6, "desired.errors", "supervisor", {"problems": [problem]}))
    assert shown.desired == {"revision": "r1", "problems": [problem]}  # the last good one kept
    announced = {"revision": "r2", "rollback": True, "previous": "r1"}
    assert shown.apply(message(7, "desired.revision", "supervisor", announced))
    assert (shown.desired, shown.last_revision) == ({"revision": "r2", "problems": []}, announced)
    assert not shown.apply(message(8, "test.other", "emit", {}))
