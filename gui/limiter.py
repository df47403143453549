"""How many password guesses the login takes, and from whom. Pure: the clock comes in.

Three limits, each a sliding window of failures:

- per client address: ``per_address`` failures a minute. The address is the browser's as the
  trusted proxy reports it (``HOMELAB_UI_TRUSTED_PROXIES``), so one attacker does not stand
  for everyone behind Nginx Proxy Manager.
- per operator name, from browsers that never logged in as that operator: after
  ``name_free`` failures in ``name_window`` seconds, a back-off that doubles with each further
  failure (up to ``name_max_wait``). Many addresses guessing one name are slowed down...
- ...but a browser that logged in as that operator before (it holds a signed device cookie,
  ``gui.sessions``) is not subject to the per-name or per-address limits, only to its own
  ``per_address`` failures a minute: an attacker can never lock the operator out of their
  own browser.

An attempt is *reserved* before the password is checked (counted as a failure until it
succeeds), so thirty logins sent at once are thirty attempts against the limit, not one.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable

MAX_KEYS = 10_000  # addresses, names and devices remembered at most


@dataclasses.dataclass(frozen=True)
class Attempt:
    """A reserved attempt: pass it back to ``succeeded`` or ``failed``."""

    keys: tuple[str, ...]
    at: float


class LoginLimiter:
    def __init__(
        self,
        per_address: int = 5,
        window: float = 60.0,
        name_free: int = 10,
        name_window: float = 900.0,
        name_max_wait: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ):
        self.per_address, self.window = per_address, window
        self.name_free, self.name_window, self.name_max_wait = name_free, name_window, name_max_wait
        self.clock, self.max_keys = clock, max_keys
        self._failures: dict[str, collections.deque[float]] = {}

    def reserve(self, address: str, name: str, device: str | None = None) -> Attempt | float:
        """Reserve one attempt for ``name`` from ``address`` (``device``: the id of a browser
        that logged in as ``name`` before); or the seconds to wait before the next one."""
        now = self.clock()
        if device:
            keys: tuple[str, ...] = (f"device:{device}",)
            wait = self._window_wait(keys[0], self.per_address, now)
        else:
            keys = (f"address:{address}", f"name:{name}")
            wait = max(
                self._window_wait(keys[0], self.per_address, now), self._name_wait(keys[1], now)
            )
        if wait > 0:
            return wait
        for key in keys:
            self._recent(key, now, self.name_window).append(now)
        self._forget_quiet(now)
        return Attempt(keys, now)

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: the reservation was no failure."""
        for key in attempt.keys:
            failures = self._failures.get(key)
            if failures and attempt.at in failures:
                failures.remove(attempt.at)

    def failed(self, attempt: Attempt) -> None:
        """The password was wrong: the reservation stays counted."""

    def _window_wait(self, key: str, limit: int, now: float) -> float:
        recent = [t for t in self._recent(key, now, self.name_window) if t > now - self.window]
        if len(recent) < limit:
            return 0.0
        return recent[-limit] + self.window - now

    def _name_wait(self, key: str, now: float) -> float:
        failures = self._recent(key, now, self.name_window)
        over = len(failures) - self.name_free
        if over < 0:
            return 0.0
        return max(0.0, failures[-1] + min(2.0**over, self.name_max_wait) - now)

    def _recent(self, key: str, now: float, keep: float) -> collections.deque[float]:
        failures = self._failures.setdefault(key, collections.deque())
        while failures and failures[0] <= now - max(keep, self.window):
            failures.popleft()
        return failures

    def _forget_quiet(self, now: float) -> None:
        if len(self._failures) <= self.max_keys:
            return
        for key in list(self._failures):
            if not self._recent(key, now, self.name_window):
                del self._failures[key]
        while len(self._failures) > self.max_keys:  # all busy: forget the oldest keys first
            del self._failures[next(iter(self._failures))]
