"""Stamping: the one place sequence numbers are given out, with de-duplication by id.

Pure (no sockets, no disk, no clock): the broker passes ``now`` in and does the I/O.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Sequence

from bus import envelope
from bus.protocol import Envelope

DEDUP_WINDOW = 1 << 17


class Sequencer:
    """Gives gapless, monotonic sequence numbers and non-decreasing times.

    A message whose (source, id) was stored among the last ``window`` messages is not
    stored again:
    its original sequence number is returned, so a publisher that resends after a broker
    restart gets the same answer as if the first send had been acknowledged.
    """

    def __init__(
        self,
        last_seq: int = 0,
        last_time: float = 0.0,
        recent: Iterable[tuple[tuple[str, str], int]] = (),
        window: int = DEDUP_WINDOW,
    ):
        self.last_seq = last_seq
        self.last_time = last_time
        self.window = window
        self._seq_by_id: dict[tuple[str, str], int] = {}
        self._order: collections.deque[tuple[str, str]] = collections.deque()
        for key, seq in recent:
            self._remember(key, seq)

    def stamp(
        self, items: Sequence[Envelope], now: float
    ) -> tuple[list[bytes], list[str], list[int]]:
        """Bodies and topics of the new messages, and a seq for every item (new or duplicate)."""
        time = now if now > self.last_time else self.last_time
        bodies, topics, seqs = [], [], []
        seq = self.last_seq
        seq_by_id = self._seq_by_id
        for item in items:
            key = (item.source, item.id)
            known = seq_by_id.get(key)
            if known is not None:
                seqs.append(known)
                continue
            seq += 1
            bodies.append(envelope.stamp(item.wire, seq, time))
            topics.append(item.topic)
            seqs.append(seq)
            self._remember(key, seq)
        self.last_seq, self.last_time = seq, time
        return bodies, topics, seqs

    def _remember(self, key: tuple[str, str], seq: int) -> None:
        self._seq_by_id[key] = seq
        self._order.append(key)
        if len(self._order) > self.window:
            self._seq_by_id.pop(self._order.popleft(), None)
