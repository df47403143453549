"""Baseline and peer measurements printed beside the broker's own numbers.

Every function here pushes the same load through a different system: one publisher
process -> the system -> one subscriber process, ``n`` msgpack records of ~300 bytes.
``bare_zmq_forwarder`` is the floor cost of a Python hop with no persistence;
``redis_streams`` and ``nats_jetstream`` are what an off-the-shelf persistent log does.

Throughput is ``n / (subscriber's last receive - publisher's first send)``. The two
timestamps come from different processes; that is sound because ``time.perf_counter``
and ``time.monotonic`` are both CLOCK_MONOTONIC on Linux, one clock for the whole machine.
Latency is sampled (~2000 messages per run) at full load, so it is mostly queueing delay:
read it as "how far behind does the reader fall", not as an idle round trip.

Everything binds to 127.0.0.1, every loop is bounded in count and by a deadline, and
every process or server started here is stopped in a ``finally``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import queue
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import zmq

TOPIC = b"bench.health"
NATS_SUBJECT = "bench.health"
NATS_STREAM = "BENCH"
REDIS_STREAM = "bench"
HWM = 1_000_000
LATENCY_SAMPLES = 2000
REDIS_PIPELINE = 500
REDIS_READ_COUNT = 1000
NATS_WINDOW = 1000
CHUNK = 10_000  # messages between deadline checks in the tightest loops
STOP_GRACE_S = 5.0
SERVER_DIRS = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

Result = dict[str, Any]


# ---------------------------------------------------------------- load and timing


def make_payloads(n: int) -> list[bytes]:
    """The same ~300-byte health records for every system, so numbers compare."""
    return [
        msgpack.packb(
            {
                "node": f"web{i % 8}",
                "service": "nginx",
                "status": "healthy",
                "latency_ms": 12.5,
                "detail": "x" * 224,
                "n": i,
            }
        )
        for i in range(n)
    ]


def _sample_every(n: int) -> int:
    return max(1, n // LATENCY_SAMPLES)


def _left(deadline: float, what: str = "run") -> float:
    """Seconds left before the deadline; raising here is what bounds every loop."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise RuntimeError(f"timed out during {what}")
    return left


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _check_order(payload: bytes, expected: int) -> None:
    """Latency pairs the k-th send with the k-th receive, so order must hold."""
    got = msgpack.unpackb(payload)["n"]
    if got != expected:
        raise RuntimeError(f"message {expected} arrived as {got}: lost or reordered")


def _percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def _summarize(name: str, n: int, pub: Result, sub: Result, **extra: Any) -> Result:
    seconds = sub["t_last"] - pub["t_first"]
    if seconds <= 0:
        raise RuntimeError(f"{name}: non-positive duration {seconds}")
    if len(pub["samples"]) != len(sub["samples"]):
        raise RuntimeError(f"{name}: latency samples do not pair up")
    lat = sorted(r - s for s, r in zip(pub["samples"], sub["samples"], strict=True))
    return {
        "name": name,
        "msgs_per_s": n / seconds,
        "n": n,
        "seconds": seconds,
        "pub_seconds": pub["t_done"] - pub["t_first"],
        "lat_p50_ms": _percentile(lat, 0.50) * 1000,
        "lat_p99_ms": _percentile(lat, 0.99) * 1000,
        "lat_max_ms": lat[-1] * 1000,
        "lat_samples": len(lat),
        "payload_bytes": pub["payload_bytes"],
        **extra,
    }


# ---------------------------------------------------------------- child processes


class _Link:
    """A child's way to report to the parent and to wait for the common start."""

    def __init__(self, role: str, reports: Any, go: Any) -> None:
        self.role = role
        self.reports = reports
        self.go = go

    def send(self, kind: str, value: Any = None) -> None:
        self.reports.put((kind, self.role, value))

    def wait_go(self, deadline: float) -> None:
        if not self.go.wait(_left(deadline, f"{self.role} waiting to start")):
            raise RuntimeError(f"{self.role}: no start signal before the deadline")


def _child_entry(link: _Link, target: Callable[..., None], args: tuple[Any, ...]) -> None:
    try:
        target(link, *args)
    except BaseException:
        link.send("error", traceback.format_exc(limit=8))
        raise SystemExit(1) from None


class _Children:
    """Spawned role processes plus their reports; exiting always stops them all."""

    def __init__(self, name: str, deadline: float) -> None:
        self.name = name
        self.deadline = deadline
        self.ctx = mp.get_context("spawn")
        self.reports = self.ctx.Queue()
        self.go = self.ctx.Event()
        self.procs: dict[str, Any] = {}
        self.inbox: dict[tuple[str, str], Any] = {}

    def __enter__(self) -> _Children:
        return self

    def __exit__(self, *exc: object) -> None:
        self.go.set()  # a publisher still waiting should not sit out its timeout
        for proc in self.procs.values():
            proc.join(timeout=STOP_GRACE_S if exc[0] is None else 0.1)
        for proc in self.procs.values():
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=STOP_GRACE_S)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=STOP_GRACE_S)
        self.reports.cancel_join_thread()
        self.reports.close()

    def start(self, role: str, target: Callable[..., None], *args: Any) -> None:
        link = _Link(role, self.reports, self.go)
        proc = self.ctx.Process(
            target=_child_entry, args=(link, target, args), name=f"peers-{role}", daemon=True
        )
        proc.start()
        self.procs[role] = proc

    def wait_for(self, kind: str, role: str) -> Any:
        """Block until `role` reports `kind`; a child's error or death raises here."""
        while (kind, role) not in self.inbox:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"{self.name}: timed out waiting for {role} to report {kind}")
            try:
                got_kind, got_role, value = self.reports.get(timeout=min(left, 0.5))
            except queue.Empty:
                self._raise_if_dead()
                continue
            if got_kind == "error":
                raise RuntimeError(f"{self.name}: {got_role} process failed:\n{value}")
            self.inbox[(got_kind, got_role)] = value
        return self.inbox.pop((kind, role))

    def _raise_if_dead(self) -> None:
        for role, proc in self.procs.items():
            if proc.exitcode not in (None, 0):
                raise RuntimeError(f"{self.name}: {role} process died, exit code {proc.exitcode}")


def _run_pair(
    name: str,
    n: int,
    deadline: float,
    publisher: Callable[..., None],
    subscriber: Callable[..., None],
    *args: Any,
) -> tuple[Result, Result]:
    """Start publisher only after the subscriber is listening, then collect both."""
    with _Children(name, deadline) as kids:
        kids.start("sub", subscriber, *args, n, deadline)
        kids.start("pub", publisher, *args, n, deadline)
        kids.wait_for("ready", "sub")
        kids.wait_for("ready", "pub")
        kids.go.set()
        return kids.wait_for("result", "pub"), kids.wait_for("result", "sub")


# ---------------------------------------------------------------- bare ZeroMQ forwarder


def _zmq_forwarder(link: _Link, n: int, deadline: float) -> None:
    """PULL in, XPUB out, one Python recv+send per frame: the floor of a Python hop."""
    ctx = zmq.Context()
    try:
        pull = ctx.socket(zmq.PULL)
        pull.rcvhwm = HWM
        xpub = ctx.socket(zmq.XPUB)
        xpub.sndhwm = HWM
        xpub.setsockopt(zmq.XPUB_NODROP, 1)  # block, never drop, if the reader lags
        in_port = pull.bind_to_random_port("tcp://127.0.0.1")
        out_port = xpub.bind_to_random_port("tcp://127.0.0.1")
        link.send("ports", (in_port, out_port))
        xpub.rcvtimeo = _ms(_left(deadline, "forwarder waiting for a subscriber"))
        if xpub.recv()[:1] != b"\x01":  # the subscription frame: no slow joiner
            raise RuntimeError("forwarder: first XPUB frame was not a subscription")
        link.send("subscribed")
        recv, send = pull.recv, xpub.send
        for start in range(0, n, CHUNK):
            pull.rcvtimeo = _ms(_left(deadline, "forwarding"))
            for _ in range(min(CHUNK, n - start)):
                send(recv())
    finally:
        ctx.destroy(linger=_ms(max(0.1, deadline - time.monotonic())))


def _zmq_publisher(link: _Link, port: int, n: int, deadline: float) -> None:
    frames = [TOPIC + b"\0" + p for p in make_payloads(n)]
    every = _sample_every(n)
    ctx = zmq.Context()
    try:
        push = ctx.socket(zmq.PUSH)
        push.sndhwm = HWM
        push.connect(f"tcp://127.0.0.1:{port}")
        link.send("ready")
        link.wait_go(deadline)
        send, samples = push.send, []
        t_first = time.perf_counter()
        for start in range(0, n, every):
            push.sndtimeo = _ms(_left(deadline, "zmq publish"))
            samples.append(time.perf_counter())
            for frame in frames[start : start + every]:
                send(frame)
        t_done = time.perf_counter()
        payload_bytes = sum(map(len, frames)) / n - len(TOPIC) - 1
        link.send("result", _pub_result(t_first, t_done, samples, payload_bytes))
    finally:
        ctx.destroy(linger=_ms(max(0.1, deadline - time.monotonic())))


def _zmq_subscriber(link: _Link, port: int, n: int, deadline: float) -> None:
    every = _sample_every(n)
    ctx = zmq.Context()
    try:
        sub = ctx.socket(zmq.SUB)
        sub.rcvhwm = HWM
        sub.connect(f"tcp://127.0.0.1:{port}")
        sub.subscribe(b"")
        link.send("ready")
        recv, samples, got = sub.recv, [], 0
        while got < n:
            sub.rcvtimeo = _ms(_left(deadline, f"zmq receive ({got}/{n})"))
            frame = recv()
            samples.append(time.perf_counter())
            _check_order(frame[len(TOPIC) + 1 :], got)
            for _ in range(min(every, n - got) - 1):
                recv()
            got += min(every, n - got)
        link.send("result", {"t_last": time.perf_counter(), "samples": samples})
    finally:
        ctx.destroy(linger=0)


def _pub_result(t_first: float, t_done: float, samples: list[float], size: float) -> Result:
    return {"t_first": t_first, "t_done": t_done, "samples": samples, "payload_bytes": size}


def bare_zmq_forwarder(n: int, timeout: float = 120) -> Result:
    """Publisher -PUSH-> forwarder (PULL->XPUB) -> SUB subscriber, nothing persisted."""
    _check_n(n)
    deadline = time.monotonic() + timeout
    name = "bare_zmq_forwarder"
    with _Children(name, deadline) as kids:
        kids.start("fwd", _zmq_forwarder, n, deadline)
        in_port, out_port = kids.wait_for("ports", "fwd")
        kids.start("sub", _zmq_subscriber, out_port, n, deadline)
        kids.start("pub", _zmq_publisher, in_port, n, deadline)
        kids.wait_for("subscribed", "fwd")
        kids.wait_for("ready", "sub")
        kids.wait_for("ready", "pub")
        kids.go.set()
        pub, sub = kids.wait_for("result", "pub"), kids.wait_for("result", "sub")
    return _summarize(name, n, pub, sub, durable=False, fsync="none", transport="tcp 127.0.0.1")


def _check_n(n: int) -> None:
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")


# ---------------------------------------------------------------- servers


def _server_binary(name: str) -> str | None:
    """Debian puts nats-server in /usr/sbin, which a non-root PATH may lack."""
    return shutil.which(name) or shutil.which(name, path=SERVER_DIRS)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int, probe: bytes, expect: bytes) -> bool:
    """True once the server speaks its protocol, not merely accepts TCP."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as conn:
            if probe:
                conn.sendall(probe)
            return conn.recv(64).startswith(expect)
    except OSError:
        return False


def _log_tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_ready(
    proc: subprocess.Popen[bytes], port: int, probe: bytes, expect: bytes, deadline: float
) -> bool:
    """True when the server answers; False if it exited (e.g. lost its port)."""
    while proc.poll() is None:
        if _answers(port, probe, expect):
            return True
        if time.monotonic() > deadline:
            raise RuntimeError("server did not answer before the deadline")
        time.sleep(0.05)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_GRACE_S)


@contextlib.contextmanager
def _server(
    argv_for_port: Callable[[int], list[str]],
    probe: bytes,
    expect: bytes,
    log: Path,
    deadline: float,
) -> Iterator[int]:
    """Run a server on a free loopback port until the block ends; yields the port.

    A port picked free can be taken before the server binds it, so retry a few times.
    """
    proc: subprocess.Popen[bytes] | None = None
    try:
        for _attempt in range(3):
            port = _free_port()
            with log.open("ab") as out:
                proc = subprocess.Popen(
                    argv_for_port(port), stdin=subprocess.DEVNULL, stdout=out, stderr=out
                )
            try:
                if _wait_ready(proc, port, probe, expect, deadline):
                    break
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}; log tail:\n{_log_tail(log)}") from None
        else:
            raise RuntimeError(f"server exited at start-up; log tail:\n{_log_tail(log)}")
        yield port
    finally:
        if proc is not None:
            _stop(proc)


def _server_version(binary: str) -> str:
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, timeout=10, check=False, text=True
        )
        return out.stdout.strip() or out.stderr.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def _need(binary: str, module: str) -> str:
    """The server's path, or a RuntimeError saying what is missing."""
    path = _server_binary(binary)
    reason = _unavailable(binary, module)
    if path is None or reason:
        raise RuntimeError(reason or f"{binary} not installed")
    return path


# ---------------------------------------------------------------- Redis Streams


def _redis_client(port: int) -> Any:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=30, socket_connect_timeout=5)
    client.ping()
    return client


def _redis_publisher(link: _Link, port: int, n: int, deadline: float) -> None:
    """Pipelined XADD, one round trip per batch, as a real producer of this size would.

    appendfsync always fsyncs once per event-loop pass, i.e. per ~16 KB read from a
    client: about ten fdatasync calls per 500-command pipeline of these records.
    """
    from redis.utils import HIREDIS_AVAILABLE

    payloads = make_payloads(n)
    every = _sample_every(n)
    client = _redis_client(port)
    try:
        link.send("ready")
        link.wait_go(deadline)
        samples: list[float] = []
        t_first = time.perf_counter()
        for start in range(0, n, REDIS_PIPELINE):
            _left(deadline, "redis XADD")
            pipe = client.pipeline(transaction=False)
            for i in range(start, min(start + REDIS_PIPELINE, n)):
                if i % every == 0:
                    samples.append(time.perf_counter())
                pipe.xadd(REDIS_STREAM, {"d": payloads[i]})
            pipe.execute()
        t_done = time.perf_counter()
        result = _pub_result(t_first, t_done, samples, sum(map(len, payloads)) / n)
        result["hiredis"] = HIREDIS_AVAILABLE
        link.send("result", result)
    finally:
        client.close()


def _redis_subscriber(link: _Link, port: int, n: int, deadline: float) -> None:
    """XREAD BLOCK from the start of the stream, so nothing can be missed."""
    every = _sample_every(n)
    client = _redis_client(port)
    try:
        link.send("ready")
        last_id, got, samples, t_last = b"0-0", 0, [], 0.0
        while got < n:
            block_ms = _ms(min(1.0, _left(deadline, f"redis XREAD ({got}/{n})")))
            reply = client.xread({REDIS_STREAM: last_id}, count=REDIS_READ_COUNT, block=block_ms)
            if not reply:
                continue
            t_last = time.perf_counter()
            entries = reply[0][1]
            for j in range(-got % every, len(entries), every):
                samples.append(t_last)
                _check_order(entries[j][1][b"d"], got + j)
            last_id = entries[-1][0]
            got += len(entries)
        link.send("result", {"t_last": t_last, "samples": samples})
    finally:
        client.close()


def redis_streams(n: int, timeout: float = 120) -> Result:
    """Redis Streams with an fsync'd AOF (appendfsync always): a durable log peer."""
    _check_n(n)
    deadline = time.monotonic() + timeout
    binary = _need("redis-server", "redis")
    with tempfile.TemporaryDirectory(prefix="peers-redis-", ignore_cleanup_errors=True) as tmp:

        def argv(port: int) -> list[str]:
            return [
                binary,
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--save", "",
                "--dir", tmp,
            ]  # fmt: skip

        log = Path(tmp, "redis.log")
        with _server(argv, b"PING\r\n", b"+PONG", log, deadline) as port:
            pub, sub = _run_pair(
                "redis_streams", n, deadline, _redis_publisher, _redis_subscriber, port
            )
    return _summarize(
        "redis_streams",
        n,
        pub,
        sub,
        durable=True,
        fsync="appendfsync always (fdatasync per event-loop pass, ~16 KB of input)",
        pipeline=REDIS_PIPELINE,
        read_count=REDIS_READ_COUNT,
        hiredis=pub["hiredis"],
        server=_server_version(binary),
    )


# ---------------------------------------------------------------- NATS JetStream


async def _nats_connect(url: str) -> Any:
    import nats

    return await nats.connect(
        servers=[url], connect_timeout=5, allow_reconnect=False, max_reconnect_attempts=0
    )


def _nats_publisher(link: _Link, url: str, n: int, deadline: float) -> None:
    asyncio.run(_nats_publish(link, url, n, deadline))


async def _nats_publish(link: _Link, url: str, n: int, deadline: float) -> None:
    """Keep thousands of publishes in flight and count only acked ones as sent."""
    payloads = make_payloads(n)
    every = _sample_every(n)
    nc = await _nats_connect(url)
    try:
        js = nc.jetstream(timeout=10)
        mode = "publish_async" if hasattr(js, "publish_async") else "gather"
        link.send("ready")
        await asyncio.to_thread(link.wait_go, deadline)
        samples: list[float] = []
        t_first = time.perf_counter()
        publish = _nats_publish_async if mode == "publish_async" else _nats_publish_windows
        try:  # one timeout around the whole phase: a per-call one costs a task per message
            await asyncio.wait_for(
                publish(js, payloads, every, samples, deadline), _left(deadline, "nats publish")
            )
        except TimeoutError:
            raise RuntimeError("nats publisher: not all acks before the deadline") from None
        t_done = time.perf_counter()
        result = _pub_result(t_first, t_done, samples, sum(map(len, payloads)) / n)
        result["publish_mode"] = mode
        link.send("result", result)
    finally:
        await asyncio.wait_for(nc.close(), timeout=STOP_GRACE_S)


async def _nats_publish_async(
    js: Any, payloads: list[bytes], every: int, samples: list[float], deadline: float
) -> None:
    futures = []
    for start in range(0, len(payloads), every):
        _left(deadline, "nats publish")
        samples.append(time.perf_counter())
        for payload in payloads[start : start + every]:
            futures.append(await js.publish_async(NATS_SUBJECT, payload))
    await js.publish_async_completed()
    failed = [f for f in futures if f.cancelled() or f.exception() is not None]
    if failed:
        first = "cancelled" if failed[0].cancelled() else repr(failed[0].exception())
        raise RuntimeError(f"{len(failed)} JetStream publishes were not acked, first: {first}")


async def _nats_publish_windows(
    js: Any, payloads: list[bytes], every: int, samples: list[float], deadline: float
) -> None:
    """For nats-py without publish_async: windows of concurrent acked publishes."""
    for start in range(0, len(payloads), NATS_WINDOW):
        timeout = _left(deadline, "nats publish")
        window = range(start, min(start + NATS_WINDOW, len(payloads)))
        tasks = []
        for i in window:
            if i % every == 0:
                samples.append(time.perf_counter())
            tasks.append(js.publish(NATS_SUBJECT, payloads[i], timeout=timeout))
        await asyncio.gather(*tasks)


def _nats_subscriber(link: _Link, url: str, n: int, deadline: float) -> None:
    asyncio.run(_nats_subscribe(link, url, n, deadline))


async def _nats_subscribe(link: _Link, url: str, n: int, deadline: float) -> None:
    """Create the file-backed stream, then read it with an ordered push consumer.

    The ordered consumer is JetStream's plain "read the log in order" reader: no acks,
    flow-controlled, so it compares with XREAD rather than with a work queue.
    """
    from nats.js.api import StorageType

    every = _sample_every(n)
    nc = await _nats_connect(url)
    try:
        js = nc.jetstream(timeout=10)
        await js.add_stream(name=NATS_STREAM, subjects=["bench.>"], storage=StorageType.FILE)
        done = asyncio.Event()
        samples: list[float] = []
        got = 0
        t_last = 0.0

        async def on_msg(msg: Any) -> None:
            nonlocal got, t_last
            if got % every == 0:
                samples.append(time.perf_counter())
                _check_order(msg.data, got)
            got += 1
            if got == n:
                t_last = time.perf_counter()
                done.set()

        await js.subscribe("bench.>", cb=on_msg, ordered_consumer=True)
        link.send("ready")
        try:
            await asyncio.wait_for(done.wait(), _left(deadline, "nats receive"))
        except TimeoutError:
            raise RuntimeError(f"nats subscriber got {got}/{n} before the deadline") from None
        link.send("result", {"t_last": t_last, "samples": samples})
    finally:
        await asyncio.wait_for(nc.close(), timeout=STOP_GRACE_S)


def nats_jetstream(n: int, timeout: float = 120) -> Result:
    """NATS JetStream, file storage, single server: the other durable-log peer."""
    _check_n(n)
    deadline = time.monotonic() + timeout
    binary = _need("nats-server", "nats")
    with tempfile.TemporaryDirectory(prefix="peers-nats-", ignore_cleanup_errors=True) as tmp:

        def argv(port: int) -> list[str]:
            return [binary, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", tmp]

        log = Path(tmp, "nats.log")
        with _server(argv, b"", b"INFO", log, deadline) as port:
            url = f"nats://127.0.0.1:{port}"
            pub, sub = _run_pair(
                "nats_jetstream", n, deadline, _nats_publisher, _nats_subscriber, url
            )
    return _summarize(
        "nats_jetstream",
        n,
        pub,
        sub,
        durable=True,
        fsync="server default: no fsync per write, periodic sync (2 min)",
        publish_mode=pub["publish_mode"],
        consumer="ordered push",
        server=_server_version(binary),
    )


# ---------------------------------------------------------------- what can run here


def _unavailable(binary: str | None, module: str | None) -> str:
    """Why a peer cannot run here, or "" if it can."""
    if binary and _server_binary(binary) is None:
        return f"{binary} not installed"
    if module:
        try:
            __import__(module)
        except Exception as exc:  # a broken install should skip, not crash the bench
            return f"python package {module!r} not importable ({exc.__class__.__name__})"
    return ""


PEERS: dict[str, Callable[..., Result]] = {
    "bare_zmq_forwarder": bare_zmq_forwarder,
    "redis_streams": redis_streams,
    "nats_jetstream": nats_jetstream,
}


def available() -> dict[str, dict[str, Any]]:
    """{name: {"ok": bool, "reason": str}} so a caller can print why a peer is skipped."""
    needs = {
        "bare_zmq_forwarder": (None, None),
        "redis_streams": ("redis-server", "redis"),
        "nats_jetstream": ("nats-server", "nats"),
    }
    out = {}
    for name, (binary, module) in needs.items():
        reason = _unavailable(binary, module)
        out[name] = {"ok": not reason, "reason": reason}
    return out


# ---------------------------------------------------------------- stand-alone run


def _main() -> int:
    parser = argparse.ArgumentParser(description="Run the peer benchmarks on their own.")
    parser.add_argument("-n", type=int, default=200_000, help="messages per run")
    parser.add_argument("--runs", type=int, default=3, help="runs per peer (median shown)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per run")
    args = parser.parse_args()
    failed = False
    for name, info in available().items():
        if not info["ok"]:
            print(f"{name:20} skipped: {info['reason']}")
            continue
        try:
            runs = [PEERS[name](args.n, timeout=args.timeout) for _ in range(args.runs)]
        except RuntimeError as exc:
            print(f"{name:20} FAILED: {exc}")
            failed = True
            continue
        rates = [r["msgs_per_s"] for r in runs]
        print(
            f"{name:20} median {statistics.median(rates):>10,.0f} msgs/s"
            f"  runs [{', '.join(f'{r:,.0f}' for r in rates)}]"
            f"  p50 lat {statistics.median(r['lat_p50_ms'] for r in runs):.1f} ms"
            f"  p99 lat {statistics.median(r['lat_p99_ms'] for r in runs):.1f} ms",
            flush=True,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(_main())
