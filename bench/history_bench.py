"""The event log's history: bytes a day for a large homelab before and after (results only
when they change, heartbeats naming the rest, sealed segments compressed), and replay and
rebuild over compressed segments against plain ones, in the same run.

    python bench/history_bench.py            # a simulated day; 5 runs over 500k messages
    python bench/history_bench.py --quick    # 2 simulated hours (times 12); 3 runs, 100k

The homelab: 50 nodes, each with 20 checks every 30 s (a disk check; 6 containers with
their state and an HTTP check; 3 systemd units with their state and a TCP check; a TLS
check), a heartbeat per node every 30 s and the broker's ``bus.stats`` every second.
Change rates as seen in such homelabs: each check fails about once a day for about five
minutes; a TLS check's days left (0.1 day steps) and a disk's used percent move every few
hours; half the disks' free GiB (two decimals) moves at every run; one HTTP check in five
serves a page whose size changes at every run. "Before" sends every result in full, as
the agent did; "after" runs the agent's own ``Reporter`` (refresh 600 s). Bytes are the
records as the broker frames them (the real envelope and record encoding); compressed is
16 MiB segments through the broker's zstd settings.

Speed: a log of the "before" kind is written in 16 MiB segments, copied, and the copy's
sealed segments compressed; then, alternately, the replay path (``FileLog.messages``,
every message decoded) and the observer's rebuild (``observer.catch_up`` into an empty
world) over each, medians of the runs (warm page cache).
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import msgpack
import zstandard

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from actors import observer  # noqa: E402
from actors.agent import Reporter, what  # noqa: E402
from actors.domain.world import World  # noqa: E402
from bus import compression, envelope, filelog, records  # noqa: E402

NODES = 50
ROUND = 30.0  # seconds between two runs of every check, and between heartbeats
DAY = 86400.0
START = 1_796_083_200.0  # 2026-12-01T00:00Z
BREAK = 1 / 2880  # a passing check fails about once a day
MEND = 0.1  # and passes again about five minutes later
SLOW_FACT = 1 / 300  # a TLS check's days left, a disk's used percent: every few hours
BUSY_DISKS = 0.5  # nodes whose free GiB moves at every run
DYNAMIC_PAGES = 0.2  # HTTP checks whose page size changes at every run
SEGMENT = filelog.SEGMENT_BYTES


def plan(node: int) -> list[tuple[str, str | None, str]]:
    """(key, service, check) of a node's 20 checks, as the agent names them."""
    checks: list[tuple[str, str | None, str]] = [("node/disk", None, "disk")]
    for k in range(6):
        service = f"app{node:02d}-{k}"
        checks += [(f"service/{service}/{c}", service, c) for c in ("state", "http")]
    for k in range(3):
        service = f"unit{node:02d}-{k}"
        checks += [(f"service/{service}/{c}", service, c) for c in ("state", "tcp-5432")]
    checks.append((f"service/app{node:02d}-0/tls", f"app{node:02d}-0", "tls"))
    return checks


class Homelab:
    """The simulated checks' results, run after run (seeded: both variants see the same)."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.failing: set[tuple[int, str]] = set()
        self.slow: dict[tuple[int, str], float] = {}
        self.dynamic = {(n, k) for n in range(NODES) for k, _, c in plan(n) if c == "http"}
        self.dynamic = {x for x in sorted(self.dynamic) if self.rng.random() < DYNAMIC_PAGES}
        self.busy = {n for n in range(NODES) if self.rng.random() < BUSY_DISKS}

    def result(self, node: int, key: str, service: str | None, check: str, now: float) -> dict:
        rng, where = self.rng, (node, key)
        if rng.random() < (MEND if where in self.failing else BREAK):
            self.failing ^= {where}
        ok = where not in self.failing
        if rng.random() < SLOW_FACT:
            self.slow[where] = self.slow.get(where, 0.0) + 0.1
        drift = self.slow.get(where, 0.0)
        latency = round(rng.uniform(1, 80), 1)
        if check == "disk":
            used = round(52.0 + drift, 1)
            free = round(100 - used + (rng.random() / 50 if node in self.busy else 0), 2)
            facts = {"used_percent": used, "free_gb": free, "total_gb": 200.0}
            detail = f"/: {used:g}% used, {free:.1f} GiB free"
        elif check == "state" and service and service.startswith("app"):
            facts = {
                "state": "running" if ok else "exited",
                "health": "healthy" if ok else None,
                "image": "ghcr.io/example/app:1.4.2",
                "image_id": "sha256:4f1c0a6b9d2e7f3a5c8b1e0d9f6a2c4b7e1d3f5a8c0b2e4d6f8a1c3e5b7d9f0a",
                "started_at": "2026-11-28T06:12:40.123456789Z",
                "exit_code": 0 if ok else 1,
                "restart_count": 0,
            }
            detail = "running (healthy), ghcr.io/example/app:1.4.2" if ok else "exited (code 1)"
        elif check == "state":
            facts = {"state": "active" if ok else "failed", "sub": "running" if ok else "failed"}
            detail = f"{service}.service: {facts['state']} ({facts['sub']})"
        elif check == "http":
            size = 5120 + (rng.randint(0, 4000) if where in self.dynamic else 0)
            facts = {"status": 200 if ok else 502, "bytes": size}
            detail = "200 OK" if ok else "status 502 Bad Gateway, expected 200"
        elif check == "tls":
            days = round(61.0 - drift, 1)
            facts = {
                "days_left": days,
                "not_after": "2027-01-31T12:00:00+00:00",
                "subject": "app.example.ts.net",
                "verified": True,
                "protocol": "TLSv1.3",
            }
            detail = f"certificate expires in {days:g} days"
        else:
            facts = {}
            detail = f"10.0.0.{node}:5432: connected" if ok else "connection refused"
        return {
            "node": f"node{node:02d}",
            "service": service,
            "check": check,
            "outcome": "ok" if ok else "fail",
            "detail": detail,
            "latency_ms": latency if ok else None,
            "facts": facts,
            "interval": ROUND,
            "observed_at": now + latency / 1000,
        }


def stream(hours: float, after: bool, seed: int = 1):
    """(topic, source, payload, time) of the log such a homelab writes, in order."""
    lab = Homelab(seed)
    plans = [plan(n) for n in range(NODES)]
    reporters = [Reporter(600.0) for _ in range(NODES)]
    seq = 0
    for r in range(int(hours * 3600 / ROUND)):
        base = START + r * ROUND
        for second in range(int(ROUND)):
            seq += 1
            stats = {"seq": seq, "rate": 104.2, "subscribers": 5, "published": seq}
            yield "bus.stats", "broker", stats | {"rejected": 0, "fsync": "batch"}, base + second
        for n in range(NODES):
            node, now, reporter = f"node{n:02d}", base + n * ROUND / NODES, reporters[n]
            beat = {
                "node": node,
                "interval": ROUND,
                "missed_intervals": 3,
                "checks": 20,
                "started_at": START - 3600,
                "version": "0.1.0",
            }
            if after:
                beat |= reporter.heartbeat()
            seq += 1
            reporter.stored(seq)
            yield f"obs.node.{node}.agent", f"agent:{node}", beat, now
            for key, service, check in plans[n]:
                payload = lab.result(n, key, service, check, now)
                seen = SimpleNamespace(**payload)
                if after and not reporter.full(key, seen, reporter.began(), now):
                    continue
                seq += 1
                reporter.sending(key)
                reporter.stored(seq, key, (what(seen), now))
                topic = f"obs.node.{node}." + (f"service.{service}" if service else "check")
                yield topic, f"agent:{node}", payload, now


def framed(items):
    """The records the broker writes for ``items``: (record, time), ids as the outbox's."""
    packer = msgpack.Packer()
    for seq, (topic, source, payload, when) in enumerate(items, 1):
        wire = envelope.encode_wire(topic, f"3f9a0c1b2d4e-{seq}", source, payload, packer)
        who = source if ":" in source else f"service:{source}"  # its key's role, as stored
        yield records.frame(envelope.stamp(wire, seq, when, who)), when


def bytes_a_day(hours: float, after: bool) -> tuple[int, int, int]:
    """(records, plain bytes, compressed bytes) for a day (the simulated hours scaled)."""
    count = plain = packed = 0
    chunk: list[bytes] = []
    size = 0
    compressor = zstandard.ZstdCompressor(
        level=compression.LEVEL, write_checksum=True, write_content_size=True
    )
    for record, _ in framed(stream(hours, after)):
        count += 1
        plain += len(record)
        chunk.append(record)
        size += len(record)
        if size >= SEGMENT:
            packed += len(compressor.compress(b"".join(chunk)))
            chunk, size = [], 0
    if chunk:
        packed += len(compressor.compress(b"".join(chunk)))
    scale = 24 / hours
    return round(count * scale), round(plain * scale), round(packed * scale)


def write_log(events: Path, messages: int) -> None:
    log, _ = filelog.FileLog.open_for_append(events)
    batch = []
    for (record, _), _n in zip(framed(stream(1e9, after=False)), range(messages), strict=False):
        batch.append(record[records.HEADER_SIZE :])
        if len(batch) == 1000:
            log.append(batch)
            batch = []
    if batch:
        log.append(batch)
    log.close()


def timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def speeds(messages: int, runs: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="history-bench-"))
    try:
        plain, packed = folder / "plain" / "events", folder / "compressed" / "events"
        write_log(plain, messages)
        shutil.copytree(plain, packed)
        for segment in filelog.list_segments(packed)[:-1]:
            compression.compress(segment.path)
        sizes = {
            name: sum(s.path.stat().st_size for s in filelog.list_segments(path))
            for name, path in (("plain", plain), ("compressed", packed))
        }
        tasks = {
            "replay": lambda e: sum(1 for _ in filelog.FileLog(e).messages()),
            "rebuild": lambda e: observer.catch_up(e, World()),
        }
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(runs):
            for task, fn in tasks.items():
                for name, path in (("plain", plain), ("compressed", packed)):
                    times.setdefault((task, name), []).append(timed(lambda f=fn, p=path: f(p)))
        segments = len(filelog.list_segments(plain))
        print(
            f"\n{messages:,} messages in {segments} segments: plain {sizes['plain'] / 2**20:.0f} "
            f"MiB, compressed {sizes['compressed'] / 2**20:.0f} MiB (the newest stays plain); "
            f"medians of {runs} runs, warm cache"
        )
        print(
            f"{'':>8} {'plain s':>8} {'msg/s':>10} {'zstd s':>8} {'msg/s':>10} {'zstd/plain':>10}"
        )
        for task in tasks:
            a = statistics.median(times[(task, "plain")])
            b = statistics.median(times[(task, "compressed")])
            print(
                f"{task:>8} {a:>8.2f} {messages / a:>10,.0f} {b:>8.2f} {messages / b:>10,.0f} "
                f"{b / a:>10.2f}"
            )
            for name in ("plain", "compressed"):
                print(f"{'':>8} {name} runs: {[round(t, 2) for t in times[(task, name)]]}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 simulated hours; 3 runs, 100k")
    parser.add_argument("--hours", type=float, help="hours simulated (scaled to a day) [24]")
    parser.add_argument("--messages", type=int, help="messages in the speed log [500000]")
    parser.add_argument("--runs", type=int, help="runs of replay and rebuild [5]")
    args = parser.parse_args()
    hours = args.hours or (2.0 if args.quick else 24.0)
    messages = args.messages or (100_000 if args.quick else 500_000)
    runs = args.runs or (3 if args.quick else 5)
    print(
        f"bytes a day: {NODES} nodes x 20 checks every {ROUND:g} s, bus.stats every second "
        f"({hours:g} h simulated, scaled to 24 h)"
    )
    print(f"{'':>36} {'records':>11} {'plain MB':>9} {'zstd MB':>8}")
    rows = {}
    for name, after in (
        ("before: every result in full", False),
        ("after: changes + heartbeats", True),
    ):
        began = time.monotonic()
        rows[name] = bytes_a_day(hours, after)
        count, plain, packed = rows[name]
        print(
            f"{name:>36} {count:>11,} {plain / 1e6:>9,.1f} {packed / 1e6:>8,.1f}"
            f"   ({time.monotonic() - began:.0f} s)"
        )
    (_, before, _), (_, _, now) = rows.values()
    print(
        f"{'':>36} the log a day: {before / now:,.0f} times smaller ({before / 1e6:,.0f} MB -> {now / 1e6:,.1f} MB)"
    )
    speeds(messages, runs)


if __name__ == "__main__":
    main()
