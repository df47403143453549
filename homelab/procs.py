"""The process supervisor behind ``homelab up``.

Each service (broker, agent, observer, supervisor, executor, ui) runs as its own OS process.
``ProcessGroup`` starts them in order, waiting for each one's ready check before starting the
next (so the broker is up before anything connects to it), restarts a child that exits with
an exponential backoff, and stops them all, newest first, on ``stop()``, SIGINT or SIGTERM.
Children run without a shell, in their own session, with output appended to
``<log_dir>/<name>.log``; lifecycle events go to the ``homelab.up`` logger.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from actors import process_group
from bus import errors
from homelab.backoff import Backoff

log = logging.getLogger("homelab.up")

POLL_INTERVAL = 0.05  # seconds between ready checks and between supervision passes
KILL_WAIT = 5.0  # how long to wait for a SIGKILLed child to be reaped
_PR_SET_PDEATHSIG = 1
# Key files named for one client in this shell (a `homelab tap` from a node): the control
# plane's own services use its key folder, each with its role, never someone's file.
NOT_PASSED_ON = ("HOMELAB_KEY", "HOMELAB_BROKER_KEY")


class StartupError(errors.HomelabError, RuntimeError):
    """A service could not be started, or did not become ready in time."""


@dataclasses.dataclass(frozen=True)
class ServiceSpec:
    name: str
    argv: tuple[str, ...]
    # Polled every POLL_INTERVAL after start; must return quickly (use its own short timeouts).
    ready: Callable[[], bool] | None = None
    ready_timeout: float = 15.0
    env: Mapping[str, str] | None = None  # added to (and overriding) os.environ


@dataclasses.dataclass(eq=False)
class _Child:
    spec: ServiceSpec
    log_path: Path
    backoff: Backoff = dataclasses.field(default_factory=Backoff)
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    last_exit: int | None = None
    restart_at: float | None = None  # set while an exited child waits for its restart
    log_offset: int = 0  # where this run's output starts in log_path

    def why(self) -> str:
        """This run's last non-empty output line (a traceback's exception line, say) and
        where the rest is: what an operator needs to see when the child exits."""
        line = last_line(self.log_path, self.log_offset)
        where = f"(full output in {self.log_path})"
        return f": {line} {where}" if line else f" {where}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def last_line(path: Path, offset: int = 0, tail: int = 8192) -> str:
    """The last non-empty line of ``path`` after byte ``offset`` ("" if none), at most
    200 characters."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(offset, size - tail))
            return process_group.last_line(f.read())
    except OSError:
        return ""


def log_to_stderr(level: int = logging.INFO) -> None:
    """Send ``homelab.up`` lines to stderr; ``run()`` calls this unless logging is set up."""
    if not any(getattr(h, "_homelab_up", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s up: %(message)s", "%H:%M:%S"))
        handler._homelab_up = True  # type: ignore[attr-defined]
        log.addHandler(handler)
    log.setLevel(level)


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when the supervisor dies (Linux).

    The kernel sends it when the *thread* that forked the child exits, so start the group
    from a thread that lives as long as the supervisor (normally the main thread)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    option, sig = ctypes.c_int(_PR_SET_PDEATHSIG), ctypes.c_ulong(int(signal.SIGTERM))

    def set_pdeathsig() -> None:
        prctl(option, sig)
        if os.getppid() != parent:  # the supervisor died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return set_pdeathsig


class ProcessGroup:
    """Run services as child processes; a group is started and stopped once."""

    def __init__(
        self,
        specs: Sequence[ServiceSpec],
        log_dir: Path,
        *,
        stop_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        names = [spec.name for spec in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"service names must be unique: {names}")
        self._log_dir = Path(log_dir)
        self._children = [_Child(s, self._log_dir / f"{s.name}.log") for s in specs]
        self._stop_timeout = stop_timeout
        self._clock = clock
        self._stop_requested = threading.Event()
        self._lock = threading.RLock()  # spawning and terminating never interleave
        self._started = False
        self._stopped = False
        self._signal_received: int | None = None

    def start(self) -> None:
        """Start the services in order, each after the previous one is ready."""
        with self._lock:
            if self._started:
                raise RuntimeError("a ProcessGroup can be started only once")
            self._started = True
        self._log_dir.mkdir(parents=True, exist_ok=True)
        try:
            for child in self._children:
                with self._lock:
                    if self._stopping():
                        return
                    try:
                        self._spawn(child)
                    except OSError as exc:
                        msg = f"{child.spec.name} could not be started: {exc}"
                        raise StartupError(msg) from exc
                self._await_ready(child)
        except BaseException:
            self.stop()
            raise

    def run(
        self,
        on_started: Callable[[], None] | None = None,
        on_tick: Callable[[], object] | None = None,
    ) -> int:
        """Start the group unless started, supervise it until ``stop()``, SIGINT or SIGTERM,
        stop it and return 0. Signal handlers are installed only in the main thread.

        ``on_started`` runs once every service is ready; ``on_tick`` after each supervision
        pass (every POLL_INTERVAL), in this thread: both must return quickly."""
        if not log.hasHandlers():
            log_to_stderr()
        previous = self._install_signal_handlers()
        try:
            if not self._started:
                self.start()
            if on_started is not None and not self._stopping():
                on_started()
            while not self._stopping():
                self._stop_requested.wait(POLL_INTERVAL)
                self._supervise(self._clock())
                if on_tick is not None and not self._stopping():
                    on_tick()
            if self._signal_received is not None:
                log.info("received %s", process_group.signal_name(self._signal_received))
        finally:
            self.stop()  # before restoring handlers, so a second Ctrl-C cannot interrupt it
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return 0

    def stop(self) -> None:
        """SIGTERM each child's process group, newest first, then SIGKILL after
        ``stop_timeout``. Cancels pending restarts; safe to call more than once."""
        self._stop_requested.set()
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            running = [c for c in reversed(self._children) if c.running]
            if running:
                log.info("stopping %s", ", ".join(c.spec.name for c in running))
            for child in running:
                self._terminate(child)
            for child in self._children:
                child.restart_at = None
            if running:
                log.info("stopped")

    def status(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "name": c.spec.name,
                    "pid": c.proc.pid if c.proc else None,
                    "running": c.running,
                    "restarts": c.restarts,
                    "last_exit": c.last_exit,
                }
                for c in self._children
            ]

    def pids(self) -> dict[str, int | None]:
        """Each service's pid while it runs (None while it waits for a restart)."""
        with self._lock:
            return {
                c.spec.name: c.proc.pid if c.running and c.proc else None for c in self._children
            }

    @property
    def log_dir(self) -> Path:
        return self._log_dir

    def _stopping(self) -> bool:
        return self._stop_requested.is_set() or self._signal_received is not None

    def _install_signal_handlers(self) -> dict[int, Any]:
        """Make SIGINT and SIGTERM only request a stop, so Ctrl-C never raises
        KeyboardInterrupt (and prints no traceback) wherever the main thread happens to be."""
        if threading.current_thread() is not threading.main_thread():
            return {}

        def request_stop(signum: int, frame: FrameType | None) -> None:
            # Only a plain assignment: Event.set() or logging here could deadlock on a lock
            # the interrupted main thread already holds.
            self._signal_received = signum

        previous: dict[int, Any] = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            old = signal.signal(signum, request_stop)
            previous[signum] = signal.SIG_DFL if old is None else old  # None: set outside Python
        return previous

    def _spawn(self, child: _Child) -> None:
        spec = child.spec
        inherited = {k: v for k, v in os.environ.items() if k not in NOT_PASSED_ON}
        env = inherited | dict(spec.env or {})
        with open(child.log_path, "ab", buffering=0) as out:
            child.log_offset = out.seek(0, os.SEEK_END)
            child.proc = subprocess.Popen(  # noqa: S603 - argv from our own specs, no shell
                spec.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # a terminal Ctrl-C reaches only the supervisor
                preexec_fn=_die_with_parent(),  # only calls prctl
            )
        child.started_at = self._clock()
        if child.last_exit is not None:  # a restart
            log.info("restarted %s: pid %d", spec.name, child.proc.pid)
        else:
            log.info("started %s pid %d", spec.name, child.proc.pid)

    def _await_ready(self, child: _Child) -> None:
        ready = child.spec.ready
        if ready is None:
            return
        deadline = self._clock() + child.spec.ready_timeout
        while not self._stopping():
            for started in self._children:
                code = started.proc.poll() if started.proc else None
                if code is not None:
                    started.last_exit = code
                    raise StartupError(
                        f"{started.spec.name} {process_group.describe_exit(code)} during startup{started.why()}"
                    )
            try:
                if ready():
                    return
            except StartupError:  # the check found something that waiting will not fix
                raise
            except Exception as exc:  # a check that cannot connect yet is just "not ready"
                log.debug("ready check for %s failed: %r", child.spec.name, exc)
            if self._clock() >= deadline:
                raise StartupError(
                    f"{child.spec.name} did not become ready within "
                    f"{child.spec.ready_timeout:g} s{child.why()}"
                )
            self._stop_requested.wait(POLL_INTERVAL)

    def _supervise(self, now: float) -> None:
        """One pass: notice exited children and restart those whose delay has passed."""
        with self._lock:
            if self._stopping():
                return
            for child in self._children:
                if child.restart_at is None:
                    code = child.proc.poll() if child.proc else None
                    if code is None:
                        continue
                    child.last_exit = code
                    delay = child.backoff.next_delay(now, child.started_at)
                    child.restart_at = now + delay
                    note = " although it should run forever" if code == 0 else ""
                    name, how = child.spec.name, process_group.describe_exit(code)
                    why = child.why()
                    log.warning("%s %s%s%s -> restarting in %g s", name, how, note, why, delay)
                elif now >= child.restart_at:
                    try:
                        self._spawn(child)
                    except OSError as exc:
                        delay = child.backoff.next_delay(now, now)
                        child.restart_at = now + delay
                        name = child.spec.name
                        log.error(
                            "%s could not be restarted: %s -> retrying in %g s", name, exc, delay
                        )
                    else:
                        child.restart_at = None
                        child.restarts += 1

    def _terminate(self, child: _Child) -> None:
        proc = child.proc
        assert proc is not None
        # Not yet reaped, so proc.pid is still this child's process group id: signalling the
        # group also reaches anything the child started.
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(self._stop_timeout)
        except subprocess.TimeoutExpired:
            timeout = self._stop_timeout
            log.warning("%s did not stop within %g s; killing it", child.spec.name, timeout)
            _signal_group(proc, signal.SIGKILL)
            try:
                proc.wait(KILL_WAIT)
            except subprocess.TimeoutExpired:
                log.error("%s pid %d survived SIGKILL", child.spec.name, proc.pid)
        child.last_exit = proc.returncode


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        proc.send_signal(sig)


def claim_port(host: str, port: int, taken: str) -> None:
    """Bind ``host:port`` for a moment, as the server that will use it does (SO_REUSEADDR),
    or raise StartupError: ``taken`` when another program has it."""
    bind_host = "" if host in ("0.0.0.0", "*") else host.strip("[]")
    family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((bind_host, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise StartupError(taken) from None
            raise StartupError(f"cannot listen on {host}:{port}: {err}") from None
