"""The one feed from the bus: a startup task follows it (``bus.aio``) and tells pages what
changed, so no page polls a file or opens a socket of its own.

Anyone may publish (``homelab emit``, the inbox, scripts), so the feed applies the control
plane's one rule of who may say what (``actors.domain.publishers.may_publish``): a page that
shows the control plane's state hears its topics only from their owner (an ``action.output``
line from ``emit`` is not the executor's), while the Events tap hears everything and shows
who sent it."""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable

from nicegui import Client, context

from actors.domain import publishers
from bus import aio
from bus.envelope import Message

log = logging.getLogger("homelab.ui")
RECENT = 500  # messages kept for the Events page's first screen


def trusted(message: Message) -> bool:
    """True unless the message claims a topic of the control plane's that its source does
    not own."""
    return publishers.may_publish(message.source, message.topic)


class Feed:
    def __init__(self, endpoint: str, allowed: Callable[[Client], bool] = lambda client: True):
        """``allowed``: whether a page may still receive messages (its session holds)."""
        self.endpoint, self.allowed = endpoint, allowed
        self._listeners: list[tuple[Client, Callable[[Message], None], bool]] = []
        self.recent: collections.deque[Message] = collections.deque(maxlen=RECENT)

    async def run(self) -> None:
        """Follow the bus from now on (pages read the state so far from the read model)."""
        async for message in aio.AsyncSubscriber(self.endpoint):
            self.recent.append(message)
            self._tell(message)

    def recent_trusted(self) -> list[Message]:
        """The recent messages a view of the control plane's state may use."""
        return [m for m in self.recent if trusted(m)]

    def subscribe(self, callback: Callable[[Message], None], *, anyone: bool = False) -> None:
        """Call ``callback`` with every trusted message (``anyone``: every message at all)
        while the page being built stays open."""
        self._listeners.append((context.client, callback, anyone))

    def _tell(self, message: Message) -> None:
        self._listeners = [entry for entry in self._listeners if not entry[0].is_deleted]
        believed = trusted(message)
        for client, callback, anyone in self._listeners:
            if not (believed or anyone) or not self.allowed(client):
                continue
            with client:
                try:
                    callback(message)
                except Exception:  # one page's bug must not stop the feed for the others
                    log.exception("a page failed on %s", message.topic)
