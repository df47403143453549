"""The supervisor's loop without sockets: what it publishes comes straight back to it, as
the bus would deliver it. A drift that is fixed and comes back gets a new action; an action
that has ended is never declared obsolete."""

from __future__ import annotations

import pytest

from actors.desired_state import Desired
from actors.domain.inventory import Inventory
from actors.domain.world import CheckState, NodeState, ServiceState, World, apply
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

    def reject(self, action_id: str, reason: str = "not during backups") -> None:
        self._publish(
            "action.request.reject",
            {"id": action_id, "by": "oskar", "reason": reason},
            f"reject-{action_id}",
            "cli:oskar",
        )

    def commit(self, inventory: Inventory, revision: str) -> None:
        """A new commit of the repository, as ``watch_repository`` takes it."""
        self.supervisor.desired = Desired(inventory, Revision(revision, revision, revision))
        self.supervisor.epoch += 1

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


def with_services(**changes: dict) -> Inventory:
    """The inventory with services added or changed."""
    data = INVENTORY.model_dump(mode="json", exclude_defaults=True)
    for name, entry in changes.items():
        data["services"][name] = data["services"].get(name, {}) | entry
    return Inventory.model_validate(data)


OTHER_SERVICE = {"node": "vps", "kind": "systemd", "unit": "redis.service"}


def rejected_fix(loop: Loop) -> str:
    loop.observe("inactive", "fail")
    loop.supervisor.evaluate_and_publish()
    [action_id] = recommended(loop)
    loop.reject(action_id)
    assert loop.supervisor.queue.records[action_id].action.state == "rejected"
    return action_id


def test_a_rejection_holds_across_a_commit_that_changes_only_another_service(loop):
    rejected_fix(loop)
    loop.commit(with_services(cache=OTHER_SERVICE), "rev2")
    mark = len(loop.published)
    loop.supervisor.evaluate_and_publish()
    assert recommended(loop, mark) == []
    [report] = [m.payload for m in loop.published[mark:] if m.topic == "drift.report"]
    assert report["held"] == [
        {
            "drift": "db/stopped",
            "why": "rejected by oskar: not during backups; held until the drift or the "
            "service's desired state changes",
        }
    ]


def test_a_rejection_holds_across_a_restart_of_the_supervisor(loop, tmp_path):
    rejected_fix(loop)
    before = loop.supervisor
    before.outbox.close(0)
    loop.supervisor = Supervisor(tmp_path, tmp_path, "tcp://127.0.0.1:9")  # from its files
    loop.supervisor._publish = loop._publish
    loop.supervisor.world = before.world  # the same drift, still there
    loop.commit(with_services(cache=OTHER_SERVICE), "rev2")
    mark = len(loop.published)
    loop.supervisor.evaluate_and_publish()
    assert recommended(loop, mark) == []


def test_a_commit_that_changes_the_service_brings_its_fix_back(loop):
    first = rejected_fix(loop)
    loop.commit(with_services(db={"description": "the main database"}), "rev2")
    mark = len(loop.published)
    loop.supervisor.evaluate_and_publish()
    [again] = recommended(loop, mark)
    assert again != first and loop.supervisor.queue.records[again].action.state == "pending"


def test_a_commit_that_changes_the_services_node_brings_its_fix_back(loop):
    rejected_fix(loop)
    data = INVENTORY.model_dump(mode="json", exclude_defaults=True)
    data["nodes"]["vps"]["interval"] = 10
    loop.commit(Inventory.model_validate(data), "rev2")
    mark = len(loop.published)
    loop.supervisor.evaluate_and_publish()
    assert len(recommended(loop, mark)) == 1


def test_the_drift_ending_and_coming_back_brings_its_fix_back(loop):
    rejected_fix(loop)
    loop.observe("active", "ok")
    loop.supervisor.evaluate_and_publish()
    loop.observe("inactive", "fail")  # a new occurrence of the same drift
    mark = len(loop.published)
    loop.supervisor.evaluate_and_publish()
    assert len(recommended(loop, mark)) == 1


def slices_sent(loop: Loop, since: int = 0) -> list[Message]:
    return [m for m in loop.published[since:] if m.topic.startswith("desired.node.")]


def test_each_nodes_desired_state_is_sent_once_and_not_again_after_a_restart(loop, tmp_path):
    loop.supervisor.publish_slices()
    [sent] = slices_sent(loop)
    assert sent.topic == "desired.node.vps" and sent.payload["revision"] == "rev1"
    assert sent.payload["services"]["db"]["unit"] == "postgresql.service"
    loop.supervisor.publish_slices()
    assert len(slices_sent(loop)) == 1  # unchanged: not again
    loop.supervisor.outbox.close(0)
    loop.supervisor = Supervisor(tmp_path, tmp_path, "tcp://127.0.0.1:9")  # from its files
    loop.supervisor._publish = loop._publish
    loop.supervisor.desired = Desired(INVENTORY, Revision("rev1", "c1", "x"))
    loop.supervisor.publish_slices()
    assert len(slices_sent(loop)) == 1


def test_a_service_declared_stopped_and_stopped_is_healthy_in_the_world_it_folds(loop):
    loop.commit(with_services(db={"desired": "stopped"}), "rev2")
    loop.supervisor.publish_slices()
    world = World()
    beat = {"node": "vps", "interval": 3600.0, "checks": 0, "started_at": 0.0}
    stopped = {
        "node": "vps",
        "service": "db",
        "check": "state",
        "outcome": "fail",
        "detail": "inactive",
        "facts": {"state": "inactive"},
        "interval": 5.0,
        "observed_at": 1.0,
    }
    feed = [
        Message(1, 1.0, "obs.node.vps.agent", "b", "agent:vps", beat),
        Message(2, 1.0, "obs.node.vps.service.db", "o", "agent:vps", stopped),
        *slices_sent(loop),
    ]
    for message in feed:
        apply(world, message)
    assert (world.services["db"].health, world.services["db"].reason) == (
        "healthy",
        "stopped, as desired",
    )
