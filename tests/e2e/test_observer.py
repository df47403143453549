"""The observer as a real process against a real broker: live folding, published changes,
kill -9 in the middle of checkpoints, and the rebuild when the checkpoint is deleted.

The reference for "the right world" is always the same fold run here, in the test, over the
event log on disk up to the sequence number the observer reports in ``world/summary.json``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from actors import atomic, world_checkpoint, world_snapshots
from actors.domain.world import Change, World
from actors.domain.world_codec import files
from bus import client, retention
from bus.filelog import FileLog
from plant import REPO, Agents, BrokerProcess, child_env, free_port_pair, speak_as, wait_until
from world_files import (
    assert_files_match,
    heartbeat,
    observation,
    read_json,
    reference,
    summary_seq,
)

pytestmark = pytest.mark.slow

DRIVER = textwrap.dedent(
    """
    import logging, sys
    from pathlib import Path
    from actors import observer
    from homelab import service_logging
    {speak}
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root, endpoint, every, write = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    stop = service_logging.stop_flag()  # SIGTERM or Ctrl-C, as for `homelab observer`
    sys.exit(observer.run(Path(root), endpoint, stop, checkpoint_every=every, write_every=write))
    """
).replace("{speak}", speak_as("service:observer"))


class ObserverProcess:
    """``actors.observer.run`` in a child process, stopped by SIGTERM as ``homelab observer``
    is (with shorter intervals than the CLI's); its log goes to a file."""

    def __init__(
        self, root: Path, endpoint: str, checkpoint_every=0.2, write_every=0.05, driver=DRIVER
    ):
        self.root, self.endpoint, self.driver = root, endpoint, driver
        self.args = [str(checkpoint_every), str(write_every)]
        self.log_path = root / "observer-output.log"
        self.proc: subprocess.Popen | None = None
        self.started_at = 0

    def start(self) -> ObserverProcess:
        self.started_at = len(self.output())
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", self.driver, str(self.root), self.endpoint, *self.args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=child_env(),
                cwd=REPO,
                start_new_session=True,
            )
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def this_run(self) -> str:
        return self.output()[self.started_at :]

    def wait_live(self, timeout: float = 30) -> None:
        def live():
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"observer exited {self.proc.returncode}:\n{self.output()}")
            return "following the bus" in self.this_run()

        wait_until(live, timeout, "the observer to follow the bus")

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def observers():
    started: list[ObserverProcess] = []

    def make(*args, **kwargs) -> ObserverProcess:
        process = ObserverProcess(*args, **kwargs)
        started.append(process)
        return process

    yield make
    for process in started:
        process.kill()


def service_is(root: Path, name: str, health: str, reason: str | None = None) -> bool:
    state = (read_json(root / "world" / "services.json") or {}).get(name)
    return bool(state) and state["health"] == health and reason in (None, state["reason"])


def world_messages(root: Path):
    return list(FileLog(root / "events").messages(0, None, ("world.",)))


def assert_each_change_published_once(root: Path, changes: list[Change]) -> None:
    published = world_messages(root)
    assert sorted(m.id for m in published) == sorted(c.message_id for c in changes)
    by_id = {c.message_id: c for c in changes}
    for message in published:
        change = by_id[message.id]
        assert (message.topic, message.source) == (change.topic, "observer")
        assert message.payload.items() >= change.payload().items()  # and a service's node


def test_live_observations_become_world_files_and_each_change_is_published_once(
    broker, root, observers
):
    obs = observers(root, broker.endpoint).start()
    obs.wait_live()
    service = "obs.node.web1.service."
    with client.Publisher(broker.endpoint, "agent:web1") as agent:
        agent.publish("obs.node.web1.agent", heartbeat("web1"))
        agent.publish(service + "nginx", observation("web1", "nginx", "state", state="running"))
        agent.publish(service + "nginx", observation("web1", "nginx", "http"))
        agent.publish(service + "db", observation("web1", "db", "state", state="running"))
        wait_until(lambda: service_is(root, "nginx", "healthy", "all 2 checks ok"), 15, "nginx")
        wait_until(lambda: service_is(root, "db", "healthy"), 15, "db healthy")

        agent.publish(
            service + "nginx",
            observation("web1", "nginx", "http", "fail", "expected status 200, got 502"),
        )
        wait_until(
            lambda: service_is(root, "nginx", "degraded", "http: expected status 200, got 502"),
            15,
            "nginx degraded",
        )
        agent.publish(service + "db", observation("web1", "db", "state", "fail", state="exited"))
        wait_until(lambda: service_is(root, "db", "down", "state: exited"), 15, "db down")
        agent.publish(service + "nginx", observation("web1", "nginx", "http"))
        last = agent.publish(service + "nginx", observation("web1", "nginx", "http"))
        wait_until(lambda: summary_seq(root) >= last, 15, "the observer to catch up")
    assert service_is(root, "nginx", "healthy")
    assert obs.stop() == 0

    world, changes = reference(root, summary_seq(root))
    assert_files_match(root, world)
    assert [(c.name, c.health) for c in changes] == [
        ("web1", "healthy"),
        ("nginx", "healthy"),
        ("db", "healthy"),
        ("nginx", "degraded"),
        ("db", "down"),
        ("nginx", "healthy"),
    ]
    assert_each_change_published_once(root, changes)


def test_a_silent_agent_turns_unknown_on_the_brokers_clock_and_recovers(broker, root, observers):
    obs = observers(root, broker.endpoint).start()
    obs.wait_live()
    nodes = root / "world" / "nodes.json"
    with client.Publisher(broker.endpoint, "agent:web1") as agent:
        agent.publish("obs.node.web1.agent", heartbeat("web1", interval=0.5, missed=2))
        agent.publish("obs.node.web1.service.nginx", observation("web1", "nginx", "http"))
        # No more heartbeats: after 1 s of broker time (bus.stats every 0.5 s) it is silent.
        wait_until(
            lambda: (read_json(nodes) or {}).get("web1", {}).get("health") == "unknown",
            15,
            "web1 unknown",
        )
        assert read_json(nodes)["web1"]["reason"].startswith("agent silent since ")
        # services.json is its own file, written just after nodes.json: wait for it too
        wait_until(lambda: service_is(root, "nginx", "unknown"), 15, "nginx unknown")
        agent.publish("obs.node.web1.agent", heartbeat("web1", interval=60))
        wait_until(lambda: service_is(root, "nginx", "healthy"), 15, "nginx healthy again")
    assert obs.stop() == 0

    world, changes = reference(root, summary_seq(root))
    assert_files_match(root, world)
    node_changes = [c for c in changes if c.kind == "node"]
    assert [c.health for c in node_changes] == ["healthy", "unknown", "healthy"]
    cause = next(FileLog(root / "events").messages(node_changes[1].cause_seq - 1))
    assert cause.topic == "bus.stats"  # the clock, not an observation, made it unknown
    assert_each_change_published_once(root, changes)


def publish_steadily(endpoint: str, stop: threading.Event, rng: random.Random, sent: list):
    """Three agents' worth of heartbeats and checks, flipping now and then, until told."""
    outcome = {}
    with Agents(endpoint) as publisher:
        for _ in range(3000):
            if stop.is_set():
                break
            for n in range(3):
                node = f"node{n}"
                publisher.submit(f"obs.node.{node}.agent", heartbeat(node, interval=30))
                for s in range(4):
                    service = f"svc{n}{s}"
                    for check in ("state", "http"):
                        key = (service, check)
                        if rng.random() < 0.05:
                            outcome[key] = "ok" if outcome.get(key, "ok") != "ok" else "fail"
                        result = outcome.get(key, "ok")
                        publisher.submit(
                            f"obs.node.{node}.service.{service}",
                            observation(node, service, check, result, f"{check} is {result}"),
                        )
            publisher.flush()
            sent.append(publisher.last_seq)
            time.sleep(0.02)


def wait_for_a_checkpoint_write(checkpoint: Path, timeout: float = 5.0) -> None:
    """Return as soon as the observer is inside a checkpoint write (its temporary file
    exists, which lasts about a millisecond here), or after ``timeout``."""
    prefix = f".{checkpoint.name}."
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with os.scandir(checkpoint.parent) as entries:
            if any(entry.name.startswith(prefix) for entry in entries):
                return


def test_kill_9_during_checkpoints_ends_in_the_same_world_as_an_uninterrupted_run(
    broker, root, observers
):
    seed = int.from_bytes(os.urandom(4), "big")
    print(f"random seed {seed}")
    rng = random.Random(seed)
    obs = observers(root, broker.endpoint, checkpoint_every=0.01, write_every=0.02).start()
    obs.wait_live()
    checkpoint = root / world_checkpoint.PATH
    assert world_checkpoint.load(checkpoint) is not None

    stop, sent = threading.Event(), []
    publisher = threading.Thread(
        target=publish_steadily, args=(broker.endpoint, stop, random.Random(seed), sent)
    )
    publisher.start()
    mid_write = 0
    try:
        for kill in range(10):
            if kill % 2:
                time.sleep(rng.uniform(0.05, 0.5))  # a random moment of a busy observer
            else:
                wait_for_a_checkpoint_write(checkpoint)
            obs.kill()
            mid_write += bool(atomic.remove_stale_temps(checkpoint))
            loaded = world_checkpoint.load(checkpoint)
            assert loaded is not None, "the checkpoint must always be whole"
            obs.start().wait_live()
    finally:
        stop.set()
        publisher.join(60)
    print(f"10 kills, {mid_write} in the middle of a checkpoint write; {len(sent)} rounds sent")
    assert mid_write >= 1
    wait_until(lambda: summary_seq(root) >= sent[-1], 30, "the observer to catch up")
    assert obs.stop() == 0
    assert "payloads rejected" in obs.this_run()

    world, changes = reference(root, summary_seq(root))
    assert_files_match(root, world)
    assert len(world.services) == 12
    assert_each_change_published_once(root, changes)


def test_deleting_the_checkpoint_rebuilds_the_same_world_files_byte_for_byte(root, observers):
    quiet = BrokerProcess(root, free_port_pair(), "--stats-interval", "0").start()
    try:
        obs = observers(root, quiet.endpoint).start()
        obs.wait_live()
        rng = random.Random(5)
        with Agents(quiet.endpoint) as agent:
            for i in range(300):
                node = f"node{i % 2}"
                if i % 10 == 0:
                    agent.submit(f"obs.node.{node}.agent", heartbeat(node))
                service = f"svc{i % 7}"
                result = "fail" if rng.random() < 0.2 else "ok"
                check = rng.choice(["state", "http"])
                agent.submit(
                    f"obs.node.{node}.service.{service}",
                    observation(node, service, check, result, f"try {i}", state="x"),
                )
            agent.submit("obs.node.node0.agent", {"node": "node0"})  # rejected, and counted
            agent.flush()
            last = agent.last_seq
        wait_until(lambda: summary_seq(root) == last, 15, "the observer to catch up")
        assert obs.stop() == 0
        before = {name: (root / "world" / name).read_bytes() for name in files(World())}
        published = len(world_messages(root))
        assert json.loads(before["summary.json"])["rejected"] == 1

        for damage in ("delete", "corrupt"):
            checkpoint = root / world_checkpoint.PATH
            if damage == "delete":
                checkpoint.unlink()
            else:
                checkpoint.write_text('{"seq": 12, "world": {"trunc')
            for name in before:
                (root / "world" / name).unlink()  # so what is there next was rebuilt
            obs.start().wait_live()
            assert "rebuilding the world" in obs.this_run()
            assert obs.stop() == 0
            after = {name: (root / "world" / name).read_bytes() for name in before}
            assert after == before, damage
            assert len(world_messages(root)) == published  # nothing published again
            assert world_checkpoint.load(checkpoint)[0].seq == last
        assert "is corrupt" in obs.output()
    finally:
        quiet.stop()


SNAPSHOTTING_DRIVER = DRIVER.replace(
    "from actors import observer", "from actors import observer, world_snapshots"
).replace("sys.exit(", "world_snapshots.EVERY = 0.3\nsys.exit(")


def resegment(events: Path, segment_bytes: int = 4096) -> None:
    """The same records in small segments (the broker's are 16 MiB: one, in a test)."""
    old = events.with_name("events-one-segment")
    events.rename(old)
    log, _ = FileLog.open_for_append(events, segment_bytes)
    for body in FileLog(old).read():
        log.append([bytes(body)])
    log.close()


def test_deleting_the_checkpoint_after_retention_trimmed_the_log_rebuilds_the_same_world(
    root, observers
):
    quiet = BrokerProcess(root, free_port_pair(), "--stats-interval", "0").start()
    try:
        obs = observers(root, quiet.endpoint, driver=SNAPSHOTTING_DRIVER).start()
        obs.wait_live()
        with Agents(quiet.endpoint) as agent:
            for round_ in range(4):  # a snapshot is due 0.3 s of the world's clock later
                for i in range(60):
                    node, service = f"node{i % 2}", f"svc{i % 7}"
                    if i % 10 == 0:
                        agent.submit(f"obs.node.{node}.agent", heartbeat(node))
                    outcome = "fail" if (i + round_) % 5 == 0 else "ok"
                    agent.submit(
                        f"obs.node.{node}.service.{service}",
                        observation(node, service, "http", outcome, f"round {round_}"),
                    )
                agent.flush()
                last = agent.last_seq
                wait_until(lambda n=last: summary_seq(root) == n, 15, "the observer to catch up")
                time.sleep(0.5)
        assert obs.stop() == 0
    finally:
        quiet.stop()
    before = {name: (root / "world" / name).read_bytes() for name in files(World())}
    snapshots = world_snapshots.find(root / "state" / "snapshots")
    assert len(snapshots) >= 2
    assert retention.read_holds(root / "state" / "holds") == {"observer": snapshots[-1].seq + 1}

    resegment(root / "events")
    log, _ = FileLog.open_for_append(root / "events", 4096)
    policy = retention.Policy(days=0, bytes=1, keep_records=0)
    done = retention.apply(log, policy, root / "state" / "holds", at_once=10**6)
    log.close()
    assert done.held == ("observer", snapshots[-1].seq + 1)  # the log needs it from there
    first = FileLog(root / "events").first_seq
    assert 1 < first <= snapshots[-1].seq + 1
    published = len(world_messages(root))

    (root / world_checkpoint.PATH).unlink()
    for name in before:
        (root / "world" / name).unlink()
    quiet = BrokerProcess(root, free_port_pair(), "--stats-interval", "0").start()
    try:
        obs = observers(root, quiet.endpoint, driver=SNAPSHOTTING_DRIVER).start()
        obs.wait_live()
        assert obs.stop() == 0
    finally:
        quiet.stop()
    said = obs.this_run()
    assert f"the log begins at seq {first} (history before it was deleted by retention)" in said
    assert "rebuilding the world from the snapshot at seq" in said
    after = {name: (root / "world" / name).read_bytes() for name in before}
    assert after == before
    assert len(world_messages(root)) == published  # nothing published again


def test_the_observer_waits_for_a_broker_that_is_not_up_yet(root, observers):
    late = BrokerProcess(root, free_port_pair())
    obs = observers(root, late.endpoint).start()
    try:
        wait_until(lambda: "lost the broker" in obs.output(), 30, "the observer to notice")
        late.start()
        with client.Publisher(late.endpoint, "agent:web1") as agent:
            agent.publish("obs.node.web1.agent", heartbeat("web1"))
            agent.publish("obs.node.web1.service.nginx", observation("web1", "nginx", "http"))
        wait_until(lambda: service_is(root, "nginx", "healthy"), 30, "nginx healthy")
        assert "is back" in obs.output()
        assert obs.stop() == 0
    finally:
        late.stop()


def test_a_second_observer_on_the_same_root_is_refused(broker, root, observers):
    first = observers(root, broker.endpoint).start()
    first.wait_live()
    second = subprocess.run(
        [sys.executable, "-c", DRIVER, str(root), broker.endpoint, "1", "1"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode != 0
    assert "another observer is already running" in second.stderr
    assert first.stop() == 0


def homelab_observer(root: Path, endpoint: str) -> subprocess.Popen:
    """``homelab observer``, as Compose and ``homelab up`` run it."""
    with open(root / "observer-output.log", "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "homelab", "observer", "--root", str(root), "--bus", endpoint],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=child_env(),
            cwd=REPO,
            start_new_session=True,
        )


def test_a_running_observer_rebuilds_when_its_checkpoint_is_deleted(broker, root):
    """The brief's recovery, with the observer left running (Compose, `up`): it notices the
    deletion, rebuilds from the log, and writes a new checkpoint of the rebuilt world."""
    proc = homelab_observer(root, broker.endpoint)
    output = root / "observer-output.log"
    checkpoint = root / world_checkpoint.PATH
    try:
        with client.Publisher(broker.endpoint, "agent:web1") as agent:
            agent.publish("obs.node.web1.agent", heartbeat("web1"))
            agent.publish("obs.node.web1.service.nginx", observation("web1", "nginx", "http"))
        wait_until(lambda: service_is(root, "nginx", "healthy"), 30, "nginx healthy")
        wait_until(checkpoint.exists, 30, "a checkpoint")
        checkpoint.unlink()
        wait_until(lambda: "was deleted: rebuilding the world" in output.read_text(), 15, "it")
        wait_until(checkpoint.exists, 15, "the rebuilt world's checkpoint")
        assert output.read_text().count("no checkpoint: rebuilding the world") == 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        world, _ = reference(root, summary_seq(root))
        assert_files_match(root, world)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_an_observer_stopped_after_its_checkpoint_was_deleted_does_not_write_a_new_one(
    broker, root, observers
):
    """``docker compose restart observer`` right after the deletion: the stop must not undo it
    (looking for the deletion is turned off here, so only the stop can react)."""
    not_looking = DRIVER.replace(
        "from actors import observer", "from actors import observer\nobserver.LOOK_EVERY = 3600"
    )
    assert not_looking != DRIVER
    obs = observers(root, broker.endpoint, driver=not_looking).start()
    obs.wait_live()
    checkpoint = root / world_checkpoint.PATH
    wait_until(checkpoint.exists, 30, "a checkpoint")
    deleted_at = world_checkpoint.load(checkpoint)[0].seq
    checkpoint.unlink()
    wait_until(lambda: summary_seq(root) > deleted_at, 30, "the world to move on (bus.stats)")
    assert obs.stop() == 0
    assert not checkpoint.exists()
    assert "not writing a new one" in obs.this_run()
    obs.start().wait_live()
    assert "no checkpoint: rebuilding the world" in obs.this_run()
    assert obs.stop() == 0
    world, _ = reference(root, summary_seq(root))
    assert_files_match(root, world)
