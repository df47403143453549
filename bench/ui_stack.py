"""The product as real processes for ``ui_bench``: a broker, the observer, the UI behind a
real nginx (the websocket ``location`` block the docs show), ``homelab tap``, and a load
process that publishes ordinary observation traffic for a world of N services.

Everything is on free loopback ports; every process is ours and is stopped by its pid.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from actors import atomic  # noqa: E402
from bus import client, keys  # noqa: E402
from plant import (  # noqa: E402
    BrokerProcess,
    TestKeys,
    child_env,
    free_port_pair,
    speak_as,
    wait_until,
)

NODE = "benchnode"
SOURCE = f"agent:{NODE}"
OPERATOR, PASSWORD = "bench", "bench password"
SERVE = speak_as("service:ui") + (  # with the UI's bus key, as `homelab ui` has it
    "import sys; from pathlib import Path; from gui.app import serve; "
    "from gui.config import UiConfig; "
    "sys.exit(serve(UiConfig(root=Path(sys.argv[1]), bus=sys.argv[2], port=int(sys.argv[3]), "
    "public_urls=tuple(sys.argv[4:]))))"
)
# The block docs/ show for nginx (what Nginx Proxy Manager's "Websockets Support" writes).
NGINX = """daemon off; pid {work}/nginx.pid; error_log {work}/logs/error.log;
events {{}}
http {{
    access_log off; client_body_temp_path {work}/body; proxy_temp_path {work}/proxy;
    server {{
        listen 127.0.0.1:{listen};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $http_connection;
            proxy_http_version 1.1;
        }}
    }}
}}
"""
MARKER = re.compile(r"bench-marker-([0-9a-z-]+)")


def service_name(i: int) -> str:
    return f"svc{i:04d}"


def observation(i: int, services: int, now: float) -> tuple[str, dict]:
    """The ``i``-th message of ordinary traffic: a passing check of one of the services."""
    name = service_name(i % services)
    return f"obs.node.{NODE}.service.{name}", {
        "node": NODE,
        "service": name,
        "check": "state" if i % 2 else "http",
        "outcome": "ok",
        "detail": "running" if i % 2 else "200 OK in 4 ms",
        "latency_ms": 4.0,
        "facts": {"state": "running"},
        "interval": 10.0,
        "observed_at": now,
    }


def heartbeat(now: float) -> tuple[str, dict]:
    return f"obs.node.{NODE}.agent", {
        "node": NODE,
        "interval": 2.0,
        "missed_intervals": 30,  # a busy 2-core machine must not turn the node unknown
        "checks": 2,
        "started_at": now,
    }


def seed_world(endpoint: str, services: int) -> None:
    """A heartbeat and both checks of every service, as the agent would publish them."""
    with client.Publisher(endpoint, SOURCE) as publisher:
        now = time.time()
        batch = [(*heartbeat(now), publisher.new_id())]
        batch += [(*observation(i, services, now), publisher.new_id()) for i in range(2 * services)]
        publisher.publish_batch(batch)


def world_services(root: Path) -> int:
    services = atomic.read_json_object(root / "world" / "services.json")
    return sum(1 for s in services.values() if s.get("health") == "healthy")


def _load(endpoint: str, services: int, rate: float, stop, counter) -> None:
    """Child process: ``rate`` messages a second (one in 50 a heartbeat) until ``stop``."""
    keys.use(TestKeys(Path(os.environ["HOMELAB_KEYS"])))  # a spawned child: its own keys
    with client.Publisher(endpoint, SOURCE, timeout=30) as publisher:
        start, first, i = time.monotonic(), 0, 0
        while not stop.is_set() and i < 10_000_000:
            pause = start + (i - first) / rate - time.monotonic()
            if pause < -1.0:  # fell a second behind (a busy machine): keep the pace, no burst
                start, first = time.monotonic(), i
            elif pause > 0:
                stop.wait(pause)
                continue
            now = time.time()
            topic, body = heartbeat(now) if i % 50 == 0 else observation(i, services, now)
            publisher.submit(topic, body)
            if i % 10 == 0:
                publisher.flush()
            i += 1
            counter.value = i
        publisher.flush()


@contextlib.contextmanager
def load(endpoint: str, services: int, rate: float) -> Iterator[mp.Value]:
    """Background traffic in its own process (so it keeps its pace whatever we do here)."""
    ctx = mp.get_context("spawn")
    stop, counter = ctx.Event(), ctx.Value("q", 0)
    proc = ctx.Process(target=_load, args=(endpoint, services, rate, stop, counter), daemon=True)
    proc.start()
    try:
        yield counter
    finally:
        stop.set()
        proc.join(30)
        if proc.is_alive():
            proc.kill()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


class Tap:
    """``homelab tap`` as a subprocess; remembers when each marker line arrived."""

    def __init__(self, endpoint: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "homelab", "tap", "--bus", endpoint],
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.seen: dict[str, float] = {}
        self.lines = 0
        self._arrived = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            now = time.time()
            self.lines += 1
            found = MARKER.search(raw.decode(errors="replace"))
            if found:
                with self._arrived:
                    self.seen[found.group(1)] = now
                    self._arrived.notify_all()

    def wait_for(self, token: str, timeout: float) -> float | None:
        with self._arrived:
            self._arrived.wait_for(lambda: token in self.seen, timeout)
        return self.seen.get(token)

    def stop(self) -> None:
        _stop(self.proc)


class Stack:
    """Broker, observer, UI and nginx in a temporary data root."""

    def __init__(self, work: Path, serve: str = SERVE):
        self.work, self.serve = work, serve
        self.root = work / "root"
        self.root.mkdir(parents=True)
        self.procs: list[subprocess.Popen] = []
        self.broker: BrokerProcess | None = None
        self.ui: subprocess.Popen | None = None

    def start(self) -> Stack:
        from gui.auth import Operators

        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists():
            raise SystemExit("ui_bench: nginx is needed (apt-get install nginx)")
        # CURVE as the product runs it: one key folder for the broker, the services and
        # the benchmark's own clients (as the tests' session does)
        os.environ["HOMELAB_KEYS"] = str(self.work / "keys")
        keys.use(TestKeys(self.work / "keys"))
        self.broker = BrokerProcess(self.root, free_port_pair(), "--stats-interval", "1").start()
        self.endpoint = self.broker.endpoint
        common = ["--root", str(self.root), "--bus", self.endpoint]
        self._spawn([sys.executable, "-m", "homelab", "observer", *common])
        Operators(self.root / "ui" / "operators.json").add(OPERATOR, PASSWORD)
        ui_port, listen = free_port_pair(), free_port_pair()
        self.direct, self.base = f"http://127.0.0.1:{ui_port}", f"http://127.0.0.1:{listen}"
        self.ui = self._spawn(
            [
                sys.executable,
                "-c",
                self.serve,
                str(self.root),
                self.endpoint,
                str(ui_port),
                self.base,
            ]
        )
        nginx_dir = self.work / "nginx"
        (nginx_dir / "logs").mkdir(parents=True)
        (nginx_dir / "nginx.conf").write_text(
            NGINX.format(work=nginx_dir, listen=listen, upstream=ui_port)
        )
        conf = nginx_dir / "nginx.conf"
        self._spawn(
            [
                nginx,
                "-c",
                str(conf),
                "-p",
                str(nginx_dir),
                "-e",
                str(conf.parent / "logs/error.log"),
            ]
        )
        wait_until(lambda: _answers(self.base), 60, "the UI through nginx")
        return self

    def _spawn(self, argv: list[str]) -> subprocess.Popen:
        proc = subprocess.Popen(
            argv, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            _stop(proc)
        if self.broker is not None:
            self.broker.stop()
