"""The one command path from an event loop (the UI's): a real broker, agent and supervisor;
the decision recorded with the UI operator's name, and a second one refused."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from test_supervisor import Watch, commit, git, inventory, start

from actors import commands
from actors.readmodel import queue
from conftest import free_port_pair, wait_until

pytestmark = pytest.mark.slow


def test_an_approval_from_the_event_loop_is_the_queues_answer(broker, tmp_path: Path):
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
        action_id = watch.until(lambda m: m.topic == "action.pending").payload["id"]
        wait_until(lambda: broker.root.joinpath("actions", f"{action_id}.json").exists(), 10)
        shown = queue.action(broker.root, action_id).hash

        async def decide(**kwargs):
            return await commands.decide_async(
                broker.root, broker.endpoint, action_id, "approve", "oskar", **kwargs
            )

        with pytest.raises(commands.Refused, match="changed since it was shown"):
            asyncio.run(decide(shown_hash="0" * 64))
        assert asyncio.run(decide(shown_hash=shown)) == f"{action_id} approved by oskar"
        approved = watch.until(lambda m: m.topic == "action.approved")
        assert approved.payload["by"] == "oskar"
        request = watch.until(lambda m: m.topic == "action.request.approve")
        assert request.source == "ui:oskar"
        wait_until(lambda: queue.action(broker.root, action_id).state == "approved", 10)
        with pytest.raises(commands.Refused, match="already approved by oskar"):
            asyncio.run(decide())
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(15)
        watch.sub.close()
