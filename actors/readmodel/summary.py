"""The summary: nodes and services by health, drift, the desired revision and the bus, read
from ``world/`` and ``state/`` (so it works while the bus is down) plus the broker's ping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actors import atomic
from actors.domain import states
from actors.readmodel import disk, queue, world
from actors.readmodel.models import (
    ActionCounts,
    Brief,
    BusStatus,
    Counts,
    DriftBrief,
    ServiceBrief,
    Summary,
)
from bus import client
from bus.dataroot import DataRoot


def read(root: Path, endpoint: str, timeout: float = 2.0) -> Summary:
    """``observed`` is False until the observer has written ``world/`` at least once: then
    no node or service listed means "not looked yet", not "none"."""
    return build(root, bus_status(endpoint, timeout))


def build(root: Path, bus: BusStatus) -> Summary:
    data = DataRoot(root)
    found = world.files(root)
    nodes, services = found.nodes, found.services
    return Summary(
        nodes={name: Brief(**_brief(entry)) for name, entry in sorted(nodes.items())},
        services={
            name: ServiceBrief(
                node=entry.get("node"), desired=entry.get("desired"), **_brief(entry)
            )
            for name, entry in sorted(services.items())
        },
        counts={"nodes": _count(nodes), "services": _count(services)},
        world_seq=found.summary.get("seq", 0),
        observed=found.observed,
        desired=atomic.read_json_object(data.desired),
        drift=drift_brief(atomic.read_json_object(data.drift)),
        actions=_actions(root),
        bus=bus,
        disk=disk.usage(root),
    )


def public(summary: Summary) -> dict[str, Any]:
    """What anyone may read without a login (a health check, an uptime monitor): counts and
    health only, no names, no check output, no paths or endpoints."""
    return {
        "observed": summary.observed,
        "counts": {kind: c.model_dump() for kind, c in summary.counts.items()},
        "drift": {"count": summary.drift.count, "gave_up": len(summary.drift.gave_up)},
        "actions": summary.actions.model_dump(),
        "bus": {
            "reachable": summary.bus.reachable,
            "seq": summary.bus.seq,
            "rate": summary.bus.rate,
            "alarms": [{"alarm": a["alarm"], "state": a["state"]} for a in summary.bus.alarms],
        },
    }


def _actions(root: Path) -> ActionCounts:
    found = [a.state for a in queue.records(root)]
    return ActionCounts(
        pending=found.count(states.PENDING),
        running=sum(found.count(state) for state in states.UNDER_WAY),
    )


def bus_status(endpoint: str, timeout: float = 2.0) -> BusStatus:
    try:
        return BusStatus(
            endpoint=endpoint, reachable=True, **client.ping(endpoint, timeout=timeout)
        )
    except client.BusError as err:
        # (the error is an extra field, as the broker's own are: validated, not a keyword)
        return BusStatus.model_validate(
            {"endpoint": endpoint, "reachable": False, "error": str(err)}
        )


def drift_brief(report: dict[str, Any]) -> DriftBrief:
    """The drift in brief, from the supervisor's report (``state/drift.json``, or the
    ``drift.report`` that said it)."""
    return DriftBrief(
        count=report.get("drifted", 0),
        items=[
            f"{d['service']}: {d['kind']}" for d in report.get("drifts", []) if d.get("managed")
        ],
        recommended=len(report.get("recommended", [])),
        gave_up=[
            f"{g['service']}: {g['attempts']} fixes had no effect"
            for g in report.get("gave_up", [])
            if isinstance(g, dict) and {"service", "attempts"} <= g.keys()
        ],
    )


def _brief(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "health": entry.get("health", states.UNKNOWN),
        "reason": entry.get("reason", ""),
        "since": entry.get("since"),
    }


def _count(entries: dict[str, Any]) -> Counts:
    counts = dict.fromkeys(states.HEALTHS, 0)
    for entry in entries.values():
        health = entry.get("health", states.UNKNOWN)
        counts[health if health in counts else states.UNKNOWN] += 1
    return Counts(**counts)
