"""The agent on a stub bus: what it sends, in full or named in a heartbeat, and what it does
while the broker is away; no socket. (``tests/e2e/test_agent.py`` runs it as a process.)"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from pathlib import Path

import pytest

from actors import agent
from actors.domain.inventory_files import InventoryError
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
    made = agent.Agent(repo, "n1", bus.outbox("agent:n1"), rng=random.Random(1))

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
    made = agent.Agent(repo, "n1", bus.outbox("agent:n1", limit=2), rng=random.Random(1))
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
        agent.Agent(repo, "n2", bus.outbox("agent:n2"))
    assert bus.messages == []
