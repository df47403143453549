"""The supervisor's own loop (``Supervisor.run``) on a stub bus: no socket, no process."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from actors.supervisor import Supervisor
from bus.stub import StubBus

INVENTORY = """\
nodes:
  vps: {address: 127.0.0.1}
services:
  db: {node: vps, kind: systemd, unit: postgresql.service}
"""


def run_until(supervisor: Supervisor, done, timeout: float = 20.0) -> None:
    """Run the supervisor in a thread until ``done()``."""
    deadline = time.monotonic() + timeout
    stop = threading.Event()
    thread = threading.Thread(target=supervisor.run, args=(stop.is_set,))
    thread.start()
    try:
        while not done() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(10)
    assert done(), "the supervisor did not get there in time"


def test_it_announces_the_repository_and_recommends_a_fix_for_a_stopped_service(tmp_path: Path):
    repo, root = tmp_path / "repo", tmp_path / "root"
    repo.mkdir()
    (repo / "inventory.yml").write_text(INVENTORY)
    bus = StubBus()
    bus.emit(
        "obs.node.vps.agent",
        {"node": "vps", "interval": 5.0, "checks": 1, "started_at": 0.0},
        source="agent:vps",
    )
    stopped = {"state": "inactive"}
    observation = {
        "node": "vps",
        "service": "db",
        "check": "state",
        "outcome": "fail",
        "detail": "inactive",
        "facts": stopped,
        "interval": 5.0,
        "observed_at": 1.0,
    }
    bus.emit("obs.node.vps.service.db", observation, source="agent:vps")
    supervisor = Supervisor(root, repo, bus.outbox("supervisor"), bus)
    run_until(supervisor, lambda: supervisor.queue.records)  # its own message came back
    [recommended] = bus.published("action.recommended")
    assert recommended.source == "supervisor"
    assert recommended.payload["commands"] == [["systemctl", "start", "--", "postgresql.service"]]
    assert bus.topics("desired.") == ["desired.revision", "desired.node.vps"]
    [report] = bus.published("drift.report")
    assert [d["key"] for d in report.payload["drifts"]] == ["db/stopped"]
    record = supervisor.queue.records[recommended.payload["id"]]
    assert record.action.state == "pending"
