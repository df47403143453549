"""Short journeys through the whole system, each on the plant as ``homelab up`` runs it."""

from __future__ import annotations

import contextlib
import json

import pytest

from actors.domain import evaluation
from actors.readmodel import drift
from plant import Plant, wait_until

pytestmark = pytest.mark.slow


def test_a_stopped_service_is_started_after_approval(tmp_path):
    with Plant(tmp_path) as plant:  # svc should run and does not
        pending = plant.watch.until(lambda m: m.topic == "action.pending")
        assert plant.homelab("actions", "approve", pending.payload["id"]).returncode == 0
        wait_until(plant.services["svc"].running, 30, "svc to run")
        plant.watch.until(lambda m: m.topic == "drift.report" and not m.payload["drifts"])


def test_homelab_drift_offline_says_what_the_supervisor_reported(tmp_path):
    """``homelab drift`` computes the report from the repository and the observer's files;
    the UI shows the supervisor's own. On the same world they say the same."""
    with Plant(tmp_path, run=("broker", "agent", "observer", "supervisor")) as plant:
        plant.watch.until(lambda m: m.topic == "action.pending")
        answers: list[tuple[int, dict, dict]] = []

        def agree() -> bool:
            offline = plant.homelab("drift", "--json", "--repo", str(plant.repo))
            shown = drift.last(plant.root)
            live = shown.model_dump(mode="json") if shown else {}
            answers.append((offline.returncode, json.loads(offline.stdout or "{}"), live))
            return offline.returncode == 1 and evaluation.settled(answers[-1][1]) == (
                evaluation.settled(live) if live else None
            )

        with contextlib.suppress(AssertionError):
            wait_until(agree, 30, "the same report offline and live")
        code, offline, shown = answers[-1]
        assert code == 1  # svc drifts
        assert evaluation.settled(offline) == evaluation.settled(shown)  # shows the difference
        assert [d["key"] for d in offline["drifts"]] == [d["key"] for d in shown["drifts"]]
        assert offline["recommended"][0]["id"] == shown["recommended"][0]["id"]
