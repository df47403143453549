"""Per-client publish limits: token buckets, refusals that hold, counts per client."""

from __future__ import annotations

import pytest

from bus.limits import IDLE, MIN_WAIT, Limiter, Limits

LIMITS = Limits(messages=100, bytes=10_000, burst=2.0)


def test_a_client_within_its_limits_is_never_refused():
    limiter = Limiter(LIMITS)
    for tick in range(100):  # 50 messages/s for 10 s, at half the limit
        assert limiter.admit("conn:a", 5, 100, tick * 0.1) == (0.0, "")
    assert limiter.deferred == 0 and limiter.status(10.0) == []


def test_a_burst_is_admitted_then_the_client_waits_for_its_bucket_to_refill():
    limiter = Limiter(LIMITS)
    assert limiter.admit("conn:a", 150, 100, 0.0)[0] == 0  # 200 in the bucket
    assert limiter.admit("conn:a", 100, 100, 0.0)[0] == 0  # down to -50: still went through
    wait, reason = limiter.admit("conn:a", 1, 100, 0.0)
    assert wait == pytest.approx(0.5)  # 50 messages below zero at 100/s
    assert reason.startswith("rate limit: conn:a sent more than 100 messages/s")
    assert limiter.admit("conn:a", 1, 100, 0.51)[0] == 0


def test_bytes_are_limited_like_messages():
    limiter = Limiter(LIMITS)
    limiter.admit("conn:a", 1, 30_000, 0.0)  # 20,000 in the bucket: 10,000 below zero
    wait, _ = limiter.admit("conn:a", 1, 1, 0.0)
    assert wait == pytest.approx(1.0)


def test_a_refused_client_stays_refused_until_its_wait_is_over_so_its_order_holds():
    limiter = Limiter(LIMITS)
    limiter.admit("conn:a", 201, 100, 0.0)
    first, _ = limiter.admit("conn:a", 1, 100, 0.0)
    later, _ = limiter.admit("conn:a", 1, 100, first / 2)  # the bucket has refilled a bit
    assert later == pytest.approx(first / 2)
    assert limiter.clients["conn:a"].deferred == 2


def test_one_client_over_its_limit_does_not_touch_another():
    limiter = Limiter(LIMITS)
    limiter.admit("conn:flood", 10_000, 100, 0.0)
    assert limiter.admit("conn:flood", 1, 1, 0.0)[0] > 0
    assert limiter.admit("conn:quiet", 1, 1, 0.0) == (0.0, "")


def test_refusals_are_counted_per_client_and_shown_most_first():
    limiter = Limiter(LIMITS)
    limiter.admit("conn:a", 500, 1, 0.0)
    limiter.admit("conn:b", 500, 1, 0.0)
    limiter.saw("conn:a", "tool:a")
    for _ in range(3):
        limiter.admit("conn:a", 10, 1, 0.0)
    limiter.admit("conn:b", 10, 1, 0.0)
    assert limiter.status(0.0) == [
        {"client": "conn:a", "source": "tool:a", "deferred": 30, "limited": True},
        {"client": "conn:b", "source": "", "deferred": 10, "limited": True},
    ]
    assert limiter.deferred == 40
    assert [c["limited"] for c in limiter.status(100.0)] == [False, False]


def test_a_limit_of_zero_is_no_limit():
    limiter = Limiter(Limits(messages=0, bytes=1000, burst=1.0))
    assert limiter.admit("conn:a", 1_000_000, 10, 0.0) == (0.0, "")
    assert limiter.admit("conn:a", 1_000_000, 10, 0.0) == (0.0, "")
    assert "messages/s" not in limiter.describe()


def test_idle_clients_with_full_buckets_are_forgotten():
    limiter = Limiter(LIMITS)
    limiter.admit("conn:a", 1, 1, 0.0)
    limiter.admit("conn:b", 1000, 1, IDLE)
    limiter.forget_idle(IDLE + 1.0)
    assert set(limiter.clients) == {"conn:b"}


def test_a_refusal_asks_for_a_short_wait_at_least():
    limiter = Limiter(LIMITS)
    limiter.admit("conn:a", 200, 1, 0.0)  # exactly empty
    assert limiter.admit("conn:a", 1, 1, 0.0)[0] == pytest.approx(MIN_WAIT)
