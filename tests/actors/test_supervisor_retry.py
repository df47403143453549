"""An attempt that ends without a fix counts as a failure, so the fix comes back later as a
new action (a final action cannot be approved again)."""

from __future__ import annotations

import pytest

from actors.supervisor import Supervisor
from bus.envelope import Message


@pytest.mark.parametrize(
    "end", ["action.failed", "action.timed_out", "action.interrupted", "action.expired"]
)
def test_an_attempt_that_ends_without_a_fix_counts_as_a_failure(tmp_path, end):
    supervisor = Supervisor(tmp_path, tmp_path, "tcp://127.0.0.1:9")
    supervisor._publish = lambda *args: None  # no bus here: only the bookkeeping is tested
    recommended = {
        "id": "a-1",
        "type": "start",
        "target": "unit:x.service",
        "commands": [["systemctl", "start", "--", "x.service"]],
        "revision": "r",
        "drift": {"key": "x/stopped"},
        "approval": "auto",
    }
    supervisor._on_action(Message(1, 10.0, "action.recommended", "m1", "supervisor", recommended))
    supervisor._on_action(Message(2, 20.0, end, "m2", "executor", {"id": "a-1"}))
    assert supervisor.failures["x/stopped"].count == 1
    assert supervisor.failures["x/stopped"].last_at == 20.0
    supervisor.publisher.close()
