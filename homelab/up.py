"""``homelab up``: every service of this machine as a supervised child process."""

from __future__ import annotations

import fcntl
import os
import socket
import sys
from pathlib import Path
from types import ModuleType

from actors.domain import inventory_files
from bus import broker, client
from bus.dataroot import DataRoot
from homelab import layout, procs, rootcheck, ui_cli
from homelab.settings import Settings

LOCAL_ADDRESSES = {"127.0.0.1", "localhost", "::1"}
UP_LOCK = DataRoot(Path()).up_lock  # relative to the root
UI_READY_TIMEOUT = 30.0  # NiceGUI takes a few seconds to import on a small machine
DEMO_OPERATOR = "demo"


def specs(
    settings: Settings, repo: Path | None, node: str | None, ui: bool = True
) -> list[procs.ServiceSpec]:
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
    if ui:
        services.append(ui_spec(settings, repo))
    return services


def ui_spec(settings: Settings, repo: Path | None) -> procs.ServiceSpec:
    """The UI, last: ready once it answers HTTP. Its public URLs and secret reach it through
    the environment it inherits (a secret on a command line is visible to every user)."""
    argv = [sys.executable, "-m", "homelab", "ui", "--root", str(settings.root)]
    argv += ["--bus", settings.bus, "--host", settings.ui_host, "--port", str(settings.ui_port)]
    if repo is not None:
        argv += ["--repo", str(repo)]
    url = ui_cli.url(settings.ui_host, settings.ui_port)
    return procs.ServiceSpec(
        "ui", tuple(argv), ready=lambda: ui_cli.answers(url), ready_timeout=UI_READY_TIMEOUT
    )


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


def run(settings: Settings, demo: bool = False, ui: bool = True) -> int:
    """Start every service, broker first, and supervise them until Ctrl-C or SIGTERM.

    Refuses (StartupError, before any child starts) when another ``up`` runs on the root
    or the bus ports or the UI's port are taken."""
    root = layout.ensure(settings.root)
    lock = hold_lock(root)
    try:
        check_ports_free(settings.listen_endpoint)
        if ui:
            ui_cli.check_port_free(settings.ui_host, settings.ui_port)
        procs.log_to_stderr()
        if not demo:
            return _run(settings, root, None, ui)
        from homelab.demo import setup

        try:
            return _run(settings, root, setup, ui)
        finally:
            stopped = setup.stop_services(root)
            if stopped:
                procs.log.info("stopped %d demo service(s)", len(stopped))
    finally:
        os.close(lock)


def _run(settings: Settings, root: Path, demo_setup: ModuleType | None, ui: bool) -> int:
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
    if ui:
        announce_ui(settings, root, demo=demo_setup is not None)
    # The children's own output (a crash's traceback, say) goes beside their logs, not into
    # them: logs/up/<service>.log.
    return procs.ProcessGroup(specs(settings, repo, node, ui), DataRoot(root).up_logs).run()


def announce_ui(settings: Settings, root: Path, demo: bool) -> None:
    """Say where the UI will be. For the demo, first make operator ``demo`` if there is no
    operator at all, and show its password this once (only its hash is kept)."""
    url = ui_cli.url(settings.ui_host, settings.ui_port)
    login = ""
    if demo:
        from gui import auth
        from homelab.demo import setup

        try:
            password = setup.demo_operator(root, DEMO_OPERATOR)
        except auth.AuthError as err:  # a damaged operators file
            raise procs.StartupError(str(err)) from None
        if password is not None:
            login = (
                f"  login: {DEMO_OPERATOR} / {password} (shown once; change it with "
                f"`homelab ui add-user {DEMO_OPERATOR}`)"
            )
    procs.log.info("UI: %s%s", url, login)


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
    for p in (port, port + 1):
        procs.claim_port(
            host,
            p,
            f"port {p} is taken (by another program or another control plane): "
            "set HOMELAB_BUS (or --bus) to another port",
        )


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
