"""The ``homelab`` command as a user runs it: real processes, real files, real broker."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from actors import world_checkpoint
from plant import BrokerProcess, child_env, free_port_pair, homelab, wait_until

pytestmark = pytest.mark.slow


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_init_creates_the_layout_and_is_idempotent(tmp_path: Path):
    first = homelab("init", "--root", str(tmp_path / "r"))
    second = homelab("init", "--root", str(tmp_path / "r"))
    assert first.returncode == second.returncode == 0
    assert "created 9 folders" in first.stdout and "already set up" in second.stdout
    for folder in ("events", "world", "state", "logs", "actions", "inbox"):
        assert (tmp_path / "r" / folder).is_dir()


def test_an_unwritable_root_is_one_clear_line(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    line = one_line_error(homelab("init", "--root", str(blocker / "root")))
    assert line.startswith("homelab: error: cannot write to the data root")


def test_emit_prints_the_seq_and_replay_shows_it_from_disk_without_a_broker(broker):
    emitted = homelab("emit", "note.node.web1", "--data", '{"up": true}', "--bus", broker.endpoint)
    assert emitted.returncode == 0, emitted.stderr
    seq = int(emitted.stdout)
    broker.stop()
    replayed = homelab("replay", "--root", str(broker.root), "--topic", "note.", "--json")
    lines = [json.loads(line) for line in replayed.stdout.splitlines()]
    assert [(m["seq"], m["topic"], m["payload"]) for m in lines] == [
        (seq, "note.node.web1", {"up": True})
    ]
    assert lines[0]["time"].endswith("Z") and lines[0]["source"] == "emit"
    pretty = homelab("replay", "--root", str(broker.root), "--from", str(seq), "--to", str(seq))
    assert "note.node.web1" in pretty.stdout and "up=True" in pretty.stdout


def test_replay_selects_by_time(broker):
    first = int(homelab("emit", "obs.a", "--bus", broker.endpoint).stdout)
    time.sleep(1.1)
    middle = time.time()
    time.sleep(0.1)
    second = int(homelab("emit", "obs.b", "--bus", broker.endpoint).stdout)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(middle))
    later = homelab(
        "replay", "--root", str(broker.root), "--from", stamp, "--topic", "obs.", "--json"
    )
    assert [json.loads(x)["seq"] for x in later.stdout.splitlines()] == [second]
    earlier = homelab(
        "replay", "--root", str(broker.root), "--to", stamp, "--topic", "obs.", "--json"
    )
    assert [json.loads(x)["seq"] for x in earlier.stdout.splitlines()] == [first]


class Lines:
    """The lines of a child's pipe, read by a thread, so a test waits with a timeout."""

    def __init__(self, stream):
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream) -> None:
        for line in stream:
            self.queue.put(line)
        self.queue.put(None)

    def next(self, timeout: float = 15) -> str:
        try:
            line = self.queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line within {timeout} s (so far: {self.seen})") from None
        assert line is not None, f"the stream ended (so far: {self.seen})"
        self.seen.append(line)
        return line

    def rest(self, timeout: float = 10) -> list[str]:
        """Every line until the stream ends (the process has exited)."""
        while (line := self.queue.get(timeout=timeout)) is not None:
            self.seen.append(line)
        return self.seen


class Tap(NamedTuple):
    proc: subprocess.Popen
    out: Lines
    err: Lines


@contextlib.contextmanager
def tap_process(*args: str, ignore_sigint: bool = False) -> Iterator[Tap]:
    """``homelab tap`` in its own process group, killed with its group whatever happens.

    ``ignore_sigint``: start it as a shell starts a background job (``homelab tap &``),
    with SIGINT ignored, which Python then does not turn into KeyboardInterrupt.
    """
    launch = "import os, signal, sys; "
    if ignore_sigint:
        launch += "signal.signal(signal.SIGINT, signal.SIG_IGN); "
    launch += "os.execv(sys.executable, [sys.executable, '-m', 'homelab', 'tap', *sys.argv[1:]])"
    proc = subprocess.Popen(
        [sys.executable, "-c", launch, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        start_new_session=True,
    )
    try:
        yield Tap(proc, Lines(proc.stdout), Lines(proc.stderr))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def test_tap_shows_history_and_live_messages_and_ctrl_c_exits_0(broker):
    homelab("emit", "note.node.a", "--data", '{"health": "down"}', "--bus", broker.endpoint)
    with tap_process("note.", "--since", "1", "--json", "--bus", broker.endpoint) as tap:
        first = json.loads(tap.out.next())
        assert first["payload"] == {"health": "down"}
        homelab("emit", "obs.ignored", "--bus", broker.endpoint)
        homelab("emit", "note.node.a", "--data", '{"health": "up"}', "--bus", broker.endpoint)
        second = json.loads(tap.out.next())
        assert second["payload"] == {"health": "up"} and second["seq"] > first["seq"]
        tap.proc.send_signal(signal.SIGINT)
        assert tap.proc.wait(10) == 0
        assert "Traceback" not in "".join(tap.err.rest())


def test_tap_without_a_broker_says_so_once_and_waits_for_it(root: Path):
    port = free_port_pair()
    endpoint = f"tcp://127.0.0.1:{port}"
    with tap_process("obs.", "--since", "1", "--json", "--bus", endpoint) as tap:
        waiting = f"waiting for the broker at {endpoint} (is `homelab broker` running?)\n"
        assert tap.err.next() == waiting
        broker = BrokerProcess(root, port).start()
        try:
            homelab("emit", "obs.late", "--data", '{"n": 1}', "--bus", endpoint)
            assert json.loads(tap.out.next(20))["topic"] == "obs.late"
        finally:
            broker.stop()
        tap.proc.send_signal(signal.SIGINT)
        assert tap.proc.wait(10) == 0
        assert [line for line in tap.err.rest() if line.strip()] == [waiting]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_tap_started_as_a_background_job_still_stops_on_a_signal(signum):
    endpoint = f"tcp://127.0.0.1:{free_port_pair()}"
    with tap_process("--bus", endpoint, ignore_sigint=True) as tap:
        assert tap.err.next().startswith("waiting for the broker")
        tap.proc.send_signal(signum)
        assert tap.proc.wait(10) == 0
        assert "Traceback" not in "".join(tap.err.rest())


def test_emit_resent_with_the_same_id_is_stored_once(broker):
    a = homelab("emit", "obs.x", "--id", "job-42", "--bus", broker.endpoint)
    b = homelab("emit", "obs.x", "--id", "job-42", "--bus", broker.endpoint)
    assert a.stdout == b.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["emit", "Obs.bad"], "bad topic"),
        (["emit", "obs.x", "--data", "{nope"], "not JSON"),
        (["emit", "obs.x", "--data", "[1]"], "must be a JSON object"),
        (["replay", "--from", "yesterday-ish"], "neither a sequence number nor a time"),
        (["broker", "--fsync", "sometimes"], "Invalid value for '--fsync'"),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(tmp_path, args, expected):
    result = homelab(*args, HOMELAB_ROOT=str(tmp_path))
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert result.returncode != 0


def test_no_broker_is_one_line(root: Path):
    endpoint = f"tcp://127.0.0.1:{free_port_pair()}"
    line = one_line_error(homelab("emit", "obs.x", "--timeout", "0.5", HOMELAB_BUS=endpoint))
    assert "no answer from the broker" in line and "homelab broker" in line
    (root / "events").mkdir()
    status = homelab("status", "--timeout", "0.5", HOMELAB_BUS=endpoint, HOMELAB_ROOT=str(root))
    assert status.returncode == 1 and "not reachable" in status.stdout


def test_replay_of_a_missing_root_is_one_line(tmp_path: Path):
    result = homelab("replay", "--root", str(tmp_path / "nothing"))
    assert result.returncode == 2
    assert one_line_error(result).startswith("homelab: error: no data root at")
    assert not (tmp_path / "nothing").exists()


def test_a_taken_port_and_a_second_broker_are_one_line_each(broker, tmp_path: Path):
    other_root = homelab("broker", "--root", str(tmp_path / "other"), "--bus", broker.endpoint)
    assert "already in use" in one_line_error(other_root)
    same_root = homelab(
        "broker", "--root", str(broker.root), "--bus", f"tcp://127.0.0.1:{free_port_pair()}"
    )
    assert "another broker is already writing" in one_line_error(same_root)


def test_status_reports_the_bus(broker):
    result = homelab("status", "--json", "--bus", broker.endpoint, "--root", str(broker.root))
    summary = json.loads(result.stdout)
    assert summary["bus"]["seq"] >= 0 and summary["bus"]["fsync"] == "batch"
    # no observer ran: said, but exit 0, since the broker's health check is this command
    assert result.returncode == 0 and summary["observed"] is False


def test_inbox_files_are_published_then_moved(broker):
    inbox = broker.root / "inbox"
    (inbox / "a.json.tmp").write_text('{"topic": "obs.backup.nas", "payload": {"ok": true}}')
    os.replace(inbox / "a.json.tmp", inbox / "a.json")
    (inbox / "b.json").write_text('{"topic": "obs.x", "payload": {}, "extra": 1}')
    (inbox / "c.json").write_text('{"topic": "bus.stats", "payload": {"fake": true}}')
    wait_until(lambda: (inbox / "done" / "a.json").exists(), 10, "a.json to be taken")
    wait_until(lambda: (inbox / "rejected" / "c.json").exists(), 10, "c.json to be refused")
    assert "extra" in (inbox / "rejected" / "b.json.reason.txt").read_text()
    assert "reserved for the broker" in (inbox / "rejected" / "c.json.reason.txt").read_text()
    replayed = homelab("replay", "--root", str(broker.root), "--topic", "obs.backup", "--json")
    assert json.loads(replayed.stdout)["payload"] == {"ok": True}


def test_up_runs_the_broker_and_stops_cleanly_on_sigterm(tmp_path: Path):
    endpoint = f"tcp://127.0.0.1:{free_port_pair()}"
    up = subprocess.Popen(
        [sys.executable, "-m", "homelab", "up", "--root", str(tmp_path), "--bus", endpoint]
        + ["--no-ui"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        probe = BrokerProcess(tmp_path, int(endpoint.rsplit(":", 1)[1]))
        wait_until(probe.answers, 20, "the broker started by up")
        assert homelab("emit", "obs.up", "--bus", endpoint).returncode == 0
    finally:
        up.send_signal(signal.SIGTERM)
        _, err = up.communicate(timeout=20)
    assert up.returncode == 0 and "Traceback" not in err
    assert (tmp_path / "logs" / "broker.log").exists()


def test_check_inventory_prints_file_and_line_and_exits_1(tmp_path: Path):
    (tmp_path / "inventory.yml").write_text("nodes:\n  web1:\n    address: a\n    adress: b\n")
    bad = homelab("check-inventory", "--repo", str(tmp_path))
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.splitlines()[0] == "inventory.yml:4: nodes.web1.adress: unknown key"
    (tmp_path / "inventory.yml").write_text("nodes:\n  web1:\n    address: a\n")
    good = homelab("check-inventory", "--repo", str(tmp_path))
    assert good.returncode == 0 and "1 node(s), 0 service(s)" in good.stdout


def test_drift_exits_2_without_a_world_and_1_with_drift(tmp_path: Path):
    from actors.domain import world

    root, repo = tmp_path / "root", tmp_path / "repo"
    repo.mkdir()
    (repo / "inventory.yml").write_text(
        "nodes:\n  n: {address: 127.0.0.1}\nservices:\n"
        "  db: {node: n, kind: systemd, unit: postgresql.service}\n"
    )
    (root / "events").mkdir(parents=True)
    unseen = homelab("drift", "--repo", str(repo), "--root", str(root))
    assert unseen.returncode == 2 and "no drift" not in unseen.stdout
    assert "no world yet" in one_line_error(unseen)
    state = world.World(seq=3, time=10.0)
    state.nodes["n"] = world.NodeState(health="healthy")
    state.services["db"] = world.ServiceState(
        node="n",
        checks={
            "state": world.CheckState(
                outcome="fail",
                detail="inactive (dead)",
                facts={"state": "inactive"},
                latency_ms=None,
                observed_at=9.0,
                since=9.0,
                since_seq=2,
                last_seen=9.0,
                last_seq=2,
            )
        },
    )
    (root / "state").mkdir(parents=True)
    world_checkpoint.save(root / world_checkpoint.PATH, state)
    drifted = homelab("drift", "--repo", str(repo), "--root", str(root), "--json")
    assert drifted.returncode == 1
    report = json.loads(drifted.stdout)
    assert [(d["service"], d["kind"]) for d in report["drifts"]] == [("db", "stopped")]
    assert report["recommended"][0]["commands"] == [
        ["systemctl", "start", "--", "postgresql.service"]
    ]
