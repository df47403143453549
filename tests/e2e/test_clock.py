"""A wall clock that steps, with real processes: the broker's wall clock is shifted through
``HOMELAB_TEST_CLOCK_OFFSET_FILE`` (the seconds it adds), the observer and an agent run as
``homelab observer`` and ``homelab agent``. A killed agent's node must turn unknown within
its silence (0.5 s x 3 here), whatever the clock did before; the step is announced once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bus import wallclock
from bus.envelope import Message
from bus.filelog import FileLog
from plant import BrokerProcess, child_env, free_port_pair, homelab, wait_until

pytestmark = pytest.mark.slow

INVENTORY = "nodes:\n  here: {address: 127.0.0.1, interval: 0.5}\nservices: {}\n"
SILENCE = 0.5 * 3  # the node's interval times its missed intervals (the default, 3)
NOTICED = SILENCE + 4.0  # and the broker's tick, the observer's write (1 s), a slow machine
DAY = 86400.0


class Child:
    """``homelab CMD ...`` as a child process, its output in a file."""

    def __init__(self, root: Path, *argv: str):
        self.log_path = root / f"{argv[0]}-output.log"
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "homelab", *argv],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=child_env(),
                start_new_session=True,
            )

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


class Plant:
    """A broker on a shifted clock, an observer and the agent of node ``here``."""

    def __init__(self, root: Path, repo: Path):
        self.root, self.offset = root, root / "clock-offset"
        self.offset.write_text("0")
        env = {wallclock.OFFSET_FILE_ENV: str(self.offset)}
        self.broker = BrokerProcess(root, free_port_pair(), "--stats-interval", "0.25", env=env)
        self.broker.start()
        bus = ["--root", str(root), "--bus", self.broker.endpoint]
        self.observer = Child(root, "observer", *bus)
        self.agent = Child(root, "agent", "--node", "here", "--repo", str(repo), *bus)

    def step(self, seconds: float) -> None:
        self.offset.write_text(repr(float(self.offset.read_text()) + seconds))

    def messages(self, *prefixes: str) -> list[Message]:
        return list(FileLog(self.root / "events").messages(prefixes=list(prefixes)))

    def announced(self, count: int) -> list[Message]:
        return wait_until(
            lambda: (found := self.messages(wallclock.TOPIC)) and len(found) >= count and found,
            10,
            f"{count} bus.clock message(s)",
        )

    def health(self) -> str | None:
        try:
            nodes = json.loads((self.root / "world" / "nodes.json").read_bytes())
        except (FileNotFoundError, ValueError):
            return None
        return nodes.get("here", {}).get("health")

    def folded_past(self, seq: int) -> bool:
        """The observer's world has taken a heartbeat stored after ``seq``."""
        try:
            nodes = json.loads((self.root / "world" / "nodes.json").read_bytes())
        except (FileNotFoundError, ValueError):
            return False
        return nodes.get("here", {}).get("last_seq", 0) > seq

    def status(self) -> str:
        """What ``homelab status`` prints."""
        return homelab("status", "--root", str(self.root), "--bus", self.broker.endpoint).stdout

    def kill_agent_and_time_silence(self) -> float:
        """Kill the agent; how long its node took to turn unknown (fails after NOTICED s)."""
        self.agent.kill()
        killed = time.monotonic()
        wait_until(lambda: self.health() == "unknown", NOTICED, "the killed agent's node unknown")
        return time.monotonic() - killed

    def close(self) -> None:
        self.agent.kill()
        self.observer.kill()
        self.broker.stop()


@pytest.fixture
def plant(root: Path, tmp_path: Path) -> Iterator[Plant]:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "inventory.yml").write_text(INVENTORY)
    made = Plant(root, repo)
    yield made
    made.close()


def healthy(plant: Plant) -> None:
    wait_until(lambda: plant.health() == "healthy", 30, "node here healthy")


@pytest.mark.parametrize("order", ["step, then kill", "kill, then step"])
def test_a_step_back_of_120_s_delays_no_silence_and_is_announced_once(plant, order):
    healthy(plant)
    if order == "kill, then step":  # the step falls within the silence: the fold's clock
        plant.agent.kill()
        killed = time.monotonic()
    plant.step(-120.0)
    [announced] = plant.announced(1)
    assert announced.payload["step"] == pytest.approx(-120.0, abs=0.5)
    if order == "kill, then step":
        wait_until(lambda: plant.health() == "unknown", NOTICED, "the killed agent's node unknown")
        assert time.monotonic() - killed < NOTICED
    else:  # the stamps after the step: the broker's
        wait_until(lambda: plant.folded_past(announced.seq), 10, "a heartbeat after the step")
        assert plant.kill_agent_and_time_silence() < NOTICED
    assert len(plant.messages(wallclock.TOPIC)) == 1
    assert plant.broker.output().count("clock: the wall clock stepped back") == 1
    assert "  clock: the wall clock stepped back 2.0 min (120 s): " in plant.status()


@pytest.mark.parametrize("corrected", ["while the broker runs", "while the broker is down"])
def test_a_day_forward_then_corrected_across_a_restart_delays_no_silence(plant, corrected):
    healthy(plant)
    plant.step(DAY)
    [forward] = plant.announced(1)
    assert forward.payload["step"] == pytest.approx(DAY, abs=0.5)
    wait_until(lambda: plant.folded_past(forward.seq), 10, "a heartbeat after the step")
    went = [m.payload["health"] for m in plant.messages("world.node.here") if m.seq > forward.seq]
    assert "unknown" not in went  # a day did not pass for the world: nothing went silent
    plant.broker.stop()
    if corrected == "while the broker is down":
        plant.step(-DAY)
    plant.broker.start()
    if corrected == "while the broker runs":
        restarted = plant.messages()[-1].seq
        wait_until(  # the new broker stamps on the day-ahead clock first
            lambda: any(m.seq > restarted for m in plant.messages("bus.stats")), 10, "a tick"
        )
        plant.step(-DAY)
    back = plant.announced(2)[1]
    assert back.payload["step"] == pytest.approx(-DAY, abs=60)
    assert back.payload["found"] == ("start" if "down" in corrected else "running")
    assert abs(plant.messages()[-1].time - time.time()) < 10  # stamps are not held a day
    healthy(plant)
    wait_until(lambda: plant.folded_past(back.seq), 10, "a heartbeat after the correction")
    assert plant.kill_agent_and_time_silence() < NOTICED
