"""Stamping: the one place sequence numbers are given out, with de-duplication by id.

Pure (no sockets, no disk, no clock): the broker passes ``now`` in and does the I/O. The
time is stamped as it is given, also when it is earlier than the last one (the wall clock
was set back): the seq is the order, and readers measure durations without the clock's
steps (``bus.wallclock``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bus import envelope
from bus.protocol import Envelope

DEDUP_WINDOW = 1 << 17


class Sequencer:
    """Gives gapless, monotonic sequence numbers.

    A message whose (source, id) was stored among the last ``window`` messages is not
    stored again:
    its original sequence number is returned, so a publisher that resends after a broker
    restart gets the same answer as if the first send had been acknowledged.
    """

    def __init__(
        self,
        last_seq: int = 0,
        recent: Iterable[tuple[tuple[str, str], int]] = (),
        window: int = DEDUP_WINDOW,
    ):
        self.last_seq = last_seq
        self.window = window
        # Two generations instead of a queue of ids: the newer fills up to half the window,
        # then replaces the older. Every id stays known for at least half the window, with
        # no per-message eviction work.
        self._newer: dict[tuple[str, str], int] = {}
        self._older: dict[tuple[str, str], int] = {}
        for key, seq in recent:
            self._remember(key, seq)

    def stamp(
        self, items: Sequence[Envelope], now: float, identities: Sequence[str] | None = None
    ) -> tuple[list[bytes], list[str], list[int]]:
        """Bodies and topics of the new messages, and a seq for every item (new or
        duplicate). ``identities``: who sent each item, stored in its body (None: every
        item's is ``envelope.ANONYMOUS``)."""
        bodies, topics, seqs = [], [], []
        seq = self.last_seq
        newer, older, body_of = self._newer, self._older, envelope.stamp
        if identities is None:
            identities = [envelope.ANONYMOUS] * len(items)
        for item, identity in zip(items, identities, strict=True):
            key = (item.source, item.id)
            known = newer.get(key) or older.get(key)
            if known is not None:
                seqs.append(known)
                continue
            seq += 1
            bodies.append(body_of(item.wire, seq, now, identity))
            topics.append(item.topic)
            seqs.append(seq)
            newer[key] = seq
            if len(newer) >= self.window // 2:
                self._older, self._newer = newer, {}
                newer, older = self._newer, self._older
        self.last_seq = seq
        return bodies, topics, seqs

    def mark(self) -> tuple:
        """Where the sequencer is now: ``undo(mark)`` forgets every stamp made after it
        (a batch the log could not store)."""
        return self.last_seq, self._older, self._newer, len(self._newer)

    def undo(self, mark: tuple) -> None:
        last_seq, older, newer, size = mark
        # A generation that was replaced since is only dropped, never changed: keep it
        # again, and drop the keys added to the newer one since (dicts keep their order).
        self._older, self._newer = older, newer
        while len(newer) > size:
            newer.popitem()
        self.last_seq = last_seq

    def _remember(self, key: tuple[str, str], seq: int) -> None:
        self._newer[key] = seq
        if len(self._newer) >= self.window // 2:
            self._older, self._newer = self._newer, {}
