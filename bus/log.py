"""The event log as a small contract, and an in-memory implementation for tests.

A log holds *bodies* (see ``envelope``) whose sequence numbers start at 1 and have no gaps.
``FileLog`` in ``filelog`` is the durable implementation; both pass ``tests/bus/test_log_contract``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from typing import Protocol

from bus import envelope, records


class SequenceError(ValueError):
    """An append whose first sequence number does not follow the log's last one."""


class Trimmed(LookupError):
    """Records a reader was reading were deleted by retention meanwhile (the oldest segments
    go first: reading again from ``first_seq`` gives what the log still holds)."""


class EventLog(Protocol):
    @property
    def last_seq(self) -> int:
        """The sequence number of the last record, 0 when the log is empty."""

    @property
    def first_seq(self) -> int:
        """The sequence number of the oldest record still held (retention deletes the oldest
        history), ``last_seq + 1`` when the log holds none. Reading from before it reads
        from it."""

    def append(self, bodies: Sequence[bytes]) -> list[bytes]:
        """Append bodies whose seqs continue from ``last_seq``; visible to readers at once.
        Returns them framed as records (``records.frame``)."""

    def sync(self) -> None:
        """Make everything appended so far survive a machine crash."""

    def discard(self, after: int) -> None:
        """Forget what was appended after seq ``after`` (an append or a sync that failed:
        never acknowledged), within the last append's segment."""

    def read(
        self, after: int = 0, until: int | None = None, prefixes: Sequence[str] = ()
    ) -> Iterator[bytes]:
        """Bodies with ``after < seq <= until`` in order, optionally only those whose topic
        starts with one of ``prefixes``."""

    def seq_at(self, time: float) -> int:
        """The first sequence number stamped at or after ``time`` (``last_seq + 1`` if none)."""

    def close(self) -> None: ...


def check_continues(last_seq: int, bodies: Sequence[bytes]) -> None:
    for expected, body in enumerate(bodies, last_seq + 1):
        if envelope.body_seq(body) != expected:
            raise SequenceError(f"expected seq {expected}, got {envelope.body_seq(body)}")


def topic_matches(body: bytes | memoryview, prefixes: Sequence[str]) -> bool:
    if not prefixes:
        return True
    topic = envelope.body_topic(body)
    return topic.startswith(tuple(prefixes))


class MemoryLog:
    """The contract in a list: for actor tests that need no disk."""

    def __init__(self) -> None:
        self._bodies: list[bytes] = []
        self._times: list[float] = []

    @property
    def last_seq(self) -> int:
        return len(self._bodies)

    @property
    def first_seq(self) -> int:
        return 1  # nothing is ever deleted from memory

    def append(self, bodies: Sequence[bytes]) -> list[bytes]:
        check_continues(self.last_seq, bodies)
        self._bodies.extend(bodies)
        self._times.extend(envelope.body_time(b) for b in bodies)
        return [records.frame(b) for b in bodies]

    def sync(self) -> None:
        pass

    def discard(self, after: int) -> None:
        del self._bodies[after:]
        del self._times[after:]

    def read(
        self, after: int = 0, until: int | None = None, prefixes: Sequence[str] = ()
    ) -> Iterator[bytes]:
        stop = self.last_seq if until is None else min(until, self.last_seq)
        for body in self._bodies[max(after, 0) : max(stop, 0)]:
            if topic_matches(body, prefixes):
                yield body

    def seq_at(self, time: float) -> int:
        return bisect.bisect_left(self._times, time) + 1

    def close(self) -> None:
        pass
