"""The supervisor's loop without sockets: what it publishes comes straight back to it, as
the bus would deliver it. A drift that is fixed and comes back gets a new action; an action
that has ended is never declared obsolete."""

from __future__ import annotations

import pytest

from actors.desired_state import Desired
from actors.domain.inventory import Inventory
from actors.domain.world import CheckState, NodeState, ServiceState, World
from actors.revision import Revision
from actors.supervisor import Supervisor
from bus.envelope import Message

INVENTORY = Inventory.model_validate(
    {
        "nodes": {"vps": {"address": "127.0.0.1"}},
        "services": {"db": {"node": "vps", "kind": "systemd", "unit": "postgresql.service"}},
    }
)


class Loop:
    """A supervisor whose messages are stamped and handed back to it in order."""

    def __init__(self, root):
        self.supervisor = Supervisor(root, root, "tcp://127.0.0.1:9")
        self.supervisor._publish = self._publish
        self.supervisor.desired = Desired(INVENTORY, Revision("rev1", "c1", "x"))
        self.supervisor.world = World(seq=10, time=100.0)
        self.supervisor.world.nodes["vps"] = NodeState(health="healthy", since=1.0)
        self.seq = 10
        self.published: list[Message] = []

    def _publish(self, topic: str, payload: dict, msg_id: str, source: str = "supervisor"):
        self.seq += 1
        message = Message(self.seq, 100.0 + self.seq, topic, msg_id, source, payload)
        self.published.append(message)
        if topic.startswith("action."):
            self.supervisor._on_action(message)

    def observe(self, state: str, outcome: str) -> None:
        """The db unit's state probe reports, beginning a new fact (a new since_seq)."""
        self.seq += 1
        check = CheckState(
            outcome, state, {"state": state}, None, 0.0, 0.0, self.seq, 0.0, self.seq
        )
        self.supervisor.world.services["db"] = ServiceState("vps", checks={"state": check})
        self.supervisor.world.seq = self.seq

    def topics(self, since: int = 0) -> list[tuple[str, str]]:
        return [(m.topic, m.payload.get("id", "")) for m in self.published[since:]]

    def approve(self, action_id: str) -> None:
        """An operator approves from the shell, with the hash they were shown."""
        record = self.supervisor.queue.records[action_id]
        self._publish(
            "action.request.approve",
            {"id": action_id, "by": "oskar", "hash": record.action.hash},
            "r1",
            "cli:oskar",
        )

    def fix(self, action_id: str) -> None:
        """Approved, and the executor runs it successfully."""
        self.approve(action_id)
        self._publish("action.running", {"id": action_id}, "r2", "executor")
        self._publish("action.succeeded", {"id": action_id}, "r3", "executor")


@pytest.fixture
def loop(tmp_path):
    made = Loop(tmp_path)
    yield made
    made.supervisor.outbox.close(0)


def recommended(loop: Loop, since: int = 0) -> list[str]:
    return [i for t, i in loop.topics(since) if t == "action.recommended"]


def test_a_drift_that_comes_back_after_its_fix_gets_a_new_action(loop):
    loop.observe("inactive", "fail")
    loop.supervisor.evaluate_and_publish()
    [first] = recommended(loop)
    loop.fix(first)
    assert loop.supervisor.queue.records[first].action.state == "succeeded"
    assert first not in loop.supervisor.open  # ended: out of the open set (and its file)

    loop.observe("active", "ok")
    loop.supervisor.evaluate_and_publish()
    loop.observe("inactive", "fail")  # it stops again, same revision
    mark = len(loop.published)
    loop.supervisor.evaluate_and_publish()
    [second] = recommended(loop, mark)
    assert second != first
    assert loop.supervisor.queue.records[second].action.state == "pending"


def test_an_action_that_ended_is_never_declared_obsolete(loop):
    loop.observe("inactive", "fail")
    loop.supervisor.evaluate_and_publish()
    [action_id] = recommended(loop)
    loop.fix(action_id)
    loop.observe("active", "ok")
    loop.supervisor.evaluate_and_publish()
    assert ("action.obsolete", action_id) not in loop.topics()


def test_a_running_action_is_not_taken_back_when_its_drift_goes(loop):
    loop.observe("inactive", "fail")
    loop.supervisor.evaluate_and_publish()
    [action_id] = recommended(loop)
    loop.approve(action_id)
    loop._publish("action.running", {"id": action_id}, "r2", "executor")
    loop.observe("active", "ok")  # the fix works before the executor reports its end
    loop.supervisor.evaluate_and_publish()
    assert ("action.obsolete", action_id) not in loop.topics()
    loop._publish("action.succeeded", {"id": action_id}, "r3", "executor")
    assert action_id not in loop.supervisor.open


def test_a_pending_action_whose_drift_is_gone_is_obsolete(loop):
    loop.observe("inactive", "fail")
    loop.supervisor.evaluate_and_publish()
    [action_id] = recommended(loop)
    loop.observe("active", "ok")
    loop.supervisor.evaluate_and_publish()
    assert ("action.obsolete", action_id) in loop.topics()
    assert loop.supervisor.queue.records[action_id].action.state == "obsolete"
