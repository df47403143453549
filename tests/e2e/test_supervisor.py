"""The supervisor against a real git repository, a real agent and a real broker."""

from __future__ import annotations

import json

import pytest

from actors import atomic
from bus import envelope
from bus.dataroot import DataRoot
from plant import Plant, wait_until

pytestmark = pytest.mark.slow


def test_drift_follows_commits_reverts_and_broken_inventories(tmp_path):
    with Plant(tmp_path, run=("broker", "agent", "supervisor")) as plant:
        watch, inventory = plant.watch, plant.inventory
        first = inventory.revision()
        announced = watch.until(lambda m: m.topic == "desired.revision")
        assert announced.payload["revision"] == first and not announced.payload["rollback"]
        rec = watch.until(lambda m: m.topic == "action.recommended")
        assert rec.payload["type"] == "start" and rec.payload["revision"] == first
        assert rec.payload["drift"]["kind"] == "stopped" and rec.payload["drift"]["seqs"]
        assert rec.payload["commands"][0] == plant.services["svc"].argv("start")

        second = inventory.commit("svc may stop", svc={"desired": "stopped"})
        watch.until(lambda m: m.topic == "desired.revision" and m.payload["revision"] == second)
        gone = watch.until(lambda m: m.topic == "action.obsolete")
        assert gone.payload["id"] == rec.payload["id"] and "gone" in gone.payload["reason"]

        broken = inventory.write(svc={"bogus_key": 1}).splitlines()
        errors = watch.until(lambda m: m.topic == "desired.errors")
        problem = errors.payload["problems"][0]
        assert problem["file"] == "inventory.yml"
        assert problem["line"] == broken.index("    bogus_key: 1") + 1 == 8
        assert "unknown key" in problem["message"] and errors.payload["kept_revision"] == second
        status = plant.homelab("status")
        assert "inventory: 1 problem(s), keeping revision " + second in status.stdout
        assert "inventory.yml:8: services.svc.bogus_key: unknown key" in status.stdout

        inventory.git("checkout", "-q", "--", "inventory.yml")
        inventory.git("reset", "-q", "--hard", first)  # the brief's rollback: an older commit
        back = watch.until(
            lambda m: (
                m.topic == "desired.revision"
                and m.payload["revision"] == first
                and m.payload["rollback"]
            )
        )
        assert back.payload["previous"] == second
        again = watch.until(
            lambda m: m.topic == "action.recommended" and m.payload["id"] != rec.payload["id"]
        )
        assert again.payload["revision"] == first
        recommendations = [m for m in watch.seen if m.topic == "action.recommended"]
        assert len(recommendations) == 2  # no recommendation while the inventory was broken

        plant.stop("supervisor")  # restart the supervisor: nothing is repeated
        plant.start("supervisor")
        marker = plant.publish("desired.marker", {}, source="supervisor")
        watch.gather(8)  # give the new supervisor time to (not) repeat itself
        after = [
            m
            for m in watch.seen
            if m.seq > marker and m.topic in ("action.recommended", "desired.revision")
        ]
        assert after == []


def test_a_service_declared_stopped_and_stopped_is_healthy_in_status(tmp_path):
    stopped = {"svc": {"desired": "stopped"}}
    with Plant(
        tmp_path, run=("broker", "agent", "observer", "supervisor"), inventory=stopped
    ) as plant:
        data = DataRoot(plant.root)

        def svc_judged() -> dict | None:
            found = atomic.read_json_object(data.world / "services.json").get("svc")
            return found if found and found["health"] != "unknown" and data.drift.exists() else None

        declared = plant.watch.until(lambda m: m.topic == "desired.node.here")
        assert declared.source == "supervisor"
        assert declared.payload["services"]["svc"]["desired"] == "stopped"
        assert envelope.payload_problem(declared.payload) is None
        wait_until(svc_judged, 60, "the world to judge svc")
        report = json.loads(plant.homelab("status", "--json").stdout)
        assert report["services"]["svc"] == {
            "node": "here",
            "desired": "stopped",
            "health": "healthy",
            "reason": "stopped, as desired",
            "since": report["services"]["svc"]["since"],
        }
        assert report["counts"]["services"]["down"] == 0 and report["drift"]["count"] == 0
        text = plant.homelab("status").stdout
        assert "stopped, as desired [stopped (desired)]" in text and "drift: none" in text
