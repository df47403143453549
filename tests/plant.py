"""The test plant: the control plane on loopback, started as ``homelab up`` starts it.

    with Plant(tmp_path) as plant:  # what up starts but the UI, and one stand-in, svc, stopped
        pending = plant.watch.until(lambda m: m.topic == "action.pending")
        assert plant.homelab("actions", "approve", pending.payload["id"]).returncode == 0

What it starts is ``up``'s own list (``homelab.up.specs``), each service as its own
``homelab`` child in its own session, so a test can kill -9 (``kill``), SIGSTOP (``pause``) or
restart one; ``run`` picks some of them, ``ui=True`` adds the UI with an operator who can log
in. The inventory is a git repository of stand-in services (``repos``) that should run and
do not: ``plant.inventory.commit(...)`` changes it. ``plant.watch`` has seen every
``desired.``, ``action.`` and ``drift.`` message since seq 1. Leaving the block stops every
child and every stand-in; each child's output is in ``logs/<service>.log`` beside the root.

Also here, for every test that runs real processes: free ports, ``wait_until``, a child's
environment, ``homelab(...)`` (the CLI as a user runs it), the broker alone, and the bus's
keys (``TestKeys``): CURVE is on in every test, as in production.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

from bus import client, keys
from bus.envelope import Message
from homelab import procs, up
from homelab.settings import Settings
from repos import NODE, Repository, Service

REPO = Path(__file__).resolve().parent.parent
OPERATOR, PASSWORD = "oskar", "correct horse"  # who can log in to the plant's UI
STOP_WAIT = 20.0  # seconds a child gets to stop on SIGTERM before SIGKILL


class Plant:
    """The system in ``base``: ``root`` (the data root), ``repo``, ``bus``, ``url`` (the UI's,
    on ``ui_port``)."""

    def __init__(
        self,
        base: Path,
        services: int | Sequence[str] = 1,
        *,
        root: Path | None = None,
        run: Collection[str] | None = None,
        ui: bool = False,
        inventory: Mapping[str, Mapping[str, object]] | None = None,
        interval: float = 0.5,
        env: Mapping[str, str] | None = None,
    ):
        """``services``: how many stand-ins (``svc``, or ``svc1``...), or their names (none: no
        inventory, as ``up`` without ``--repo``); ``root``: the data root (else ``base/root``);
        ``run``: which of up's services to start (``broker``, ``agent``...; else all of them);
        ``inventory``: changes to their entries in the first commit, made at the start unless
        the test made one (``plant.inventory.commit``, ``repos.Repository``);
        ``env``: settings for every child and for ``homelab()`` (``HOMELAB_...``)."""
        self.base, self.root = base, root or base / "root"
        names = _names(services)
        self.inventory = Repository(
            base / "repo",
            [Service(n, free_port_pair(), base / "services") for n in names],
            interval,
        )
        self.repo = self.inventory.path
        self.bus = f"tcp://127.0.0.1:{free_port_pair()}"
        self.ui_port = free_port_pair()
        self.url = f"http://127.0.0.1:{self.ui_port}"
        settings = Settings(root=self.root, bus=self.bus, ui_port=self.ui_port)
        self.env = {"HOMELAB_STATS_INTERVAL": "0.5", **(env or {})}
        listed = {
            _service_of(spec): spec
            for spec in up.specs(settings, self.repo if names else None, NODE, ui)
        }
        if run is not None and set(run) - set(listed):
            raise ValueError(f"up starts no {sorted(set(run) - set(listed))} here: {[*listed]}")
        self.specs = {n: s for n, s in listed.items() if run is None or n in {*run, "ui"}}
        self.children: dict[str, subprocess.Popen] = {}
        self._first = inventory or {}
        self._watch: Watch | None = None
        self._prepared = False

    def __enter__(self) -> Plant:
        """Start every service, unless the test started some already (``start(name)``)."""
        return self if self.children else self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def services(self) -> dict[str, Service]:
        return self.inventory.services

    @property
    def watch(self) -> Watch:
        if self._watch is None:
            self._watch = Watch(self.bus)
        return self._watch

    def start(self, *names: str) -> Plant:
        """Start ``names`` (every service of the plant at first), waiting for those ``up``
        waits for (the broker, the UI)."""
        if not self._prepared:
            self._prepare()
        try:
            for name in names or self.specs:
                self._spawn(name)
        except BaseException:
            self.close()
            raise
        return self

    def homelab(self, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:
        """``homelab ARGS`` with the plant's root, bus and settings (``homelab()``)."""
        return homelab(
            *args, **kwargs, **self.env, HOMELAB_ROOT=str(self.root), HOMELAB_BUS=self.bus
        )

    def publish(self, topic: str, payload: dict, source: str = "test") -> int:
        """Publish one message (as ``source``, with the key of its role); its seq."""
        with client.Publisher(self.bus, source) as publisher:
            return publisher.publish(topic, payload)

    def stop(self, name: str) -> int:
        """SIGTERM, then SIGKILL after STOP_WAIT; the exit code."""
        return _stop(self.children[name], signal.SIGTERM)

    def kill(self, name: str) -> None:
        """kill -9, as a crash would."""
        _stop(self.children[name], signal.SIGKILL, wait=10)

    def restart(self, name: str) -> None:
        """kill -9, then start it again."""
        self.kill(name)
        self.start(name)

    def pause(self, name: str) -> None:
        self.children[name].send_signal(signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self.children[name].send_signal(signal.SIGCONT)

    def output(self, name: str) -> str:
        """What the child ``name`` printed (every run of it)."""
        path = self._log(name)
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        """Stop every child (the broker last) and every stand-in."""
        if self._watch is not None:
            self._watch.close()
        alive = {n: p for n, p in self.children.items() if p.poll() is None}
        broker = alive.pop("broker", None)
        for proc in alive.values():
            proc.send_signal(signal.SIGCONT)  # a paused child cannot stop
            proc.send_signal(signal.SIGTERM)
        for proc in alive.values():
            _stop(proc, signal.SIGTERM, signalled=True)
        if broker is not None:
            _stop(broker, signal.SIGTERM)
        self.inventory.stop_services()

    def _prepare(self) -> None:
        self._prepared = True
        self.root.mkdir(parents=True, exist_ok=True)
        (self.base / "logs").mkdir(exist_ok=True)
        if self.services and self.inventory.revision() is None:  # unless the test made one
            self.inventory.commit("the stand-ins should run", **self._first)
        if "ui" in self.specs:
            add_operator(self.root, OPERATOR, PASSWORD)

    def _spawn(self, name: str) -> None:
        spec = self.specs[name]
        with open(self._log(name), "ab") as out:
            self.children[name] = subprocess.Popen(
                spec.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=child_env(**self.env, **(spec.env or {})),
                cwd=REPO,
                start_new_session=True,
            )
        if spec.ready is not None:
            wait_until(lambda: self._ready(name), spec.ready_timeout, f"the {name} to be ready")

    def _ready(self, name: str) -> bool:
        code = self.children[name].poll()
        if code is not None:
            raise AssertionError(f"{name} exited {code}:\n{self.output(name)[-3000:]}")
        return bool(self.specs[name].ready())

    def _log(self, name: str) -> Path:
        return self.base / "logs" / f"{name}.log"


class Watch:
    """The bus's messages of some topics, gathered while a test waits for one that matches."""

    def __init__(self, bus: str, *prefixes: str, since: int = 1):
        prefixes = prefixes or ("desired.", "action.", "drift.")
        self.sub = client.Subscriber(bus, *prefixes, since=since)
        self.seen: list[Message] = []

    def until(self, test: Callable[[Message], object], timeout: float = 30.0) -> Message:
        """The first message seen so far or within ``timeout`` seconds that passes ``test``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.seen:
                if test(message):
                    return message
            self.gather(0.5)
        seen = [(m.topic, m.payload) for m in self.seen]
        raise AssertionError(f"no such message in {seen}")

    def gather(self, seconds: float) -> None:
        """Keep what arrives within ``seconds`` (at least one read)."""
        deadline = time.monotonic() + seconds
        while True:
            message = self.sub.get(timeout=max(0.0, min(0.5, deadline - time.monotonic())))
            if message is not None:
                self.seen.append(message)
            elif time.monotonic() >= deadline:
                return

    def close(self) -> None:
        self.sub.close()


def homelab(
    *args: str, timeout: float = 60, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    """``homelab ARGS`` as a user runs it, from the project's folder, with ``env`` added to
    the environment; its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "homelab", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(**env),
        cwd=REPO,
    )


def free_port_pair() -> int:
    """A port p such that p and p + 1 are both free on 127.0.0.1 right now."""
    for _ in range(200):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port >= 65000:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free pair of ports")


def wait_until(condition: Callable[[], object], timeout: float = 10.0, what: str = "condition"):
    """Poll ``condition`` until it is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


class TestKeys:
    """The tests' bus keys: one key folder (``HOMELAB_KEYS``) that every broker, service and
    CLI child of a test session uses, and a key for each role a test client needs, made
    on first use: a publisher is given the role its source speaks for (``supervisor``:
    ``service:supervisor``, ``agent:web1``, ``cli:oskar``: ``operator:oskar``...), any other
    client ``tool:test``. Installed as the process's keys (``bus.keys.use``)."""

    __test__ = False  # a helper whose name starts with Test, not a test class

    def __init__(self, folder: Path):
        self.folder = folder
        self._made: dict[str, keys.Credentials] = {}
        keys.ensure(folder)

    def __call__(self, source: str | None = None) -> keys.Credentials:
        return self.of(role_for(source))

    def of(self, role: str) -> keys.Credentials:
        """The keys of ``role`` (made and allowlisted if missing)."""
        if role not in self._made:
            keys.ensure(self.folder, [role])
            self._made[role] = keys.client(self.folder, role)
        return self._made[role]


class Agents:
    """Publishes as many agents at once: each ``obs.node.N...`` message goes out through
    agent N's own publisher (source ``agent:N``, its key), as the broker wants it."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self._publishers: dict[str, client.Publisher] = {}

    def submit(self, topic: str, payload: dict) -> None:
        node = topic.split(".")[2]
        if node not in self._publishers:
            self._publishers[node] = client.Publisher(self.endpoint, f"agent:{node}")
        self._publishers[node].submit(topic, payload)

    def flush(self) -> None:
        for publisher in self._publishers.values():
            publisher.flush()

    @property
    def last_seq(self) -> int:
        return max((p.last_seq for p in self._publishers.values()), default=0)

    def close(self) -> None:
        for publisher in self._publishers.values():
            publisher.close()

    def __enter__(self) -> Agents:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def add_operator(root: Path, name: str, password: str) -> None:
    """A UI operator of ``root`` as ``homelab ui add-user`` makes one: with a bus key
    (``operator:NAME``) allowlisted in the session's key folder, sealed with the password."""
    from gui import auth, operator_keys

    operators = auth.Operators(root / "ui" / "operators.json")
    operator_keys.enroll(operators, Path(os.environ["HOMELAB_KEYS"]), name, password)


def speak_as(role: str) -> str:
    """A line of Python that makes a child process's bus clients connect as ``role`` with
    the session's keys: for the children a test runs as ``python -c`` (a service's CLI
    command does this itself)."""
    return (
        "import os, pathlib; from bus import keys; "
        "folder = pathlib.Path(os.environ['HOMELAB_KEYS']); "
        f"keys.ensure(folder, [{role!r}]); keys.use(keys.client(folder, {role!r}))\n"
    )


def server_keys() -> keys.Server:
    """The keys of a broker a test runs in its own process (``broker.Broker(curve=...)``)."""
    return keys.Server.load(Path(os.environ["HOMELAB_KEYS"]))


def role_for(source: str | None) -> str:
    """The role a test client publishing as ``source`` connects with."""
    source = source or ""
    name = source.partition(":")[2]
    if source in ("observer", "supervisor", "executor", "broker"):
        role = f"service:{source}"
    elif source == "ui":
        role = "service:ui"
    elif source.startswith("agent:"):
        role = source
    elif source.startswith(("cli:", "ui:")):
        role = f"operator:{name}"
    else:
        role = "tool:test"
    return role if keys.ROLE.match(role) else "tool:test"


class BrokerProcess:
    """``homelab broker`` alone, as a real child process on free loopback ports."""

    def __init__(
        self,
        root: Path,
        port: int,
        *args: str,
        env: dict[str, str] | None = None,
        curve: object = keys.PROCESS,
    ):
        """``env``: settings for this broker (``HOMELAB_DISK_RESERVE``, ...); ``curve``: the
        keys to ask it whether it answers with (a broker on a key folder of its own)."""
        self.root, self.port, self.args, self.env = root, port, args, env or {}
        self.curve = curve
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None
        self.log_path = root / "broker-stderr.log"

    def start(self, wait: bool = True) -> BrokerProcess:
        argv = [sys.executable, "-m", "homelab", "broker", "--root", str(self.root)]
        argv += ["--bus", self.endpoint, *self.args]
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=child_env(**self.env),
                start_new_session=True,
            )
        if wait:
            wait_until(self.answers, 15, "the broker to answer")
        return self

    def answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"broker exited {self.proc.returncode}: {self.output()}")
        try:
            client.ping(self.endpoint, timeout=0.3, curve=self.curve)
            return True
        except client.BusError:
            return False

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> int:
        return _stop(self.proc, signal.SIGTERM, wait=10) if self.proc else 0


def _stop(proc: subprocess.Popen, signum: int, wait: float = STOP_WAIT, signalled=False) -> int:
    """Send ``signum`` (unless ``signalled``), wait, then SIGKILL; the exit code."""
    if proc.poll() is None:
        if not signalled:
            proc.send_signal(signum)
        try:
            return proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(10)
    return proc.returncode


def _names(services: int | Sequence[str]) -> tuple[str, ...]:
    if isinstance(services, int):
        return ("svc",) if services == 1 else tuple(f"svc{i}" for i in range(1, services + 1))
    return tuple(services)


def _service_of(spec: procs.ServiceSpec) -> str:
    """``broker``, ``agent``...: the subcommand ``up`` runs it with."""
    return spec.argv[spec.argv.index("homelab") + 1]
