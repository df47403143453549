"""No drift is left waiting for ever: a fix that ended without effect, or never got to run,
is followed by another (``supervisor_loop.Loop``: the real supervisor, no sockets); after
``give_up_after`` attempts without effect the supervisor says it gives up; a run that never
reports is interrupted by the queue."""

from __future__ import annotations

import pytest
import yaml

from actors import world_checkpoint
from actors.domain.plan import BACKOFF
from actors.readmodel import drift
from supervisor_loop import INVENTORY, Loop

KEY = "db/stopped"


@pytest.fixture
def loop(tmp_path):
    made = Loop(tmp_path, approval_ttl=20.0)
    yield made
    made.close()


def first_fix(loop: Loop) -> str:
    loop.observe("inactive", "fail")
    [action_id] = loop.recommended(loop.evaluate())
    return action_id


def still_down_after(loop: Loop, action_id: str) -> str:
    """The fix ran (exit 0) and the service is still down: the next one, after the wait."""
    loop.approve(action_id)
    loop.run(action_id)
    loop.evaluate()  # no word from the service since it ended: nothing to judge yet
    assert (
        loop.held()[KEY] == f"{action_id} succeeded; waiting for db to be observed again after it"
    )
    loop.observe("inactive", "fail")  # the same fact, observed after the end
    loop.evaluate()
    assert "next try in" in loop.held()[KEY]
    loop.wait(BACKOFF * 8)
    loop.observe("inactive", "fail")
    [again] = loop.recommended(loop.evaluate())
    return again


def test_a_fix_that_succeeded_without_effect_is_followed_by_another(loop):
    first = first_fix(loop)
    second = still_down_after(loop, first)
    assert second != first and loop.state(second) == "pending"
    details = loop.supervisor.queue.records[second].details
    assert details["attempt"] == 1
    assert details["previous"] == f"{first} succeeded, but the drift stayed"


def given_up(loop: Loop) -> list[str]:
    """Three fixes without effect (two succeeded, one failed): the ids, in order."""
    fixes = [first_fix(loop)]
    fixes.append(still_down_after(loop, fixes[-1]))
    fixes.append(still_down_after(loop, fixes[-1]))
    loop.approve(fixes[-1])
    loop.run(fixes[-1], "failed", detail="exited 1")
    loop.observe("inactive", "fail")
    mark = loop.evaluate()
    assert loop.recommended(mark) == []
    return fixes


def test_after_three_fixes_without_effect_it_gives_up_once_and_says_so(loop):
    fixes = given_up(loop)
    assert loop.held()[KEY].startswith("3 fixes had no effect")
    [gave_up] = [m for m in loop.published if m.topic == "drift.gave_up"]
    assert gave_up.source == "supervisor"
    assert {k: gave_up.payload[k] for k in ("service", "kind", "key", "attempts", "actions")} == {
        "service": "db",
        "kind": "stopped",
        "key": KEY,
        "attempts": 3,
        "actions": fixes,
    }
    assert loop.report()["gave_up"] == [
        {"drift": KEY, "service": "db", "kind": "stopped", "attempts": 3, "actions": fixes}
    ]
    loop.wait(BACKOFF * 100)
    loop.observe("inactive", "fail")
    loop.evaluate()
    loop.restart()
    loop.observe("inactive", "fail")
    assert loop.recommended(loop.evaluate()) == []  # still given up, after a restart too
    assert len([m for m in loop.published if m.topic == "drift.gave_up"]) == 1
    loop.observe("active", "ok")  # someone mends it; it stops again: a new occurrence
    loop.evaluate()
    loop.observe("inactive", "fail")
    assert len(loop.recommended(loop.evaluate())) == 1


def test_an_agent_blip_while_a_fix_is_pending_brings_the_fix_back(loop):
    first = first_fix(loop)
    loop.wait(10.0)  # the agent paused: its node turns unknown, the drift is not judged
    loop.evaluate()
    assert loop.state(first) == "obsolete"
    loop.restart()
    loop.observe("inactive", "fail")  # the agent is back, the service still down
    [again] = loop.recommended(loop.evaluate())
    assert again != first and loop.state(again) == "pending"
    assert loop.supervisor.queue.records[again].details["attempt"] == 0


def test_an_expired_offer_is_offered_again_at_once_and_is_not_a_failure(loop):
    first = first_fix(loop)
    loop.wait(25.0)
    loop.observe("inactive", "fail")
    loop.check_deadlines()
    assert loop.state(first) == "expired"
    loop.observe("inactive", "fail")
    [again] = loop.recommended(loop.evaluate())
    details = loop.supervisor.queue.records[again].details
    assert details["attempt"] == 0 and not details["escalated"]
    assert details["previous"] == f"{first} expired after 20 s without a decision"


def test_an_approval_does_not_expire_because_the_clock_jumped_forward_nor_after_a_restart(
    loop,
):
    first = first_fix(loop)
    loop.approve(first)
    loop.clock_step(86400.0)  # a day ahead: the TTL is 20 s
    loop.heartbeat()
    loop.check_deadlines()
    assert loop.state(first) == "approved"
    loop.restart()  # the queue rebuilt from the log, bus.clock included
    loop.check_deadlines()
    assert loop.state(first) == "approved"
    loop.wait(20.0)  # and it does expire once 20 s passed on the bus's clock
    loop.check_deadlines()
    assert loop.state(first) == "expired"


def test_a_clock_set_forward_does_not_cut_the_back_off_short(loop):
    first = first_fix(loop)
    loop.approve(first)
    loop.run(first)
    loop.observe("inactive", "fail")
    loop.evaluate()
    assert "next try in 5" in loop.held()[KEY]  # about a minute
    loop.clock_step(3600.0)
    loop.observe("inactive", "fail")
    assert loop.recommended(loop.evaluate()) == []
    assert "next try in 5" in loop.held()[KEY]


def test_a_run_that_never_reports_is_interrupted_by_the_queue_and_stays_so(loop):
    first = first_fix(loop)
    loop.approve(first)
    loop.feed("action.running", {"id": first, "timeout": 300.0}, "executor")
    loop.clock.now += 300.0 + 59.0
    loop.check_deadlines()
    assert loop.state(first) == "running"
    loop.clock.now += 2.0
    mark = len(loop.published)
    loop.check_deadlines()
    [interrupted] = [m for m in loop.published[mark:] if m.topic == "action.interrupted"]
    assert interrupted.source == "supervisor" and interrupted.payload["id"] == first
    assert "no word from the executor" in interrupted.payload["reason"]
    assert loop.state(first) == "interrupted"
    # the executor was only stuck: its late report cannot reopen it
    loop.feed("action.succeeded", {"id": first}, "executor")
    assert loop.state(first) == "interrupted"
    loop.restart()  # rebuilt from the log: interrupted still
    assert loop.state(first) == "interrupted"


def test_a_running_action_gets_its_whole_time_again_after_a_restart(loop):
    first = first_fix(loop)
    loop.approve(first)
    loop.feed("action.running", {"id": first, "timeout": 30.0}, "executor")
    loop.check_deadlines()
    loop.clock.now += 80.0
    loop.restart()
    loop.check_deadlines()
    assert loop.state(first) == "running"  # its deadline is counted from the restart
    loop.clock.now += 91.0
    loop.check_deadlines()
    assert loop.state(first) == "interrupted"


def test_homelab_drift_says_what_the_supervisor_says(loop, tmp_path):
    fixes = given_up(loop)
    world_checkpoint.save(tmp_path / world_checkpoint.PATH, loop.supervisor.world)
    inventory = INVENTORY.model_dump(mode="json", exclude_defaults=True)
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    shown = drift.read(tmp_path, tmp_path)  # from the files, as `homelab drift` reads them
    assert [h.why for h in shown.held] == [loop.held()[KEY]]
    assert [(g.drift, g.attempts, g.actions) for g in shown.gave_up] == [(KEY, 3, fixes)]


def test_the_give_up_setting_is_the_supervisors(tmp_path):
    loop = Loop(tmp_path, give_up_after=1)
    try:
        first = first_fix(loop)
        loop.approve(first)
        loop.run(first, "failed", detail="exited 1")
        loop.observe("inactive", "fail")
        assert loop.recommended(loop.evaluate()) == []
        assert loop.held()[KEY].startswith("1 fix had no effect")
        world_checkpoint.save(tmp_path / world_checkpoint.PATH, loop.supervisor.world)
        inventory = INVENTORY.model_dump(mode="json", exclude_defaults=True)
        (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
        assert drift.read(tmp_path, tmp_path).gave_up[0].actions == [first]
    finally:
        loop.close()


def same_again(loop: Loop, since: int) -> None:
    """The agent's heartbeat naming db's state probe as run again unchanged (its result is
    not sent again), each run begun after ``since`` was stored."""
    beat = {
        "node": "vps",
        "interval": 2.0,
        "checks": 1,
        "started_at": 0.0,
        "unchanged": {"db": ["state"]},
        "since": since,
    }
    loop.feed("obs.node.vps.agent", beat, "agent:vps")


def test_a_state_probe_named_unchanged_by_a_heartbeat_after_the_fix_ended_counts(loop):
    first = first_fix(loop)
    loop.approve(first)
    loop.run(first)  # it ends at loop.seq
    ended = loop.seq
    same_again(loop, since=ended - 1)  # runs begun before it ended: not evidence of it
    loop.evaluate()
    assert loop.held()[KEY] == f"{first} succeeded; waiting for db to be observed again after it"
    same_again(loop, since=loop.seq)  # begun after the heartbeat before, itself after the end
    loop.evaluate()
    assert "next try in" in loop.held()[KEY]  # judged: the fix had no effect
    loop.wait(BACKOFF * 8)
    same_again(loop, since=loop.seq)
    [again] = loop.recommended(loop.evaluate())
    assert loop.supervisor.queue.records[again].details["attempt"] == 1
