"""From drift to an approved action, from the shell: the queue hosted by the supervisor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plant import Plant, wait_until

pytestmark = pytest.mark.slow


def test_a_recommendation_is_pending_and_is_approved_once_from_the_shell(tmp_path: Path):
    with Plant(tmp_path, run=("broker", "agent", "supervisor")) as plant:
        watch, homelab, root = plant.watch, plant.homelab, plant.root
        pending = watch.until(lambda m: m.topic == "action.pending")
        action_id = pending.payload["id"]
        wait_until(
            lambda: (root / "actions" / f"{action_id}.json").exists(), 10, "the action's file"
        )
        listed = homelab("actions", "list")
        assert action_id in listed.stdout and "pending" in listed.stdout

        approved = homelab("actions", "approve", action_id, "--by", "tester")
        assert approved.returncode == 0, approved.stderr
        assert approved.stdout.strip() == f"{action_id} approved by tester"
        message = watch.until(lambda m: m.topic == "action.approved")
        assert message.payload["by"] == "tester" and message.payload["id"] == action_id

        wait_until(
            lambda: (
                json.loads((root / "actions" / f"{action_id}.json").read_text())["state"]
                == "approved"
            ),
            10,
            "the file",
        )
        again = homelab("actions", "approve", action_id, "--by", "other")
        assert again.returncode == 1
        assert f"{action_id} is already approved by tester; nothing done" in again.stderr
        unknown = homelab("actions", "reject", "a-0000000000000000", "--reason", "x")
        assert unknown.returncode == 1 and "no action 'a-0000000000000000'" in unknown.stderr
        not_an_id = homelab("actions", "reject", "a-nope", "--reason", "x")
        assert not_an_id.returncode == 2 and "is not an action id" in not_an_id.stderr
        shown = homelab("actions", "show", action_id)
        assert "approve" in shown.stdout and "tester" in shown.stdout


def test_the_loop_closes_stopped_drift_approved_run_healthy_resolved(plant: Plant):
    watch, root = plant.watch, plant.root
    action_id = watch.until(lambda m: m.topic == "action.pending").payload["id"]
    wait_until(lambda: (root / "actions" / f"{action_id}.json").exists(), 10, "the action's file")
    approved = plant.homelab("actions", "approve", action_id, "--by", "tester")
    assert approved.returncode == 0, approved.stderr
    done = watch.until(lambda m: m.topic in ("action.succeeded", "action.failed"), 60)
    assert done.topic == "action.succeeded", done.payload
    report = watch.until(
        lambda m: m.topic == "drift.report" and m.seq > done.seq and m.payload["drifted"] == 0,
        60,
    )
    assert report.payload["drifts"] == []

    def healthy() -> bool:
        services_file = root / "world" / "services.json"
        return (
            services_file.exists()
            and json.loads(services_file.read_text()).get("svc", {}).get("health") == "healthy"
        )

    wait_until(healthy, 30, "the world to show svc healthy")
    record = json.loads((root / "actions" / f"{action_id}.json").read_text())
    assert record["state"] == "succeeded" and record["approved_by"] == "tester"
    log = (root / "logs" / "actions" / f"{action_id}.log").read_text()
    assert "svc started" in log


def test_a_stopped_service_is_started_after_approval(plant: Plant):
    action_id = plant.watch.until(lambda m: m.topic == "action.pending").payload["id"]
    assert not plant.services["svc"].running()
    approved = plant.homelab("actions", "approve", action_id, "--by", "tester")
    assert approved.returncode == 0, approved.stderr
    ended = plant.watch.until(
        lambda m: m.topic in ("action.succeeded", "action.failed") and m.payload["id"] == action_id,
        60,
    )
    assert ended.topic == "action.succeeded" and plant.services["svc"].running()
    plant.watch.until(
        lambda m: m.topic == "drift.report" and m.seq > ended.seq and m.payload["drifts"] == [],
        60,
    )
