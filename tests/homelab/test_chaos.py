"""``up --chaos``'s timing and choice (the kill itself: tests/e2e/test_up.py)."""

from __future__ import annotations

import logging
import math
import random
from pathlib import Path

import pytest

from homelab import chaos


def test_the_delay_is_the_interval_give_or_take_a_tenth() -> None:
    rng = random.Random(7)
    delays = [chaos.next_delay(180, rng) for _ in range(500)]
    assert all(162 <= d <= 198 for d in delays)
    assert max(delays) - min(delays) > 20  # it does vary: kills do not fall in step


def test_pick_is_one_of_the_candidates_whatever_their_order() -> None:
    assert chaos.pick([], random.Random(1)) is None
    assert chaos.pick(["demo-web"], random.Random(1)) == "demo-web"
    names = ["demo-web", "demo-cache", "demo-api"]
    picked = {chaos.pick(names, random.Random(seed)) for seed in range(50)}
    assert picked == set(names)
    assert chaos.pick(names, random.Random(3)) == chaos.pick(reversed(names), random.Random(3))


@pytest.mark.parametrize("every", [0, 0.5, -1, math.nan])
def test_a_nonsense_interval_is_refused(tmp_path: Path, every: float) -> None:
    with pytest.raises(ValueError, match="at least 1 s"):
        chaos.Chaos(tmp_path, tmp_path, every)


def test_tick_waits_for_its_time_then_tries_and_says_so_when_nothing_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="homelab.up")
    now = [1000.0]
    monkey = chaos.Chaos(tmp_path, tmp_path, 10, clock=lambda: now[0], rng=random.Random(2))
    assert 1009 <= monkey.next_at <= 1011
    now[0] = monkey.next_at - 0.01
    assert monkey.tick() is None and caplog.text == ""  # not yet
    now[0] += 0.01
    assert monkey.tick() is None  # no inventory here, so nothing runs
    assert "chaos: no demo service is running to kill; next try in" in caplog.text
    assert now[0] + 9 <= monkey.next_at <= now[0] + 11
