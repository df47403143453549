"""The observer on a stub bus whose log is a real event log under the data root: what it
publishes, the files it writes, when it checkpoints, and the rebuild the operator asks for
by deleting the checkpoint; no socket. (``tests/e2e/test_observer.py`` runs it as a process,
killed in the middle too.)"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors import observer, world_checkpoint
from bus.dataroot import DataRoot
from bus.filelog import FileLog
from bus.stub import StubBus
from plant import wait_until

BEAT = {"node": "n1", "interval": 60.0, "checks": 1, "started_at": 0.0}
DOWN = {
    "node": "n1",
    "service": "db",
    "check": "state",
    "outcome": "fail",
    "detail": "inactive",
    "facts": {"state": "inactive"},
    "interval": 60.0,
    "observed_at": 1.0,
}


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[StubBus]:
    log, _ = FileLog.open_for_append(DataRoot(tmp_path).events)
    yield StubBus(log)
    log.close()


@pytest.fixture
def made(tmp_path: Path, bus: StubBus) -> observer.Observer:
    out = bus.outbox(observer.SOURCE)
    return observer.Observer(tmp_path, out, bus, checkpoint_every=0.05, write_every=0.05)


@contextlib.contextmanager
def running(made: observer.Observer) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=made.run, args=(stop.is_set,))
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def checkpoint_seq(root: Path) -> int:
    loaded = world_checkpoint.load(DataRoot(root).checkpoint)
    return loaded[0].seq if loaded else -1


def services(root: Path) -> dict:
    path = DataRoot(root).world / "services.json"
    return json.loads(path.read_bytes()) if path.exists() else {}


def test_it_publishes_each_change_of_health_once_and_writes_the_world_and_checkpoint(
    tmp_path, bus, made
):
    with running(made):
        bus.emit("obs.node.n1.agent", BEAT, source="agent:n1")
        down = bus.emit("obs.node.n1.service.db", DOWN, source="agent:n1")
        again = bus.emit("obs.node.n1.service.db", DOWN, source="agent:n1")  # no change
        wait_until(lambda: checkpoint_seq(tmp_path) == again.seq, 10, "the checkpoint")
    changes = bus.published("world.")
    assert [(m.topic, m.payload["health"], m.source) for m in changes] == [
        ("world.node.n1", "healthy", "observer"),
        ("world.service.db", "down", "observer"),
    ]
    assert changes[1].id == f"world-{down.seq}-service-db"
    assert changes[1].payload["node"] == "n1" and "node" not in changes[0].payload
    assert services(tmp_path)["db"]["health"] == "down"


def test_the_checkpoint_waits_until_the_changes_before_it_are_on_the_bus(tmp_path, bus, made):
    with running(made):
        beat = bus.emit("obs.node.n1.agent", BEAT, source="agent:n1")
        wait_until(lambda: checkpoint_seq(tmp_path) >= beat.seq, 10, "the first checkpoint")
        bus.away()  # the observer's changes wait in its outbox
        down = bus.emit("obs.node.n1.service.db", DOWN, source="agent:n1")
        wait_until(lambda: services(tmp_path).get("db"), 10, "the files (they do not wait)")
        assert checkpoint_seq(tmp_path) < down.seq
        bus.back()
        wait_until(lambda: checkpoint_seq(tmp_path) == down.seq, 10, "the checkpoint")
    assert bus.topics("world.") == ["world.node.n1", "world.service.db"]


def test_a_deleted_checkpoint_is_rebuilt_in_place_and_nothing_is_published_again(
    tmp_path, bus, made, monkeypatch
):
    monkeypatch.setattr(observer, "LOOK_EVERY", 0.02)
    checkpoint = DataRoot(tmp_path).checkpoint
    with running(made):
        bus.emit("obs.node.n1.agent", BEAT, source="agent:n1")
        down = bus.emit("obs.node.n1.service.db", DOWN, source="agent:n1")
        wait_until(lambda: checkpoint_seq(tmp_path) >= down.seq, 10, "the checkpoint")
        before = services(tmp_path)
        checkpoint.unlink()
        wait_until(checkpoint.exists, 10, "the rebuilt world's checkpoint")
    assert services(tmp_path) == before
    assert checkpoint_seq(tmp_path) == down.seq
    assert len(bus.published("world.")) == 2 and bus.resent == []
