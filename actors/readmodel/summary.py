"""The summary: nodes and services by health, drift, the desired revision and the bus, read
from ``world/`` and ``state/`` (so it works while the bus is down) plus the broker's ping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actors import atomic
from actors.readmodel.models import Brief, BusStatus, Counts, DriftBrief, ServiceBrief, Summary
from bus import client
from bus.dataroot import DataRoot

HEALTHS = ("healthy", "degraded", "down", "unknown")


def read(root: Path, endpoint: str, timeout: float = 2.0) -> Summary:
    """``observed`` is False until the observer has written ``world/`` at least once: then
    no node or service listed means "not looked yet", not "none"."""
    return build(root, bus_status(endpoint, timeout))


def build(root: Path, bus: BusStatus) -> Summary:
    data = DataRoot(root)
    world = data.world
    nodes = atomic.read_json_object(world / "nodes.json")
    services = atomic.read_json_object(world / "services.json")
    return Summary(
        nodes={name: Brief(**_brief(entry)) for name, entry in sorted(nodes.items())},
        services={
            name: ServiceBrief(
                node=entry.get("node"), desired=entry.get("desired"), **_brief(entry)
            )
            for name, entry in sorted(services.items())
        },
        counts={"nodes": _count(nodes), "services": _count(services)},
        world_seq=atomic.read_json_object(world / "summary.json").get("seq", 0),
        observed=(world / "summary.json").is_file(),
        desired=atomic.read_json_object(data.desired),
        drift=_drift(atomic.read_json_object(data.drift)),
        bus=bus,
    )


def bus_status(endpoint: str, timeout: float = 2.0) -> BusStatus:
    try:
        return BusStatus(
            endpoint=endpoint, reachable=True, **client.ping(endpoint, timeout=timeout)
        )
    except client.BusError as err:
        return BusStatus(endpoint=endpoint, reachable=False, error=str(err))


def _drift(report: dict[str, Any]) -> DriftBrief:
    return DriftBrief(
        count=report.get("drifted", 0),
        items=[
            f"{d['service']}: {d['kind']}" for d in report.get("drifts", []) if d.get("managed")
        ],
        recommended=len(report.get("recommended", [])),
    )


def _brief(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "health": entry.get("health", "unknown"),
        "reason": entry.get("reason", ""),
        "since": entry.get("since"),
    }


def _count(entries: dict[str, Any]) -> Counts:
    counts = dict.fromkeys(HEALTHS, 0)
    for entry in entries.values():
        health = entry.get("health", "unknown")
        counts[health if health in counts else "unknown"] += 1
    return Counts(**counts)
