"""The blocking bus client: publish durably, subscribe without gaps.

    with Publisher(endpoint, source="agent:web1") as pub:
        seq = pub.publish("obs.node.web1", {"up": True})      # returns once on disk

    for message in Subscriber(endpoint, "obs.", since=1):     # from the log, then live
        ...

``bus.aio`` has the same for asyncio programs (the NiceGUI app). The actor processes use it
through what they are given: a ``bus.ports.Publish`` (``bus.outbox.Outbox``, which owns a
``Publisher`` in one thread) and a ``bus.ports.Subscribe`` (reconnecting ``Subscriber``\\ s).
The CLI uses it directly: ``tap``, ``emit``, ``status``, and approve/reject
(``actors.decisions``).
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import socket
import time
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import msgpack
import zmq

from bus import envelope, errors, keys, protocol
from bus.envelope import Message
from bus.subscription import Tracker

log = logging.getLogger("homelab.bus")
DEFAULT_ENDPOINT = "tcp://127.0.0.1:7001"
RESEND_AFTER = 1.0
BATCH_BYTES = 1024 * 1024  # a batch is sent once this full; far below the frame limit
FETCH_LIMIT = 2000


class BusError(errors.HomelabError):
    """Base of the errors a bus client raises, each worded for the operator."""


class BusUnavailable(BusError):
    pass


class PublishRejected(BusError):
    pass


class PublishDeferred(BusError):
    """The broker is there but stores nothing from this publisher for now (its disk is
    full, or the publisher went over its limit): sending the same messages again later
    works. The text is the broker's reason."""


def publish_endpoint(endpoint: str) -> str:
    """Subscribers connect to the broker's request port + 1."""
    base, _, port = endpoint.rpartition(":")
    if not base or not port.isdigit():
        raise BusError(f"bad bus endpoint {endpoint!r}: expected tcp://HOST:PORT")
    return f"{base}:{int(port) + 1}"


LISTENING_CHECK = 0.5  # seconds: how long the diagnosis of a silent broker may try to connect


def unavailable(endpoint: str, timeout: float, diagnose: bool = False) -> BusUnavailable:
    """The error for a broker that did not answer: the same words from the sync and asyncio
    clients. ``diagnose``: also look whether anything listens there (a blocking connect of at
    most LISTENING_CHECK seconds, so never from an event loop): a port that is open but
    silent is a broker that is stopped or busy, or one that refused this client's key, and
    the tired operator is told so instead of being sent to start a running broker."""
    said = f"no answer from the broker at {endpoint} within {timeout:g} s"
    if diagnose and _listening(endpoint):
        return BusUnavailable(
            f"{said}: its port is open, so the broker is stopped or busy, or it does not "
            "accept this client's key (CURVE: `homelab keys list` on the broker's machine, "
            "the broker's public key here, HOMELAB_CURVE alike at both ends; docs/security.md)"
        )
    return BusUnavailable(f"{said} (is `homelab broker` running?)")


def _listening(endpoint: str) -> bool:
    host, _, port = endpoint.removeprefix("tcp://").rpartition(":")
    if not host or not port.isdigit():
        return False
    try:
        with socket.create_connection((host.strip("[]"), int(port)), LISTENING_CHECK):
            return True
    except OSError:
        return False


_Socket = TypeVar("_Socket", bound=zmq.Socket)  # a plain or an asyncio one


def dealer_socket(
    ctx: zmq.Context[_Socket],
    endpoint: str,
    source: str | None = None,
    curve: object = keys.PROCESS,
) -> _Socket:
    """A DEALER to the broker's request endpoint, as every client (sync or asyncio) sets it;
    with the keys (``bus.keys.current``) of a client that publishes as ``source``."""
    sock = ctx.socket(zmq.DEALER)
    keys.secure(sock, source, curve)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.IMMEDIATE, 1)
    sock.setsockopt(zmq.SNDHWM, 100_000)
    sock.setsockopt(zmq.RCVHWM, 100_000)
    sock.setsockopt(zmq.MAXMSGSIZE, protocol.MAX_FRAME_BYTES * 2)
    sock.connect(endpoint)
    return sock


class _Requests:
    """Request/reply over a DEALER: numbered requests, resent until answered or timed out."""

    def __init__(self, endpoint: str, ctx: zmq.Context | None = None, curve: object = keys.PROCESS):
        self.endpoint = endpoint
        self.sock = dealer_socket(ctx or zmq.Context.instance(), endpoint, None, curve)
        self._numbers = itertools.count(1)

    def ask(self, *fields: Any, timeout: float) -> tuple:
        req = next(self._numbers)
        frame = protocol.encode(fields[0], req, *fields[1:])
        deadline = time.monotonic() + timeout
        resend_at = 0.0
        while (now := time.monotonic()) < deadline:
            if now >= resend_at:
                try:
                    self.sock.send(frame, zmq.NOBLOCK)
                    resend_at = now + RESEND_AFTER
                except zmq.Again:
                    resend_at = now + 0.02  # not connected yet: try again soon
            if self.sock.poll(max(1, int((min(deadline, resend_at) - now) * 1000))):
                reply = protocol.decode_reply(self.sock.recv())
                if reply[1] == req:
                    if reply[0] == "err":
                        raise BusError(f"broker refused the request: {reply[2]}")
                    return reply
        raise unavailable(self.endpoint, timeout, diagnose=True)

    def close(self) -> None:
        self.sock.close(0)


def ping(
    endpoint: str = DEFAULT_ENDPOINT, timeout: float = 3.0, *, curve: object = keys.PROCESS
) -> dict[str, Any]:
    """The broker's status (last seq, rate, subscribers...) and, from ``homelab broker``,
    the data root it serves (``root``, ``root_id``); raises BusUnavailable. ``curve``: the
    keys to connect with (``bus.keys``; by default the process's)."""
    requests = _Requests(endpoint, curve=curve)
    try:
        return requests.ask("ping", timeout=timeout)[2]
    finally:
        requests.close()


def seq_at(endpoint: str, when: float, timeout: float = 5.0) -> int:
    """The first sequence number the broker stamped at or after ``when``."""
    requests = _Requests(endpoint)
    try:
        return requests.ask("seek", float(when), timeout=timeout)[2]
    finally:
        requests.close()


class Publisher:
    """Publishes messages and learns when they are durable.

    ``publish`` waits for one message. ``submit`` + ``flush`` keep many in flight, sent in
    batches and acknowledged in batches. Batches without an answer are resent (same ids, so
    the broker stores each message once) until ``timeout`` passes without progress.
    """

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        source: str | None = None,
        *,
        timeout: float = 10.0,
        batch_size: int = 1000,
        window: int = 32,
        linger: float = 0.002,
        quiet: float = 0.0003,
        patience: float | None = None,
        curve: object = keys.PROCESS,
    ):
        """``patience``: seconds to keep sending again what the broker asked to wait
        (a ``retry``) before raising PublishDeferred (None: ``timeout``; 0: at once);
        ``curve``: the keys to connect with (``bus.keys``; by default the process's)."""
        self.endpoint = endpoint
        self.source = source or f"pid{os.getpid()}"
        envelope.validate_heads([("a", "a", self.source)])
        self.timeout = timeout
        self.batch_size = batch_size
        self.window = window  # batches in flight
        self.linger = linger
        self.quiet = quiet
        self.patience = timeout if patience is None else patience
        self._allowed = window  # batches sent before an answer: down to 1 after a retry
        self._deferred_since: float | None = None  # the broker said retry, nothing since
        self._deferral = ""  # the broker's last reason to wait
        self._open_since = 0.0
        self._last_send = 0.0
        self._open_bytes = 0
        self._sock: zmq.Socket = dealer_socket(zmq.Context.instance(), endpoint, self.source, curve)
        self._prefix = os.urandom(6).hex() + "-"
        self._packer = msgpack.Packer()
        self._counter = itertools.count(1)
        self._batches = itertools.count(1)
        self._open: list[bytes] = []
        self._in_flight: dict[int, list] = {}  # batch -> [frame, sent at, not before], in order
        self.results: dict[int, list[int | str]] = {}  # of single-message and kept batches
        self._kept: set[int] = set()  # batches whose results publish_batch waits for
        self.rejected: list[str] = []
        self.last_seq = 0

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def new_id(self) -> str:
        return f"{self._prefix}{next(self._counter)}"

    def publish(self, topic: str, payload: dict[str, Any], *, id: str | None = None) -> int:
        """Publish one message; return its sequence number once it is on disk."""
        self.flush()
        wire = self._wire(topic, payload, id)
        batch = self._send_batch([wire])
        self._wait(lambda: batch not in self._in_flight)
        self.rejected.clear()  # reported here, not again by the next flush
        result = self.results.pop(batch)[0]
        if isinstance(result, str):
            raise PublishRejected(f"broker rejected the message: {result}")
        return result

    def publish_batch(self, messages: Sequence[tuple[str, dict[str, Any], str]]) -> list[int | str]:
        """Publish (topic, payload, id) triples at once; once all are durable, return each
        one's sequence number, or the broker's reason for refusing it. Sent again with the
        same ids after a BusUnavailable, each is stored once and answers the same."""
        self.flush()
        wires = [self._wire(topic, payload, msg_id) for topic, payload, msg_id in messages]
        chunks: list[list[bytes]] = [[]]
        for wire in wires:
            if chunks[-1] and sum(map(len, chunks[-1])) + len(wire) > BATCH_BYTES:
                chunks.append([])
            chunks[-1].append(wire)
        batches = [self._send_batch(chunk) for chunk in chunks if chunk]
        self._kept.update(batches)
        try:
            self._wait(lambda: not any(b in self._in_flight for b in batches))
        finally:
            self._kept.difference_update(batches)
        self.rejected.clear()
        results: list[int | str] = []
        for batch, chunk in zip(batches, chunks, strict=True):
            answer = self.results.pop(batch)
            results += answer if len(answer) == len(chunk) else answer * len(chunk)
        return results

    def submit(self, topic: str, payload: dict[str, Any], *, id: str | None = None) -> None:
        """Queue a message; ``flush`` sends what is left and waits until all are durable.

        After a quiet spell (``quiet`` seconds since the last send) a message goes out at
        once, so a slow publisher gets low latency. In a burst, messages gather for up to
        ``linger`` seconds or a full batch, so a fast publisher sends few, large batches.
        Messages still gathering when the publisher goes idle wait for the next ``submit``
        or ``flush``: call ``flush`` when a burst ends.
        """
        now = time.monotonic()
        if not self._open:
            self._open_since = now
        wire = self._wire(topic, payload, id)
        self._open.append(wire)
        self._open_bytes += len(wire)
        if (
            len(self._open) >= self.batch_size
            or self._open_bytes >= BATCH_BYTES
            or now - self._open_since >= self.linger
            or (len(self._open) == 1 and now - self._last_send >= self.quiet)
        ):
            self._send_open()

    def flush(self) -> None:
        """Wait until every submitted message is durable; raise if any was rejected."""
        self._send_open()
        self._wait(lambda: not self._in_flight)
        if self.rejected:
            first, count = self.rejected[0], len(self.rejected)
            self.rejected = []
            raise PublishRejected(f"broker rejected {count} message(s), first: {first}")

    def close(self) -> None:
        self._sock.close(0)

    def _wire(self, topic: str, payload: dict[str, Any], msg_id: str | None) -> bytes:
        wire = envelope.encode_wire(
            topic, msg_id or self.new_id(), self.source, payload, self._packer
        )
        if len(wire) > BATCH_BYTES:
            raise PublishRejected(
                f"message of {len(wire)} bytes is larger than any broker accepts ({BATCH_BYTES})"
            )
        return wire

    def _send_open(self) -> None:
        if self._open:
            while self._take_reply():  # acks that arrived meanwhile free the window
                pass
            self._wait(lambda: len(self._in_flight) < self.window)
            self._send_batch(self._open)
            self._open, self._open_bytes = [], 0
            self._last_send = time.monotonic()

    def _send_batch(self, wires: Sequence[bytes]) -> int:
        batch = next(self._batches)
        self._in_flight[batch] = [protocol.encode_publish(batch, wires), None, 0.0]
        self._pump()
        return batch

    def _pump(self) -> None:
        """Send what is due, oldest first, stopping at the first batch that cannot go out
        (not connected, or told to wait): a publisher's messages are stored in the order it
        submitted them. After a ``retry``, one batch at a time until acks come again."""
        now = time.monotonic()
        unanswered = sum(1 for entry in self._in_flight.values() if entry[1] is not None)
        for entry in self._in_flight.values():
            if entry[1] is not None and now - entry[1] <= RESEND_AFTER:
                continue  # sent, its answer may still come
            if entry[2] > now or (entry[1] is None and unanswered >= self._allowed):
                return
            try:
                self._sock.send(entry[0], zmq.NOBLOCK)
            except zmq.Again:  # not connected (yet)
                return
            unanswered += entry[1] is None
            entry[1] = now

    def _wait(self, done) -> None:
        last_progress = time.monotonic()
        while not done():
            now = time.monotonic()
            deferred = self._deferred_since
            stuck = now - last_progress > self.timeout
            if deferred is not None and (stuck or now - deferred >= self.patience):
                self._deferred_since = None  # the next call has its own patience
                raise PublishDeferred(f"the broker cannot take it now: {self._deferral}")
            if stuck:
                raise unavailable(self.endpoint, self.timeout, diagnose=True)
            if self._sock.poll(20):
                while kind := self._take_reply():
                    if kind != "retry":
                        last_progress = time.monotonic()
            self._pump()

    def _take_reply(self) -> str | None:
        """Take one reply if there is one; its kind."""
        try:
            frame = self._sock.recv(zmq.NOBLOCK)
        except zmq.Again:
            return None
        reply = protocol.decode_reply(frame)
        if reply[0] == "retry" and reply[1] in self._in_flight:  # nothing stored: again later
            entry = self._in_flight[reply[1]]
            entry[1], entry[2] = None, time.monotonic() + reply[3]
            self._deferral, self._allowed = reply[2], 1
            if self._deferred_since is None:
                self._deferred_since = time.monotonic()
            return "retry"
        if reply[1] in self._in_flight and reply[0] in ("ack", "err"):
            self._deferred_since = None
            self._allowed = min(self.window, self._allowed * 2)
        if reply[0] == "ack" and reply[1] in self._in_flight:
            del self._in_flight[reply[1]]
            if len(reply[2]) == 1 or reply[1] in self._kept:
                self.results[reply[1]] = reply[2]
            for result in reply[2]:
                if isinstance(result, str):
                    self.rejected.append(result)
                else:
                    self.last_seq = max(self.last_seq, result)
        elif reply[0] == "err" and reply[1] in self._in_flight:  # the whole batch refused
            del self._in_flight[reply[1]]
            self.results[reply[1]] = [reply[2]]
            self.rejected.append(reply[2])
        return reply[0]


class Subscriber:
    """Messages in sequence order, from the log first when ``since`` is given, then live.

    ``since`` is the first sequence number wanted (``1`` for everything); ``None`` means
    from now on. Gaps (a slow reader, a broker restart) are filled from the log.

    With ``reconnect`` (what a long-running actor wants), a broker that is away is waited
    for: ``get`` returns None when its timeout passes, logs the outage once and its end,
    and carries on from where it was. Without it, ``get`` raises BusUnavailable.
    """

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        *prefixes: str,
        since: int | None = None,
        timeout: float = 5.0,
        hwm: int = 1000,
        reconnect: bool = False,
        curve: object = keys.PROCESS,
    ):
        self.tracker = Tracker(prefixes, None if since is None else max(since, 1) - 1)
        self.timeout = timeout
        self.endpoint, self.reconnect = endpoint, reconnect
        self.away = False  # the broker did not answer the last request
        ctx: zmq.Context = zmq.Context.instance()
        self._requests = _Requests(endpoint, ctx, curve)
        self._sub = ctx.socket(zmq.SUB)
        keys.secure(self._sub, None, curve)
        self._sub.setsockopt(zmq.LINGER, 0)
        self._sub.setsockopt(zmq.RCVHWM, hwm)
        self._sub.setsockopt(zmq.SUBSCRIBE, b"")
        self._sub.connect(publish_endpoint(endpoint))
        self._ready: collections.deque[Message] = collections.deque()
        if not self.tracker.started:
            self.tracker.start_at(self._requests.ask("ping", timeout=timeout)[2]["seq"])

    def __iter__(self) -> Iterator[Message]:
        while True:
            message = self.get(timeout=None)
            if message is not None:
                yield message

    def get(self, timeout: float | None = 1.0) -> Message | None:
        """The next message, or None when ``timeout`` seconds pass without one."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ready:
            if self.tracker.behind:
                if not self._fetch(deadline):
                    return None
                continue
            wait = 1000 if deadline is None else int(max(0, deadline - time.monotonic()) * 1000)
            if not self._sub.poll(wait):
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                continue
            self._ready.extend(self.tracker.on_live(self._sub.recv()))
        return self._ready.popleft()

    def _fetch(self, deadline: float | None) -> bool:
        """Fetch what is missing from the log; False when a reconnecting subscriber's
        deadline passed while the broker was away."""
        tracker = self.tracker
        while True:
            timeout = self.timeout
            if self.reconnect and deadline is not None:
                timeout = min(timeout, max(0.05, deadline - time.monotonic()))
            try:
                reply = self._requests.ask(
                    "fetch",
                    tracker.fetch_after(),
                    FETCH_LIMIT,
                    list(tracker.prefixes),
                    timeout=timeout,
                )
                break
            except BusUnavailable as err:
                if not self.reconnect:
                    raise
                if not self.away:
                    log.warning("lost the broker (will keep trying): %s", err)
                    self.away = True
                if deadline is not None and time.monotonic() >= deadline:
                    return False
        if self.away:
            log.info("the broker at %s is back", self.endpoint)
            self.away = False
        self._ready.extend(tracker.on_fetched(reply[2], reply[3], reply[4]))
        return True

    def close(self) -> None:
        self._sub.close(0)
        self._requests.close()

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
