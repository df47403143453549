"""The login limit, with a clock of our own: per address, per name with a back-off, and
never against a browser where the operator logged in before."""

from __future__ import annotations

import pytest

from gui.limiter import Attempt, LoginLimiter


@pytest.fixture
def clock():
    return [1000.0]


@pytest.fixture
def limiter(clock):
    return LoginLimiter(per_address=5, window=60, name_free=10, clock=lambda: clock[0])


def test_thirty_attempts_at_once_reserve_five(limiter):
    """Reserved before the password is checked: 30 logins in flight are 30 attempts."""
    reserved = [limiter.reserve("10.0.0.1", "oskar") for _ in range(30)]
    assert sum(isinstance(r, Attempt) for r in reserved) == 5
    assert all(r == 60 for r in reserved if not isinstance(r, Attempt))


def test_a_right_password_gives_its_attempt_back(limiter):
    for _ in range(4):
        limiter.failed(limiter.reserve("10.0.0.1", "oskar"))
    attempt = limiter.reserve("10.0.0.1", "oskar")
    limiter.succeeded(attempt)
    assert isinstance(limiter.reserve("10.0.0.1", "oskar"), Attempt)


def test_the_window_slides(limiter, clock):
    for _ in range(5):
        limiter.failed(limiter.reserve("10.0.0.1", "oskar"))
    assert limiter.reserve("10.0.0.1", "oskar") == 60
    assert isinstance(limiter.reserve("10.0.0.2", "oskar"), Attempt)  # another address
    clock[0] += 61
    assert isinstance(limiter.reserve("10.0.0.1", "oskar"), Attempt)


def test_many_addresses_guessing_one_name_back_off_new_browsers_only(limiter, clock):
    for n in range(10):
        limiter.failed(limiter.reserve(f"10.0.1.{n}", "oskar"))
    assert limiter.reserve("10.0.2.1", "oskar") == pytest.approx(1.0)  # doubling from 1 s
    clock[0] += 1.5
    limiter.failed(limiter.reserve("10.0.1.99", "oskar"))
    assert limiter.reserve("10.0.2.1", "oskar") == pytest.approx(2.0)
    assert isinstance(limiter.reserve("10.0.2.1", "bob"), Attempt)  # other names are free
    # the operator's own browser (its device cookie) is never held back by others' guesses
    assert isinstance(limiter.reserve("10.0.1.0", "oskar", device="d1"), Attempt)


def test_a_known_browser_still_has_a_limit_of_its_own(limiter):
    for _ in range(5):
        limiter.failed(limiter.reserve("10.0.0.1", "oskar", device="stolen-laptop"))
    assert limiter.reserve("10.0.0.1", "oskar", device="stolen-laptop") == 60


def test_memory_is_bounded(clock):
    limiter = LoginLimiter(clock=lambda: clock[0], max_keys=100)
    for n in range(500):
        limiter.reserve(f"10.1.{n // 250}.{n % 250}", f"name{n}")
    assert len(limiter._failures) <= 100  # noqa: SLF001
