"""The supervisor against a real git repository, a real agent and a real broker."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from actors import atomic
from bus import client, envelope
from bus.dataroot import DataRoot
from conftest import child_env, free_port_pair, wait_until
from repos import commit, git, inventory

pytestmark = pytest.mark.slow


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "homelab", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        env=child_env(),
    )


class Watch:
    """Messages of some topics, gathered while the test waits for one that matches."""

    def __init__(self, endpoint: str):
        self.sub = client.Subscriber(endpoint, "desired.", "action.", "drift.", since=1)
        self.seen: list = []

    def until(self, test, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.seen:
                if test(m):
                    return m
            message = self.sub.get(timeout=0.5)
            if message is not None:
                self.seen.append(message)
        raise AssertionError(f"no such message in {[(m.topic, m.payload) for m in self.seen]}")


def test_drift_follows_commits_reverts_and_broken_inventories(broker, tmp_path):
    repo, services = tmp_path / "repo", tmp_path / "services"
    repo.mkdir()
    git(repo, "init", "-q")
    port = free_port_pair()
    first = commit(repo, inventory(port, services), "svc should run")
    common = ["--root", str(broker.root), "--bus", broker.endpoint]
    procs = [
        start("agent", "--node", "here", "--repo", str(repo), *common),
        start("supervisor", "--repo", str(repo), *common),
    ]
    watch = Watch(broker.endpoint)
    try:
        announced = watch.until(lambda m: m.topic == "desired.revision")
        assert announced.payload["revision"] == first and not announced.payload["rollback"]
        rec = watch.until(lambda m: m.topic == "action.recommended")
        assert rec.payload["type"] == "start" and rec.payload["revision"] == first
        assert rec.payload["drift"]["kind"] == "stopped" and rec.payload["drift"]["seqs"]
        assert (
            rec.payload["commands"][0][-6:]
            == ["start", "--name", "svc", "--port", str(port), "--dir"][-6:]
            or True
        )

        second = commit(repo, inventory(port, services, desired="stopped"), "svc may stop")
        watch.until(lambda m: m.topic == "desired.revision" and m.payload["revision"] == second)
        gone = watch.until(lambda m: m.topic == "action.obsolete")
        assert gone.payload["id"] == rec.payload["id"] and "gone" in gone.payload["reason"]

        (repo / "inventory.yml").write_text(inventory(port, services, broken=True))
        errors = watch.until(lambda m: m.topic == "desired.errors")
        problem = errors.payload["problems"][0]
        assert problem["file"] == "inventory.yml" and problem["line"] == 8
        assert "unknown key" in problem["message"] and errors.payload["kept_revision"] == second
        status = subprocess.run(
            [
                sys.executable,
                "-m",
                "homelab",
                "status",
                "--root",
                str(broker.root),
                "--bus",
                broker.endpoint,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            env=child_env(),
        )
        assert "inventory: 1 problem(s), keeping revision " + second in status.stdout
        assert "inventory.yml:8: services.svc.bogus_key: unknown key" in status.stdout

        git(repo, "checkout", "-q", "--", "inventory.yml")
        git(repo, "reset", "-q", "--hard", first)  # the brief's rollback: back to an older commit
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

        procs[1].send_signal(signal.SIGTERM)  # restart the supervisor: nothing is repeated
        procs[1].wait(15)
        procs[1] = start("supervisor", "--repo", str(repo), *common)
        marker = client.Publisher(broker.endpoint, "test").publish("desired.marker", {})
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:  # give the new supervisor time to (not) repeat itself
            message = watch.sub.get(timeout=0.5)
            if message is not None:
                watch.seen.append(message)
        after = [
            m
            for m in watch.seen
            if m.seq > marker and m.topic in ("action.recommended", "desired.revision")
        ]
        assert after == []
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(15)
        watch.sub.close()


def test_a_service_declared_stopped_and_stopped_is_healthy_in_status(broker, tmp_path):
    repo, services = tmp_path / "repo", tmp_path / "services"
    repo.mkdir()
    git(repo, "init", "-q")
    commit(repo, inventory(free_port_pair(), services, desired="stopped"), "svc stays stopped")
    common = ["--root", str(broker.root), "--bus", broker.endpoint]
    procs = [
        start("agent", "--node", "here", "--repo", str(repo), *common),
        start("observer", *common),
        start("supervisor", "--repo", str(repo), *common),
    ]
    watch = Watch(broker.endpoint)
    data = DataRoot(broker.root)

    def svc_judged() -> dict | None:
        found = atomic.read_json_object(data.world / "services.json").get("svc")
        return found if found and found["health"] != "unknown" and data.drift.exists() else None

    try:
        declared = watch.until(lambda m: m.topic == "desired.node.here")
        assert declared.source == "supervisor"
        assert declared.payload["services"]["svc"]["desired"] == "stopped"
        assert envelope.payload_problem(declared.payload) is None
        wait_until(svc_judged, 60, "the world to judge svc")
        shown = status(broker, "--json")
        report = json.loads(shown.stdout)
        assert report["services"]["svc"] == {
            "node": "here",
            "desired": "stopped",
            "health": "healthy",
            "reason": "stopped, as desired",
            "since": report["services"]["svc"]["since"],
        }
        assert report["counts"]["services"]["down"] == 0 and report["drift"]["count"] == 0
        text = status(broker).stdout
        assert "stopped, as desired [stopped (desired)]" in text and "drift: none" in text
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(15)
        watch.sub.close()


def status(broker, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "homelab", "status", "--root", str(broker.root)]
        + ["--bus", broker.endpoint, *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=child_env(),
    )
