"""An attempt that ends without a fix counts as a failure, so the fix comes back later as a
new action (a final action cannot be approved again)."""

from __future__ import annotations

import pytest

from actors.supervisor import Supervisor
from bus.envelope import Message

RECOMMENDED = {
    "id": "a-1",
    "type": "start",
    "target": "unit:x.service",
    "commands": [["systemctl", "start", "--", "x.service"]],
    "revision": "r",
    "drift": {"key": "x/stopped"},
    "approval": "auto",
}


@pytest.mark.parametrize(
    "end", ["action.failed", "action.timed_out", "action.interrupted", "action.expired"]
)
def test_an_attempt_that_ends_without_a_fix_counts_as_a_failure(tmp_path, end):
    supervisor = Supervisor(tmp_path, tmp_path, "tcp://127.0.0.1:9")
    supervisor._publish = lambda *args: None  # no bus here: only the bookkeeping is tested
    supervisor._on_action(Message(1, 10.0, "action.recommended", "m1", "supervisor", RECOMMENDED))
    if end == "action.expired":  # the queue's own decision, back from the bus
        supervisor._on_action(Message(2, 20.0, end, "m2", "supervisor", {"id": "a-1"}))
    else:
        supervisor._on_action(Message(2, 15.0, "action.running", "m2", "executor", {"id": "a-1"}))
        supervisor._on_action(Message(3, 20.0, end, "m3", "executor", {"id": "a-1"}))
    assert supervisor.failures["x/stopped"].count == 1
    assert supervisor.failures["x/stopped"].last_at == 20.0
    supervisor.outbox.close(0)


def test_a_forged_end_counts_for_nothing(tmp_path):
    supervisor = Supervisor(tmp_path, tmp_path, "tcp://127.0.0.1:9")
    supervisor._publish = lambda *args: None
    supervisor._on_action(Message(1, 10.0, "action.recommended", "m1", "supervisor", RECOMMENDED))
    supervisor._on_action(Message(2, 15.0, "action.running", "m2", "executor", {"id": "a-1"}))
    supervisor._on_action(Message(3, 20.0, "action.failed", "m3", "emit", {"id": "a-1"}))
    assert "x/stopped" not in supervisor.failures
    supervisor.outbox.close(0)
