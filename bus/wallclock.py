"""The broker's time: the wall clock for stamps, and the steps of that clock.

A stamp is the wall time, as it is, even when the clock was set back: the sequence number
is the order. What measures durations must not take a step of the wall clock (NTP, an
operator's ``date -s``, a VM resumed) for time passing. So the broker compares how far the
wall clock moved between two looks with how far a steady clock moved (``CLOCK_BOOTTIME``,
which counts a suspend too, else ``CLOCK_MONOTONIC``); when they differ by ``STEP_THRESHOLD``
or more, that difference is a step, and the broker announces it once, as ``bus.clock``, the
first message stamped after it. At start, a log whose last stamp is ahead of the clock is
a step back found while the broker was down.

Readers (the world's fold, the action queue) subtract the steps announced so far from each
stamp: ``time - steps`` is the bus's clock, on which silence, back-off and expiry are
measured (``docs/protocol.md``).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bus import topics

TOPIC = topics.CLOCK
STEP_THRESHOLD = 1.0  # seconds: a smaller difference is no step (NTP slews, not steps)
OFFSET_FILE_ENV = "HOMELAB_TEST_CLOCK_OFFSET_FILE"  # tests: seconds added to the wall clock


def steady() -> float:
    """Seconds that pass like real ones whatever the wall clock does."""
    return time.clock_gettime(_STEADY)


_STEADY = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)


class Clock:
    """The broker's two clocks, read together. Tests pass their own."""

    def __init__(self, wall: Callable[[], float] = time.time, steady: Callable[[], float] = steady):
        self.wall, self.steady = wall, steady

    def read(self) -> tuple[float, float]:
        return self.wall(), self.steady()


class StepWatch:
    """Finds the steps of the wall clock between one look and the next."""

    def __init__(self, threshold: float = STEP_THRESHOLD):
        self.threshold = threshold
        self._last: tuple[float, float] | None = None

    def look(self, wall: float, steady: float) -> float | None:
        """The step since the last look (seconds, forward > 0), or None: no step."""
        last, self._last = self._last, (wall, steady)
        if last is None:
            return None
        step = (wall - last[0]) - (steady - last[1])
        return step if abs(step) >= self.threshold else None


def payload(step: float, found: str) -> dict[str, Any]:
    """``bus.clock``: ``found`` is ``running`` (measured against the steady clock) or
    ``start`` (the log's last stamp is ahead of the clock: it went back at least that
    far while the broker was down)."""
    return {"step": round(step, 6), "found": found, "report": report(step, found)}


def report(step: float, found: str) -> str:
    """One line for the broker's log and for people: what happened, what it does."""
    way = "forward" if step > 0 else "back"
    when = " while the broker was down" if found == "start" else ""
    return (
        f"the wall clock stepped {way} {_duration(abs(step))}{when}: stored times "
        f"{'jump' if step > 0 else 'go back'} by that much here (the seq keeps the order); "
        "silence, back-off and expiry do not count the step"
    )


def step_of(message_payload: dict[str, Any]) -> float | None:
    """The step a ``bus.clock`` payload announces; None if it is not a finite number."""
    step = message_payload.get("step")
    if (type(step) is int or type(step) is float) and math.isfinite(step):
        return float(step)
    return None


def from_env(environ: dict[str, str] | None = None) -> Clock:
    """The broker's clock; tests shift its wall clock through ``OFFSET_FILE_ENV`` (a file
    holding the seconds to add, read at every stamp)."""
    path = (os.environ if environ is None else environ).get(OFFSET_FILE_ENV)
    return Clock(wall=_offset_wall(Path(path))) if path else Clock()


def _offset_wall(path: Path) -> Callable[[], float]:
    def wall() -> float:
        try:
            return time.time() + float(path.read_text() or 0)
        except (OSError, ValueError):  # missing or being written: no offset
            return time.time()

    return wall


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit} ({seconds:.0f} s)"
    return f"{seconds:.1f} s"
