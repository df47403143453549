"""One client floods the bus: what a well-behaved client's publish latency becomes.

    python bench/flood_bench.py            # medians of 3 runs (about 2 minutes here)
    python bench/flood_bench.py --quick    # one run, shorter

A broker process with the default per-client limits, a well-behaved client publishing one
message every 10 ms and waiting for each ``ack`` (what an operator's Approve or the
executor's result is), and, in its own process, a flood: a Python ``Publisher`` submitting
small messages (about 300 bytes) as fast as it can (the issue's 55-64k msg/s), or 250 KB
ones (its 116 MB/s), or a raw DEALER that sends 1000 small messages a frame as fast as its
socket takes them and never waits for an answer. Each flood runs against the limited broker
and, as the baseline in the same run, against one without limits (the broker before
per-client limits); the quiet line is the same client with nobody else. Prints p50/p99 of
the well-behaved client's publish latency, and how many messages a second were stored.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bus_bench import NO_LIMITS, broker, payload  # noqa: E402
from bus import client, envelope, protocol  # noqa: E402

STARVED = 20.0  # seconds without an ack: the well-behaved client is starved
LIMITED: dict[str, str] = {}  # the defaults: HOMELAB_CLIENT_RATE 2000, _BANDWIDTH 4 MiB/s
FLOODS = {  # how, message bytes
    "small": ("publisher", 300),
    "250 KB": ("publisher", 250_000),
    "small raw": ("raw", 300),
}


def _publisher_flood(endpoint: str, size: int, seconds: float, out) -> None:
    body = {"pad": "x" * max(0, size - 60)}
    sent = 0
    deadline = time.monotonic() + seconds
    with client.Publisher(endpoint, "flooder", timeout=60) as publisher:
        while time.monotonic() < deadline:
            for _ in range(100):
                publisher.submit("flood.x", body)
            sent += 100
        publisher.flush()
    out.put({"sent": sent})


def _raw_flood(endpoint: str, size: int, seconds: float, out, per_frame: int = 1000) -> None:
    import zmq

    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.SNDHWM, 100)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    body = {"pad": "x" * max(0, size - 60)}
    sent = n = batch = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        wires = []
        for _ in range(per_frame):
            n += 1
            wires.append(envelope.encode_wire("flood.x", f"f{n}", "flooder", body))
        batch += 1
        try:
            sock.send(protocol.encode_publish(batch, wires), zmq.NOBLOCK)
            sent += per_frame
        except zmq.Again:
            sock.poll(5, zmq.POLLOUT)
        while sock.poll(0):
            sock.recv()
    out.put({"sent": sent})


def _well_behaved(endpoint: str, count: int, every: float, out) -> None:
    """Publish ``count`` messages, one every ``every`` s; stop at the first one that gets
    no answer within ``STARVED`` seconds (a starved client)."""
    latencies = []
    with client.Publisher(endpoint, "ui:bench", timeout=STARVED) as publisher:
        for i in range(count):
            began = time.monotonic()
            try:
                publisher.publish("action.request.approve", payload(i))
            except client.BusError:
                latencies.append(math.inf)
                break
            latencies.append(time.monotonic() - began)
            time.sleep(max(0.0, every - (time.monotonic() - began)))
    out.put(latencies)


def scenario(settings: dict[str, str], flood: str | None, count: int) -> dict:
    ctx = mp.get_context("spawn")
    every = 0.01
    # Fairness under a flood, measured without CURVE (HOMELAB_CURVE=off) for now: its raw
    # flooder and children take no keys yet.
    with broker("batch", settings, curve=False) as (endpoint, _):
        flood_out, quiet_out = ctx.Queue(), ctx.Queue()
        flooder = None
        if flood is not None:
            how, size = FLOODS[flood]
            target = _raw_flood if how == "raw" else _publisher_flood
            seconds = count * every + 3
            flooder = ctx.Process(target=target, args=(endpoint, size, seconds, flood_out))
            flooder.start()
            time.sleep(1.0)  # the flood is on before the measurement starts
        before = client.ping(endpoint, timeout=120)["seq"]
        began = time.monotonic()
        quiet = ctx.Process(target=_well_behaved, args=(endpoint, count, every, quiet_out))
        quiet.start()
        latencies = sorted(quiet_out.get(timeout=600))
        took = time.monotonic() - began
        stored = client.ping(endpoint, timeout=120)["seq"] - before
        quiet.join(30)
        if flooder is not None:
            flood_out.get(timeout=300)
            flooder.join(30)
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        "stored_per_s": stored / took,
        "starved": latencies[-1] == math.inf,
        "published": len(latencies) - (latencies[-1] == math.inf),
    }


def median_of(runs: int, fn) -> dict:
    results = [fn() for _ in range(runs)]
    chosen = {key: statistics.median(r[key] for r in results) for key in results[0]}
    chosen["p99_runs"] = [round(r["p99_ms"], 1) for r in results]
    chosen["starved"] = [r["published"] for r in results if r["starved"]]
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run, 200 messages")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--count", type=int, default=500, help="well-behaved publishes a run")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.count = 1, 200
    print(
        f"flood benchmark: {os.cpu_count()} cores, a well-behaved client publishing every 10 ms "
        f"({args.count} messages), medians of {args.runs} run(s)\n"
    )
    rows = [("quiet", LIMITED, None)]
    for flood in FLOODS:
        rows += [
            (f"{flood} flood, no limits", NO_LIMITS, flood),
            (f"{flood} flood", LIMITED, flood),
        ]
    for name, settings, flood in rows:
        r = median_of(args.runs, lambda s=settings, f=flood: scenario(s, f, args.count))
        starved = (
            f"; starved in {len(r['starved'])} run(s): no ack within {STARVED:g} s after "
            f"{r['starved']} publishes"
            if r["starved"]
            else ""
        )
        print(
            f"  {name:<26} p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:8.2f} ms  "
            f"(p99 runs {r['p99_runs']}); stored {r['stored_per_s']:>9,.0f} msg/s{starved}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
