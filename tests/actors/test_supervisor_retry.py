"""How each end of a fix counts: one that ran without effect is an attempt (the next comes
after a back-off), one that never ran is not (the next comes at once); either way the next
fix is a new action (a final action cannot be approved again)."""

from __future__ import annotations

import pytest

from actors.supervisor import Supervisor
from bus.envelope import Message
from bus.stub import StubBus

RECOMMENDED = {
    "id": "a-1",
    "type": "start",
    "target": "unit:x.service",
    "commands": [["systemctl", "start", "--", "x.service"]],
    "revision": "r",
    "drift": {"key": "x/stopped", "seqs": [1, 1]},
    "definition": "d1",
    "approval": "auto",
}


@pytest.fixture
def supervisor(tmp_path):
    bus = StubBus()
    made = Supervisor(tmp_path, tmp_path, bus.outbox("supervisor"), bus)
    made.take(Message(1, 10.0, "action.recommended", "m1", "supervisor", RECOMMENDED))
    return made


@pytest.mark.parametrize(
    ("end", "counts"),
    [
        ("action.succeeded", 1),  # and the drift stayed, or no fix would be looked for
        ("action.failed", 1),
        ("action.timed_out", 1),
        ("action.interrupted", 1),
        ("action.expired", 0),
    ],
)
def test_each_end_of_a_fix_is_a_round_and_those_that_ran_count(supervisor, end, counts):
    if end == "action.expired":  # the queue's own decision, back from the log
        supervisor.take(Message(2, 20.0, end, "m2", "supervisor", {"id": "a-1"}))
    else:
        supervisor.take(Message(2, 15.0, "action.running", "m2", "executor", {"id": "a-1"}))
        supervisor.take(Message(3, 20.0, end, "m3", "executor", {"id": "a-1"}))
    tried = supervisor.tried["x/stopped"]
    assert (len(tried.ended), tried.count, tried.last.at) == (1, counts, 20.0)
    assert "a-1" not in supervisor.open


def test_a_forged_end_counts_for_nothing(supervisor):
    supervisor.take(Message(2, 15.0, "action.running", "m2", "executor", {"id": "a-1"}))
    supervisor.take(Message(3, 20.0, "action.failed", "m3", "emit", {"id": "a-1"}))
    supervisor.take(Message(4, 21.0, "action.expired", "m4", "emit", {"id": "a-1"}))
    assert "x/stopped" not in supervisor.tried
