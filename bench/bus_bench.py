"""The bus benchmark: our broker against a bare forwarder, Redis Streams and NATS JetStream.

    python bench/bus_bench.py            # everything, medians of 3 (about 5 minutes here)
    python bench/bus_bench.py --quick    # smaller counts, one run each

Everything runs on loopback with separate processes for publisher, broker and subscriber,
the way the product runs. Prints (a) the bare pyzmq forwarder baseline, (b) durable
throughput per fsync policy and its ratio to (a), (c) publish-to-delivery latency at fixed
rates, (d) replay speed against a bare msgpack pass over the same files, (e) the peers,
(f) what CURVE costs: (b) and (c) at 2,000 msg/s with it on (the default) and off.

    python bench/bus_bench.py --curve-only   # just (f)
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgpack

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import peers  # noqa: E402
from bus import client, envelope, filelog, keys  # noqa: E402

TOPIC = "bench.node.web1.service.nginx"


def payload(i: int) -> dict:
    """About 300 bytes on the wire, like an observation."""
    return {
        "node": "web1",
        "service": "nginx",
        "status": "healthy",
        "latency_ms": 12.5,
        "detail": "x" * 150,
        "checked_by": "agent:web1",
        "n": i,
    }


def wire_size() -> int:
    return len(envelope.encode_wire(TOPIC, "0123456789ab-1000000", "bench", payload(10**6)))


# -- a broker process ----------------------------------------------------------------------


def _free_pair() -> int:
    for _ in range(100):
        with socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            with contextlib.suppress(OSError):
                b.bind(("127.0.0.1", port + 1))
                if port < 65000:
                    return port
    raise RuntimeError("no free ports")


NO_LIMITS = {"HOMELAB_CLIENT_RATE": "0", "HOMELAB_CLIENT_BANDWIDTH": "0"}


@contextlib.contextmanager
def broker(
    fsync: str, settings: dict[str, str] | None = None, curve: bool = True
) -> Iterator[tuple[str, keys.Credentials | None]]:
    """A broker process, and the keys a client connects with (None: CURVE off);
    ``settings``: its HOMELAB_* environment (default: no per-client limits, so one
    publisher measures the bus itself)."""
    root = Path(tempfile.mkdtemp(prefix="bench-root-"))
    endpoint = f"tcp://127.0.0.1:{_free_pair()}"
    credentials = None
    if curve:  # what `homelab init` does, and a key for the benchmark's clients
        keys.ensure(root / "keys", ["tool:bench"])
        credentials = keys.client(root / "keys", "tool:bench")
    argv = [
        sys.executable,
        "-m",
        "homelab",
        "broker",
        "--root",
        str(root),
        "--bus",
        endpoint,
        "--fsync",
        fsync,
        "--stats-interval",
        "1",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), **(NO_LIMITS if settings is None else settings)}
    env.pop("HOMELAB_KEYS", None)
    env["HOMELAB_CURVE"] = "on" if curve else "off"
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping(endpoint, timeout=0.5, curve=credentials)
                break
            except client.BusError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"broker did not start: {proc.stderr.read()!r}") from None
        yield endpoint, credentials
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(root, ignore_errors=True)


# -- child processes -----------------------------------------------------------------------


def _subscriber(endpoint: str, n: int, ready, out, curve) -> None:
    delays, last = [], 0.0
    with client.Subscriber(endpoint, "bench.", curve=curve) as subscriber:
        ready.set()
        got = 0
        deadline = time.monotonic() + 300
        while got < n and time.monotonic() < deadline:
            message = subscriber.get(timeout=1.0)
            if message is None:
                continue
            last = time.monotonic()
            sent = message.payload.get("t")
            if sent is not None:
                delays.append(last - sent)
            got += 1
    out.put({"got": got, "t_last": last, "delays": delays})


def _publisher(endpoint: str, n: int, rate: float | None, out, curve) -> None:
    with client.Publisher(endpoint, "bench", timeout=60, curve=curve) as publisher:
        t_first = time.monotonic()
        if rate is None:
            for i in range(n):
                publisher.submit(TOPIC, payload(i))
        else:
            for i in range(n):
                target = t_first + i / rate
                while (now := time.monotonic()) < target:
                    if target - now > 0.0004:
                        time.sleep(0.0002)
                body = payload(i)
                body["t"] = time.monotonic()
                publisher.submit(TOPIC, body)
        publisher.flush()
        out.put({"t_first": t_first, "t_flushed": time.monotonic()})


def through_broker(fsync: str, n: int, rate: float | None = None, curve: bool = True) -> dict:
    ctx = mp.get_context("spawn")
    with broker(fsync, curve=curve) as (endpoint, credentials):
        ready, sub_out, pub_out = ctx.Event(), ctx.Queue(), ctx.Queue()
        sub = ctx.Process(target=_subscriber, args=(endpoint, n, ready, sub_out, credentials))
        sub.start()
        if not ready.wait(30):
            raise RuntimeError("subscriber did not start")
        deadline = time.monotonic() + 10
        while (
            client.ping(endpoint, curve=credentials)["subscribers"] < 1
            and time.monotonic() < deadline
        ):
            time.sleep(0.02)
        pub = ctx.Process(target=_publisher, args=(endpoint, n, rate, pub_out, credentials))
        pub.start()
        p, s = pub_out.get(timeout=600), sub_out.get(timeout=600)
        pub.join(30)
        sub.join(30)
    if s["got"] != n:
        raise RuntimeError(f"subscriber got {s['got']} of {n}")
    result = {"msgs_per_s": n / (s["t_last"] - p["t_first"]), "n": n}
    if s["delays"]:
        delays = sorted(s["delays"])
        result["p50_ms"] = delays[len(delays) // 2] * 1000
        result["p99_ms"] = delays[int(len(delays) * 0.99) - 1] * 1000
    return result


# -- replay --------------------------------------------------------------------------------


def build_log(folder: Path, n: int) -> None:
    log, _ = filelog.FileLog.open_for_append(folder)
    now, batch = time.time(), []
    for i in range(1, n + 1):
        wire = envelope.encode_wire(TOPIC, f"0123456789ab-{i}", "bench", payload(i))
        batch.append(envelope.stamp(wire, i, now, "tool:bench"))  # as the broker stores it
        if len(batch) == 5000:
            log.append(batch)
            batch = []
    log.append(batch)
    log.close()


def bare_unpacker_pass(folder: Path) -> int:
    """The reference: msgpack's own streaming Unpacker over every segment file."""
    count = 0
    for segment in filelog.list_segments(folder):
        with open(segment.path, "rb") as f:
            for _ in msgpack.Unpacker(f, raw=False):
                count += 1
    return count // 2  # a header object and a body per record


def our_replay(folder: Path) -> int:
    count = 0
    for _ in filelog.FileLog(folder).messages():
        count += 1
    return count


def timed(fn: Callable[[], int]) -> float:
    start = time.perf_counter()
    count = fn()
    return count / (time.perf_counter() - start)


# -- reporting -----------------------------------------------------------------------------


def median_of(runs: int, fn: Callable[[], dict], key: str = "msgs_per_s") -> dict:
    results = [fn() for _ in range(runs)]
    results.sort(key=lambda r: r[key])
    chosen = dict(results[len(results) // 2])
    chosen["runs"] = [round(r[key]) for r in results]
    return chosen


def fsync_floor(folder: Path, count: int = 300) -> tuple[float, float]:
    """p50/p99 of one small write + fdatasync on this disk: the floor for durable latency."""
    path = folder / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    times = []
    try:
        for _ in range(count):
            os.write(fd, b"x" * 400)
            start = time.perf_counter()
            os.fdatasync(fd)
            times.append(time.perf_counter() - start)
    finally:
        os.close(fd)
        path.unlink()
    times.sort()
    return times[len(times) // 2] * 1000, times[int(len(times) * 0.99) - 1] * 1000


def curve_cost(runs: int, n: int, quick: bool) -> None:
    """(f) CURVE on (the default) beside the same runs without it (HOMELAB_CURVE=off): durable
    throughput (fsync=batch) and p99 at 2,000 msg/s, and the ratios. On and off alternate,
    run by run (the machine is shared and noisy), and each figure is the median of its runs.
    Target: CURVE costs under 15 % of throughput and under 0.3 ms of p99."""
    rate, count = 2000, 2000 * (1 if quick else 3)
    print("(f) CURVE on vs off, fsync=batch, on and off alternating:")
    tput: dict[bool, list[float]] = {True: [], False: []}
    p99: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(runs):
        for on in (True, False):
            tput[on].append(through_broker("batch", n, curve=on)["msgs_per_s"])
            p99[on].append(through_broker("batch", count, rate, curve=on)["p99_ms"])
    for on in (True, False):
        print(
            f"    CURVE {'on ' if on else 'off'} {statistics.median(tput[on]):>10,.0f} msg/s "
            f"(runs {[round(t) for t in tput[on]]}); p99 at {rate:,} msg/s "
            f"{statistics.median(p99[on]):.2f} ms (runs {[round(p, 2) for p in p99[on]]})"
        )
    ratio = statistics.median(a / b for a, b in zip(tput[True], tput[False], strict=True))
    extra = statistics.median(a - b for a, b in zip(p99[True], p99[False], strict=True))
    print(
        f"    CURVE costs {100 * (1 - ratio):.1f} % of throughput (median of paired on/off "
        f"ratios {ratio:.2f}) and {extra:+.2f} ms of p99 at {rate:,} msg/s (median of pairs)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, one run each")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--n", type=int, default=200_000, help="messages per throughput run")
    parser.add_argument("--replay-n", type=int, default=1_000_000)
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--curve-only", action="store_true", help="only (f): CURVE on vs off")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.n, args.replay_n = 1, 30_000, 100_000
    runs, n = args.runs, args.n
    print(
        f"bus benchmark: {os.cpu_count()} cores, {wire_size()}-byte messages, "
        f"medians of {runs} run(s)\n"
    )
    if args.curve_only:
        curve_cost(runs, n, args.quick)
        return 0

    base = median_of(runs, lambda: peers.bare_zmq_forwarder(n))
    print(
        f"(a) bare pyzmq forwarder, no persistence: {base['msgs_per_s']:>10,.0f} msg/s  "
        f"runs {base['runs']}"
    )

    print("(b) broker, durable, 1 publisher -> broker -> 1 subscriber:")
    policies = {"batch": n, "never": n, "always": max(2000, n // 40)}
    ours = {}
    for policy, count in policies.items():
        ours[policy] = median_of(runs, lambda p=policy, c=count: through_broker(p, c))
        print(
            f"    fsync={policy:<7} {ours[policy]['msgs_per_s']:>10,.0f} msg/s  "
            f"= {ours[policy]['msgs_per_s'] / base['msgs_per_s']:.2f}x (a)  "
            f"runs {ours[policy]['runs']} (n={count})"
        )

    with tempfile.TemporaryDirectory() as folder:
        p50, p99 = fsync_floor(Path(folder))
    print(
        f"(c) publish -> delivery latency (floor: one fdatasync here p50 {p50:.2f} ms, "
        f"p99 {p99:.2f} ms)"
    )
    for policy in ("batch", "never"):
        for rate in (2000, 10000):
            count = rate * (1 if args.quick else 3)
            r = median_of(
                runs, lambda p=policy, c=count, q=rate: through_broker(p, c, q), key="p99_ms"
            )
            print(
                f"    fsync={policy:<6} {rate:>6,} msg/s: p50 {r['p50_ms']:.2f} ms, "
                f"p99 {r['p99_ms']:.2f} ms  (p99 runs {r['runs']})"
            )

    with tempfile.TemporaryDirectory() as folder:
        build_log(Path(folder), args.replay_n)
        size = sum(s.path.stat().st_size for s in filelog.list_segments(Path(folder)))
        bare, mine = [], []
        for _ in range(max(runs, 5)):  # paired, back to back: the machine is shared and noisy
            bare.append(timed(lambda: bare_unpacker_pass(Path(folder))))
            mine.append(timed(lambda: our_replay(Path(folder))))
        b, m = statistics.median(bare), statistics.median(mine)
        ratio = statistics.median(x / y for x, y in zip(mine, bare, strict=True))
        print(
            f"(d) replay of {args.replay_n:,} messages ({size / 2**20:.0f} MiB): "
            f"{m:,.0f} msg/s, bare Unpacker {b:,.0f} msg/s; median of paired ratios "
            f"{ratio:.2f}x  (ours {[round(x) for x in mine]}, bare {[round(x) for x in bare]})"
        )

    if args.skip_peers:
        return 0
    print("(e) peers, same load:")
    available = peers.available()
    for name, fn in (
        ("redis_streams", peers.redis_streams),
        ("nats_jetstream", peers.nats_jetstream),
    ):
        status = available.get(name, {"ok": False, "reason": "unknown peer"})
        if not status["ok"]:
            print(f"    {name}: skipped ({status['reason']})")
            continue
        r = median_of(runs, lambda f=fn: f(n))
        print(
            f"    {name:<15} {r['msgs_per_s']:>10,.0f} msg/s; broker batch is "
            f"{ours['batch']['msgs_per_s'] / r['msgs_per_s']:.2f}x  runs {r['runs']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
