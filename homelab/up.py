"""``homelab up``: every service of this machine as a supervised child process."""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import sys
from pathlib import Path
from types import ModuleType

from actors.domain import inventory_files
from bus import broker, client
from bus.dataroot import DataRoot
from homelab import layout, procs, rootcheck
from homelab.settings import Settings

LOCAL_ADDRESSES = {"127.0.0.1", "localhost", "::1"}
UP_LOCK = DataRoot(Path()).up_lock  # relative to the root


def specs(settings: Settings, repo: Path | None, node: str | None) -> list[procs.ServiceSpec]:
    base = (sys.executable, "-m", "homelab")
    common = ("--root", str(settings.root), "--bus", settings.bus)
    services = [
        procs.ServiceSpec(
            "broker",
            (*base, "broker", *common),
            ready=lambda: _own_broker_answers(settings.root, settings.bus),
        ),
        procs.ServiceSpec("observer", (*base, "observer", *common)),
    ]
    if repo is not None and node is not None:
        services.append(
            procs.ServiceSpec(
                f"agent-{node}", (*base, "agent", "--node", node, "--repo", str(repo), *common)
            )
        )
    if repo is not None:
        services.append(
            procs.ServiceSpec("supervisor", (*base, "supervisor", "--repo", str(repo), *common))
        )
    if repo is not None:
        services.append(
            procs.ServiceSpec("executor", (*base, "executor", "--repo", str(repo), *common))
        )
    return services


def local_node(settings: Settings, repo: Path | None) -> str | None:
    """This machine's node: HOMELAB_NODE, else the inventory's node on a loopback address
    or named like this host."""
    if settings.node or repo is None:
        return settings.node
    inventory, _ = inventory_files.check(repo)
    if inventory is None:
        return None
    for name, node in sorted(inventory.nodes.items()):
        if node.address in LOCAL_ADDRESSES or name == socket.gethostname().lower():
            return name
    return None


def run(settings: Settings, demo: bool = False) -> int:
    """Start every service, broker first, and supervise them until Ctrl-C or SIGTERM.

    Refuses (StartupError, before any child starts) when another ``up`` runs on the root
    or the bus ports are taken."""
    root = layout.ensure(settings.root)
    lock = hold_lock(root)
    try:
        check_ports_free(settings.listen_endpoint)
        procs.log_to_stderr()
        if not demo:
            return _run(settings, root, None)
        from homelab.demo import setup

        try:
            return _run(settings, root, setup)
        finally:
            stopped = setup.stop_services(root)
            if stopped:
                procs.log.info("stopped %d demo service(s)", len(stopped))
    finally:
        os.close(lock)


def _run(settings: Settings, root: Path, demo_setup: ModuleType | None) -> int:
    repo = Path(settings.repo) if settings.repo else None
    if demo_setup is not None:
        repo = demo_setup.prepare(root)
        procs.log.info("demo inventory in %s (a git repository you can edit)", repo)
    node = local_node(settings, repo)
    if node is None:
        procs.log.info("no inventory node for this machine: no local agent (set HOMELAB_NODE)")
    procs.log.info(
        "data root %s, bus %s; each service logs to %s/<service>.log",
        root,
        settings.bus,
        root / "logs",
    )
    # The children's own output (a crash's traceback, say) goes beside their logs, not into
    # them: logs/up/<service>.log.
    return procs.ProcessGroup(specs(settings, repo, node), DataRoot(root).up_logs).run()


def hold_lock(root: Path) -> int:
    """Lock ``state/up.lock`` for this process's lifetime (it holds our pid), or refuse."""
    path = root / UP_LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise procs.StartupError(
            f"another `homelab up` (pid {holder}) is running on {root.resolve()}"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def check_ports_free(endpoint: str) -> None:
    """Bind the broker's two ports (PORT, PORT + 1) for a moment, or refuse."""
    host, port = broker.split_endpoint(endpoint)
    host = "" if host in ("*", "0.0.0.0") else host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for p in (port, port + 1):
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as ZeroMQ binds
            try:
                sock.bind((host, p))
            except OSError as err:
                if err.errno == errno.EADDRINUSE:
                    raise procs.StartupError(
                        f"port {p} is taken (by another program or another control plane): "
                        "set HOMELAB_BUS (or --bus) to another port"
                    ) from None
                raise procs.StartupError(f"cannot listen on {endpoint}: {err}") from None


def _own_broker_answers(root: Path, endpoint: str) -> bool:
    """Ready once the broker answers, and it must be ours: another root's broker (one that
    took the port after the check) is a StartupError, not something to wait out."""
    try:
        pong = client.ping(endpoint, timeout=0.5)
    except client.BusError:
        return False
    try:
        rootcheck.check(root, endpoint, pong)
    except rootcheck.WrongBroker as err:
        raise procs.StartupError(str(err)) from None
    return True
