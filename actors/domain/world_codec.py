"""The world as JSON-able data: the checkpoint's ``to_dict`` and ``from_dict`` (an exact
round trip), and the files of ``world/`` (``files``), which ``actors.readmodel.world`` reads.

Pure, like the fold beside it (``world``): the observer writes the files, ``world_checkpoint``
and ``world_snapshots`` the saved worlds. Names are sorted and numbers kept as they are
(an int stays an int), so a world rebuilt from the log gives the same bytes as the world
built live.
"""

from __future__ import annotations

import math
from typing import Any

from actors.domain import slices
from actors.domain.states import HEALTHS
from actors.domain.world import (
    CheckState,
    NodeState,
    ServiceState,
    World,
    deadline_of,
    desired_of,
)


def to_dict(world: World) -> dict[str, Any]:
    """The whole world as plain JSON-able data; ``from_dict`` gives it back exactly."""
    return {
        "seq": world.seq,
        "time": world.time,
        "clock": world.clock,
        "steps": world.steps,
        "rejected": world.rejected,
        "last_rejected": world.last_rejected,
        "nodes": nodes_dict(world),
        "services": services_dict(world),
        "desired": {node: dict(sorted(d.items())) for node, d in sorted(world.desired.items())},
    }


def nodes_dict(world: World) -> dict[str, Any]:
    """``world/nodes.json``: every node by name."""
    return {
        name: {
            "health": n.health,
            "reason": n.reason,
            "since": n.since,
            "since_seq": n.since_seq,
            "last_seen": n.last_seen,
            "last_seq": n.last_seq,
            "last_clock": n.last_clock,
            "interval": n.interval,
            "missed_intervals": n.missed_intervals,
            "version": n.version,
            "checks": _checks_dict(n.checks),
        }
        for name, n in sorted(world.nodes.items())
    }


def services_dict(world: World) -> dict[str, Any]:
    """``world/services.json``: every service by name."""
    return {
        name: {
            "node": s.node,
            "desired": desired_of(world, name, s),
            "health": s.health,
            "reason": s.reason,
            "since": s.since,
            "since_seq": s.since_seq,
            "last_seen": s.last_seen,
            "last_seq": s.last_seq,
            "checks": _checks_dict(s.checks),
        }
        for name, s in sorted(world.services.items())
    }


def summary(world: World) -> dict[str, Any]:
    """``world/summary.json``: where the world is in the log, and counts by health."""

    def counts(states) -> dict[str, int]:
        found = dict.fromkeys(HEALTHS, 0)
        for state in states:
            found[state.health] += 1
        found["total"] = sum(found.values())
        return found

    return {
        "seq": world.seq,
        "time": world.time,
        "clock": world.clock,
        "steps": world.steps,
        "nodes": counts(world.nodes.values()),
        "services": counts(world.services.values()),
        "rejected": world.rejected,
    }


def files(world: World) -> dict[str, dict[str, Any]]:
    """The files of ``world/`` by name, as data (the observer writes them with write_json)."""
    return {
        "nodes.json": nodes_dict(world),
        "services.json": services_dict(world),
        "summary.json": summary(world),
    }


def _checks_dict(checks: dict[str, CheckState]) -> dict[str, Any]:
    return {
        cid: {
            "outcome": c.outcome,
            "detail": c.detail,
            "facts": dict(c.facts),
            "latency_ms": c.latency_ms,
            "observed_at": c.observed_at,
            "since": c.since,
            "since_seq": c.since_seq,
            "last_seen": c.last_seen,
            "last_seq": c.last_seq,
        }
        for cid, c in sorted(checks.items())
    }


def from_dict(data: dict[str, Any]) -> World:
    """The world saved by ``to_dict``; ValueError if ``data`` is not one."""
    try:
        world = World(
            seq=_int(data["seq"]),
            time=_number(data["time"]),
            clock=_number(data.get("clock", data["time"])),  # none before bus.clock: the time
            steps=_number(data.get("steps", 0.0)),
            rejected=_int(data["rejected"]),
            last_rejected=str(data["last_rejected"]),
            nodes={str(k): _node_from(v) for k, v in data["nodes"].items()},
            services={str(k): _service_from(v) for k, v in data["services"].items()},
            desired=_desired_from(data.get("desired", {})),  # none before desired.node.*
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ValueError(f"not a saved world: {type(err).__name__}: {err}") from None
    world.deadline = min(
        (
            deadline_of(n)
            for n in world.nodes.values()
            if n.last_clock is not None and world.clock <= deadline_of(n)
        ),
        default=math.inf,
    )
    return world


def _int(value: Any) -> int:
    if type(value) is not int:
        raise ValueError(f"expected an integer, got {value!r}")
    return value


def _health(value: Any) -> str:
    if value not in HEALTHS:
        raise ValueError(f"unknown health {value!r}")
    return value


def _number(value: Any) -> float:
    """A number as saved (no conversion: an int stays an int, so JSON stays the same)."""
    if type(value) not in (int, float):
        raise ValueError(f"expected a number, got {value!r}")
    return value


def _optional_number(value: Any) -> float | None:
    return None if value is None else _number(value)


def _checks_from(data: dict[str, Any]) -> dict[str, CheckState]:
    return {
        str(cid): CheckState(
            outcome=str(c["outcome"]),
            detail=str(c["detail"]),
            facts=dict(c["facts"]),
            latency_ms=_optional_number(c["latency_ms"]),
            observed_at=_number(c["observed_at"]),
            since=_number(c["since"]),
            since_seq=_int(c["since_seq"]),
            last_seen=_number(c["last_seen"]),
            last_seq=_int(c["last_seq"]),
        )
        for cid, c in data.items()
    }


def _desired_from(data: dict[str, Any]) -> dict[str, dict[str, str]]:
    found = {}
    for node, services in data.items():
        found[str(node)] = {str(name): _desired_state(s) for name, s in services.items()}
    return found


def _desired_state(value: Any) -> str:
    if value not in slices.STATES:
        raise ValueError(f"unknown desired state {value!r}")
    return value


def _node_from(d: dict[str, Any]) -> NodeState:
    missed = d["missed_intervals"]
    return NodeState(
        health=_health(d["health"]),
        reason=str(d["reason"]),
        since=_number(d["since"]),
        since_seq=_int(d["since_seq"]),
        last_seen=_optional_number(d["last_seen"]),
        last_seq=_int(d["last_seq"]),
        last_clock=_optional_number(d.get("last_clock", d["last_seen"])),
        interval=_optional_number(d["interval"]),
        missed_intervals=None if missed is None else _int(missed),
        version=str(d["version"]),
        checks=_checks_from(d["checks"]),
    )


def _service_from(d: dict[str, Any]) -> ServiceState:
    return ServiceState(
        node=str(d["node"]),
        health=_health(d["health"]),
        reason=str(d["reason"]),
        since=_number(d["since"]),
        since_seq=_int(d["since_seq"]),
        last_seen=_number(d["last_seen"]),
        last_seq=_int(d["last_seq"]),
        checks=_checks_from(d["checks"]),
    )
