"""What the broker's payload rule (docs/protocol.md, "Payloads") costs per message.

Prints microseconds per call, median of 5 runs of 100,000, for a typical 150-byte observation:
the full check (``envelope.payload_problem``), the old top-level key check it replaced (a
``"".join`` over the keys) as the baseline, and msgpack-decoding the same envelope for scale.

    python bench/payload_check_bench.py
"""

from __future__ import annotations

import statistics
import timeit

import msgpack

from bus import envelope

PAYLOAD = {
    "node": "web1",
    "service": "nginx",
    "check": "http",
    "outcome": "ok",
    "detail": "200 OK",
    "latency_ms": 1.2,
    "facts": {"status": 200, "bytes": 612},
    "interval": 10.0,
    "observed_at": 1_700_000_000.0,
}
N, RUNS = 100_000, 5


def per_call(fn) -> float:
    return statistics.median(timeit.repeat(fn, number=N, repeat=RUNS)) / N * 1e6


def main() -> None:
    wire = msgpack.packb(["obs.node.web1.service.nginx", "id", "agent:web1", PAYLOAD])
    check = per_call(lambda: envelope.payload_problem(PAYLOAD))
    baseline = per_call(lambda: "".join(PAYLOAD))
    decode = per_call(lambda: msgpack.unpackb(wire, raw=False))
    print(f"payload of {len(msgpack.packb(PAYLOAD))} bytes, median of {RUNS} x {N:,} calls")
    print(f"  payload_problem (the rule)        {check:6.2f} us")
    print(
        f"  top-level key check (baseline)    {baseline:6.2f} us  -> rule costs {check / baseline:.1f}x"
    )
    print(f"  msgpack decode of the envelope    {decode:6.2f} us")


if __name__ == "__main__":
    main()
