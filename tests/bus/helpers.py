"""Building bodies for tests without a broker."""

from __future__ import annotations

from bus import envelope


def body(seq: int, topic: str = "obs.node.a", time: float = 1_800_000_000.0, **payload) -> bytes:
    wire = envelope.encode_wire(topic, f"id-{seq}", "test", payload or {"n": seq})
    return envelope.stamp(wire, seq, time)


def bodies(
    first: int,
    count: int,
    topic: str = "obs.node.a",
    time: float = 1_800_000_000.0,
    step: float = 0.0,
) -> list[bytes]:
    return [body(s, topic, time + (s - first) * step) for s in range(first, first + count)]
