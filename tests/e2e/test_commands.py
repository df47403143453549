"""The one command path, from the shell and from an event loop (the UI's): a real broker,
agent and supervisor (and executor); the decision recorded with the operator's name, a
second one told who came first, an approval the executor refuses told as such."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from pathlib import Path

import pytest
from test_supervisor import Watch, commit, git, inventory, start

from actors import commands
from actors.domain import actions
from actors.readmodel import queue
from bus import client
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


def test_two_operators_approving_at_once_the_second_is_told_who_came_first(broker, tmp_path):
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
    told: dict[str, str] = {}

    def approve(by: str, channel: str) -> None:
        try:
            if channel == "ui":
                said = asyncio.run(
                    commands.decide_async(
                        broker.root, broker.endpoint, action_id, "approve", by, channel="ui"
                    )
                )
            else:
                said = commands.decide(broker.root, broker.endpoint, action_id, "approve", by)
        except commands.Refused as err:
            said = f"refused: {err}"
        told[by] = said

    try:
        action_id = watch.until(lambda m: m.topic == "action.pending").payload["id"]
        wait_until(lambda: broker.root.joinpath("actions", f"{action_id}.json").exists(), 10)
        procs[1].send_signal(signal.SIGSTOP)  # both requests arrive before it answers either
        both = [
            threading.Thread(target=approve, args=("alice", "cli")),
            threading.Thread(target=approve, args=("bob", "ui")),
        ]
        for thread in both:
            thread.start()
        watch.until(
            lambda m: len([s for s in watch.seen if s.topic == "action.request.approve"]) == 2
        )
        procs[1].send_signal(signal.SIGCONT)
        for thread in both:
            thread.join(30)
        first, second = (
            actions.operator(m.source) for m in watch.seen if m.topic == "action.request.approve"
        )
        assert told[first] == f"{action_id} approved by {first}"
        assert told[second] == f"refused: {action_id} is already approved by {first}; nothing done"
        watch.until(lambda m: m.topic == "action.refused")  # the answers are both in
        approvals = [m for m in watch.seen if m.topic == "action.approved"]
        assert [m.payload["by"] for m in approvals] == [first]
    finally:
        procs[1].send_signal(signal.SIGCONT)
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(15)
        watch.sub.close()


def test_an_approval_the_executor_refuses_is_told_as_such_and_recorded(broker, tmp_path):
    repo, services = tmp_path / "repo", tmp_path / "services"
    repo.mkdir()
    git(repo, "init", "-q")
    commit(repo, inventory(free_port_pair(), services), "svc should run")
    common = ["--root", str(broker.root), "--bus", broker.endpoint]
    procs = [
        start("agent", "--node", "here", "--repo", str(repo), *common),
        start("supervisor", "--repo", str(repo), *common),
        start("executor", "--repo", str(repo), *common),
    ]
    watch = Watch(broker.endpoint)
    try:
        action_id = watch.until(lambda m: m.topic == "action.pending").payload["id"]
        wait_until(lambda: broker.root.joinpath("actions", f"{action_id}.json").exists(), 10)
        shown = queue.action(broker.root, action_id).hash
        changed_a_moment_ago(repo / "inventory.yml")
        with pytest.raises(commands.NotRun) as told:
            commands.decide(
                broker.root, broker.endpoint, action_id, "approve", "oskar", shown_hash=shown
            )
        assert str(told.value) == (
            f"{action_id} approved by oskar, but the executor refused it: "
            "the commands are not what the driver builds for this service now"
        )
        wait_until(lambda: queue.action(broker.root, action_id).state == "refused", 10)
        procs[1].send_signal(signal.SIGTERM)  # rebuilt from the log: refused still
        procs[1].wait(15)
        mark = watch.until(lambda m: m.topic == "action.refused").seq
        procs[1] = start("supervisor", "--repo", str(repo), *common)
        marker = client.Publisher(broker.endpoint, "test").publish("desired.marker", {})
        watch.until(lambda m: m.seq > marker and m.topic == "drift.report")
        record = queue.action(broker.root, action_id)
        assert record.state == "refused" and record.approved_by == "oskar"
        assert record.decision.by == "executor"
        assert not [m for m in watch.seen if m.seq > mark and m.payload.get("id") == action_id]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(15)
        watch.sub.close()


def changed_a_moment_ago(path: Path) -> None:
    """The start command changes (same size, same mtime): the executor reads it, while the
    supervisor has not noticed yet (it looks at sizes and times every 2 s)."""
    before = path.stat()
    text = path.read_text()
    assert text.count('"start", "--name"') == 1
    path.write_text(text.replace('"start", "--name"', '"stard", "--name"'))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
