"""``homelab up --demo --chaos``: now and then, kill one of the demo's running services, so
the loop (drift, a proposed fix, approval, the fix) can be watched again and again."""

from __future__ import annotations

import logging
import os
import random
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path

log = logging.getLogger("homelab.up")

DEFAULT_EVERY = 180.0  # seconds between two kills, give or take JITTER
JITTER = 0.1  # a fraction of the interval, either way
MIN_EVERY = 1.0


def next_delay(every: float, rng: random.Random) -> float:
    """``every`` seconds, give or take ``JITTER`` of it, so kills do not fall in step with
    the agents' check intervals."""
    return every * rng.uniform(1 - JITTER, 1 + JITTER)


def pick(candidates: Iterable[str], rng: random.Random) -> str | None:
    """One of ``candidates`` at random (None when there is none), independent of order."""
    names = sorted(set(candidates))
    return rng.choice(names) if names else None


class Chaos:
    """Kills a demo service every ``every`` seconds (roughly); ``tick()`` is called often
    and does nothing until it is time.

    Only services the demo inventory wants running and that run now are candidates: killing
    one makes a drift. When none runs (all are already down, say waiting for approval), the
    turn is skipped."""

    def __init__(
        self,
        repo: Path,
        services_dir: Path,
        every: float = DEFAULT_EVERY,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if not every >= MIN_EVERY:  # also refuses NaN
            raise ValueError(f"the chaos interval must be at least {MIN_EVERY:g} s")
        self.repo, self.services_dir, self.every = repo, services_dir, every
        self._clock, self._rng = clock, rng or random.Random()  # noqa: S311 - not security
        self.next_at = clock() + next_delay(every, self._rng)

    def tick(self) -> str | None:
        """Kill a service if it is time; returns its name."""
        now = self._clock()
        if now < self.next_at:
            return None
        self.next_at = now + next_delay(self.every, self._rng)
        victim = self.strike()
        wait = self.next_at - now
        if victim is None:
            log.info("chaos: no demo service is running to kill; next try in %.0f s", wait)
        return victim

    def strike(self) -> str | None:
        from homelab.demo import service, setup

        running = {
            name: pid
            for name in setup.wanted_running(self.repo)
            if (pid := service.running_pid(self.services_dir / f"{name}.pid")) is not None
        }
        victim = pick(running, self._rng)
        if victim is None:
            return None
        try:
            os.kill(running[victim], signal.SIGKILL)
        except ProcessLookupError:  # it stopped by itself in between: still a drift
            pass
        wait = self.next_at - self._clock()
        log.info(
            "chaos: killed %s (pid %d, SIGKILL); the next kill in %.0f s",
            victim,
            running[victim],
            wait,
        )
        return victim
