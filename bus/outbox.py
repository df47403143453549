"""One way for an actor process to publish from any thread: the ``Outbox``.

A ``Publisher`` is not thread-safe; an actor has a main loop, worker threads and sometimes an
event loop that all need to publish. The outbox owns the publisher in one thread and takes
messages from any of them:

    outbox = Outbox(endpoint, source="executor")
    outbox.send("action.output", {...}, id="output-a1-7")      # queued, returns a Future
    seq = outbox.publish("action.running", {...}, id="running-a1")  # waits until durable
    await asyncio.wrap_future(outbox.send(...))                 # from asyncio code
    outbox.drained(timeout=5)                                   # is everything durable?

While the broker is away, or asks to wait (its disk is full, or this publisher went over
its limit), messages wait and are sent again (with the same ids, so each is stored once)
until it takes them: the reason is logged once, and its end. A message the broker refuses
fails its Future (and is logged). Messages from one thread keep their order.

It is the ``ports.Publish`` an actor's ``run()`` gives it; tests give ``bus.stub.StubBus``'s.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
from typing import Any

from bus import client, envelope, keys

log = logging.getLogger("homelab.bus")
BATCH = 500  # messages taken from the queue at once
RETRY_AFTER = 1.0  # seconds between tries while the broker is away

_Item = tuple[str, dict[str, Any], str | None, concurrent.futures.Future]


class Full(client.BusError):
    """More messages wait than the outbox holds (the broker has been away a while)."""


class Outbox:
    """``limit``: how many unsent messages it holds before ``send`` raises Full (None: no
    limit). Perishable messages (observations) want one; decisions and results do not."""

    def __init__(
        self,
        endpoint: str,
        source: str,
        *,
        timeout: float = 5.0,
        limit: int | None = None,
        curve: object = keys.PROCESS,
    ):
        self.endpoint, self.source, self.limit = endpoint, source, limit
        self._publisher = client.Publisher(endpoint, source, timeout=timeout, curve=curve)
        self._items: queue.Queue[_Item | None] = queue.Queue()
        self._unsent = 0  # queued or in flight, not yet durable or refused
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._closing = False
        self.trouble: str | None = None  # why messages wait now (None: they do not)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"outbox-{source}", daemon=True)
        self._thread.start()

    def send(
        self, topic: str, payload: dict[str, Any], *, id: str | None = None
    ) -> concurrent.futures.Future:
        """Queue one message; the Future gives its sequence number once it is durable."""
        wire = envelope.encode_wire(topic, id or "-", self.source, payload)  # fails here, not later
        if len(wire) > client.BATCH_BYTES:
            raise client.PublishRejected(
                f"{topic}: {len(wire)} bytes is larger than any broker accepts"
            )
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            if self._closing:
                raise client.BusError("the outbox is closed")
            if self.limit is not None and self._unsent >= self.limit:
                raise Full(f"{self._unsent} messages wait for the broker at {self.endpoint}")
            self._unsent += 1
        self._items.put((topic, payload, id, future))
        return future

    def publish(
        self, topic: str, payload: dict[str, Any], *, id: str | None = None, timeout: float = 30.0
    ) -> int:
        """Send one message and wait until it is durable; BusUnavailable after ``timeout``."""
        try:
            return self.send(topic, payload, id=id).result(timeout)
        except concurrent.futures.TimeoutError:
            trouble = self.trouble
            if trouble is not None and not trouble.startswith("no answer"):
                raise client.PublishDeferred(
                    f"{topic} not durable within {timeout:g} s: {trouble}"
                ) from None
            raise client.BusUnavailable(
                f"{topic} not durable within {timeout:g} s: the broker at {self.endpoint} is away"
            ) from None

    def drained(self, timeout: float = 0.0) -> bool:
        """True once every message sent so far is durable (or refused)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unsent == 0, timeout)

    def close(self, timeout: float = 10.0) -> bool:
        """Send what is queued (for up to ``timeout`` seconds), then stop; False if some
        messages were left unsent (logged)."""
        with self._lock:
            if self._stop.is_set():  # closed already
                return self._unsent == 0
            self._closing = True
        drained = self.drained(timeout)
        if not drained:
            log.error("%d message(s) from %s left unsent", self._unsent, self.source)
        self._stop.set()
        self._items.put(None)
        self._thread.join(timeout=RETRY_AFTER + 1)
        if not self._thread.is_alive():  # else it still uses the socket: leave it be
            self._publisher.close()
        return drained

    def _loop(self) -> None:
        while True:
            first = self._items.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < BATCH:
                try:
                    item = self._items.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._items.put(None)  # stop after this batch
                    break
                batch.append(item)
            while (trouble := self._deliver(batch)) is not None:
                if self.trouble is None:
                    log.warning("holding messages from %s: %s", self.source, trouble)
                self.trouble = trouble
                if self._stop.wait(RETRY_AFTER):
                    return
            if self.trouble is not None:
                log.info(
                    "the broker at %s takes messages from %s again", self.endpoint, self.source
                )
                self.trouble = None

    def _deliver(self, batch: list[_Item]) -> str | None:
        """Publish a batch; why not, if the broker did not take it (try again: same ids)."""
        messages = []
        for index, (topic, payload, msg_id, future) in enumerate(batch):
            if msg_id is None:  # chosen once, so a second try is recognised as the same
                msg_id = self._publisher.new_id()
                batch[index] = (topic, payload, msg_id, future)
            messages.append((topic, payload, msg_id))
        try:
            results = self._publisher.publish_batch(messages)
        except (client.BusUnavailable, client.PublishDeferred) as err:
            return str(err)
        except client.BusError as err:  # no retry would help
            results = [str(err)] * len(batch)
        for (topic, _, _, future), result in zip(batch, results, strict=True):
            if isinstance(result, str):
                log.error("the broker refused %s from %s: %s", topic, self.source, result)
                future.set_exception(client.PublishRejected(result))
            else:
                future.set_result(result)
        with self._idle:
            self._unsent -= len(batch)
            self._idle.notify_all()
        return None
