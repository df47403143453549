"""When the broker drops every client connection because a key was revoked.

libzmq cannot close one peer of a ROUTER or XPUB socket, and a connection, once let in by
the ZAP handler, is never asked again: a revoked key's SUB would go on receiving every
publication. So the broker unbinds and binds its sockets again (``Broker.relisten``):
every connection ends, every client reconnects through the ZAP handler, and the revoked
key is refused. Good clients lose nothing: a subscriber fetches the seqs it missed (a gap),
a publisher resends what was not acknowledged (de-duplicated by id).

Pure (no sockets, no clock): the broker passes the allowlist's count of revocations and
the time.
"""

from __future__ import annotations

import math

EVERY = 1.0  # seconds between two re-binds, at least: a storm of revocations is one a second


class Relisten:
    """Due once for every new revocation seen, at most once per ``every`` seconds (the
    revocations of one second are handled together)."""

    def __init__(self, seen: int = 0, every: float = EVERY):
        self.seen = seen  # the allowlist's revocation count last acted on
        self.every = every
        self.last = -math.inf  # when the last re-bind was due (steady clock)

    def due(self, revocations: int, now: float) -> bool:
        if revocations == self.seen or now - self.last < self.every:
            return False
        self.seen, self.last = revocations, now
        return True
