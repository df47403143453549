"""The Drift page's fold: the last report and the inventory's problems, from the messages."""

from __future__ import annotations

from actors.readmodel.live.drift import DriftFold
from bus.envelope import Message

REPORT = {"revision": "r2", "drifts": [], "recommended": [], "held": [], "drifted": 0}
REPORT |= {"world_seq": 5, "unobserved": []}


def message(seq: int, topic: str, payload: dict) -> Message:
    return Message(seq, 1_790_000_000.0 + seq, topic, f"m{seq}", "supervisor", payload)


def test_each_report_replaces_the_last_and_a_loaded_revision_clears_the_problems():
    fold = DriftFold(None, [])
    assert fold.apply(message(1, "drift.report", REPORT))
    assert fold.report is not None and fold.report.revision == "r2"
    assert not fold.apply(message(2, "drift.report", {"not": "a report"}))
    assert fold.report.revision == "r2"
    problem = {"file": "inventory.yaml", "line": 1, "message": "bad"}
    assert fold.apply(message(3, "desired.errors", {"problems": [problem]}))
    assert fold.problems == [problem]
    assert fold.apply(message(4, "desired.revision", {"revision": "r3"}))
    assert fold.problems == []
    assert not fold.apply(message(5, "drift.other", {}))
