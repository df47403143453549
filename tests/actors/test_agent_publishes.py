"""The agent on a stub bus: what it sends, in full or named in a heartbeat, and what it does
while the broker is away; no socket. (``tests/e2e/test_agent.py`` runs it as a process.)"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from actors import agent
from actors.domain import slices
from actors.domain.inventory_files import InventoryError
from actors.followed_slice import AlreadyFollowed, FollowedSlice
from bus.envelope import Message
from bus.stub import StubBus

INVENTORY = """\
nodes:
  n1:
    address: 127.0.0.1
    interval: 0.2
    checks: [{type: command, name: fine, argv: ["true"]}]
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "inventory.yml").write_text(INVENTORY)
    return tmp_path


def run_until(made: agent.Agent, done, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    asyncio.run(made.run(lambda: done() or time.monotonic() > deadline))
    assert done(), "the agent did not get there in time"


def test_a_result_goes_in_full_once_then_heartbeats_name_it_as_run_again_unchanged(repo):
    bus = StubBus()
    made = agent.Agent(
        "n1", bus.outbox("agent:n1"), agent.RepoInventory(repo, "n1"), rng=random.Random(1)
    )

    def named_unchanged() -> bool:
        return any(m.payload.get("unchanged") for m in bus.published("obs.node.n1.agent"))

    run_until(made, named_unchanged)
    [result] = bus.published("obs.node.n1.check")
    assert (result.source, result.payload["check"], result.payload["outcome"]) == (
        "agent:n1",
        "fine",
        "ok",
    )
    beat = next(m for m in bus.published("obs.node.n1.agent") if m.payload.get("unchanged"))
    assert beat.payload["unchanged"] == {"": ["fine"]}
    assert beat.payload["since"] >= result.seq  # each run began after the result was stored


def test_while_the_broker_is_away_it_keeps_what_it_may_and_drops_the_rest_saying_so_once(
    repo, caplog
):
    bus = StubBus()
    made = agent.Agent(
        "n1", bus.outbox("agent:n1", limit=2), agent.RepoInventory(repo, "n1"), rng=random.Random(1)
    )
    bus.away()
    later = time.monotonic() + 1.0  # heartbeats and results every 0.2 s: many dropped
    with caplog.at_level(logging.WARNING, "homelab.agent"):
        run_until(made, lambda: time.monotonic() > later)
    dropping = [r for r in caplog.records if "dropping observations" in r.getMessage()]
    assert len(dropping) == 1
    bus.back()
    assert len(bus.messages) == 2  # what it kept, stored once the broker is back


def test_a_node_that_is_not_in_the_inventory_is_refused_before_anything_is_sent(repo):
    bus = StubBus()
    with pytest.raises(InventoryError, match="node 'n2' is not in the inventory"):
        agent.RepoInventory(repo, "n2")
    assert bus.messages == []


# -- an agent with no repository: its node's slice of the desired state, from the bus ---------

SLICE = {
    "node": "n1",
    "revision": "rev1",
    "definition": {
        "address": "127.0.0.1",
        "interval": 0.2,
        "checks": [{"type": "command", "name": "fine", "argv": ["true"]}],
    },
    "services": {},
}


class Slices:
    """A subscription to ``desired.node.n1`` the test feeds; each ``feed()`` a new one."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Message] = asyncio.Queue()
        self.seq = 0

    def send(self, payload: dict, source: str = "supervisor") -> None:
        self.seq += 1
        self.queue.put_nowait(
            Message(self.seq, 1.0, "desired.node.n1", f"s{self.seq}", source, payload)
        )

    async def feed(self) -> AsyncIterator[Message]:
        while True:
            yield await self.queue.get()


def beats(bus: StubBus) -> list[dict]:
    return [m.payload for m in bus.published("obs.node.n1.agent")]


async def run_async_until(made: agent.Agent, done, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    await made.run(lambda: done() or time.monotonic() > deadline)
    assert done(), "the agent did not get there in time"


def test_with_no_slice_it_probes_nothing_and_asks_then_probes_by_the_supervisors_slice(tmp_path):
    bus = StubBus()
    followed = FollowedSlice(tmp_path / "desired-n1.json", "n1")
    slices_ = Slices()
    made = agent.Agent("n1", bus.outbox("agent:n1"), agent.SliceInventory(followed, slices_.feed))

    async def scenario() -> None:
        await run_async_until(made, lambda: bool(beats(bus)))
        assert beats(bus)[0]["desired"] == "" and beats(bus)[0]["checks"] == 0
        assert beats(bus)[0]["interval"] == agent.WAITING_BEAT
        slices_.send({**SLICE, "definition": {**SLICE["definition"], "checks": []}}, "emit")
        slices_.send(SLICE)
        await run_async_until(
            made,
            lambda: (
                bool(bus.published("obs.node.n1.check"))
                and beats(bus)[-1]["desired"] == slices.digest(SLICE)
            ),
        )

    asyncio.run(scenario())
    assert followed.inventory is not None and followed.inventory.nodes["n1"].interval == 0.2
    with pytest.raises(AlreadyFollowed, match="another agent of node n1 is already running"):
        FollowedSlice(tmp_path / "desired-n1.json", "n1")  # two at once on the same files
    followed.close()
    again = FollowedSlice(tmp_path / "desired-n1.json", "n1")  # after a restart, from disk
    assert again.digest == slices.digest(SLICE) and again.inventory == followed.inventory


def test_a_slice_from_anyone_but_the_supervisor_or_for_another_node_is_ignored_said_once(
    tmp_path, caplog
):
    followed = FollowedSlice(tmp_path / "desired-n1.json", "n1")
    forged = Message(1, 1.0, "desired.node.n1", "f", "agent:n1", SLICE)
    with caplog.at_level(logging.WARNING, "homelab.agent"):
        for n in range(3):
            assert not followed.take(forged._replace(seq=n + 1))
        assert not followed.take(
            Message(9, 1.0, "desired.node.n1", "w", "supervisor", {**SLICE, "node": "n2"})
        )
    assert followed.digest == "" and not (tmp_path / "desired-n1.json").exists()
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2 and "not the supervisor" in said[0] and "node does not match" in said[1]


def test_a_damaged_slice_file_is_ignored_and_the_agent_waits_for_the_supervisors(tmp_path, caplog):
    path = tmp_path / "desired-n1.json"
    path.write_text('{"seq": 3, "slice": {"node": "n1", "services": {"x": 1}}}')
    with caplog.at_level(logging.WARNING, "homelab.agent"):
        followed = FollowedSlice(path, "n1")
    assert followed.digest == "" and "ignored" in caplog.text


def test_a_slice_file_that_is_not_json_or_nested_too_deep_is_ignored_and_said(tmp_path, caplog):
    path = tmp_path / "desired-n1.json"
    for text in ("[" * 100_000, "\x00\xff not json"):
        path.write_text(text)
        with caplog.at_level(logging.WARNING, "homelab.agent"):
            followed = FollowedSlice(path, "n1")
        followed.close()
        assert followed.digest == "" and "ignored (not a kept slice)" in caplog.text
        caplog.clear()
