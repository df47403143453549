"""A burst of messages is one redraw."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from nicegui import background_tasks

AT_MOST_EVERY = 0.3  # seconds between redraws of one part


class Redraw:
    """``soon()`` asks for ``draw()``; it runs at most every ``every`` seconds, once for
    everything asked meanwhile. Nothing is read: ``draw`` shows what is already held."""

    def __init__(self, draw: Callable[[], None], every: float = AT_MOST_EVERY):
        self.draw, self.every = draw, every
        self.pending, self.last = False, 0.0

    def soon(self) -> None:
        if not self.pending:
            self.pending = True
            background_tasks.create(self._later(), name="redraw")  # held until it ran

    async def _later(self) -> None:
        await asyncio.sleep(max(0.0, self.last + self.every - time.monotonic()))
        self.pending, self.last = False, time.monotonic()
        self.draw()
