"""From drift to an approved action, from the shell: the queue hosted by the supervisor."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_supervisor import Watch, commit, git, inventory, start

from conftest import child_env, free_port_pair, wait_until

pytestmark = pytest.mark.slow


def homelab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "homelab", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
    )


def test_a_recommendation_is_pending_and_is_approved_once_from_the_shell(broker, tmp_path: Path):
    repo, services = tmp_path / "repo", tmp_path / "services"
    repo.mkdir()
    git(repo, "init", "-q")
    commit(repo, inventory(free_port_pair(), services), "svc should run")
    common = ["--root", str(broker.root), "--bus", broker.endpoint]
    procs = [
        start("agent", "--node", "here", "--repo", str(repo), *common),
        start("supervisor", "--repo", str(repo), *common),
    ]
    watch = Watch(broker.endpoint)
    try:
        pending = watch.until(lambda m: m.topic == "action.pending")
        action_id = pending.payload["id"]
        wait_until(
            lambda: (broker.root / "actions" / f"{action_id}.json").exists(),
            10,
            "the action's file",
        )
        listed = homelab("actions", "list", "--root", str(broker.root))
        assert action_id in listed.stdout and "pending" in listed.stdout

        approved = homelab("actions", "approve", action_id, "--by", "tester", *common)
        assert approved.returncode == 0, approved.stderr
        assert approved.stdout.strip() == f"{action_id} approved by tester"
        message = watch.until(lambda m: m.topic == "action.approved")
        assert message.payload["by"] == "tester" and message.payload["id"] == action_id

        wait_until(
            lambda: (
                json.loads((broker.root / "actions" / f"{action_id}.json").read_text())["state"]
                == "approved"
            ),
            10,
            "the file",
        )
        again = homelab("actions", "approve", action_id, "--by", "other", *common)
        assert again.returncode == 1
        assert f"{action_id} is already approved by tester; nothing done" in again.stderr
        unknown = homelab("actions", "reject", "a-0000000000000000", "--reason", "x", *common)
        assert unknown.returncode == 1 and "no action 'a-0000000000000000'" in unknown.stderr
        not_an_id = homelab("actions", "reject", "a-nope", "--reason", "x", *common)
        assert not_an_id.returncode == 2 and "is not an action id" in not_an_id.stderr
        shown = homelab("actions", "show", action_id, "--root", str(broker.root))
        assert "approve" in shown.stdout and "tester" in shown.stdout
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(15)
        watch.sub.close()


def test_the_loop_closes_stopped_drift_approved_run_healthy_resolved(broker, tmp_path: Path):
    repo, services = tmp_path / "repo", tmp_path / "services"
    repo.mkdir()
    git(repo, "init", "-q")
    port = free_port_pair()
    commit(repo, inventory(port, services), "svc should run")
    common = ["--root", str(broker.root), "--bus", broker.endpoint]
    procs = [
        start("agent", "--node", "here", "--repo", str(repo), *common),
        start("observer", *common),
        start("supervisor", "--repo", str(repo), *common),
        start("executor", "--repo", str(repo), *common),
    ]
    watch = Watch(broker.endpoint)
    try:
        action_id = watch.until(lambda m: m.topic == "action.pending").payload["id"]
        wait_until(
            lambda: (broker.root / "actions" / f"{action_id}.json").exists(),
            10,
            "the action's file",
        )
        approved = homelab("actions", "approve", action_id, "--by", "tester", *common)
        assert approved.returncode == 0, approved.stderr
        done = watch.until(lambda m: m.topic in ("action.succeeded", "action.failed"), 60)
        assert done.topic == "action.succeeded", done.payload
        report = watch.until(
            lambda m: m.topic == "drift.report" and m.seq > done.seq and m.payload["drifted"] == 0,
            60,
        )
        assert report.payload["drifts"] == []

        def healthy() -> bool:
            services_file = broker.root / "world" / "services.json"
            return (
                services_file.exists()
                and json.loads(services_file.read_text()).get("svc", {}).get("health") == "healthy"
            )

        wait_until(healthy, 30, "the world to show svc healthy")
        record = json.loads((broker.root / "actions" / f"{action_id}.json").read_text())
        assert record["state"] == "succeeded" and record["approved_by"] == "tester"
        log = (broker.root / "logs" / "actions" / f"{action_id}.log").read_text()
        assert "svc started" in log
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(30)
        watch.sub.close()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "homelab.demo.service",
                "stop",
                "--name",
                "svc",
                "--port",
                str(port),
                "--dir",
                str(services),
            ],
            timeout=30,
        )
