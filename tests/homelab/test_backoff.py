"""The restart delay policy of ``homelab up``."""

from __future__ import annotations

import pytest

from homelab.backoff import Backoff


@pytest.mark.parametrize(
    ("kwargs", "ran_for", "expected"),
    [
        ({}, [0] * 8, [1, 2, 4, 8, 16, 30, 30, 30]),  # 1 s doubling to 30 s
        ({"initial": 1, "factor": 3, "maximum": 10}, [0] * 4, [1, 3, 9, 10]),
        ({}, [1, 1, 1, 61, 1], [1, 2, 4, 1, 2]),  # a long healthy run resets
        ({}, [1, 1, 60, 1], [1, 2, 4, 8]),  # exactly reset_after is not "longer than"
        ({"reset_after": 5}, [1, 6, 6], [1, 1, 1]),
        ({"factor": 1}, [0] * 3, [1, 1, 1]),
        ({"initial": 0, "maximum": 0}, [0] * 2, [0, 0]),
    ],
)
def test_backoff_table(kwargs: dict, ran_for: list[float], expected: list[float]) -> None:
    backoff, now, delays = Backoff(**kwargs), 1000.0, []
    for seconds in ran_for:
        delays.append(backoff.next_delay(now, now - seconds))
        now += 100
    assert delays == expected


def test_a_crash_loop_waits_at_most_the_maximum_and_recovers_after_a_healthy_run() -> None:
    backoff, now = Backoff(), 0.0
    for _ in range(50):  # a child that crashes at once, fifty times
        delay = backoff.next_delay(now, now)
        assert delay <= 30
        now += delay
    assert delay == 30
    assert backoff.next_delay(now + 120, now) == 1  # then ran two minutes before crashing


@pytest.mark.parametrize("kwargs", [{"initial": -1}, {"factor": 0.5}, {"maximum": 0.1}])
def test_backoff_rejects_nonsense(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)
