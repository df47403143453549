"""The broker's stamps follow the wall clock, and a step of it is logged and announced once.

The broker runs in this process on a log in memory, with a clock the test sets by hand: no
loop, no client, only ``publish_own`` (the path every message takes)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bus import broker, envelope, wallclock
from bus.log import MemoryLog
from plant import free_port_pair

T0 = 1_800_000_000.0


class HandClock(wallclock.Clock):
    """A wall clock the test steps, and a steady one that only moves with ``wait``."""

    def __init__(self) -> None:
        super().__init__(wall=lambda: self.now + self.offset, steady=lambda: self.now)
        self.now, self.offset = T0, 0.0

    def wait(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def hand() -> HandClock:
    return HandClock()


def start(log: MemoryLog, clock: HandClock) -> broker.Broker:
    return broker.Broker(log, f"tcp://127.0.0.1:{free_port_pair()}", stats_interval=0, clock=clock)


@pytest.fixture
def log() -> MemoryLog:
    return MemoryLog()


@pytest.fixture
def server(log: MemoryLog, hand: HandClock) -> Iterator[broker.Broker]:
    made = start(log, hand)
    yield made
    made.close()


def stored(log: MemoryLog) -> list[envelope.Message]:
    return [envelope.decode_body(b) for b in log.read()]


def test_stamps_are_the_wall_clock_also_when_it_was_set_back(server, log, hand):
    server.publish_own("bus.test", {"n": 1})
    hand.wait(1.0)
    hand.offset = -120.0
    server.publish_own("bus.test", {"n": 2})
    times = [m.time for m in stored(log) if m.topic == "bus.test"]
    assert times == [T0, T0 + 1.0 - 120.0]


def test_a_step_is_announced_once_as_the_first_message_after_it(server, log, hand, caplog):
    server.publish_own("bus.test", {"n": 1})
    hand.wait(2.0)
    hand.offset = -120.0
    with caplog.at_level(logging.WARNING, logger="homelab.bus.broker"):
        for n in range(2, 5):
            hand.wait(0.5)
            server.publish_own("bus.test", {"n": n})
    topics = [m.topic for m in stored(log)]
    assert topics == ["bus.test", "bus.clock", "bus.test", "bus.test", "bus.test"]
    step = stored(log)[1]
    assert step.source == "broker" and step.time == T0 + 2.5 - 120.0
    assert step.payload["step"] == -120.0 and step.payload["found"] == "running"
    assert "stepped back 2.0 min (120 s)" in step.payload["report"]
    lines = [r.getMessage() for r in caplog.records if "clock" in r.getMessage()]
    assert lines == [f"clock: {step.payload['report']}"]
    assert server.status()["clock_step"] == step.payload | {"time": step.time}


def test_a_step_forward_is_announced_and_a_small_difference_is_not(server, log, hand):
    server.publish_own("bus.test", {"n": 1})
    hand.offset = wallclock.STEP_THRESHOLD / 2  # NTP's slewing, or a late tick: no step
    server.publish_own("bus.test", {"n": 2})
    hand.offset += 86400.0
    server.publish_own("bus.test", {"n": 3})
    steps = [m.payload["step"] for m in stored(log) if m.topic == "bus.clock"]
    assert steps == [86400.0]


def test_a_log_ahead_of_the_clock_at_start_is_a_step_back_announced_first(log, hand):
    first = start(log, hand)
    hand.offset = 86400.0
    first.publish_own("bus.test", {"n": 1})
    first.close()
    hand.offset = 0.0  # corrected while the broker was down
    hand.wait(5.0)
    second = start(log, hand)
    try:
        second.publish_own("bus.test", {"n": 2})
    finally:
        second.close()
    messages = stored(log)
    assert [m.topic for m in messages] == ["bus.clock", "bus.test", "bus.clock", "bus.test"]
    announced = messages[2]
    assert announced.payload["found"] == "start"
    assert announced.payload["step"] == pytest.approx(-86400.0 + 5.0)
    assert messages[3].time == T0 + 5.0  # not the day-ahead stamp the log ended with


def test_a_step_not_stored_for_want_of_disk_goes_first_in_the_next_batch(server, log, hand):
    server.publish_own("bus.test", {"n": 1})
    hand.offset = -60.0
    append = log.append
    log.append = lambda bodies: (_ for _ in ()).throw(OSError(28, "No space left on device"))
    assert server.publish_own("bus.test", {"n": 2}) is None
    log.append = append
    server.publish_own("bus.test", {"n": 3})
    messages = stored(log)
    assert [m.topic for m in messages] == ["bus.test", "bus.clock", "bus.test"]
    assert messages[1].payload["step"] == -60.0
