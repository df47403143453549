"""Per-client publish limits: one client cannot starve the others.

Each client has two token buckets, messages and bytes, refilled at its rate up to ``burst``
seconds' worth. A publish frame is admitted while both hold anything, and takes what it
costs (a bucket may go below zero, so a batch larger than the burst still goes through, and
the client then waits longer). Otherwise it is refused for the time the buckets need to
refill, and so is every frame of that client until then: what it sent meanwhile is not
stored before what was refused first.

A client is named by the key the broker gives it: its connection (``conn:<hex>``) until the
bus authenticates clients, then who it is. Pure: the broker passes the clock in.
"""

from __future__ import annotations

import dataclasses
import heapq

MIN_WAIT = 0.01  # seconds a refused client waits at least
IDLE = 60.0  # seconds after which a client whose buckets are full is forgotten


@dataclasses.dataclass(frozen=True)
class Limits:
    messages: float  # per second; 0: no limit
    bytes: float  # per second; 0: no limit
    burst: float  # seconds' worth a client may send at once

    def status(self) -> dict:
        return {"messages_per_s": self.messages, "bytes_per_s": self.bytes, "burst_s": self.burst}


@dataclasses.dataclass
class Client:
    messages: float
    bytes: float
    at: float  # when the buckets were last filled
    blocked_until: float = 0.0
    deferred: int = 0  # messages refused, resends included
    source: str = ""  # the source of its last admitted message (for people; not trusted)


class Limiter:
    def __init__(self, limits: Limits):
        self.limits = limits
        self.clients: dict[str, Client] = {}
        self.deferred = 0  # messages refused, all clients, since start

    def admit(self, key: str, messages: int, size: int, now: float) -> tuple[float, str]:
        """(0, "") when a frame of ``messages`` messages and ``size`` bytes from client
        ``key`` may be stored now, else (seconds to wait, why)."""
        limits = self.limits
        client = self._refilled(key, now)
        if now >= client.blocked_until and client.messages > 0 and client.bytes > 0:
            client.messages -= messages if limits.messages else 0
            client.bytes -= size if limits.bytes else 0
            return 0.0, ""
        if now >= client.blocked_until:
            need = max(
                -client.messages / limits.messages if limits.messages else 0.0,
                -client.bytes / limits.bytes if limits.bytes else 0.0,
            )
            client.blocked_until = now + max(need, MIN_WAIT)
        client.deferred += messages
        self.deferred += messages
        wait = client.blocked_until - now
        return wait, f"rate limit: {key} sent more than {self.describe()}; retry in {wait:.2f} s"

    def describe(self) -> str:
        limits, parts = self.limits, []
        if limits.messages:
            parts.append(f"{limits.messages:g} messages/s")
        if limits.bytes:
            parts.append(f"{limits.bytes / 2**20:g} MiB/s")
        return " or ".join(parts) + f" (bursts of {limits.burst:g} s)"

    def saw(self, key: str, source: str) -> None:
        client = self.clients.get(key)
        if client is not None:
            client.source = source

    def forget_idle(self, now: float) -> None:
        """Drop clients whose buckets have been full for ``IDLE`` seconds: the same as new."""
        for key in [k for k, c in self.clients.items() if now - c.at > IDLE]:
            client = self._refilled(key, now)
            if client.messages >= self._cap(self.limits.messages) and client.bytes >= self._cap(
                self.limits.bytes
            ):
                del self.clients[key]

    def status(self, now: float, top: int = 10) -> list[dict]:
        """The clients refused most (at most ``top``), for ``bus.stats``: ``limited`` while
        they wait."""
        refused = [(c.deferred, k) for k, c in self.clients.items() if c.deferred]
        return [
            {
                "client": key,
                "source": self.clients[key].source,
                "deferred": count,
                "limited": self.clients[key].blocked_until > now,
            }
            for count, key in heapq.nlargest(top, refused)
        ]

    def _refilled(self, key: str, now: float) -> Client:
        limits = self.limits
        client = self.clients.get(key)
        if client is None:
            client = self.clients[key] = Client(
                self._cap(limits.messages), self._cap(limits.bytes), now
            )
            return client
        elapsed = max(0.0, now - client.at)
        client.messages = min(
            self._cap(limits.messages), client.messages + elapsed * limits.messages
        )
        client.bytes = min(self._cap(limits.bytes), client.bytes + elapsed * limits.bytes)
        client.at = now
        return client

    def _cap(self, rate: float) -> float:
        return rate * self.limits.burst if rate else 1.0


def enabled(limits: Limits) -> bool:
    return bool(limits.messages or limits.bytes)
