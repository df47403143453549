"""No drift left waiting for ever, with real processes (broker, agent, observer, supervisor,
executor): a fix that succeeds without effect until the supervisor gives up, killed -9 just
after it says so; a fix made obsolete by an agent that paused, across a kill -9."""

from __future__ import annotations

import json
import signal
import sys
import textwrap
from pathlib import Path

import pytest
from test_supervisor import Watch, git, start

from actors import atomic
from bus import client, filelog
from bus.dataroot import DataRoot
from conftest import free_port_pair, wait_until

pytestmark = pytest.mark.slow


def write_inventory(repo: Path, services: Path, policy: str, start: list[str] | None) -> None:
    """svc should run; its start command is ``start`` (default: the one that starts it)."""
    port = free_port_pair()
    svc = [sys.executable, "-m", "homelab.demo.service"]
    args = ["--name", "svc", "--port", str(port), "--dir", str(services)]
    (repo / "inventory.yml").write_text(
        textwrap.dedent(f"""\
            nodes:
              here: {{address: 127.0.0.1, interval: 0.5}}
            services:
              svc:
                node: here
                kind: command
                policy: {policy}
                start: {json.dumps(start or [*svc, "start", *args])}
                stop: {json.dumps([*svc, "stop", *args])}
                status: {json.dumps([*svc, "status", *args])}
        """)
    )
    git(repo, "init", "-q")
    git(repo, "add", "inventory.yml")
    git(repo, "commit", "-q", "-m", "svc")


def on_disk(root: Path, topic: str) -> list:
    """The messages of ``topic`` in the event log (the broker appends before it publishes)."""
    return list(filelog.FileLog(root / "events").messages(prefixes=[topic]))


def restarted(procs: dict, name: str, *args: str) -> None:
    procs[name].kill()  # kill -9
    procs[name].wait(10)
    procs[name] = start(*args)


def settled_again(broker, watch: Watch):
    """A drift report from the supervisor after a marker: it has caught up and judged."""
    marker = client.Publisher(broker.endpoint, "test").publish("desired.marker", {})
    return watch.until(lambda m: m.seq > marker and m.topic == "drift.report", 60)


def test_fixes_without_effect_end_in_one_give_up_that_a_kill_9_does_not_repeat(broker, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    write_inventory(repo, tmp_path / "services", "auto", [sys.executable, "-c", "pass"])
    common = ["--root", str(broker.root), "--bus", broker.endpoint]
    supervisor = ("supervisor", "--repo", str(repo), "--give-up-after", "1", *common)
    procs = {
        "agent": start("agent", "--node", "here", "--repo", str(repo), *common),
        "observer": start("observer", *common),
        "supervisor": start(*supervisor),
        "executor": start("executor", "--repo", str(repo), *common),
    }
    watch = Watch(broker.endpoint)
    try:
        # the start exits 0 and svc stays down (the Loop tests count more attempts, with the
        # back-off between them; one keeps this test short)
        first = watch.until(lambda m: m.topic == "action.succeeded", 60).payload["id"]
        gave_up = watch.until(lambda m: m.topic == "drift.gave_up", 60)
        restarted(procs, "supervisor", *supervisor)  # the worst moment: just after it said so
        assert gave_up.payload["actions"] == [first]
        assert gave_up.payload["attempts"] == 1 and gave_up.payload["service"] == "svc"
        assert gave_up.payload["why"].startswith(f"1 fix had no effect ({first} succeeded")
        report = settled_again(broker, watch)
        assert [g["actions"] for g in report.payload["gave_up"]] == [[first]]
        assert report.payload["recommended"] == []
        # Once more, when the observer's checkpoint (where it resumes) is past it all.
        checkpoint = DataRoot(broker.root).checkpoint
        wait_until(lambda: atomic.read_json_object(checkpoint).get("seq", 0) > gave_up.seq, 30)
        restarted(procs, "supervisor", *supervisor)
        assert settled_again(broker, watch).payload["gave_up"][0]["attempts"] == 1
        assert len(on_disk(broker.root, "drift.gave_up")) == 1
        assert len(on_disk(broker.root, "action.recommended")) == 1
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            proc.wait(15)
        watch.sub.close()


def test_an_agent_that_pauses_while_a_fix_is_pending_does_not_strand_the_drift(broker, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    write_inventory(repo, tmp_path / "services", "approve", None)
    common = ["--root", str(broker.root), "--bus", broker.endpoint]
    supervisor = ("supervisor", "--repo", str(repo), *common)
    procs = {
        "agent": start("agent", "--node", "here", "--repo", str(repo), *common),
        "observer": start("observer", *common),
        "supervisor": start(*supervisor),
    }
    watch = Watch(broker.endpoint)
    try:
        first = watch.until(lambda m: m.topic == "action.pending", 60).payload["id"]
        procs["agent"].send_signal(signal.SIGSTOP)  # its node turns unknown: no drift judged
        gone = watch.until(lambda m: m.topic == "action.obsolete", 30)
        assert gone.payload["id"] == first and gone.payload["reason"] == "the drift is gone"
        restarted(procs, "supervisor", *supervisor)
        procs["agent"].send_signal(signal.SIGCONT)  # back, and svc is still down
        again = watch.until(lambda m: m.topic == "action.pending" and m.payload["id"] != first)
        path = DataRoot(broker.root).action_file(again.payload["id"])
        # the supervisor publishes, then writes the action's file
        record = wait_until(lambda: atomic.read_json_object(path), 10, "the action's file")
        assert (
            record["attempt"] == 0 and record["previous"] == f"{first} obsolete: the drift is gone"
        )
    finally:
        procs["agent"].send_signal(signal.SIGCONT)
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            proc.wait(15)
        watch.sub.close()
