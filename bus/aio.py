"""The bus for asyncio programs (the NiceGUI app): the same guarantees as ``client``.

    publisher = AsyncPublisher(endpoint, source="ui:oskar")
    seq = await publisher.publish("action.request.approve", {...})   # once on disk

    async for message in AsyncSubscriber(endpoint, "action.", since=1):  # log, then live
        ...

Sockets are made inside the running loop on first use, so both can be created anywhere.
Neither blocks the loop; both outlive a broker restart (the publisher resends with the same
id, which the broker stores once; the subscriber fills any gap from the log).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import msgpack
import zmq
import zmq.asyncio

from bus import envelope, keys, protocol
from bus.client import (
    BATCH_BYTES,
    DEFAULT_ENDPOINT,
    FETCH_LIMIT,
    RESEND_AFTER,
    BusError,
    PublishDeferred,
    PublishRejected,
    dealer_socket,
    publish_endpoint,
    unavailable,
)
from bus.envelope import Message
from bus.subscription import Tracker

LOSSY_QUEUE = 256  # publication frames a lossy subscriber's socket holds at most


class AsyncPublisher:
    """``publish`` returns the message's sequence number once the broker has it on disk.

    Calls from many tasks are fine: they are sent one at a time, in call order (the UI
    publishes a few requests a minute; order matters more than throughput here)."""

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        source: str | None = None,
        *,
        timeout: float = 10.0,
        curve: object = keys.PROCESS,
    ):
        self.endpoint, self.curve = endpoint, curve
        self.source = source or f"pid{os.getpid()}"
        envelope.validate_heads([("a", "a", self.source)])
        self.timeout = timeout
        self._prefix = os.urandom(6).hex() + "-"
        self._ids = itertools.count(1)
        self._batches = itertools.count(1)
        self._packer = msgpack.Packer()
        self._sock: zmq.asyncio.Socket | None = None
        self._lock: asyncio.Lock | None = None

    async def publish(self, topic: str, payload: dict[str, Any], *, id: str | None = None) -> int:
        wire = envelope.encode_wire(
            topic, id or f"{self._prefix}{next(self._ids)}", self.source, payload, self._packer
        )
        if len(wire) > BATCH_BYTES:
            raise PublishRejected(f"message of {len(wire)} bytes is larger than any broker accepts")
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            if self._sock is None:
                ctx = zmq.asyncio.Context.instance()
                self._sock = dealer_socket(ctx, self.endpoint, self.source, self.curve)
            reply = await self._until_taken(self._sock, wire)
        if reply[0] == "err":
            raise PublishRejected(f"broker rejected the message: {reply[2]}")
        result = reply[2][0]
        if isinstance(result, str):
            raise PublishRejected(f"broker rejected the message: {result}")
        return result

    async def _until_taken(self, sock: zmq.asyncio.Socket, wire: bytes) -> tuple:
        """Send until the broker answers other than ``retry`` (it asked to wait: its disk,
        a limit), or raise PublishDeferred with its reason after ``timeout`` seconds."""
        deadline = time.monotonic() + self.timeout
        while True:
            batch = next(self._batches)
            reply = await _ask(sock, protocol.encode_publish(batch, [wire]), batch, self)
            if reply[0] != "retry":
                return reply
            if time.monotonic() + reply[3] > deadline:
                raise PublishDeferred(f"the broker cannot take it now: {reply[2]}")
            await asyncio.sleep(reply[3])

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close(0)
            self._sock = None


async def _ask(sock: zmq.asyncio.Socket, frame: bytes, number: int, owner) -> tuple:
    """Send ``frame`` until the reply numbered ``number`` comes; BusUnavailable after
    ``owner.timeout`` seconds (None: wait for ever, as a subscriber does)."""
    timeout = owner.timeout
    deadline = None if timeout is None else time.monotonic() + timeout
    resend_at = 0.0
    while True:
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            raise unavailable(owner.endpoint, timeout)
        if now >= resend_at:
            try:
                await sock.send(frame, zmq.NOBLOCK)
                resend_at = now + RESEND_AFTER
            except zmq.Again:  # not connected yet
                resend_at = now + 0.05
        wait = resend_at - now if deadline is None else min(deadline, resend_at) - now
        if await sock.poll(max(1, int(wait * 1000))):
            reply = protocol.decode_reply(await sock.recv())
            if reply[1] == number:
                return reply


class AsyncSubscriber:
    """``Subscriber`` for asyncio: ``async for message in AsyncSubscriber(...)``.

    From ``since`` (the first sequence wanted; None: from now on), then live; requests are
    resent until the broker answers, so a broker restart only pauses it."""

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        *prefixes: str,
        since: int | None = None,
        timeout: float | None = None,
        lossy: bool = False,
        curve: object = keys.PROCESS,
    ):
        """``lossy``: for a view that must never fall behind (the UI's feed): live only, a
        short queue, and what it could not take in time is skipped and counted
        (``skipped``), never fetched from the log."""
        self.endpoint, self.curve = endpoint, curve
        start = None if since is None else max(since, 1) - 1
        self.tracker = Tracker(prefixes, start, skip_gaps=lossy)
        self.timeout = timeout
        self.lossy = lossy
        self._numbers = itertools.count(1)

    async def __aiter__(self) -> AsyncIterator[Message]:
        ctx = zmq.asyncio.Context.instance()
        dealer = dealer_socket(ctx, self.endpoint, None, self.curve)
        sub = ctx.socket(zmq.SUB)
        keys.secure(sub, None, self.curve)
        sub.setsockopt(zmq.LINGER, 0)
        if self.lossy:
            sub.setsockopt(zmq.RCVHWM, LOSSY_QUEUE)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(publish_endpoint(self.endpoint))
        try:
            if not self.tracker.started:
                pong = await self._request(dealer, "ping")
                self.tracker.start_at(pong[2]["seq"])
            while True:
                while self.tracker.behind:
                    after = self.tracker.fetch_after()
                    prefixes = list(self.tracker.prefixes)
                    reply = await self._request(dealer, "fetch", after, FETCH_LIMIT, prefixes)
                    for message in self.tracker.on_fetched(reply[2], reply[3], reply[4]):
                        yield message
                for message in self.tracker.on_live(await sub.recv()):
                    yield message
                if self.lossy:
                    await asyncio.sleep(0)  # a frame at a time: the loop serves the rest too
        finally:
            dealer.close(0)
            sub.close(0)

    @property
    def skipped(self) -> int:
        """Messages a lossy subscriber missed (its queue was full) and did not fetch."""
        return self.tracker.skipped

    async def _request(self, dealer: zmq.asyncio.Socket, kind: str, *fields: Any) -> tuple:
        number = next(self._numbers)
        reply = await _ask(dealer, protocol.encode(kind, number, *fields), number, self)
        if reply[0] == "err":
            raise BusError(f"broker refused the request: {reply[2]}")
        return reply
