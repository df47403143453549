"""What an actor publishes through and reads from: two small protocols.

An actor class takes a ``Publish`` (``bus.outbox.Outbox`` in a process) and, when it reads
the bus, a ``Subscribe`` (``Subscriptions`` here: reconnecting ``bus.client.Subscriber``\\ s);
its module's ``run()`` builds the real ones. ``bus.stub.StubBus`` is both, in memory, so a
test drives an actor with no socket:

    bus = StubBus()
    supervisor = Supervisor(root, repo, bus.outbox("supervisor"), bus)
"""

from __future__ import annotations

import concurrent.futures
from typing import Any, Protocol

from bus import client
from bus.envelope import Message


class Publish(Protocol):
    """Messages out, from any thread, held while the broker is away (``Outbox``)."""

    def send(
        self, topic: str, payload: dict[str, Any], *, id: str | None = None
    ) -> concurrent.futures.Future:
        """Queue one message; the Future gives its seq once it is durable."""

    def publish(
        self, topic: str, payload: dict[str, Any], *, id: str | None = None, timeout: float = 30.0
    ) -> int:
        """Send one message and wait until it is durable; its seq."""

    def drained(self, timeout: float = 0.0) -> bool:
        """Whether every message sent so far is durable (or refused)."""

    def close(self, timeout: float = 10.0) -> bool:
        """Send what is queued (within ``timeout``), then stop; False if some was left."""


class Feed(Protocol):
    """Messages in, in sequence order (``client.Subscriber``)."""

    def get(self, timeout: float | None = 1.0) -> Message | None:
        """The next message, or None when ``timeout`` seconds pass without one."""

    def close(self) -> None: ...


class Subscribe(Protocol):
    """Opens a feed of the topics under ``prefixes`` from seq ``since`` (None: from now)."""

    endpoint: str  # where the feed comes from, for log lines

    def __call__(self, *prefixes: str, since: int | None = None) -> Feed: ...


class Subscriptions:
    """The real ``Subscribe``: subscribers to the broker at ``endpoint`` that wait for a
    broker that is away (``reconnect``), asking it at most ``timeout`` seconds at a time."""

    def __init__(self, endpoint: str, *, timeout: float = 5.0):
        self.endpoint, self.timeout = endpoint, timeout

    def __call__(self, *prefixes: str, since: int | None = None) -> client.Subscriber:
        return client.Subscriber(
            self.endpoint, *prefixes, since=since, timeout=self.timeout, reconnect=True
        )
