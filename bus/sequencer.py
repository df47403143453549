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

    A message whose id was stored among the last ``window`` messages is not stored again:
    its original sequence number is returned, so a publisher that resends after a broker
    restart gets the same answer as if the first send had been acknowledged.
    """

    def __init__(
        self,
        last_seq: int = 0,
        last_time: float = 0.0,
        recent: Iterable[tuple[str, int]] = (),
        window: int = DEDUP_WINDOW,
    ):
        self.last_seq = last_seq
        self.last_time = last_time
        self.window = window
        self._seq_by_id: dict[str, int] = {}
        self._order: collections.deque[str] = collections.deque()
        for msg_id, seq in recent:
            self._remember(msg_id, seq)

    def stamp(
        self, items: Sequence[Envelope], now: float
    ) -> tuple[list[bytes], list[str], list[int]]:
        """Bodies and topics of the new messages, and a seq for every item (new or duplicate)."""
        time = now if now > self.last_time else self.last_time
        bodies, topics, seqs = [], [], []
        seq = self.last_seq
        seq_by_id = self._seq_by_id
        for item in items:
            known = seq_by_id.get(item.id)
            if known is not None:
                seqs.append(known)
                continue
            seq += 1
            bodies.append(envelope.stamp(item.wire, seq, time))
            topics.append(item.topic)
            seqs.append(seq)
            self._remember(item.id, seq)
        self.last_seq, self.last_time = seq, time
        return bodies, topics, seqs

    def _remember(self, msg_id: str, seq: int) -> None:
        self._seq_by_id[msg_id] = seq
        self._order.append(msg_id)
        if len(self._order) > self.window:
            self._seq_by_id.pop(self._order.popleft(), None)
