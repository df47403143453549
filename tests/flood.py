"""Raw clients that flood the bus, bounded in count and time (for the flood tests)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bus import client

FLOOD_MESSAGES = 400_000  # at most, over all flooders of one flood


def flood(endpoint: str, stop: threading.Event, sent: list[int], payload: dict) -> None:
    """Publish batches as fast as the broker takes them until ``stop`` or the cap."""
    batch = 500
    with client.Publisher(endpoint, "flood", timeout=10) as publisher:
        n = 0
        while not stop.is_set() and sum(sent) < FLOOD_MESSAGES:
            try:
                publisher.publish_batch(
                    [(f"flood.{n % 7}", payload, f"f-{id(stop)}-{n + i}") for i in range(batch)]
                )
            except client.BusError:
                time.sleep(0.05)  # refused (a limit): a flooder just tries again
                continue
            n += batch
            sent.append(batch)


@contextmanager
def flooding(endpoint: str, flooders: int = 3, payload: dict | None = None) -> Iterator[list[int]]:
    """``flooders`` threads flood the bus while the block runs; yields the batches sent."""
    stop, sent = threading.Event(), [0]
    threads = [
        threading.Thread(target=flood, args=(endpoint, stop, sent, payload or {"n": 1}))
        for _ in range(flooders)
    ]
    for t in threads:
        t.start()
    try:
        yield sent
    finally:
        stop.set()
        for t in threads:
            t.join(30)
