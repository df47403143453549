"""No drift left waiting for ever, with real processes (broker, agent, observer, supervisor,
executor): a fix that succeeds without effect until the supervisor gives up, killed -9 just
after it says so; a fix made obsolete by an agent that paused, across a kill -9."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from actors import atomic
from bus import filelog
from bus.dataroot import DataRoot
from plant import Plant, wait_until

pytestmark = pytest.mark.slow


def on_disk(root: Path, topic: str) -> list:
    """The messages of ``topic`` in the event log (the broker appends before it publishes)."""
    return list(filelog.FileLog(root / "events").messages(prefixes=[topic]))


def settled_again(plant: Plant):
    """A drift report from the supervisor after a marker: it has caught up and judged."""
    marker = plant.publish("desired.marker", {}, source="supervisor")
    return plant.watch.until(lambda m: m.seq > marker and m.topic == "drift.report", 60)


def test_fixes_without_effect_end_in_one_give_up_that_a_kill_9_does_not_repeat(tmp_path):
    # the start exits 0 and svc stays down (the Loop tests count more attempts, with the
    # back-off between them; one keeps this test short)
    without_effect = {"svc": {"policy": "auto", "start": [sys.executable, "-c", "pass"]}}
    env = {"HOMELAB_GIVE_UP_AFTER": "1"}
    with Plant(tmp_path, inventory=without_effect, env=env) as plant:
        watch, root = plant.watch, plant.root
        first = watch.until(lambda m: m.topic == "action.succeeded", 60).payload["id"]
        gave_up = watch.until(lambda m: m.topic == "drift.gave_up", 60)
        plant.restart("supervisor")  # the worst moment: just after it said so
        assert gave_up.payload["actions"] == [first]
        assert gave_up.payload["attempts"] == 1 and gave_up.payload["service"] == "svc"
        assert gave_up.payload["why"].startswith(f"1 fix had no effect ({first} succeeded")
        report = settled_again(plant)
        assert [g["actions"] for g in report.payload["gave_up"]] == [[first]]
        assert report.payload["recommended"] == []
        # Once more, when the observer's checkpoint (where it resumes) is past it all.
        checkpoint = DataRoot(root).checkpoint
        wait_until(lambda: atomic.read_json_object(checkpoint).get("seq", 0) > gave_up.seq, 30)
        plant.restart("supervisor")
        assert settled_again(plant).payload["gave_up"][0]["attempts"] == 1
        assert len(on_disk(root, "drift.gave_up")) == 1
        assert len(on_disk(root, "action.recommended")) == 1


def test_an_agent_that_pauses_while_a_fix_is_pending_does_not_strand_the_drift(tmp_path):
    needs_approval = {"svc": {"policy": "approve"}}
    run = ("broker", "agent", "observer", "supervisor")
    with Plant(tmp_path, run=run, inventory=needs_approval) as plant:
        watch = plant.watch
        first = watch.until(lambda m: m.topic == "action.pending", 60).payload["id"]
        plant.pause("agent")  # its node turns unknown: no drift judged
        gone = watch.until(lambda m: m.topic == "action.obsolete", 30)
        assert gone.payload["id"] == first and gone.payload["reason"] == "the drift is gone"
        plant.restart("supervisor")
        plant.resume("agent")  # back, and svc is still down
        again = watch.until(lambda m: m.topic == "action.pending" and m.payload["id"] != first)
        path = DataRoot(plant.root).action_file(again.payload["id"])
        # the supervisor publishes, then writes the action's file
        record = wait_until(lambda: atomic.read_json_object(path), 10, "the action's file")
        assert (
            record["attempt"] == 0 and record["previous"] == f"{first} obsolete: the drift is gone"
        )
