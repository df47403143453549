"""The broker in memory, for tests: actors publish and subscribe through it with no socket.

Like dramatiq's ``StubBroker``, it has the real interface (``bus.ports``) and no server. It
does to a message what the broker does: validates it (``protocol``, the broker's own
decoder), stamps seq and time (``Sequencer``: a message sent again with the same source and
id is stored once and answers its first seq), appends it to a log (a ``MemoryLog``, or the
``FileLog`` a test passes when what it runs reads the log on disk), and serves every feed
from that log. So what an actor publishes loops back, in seq order, to every feed whose
prefixes it matches, the actor's own included:

    bus = StubBus()
    executor = Executor(root, bus.outbox("executor"), bus)
    bus.emit("action.approved", approval, source="supervisor")
    for message in bus(*executor.PREFIXES, since=1).drain():  # what its feed would give it
        executor.take(message)
    assert bus.topics("action.") == ["action.approved", "action.refused"]

Each message is stamped ``step`` seconds after the last (move ``bus.time`` to let time
pass). ``away()`` is a broker that does not answer: outboxes hold what they are given
(``outbox.Full`` past their ``limit``) and ``publish`` raises BusUnavailable; ``back()``
stores what they held, in order.
"""

from __future__ import annotations

import concurrent.futures
import functools
import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

from bus import client, envelope, outbox, protocol, topics
from bus.envelope import Message
from bus.log import EventLog, MemoryLog
from bus.sequencer import Sequencer


class StubBus:
    """A ``ports.Subscribe`` (call it for a feed) that makes ``ports.Publish``\\ es (``outbox``)."""

    endpoint = "stub"

    def __init__(self, log: EventLog | None = None, *, time: float = 100.0, step: float = 1.0):
        self.log = MemoryLog() if log is None else log
        self.time, self.step = time, step
        self.messages: list[Message] = []  # stored through this bus, in seq order
        self.resent: list[tuple[str, str]] = []  # (source, id) of messages stored already
        self.is_away = False
        self._outboxes: list[StubOutbox] = []
        self._ids = itertools.count(1)
        self._sequencer = Sequencer(self.log.last_seq, _recent_ids(self.log))
        self._changed = threading.Condition()

    @property
    def last_seq(self) -> int:
        return self.log.last_seq

    def outbox(self, source: str, *, limit: int | None = None) -> StubOutbox:
        """What an actor publishes through, as ``source``; ``limit`` as ``Outbox``'s."""
        made = StubOutbox(self, source, limit)
        self._outboxes.append(made)
        return made

    def __call__(self, *prefixes: str, since: int | None = None) -> StubFeed:
        """A feed of the topics under ``prefixes``, from seq ``since`` (None: from now)."""
        return StubFeed(self, prefixes, since)

    def emit(
        self, topic: str, payload: dict[str, Any], *, source: str = "emit", id: str | None = None
    ) -> Message:
        """Another part of the system says something; the message as stored. The broker's
        own (``bus.*``, from ``broker``) are stored as the broker stores them, unchecked,
        with its identity; the others as a broker without CURVE stores them (anonymous)."""
        msg_id = id or self.new_id()
        if topic.startswith(topics.PREFIX) and source == "broker":
            wire = envelope.encode_wire(topic, msg_id, source, payload)
            seq = self._stamp(protocol.Envelope(wire, topic, msg_id, source), envelope.BROKER)
        else:
            seq = self.store(source, topic, payload, msg_id)
        return next(envelope.decode_body(b) for b in self.log.read(seq - 1, seq))

    def new_id(self) -> str:
        """An id no other message through this bus has (as a publisher picks one)."""
        return f"stub-{next(self._ids)}"

    def store(self, source: str, topic: str, payload: dict[str, Any], msg_id: str) -> int:
        """What the broker does with a client's message: its seq (PublishRejected if the
        broker would refuse it)."""
        wire = envelope.encode_wire(topic, msg_id, source, payload)
        request = protocol.decode_request(protocol.encode_publish(0, [wire]))
        assert isinstance(request, protocol.Publish)  # a publish frame decodes to one
        [item] = request.items
        if isinstance(item, str):
            raise client.PublishRejected(f"broker rejected the message: {item}")
        return self._stamp(item)

    def _stamp(self, item: protocol.Envelope, identity: str = envelope.ANONYMOUS) -> int:
        with self._changed:
            when = self.time + self.step
            bodies, _, [seq] = self._sequencer.stamp([item], when, [identity])
            if not bodies:
                self.resent.append((item.source, item.id))
                return seq
            self.time += self.step
            self.log.append(bodies)
            self.messages.append(envelope.decode_body(bodies[0]))
            self._changed.notify_all()
        return seq

    def published(self, prefix: str = "") -> list[Message]:
        """The messages stored through this bus whose topic starts with ``prefix``."""
        return [m for m in self.messages if m.topic.startswith(prefix)]

    def topics(self, prefix: str = "") -> list[str]:
        return [m.topic for m in self.published(prefix)]

    def away(self) -> None:
        """The broker stops answering: outboxes hold what they are given."""
        self.is_away = True

    def back(self) -> None:
        """The broker answers again: what the outboxes held is stored, in order."""
        self.is_away = False
        for made in self._outboxes:
            made.deliver_held()

    def wait_for(self, prefix: str, timeout: float = 10.0) -> bool:
        """Whether a message under ``prefix`` was stored within ``timeout`` seconds (for
        actors that publish from their own threads)."""
        with self._changed:
            return self._changed.wait_for(lambda: bool(self.published(prefix)), timeout)

    def next_after(self, position: int, prefixes: tuple[str, ...], timeout: float | None):
        """The first message after seq ``position`` under ``prefixes`` (waiting up to
        ``timeout`` seconds for one, None: for ever), and the seq read up to."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while True:
                last = self.log.last_seq
                for body in self.log.read(position, last, prefixes):
                    message = envelope.decode_body(body)
                    return message, message.seq
                position = last
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not self._changed.wait_for(functools.partial(self._grew_past, position), left):
                    return None, position

    def _grew_past(self, seq: int) -> bool:
        return self.log.last_seq > seq


class StubOutbox:
    """A ``ports.Publish`` for one source: each message is stored as it is sent (its
    Future is done at once), or held while the bus is away."""

    def __init__(self, bus: StubBus, source: str, limit: int | None = None):
        self.bus, self.source, self.limit = bus, source, limit
        self.held: list[tuple[str, dict[str, Any], str, concurrent.futures.Future]] = []
        self.closed = False

    def send(
        self, topic: str, payload: dict[str, Any], *, id: str | None = None
    ) -> concurrent.futures.Future:
        if self.closed:
            raise client.BusError("the outbox is closed")
        envelope.encode_wire(topic, id or "-", self.source, payload)  # fails here, not later
        msg_id = id or self.bus.new_id()
        future: concurrent.futures.Future = concurrent.futures.Future()
        if self.bus.is_away:
            if self.limit is not None and len(self.held) >= self.limit:
                raise outbox.Full(f"{len(self.held)} messages wait for the broker at stub")
            self.held.append((topic, payload, msg_id, future))
            return future
        self._store(topic, payload, msg_id, future)
        return future

    def publish(
        self, topic: str, payload: dict[str, Any], *, id: str | None = None, timeout: float = 30.0
    ) -> int:
        future = self.send(topic, payload, id=id)
        if not future.done():  # held: stored once the bus is back, as the real one does
            raise client.BusUnavailable(f"{topic} not durable: the stub bus is away")
        return future.result()

    def drained(self, timeout: float = 0.0) -> bool:
        return not self.held

    def close(self, timeout: float = 10.0) -> bool:
        self.closed = True
        return not self.held

    def deliver_held(self) -> None:
        held, self.held = self.held, []
        for topic, payload, msg_id, future in held:
            self._store(topic, payload, msg_id, future)

    def _store(self, topic: str, payload: dict, msg_id: str, future) -> None:
        try:
            future.set_result(self.bus.store(self.source, topic, payload, msg_id))
        except client.PublishRejected as err:
            future.set_exception(err)


class StubFeed:
    """A ``ports.Feed`` read from the bus's log: every message after ``since`` under its
    prefixes, those published after it was opened too."""

    def __init__(self, bus: StubBus, prefixes: tuple[str, ...], since: int | None):
        self.bus, self.prefixes = bus, prefixes
        self.position = bus.last_seq if since is None else max(since, 1) - 1

    def get(self, timeout: float | None = 1.0) -> Message | None:
        message, self.position = self.bus.next_after(self.position, self.prefixes, timeout)
        return message

    def drain(self) -> Iterator[Message]:
        """What there is to read now, and what the reader publishes meanwhile."""
        while (message := self.get(0)) is not None:
            yield message

    def close(self) -> None:
        pass


def _recent_ids(log: EventLog) -> list[tuple[tuple[str, str], int]]:
    """The (source, id) of what the log holds: a resend of any is stored once."""
    return [(envelope.body_key(body), envelope.body_seq(body)) for body in log.read()]
