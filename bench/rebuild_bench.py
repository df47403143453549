"""The observer's rebuild: how long the world takes to fold from the event log, and in how much
memory.

    python bench/rebuild_bench.py            # logs of 250k, 500k and 1M messages, medians of 3
    python bench/rebuild_bench.py --quick    # 100k messages, one run

It writes realistic logs straight to segment files (no broker): 50 nodes with 10 services
each, HTTP/TCP/state checks every 30 s, a heartbeat per node every 10 s, a disk check per node
every minute, ``bus.stats`` every second, checks flipping now and then, nodes falling silent
for a few minutes and a few invalid payloads. Then, in a fresh child process per run, it
times exactly what the observer does when its checkpoint is deleted
(``actors.observer.catch_up`` into an empty world), then writes the checkpoint. Peak memory
is the child's maximum RSS; its baseline after imports is shown next to it, so the rebuild's
own share is visible. Target: a million messages in under 10 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgpack

from actors import world_checkpoint

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bus import envelope, filelog  # noqa: E402

NODES = 50
SERVICES_PER_NODE = 10
HEARTBEAT_EVERY = 10
CHECK_EVERY = 30
DISK_EVERY = 60
BREAK = 0.002  # chance an observation of a passing check fails
MEND = 0.1  # chance an observation of a failing check passes again (~5 minutes down)
SILENCE = 0.0004  # chance per heartbeat that a node's agent falls silent for a while
INVALID = 0.00002  # chance an observation is malformed
START = dt.datetime(2026, 11, 26, tzinfo=dt.UTC).timestamp()


def generate(rng: random.Random, total: int):
    """(topic, source, payload, time) of a realistic control-plane log, ``total`` of them."""
    nodes = [f"node-{n:02d}" for n in range(NODES)]
    services = []  # (node, service, [check ids])
    for n, node in enumerate(nodes):
        for k in range(SERVICES_PER_NODE):
            checks = ["http"] if k % 3 else ["http", "tcp-443"]
            if k % 4:
                checks = ["state", *checks]
            services.append((node, f"svc-{n * SERVICES_PER_NODE + k:03d}", checks))
    outcome: dict[tuple[str, str, str], str] = {}
    silent_until = dict.fromkeys(nodes, 0)
    produced, second = 0, 0
    while True:
        now = START + second
        items = [("bus.stats", "broker", {"seq": produced, "rate": 50.0, "subscribers": 3})]
        for n, node in enumerate(nodes):
            if second < silent_until[node]:
                continue
            if (second + n) % HEARTBEAT_EVERY == 0:
                if rng.random() < SILENCE:
                    silent_until[node] = second + rng.randint(60, 600)
                    continue
                items.append(
                    (
                        f"obs.node.{node}.agent",
                        f"agent:{node}",
                        {
                            "node": node,
                            "interval": float(HEARTBEAT_EVERY),
                            "missed_intervals": 3,
                            "checks": 25,
                            "started_at": START - 3600.0,
                            "version": "0.1.0",
                        },
                    )
                )
            if (second + n) % DISK_EVERY == 0:
                items.append(
                    (
                        f"obs.node.{node}.check",
                        f"agent:{node}",
                        _observation(rng, outcome, node, None, "disk", now),
                    )
                )
        for i, (node, service, checks) in enumerate(services):
            if second < silent_until[node] or (second + i) % CHECK_EVERY:
                continue
            for check in checks:
                items.append(
                    (
                        f"obs.node.{node}.service.{service}",
                        f"agent:{node}",
                        _observation(rng, outcome, node, service, check, now),
                    )
                )
        for topic, source, payload in items:
            yield topic, source, payload, now + produced % 1000 / 1e6
            produced += 1
            if produced == total:
                return
        second += 1


def _observation(rng, outcome, node, service, check, now) -> dict:
    key = (node, service or "", check)
    last = outcome.get(key, "ok")
    if rng.random() < (BREAK if last == "ok" else MEND):
        last = "fail" if last == "ok" else "ok"
    outcome[key] = last
    latency = round(rng.uniform(1, 80), 2)
    ok = last == "ok"
    if check == "http":
        detail = f"HTTP 200 in {latency:g} ms" if ok else "expected status 200, got 502"
        facts = {"status": 200 if ok else 502, "bytes": rng.randint(200, 20000)}
    elif check == "state":
        detail = "container running" if ok else "container exited (code 1)"
        facts = {"state": "running" if ok else "exited", "health": None, "restarts": 0}
    elif check == "disk":
        used = round(rng.uniform(40, 60) if ok else rng.uniform(91, 99), 1)
        detail = f"/ {used}% used (max 90%)"
        facts = {"used_percent": used, "free_bytes": rng.randint(1, 100) * 2**30}
    else:
        detail = "port 443 open" if ok else "connection refused"
        facts = {"port": 443}
    payload = {
        "node": node,
        "service": service,
        "check": check,
        "outcome": last,
        "detail": detail,
        "latency_ms": latency,
        "facts": facts,
        "interval": float(DISK_EVERY if check == "disk" else CHECK_EVERY),
        "observed_at": now - latency / 1000,
    }
    if rng.random() < INVALID:
        payload["outcome"] = "maybe"
    return payload


def build_logs(folder: Path, sizes: list[int], seed: int = 7) -> dict[int, Path]:
    """One generated stream written to a log per size (each a prefix of the largest)."""
    logs = {}
    writers = {}
    for size in sizes:
        logs[size] = folder / f"log-{size}" / "events"
        writers[size] = filelog.FileLog.open_for_append(logs[size])[0]
    packer = msgpack.Packer()
    batch: list[bytes] = []
    seq = 0
    began = time.monotonic()

    def flush() -> None:
        for size, writer in writers.items():
            first = seq - len(batch) + 1
            keep = batch[: max(0, min(len(batch), size - first + 1))]
            if keep:
                writer.append(keep)
        batch.clear()

    for topic, source, payload, when in generate(random.Random(seed), max(sizes)):
        seq += 1
        wire = envelope.encode_wire(topic, f"m{seq}", source, payload, packer)
        batch.append(envelope.stamp(wire, seq, when, sender(source)))
        if len(batch) == 2000:
            flush()
    flush()
    for writer in writers.values():
        writer.close()
    print(f"wrote logs of {sizes} messages in {time.monotonic() - began:.1f} s", flush=True)
    return logs


def child(events_dir: str, mode: str) -> None:
    """One measurement, in a fresh process; prints a JSON line."""
    from actors import observer
    from actors.domain.world import PREFIXES, World

    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    began = time.perf_counter()
    world = World()
    if mode == "rebuild":
        observer.catch_up(Path(events_dir), world)
        count = world.seq
    else:  # decoding only: the floor the log reader sets
        count = sum(1 for _ in filelog.FileLog(events_dir).messages(0, None, PREFIXES))
    seconds = time.perf_counter() - began
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    checkpoint_s = files_s = 0.0
    if mode == "rebuild":  # what follows a rebuild: the world files and a checkpoint
        with tempfile.TemporaryDirectory() as tmp:
            began = time.perf_counter()
            observer.write_world(Path(tmp), world, {})
            files_s = time.perf_counter() - began
            began = time.perf_counter()
            world_checkpoint.save(Path(tmp) / "checkpoint.json", world)
            checkpoint_s = time.perf_counter() - began
    result = {
        "seconds": seconds,
        "messages": count,
        "base_mb": base_kb / 1024,
        "peak_mb": peak_kb / 1024,
        "checkpoint_s": checkpoint_s,
        "files_s": files_s,
        "nodes": len(world.nodes),
        "services": len(world.services),
        "rejected": world.rejected,
    }
    print(json.dumps(result))


def measure(events_dir: Path, mode: str, runs: int) -> dict:
    results = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(events_dir), mode],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    median = {
        key: statistics.median(r[key] for r in results)
        for key in ("seconds", "base_mb", "peak_mb", "checkpoint_s", "files_s")
    }
    return {**results[0], **median, "runs": [round(r["seconds"], 2) for r in results]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k messages, one run")
    parser.add_argument("--runs", type=int, default=3, help="runs per size (the median is shown)")
    parser.add_argument("--sizes", help="comma-separated log sizes [250000,500000,1000000]")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    sizes = [100_000] if args.quick else [250_000, 500_000, 1_000_000]
    if args.sizes:
        sizes = sorted(int(size) for size in args.sizes.split(","))
    runs = 1 if args.quick else args.runs
    folder = Path(tempfile.mkdtemp(prefix="rebuild-bench-"))
    try:
        logs = build_logs(folder, sizes)
        print(
            f"{'messages':>10} {'mode':>8} {'seconds':>8} {'msg/s':>9} {'peak MB':>8} "
            f"{'base MB':>8} {'+MB':>6} {'files s':>7} {'ckpt s':>7}  runs"
        )
        for size in sizes:
            log_mb = sum(p.stat().st_size for p in logs[size].rglob("*.log")) / 2**20
            for mode in ("decode", "rebuild"):
                r = measure(logs[size], mode, runs)
                print(
                    f"{size:>10,} {mode:>8} {r['seconds']:>8.2f} "
                    f"{r['messages'] / r['seconds']:>9,.0f} {r['peak_mb']:>8.1f} "
                    f"{r['base_mb']:>8.1f} {r['peak_mb'] - r['base_mb']:>6.1f} "
                    f"{r['files_s']:>7.3f} {r['checkpoint_s']:>7.3f}  {r['runs']}"
                )
            print(
                f"{'':>10} log {log_mb:.0f} MB; world: {r['nodes']} nodes, {r['services']} "
                f"services, {r['rejected']} rejected payloads"
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()


def sender(source: str) -> str:
    """Who the broker stores as a message's sender: its key's role (``agent:web1``,
    ``service:observer``)."""
    return source if ":" in source else f"service:{source}"
