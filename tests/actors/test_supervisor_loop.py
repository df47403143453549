"""The supervisor's loop (``supervisor_loop.Loop``: no sockets). A drift that is fixed and
comes back gets a new action; an action that has ended is never declared obsolete."""

from __future__ import annotations

import pytest

from actors.domain import slices
from actors.domain.inventory import Inventory
from actors.domain.world import World, apply
from bus.envelope import Message
from supervisor_loop import INVENTORY, Loop


@pytest.fixture
def loop(tmp_path):
    made = Loop(tmp_path)
    yield made
    made.close()


def recommended(loop: Loop, since: int = 0) -> list[str]:
    return loop.recommended(since)


def test_a_drift_that_comes_back_after_its_fix_gets_a_new_action(loop):
    loop.observe("inactive", "fail")
    loop.evaluate()
    [first] = recommended(loop)
    loop.fix(first)
    assert loop.supervisor.queue.records[first].action.state == "succeeded"
    assert first not in loop.supervisor.open  # ended: out of the open set (and its file)

    loop.observe("active", "ok")
    loop.evaluate()
    loop.observe("inactive", "fail")  # it stops again, same revision
    mark = len(loop.published)
    loop.evaluate()
    [second] = recommended(loop, mark)
    assert second != first
    assert loop.supervisor.queue.records[second].action.state == "pending"


def test_an_action_that_ended_is_never_declared_obsolete(loop):
    loop.observe("inactive", "fail")
    loop.evaluate()
    [action_id] = recommended(loop)
    loop.fix(action_id)
    loop.observe("active", "ok")
    loop.evaluate()
    assert ("action.obsolete", action_id) not in loop.topics()


def test_a_running_action_is_not_taken_back_when_its_drift_goes(loop):
    loop.observe("inactive", "fail")
    loop.evaluate()
    [action_id] = recommended(loop)
    loop.approve(action_id)
    loop.feed("action.running", {"id": action_id}, "executor")
    loop.observe("active", "ok")  # the fix works before the executor reports its end
    loop.evaluate()
    assert ("action.obsolete", action_id) not in loop.topics()
    loop.feed("action.succeeded", {"id": action_id}, "executor")
    assert action_id not in loop.supervisor.open


def test_a_pending_action_whose_drift_is_gone_is_obsolete(loop):
    loop.observe("inactive", "fail")
    loop.evaluate()
    [action_id] = recommended(loop)
    loop.observe("active", "ok")
    loop.evaluate()
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
    loop.evaluate()
    [action_id] = recommended(loop)
    loop.reject(action_id)
    assert loop.supervisor.queue.records[action_id].action.state == "rejected"
    return action_id


def test_a_rejection_holds_across_a_commit_that_changes_only_another_service(loop):
    rejected_fix(loop)
    loop.commit(with_services(cache=OTHER_SERVICE), "rev2")
    mark = len(loop.published)
    loop.evaluate()
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
    loop.restart()  # from its files and the log; the same drift, still there
    loop.commit(with_services(cache=OTHER_SERVICE), "rev2")
    mark = len(loop.published)
    loop.evaluate()
    assert recommended(loop, mark) == []


def test_a_commit_that_changes_the_service_brings_its_fix_back(loop):
    first = rejected_fix(loop)
    loop.commit(with_services(db={"description": "the main database"}), "rev2")
    mark = len(loop.published)
    loop.evaluate()
    [again] = recommended(loop, mark)
    assert again != first and loop.supervisor.queue.records[again].action.state == "pending"


def test_a_commit_that_changes_the_services_node_brings_its_fix_back(loop):
    rejected_fix(loop)
    data = INVENTORY.model_dump(mode="json", exclude_defaults=True)
    data["nodes"]["vps"]["interval"] = 10
    loop.commit(Inventory.model_validate(data), "rev2")
    mark = len(loop.published)
    loop.evaluate()
    assert len(recommended(loop, mark)) == 1


def test_the_drift_ending_and_coming_back_brings_its_fix_back(loop):
    rejected_fix(loop)
    loop.observe("active", "ok")
    loop.evaluate()
    loop.observe("inactive", "fail")  # a new occurrence of the same drift
    mark = len(loop.published)
    loop.evaluate()
    assert len(recommended(loop, mark)) == 1


def slices_sent(loop: Loop, since: int = 0) -> list[Message]:
    return [m for m in loop.published[since:] if m.topic.startswith("desired.node.")]


def test_each_nodes_desired_state_is_sent_once_and_not_again_after_a_restart(loop, tmp_path):
    loop.publish_slices()
    [sent] = slices_sent(loop)
    assert sent.topic == "desired.node.vps" and sent.payload["revision"] == "rev1"
    assert sent.payload["services"]["db"]["unit"] == "postgresql.service"
    loop.publish_slices()
    assert len(slices_sent(loop)) == 1  # unchanged: not again
    loop.restart()  # from its files
    loop.publish_slices()
    assert len(slices_sent(loop)) == 1


def test_a_service_declared_stopped_and_stopped_is_healthy_in_the_world_it_folds(loop):
    loop.commit(with_services(db={"desired": "stopped"}), "rev2")
    loop.publish_slices()
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
        *[m._replace(seq=3 + n) for n, m in enumerate(slices_sent(loop))],
    ]
    for message in feed:
        apply(world, message)
    assert (world.services["db"].health, world.services["db"].reason) == (
        "healthy",
        "stopped, as desired",
    )


def remote_heartbeat(loop: Loop, holds: str, started_at: float = 0.0, source="agent:vps"):
    beat = {"node": "vps", "interval": 2.0, "checks": 0, "started_at": started_at}
    return loop.feed("obs.node.vps.agent", {**beat, "desired": holds}, source)


def answer(loop: Loop) -> int:
    mark = len(loop.published)
    loop.supervisor.answer_agents()
    loop.pump()
    return mark


def test_a_remote_agent_that_holds_no_slice_is_sent_its_nodes_at_each_heartbeat_until_it_holds_it(
    loop,
):
    remote_heartbeat(loop, holds="")
    [sent] = slices_sent(loop, answer(loop))
    assert sent.topic == "desired.node.vps" and sent.source == "supervisor"
    assert sent.payload["services"]["db"]["unit"] == "postgresql.service"
    assert slices_sent(loop, answer(loop)) == []  # once per heartbeat, not per evaluation
    remote_heartbeat(loop, holds="")  # it missed the answer: its next heartbeat asks again
    [again] = slices_sent(loop, answer(loop))
    assert again.id != sent.id and again.payload == sent.payload
    remote_heartbeat(loop, holds=slices.digest(sent.payload))  # it holds it now
    assert slices_sent(loop, answer(loop)) == []


def test_a_remote_agent_holding_an_old_slice_gets_the_new_one_and_a_local_agent_nothing(loop):
    loop.heartbeat()  # a local agent reads the repository: its heartbeat says no slice
    assert slices_sent(loop, answer(loop)) == []
    loop.publish_slices()
    [old] = slices_sent(loop)
    loop.commit(with_services(db={"desired": "stopped"}), "rev2")
    remote_heartbeat(loop, holds=slices.digest(old.payload))  # it was away for rev2
    [new] = slices_sent(loop, answer(loop))
    assert new.payload["services"]["db"]["desired"] == "stopped"


def test_a_heartbeat_from_anyone_but_the_nodes_agent_is_not_answered(loop):
    remote_heartbeat(loop, holds="", source="emit")
    assert slices_sent(loop, answer(loop)) == []
