"""What a subscriber does with each frame: deliver, drop a duplicate, or notice a gap.

Pure (no sockets): ``client`` feeds it live frames and fetch replies and asks it what to do.
Every message is published to every subscriber socket (in frames of framed records, the
same bytes as in the log), so a subscriber sees the whole sequence and any missing number
is a gap (a high-water-mark drop, a reconnect, a late
start); it then fetches from the log until it is level with the broker again (the Clone
pattern of the ZeroMQ guide).
"""

from __future__ import annotations

from collections.abc import Sequence

from bus import envelope, records
from bus.envelope import Message


class Tracker:
    """Position in the global sequence, and whether the log must be asked for more."""

    def __init__(
        self, prefixes: Sequence[str] = (), position: int | None = None, skip_gaps: bool = False
    ):
        """``skip_gaps``: a view that cannot keep up (a page in a browser) goes on from the
        next message it receives, counting what it missed, instead of fetching it."""
        self.prefixes = tuple(prefixes)
        self.position = position  # every seq <= position is delivered or not ours
        self.behind = position is not None  # fetch before trusting live frames
        self.gaps = 0  # times the live feed skipped a seq (for stats and tests)
        self.skip_gaps = skip_gaps
        self.skipped = 0  # messages missed and not fetched (with ``skip_gaps``)

    @property
    def started(self) -> bool:
        return self.position is not None

    def start_at(self, head: int) -> None:
        """Live-only subscribers start from the broker's head."""
        if self.position is None:
            self.position = head

    def on_live(self, frame: bytes) -> list[Message]:
        """A publication frame (framed records, as in the log): the messages to deliver.
        Stops at a gap, leaving ``behind`` set; the rest is fetched from the log."""
        if self.position is None or self.behind:
            return []
        delivered = []
        for body in records.bodies(frame):
            seq = envelope.body_seq(body)
            if seq <= self.position:
                continue
            if seq != self.position + 1:
                self.gaps += 1
                if not self.skip_gaps:
                    self.behind = True
                    break
                self.skipped += seq - self.position - 1
            self.position = seq
            if not self.prefixes or envelope.body_topic(body).startswith(self.prefixes):
                delivered.append(envelope.decode_body(body))
        return delivered

    def fetch_after(self) -> int:
        assert self.position is not None
        return self.position

    def on_fetched(self, head: int, scanned_to: int, bodies: Sequence[bytes]) -> list[Message]:
        """A catch-up reply: the messages to deliver; ``behind`` stays set until level."""
        assert self.position is not None
        messages = [envelope.decode_body(b) for b in bodies]
        messages = [m for m in messages if m.seq > self.position]
        if scanned_to > self.position:
            self.position = scanned_to
        self.behind = self.position < head
        return messages
