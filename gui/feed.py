"""The one feed from the bus: a startup task follows it (``bus.aio``) and tells pages what
changed, so no page polls a file or opens a socket of its own.

Anyone may publish (``homelab emit``, the inbox, scripts), so the feed applies the control
plane's one rule of who may say what (``actors.readmodel.publishers.may_publish``): a page that
shows the control plane's state hears its topics only from their owner (an ``action.output``
line from ``emit`` is not the executor's), while the Events tap hears everything and shows
who sent it."""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable

from nicegui import Client, Event, context

from actors.domain import topics
from actors.readmodel import publishers
from actors.readmodel.models import BusStatus
from bus import aio
from bus.envelope import Message

RECENT = 500  # messages kept for the Events page's first screen
BUDGET = 200.0  # messages a second the pages are told of, beyond the control plane's own
BURST = 1000.0  # ... and at once, after a quiet spell
STALE = 5.0  # seconds without the broker's bus.stats before its figures are old


def trusted(message: Message) -> bool:
    """True unless the message claims a topic of the control plane's that its source does
    not own."""
    return publishers.may_publish(message.source, message.topic)


class Feed:
    """Never behind, never blocking: the subscription is lossy (a page cannot show 60,000
    messages a second; what the socket could not hold is skipped and counted), pages are
    told of at most ``BUDGET`` messages a second (``BURST`` at once) besides the control
    plane's own (the rest are counted in ``dropped``), and the event loop gets a turn after every frame, so
    ``/healthz`` and Approve answer during any flood."""

    def __init__(self, endpoint: str, allowed: Callable[[Client], bool] = lambda client: True):
        """``allowed``: whether a page may still receive messages (its session holds)."""
        self.endpoint, self.allowed = endpoint, allowed
        self._trusted: Event[[Message]] = Event()  # the control plane's state, from its owners
        self._anyone: Event[[Message]] = Event()  # every message (the Events tap)
        self.recent: collections.deque[Message] = collections.deque(maxlen=RECENT)
        self._subscriber: aio.AsyncSubscriber | None = None
        self._over_budget = 0
        self._tokens, self._filled = BURST, time.monotonic()
        self._stats: Message | None = None  # the broker's latest bus.stats
        self._stats_at = 0.0  # when it came (monotonic)

    async def run(self) -> None:
        """Follow the bus from now on (pages read the state so far from the read model)."""
        self._subscriber = aio.AsyncSubscriber(self.endpoint, lossy=True)
        async for message in self._subscriber:
            if message.topic == topics.BUS_STATS and message.source == "broker":
                self._stats, self._stats_at = message, time.monotonic()
            if not self._within_budget(message):
                self._over_budget += 1
                continue
            self.recent.append(message)
            self._tell(message)

    @property
    def dropped(self) -> int:
        """Messages no page was told of: too many, too fast (since the UI started)."""
        skipped = self._subscriber.skipped if self._subscriber else 0
        return skipped + self._over_budget

    def bus_status(self) -> BusStatus | None:
        """The broker's figures from its latest ``bus.stats``; None when none came for
        ``STALE`` seconds (the broker is away, or sends none: ask it)."""
        if self._stats is None or time.monotonic() - self._stats_at > STALE:
            return None
        figures = {k: v for k, v in self._stats.payload.items() if k not in BusStatus.model_fields}
        return BusStatus(endpoint=self.endpoint, reachable=True, **figures)

    def _within_budget(self, message: Message) -> bool:
        """The control plane's own messages always; others while the budget lasts."""
        if publishers.owned(message.topic) and trusted(message):
            return True
        now = time.monotonic()
        self._tokens = min(BURST, self._tokens + (now - self._filled) * BUDGET)
        self._filled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def recent_trusted(self) -> list[Message]:
        """The recent messages a view of the control plane's state may use."""
        return [m for m in self.recent if trusted(m)]

    def subscribe(self, callback: Callable[[Message], None], *, anyone: bool = False) -> None:
        """Call ``callback`` with every trusted message (``anyone``: every message at all)
        while the page being built stays open (NiceGUI's ``Event`` forgets it with its
        client) and its session holds."""
        listener = Listener(context.client, callback, self.allowed)
        (self._anyone if anyone else self._trusted).subscribe(listener, expect_args=True)

    def _tell(self, message: Message) -> None:
        """A page's failure is logged by NiceGUI and does not stop the feed for the others."""
        if trusted(message):
            self._trusted.emit(message)
        self._anyone.emit(message)


@dataclasses.dataclass(frozen=True, eq=False)  # each page's own, even for one callback
class Listener:
    """One page's callback, told only while the session that opened the page holds."""

    client: Client
    callback: Callable[[Message], None]
    allowed: Callable[[Client], bool]

    def __call__(self, message: Message) -> None:
        if self.allowed(self.client):
            self.callback(message)
