"""A full disk under the event log: the broker stays up, defers what it cannot store, keeps a
reserve for the control plane's own messages, raises an alarm, and goes on when space returns;
the services wait. On a real small file system (``tests/smallfs.py``), real processes.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.domain import identities
from bus import broker, client, envelope, filelog, outbox, space
from plant import BrokerProcess, Plant, free_port_pair, homelab, server_keys, wait_until
from smallfs import MIB, fill, free, small_fs

pytestmark = pytest.mark.slow

RESERVE_MIB = 4  # below it, only the control plane's own; below 1 MiB, nothing


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_fs(tmp_path / "disk", mib=16) as mounted:
        yield mounted


@pytest.fixture
def root(disk: Path) -> Path:
    made = homelab("init", "--root", str(disk / "root"))
    assert made.returncode == 0, made.stderr
    return disk / "root"


@pytest.fixture
def on_disk(root: Path, tmp_path: Path) -> Iterator[BrokerProcess]:
    process = BrokerProcess(
        root,
        free_port_pair(),
        "--stats-interval",
        "0.2",
        env={"HOMELAB_DISK_RESERVE": str(RESERVE_MIB)},
    )
    process.log_path = tmp_path / "broker.log"  # not on the disk that fills
    process.start()
    yield process
    process.stop()


def alarm(endpoint: str) -> str:
    """The disk's state as the broker's ping tells it."""
    alarms = client.ping(endpoint)["alarms"]
    return alarms[0]["state"] if alarms else "ok"


def emit(endpoint: str, topic: str, timeout: float = 2.0) -> subprocess.CompletedProcess:
    return homelab("emit", topic, "--bus", endpoint, "--timeout", str(timeout))


def test_a_full_disk_defers_publishes_keeps_a_reserve_alarms_and_resumes(on_disk, root):
    endpoint, events = on_disk.endpoint, root / "events"
    acked = {emit(endpoint, "obs.before").stdout.strip()}
    holder = outbox.Outbox(endpoint, "backup-tool", timeout=1.0)
    try:
        # Below the reserve: ordinary messages wait, the control plane's own go on.
        filler = fill(root.parent, leave=2 * MIB)
        wait_until(lambda: alarm(endpoint) == "low", 10, "the alarm")
        refused = emit(endpoint, "obs.during")
        assert refused.returncode == 1
        assert refused.stderr.count("\n") == 1, refused.stderr  # one line, no traceback
        assert f"disk full at {events}: " in refused.stderr
        assert "bytes free, below the reserve of 4194304 bytes" in refused.stderr
        held = holder.send("backup.done", {"ok": True})
        with client.Publisher(endpoint, "supervisor", timeout=5) as supervisor:
            acked.add(str(supervisor.publish("drift.report", {"drifted": 0})))
        with client.Publisher(endpoint, "ui:oskar", timeout=5) as operator:
            acked.add(str(operator.publish("action.request.approve", {"id": "a-1"})))
        wait_until(lambda: holder.trouble and "disk full" in holder.trouble, 10, "the outbox")
        assert not held.done()

        # Full: nothing is stored, everyone is told why; the broker stays up.
        fill(root.parent, leave=0, name="fill-2")
        wait_until(lambda: alarm(endpoint) == "full", 10, "the full alarm")
        with client.Publisher(endpoint, "executor", timeout=5, patience=0.5) as executor:
            with pytest.raises(client.PublishDeferred, match=f"disk full at {events}: "):
                executor.publish("action.output", {"id": "a-1", "chunk": "x"})
        assert on_disk.proc.poll() is None

        # Space returns: everything goes on by itself.
        filler.unlink()
        (root.parent / "fill-2").unlink()
        wait_until(lambda: alarm(endpoint) == "ok", 10, "the alarm to end")
        acked.add(str(held.result(timeout=10)))
        acked.add(emit(endpoint, "obs.after").stdout.strip())
    finally:
        holder.close(timeout=2)
    assert on_disk.proc.poll() is None  # never restarted
    messages = [envelope.decode_body(b) for b in filelog.FileLog(events).read()]
    assert [m.seq for m in messages] == list(range(1, len(messages) + 1))
    assert acked <= {str(m.seq) for m in messages}
    alarms = [(m.payload["state"], m.payload["active"]) for m in messages if m.topic == "bus.alarm"]
    assert alarms[0] == ("low", True) and alarms[-1] == ("ok", False)
    assert [m.topic for m in messages if not m.topic.startswith("bus.")] == [
        "obs.before",
        "drift.report",
        "action.request.approve",
        "backup.done",
        "obs.after",
    ]
    assert "alarm: disk full at" in on_disk.output() and "Traceback" not in on_disk.output()


def test_status_shows_the_alarm(on_disk, root):
    fill(root.parent, leave=2 * MIB)
    wait_until(lambda: alarm(on_disk.endpoint) == "low", 10, "the alarm")
    shown = homelab("status", "--root", str(root), "--bus", on_disk.endpoint)
    assert shown.returncode == 0
    assert f"alarm: disk full at {root / 'events'}: " in shown.stdout


# -- a write that fails half-way: the broker in this process, on the small disk ------------------


def roomy(path: Path) -> os.statvfs_result:
    """A statvfs that always says there is room: the write finds out otherwise."""
    return os.statvfs_result((4096, 4096, 1 << 20, 1 << 20, 1 << 20, 0, 0, 0, 0, 255))


@pytest.fixture
def in_process(root: Path) -> Iterator[tuple[broker.Broker, str]]:
    events = root / "events"
    log, _ = filelog.FileLog.open_for_append(events)
    endpoint = f"tcp://127.0.0.1:{free_port_pair()}"
    server = broker.Broker(
        log,
        endpoint,
        stats_interval=0,
        disk=space.Guard(events, 0, statvfs=roomy),
        curve=server_keys(),
        authorize=identities.refusal,
    )
    stop = threading.Event()
    thread = threading.Thread(target=server.run, args=(stop.is_set,), daemon=True)
    thread.start()
    yield server, endpoint
    stop.set()
    thread.join(5)
    server.close()
    log.close()


def test_a_write_the_disk_refuses_is_cut_off_never_acknowledged_and_the_seqs_go_on(
    in_process, root, monkeypatch
):
    server, endpoint = in_process
    events = root / "events"
    with client.Publisher(endpoint, "tool", timeout=5, patience=0.5) as publisher:
        assert publisher.publish("obs.a", {"n": 1}) == 1
        segment = next(events.glob("*/*.log"))
        size = segment.stat().st_size
        filler = fill(root.parent, leave=64 * 1024)
        monkeypatch.setattr(space, "reserve", lambda *args: None)  # no fallocate: a torn write
        torn, cut = [], server.log.discard
        monkeypatch.setattr(
            server.log, "discard", lambda after: (torn.append(segment.stat().st_size), cut(after))
        )
        big = {"blob": "x" * 200_000}
        for _ in range(2):
            with pytest.raises(client.PublishDeferred, match=f"disk full at {events}"):
                publisher.publish("obs.big", big, id="big")
            assert segment.stat().st_size == size  # what was written is cut off again
        assert torn and torn[0] > size  # it was written half-way
        assert server.log.last_seq == 1 and server.sequencer.last_seq == 1
        filler.unlink()
        wait_until(lambda: server.disk.state == "ok", 10, "space again")
        assert publisher.publish("obs.big", big, id="big") == 2  # sent again: stored once
    seqs = [envelope.body_seq(b) for b in filelog.FileLog(events).read()]
    assert seqs == [1, 2]


def test_a_log_that_cannot_even_be_cut_stops_the_broker_and_the_next_start_cuts_it(
    root, monkeypatch
):
    events = root / "events"
    log, _ = filelog.FileLog.open_for_append(events)
    server = broker.Broker(
        log,
        f"tcp://127.0.0.1:{free_port_pair()}",
        stats_interval=0,
        disk=space.Guard(events, 0),
        curve=server_keys(),
        authorize=identities.refusal,
    )
    try:
        server.publish_own("bus.test", {"n": 1})
        monkeypatch.setattr(space, "reserve", lambda *args: None)
        monkeypatch.setattr(log, "discard", lambda after: (_ for _ in ()).throw(OSError(5, "EIO")))
        filler = fill(root.parent, leave=50_000)
        with pytest.raises(broker.BrokerError, match="nor cut what was written"):
            server.publish_own("bus.test", {"blob": "x" * 200_000})
    finally:
        server.close()
        log.close()
    filler.unlink()
    reopened, report = filelog.FileLog.open_for_append(events)
    reopened.close()
    assert reopened.last_seq == 1 and "torn last record" in report[0]


# -- the services wait for space instead of exiting -----------------------------------------


def test_the_observer_and_supervisor_wait_for_space_and_go_on(root, tmp_path):
    env = {"HOMELAB_DISK_RESERVE": str(RESERVE_MIB), "HOMELAB_STATS_INTERVAL": "0.2"}
    plant = Plant(tmp_path, root=root, run=("broker", "observer", "supervisor"), env=env)
    services = ("observer", "supervisor")
    with plant.start("broker"):
        heartbeat = {"node": "here", "interval": 0.5, "checks": 0}
        with client.Publisher(plant.bus, "agent:here", timeout=5) as agent:
            agent.publish("obs.node.here.agent", heartbeat)
        filler = fill(root.parent, leave=0)
        plant.start(*services)
        for name in services:
            wait_until(lambda n=name: "waiting for space" in plant.output(n), 30, f"{name} to wait")
        time.sleep(3)  # they wait: no exit, no second word about it
        for name in services:
            said = plant.output(name)
            assert plant.children[name].poll() is None, said
            assert said.count("waiting for space") == 1 and "Traceback" not in said, said
        filler.unlink()
        for name in services:
            wait_until(lambda n=name: "going on" in plant.output(n), 30, f"{name} to go on")
        wait_until(lambda: (root / "world" / "nodes.json").exists(), 30, "the world written")
        for name in services:
            assert plant.stop(name) == 0, plant.output(name)
    assert free(root.parent) > 0
