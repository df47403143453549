"""The one feed from the bus: a startup task follows it (``bus.aio``) and tells pages what
changed, so no page polls a file or opens a socket of its own."""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable

from nicegui import Client, context

from bus import aio
from bus.envelope import Message

log = logging.getLogger("homelab.ui")
RECENT = 500  # messages kept for the Events page's first screen


class Feed:
    def __init__(self, endpoint: str, allowed: Callable[[Client], bool] = lambda client: True):
        """``allowed``: whether a page may still receive messages (its session holds)."""
        self.endpoint, self.allowed = endpoint, allowed
        self._listeners: list[tuple[Client, Callable[[Message], None]]] = []
        self.recent: collections.deque[Message] = collections.deque(maxlen=RECENT)

    async def run(self) -> None:
        """Follow the bus from now on (pages read the state so far from the read model)."""
        async for message in aio.AsyncSubscriber(self.endpoint):
            self.recent.append(message)
            self._tell(message)

    def subscribe(self, callback: Callable[[Message], None]) -> None:
        """Call ``callback`` with every message while the page being built stays open."""
        self._listeners.append((context.client, callback))

    def _tell(self, message: Message) -> None:
        self._listeners = [(c, f) for c, f in self._listeners if not c.is_deleted]
        for client, callback in self._listeners:
            if not self.allowed(client):
                continue
            with client:
                try:
                    callback(message)
                except Exception:  # one page's bug must not stop the feed for the others
                    log.exception("a page failed on %s", message.topic)
