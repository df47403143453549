"""The restart delay policy of ``homelab up``: pure, so it is tested without processes."""

from __future__ import annotations

INITIAL = 1.0  # seconds before the first restart
FACTOR = 2.0
MAXIMUM = 30.0
RESET_AFTER = 60.0  # a run longer than this counts as healthy


class Backoff:
    """``initial``, then times ``factor`` per crash, capped at ``maximum``; a child that ran
    for more than ``reset_after`` seconds starts again from ``initial``, so one crash after a
    long healthy run is not punished for old crashes."""

    def __init__(
        self,
        initial: float = INITIAL,
        factor: float = FACTOR,
        maximum: float = MAXIMUM,
        reset_after: float = RESET_AFTER,
    ) -> None:
        if initial < 0 or factor < 1 or maximum < initial:
            raise ValueError("need 0 <= initial <= maximum and factor >= 1")
        self.initial, self.factor = initial, factor
        self.maximum, self.reset_after = maximum, reset_after
        self._next = initial

    def next_delay(self, now: float, started_at: float) -> float:
        """The delay before restarting a child that started at ``started_at`` and exited
        at ``now`` (both from the same monotonic clock)."""
        if now - started_at > self.reset_after:
            self._next = self.initial
        delay = self._next
        self._next = min(self._next * self.factor, self.maximum)
        return delay
