"""``homelab up``: every service of this machine as a supervised child process."""

from __future__ import annotations

import sys

from bus import client
from homelab import layout, procs
from homelab.settings import Settings


def specs(settings: Settings, demo: bool) -> list[procs.ServiceSpec]:
    base = (sys.executable, "-m", "homelab")
    root = ("--root", str(settings.root))
    return [
        procs.ServiceSpec(
            "broker",
            (*base, "broker", *root, "--bus", settings.bus),
            ready=lambda: _bus_answers(settings.bus),
        ),
    ]


def run(settings: Settings, demo: bool = False) -> int:
    """Start every service, broker first, and supervise them until Ctrl-C or SIGTERM."""
    root = layout.ensure(settings.root)
    procs.log_to_stderr()
    procs.log.info(
        "data root %s, bus %s; each service logs to %s/<service>.log",
        root,
        settings.bus,
        root / "logs",
    )
    return procs.ProcessGroup(specs(settings, demo), root / "logs").run()


def _bus_answers(endpoint: str) -> bool:
    try:
        client.ping(endpoint, timeout=0.5)
        return True
    except client.BusError:
        return False
