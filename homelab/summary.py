"""The control plane's summary, shared by ``homelab status`` and ``GET /summary``.

Read from the data root's files (the observer's ``world/``), plus the broker's own status
when it answers: filesystem-first, so it works while the bus is down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actors import atomic
from bus import client

HEALTHS = ("healthy", "degraded", "down", "unknown")


def build(root: Path, endpoint: str, timeout: float = 2.0) -> dict[str, Any]:
    """``observed`` is False until the observer has written ``world/`` at least once: then
    no node or service listed means "not looked yet", not "none"."""
    world = root / "world"
    nodes = atomic.read_json_object(world / "nodes.json")
    services = atomic.read_json_object(world / "services.json")
    try:
        bus: dict[str, Any] = {"reachable": True, **client.ping(endpoint, timeout=timeout)}
    except client.BusError as err:
        bus = {"reachable": False, "error": str(err)}
    return {
        "nodes": {name: _brief(entry) for name, entry in sorted(nodes.items())},
        "services": {
            name: {"node": entry.get("node"), **_brief(entry)}
            for name, entry in sorted(services.items())
        },
        "counts": {"nodes": _count(nodes), "services": _count(services)},
        "world_seq": atomic.read_json_object(world / "summary.json").get("seq", 0),
        "observed": (world / "summary.json").is_file(),
        "desired": atomic.read_json_object(root / "state" / "desired.json"),
        "drift": _drift(atomic.read_json_object(root / "state" / "drift.json")),
        "bus": {"endpoint": endpoint, **bus},
    }


def _drift(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "count": report.get("drifted", 0),
        "items": [
            f"{d['service']}: {d['kind']}" for d in report.get("drifts", []) if d.get("managed")
        ],
        "recommended": len(report.get("recommended", [])),
    }


def _brief(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "health": entry.get("health", "unknown"),
        "reason": entry.get("reason", ""),
        "since": entry.get("since"),
    }


def _count(entries: dict[str, Any]) -> dict[str, int]:
    counts = dict.fromkeys(HEALTHS, 0)
    for entry in entries.values():
        health = entry.get("health", "unknown")
        counts[health] = counts.get(health, 0) + 1
    return counts
