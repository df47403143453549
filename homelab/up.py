"""``homelab up``: every service of this machine as a supervised child process."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from actors.domain import inventory_files
from bus import client
from homelab import layout, procs
from homelab.settings import Settings

LOCAL_ADDRESSES = {"127.0.0.1", "localhost", "::1"}


def specs(settings: Settings, repo: Path | None, node: str | None) -> list[procs.ServiceSpec]:
    base = (sys.executable, "-m", "homelab")
    common = ("--root", str(settings.root), "--bus", settings.bus)
    services = [
        procs.ServiceSpec(
            "broker", (*base, "broker", *common), ready=lambda: _bus_answers(settings.bus)
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
    """Start every service, broker first, and supervise them until Ctrl-C or SIGTERM."""
    root = layout.ensure(settings.root)
    procs.log_to_stderr()
    repo = Path(settings.repo) if settings.repo else None
    if demo:
        from homelab.demo import setup

        repo = setup.prepare(root)
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
    # The children's own output (a crash's traceback, say) goes beside their logs, not into them.
    return procs.ProcessGroup(specs(settings, repo, node), root / "logs" / "up").run()


def _bus_answers(endpoint: str) -> bool:
    try:
        client.ping(endpoint, timeout=0.5)
        return True
    except client.BusError:
        return False
